"""The original design's curl body on ``/mcp``: ``{"method": "<tool>", "params": {...}, "id": "1"}``.

Such a body is rewritten into the JSON-RPC 2.0 request it abbreviates, ``tools/call`` with ``name`` and
``arguments``, and handed to the MCP endpoint with the client's headers but ``Accept`` (the answer is JSON
whatever the client accepts, as in the original design). So the answer is a JSON-RPC 2.0 response whose
``result`` is the tool's result, produced by exactly the code that serves MCP clients: same validation,
same limits, same errors, same refusals (a body that is not ``application/json`` gets the SDK's 400). An ``id`` that is not a string or an integer (an object, a list, a boolean, null) is answered
with ``-32600`` here, for seed-style and JSON-RPC bodies alike (``server/jsonrpc_checks.py``); an absent
``id`` means ``1``. Any other body passes through untouched.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from server.asgi_body import read_body_within, replay_body
from server.jsonrpc_checks import INVALID_ID, bad_request_id, is_json_body, is_mcp_post, tool_arguments

__all__ = ["SeedRpcAdapter", "rewrite_seed_body"]


def rewrite_seed_body(message: Any, tool_names: Collection[str]) -> bytes | None:
    """Return the JSON-RPC ``tools/call`` body for a parsed seed-style ``message``, or ``None`` for any other."""
    if not isinstance(message, dict) or "jsonrpc" in message or message.get("method") not in tool_names:
        return None
    request = {
        "jsonrpc": "2.0",
        "id": message.get("id", 1),
        "method": "tools/call",
        "params": {"name": message["method"], "arguments": tool_arguments(message.get("params"))},
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
        if not is_mcp_post(scope, self.path) or not is_json_body(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body_within(scope, receive, send, self.max_body_bytes)
        if body is None:
            return
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            message = None
        if bad_request_id(message):
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(INVALID_ID)).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": INVALID_ID})
            return
        rewritten = rewrite_seed_body(message, self.tool_names)
        if rewritten is not None:
            body = rewritten
            headers = [(k, v) for k, v in scope["headers"] if k not in (b"accept", b"content-length")]
            headers += [(b"accept", b"application/json, text/event-stream"), (b"content-length", str(len(body)).encode())]
            scope = {**scope, "headers": headers}
        await self.app(scope, replay_body(body, receive), send)
