"""The short path for stateless JSON ``tools/call`` answers exactly what the SDK answers.

Two servers on the same database, one with the short path (and its response cache) and one leaving every
request to the SDK, get the same requests; their response bodies must be equal byte for byte once the
``as_of`` stamp (the time of computing) and the ages relative to now are set aside. Every read tool, success and every error path: bad
arguments (the SDK words those), unknown symbols, a cursor of another tool, an inverted window.
"""

from __future__ import annotations

import re
import shutil
import time

import httpx
import pytest

from conftest import serving_app, small_settings
from server.app import build_app
from sql.duckdb_backend import DuckDBStorage

MCP = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
AS_OF = re.compile(rb'(as_of\\?"\s*:\s*\\?")[0-9T:.\-]+Z')
AGE = re.compile(rb'(_age_seconds\\?"\s*:\s*)[0-9.e+\-]+')  # get_real_time_data: seconds before now

CALLS: list[tuple[str, dict]] = [
    ("get_trading_signals", {"symbol": "AAPL", "limit": 7}),
    ("get_trading_signals", {"symbols": ["AAPL", "MSFT"], "limit": 5, "signal_type": "HOLD"}),
    ("get_trading_signals", {"limit": 3}),
    ("get_trading_signals", {"symbol": "aapl", "hours_back": 2, "limit": 4}),
    ("get_trading_signals", {"symbol": "NOSUCH", "limit": 4}),
    ("get_trading_signals", {"symbol": "AAPL", "symbols": ["MSFT"]}),
    ("get_trading_signals", {"symbol": "AAPL", "limit": 5000}),
    ("get_trading_signals", {"symbol": "not a ticker!"}),
    ("get_trading_signals", {"symbol": "AAPL", "cursor": "bm90LWEtY3Vyc29y"}),
    ("get_trading_signals", {"symbol": "AAPL", "start": "2026-01-02", "end": "2026-01-01"}),
    ("get_trading_signals", {"symbol": "AAPL", "signal_type": "MAYBE"}),
    ("get_enriched_data", {"symbol": "AAPL", "limit": 6}),
    ("get_enriched_data", {"symbol": "MSFT", "limit": 3, "hours_back": 1}),
    ("get_enriched_data", {"limit": 3}),
    ("get_enriched_data", {"symbol": "NOSUCH"}),
    ("get_jump_events", {"limit": 5}),
    ("get_jump_events", {"symbol": "AAPL", "direction": "up", "min_abs_stat": 1.5}),
    ("get_jump_events", {"direction": "sideways"}),
    ("get_symbol_metrics", {"symbol": "AAPL"}),
    ("get_symbol_metrics", {"limit": 4}),
    ("get_symbol_metrics", {"symbols": ["AAPL", "NOSUCH"], "start": 0}),
    ("get_real_time_data", {}),
    ("get_real_time_data", {"symbols": ["BTC-USD", "AAPL"]}),
    ("get_real_time_data", {"symbol": "NOSUCH"}),
    ("get_real_time_data", {"limit": 0}),
]


@pytest.fixture(scope="module")
def urls(market_db, tmp_path_factory):
    # A copy read with one DuckDB thread: parallel sums of floats may differ in the last bit between two
    # runs of one query, and this test is about the two paths, not about the engine's summation order.
    copy = tmp_path_factory.mktemp("fast") / "market.duckdb"
    shutil.copyfile(market_db, copy)
    settings = small_settings(copy, duckdb_threads=1)
    storage = DuckDBStorage.open(settings, read_only=True)
    with serving_app(build_app(settings, storage)) as fast, serving_app(build_app(settings, storage, fast_path=False)) as sdk:
        yield fast, sdk
    storage.close()


def _post(url: str, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{url}/mcp", json=body, headers={**MCP, **(headers or {})}, timeout=30)


def _call(request_id: object, tool: str, arguments: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def _stamp_free(body: bytes) -> bytes:
    return AGE.sub(rb"\1<age>", AS_OF.sub(rb"\1<as_of>", body))


@pytest.mark.parametrize("tool,arguments", CALLS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(CALLS)])
def test_the_short_path_answers_byte_for_byte_what_the_sdk_answers(urls, tool, arguments):
    fast, sdk = urls
    for request_id, version in ((7, None), ("req-é", "2025-06-18"), (0, "2025-03-26")):
        headers = {} if version is None else {"MCP-Protocol-Version": version}
        for attempt in range(2):  # the second call of a cacheable one comes from the cache
            ours = _post(fast, _call(request_id, tool, arguments), headers)
            theirs = _post(sdk, _call(request_id, tool, arguments), headers)
            assert (ours.status_code, ours.headers["content-type"]) == (theirs.status_code, theirs.headers["content-type"])
            assert _stamp_free(ours.content) == _stamp_free(theirs.content), (tool, arguments, attempt)


def test_a_cached_answer_keeps_the_time_it_was_computed(urls):
    fast, _ = urls
    call = _call(1, "get_trading_signals", {"symbol": "AAPL", "limit": 3})
    first = _post(fast, call).json()["result"]["structuredContent"]["as_of"]
    time.sleep(0.01)
    assert _post(fast, call).json()["result"]["structuredContent"]["as_of"] == first
    moving = _call(2, "get_trading_signals", {"symbol": "AAPL", "limit": 3, "hours_back": 48})
    stamps = {_post(fast, moving).json()["result"]["structuredContent"]["as_of"] for _ in range(3) if not time.sleep(0.002)}
    assert len(stamps) > 1  # a window relative to now is never served from the cache


def test_everything_else_still_reaches_the_sdk(urls):
    fast, sdk = urls
    for body in (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "resources/list", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_chart", "arguments": {"symbol": "AAPL"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "get_trading_signals", "arguments": {},
                                                                         "_meta": {"progressToken": 1}}},
        [_call(6, "get_trading_signals", {"limit": 1})],
    ):
        ours, theirs = _post(fast, body), _post(sdk, body)
        assert ours.status_code == theirs.status_code
        assert _stamp_free(ours.content) == _stamp_free(theirs.content)
    for headers in ({"Accept": "text/html"}, {"Content-Type": "text/plain"}):
        call = _call(8, "get_trading_signals", {"limit": 1})
        assert _post(fast, call, headers).status_code == _post(sdk, call, headers).status_code >= 400


def test_the_short_path_keeps_the_guards_the_limits_and_the_metrics(market_db, market_storage):
    settings = small_settings(market_db, mcp_auth_token="tok-fast")
    call = _call(1, "get_trading_signals", {"symbol": "AAPL", "limit": 2})
    with serving_app(build_app(settings, market_storage)) as url:
        assert _post(url, call).status_code == 401
        bearer = {"Authorization": "Bearer tok-fast"}
        assert _post(url, call, {**bearer, "Origin": "http://evil.example"}).status_code == 403
        assert _post(url, call, {**bearer, "Host": "evil.example"}).status_code == 421
        big = _call(1, "get_trading_signals", {"symbol": "AAPL", "cursor": "x" * (1 << 20)})
        assert _post(url, big, bearer).status_code == 413
        for _ in range(3):
            assert _post(url, call, bearer).json()["result"]["structuredContent"]["count"] == 2
        metrics = httpx.get(f"{url}/metrics", headers=bearer).text
        assert 'microstructure_tool_requests_total{tool="get_trading_signals",transport="mcp"} 3.0' in metrics
