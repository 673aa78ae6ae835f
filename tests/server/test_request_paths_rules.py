"""The request paths to a tool in process: body cap, JSON-RPC checks, seed body, short path (issue 16 point 4).

Fast direct tests of ``server/jsonrpc_checks.py``, ``server/asgi_body.py``, ``server/seed_rpc.py`` and
``server/fast_path.py`` (milliseconds a test, no database, no socket: the mutation group
``request-paths`` of ``scripts/mutation``). The reference is the MCP SDK itself (README non-negotiable 7: the
short path and the seed adapter answer exactly what the SDK would, or leave the request to it): a tiny
``MCPServer`` with three tools is served statelessly as JSON by the SDK's own Streamable HTTP app, once bare and
once behind the layer under test, and both get the same ASGI requests. Where a layer answers itself, the
expected bytes are written here by hand from the documented contract (the REST error shape, JSON-RPC 2.0).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, Field

from server.asgi_body import BodyLimit, read_body_within, replay_body
from server.fast_path import FastToolCalls, _eligible_headers, _envelope, _error_json, _media_types, _tool_call, result_json
from server.jsonrpc_checks import INVALID_ID, bad_request_id, is_json_body, is_mcp_post, tool_arguments
from server.metrics import ServerMetrics
from server.row_wire import RowWire, with_wire
from server.seed_rpc import SeedRpcAdapter, rewrite_seed_body

pytestmark = pytest.mark.anyio

JSON_HEADERS = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                (b"accept", b"application/json, text/event-stream")]  # fmt: skip


def _scope(method: str = "POST", path: str = "/mcp", headers: list | None = None, kind: str = "http") -> dict:
    return {"type": kind, "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": JSON_HEADERS if headers is None else headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}  # fmt: skip


async def _call(app: Any, body: bytes | list[bytes] = b"", *, method: str = "POST", path: str = "/mcp",
                headers: list | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request through ``app`` (``body`` as one chunk, or a list of chunks); status, headers, body."""
    chunks = [body] if isinstance(body, bytes) else list(body)
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    for message in messages:
        if message["body"] is None:  # the ASGI spec's default: a message without ``body`` is b""
            del message["body"]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(method, path, headers), receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start" and {m["type"] for m in sent[1:]} <= {"http.response.body"}
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]},
            b"".join(m.get("body", b"") for m in sent[1:]))


class Spy:
    """The app behind a layer: records each scope and the body it reads, then answers through ``app``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.scopes: list[dict] = []
        self.bodies: list[bytes] = []
        self.after: list[dict] = []  # what ``receive`` says after the body: the client's own next message

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self.bodies.append(b"".join(chunks))
        self.after.append(await receive())
        await self.app(scope, replay_body(self.bodies[-1], receive), send)


async def _echo(scope: dict, receive: Any, send: Any) -> None:
    """Answers 200 with the body it reads (the first message only), the method and the next message's type."""
    message = await receive()
    following = (await receive())["type"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"x-method", scope["method"].encode()), (b"x-next", following)]})  # fmt: skip
    await send({"type": "http.response.body", "body": message.get("body", b"")})


# ----------------------------------------------------------------------------------------- the tiny server


class Point(BaseModel):
    price: float
    note: str


class Page(BaseModel):
    symbol: str
    count: int
    points: list[Point]
    next_cursor: str | None = Field(default=None, alias="nextCursor")
    as_of: str = "2026-01-01T00:00:00Z"


class RowsPage(BaseModel):
    """A page whose first field is its rows (``server.row_wire.page_json``'s contract)."""

    rows: list[Point]
    count: int
    next_cursor: str | None = Field(default=None, alias="nextCursor")


