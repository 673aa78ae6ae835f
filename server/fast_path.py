"""A short path for the commonest request: a stateless ``tools/call`` of a read tool, answered as plain JSON.

The MCP SDK answers every POST to ``/mcp`` through a per-request transport, a dispatcher task and several
rounds of model validation and dumping; for a read tool that costs more than the query. This ASGI layer
answers the simple case itself and passes everything else to the SDK untouched (initialize, tools/list,
sessions, SSE, notifications, batches, the 2026-07-28 protocol, other tools, ``/mcp/``, arguments that are
not an object, and any call whose arguments the tool's own schema rejects: ``server/jsonrpc_checks.py``).

What it answers is what the SDK answers, byte for byte (``tests/server/test_fast_path.py`` compares the two
for every tool and error path): the arguments go through the tool's own pydantic argument model, the call
through the same registered function (row cap, time limit and metrics included), and the result is
serialized the way the SDK's ``convert_result`` does it (the page as indented JSON text plus the same page
as ``structuredContent``). It sits inside the Host/Origin guard, the bearer token and the body limit.

Results of calls that depend on the data only (no ``hours_back``) are kept in a
:class:`~server.response_cache.ResponseCache` when one is given.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from typing import Any

import anyio.to_thread
import orjson
import pydantic_core
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from server.asgi_body import read_body_within, replay_body
from server.jsonrpc_checks import is_json_body, is_mcp_post, tool_arguments
from server.metrics import ServerMetrics
from server.response_cache import ResponseCache, cache_key
from server.row_wire import page_json, wire_of

__all__ = ["FastToolCalls", "result_json"]

log = logging.getLogger("microstructure.server")

_JSON = "application/json"


def result_json(page: BaseModel) -> bytes:
    """The wire JSON of the ``CallToolResult`` the SDK makes of a tool's returned model.

    As ``MCPServer``'s ``convert_result`` builds it (one text block holding the model as JSON indented by 2,
    and the model itself as ``structuredContent``) and as the SDK's legacy Streamable HTTP transport writes
    it: compact, wire names, the result's and the text block's keys in alphabetical order.
    """
    rows = wire_of(page)
    if rows is None:
        text = pydantic_core.to_json(pydantic_core.to_json(page, fallback=str, indent=2).decode())
        compact = pydantic_core.to_json(page, by_alias=True)
    else:  # rows kept in memory were serialized once (server/row_wire.py): the same bytes
        text, compact = page_json(page, rows)
    return (b'{"content":[{"text":' + text + b',"type":"text"}],"isError":false,"structuredContent":'
            + compact + b"}")


def _error_json(message: str) -> bytes:
    """The wire JSON of the ``isError`` result the SDK makes of a ``ToolError`` (``_handle_call_tool``)."""
    return b'{"content":[{"text":' + pydantic_core.to_json(message) + b',"type":"text"}],"isError":true}'


def _media_types(value: str) -> list[str]:
    return [part.strip().split(";")[0].strip().lower() for part in value.split(",")]


def _eligible_headers(scope: Scope) -> bool:
    """A legacy-protocol, sessionless POST with a JSON body that accepts a JSON answer."""
    accept = content_type = ""
    for key, value in scope["headers"]:
        if key == b"accept":
            accept = value.decode("latin-1")
        elif key == b"content-type":
            content_type = value.decode("latin-1")
        elif key == b"mcp-session-id":
            return False
        elif key == b"mcp-protocol-version" and value.decode("latin-1") not in HANDSHAKE_PROTOCOL_VERSIONS:
            return False
    accepted = _media_types(accept)
    if not ("*/*" in accepted or _JSON in accepted or "application/*" in accepted):
        return False
    # the SDK's own test first: it reads the first Content-Type only, from its start ("text/plain,
    # application/json" is refused with 400 there, so it must not be answered here)
    return is_json_body(scope) and any(part.strip() == _JSON for part in content_type.split(";")[0].split(","))


def _tool_call(body: bytes, tools: Collection[str]) -> tuple[Any, str, dict[str, Any]] | None:
    """``(id, tool, arguments)`` of a plain JSON-RPC ``tools/call`` request of one of ``tools``, else ``None``."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or message.keys() != {"jsonrpc", "id", "method", "params"}:
        return None
    request_id, params = message["id"], message["params"]
    if message["jsonrpc"] != "2.0" or message["method"] != "tools/call" or not isinstance(params, dict):
        return None
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return None
    if not params.keys() <= {"name", "arguments"} or params.get("name") not in tools:
        return None
    arguments = tool_arguments(params.get("arguments"))
    if not isinstance(arguments, dict):  # the SDK answers -32602
        return None
    return request_id, params["name"], arguments


