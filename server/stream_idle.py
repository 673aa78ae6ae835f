"""Ending Server-Sent Event streams that carry no event for a while (``MCP_STREAM_IDLE_SECONDS``).

``GET /mcp`` opens the SDK's standalone SSE stream for server-initiated messages. This server is stateless,
so nothing is ever sent on it but ``sse_starlette``'s keep-alive pings (a comment every 15 s): without a
limit each such stream holds a connection for as long as the client keeps it. :class:`StreamIdleLimit`
watches every ``text/event-stream`` response: when no event (a line that is not a ``:`` comment) has been
sent for the idle period, it ends the response itself (the last, empty chunk). uvicorn then tells the app
``http.disconnect``, exactly as when a client leaves, so the SDK tears the stream down its usual way; the
response carries ``Connection: close``, so the connection closes with it. A client that still wants the
stream opens it again (SSE clients reconnect).
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import ServerMetrics

__all__ = ["StreamIdleLimit", "carries_event"]


def carries_event(chunk: bytes) -> bool:
    """Tell whether an SSE body chunk holds anything but comment lines (``: ping``) and blank lines."""
    return any(line and not line.startswith(b":") for line in chunk.splitlines())


def _is_event_stream(message: Message) -> bool:
    return any(name.lower() == b"content-type" and value.split(b";")[0].strip().lower() == b"text/event-stream"
               for name, value in message.get("headers", []))  # fmt: skip


class _Stream:
    """One response: passes messages on, and ends it once an event stream has been idle too long."""

    def __init__(self, send: Send, idle_s: float, metrics: ServerMetrics | None) -> None:
        self._send = send
        self._idle_s = idle_s
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._last_event = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._ending: asyncio.Task[None] | None = None
        self._ended = False

    async def send(self, message: Message) -> None:
        async with self._lock:
            if self._ended:
                return  # ended for idleness: what the app still sends goes nowhere
            if message["type"] == "http.response.start" and _is_event_stream(message):
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
                self._last_event = time.monotonic()
                self._timer = asyncio.get_running_loop().call_later(self._idle_s, self._check)
            elif self._timer is not None and message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    self.stop()
                elif carries_event(message.get("body", b"")):
                    self._last_event = time.monotonic()
            await self._send(message)

    def _check(self) -> None:
        """Timer: end the stream when idle, else look again when it would be."""
        due = self._last_event + self._idle_s - time.monotonic()
        if due > 0:
            self._timer = asyncio.get_running_loop().call_later(due, self._check)
        else:
            self._timer = None
            self._ending = asyncio.get_running_loop().create_task(self._end())

    async def _end(self) -> None:
        async with self._lock:
            if self._ended:
                return
            self._ended = True
            if self._metrics is not None:
                self._metrics.count_limit("stream_idle")
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    def stop(self) -> None:
        """Stop watching (the response ended or the app returned)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class StreamIdleLimit:
    """ASGI middleware ending ``text/event-stream`` responses idle for ``idle_s`` seconds (module docstring)."""

    def __init__(self, app: ASGIApp, *, idle_s: float, metrics: ServerMetrics | None = None) -> None:
        self.app = app
        self.idle_s = idle_s
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":  # the SDK's SSE streams are GET (JSON answers to POST)
            await self.app(scope, receive, send)
            return
        stream = _Stream(send, self.idle_s, self.metrics)
        try:
            await self.app(scope, receive, stream.send)
        finally:
            stream.stop()