def _tiny_mcp() -> MCPServer:
    mcp = MCPServer(name="tiny")

    @mcp.tool(name="get_trading_signals")
    def signals(symbol: str = "AAPL", limit: int = 2, hours_back: float | None = None) -> Page:
        if symbol == "FAIL":
            raise ToolError(f"unknown symbol {symbol!r}")
        if symbol == "BOOM":
            raise RuntimeError("not for the caller's eyes")
        points = [Point(price=100.5 + i / 3, note=f"é{i}\n\"q\"") for i in range(limit)]
        return Page.model_validate({"symbol": symbol.upper(), "count": limit, "points": points,
                                    "nextCursor": "c" if limit > 1 else None})  # fmt: skip

    @mcp.tool(name="get_jump_events")
    def jumps(limit: int = 1) -> Page:
        return Page(symbol="SPY", count=limit, points=[])

    @mcp.tool(name="get_enriched_data")
    def enriched(limit: int = 2) -> RowsPage:  # rows serialized once (server/row_wire.py), as kept rows are
        rows = [Point(price=i * 0.1, note=f"ü\t{i}") for i in range(limit)]
        return with_wire(RowsPage.model_validate({"rows": rows, "count": limit, "nextCursor": "n"}),
                         [RowWire(row) for row in rows])

    @mcp.tool(name="get_chart")
    def chart(symbol: str = "AAPL") -> Page:  # registered, not one of the short path's tools
        return Page(symbol=symbol, count=0, points=[])

    return mcp


class FakeCache:
    """Duck-typed :class:`~server.response_cache.ResponseCache`: one data version, a dict of entries."""

    def __init__(self) -> None:
        self.entries: dict[Any, tuple[Any, bytes]] = {}
        self.versions = 0
        self.puts: list[tuple[Any, Any, bytes]] = []

    async def version(self) -> int:
        self.versions += 1
        return 5

    def get(self, key: Any, version: Any) -> bytes | None:
        entry = self.entries.get(key)
        return entry[1] if entry is not None and entry[0] == version else None

    def put(self, key: Any, version: Any, value: bytes) -> None:
        self.puts.append((key, version, value))
        self.entries[key] = (version, value)


@contextlib.asynccontextmanager
async def _apps(cache: FakeCache | None = None, max_body_bytes: int = 1 << 20) -> AsyncIterator[tuple[Any, Any, Spy, ServerMetrics]]:
    """``(sdk, fast, spy, metrics)``: the SDK's app alone, and behind the short path (``spy`` between them)."""
    mcp = _tiny_mcp()
    sdk = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
                                  transport_security=TransportSecuritySettings(allowed_hosts=["127.0.0.1:*"]))
    spy = Spy(sdk)
    metrics = ServerMetrics()
    fast = FastToolCalls(spy, mcp=mcp, tools=["get_trading_signals", "get_jump_events", "get_enriched_data"], metrics=metrics,
                         cache=cache, max_body_bytes=max_body_bytes)  # fmt: skip
    async with mcp.session_manager.run():
        yield sdk, fast, spy, metrics


def _rpc(request_id: Any, tool: str, arguments: Any = None, **extra: Any) -> bytes:
    params: dict[str, Any] = {"name": tool}
    if arguments is not ...:
        params["arguments"] = arguments
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params, **extra})


# ----------------------------------------------------------------------------------- server/jsonrpc_checks.py


def test_a_post_to_exactly_the_path_is_an_mcp_post():
    assert is_mcp_post(_scope(), "/mcp")
    assert not is_mcp_post(_scope(path="/mcp/"), "/mcp")
    assert not is_mcp_post(_scope(path="/mc"), "/mcp")
    assert not is_mcp_post(_scope(method="GET"), "/mcp")
    assert not is_mcp_post(_scope(method="PUT"), "/mcp")
    assert not is_mcp_post(_scope(kind="websocket"), "/mcp")
    assert is_mcp_post(_scope(path="/other"), "/other")


@pytest.mark.parametrize(("headers", "json"), [
    ([(b"content-type", b"application/json")], True),
    ([(b"content-type", b"Application/JSON; charset=utf-8")], True),
    ([(b"content-type", b"application/json-seq")], True),  # the SDK's test is a prefix test
    ([(b"content-type", b"application/json\xff")], True),  # read as latin-1, never a decoding error
    ([(b"accept", b"application/json"), (b"content-type", b"text/plain")], False),
    ([(b"content-type", b"text/plain"), (b"content-type", b"application/json")], False),  # the first one counts
    ([(b"content-type", b"application/jso")], False),
    ([(b"content-type", b" application/json")], False),
    ([], False),
])  # fmt: skip
def test_a_json_body_by_the_sdks_content_type_test(headers, json):
    assert is_json_body(_scope(headers=headers)) is json


