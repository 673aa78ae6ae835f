"""The request rules that the seed-style adapter and the short path apply before the MCP SDK sees a body.

Both layers answer a POST to ``/mcp`` only when the SDK would answer it the same way, and leave anything
else to the SDK; these functions are the one place that says what counts:

- the path is exactly ``/mcp`` (``/mcp/`` goes on to the SDK's mount, which redirects it with 307);
- the body is JSON by the SDK's own test of ``Content-Type`` (else the SDK answers 400 or 415);
- a request's ``id`` is a string or an integer (JSON-RPC 2.0, and MCP forbids null): any other ``id``
  beside a ``method`` is answered here with ``-32600`` and HTTP 400, where the SDK would drop the call with
  an empty 202;
- ``arguments`` absent or null mean ``{}``, and only an object is a tool's arguments (the SDK answers
  ``-32602`` for ``""``, ``false``, ``0``, ``[]``).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Scope

__all__ = ["INVALID_ID", "bad_request_id", "is_json_body", "is_mcp_post", "tool_arguments"]

#: The JSON-RPC error answered to a request whose ``id`` is not a string or an integer.
INVALID_ID = orjson.dumps({
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": -32600, "message": "Invalid Request: id must be a string or an integer"},
})  # fmt: skip


def is_mcp_post(scope: Scope, path: str) -> bool:
    """A ``POST`` to exactly ``path``."""
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == path


def is_json_body(scope: Scope) -> bool:
    """``Content-Type`` passes the SDK's check (``TransportSecurityMiddleware._validate_content_type``)."""
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.decode("latin-1").lower().startswith("application/json")
    return False


def bad_request_id(message: Any) -> bool:
    """``message`` is a request (an object with ``method``) whose ``id`` is present but not a string or integer."""
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return False
    request_id = message["id"]
    return isinstance(request_id, bool) or not isinstance(request_id, int | str)


def tool_arguments(value: Any) -> Any:
    """The arguments of a tool call as the SDK reads them: absent or null is ``{}``, anything else as given."""
    return {} if value is None else value
