"""The MCP tools through the official client, in memory, on real simulated data."""

from __future__ import annotations

import base64
import re

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
        page_fields = {"rows", "count", "truncated", "next_cursor", "as_of"}
        if tool.name == "get_chart":
            assert {"symbol", "bars", "jumps", "signals"} <= set(tool.output_schema["properties"])
        elif tool.name == "query":  # one statement's rows: no cursor to page with
            assert {"columns", "rows", "count", "truncated", "as_of"} <= set(tool.output_schema["properties"])
        else:
            assert page_fields <= set(tool.output_schema["properties"])
        if "limit" in tool.input_schema["properties"]:
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
        ("get_enriched_data", {"symbol": "$$$"}, "symbol\n  String should match pattern"),
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


async def test_jump_filters_select_direction_and_size(client):
    ups = await call(client, "get_jump_events", direction="up", limit=100)
    assert ups["count"] > 0 and all(r["log_return"] > 0 for r in ups["rows"])
    big = await call(client, "get_jump_events", min_abs_stat=12, limit=100)
    assert all(abs(r["lee_mykland_stat"]) >= 12 for r in big["rows"])
    everything = await call(client, "get_jump_events", limit=100)
    assert big["count"] < everything["count"]


async def test_symbols_selects_several_tickers(client):
    page = await call(client, "get_trading_signals", symbols=["aapl", "ETH-USD"], limit=100)
    assert {r["symbol"] for r in page["rows"]} == {"AAPL", "ETH-USD"}
    assert "symbol or symbols" in await error_text(client, "get_jump_events", symbol="AAPL", symbols=["MSFT"])
    assert "symbols" in await error_text(client, "get_jump_events", symbols=[f"S{i}" for i in range(51)])


async def test_symbol_metrics_has_one_row_per_symbol_and_day_and_pages(client):
    first = await call(client, "get_symbol_metrics", symbols=["AAPL", "MSFT"], limit=2)
    rest = await call(client, "get_symbol_metrics", symbols=["AAPL", "MSFT"], limit=100, cursor=first["next_cursor"])
    keys = [(r["session_date"], r["symbol"]) for r in first["rows"] + rest["rows"]]
    assert len(keys) == len(set(keys)) >= 4 and keys == sorted(keys, reverse=True)
    for row in first["rows"]:
        assert row["trades"] > 0 and row["low"] <= row["vwap"] <= row["high"]
        assert row["realized_variance"] > 0 and row["n_returns"] > 0


async def test_real_time_data_gives_each_symbol_its_newest_bar_and_last_trade(client):
    page = await call(client, "get_real_time_data")
    symbols = [r["symbol"] for r in page["rows"]]
    assert symbols == sorted(symbols) and {"AAPL", "BTC-USD"} <= set(symbols)
    newest = await call(client, "get_trading_signals", symbol="AAPL", limit=1)
    aapl = next(r for r in page["rows"] if r["symbol"] == "AAPL")
    assert aapl["bar_end_ns"] == newest["rows"][0]["bar_end_ns"]
    assert aapl["last_trade_ns"] >= aapl["bar_end_ns"] - 60 * 10**9 and aapl["trade_age_seconds"] >= 0
    assert "unknown symbol 'NOPE'" in await error_text(client, "get_real_time_data", symbol="NOPE")


async def test_chart_is_a_png_with_a_description_of_what_it_shows(client):
    result = await client.call_tool("get_chart", {"symbol": "NVDA", "hours_back": 24})
    assert not result.is_error
    image = result.content[0]
    assert image.type == "image" and image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG")
    info = result.structured_content
    assert info["symbol"] == "NVDA" and info["bars"] > 100 and sum(info["signals"].values()) == info["bars"]


async def test_views_resource_documents_every_table_and_view_with_columns(client):
    text = (await client.read_resource("schema://views")).contents[0].text
    for name in ("market_data", "trading_signals", "enriched_market_data", "jump_events", "symbol_metrics",
                 "latest_signals", "quotes", "model_params", "signal_state", "intraday_profile", "eligible_trades",
                 "trade_conditions", "trade_corrections"):  # fmt: skip
        assert f"## {name}" in text
    assert "- `lee_mykland_stat` DOUBLE" in text and "- `sets_price` BOOLEAN" in text


async def test_analyse_prompt_walks_through_the_tools_for_the_symbol(client):
    prompt = await client.get_prompt("analyse_symbol", {"symbol": "tsla"})
    text = prompt.messages[0].content.text
    assert "TSLA" in text and "get_real_time_data" in text and "get_jump_events" in text


_TOOL_ARGUMENTS = {
    "get_enriched_data": {"symbol": st.sampled_from(["AAPL", "aapl", "NOPE", "", "$"])},
    "get_trading_signals": {"signal_type": st.sampled_from(["BUY", "SELL", "HOLD", "MAYBE"])},
    "get_jump_events": {"direction": st.sampled_from(["up", "down", "left"]), "min_abs_stat": st.floats(-5, 50)},
    "get_symbol_metrics": {"symbols": st.lists(st.sampled_from(["AAPL", "MSFT", "NOPE"]), max_size=3)},
    "get_real_time_data": {"symbol": st.sampled_from(["AAPL", "BTC-USD", "NOPE"])},
}
_COMMON = {
    "limit": st.integers(-5, 300),
    "hours_back": st.one_of(st.none(), st.floats(-1, 1e5, allow_nan=False)),
    "start": st.one_of(st.none(), st.integers(-1, 2**64), st.text(max_size=25),
                       st.sampled_from(["2026-01-01", "2026-01-01T00:00:00+02:00"])),  # fmt: skip
    "cursor": st.one_of(st.none(), st.text(max_size=40)),
}


@st.composite
def tool_calls(draw):
    tool = draw(st.sampled_from(sorted(_TOOL_ARGUMENTS)))
    strategies = {**_COMMON, **_TOOL_ARGUMENTS[tool]}
    if tool == "get_real_time_data":
        strategies = {k: v for k, v in strategies.items() if k in ("limit", "symbol")}
    chosen = draw(st.lists(st.sampled_from(sorted(strategies)), unique=True))
    return tool, {name: draw(strategies[name]) for name in chosen}


def _names_a_refused_argument(text: str, arguments: dict) -> bool:
    """Whether an error text names one of the call's arguments, or says which symbol is unknown."""
    detail = text.split(": ", 1)[1]
    named = any(re.search(rf"\b{name}\b", detail) for name in arguments)
    symbols = [arguments.get("symbol"), *(arguments.get("symbols") or [])]
    unknown = any(s and s.upper() in detail and "unknown symbol" in detail.lower() for s in symbols)
    return named or unknown


@given(call=tool_calls())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_any_arguments_give_a_page_within_the_cap_or_an_explained_error(client, call):
    tool, arguments = call
    if tool == "get_enriched_data":
        arguments.setdefault("symbol", "AAPL")
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        text = result.content[0].text
        # An anticipated error names an argument of the call that it refuses (or the unknown symbol) and what it
        # accepts; a crash would end at the tool name or speak of something the caller did not send.
        assert text.startswith(f"Error executing tool {tool}: ")
        assert _names_a_refused_argument(text, arguments), (text, arguments)
    else:
        assert result.structured_content["count"] <= 100
        assert len(result.structured_content["rows"]) == result.structured_content["count"]