@pytest.mark.parametrize(("message", "bad"), [
    ({"method": "x", "id": 1}, False), ({"method": "x", "id": "a"}, False), ({"method": "x", "id": 0}, False),
    ({"method": "x", "id": ""}, False), ({"method": "x"}, False), ({"id": None}, False),
    ({"method": "x", "id": None}, True), ({"method": "x", "id": True}, True), ({"method": "x", "id": False}, True),
    ({"method": "x", "id": 1.5}, True), ({"method": "x", "id": [1]}, True), ({"method": "x", "id": {"a": 1}}, True),
    ([{"method": "x", "id": None}], False), ("x", False), (None, False),
])  # fmt: skip
def test_a_request_id_must_be_a_string_or_an_integer(message, bad):
    assert bad_request_id(message) is bad


def test_the_invalid_id_answer_is_a_json_rpc_error():
    assert orjson.loads(INVALID_ID) == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32600, "message": "Invalid Request: id must be a string or an integer"}}


def test_absent_or_null_arguments_are_an_empty_object_and_anything_else_is_kept():
    assert tool_arguments(None) == {}
    for value in ("", 0, False, [], {"a": 1}, "x"):
        assert tool_arguments(value) is value


# --------------------------------------------------------------------------------------- server/asgi_body.py


async def test_read_body_within_joins_the_chunks_up_to_the_limit_inclusive():
    for chunks, expected in (([b"abcd", b"efgh", b"ij"], b"abcdefghij"), ([b"0123456789"], b"0123456789"),
                             ([b"", b"12", b""], b"12"), ([None, b"12", None], b"12"), ([None], b"")):  # fmt: skip
        status, headers, body = await _call(BodyLimit(_echo, max_bytes=10), chunks)
        assert (status, body, headers["x-next"]) == (200, expected, "http.disconnect")


async def test_a_body_over_the_limit_is_answered_413_in_the_rest_error_shape():
    for chunks in ([b"abcd", b"efgh", b"ijk"], [b"0123456789a"], [b"", b"x" * 11]):
        reached: list[bytes] = []

        async def inner(scope, receive, send):  # never reached
            reached.append(b"inner")

        status, headers, body = await _call(BodyLimit(inner, max_bytes=10), chunks)
        assert status == 413 and reached == []
        assert headers["content-type"] == "application/json" and headers["content-length"] == str(len(body))
        assert orjson.loads(body) == {"ok": False, "error": "request body over 10 bytes", "errors": [], "status": 413}


async def test_read_body_within_returns_none_once_it_has_answered():
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": b"xyz", "more_body": False}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    assert await read_body_within(_scope(), receive, send, 2) is None
    assert sent[0]["status"] == 413 and len(sent) == 2
    messages.append({"type": "http.request", "body": b"xy"})  # no more_body: the last chunk
    assert await read_body_within(_scope(), receive, send, 2) == b"xy" and len(sent) == 2


async def test_a_request_without_a_body_and_other_scopes_pass_untouched():
    for method in ("GET", "HEAD", "OPTIONS"):
        status, headers, body = await _call(BodyLimit(_echo, max_bytes=2), b"far over the limit", method=method)
        assert (status, headers["x-method"], body) == (200, method, b"far over the limit")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert (await _call(BodyLimit(_echo, max_bytes=2), b"abc", method=method))[0] == 413
    seen: list[str] = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    for kind in ("websocket", "lifespan"):
        await BodyLimit(inner, max_bytes=0)({"type": kind, "method": "POST"}, None, None)
    assert seen == ["websocket", "lifespan"]


async def test_replay_body_yields_the_body_once_then_defers():
    later = [{"type": "http.disconnect"}, {"type": "http.request", "body": b"z"}]

    async def receive():
        return later.pop(0)

    replay = replay_body(b"payload", receive)
    assert await replay() == {"type": "http.request", "body": b"payload", "more_body": False}
    assert await replay() == {"type": "http.disconnect"}
    assert await replay() == {"type": "http.request", "body": b"z"}


# ---------------------------------------------------------------------------------------- server/seed_rpc.py

TOOLS = frozenset({"get_trading_signals", "get_jump_events"})


