"""A local TCP server that speaks just enough of Vertica's client protocol for vertica-python to log in and run
simple statements, so the real client library and real sockets can be tested where no Vertica server runs.

It declines TLS, accepts any login, records the text of every simple query and answers each with
CommandComplete + ReadyForQuery (no rows), holding back the answer to a query that contains ``slow_marker``
for ``slow_seconds``, the way Vertica stays silent while a statement runs. It proves nothing about SQL.
"""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

_SSL_REQUEST_LENGTH = 8


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


class WireServer:
    """Serve every connection on 127.0.0.1 in its own thread until :meth:`close`."""

    def __init__(self, *, slow_marker: str = "SLEEP", slow_seconds: float = 0.0) -> None:
        self.queries: list[str] = []
        self._slow_marker = slow_marker
        self._slow = threading.Event()  # never set: waiting on it is how an answer is held back
        self._slow_seconds = slow_seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def __enter__(self) -> WireServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                peer, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(peer,), daemon=True).start()

    @staticmethod
    def _read(peer: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = peer.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def _serve(self, peer: socket.socket) -> None:
        with peer:
            try:
                length = struct.unpack("!I", self._read(peer, 4))[0]
                self._read(peer, length - 4)
                if length == _SSL_REQUEST_LENGTH:  # TLS request: decline, then the startup message follows
                    peer.sendall(b"N")
                    length = struct.unpack("!I", self._read(peer, 4))[0]
                    self._read(peer, length - 4)
                peer.sendall(_message(b"R", struct.pack("!I", 0)) + _message(b"K", struct.pack("!II", 1, 2))
                             + _message(b"Z", b"I"))
                while True:
                    kind = self._read(peer, 1)
                    body = self._read(peer, struct.unpack("!I", self._read(peer, 4))[0] - 4)
                    if kind == b"X":
                        return
                    text = body.rstrip(b"\0").decode()
                    with self._lock:
                        self.queries.append(text)
                    if self._slow_marker in text:
                        self._slow.wait(self._slow_seconds)
                    peer.sendall(_message(b"C", text.split()[0].encode() + b"\0") + _message(b"Z", b"T"))
            except (ConnectionError, OSError):
                return
