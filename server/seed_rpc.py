"""The original design's curl body on ``/mcp``: ``{"method": "<tool>", "params": {...}, "id": "1"}``.

Such a body is rewritten into the JSON-RPC 2.0 request it abbreviates, ``tools/call`` with ``name`` and
``arguments``, and handed to the MCP endpoint. So the answer is a JSON-RPC 2.0 response whose ``result`` is
the tool's result, produced by exactly the code that serves MCP clients: same validation, same limits,
same errors. Any other body passes through untouched.
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from server.asgi_body import read_body_within, replay_body

__all__ = ["SeedRpcAdapter", "rewrite_seed_body"]


def rewrite_seed_body(body: bytes, tool_names: Collection[str]) -> bytes | None:
    """Return the JSON-RPC ``tools/call`` body for a seed-style ``body``, or ``None`` for any other body."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or "jsonrpc" in message or message.get("method") not in tool_names:
        return None
    arguments = message.get("params") or {}
    request = {
        "jsonrpc": "2.0",
        "id": message.get("id", 1),
        "method": "tools/call",
        "params": {"name": message["method"], "arguments": arguments},
    }
    return orjson.dumps(request)


class SeedRpcAdapter:
    """ASGI middleware that rewrites seed-style POSTs to ``path`` before the MCP app sees them."""

    def __init__(self, app: ASGIApp, *, path: str, tool_names: Collection[str], max_body_bytes: int) -> None:
        self.app = app
        self.path = path
        self.tool_names = frozenset(tool_names)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        body = await read_body_within(scope, receive, send, self.max_body_bytes)
        if body is None:
            return
        rewritten = rewrite_seed_body(body, self.tool_names)
        if rewritten is not None:
            body = rewritten
            headers = [(k, v) for k, v in scope["headers"] if k not in (b"accept", b"content-type", b"content-length")]
            headers += [
                (b"accept", b"application/json, text/event-stream"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, replay_body(body, receive), send)