def test_a_seed_body_is_rewritten_into_the_tools_call_it_abbreviates():
    seed = {"method": "get_trading_signals", "params": {"symbol": "AAPL"}, "id": "7"}
    assert orjson.loads(rewrite_seed_body(seed, TOOLS)) == {
        "jsonrpc": "2.0", "id": "7", "method": "tools/call",
        "params": {"name": "get_trading_signals", "arguments": {"symbol": "AAPL"}}}
    assert orjson.loads(rewrite_seed_body({"method": "get_jump_events"}, TOOLS)) == {
        "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_jump_events", "arguments": {}}}
    assert orjson.loads(rewrite_seed_body({"method": "get_jump_events", "params": None, "id": 0}, TOOLS))["params"] == {
        "name": "get_jump_events", "arguments": {}}
    assert orjson.loads(rewrite_seed_body({"method": "get_jump_events", "params": [], "id": 3}, TOOLS))["params"] == {
        "name": "get_jump_events", "arguments": []}  # the SDK answers -32602 for it


@pytest.mark.parametrize("message", [
    {"jsonrpc": "2.0", "method": "get_trading_signals", "id": 1}, {"method": "tools/call", "id": 1},
    {"method": "get_chart", "id": 1}, {"params": {}}, [{"method": "get_trading_signals"}], "get_trading_signals", None,
])  # fmt: skip
def test_any_other_body_is_not_rewritten(message):
    assert rewrite_seed_body(message, TOOLS) is None


