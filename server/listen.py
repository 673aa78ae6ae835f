"""Binding the HTTP server's socket before anything announces that it serves.

uvicorn binds inside ``Server.serve`` and reports a taken port with its own log line and exit; binding here
first lets ``serve``, ``demo`` and ``up`` say in one line what went wrong and which settings name the
address, and say "serving" only once the socket is theirs.
"""

from __future__ import annotations

import socket

__all__ = ["ListenError", "bind_listener"]


class ListenError(RuntimeError):
    """The HTTP server cannot listen on ``MCP_HOST:MCP_PORT``."""


def bind_listener(host: str, port: int) -> socket.socket:
    """Return a TCP socket bound to ``host:port`` (``port`` 0: a free one), ready for uvicorn to listen on.

    Parameters
    ----------
    host, port
        ``MCP_HOST`` and ``MCP_PORT``.

    Raises
    ------
    ListenError
        The address is taken, not local, or not allowed, in one line naming ``MCP_HOST``/``MCP_PORT``.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]  # fmt: skip
    except socket.gaierror as exc:
        raise ListenError(f"MCP_HOST {host!r} is not an address of this machine ({exc.strerror})") from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ListenError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (MCP_HOST, MCP_PORT); "
            "stop the process using it or choose another MCP_PORT"
        ) from exc
    sock.set_inheritable(True)
    return sock