class FastToolCalls:
    """ASGI middleware answering stateless JSON ``tools/call`` requests of ``tools`` on ``path``.

    Parameters
    ----------
    app
        The app behind it (FastAPI with the SDK's Streamable HTTP app mounted).
    mcp
        The server whose registered tools, argument models and functions are used.
    tools
        Names of the tools answered here: read tools returning a pydantic model.
    metrics
        Counts cache hits like calls (a miss is counted by the tool function itself).
    cache
        Results of data-only calls, or ``None`` for no cache.
    max_body_bytes
        Larger bodies are refused with 413, as by the other layers.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        mcp: MCPServer,
        tools: Collection[str],
        metrics: ServerMetrics,
        cache: ResponseCache | None,
        max_body_bytes: int,
        path: str = "/mcp",
    ) -> None:
        self.app = app
        self.path = path
        self.tools = frozenset(tools)
        self.metrics = metrics
        self.cache = cache
        self.max_body_bytes = max_body_bytes
        manager = mcp._tool_manager  # the registered tools: the same objects the SDK calls
        self._tools = {name: manager.get_tool(name) for name in self.tools}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_mcp_post(scope, self.path) or not _eligible_headers(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body_within(scope, receive, send, self.max_body_bytes)
        if body is None:
            return
        call = _tool_call(body, self.tools)
        answer = None if call is None else await self._answer(*call)
        if answer is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": answer})

    async def _answer(self, request_id: Any, name: str, arguments: dict[str, Any]) -> bytes | None:
        """The response body, or ``None`` to let the SDK answer (arguments its schema rejects)."""
        tool = self._tools[name]
        assert tool is not None
        try:
            validated = tool.fn_metadata.validate_arguments(arguments)
        except ValidationError:
            return None  # the SDK words the rejection; nothing ran, nothing was counted
        key = None if self.cache is None else cache_key(name, validated)
        version = None
        if key is not None:
            assert self.cache is not None
            version = await self.cache.version()
            cached = self.cache.get(key, version)
            if cached is not None:
                with self.metrics.observe(name, "mcp"):
                    return _envelope(request_id, cached)
        result, ok = await self._run(tool.fn, validated, name)
        if key is not None and ok:
            assert self.cache is not None
            self.cache.put(key, version, result)
        return _envelope(request_id, result)

    async def _run(self, fn: Callable[..., Any], validated: dict[str, Any], name: str) -> tuple[bytes, bool]:
        """The serialized result of the tool function and whether it succeeded."""
        try:
            page = await anyio.to_thread.run_sync(functools.partial(fn, **validated))
        except ToolError as exc:  # bad argument or database refusal, as worded by the tool (and the SDK)
            log.info("Tool %r failed: %r", name, str(exc))
            return _error_json(f"Error executing tool {name}: {exc}"), False
        except Exception:
            log.exception("Tool %r raised an unexpected exception", name)
            return _error_json(f"Error executing tool {name}"), False
        return result_json(page), True


def _envelope(request_id: Any, result: bytes) -> bytes:
    """The JSON-RPC 2.0 response around a serialized result (as ``JSONRPCResponse.model_dump_json``)."""
    return b'{"jsonrpc":"2.0","id":' + pydantic_core.to_json(request_id) + b',"result":' + result + b"}"
