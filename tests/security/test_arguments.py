"""Argument probes through every tool and every path of a real ``serve`` process: the official MCP client
(SDK), plain JSON-RPC on the short path and on the SDK, the seed-style body and REST. Forged cursors,
injection-shaped values and oversized values are refused naming the argument, never a 5xx, never the
database's words; the data is unchanged afterwards."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from mcp import Client

from security.conftest import SDK_PATH, SHORT_PATH, Server, http_client, tools_call

pytestmark = pytest.mark.anyio

REST_ROUTES = {"get_enriched_data": "enriched-data", "get_trading_signals": "trading-signals",
               "get_jump_events": "jump-events", "get_symbol_metrics": "symbol-metrics",
               "get_real_time_data": "real-time-data"}  # fmt: skip
DATABASE_WORDS = ("Binder Error", "Conversion Error", "Catalog Error", "SELECT ", "duckdb", ".duckdb", "Traceback")


def _cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _curl_paths(server: Server, tool: str, arguments: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """``(is_error, text)`` of the call through the short path, the SDK (no Accept) and the seed-style body."""
    answers = {
        "short path": http_client.post(f"{server.url}/mcp", json=tools_call(tool, arguments), headers=SHORT_PATH),
        "sdk": http_client.post(f"{server.url}/mcp", json=tools_call(tool, arguments), headers=SDK_PATH),
        "seed body": http_client.post(f"{server.url}/mcp", json={"method": tool, "params": arguments, "id": "s"}),
    }
    out = {}
    for path, answer in answers.items():
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        body = answer.json()
        if "error" in body:
            out[path] = True, body["error"]["message"]
        else:
            out[path] = body["result"]["isError"], body["result"]["content"][0].get("text", "")
    return out


def _rest(server: Server, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    return http_client.get(f"{server.url}/api/v1/{REST_ROUTES[tool]}", params=arguments, timeout=60)


async def _sdk_client(server: Server, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    async with Client(f"{server.url}/mcp") as client:
        result = await client.call_tool(tool, arguments)
    return bool(result.is_error), result.content[0].text if result.content else ""


FORGED_CURSORS = {
    "injection text for the ns key": ("get_trading_signals", {"t": "get_trading_signals", "k": ["1 OR 1=1", "x' --"]}),
    "metrics: number for the date": ("get_symbol_metrics", {"t": "get_symbol_metrics", "k": [12345, "A"]}),
    "metrics: a date that is none": ("get_symbol_metrics", {"t": "get_symbol_metrics", "k": ["2026-13-45", "A"]}),
    "enriched: strings for numbers": ("get_enriched_data", {"t": "get_enriched_data", "k": ["1", "2", "3"]}),
    "enriched: float ns": ("get_enriched_data", {"t": "get_enriched_data", "k": [1.5, 1, "x"]}),
    "enriched: boolean ns": ("get_enriched_data", {"t": "get_enriched_data", "k": [True, 1, "x"]}),
    "enriched: exchange past 32 bits": ("get_enriched_data", {"t": "get_enriched_data", "k": [1, 2**40, "x"]}),
    "jumps: ns past 64 bits": ("get_jump_events", {"t": "get_jump_events", "k": [2**70, "A"]}),
    "jumps: negative ns": ("get_jump_events", {"t": "get_jump_events", "k": [-1, "A"]}),
    "jumps: null ns": ("get_jump_events", {"t": "get_jump_events", "k": [None, "A"]}),
    "signals: object for the symbol": ("get_trading_signals", {"t": "get_trading_signals", "k": [1, {"a": 1}]}),
    "another tool's cursor": ("get_trading_signals", {"t": "get_jump_events", "k": [1, "A"]}),
    "wrong arity": ("get_trading_signals", {"t": "get_trading_signals", "k": [1]}),
}


@pytest.mark.parametrize("probe", FORGED_CURSORS)
async def test_a_forged_cursor_is_refused_naming_cursor_on_every_path(open_server, probe):
    tool, payload = FORGED_CURSORS[probe]
    arguments: dict[str, Any] = {"cursor": _cursor(payload), "limit": 5}
    if tool == "get_enriched_data":
        arguments["symbol"] = "AAPL"
    rest = _rest(open_server, tool, arguments)
    assert rest.status_code == 400, rest.text
    assert rest.json()["error"].startswith("cursor is not one that")
    answers = {**_curl_paths(open_server, tool, arguments), "sdk client": await _sdk_client(open_server, tool, arguments)}
    for path, (is_error, text) in answers.items():
        assert is_error and "cursor is not one that" in text, (path, text)
        assert not any(word in text for word in DATABASE_WORDS), (path, text)


@pytest.mark.parametrize("tool", ["get_enriched_data", "get_trading_signals", "get_jump_events", "get_symbol_metrics"])
def test_a_real_next_cursor_still_pages_on_every_list_tool(open_server, tool):
    arguments: dict[str, Any] = {"limit": 2, **({"symbol": "AAPL"} if tool == "get_enriched_data" else {})}
    if tool == "get_jump_events":
        arguments["hours_back"] = 72
    first = _rest(open_server, tool, arguments).json()
    assert first["truncated"] and first["next_cursor"], first
    second = _rest(open_server, tool, {**arguments, "cursor": first["next_cursor"]})
    assert second.status_code == 200 and second.json()["rows"] and second.json()["rows"] != first["rows"]
    via_mcp = _curl_paths(open_server, tool, {**arguments, "cursor": first["next_cursor"]})
    assert not any(is_error for is_error, _ in via_mcp.values()), via_mcp


INJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("get_trading_signals", {"symbol": "AAPL' OR '1'='1"}, "symbol"),
    ("get_trading_signals", {"symbol": "AAPL; DROP TABLE market_data; --"}, "symbol"),
    ("get_enriched_data", {"symbol": "../../../etc/passwd"}, "symbol"),
    ("get_enriched_data", {"symbol": "AAPL\u0000"}, "symbol"),
    ("get_jump_events", {"symbol": "A" * 5000}, "symbol"),
    ("get_symbol_metrics", {"symbols": ["AAPL", "' OR 1=1 --"]}, "symbols"),
    ("get_real_time_data", {"symbols": ["AAPL"] * 51}, "symbols"),
    ("get_trading_signals", {"signal_type": "BUY' OR 1=1 --"}, "signal_type"),
    ("get_jump_events", {"direction": "up' --"}, "direction"),
    ("get_jump_events", {"start": "2026-01-01'; DROP TABLE trading_signals; --"}, "start"),
    ("get_trading_signals", {"start": "9" * 5000}, "start"),
    ("get_symbol_metrics", {"end": "9" * 41}, "end"),
    ("get_trading_signals", {"start": "99999999999999999999"}, "start"),
    ("get_jump_events", {"end": "$(id)"}, "end"),
    ("get_trading_signals", {"cursor": "' OR 1=1 --"}, "cursor"),
    ("get_jump_events", {"cursor": "A" * 600}, "cursor"),
    ("get_jump_events", {"limit": "1; DROP TABLE x"}, "limit"),
    ("get_trading_signals", {"limit": 10**18}, "limit"),
    ("get_symbol_metrics", {"hours_back": "nan"}, "hours_back"),
    ("get_enriched_data", {"symbol": "AAPL", "hours_back": 1e308}, "hours_back"),
    ("get_jump_events", {"min_abs_stat": "inf"}, "min_abs_stat"),
]


@pytest.mark.parametrize(("tool", "arguments", "named"), INJECTIONS, ids=[f"{t}-{next(iter(a))}-{i}" for i, (t, a, _) in enumerate(INJECTIONS)])
def test_an_injection_shaped_or_oversized_argument_is_refused_naming_it_on_every_path(open_server, tool, arguments, named):
    rest = _rest(open_server, tool, arguments)
    assert rest.status_code == 400, rest.text[:300]
    assert named in rest.json()["error"]
    for path, (is_error, text) in _curl_paths(open_server, tool, arguments).items():
        assert is_error and named in text, (path, text[:300])
        assert not any(word in text for word in DATABASE_WORDS[:3] + ("Traceback", "Exceeds the limit")), (path, text)


async def test_injection_shaped_arguments_through_the_official_client_are_refused_naming_them(open_server):
    async with Client(f"{open_server.url}/mcp") as client:
        for tool, arguments, named in INJECTIONS:
            result = await client.call_tool(tool, arguments)
            assert result.is_error and named in result.content[0].text, (tool, arguments)


SQL_PROBES = ["DROP TABLE market_data", "SELECT 1; DROP TABLE market_data", "ATTACH '/tmp/x.duckdb' AS x",
              "COPY market_data TO '/tmp/stolen.csv'", "SELECT * FROM read_csv('/etc/passwd')",
              "SELECT * FROM duckdb_databases()", "SELECT current_setting('temp_directory')", "SELECT getenv('HOME')",
              "PRAGMA database_list", "INSTALL httpfs", "SELECT * FROM glob('/*')"]  # fmt: skip


@pytest.mark.parametrize("sql", SQL_PROBES)
def test_analyst_sql_that_writes_reads_files_or_reveals_the_host_is_refused(open_server, sql, tiny_db):
    attack_db = tiny_db[0]
    rest = http_client.post(f"{open_server.url}/api/v1/sql", json={"sql": sql})
    assert rest.status_code == 400 and str(attack_db) not in rest.text
    for path, (is_error, text) in _curl_paths(open_server, "query", {"sql": sql}).items():
        assert is_error and str(attack_db) not in text, (path, text)


def test_the_data_is_unchanged_after_every_probe(open_server, tiny_db):
    """Runs last in this module: the server's counts equal the file's, read here on its own connection."""
    sql = "SELECT (SELECT count(*) FROM market_data) AS trades, (SELECT count(*) FROM trading_signals) AS bars"
    served = http_client.post(f"{open_server.url}/api/v1/sql", json={"sql": sql}).json()["rows"][0]
    direct = list(tiny_db[1]._cursor().execute(sql).fetchone())
    assert served == direct and direct[0] > 0 and direct[1] > 0
