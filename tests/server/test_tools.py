"""The MCP tools through the official client, in memory, on real simulated data."""

from __future__ import annotations

import pytest
from mcp import Client

from server.mcp import TOOL_NAMES, build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(market_settings, market_storage):
    async with Client(build_server(market_settings, market_storage), raise_exceptions=True) as connected:
        yield connected


async def call(client, tool, **arguments):
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def error_text(client, tool, **arguments) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return result.content[0].text


async def test_every_tool_is_listed_read_only_with_input_and_output_schemas(client):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == set(TOOL_NAMES)
    for tool in tools.values():
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.open_world_hint is False
        assert tool.description and "\n        " not in tool.description
        for field in ("rows", "count", "truncated", "next_cursor", "as_of"):
            assert field in tool.output_schema["properties"]
        assert tool.input_schema["properties"]["limit"]["maximum"] == 100


async def test_trading_signals_pages_newest_first_without_overlap(client):
    first = await call(client, "get_trading_signals", symbol="AAPL", limit=30)
    assert first["count"] == 30 and first["truncated"] and first["next_cursor"]
    second = await call(client, "get_trading_signals", symbol="AAPL", limit=30, cursor=first["next_cursor"])
    both = await call(client, "get_trading_signals", symbol="AAPL", limit=60)
    ends = [r["bar_end_ns"] for r in first["rows"] + second["rows"]]
    assert ends == [r["bar_end_ns"] for r in both["rows"]]
    assert ends == sorted(ends, reverse=True) and len(set(ends)) == 60


async def test_signal_type_filter_returns_only_that_signal(client):
    page = await call(client, "get_trading_signals", signal_type="HOLD", limit=50)
    assert page["count"] == 50
    assert {r["trading_signal"] for r in page["rows"]} == {"HOLD"}


async def test_jump_events_are_bars_whose_statistic_crossed_the_threshold(client):
    page = await call(client, "get_jump_events", hours_back=48, limit=100)
    assert page["count"] > 0
    for row in page["rows"]:
        assert abs(row["lee_mykland_stat"]) > row["jump_threshold"]
        assert row["direction"] == ("up" if row["log_return"] > 0 else "down")


async def test_enriched_trades_carry_the_last_bar_completed_before_them(client, market_storage):
    page = await call(client, "get_enriched_data", symbol="msft", limit=100, hours_back=24)
    assert page["count"] == 100 and page["truncated"]
    ends = market_storage._cursor().execute(
        "SELECT bar_end_ns FROM trading_signals WHERE symbol = 'MSFT' ORDER BY bar_end_ns"
    ).fetchall()
    ends = [e for (e,) in ends]
    for row in page["rows"]:
        assert row["symbol"] == "MSFT"
        expected = max(e for e in ends if e <= row["ts_ns"])
        assert row["signal_bar_end_ns"] == expected


async def test_start_and_end_bound_the_window(client):
    newest = (await call(client, "get_trading_signals", symbol="SPY", limit=1))["rows"][0]["bar_end_ns"]
    start = newest - 10 * 60 * 10**9
    page = await call(client, "get_trading_signals", symbol="SPY", start=start, end=str(newest), limit=100)
    assert [r["bar_end_ns"] for r in page["rows"]] == [newest - k * 60 * 10**9 for k in range(1, 11)]
    iso = await call(client, "get_trading_signals", symbol="SPY", start=page["rows"][-1]["bar_end"], limit=100)
    assert iso["count"] == 11


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("get_trading_signals", {"limit": 101}, "limit"),
        ("get_trading_signals", {"limit": 0}, "limit"),
        ("get_enriched_data", {}, "symbol"),
        ("get_jump_events", {"hours_back": -1}, "hours_back"),
        ("get_trading_signals", {"signal_type": "STRONG_BUY"}, "signal_type"),
        ("get_trading_signals", {"symbol": "NOPE"}, "unknown symbol 'NOPE'"),
        ("get_enriched_data", {"symbol": "$$$"}, "is not a ticker"),
        ("get_jump_events", {"hours_back": 1, "start": "2026-01-01"}, "either hours_back or start"),
        ("get_jump_events", {"start": "yesterday"}, "start must be ISO-8601"),
        ("get_jump_events", {"start": "2026-01-02", "end": "2026-01-01"}, "must be after start"),
        ("get_jump_events", {"cursor": "not-a-cursor"}, "cursor is not one that get_jump_events returned"),
    ],
)
async def test_bad_arguments_get_an_error_naming_the_argument(client, tool, arguments, message):
    assert message in await error_text(client, tool, **arguments)


async def test_a_cursor_only_resumes_the_tool_that_issued_it(client):
    page = await call(client, "get_trading_signals", limit=1)
    text = await error_text(client, "get_jump_events", cursor=page["next_cursor"])
    assert "cursor is not one that get_jump_events returned" in text