async def test_the_seed_adapter_answers_what_the_sdk_answers_to_the_rewritten_call():
    async with _apps() as (sdk, _, _, _):
        spy = Spy(sdk)
        seed = SeedRpcAdapter(spy, path="/mcp", tool_names=TOOLS, max_body_bytes=1000)
        headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), (b"accept", b"text/html"),
                   (b"content-length", b"999"), (b"x-kept", b"yes")]  # fmt: skip
        cases = [({"method": "get_trading_signals", "params": {"symbol": "msft", "limit": 2}, "id": "s1"},
                  _rpc("s1", "get_trading_signals", {"symbol": "msft", "limit": 2})),
                 ({"method": "get_jump_events"}, _rpc(1, "get_jump_events", {})),
                 ({"method": "get_trading_signals", "params": {"limit": "many"}, "id": 4},
                  _rpc(4, "get_trading_signals", {"limit": "many"}))]  # fmt: skip
        for message, rpc in cases:
            ours = await _call(seed, orjson.dumps(message), headers=headers)
            theirs = await _call(sdk, rpc)
            assert ours[0] == theirs[0] == 200 and ours[2] == theirs[2]
            assert orjson.loads(spy.bodies[-1]) == orjson.loads(rpc) and spy.after[-1] == {"type": "http.disconnect"}
            sent = spy.scopes[-1]["headers"]
            assert sent[:2] == [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")]
            assert sent[2:] == [(b"x-kept", b"yes"), (b"accept", b"application/json, text/event-stream"),
                                (b"content-length", str(len(spy.bodies[-1])).encode())]  # fmt: skip


async def test_the_seed_adapter_refuses_a_bad_id_and_passes_everything_else_untouched():
    async with _apps() as (sdk, _, _, _):
        spy = Spy(sdk)
        seed = SeedRpcAdapter(spy, path="/mcp", tool_names=TOOLS, max_body_bytes=200)
        for body in ({"method": "get_jump_events", "id": None}, _rpc(True, "get_jump_events", {})):
            raw = body if isinstance(body, bytes) else orjson.dumps(body)
            status, headers, answer = await _call(seed, raw)
            assert (status, answer, spy.bodies) == (400, INVALID_ID, [])
            assert headers == {"content-type": "application/json", "content-length": str(len(INVALID_ID))}
        status, headers, answer = await _call(seed, b"x" * 201)
        assert status == 413 and orjson.loads(answer)["error"] == "request body over 200 bytes" and spy.bodies == []
        for raw, scope_headers, path in ((_rpc(2, "get_jump_events", {}), None, "/mcp"),
                                         (b"{not json", None, "/mcp"),
                                         (orjson.dumps({"method": "get_jump_events", "id": None}),
                                          [(b"host", b"127.0.0.1:8000"), (b"content-type", b"text/plain"),
                                           (b"accept", b"application/json")], "/mcp"),
                                         (orjson.dumps({"method": "get_jump_events"}), None, "/mcp/")):  # fmt: skip
            ours = await _call(seed, raw, headers=scope_headers, path=path)
            theirs = await _call(sdk, raw, headers=scope_headers, path=path)
            assert ours == theirs
            assert spy.bodies[-1] == raw and spy.scopes[-1]["headers"] == (scope_headers or JSON_HEADERS)
        assert spy.after == [{"type": "http.disconnect"}] * 4


# --------------------------------------------------------------------------------------- server/fast_path.py


def test_media_types_are_lowercased_without_parameters():
    assert _media_types(" Application/JSON ; q=0.9,text/event-stream;x=1 ,*/*") == [
        "application/json", "text/event-stream", "*/*"]
    assert _media_types("") == [""]


@pytest.mark.parametrize(("extra", "accept", "content_type", "eligible"), [
    ([], "application/json, text/event-stream", "application/json", True),
    ([], "*/*", "application/json; charset=utf-8", True),
    ([], "application/*", "application/json", True),
    ([], "APPLICATION/JSON;q=1", "application/json", True),
    ([], "text/event-stream", "application/json", False),
    ([], "text/html", "application/json", False),
    ([], None, "application/json", False),
    ([], "application/json", "application/json-seq", False),
    ([], "application/json", "application/json, text/plain", True),
    ([], "application/json", "text/plain, application/json", False),  # the SDK refuses it (400)
    ([], "application/json", "text/plain", False),
    ([], "application/json", None, False),
    ([(b"mcp-session-id", b"abc")], "application/json", "application/json", False),
    ([(b"mcp-protocol-version", b"2025-06-18")], "application/json", "application/json", True),
    ([(b"mcp-protocol-version", b"2025-03-26")], "application/json", "application/json", True),
    ([(b"mcp-protocol-version", b"2026-07-28")], "application/json", "application/json", False),
    ([(b"mcp-protocol-version", b"1999-01-01")], "application/json", "application/json", False),
])  # fmt: skip
def test_only_a_sessionless_legacy_json_post_is_eligible(extra, accept, content_type, eligible):
    headers = list(extra)
    if accept is not None:
        headers.append((b"accept", accept.encode()))
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    assert _eligible_headers(_scope(headers=headers)) is eligible
    assert _eligible_headers(_scope(headers=headers[::-1])) is eligible


def test_a_plain_tools_call_is_read_and_anything_else_is_left_to_the_sdk():
    assert _tool_call(_rpc(3, "get_trading_signals", {"symbol": "A"}), TOOLS) == (3, "get_trading_signals", {"symbol": "A"})
    assert _tool_call(_rpc("x", "get_jump_events", None), TOOLS) == ("x", "get_jump_events", {})
    assert _tool_call(_rpc(0, "get_jump_events", ...), TOOLS) == (0, "get_jump_events", {})
    others = [b"{", b"[]", _rpc(None, "get_jump_events", {}), _rpc(True, "get_jump_events", {}),
              _rpc(1.0, "get_jump_events", {}), _rpc(1, "get_chart", {}), _rpc(1, "get_jump_events", []),
              _rpc(1, "get_jump_events", ""), _rpc(1, "get_jump_events", {}, extra=1),
              orjson.dumps({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "get_jump_events"}}),
              orjson.dumps({"jsonrpc": "1.0", "id": 1, "method": "tools/call", "params": {"name": "get_jump_events"}}),
              orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"name": "get_jump_events"}}),
              orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["get_jump_events"]}),
              orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}}),
              orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                            "params": {"name": "get_jump_events", "_meta": {}}})]  # fmt: skip
    for body in others:
        assert _tool_call(body, TOOLS) is None, body


def test_the_envelope_and_the_error_result_by_hand():
    assert _envelope("é", b'{"a":1}') == '{"jsonrpc":"2.0","id":"é","result":{"a":1}}'.encode()
    assert _envelope(0, b"{}") == b'{"jsonrpc":"2.0","id":0,"result":{}}'
    assert _error_json('bad "x"\n') == b'{"content":[{"text":"bad \\"x\\"\\n","type":"text"}],"isError":true}'


