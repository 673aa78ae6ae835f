"""uvicorn's HTTP protocol with the limits it lacks: a cap on connections and deadlines for slow clients.

uvicorn (0.55, ``httptools_impl.HttpToolsProtocol``) closes a keep-alive connection that stays idle after a
response (``timeout_keep_alive``), but arms no timer while a connection has not sent complete request
headers (a connection that opens and sends nothing, or trickles a header) or while a request's body is
arriving: such connections stay open until the client goes away. Its ``limit_concurrency`` answers 503
without ``Retry-After`` and counts every open connection, so a flood of new connections also refuses the
next request of clients that were served before. :class:`LimitedHttpProtocol` adds, per connection:

- a header deadline, ``MCP_HEADER_TIMEOUT_SECONDS`` from the connection's opening, or from the first byte
  of a request on a kept-alive connection, until the headers are complete; then the connection is closed;
- a body deadline, ``MCP_BODY_TIMEOUT_SECONDS`` from the headers until the whole body has arrived; then a
  408 is sent (unless the app answered already) and the connection is closed;
- admission: ``MCP_MAX_CONNECTIONS`` connections are admitted in order of arrival and stay admitted until
  they close; a request on a connection that is not admitted when its headers are complete is answered 503
  with ``Retry-After`` and ``Connection: close``, in the one error shape; beyond twice as many open
  connections a new one is closed at once, before reading anything (descriptors stay bounded).

Every refusal and timeout is counted in ``microstructure_http_limited_total{reason}``, apart from the tool counts,
and so is uvicorn's closing of an idle keep-alive connection (``keep_alive``).
The idle SSE stream limit is an ASGI concern (``server/stream_idle.py``); the keep-alive timeout is uvicorn's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.metrics import ServerMetrics

__all__ = ["RETRY_AFTER_SECONDS", "ConnectionLimits", "LimitedHttpProtocol", "limited_protocol"]

#: ``Retry-After`` of a 503 beyond the connection cap: connections free up within a keep-alive period.
RETRY_AFTER_SECONDS = 1

#: Largest request body read (and dropped) before a 503 is sent, so that the client reads the answer
#: instead of a reset; the app's own limit (``server.app.MAX_BODY_BYTES``) is the same.
_DRAIN_BYTES = 1 << 20

_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: %d\r\n\r\n%s")  # fmt: skip


@dataclass
class ConnectionLimits:
    """The limits of one server and what its connections share (the admitted set, the metrics)."""

    max_connections: int
    header_timeout_s: float
    body_timeout_s: float
    metrics: ServerMetrics | None = None
    admitted: set[Any] = field(default_factory=set)

    def count(self, reason: str) -> None:
        """Count one refusal or timeout in the metrics, when there are metrics."""
        if self.metrics is not None:
            self.metrics.count_limit(reason)


def _error_json(status: int, error: str) -> bytes:
    return orjson.dumps({"ok": False, "error": error, "errors": [], "status": status})


async def _over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer 503 with ``Retry-After`` after reading (and dropping) the request body."""
    size = 0
    while size <= _DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = _error_json(503, "the server is at its connection limit (MCP_MAX_CONNECTIONS); retry later")
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()), (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class LimitedHttpProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with admission and header/body deadlines (module docstring).

    Subclasses made by :func:`limited_protocol` set :attr:`limits`; uvicorn builds one instance per connection.
    """

    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    # --- deadlines -------------------------------------------------------------------------------------
    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_expired(self) -> None:
        self._deadline = None
        self.limits.count("header_timeout")
        self.transport.close()

    def _body_expired(self) -> None:
        self._deadline = None
        self.limits.count("body_timeout")
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self.transport.is_closing():
            cycle.disconnected = True  # the app's later sends go nowhere; its receive says disconnect
            cycle.message_event.set()
            body = _error_json(408, f"the request body did not arrive within MCP_BODY_TIMEOUT_SECONDS="
                                    f"{self.limits.body_timeout_s:g}")  # fmt: skip
            self.transport.write(_TIMEOUT_408 % (len(body), body))
        self.transport.close()

    def _waiting_for_request(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    # --- protocol events -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        if limits.metrics is not None:
            limits.metrics.open_connections.inc()
        if len(self.connections) > 2 * limits.max_connections:
            limits.count("over_ceiling")
            transport.abort()
            return
        if len(limits.admitted) < limits.max_connections:
            limits.admitted.add(self)
        self._arm(limits.header_timeout_s, self._headers_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.limits.admitted.discard(self)
        if self.limits.metrics is not None:
            self.limits.metrics.open_connections.dec()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # A kept-alive connection starts its next request: headers are due from now (uvicorn has just
        # cancelled its keep-alive timer). Bytes that start no message (blank lines) do not extend it.
        if self._deadline is None and self._waiting_for_request():
            self._arm(self.limits.header_timeout_s, self._headers_expired)
        super().data_received(data)

    def on_message_begin(self) -> None:
        if self._deadline is None:  # a pipelined request begins while the one before it runs
            self._arm(self.limits.header_timeout_s, self._headers_expired)
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        limits = self.limits
        if self not in limits.admitted and len(limits.admitted) < limits.max_connections:
            limits.admitted.add(self)
        if self not in limits.admitted:
            limits.count("over_capacity")
            self.app = _over_capacity
        self._arm(limits.body_timeout_s, self._body_expired)
        super().on_headers_complete()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self.limits.count("keep_alive")  # uvicorn's own timeout, counted beside ours
        super().timeout_keep_alive_handler()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def limited_protocol(limits: ConnectionLimits) -> type[LimitedHttpProtocol]:
    """Return a :class:`LimitedHttpProtocol` class bound to ``limits``, for ``uvicorn.Config(http=...)``."""
    return type("LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits})
