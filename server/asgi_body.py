"""Reading a whole request body inside ASGI middleware, within a size limit, and handing it on unchanged.

The middleware that look into ``POST /mcp`` bodies (the seed-style adapter, the short path) read the body
once with :func:`read_body_within` and pass :func:`replay_body` downstream, so the app behind them receives
the same bytes as if nobody had looked. :class:`BodyLimit` applies the same limit to every route.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "read_body_within", "replay_body"]


async def read_body_within(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> bytes | None:
    """Return the whole request body, or answer 413 and return ``None`` when it is over ``max_bytes``.

    Parameters
    ----------
    scope, receive, send
        The ASGI call.
    max_bytes : int
        Largest accepted body.

    Returns
    -------
    bytes or None
        The body; ``None`` when the request has been answered already (413, in the REST error shape).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            error = {"ok": False, "error": f"request body over {max_bytes} bytes", "errors": [], "status": 413}
            await JSONResponse(error, status_code=413)(scope, receive, send)
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """Return a ``receive`` that yields ``body`` as one message first, then defers to ``receive``."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyLimit:
    """ASGI middleware answering 413 (in the REST error shape) to any request whose body passes ``max_bytes``.

    Every route is covered (REST ``POST /api/v1/sql`` included), whether the body comes with a
    ``Content-Length`` or chunked; a request without a body passes untouched.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body = await read_body_within(scope, receive, send, self.max_bytes)
        if body is not None:
            await self.app(scope, replay_body(body, receive), send)