def test_result_json_is_the_text_block_and_the_structured_page():
    page = Page.model_validate({"symbol": "A", "count": 1, "points": [{"price": 1.5, "note": "é"}], "nextCursor": "n"})
    result = orjson.loads(result_json(page))
    assert list(result) == ["content", "isError", "structuredContent"] and result["isError"] is False
    assert result["content"] == [{"text": page.model_dump_json(indent=2, by_alias=True), "type": "text"}]
    assert result["structuredContent"] == {"symbol": "A", "count": 1, "points": [{"price": 1.5, "note": "é"}],
                                           "nextCursor": "n", "as_of": "2026-01-01T00:00:00Z"}  # fmt: skip


CALLS = [
    ("get_trading_signals", {"symbol": "msft", "limit": 3}),
    ("get_trading_signals", {}),
    ("get_trading_signals", None),
    ("get_trading_signals", ...),
    ("get_trading_signals", {"symbol": "aapl", "limit": 1, "hours_back": 2}),
    ("get_trading_signals", {"symbol": "FAIL"}),
    ("get_trading_signals", {"symbol": "BOOM"}),
    ("get_jump_events", {"limit": 4}),
    ("get_enriched_data", {"limit": 3}),
    ("get_enriched_data", {"limit": 0}),
]


@pytest.mark.parametrize(("tool", "arguments"), CALLS, ids=[str(i) for i in range(len(CALLS))])
async def test_the_short_path_answers_byte_for_byte_what_the_sdk_answers(tool, arguments):
    async with _apps() as (sdk, fast, spy, _):
        for request_id in (7, "req-é", 0, ""):
            for headers in (None, [*JSON_HEADERS, (b"mcp-protocol-version", b"2025-06-18")]):
                body = _rpc(request_id, tool, arguments)
                ours, theirs = await _call(fast, body, headers=headers), await _call(sdk, body, headers=headers)
                assert spy.bodies == []  # answered by the short path
                assert (ours[0], ours[1]["content-type"], ours[2]) == (theirs[0], theirs[1]["content-type"], theirs[2])
                assert ours[1]["content-length"] == str(len(ours[2]))


@pytest.mark.parametrize("body", [
    _rpc(1, "get_trading_signals", {"limit": "many"}),  # the tool's schema rejects it: the SDK words it
    _rpc(1, "get_trading_signals", []),
    _rpc(1, "get_chart", {"symbol": "A"}),
    _rpc(1, "nope", {}),
    _rpc(None, "get_jump_events", {}),
    _rpc(1, "get_jump_events", {}, extra=2),
    orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}),
    orjson.dumps([orjson.loads(_rpc(1, "get_jump_events", {}))]),
    b"{not json",
])  # fmt: skip
async def test_everything_else_reaches_the_sdk_unchanged(body):
    async with _apps() as (sdk, fast, spy, _):
        ours, theirs = await _call(fast, body), await _call(sdk, body)
        assert spy.bodies == [body] and (ours[0], ours[2]) == (theirs[0], theirs[2])
        assert spy.after == [{"type": "http.disconnect"}]  # the client's receive, handed on after the body


@pytest.mark.parametrize("headers", [
    [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), (b"accept", b"text/event-stream")],
    [(b"host", b"127.0.0.1:8000"), (b"content-type", b"text/plain"), (b"accept", b"application/json")],
    [*JSON_HEADERS, (b"mcp-session-id", b"s")],
    [*JSON_HEADERS, (b"mcp-protocol-version", b"2026-07-28")],
])  # fmt: skip
async def test_requests_with_other_headers_reach_the_sdk_unchanged(headers):
    async with _apps() as (sdk, fast, spy, _):
        body = _rpc(1, "get_jump_events", {})
        ours, theirs = await _call(fast, body, headers=headers), await _call(sdk, body, headers=headers)
        assert spy.bodies == [body] and spy.scopes[0]["headers"] == headers
        assert spy.after == [{"type": "http.disconnect"}]
        assert (ours[0], ours[2]) == (theirs[0], theirs[2])
    async with _apps() as (sdk, fast, spy, _):
        for path in ("/mcp/", "/api"):
            await _call(fast, _rpc(1, "get_jump_events", {}), path=path)
        await _call(fast, b"", method="GET")
        assert len(spy.bodies) == 3


async def test_the_short_path_refuses_a_body_over_its_limit():
    async with _apps(max_body_bytes=120) as (_, fast, spy, _):
        body = _rpc(1, "get_trading_signals", {"symbol": "x" * 100})
        status, _, answer = await _call(fast, body)
        assert status == 413 and orjson.loads(answer)["error"] == "request body over 120 bytes" and spy.bodies == []
        short = _rpc(1, "get_jump_events", {"limit": 1})
        assert (await _call(fast, [short[:10], short[10:]]))[0] == 200 and spy.bodies == []


async def test_data_only_calls_are_cached_and_a_hit_is_counted():
    cache = FakeCache()
    async with _apps(cache=cache) as (sdk, fast, spy, metrics):
        body = _rpc(1, "get_trading_signals", {"symbol": "aapl", "limit": 2})
        first = await _call(fast, body)
        assert first == await _call(fast, body) and first[2] == (await _call(sdk, body))[2]
        assert len(cache.puts) == 1 and cache.versions == 2
        key, version, stored = cache.puts[0]
        assert key[0] == "get_trading_signals" and version == 5
        assert first[2] == b'{"jsonrpc":"2.0","id":1,"result":' + stored + b"}"
        other_id = await _call(fast, _rpc("b", "get_trading_signals", {"symbol": "aapl", "limit": 2}))
        assert other_id[2] == b'{"jsonrpc":"2.0","id":"b","result":' + stored + b"}"
        text = metrics.render().decode() if isinstance(metrics.render(), bytes) else metrics.render()
        assert 'microstructure_tool_requests_total{tool="get_trading_signals",transport="mcp"} 2.0' in text
        # a window relative to now, and a failed call, are not kept
        await _call(fast, _rpc(2, "get_trading_signals", {"hours_back": 1}))
        assert cache.versions == 3 and len(cache.puts) == 1
        for symbol in ("FAIL", "BOOM"):  # a refusal and an unexpected exception
            for _ in range(2):
                failed = await _call(fast, _rpc(3, "get_trading_signals", {"symbol": symbol}))
                assert orjson.loads(failed[2])["result"]["isError"] is True
        assert len(cache.puts) == 1 and spy.bodies == []


@pytest.mark.parametrize("symbol", ["FAIL", "BOOM"])
async def test_a_failed_call_is_logged_as_the_sdk_logs_it(symbol, caplog):
    caplog.set_level(logging.INFO)
    body = _rpc(1, "get_trading_signals", {"symbol": symbol})
    logged = []
    for name in ("fast", "sdk"):
        caplog.clear()
        async with _apps() as (sdk, fast, spy, _):
            await _call(fast if name == "fast" else sdk, body)
        logged.append([(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records
                       if r.getMessage().startswith("Tool ")])  # fmt: skip
    (level, message, traceback), = logged[0]
    if symbol == "BOOM":  # as the SDK: the same line, with the traceback
        assert logged[0] == logged[1] == [(logging.ERROR, "Tool 'get_trading_signals' raised an unexpected exception", True)]
    else:  # the SDK logs the text of the ToolError it re-raises ("Error executing tool ...: "), this the tool's own
        assert (level, message, traceback) == (logging.INFO, "Tool 'get_trading_signals' failed: \"unknown symbol 'FAIL'\"", False)
        assert [(level, traceback)] == [(r[0], r[2]) for r in logged[1]] and "unknown symbol 'FAIL'" in logged[1][0][1]


@pytest.mark.parametrize("content_types", [
    [b"text/plain, application/json"],  # the SDK reads the start of the value: 400
    [b"text/plain", b"application/json"],  # and the first of two headers: 400
    [b"application/json", b"text/plain"],
    [b"application/json, text/plain"],  # the SDK's prefix test passes: the short path may answer it
    [b"Application/JSON"],
    [b"application/json-seq"],
])  # fmt: skip
async def test_the_short_path_takes_a_content_type_only_where_the_sdk_does(content_types):
    headers = [(b"host", b"127.0.0.1:8000"), (b"accept", b"application/json"),
               *((b"content-type", value) for value in content_types)]  # fmt: skip
    async with _apps() as (sdk, fast, spy, _):
        body = _rpc(1, "get_jump_events", {})
        ours, theirs = await _call(fast, body, headers=headers), await _call(sdk, body, headers=headers)
        assert (ours[0], ours[2]) == (theirs[0], theirs[2])
        assert len(spy.bodies) == (0 if content_types == [b"application/json, text/plain"] else 1)
