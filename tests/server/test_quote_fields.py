"""The quote fields of the tools through the official MCP client, in memory, on real simulated data."""

from __future__ import annotations

import math

import pytest
from mcp import Client

from server.mcp import build_server

pytestmark = pytest.mark.anyio

QUOTE_FIELDS = ("bid_price", "ask_price", "trade_side", "quote_flags", "effective_spread")


@pytest.fixture
async def client(market_settings, market_storage):
    async with Client(build_server(market_settings, market_storage), raise_exceptions=True) as connected:
        yield connected


async def test_get_enriched_data_lists_and_returns_the_quote_fields_of_the_view(client, market_storage):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    row_schema = tools["get_enriched_data"].output_schema["$defs"]["EnrichedTrade"]["properties"]
    assert set(QUOTE_FIELDS) <= set(row_schema)
    result = await client.call_tool("get_enriched_data", {"symbol": "AAPL", "limit": 100, "hours_back": 24})
    assert not result.is_error
    rows = result.structured_content["rows"]
    assert len(rows) == 100
    view = {(r[0], r[1]): r[2:] for r in market_storage.fetch_all(
        f"SELECT exchange, trade_id, {', '.join(QUOTE_FIELDS)} FROM enriched_market_data WHERE symbol = 'AAPL' "
        "AND ts_ns >= $lo AND ts_ns <= $hi", {"lo": rows[-1]["ts_ns"], "hi": rows[0]["ts_ns"]})}
    usable = 0
    for row in rows:
        assert tuple(row[f] for f in QUOTE_FIELDS) == view[(row["exchange"], row["trade_id"])]
        assert row["trade_side"] in (-1, 0, 1)
        if row["quote_flags"] in (0, 32):  # a usable quote: two-sided, fresh, neither locked nor crossed
            usable += 1
            bid, ask, price = row["bid_price"], row["ask_price"], row["price"]
            mid = (bid + ask) / 2
            assert bid < ask
            assert math.isclose(row["effective_spread"], 2 * abs(price - mid) / mid, rel_tol=1e-12)
            if row["quote_flags"] == 0:
                assert row["trade_side"] == (1 if price > mid else -1)
        else:
            assert row["effective_spread"] is None and row["quote_flags"] & 64
    assert usable > 50


async def test_get_symbol_metrics_carries_the_daily_spreads_of_its_query(client, market_storage):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    row_schema = tools["get_symbol_metrics"].output_schema["$defs"]["SymbolMetrics"]["properties"]
    assert {"quoted_spread", "effective_spread"} <= set(row_schema)
    result = await client.call_tool("get_symbol_metrics", {"symbols": ["AAPL", "MSFT"], "limit": 10})
    assert not result.is_error
    rows = result.structured_content["rows"]
    assert {r["symbol"] for r in rows} == {"AAPL", "MSFT"}
    days = sorted({r["session_date"] for r in rows})
    from server.tools.daily_spreads import _day_ns

    query = market_storage.query("symbol_daily_spreads", {"symbols": ["AAPL", "MSFT"], "start_ns": _day_ns(days[0]),
                                                           "end_ns": _day_ns(days[-1]) + 86_400 * 10**9}, 100)
    want = {(s, str(d)): (q, e) for s, d, q, e in query.rows}
    for row in rows:
        quoted, effective = want[(row["symbol"], row["session_date"])]  # summed in any order: equal to rounding
        assert math.isclose(row["quoted_spread"], quoted, rel_tol=1e-9)
        assert math.isclose(row["effective_spread"], effective, rel_tol=1e-9)
        assert 0 < row["quoted_spread"] < 0.01 and 0 < row["effective_spread"] < 0.01


async def test_the_chart_draws_the_nbbo_at_each_bar_end_where_quotes_exist(client, market_storage):
    import base64
    import bisect

    result = await client.call_tool("get_chart", {"symbol": "NVDA", "hours_back": 6})
    assert not result.is_error and base64.b64decode(result.content[0].data).startswith(b"\x89PNG")
    info = result.structured_content
    rows = market_storage.query("chart_series", {"symbol": "NVDA", "bar_seconds": 60, "start_ns": 0,
                                                 "end_ns": 2**62}, info["bars"]).rows
    quotes = market_storage.fetch_all(
        "SELECT ts_ns, bid_price, ask_price FROM quotes WHERE symbol = 'NVDA' AND ts_ns >= $lo ORDER BY ts_ns, "
        "COALESCE(sequence, 9223372036854775807), received_ns", {"lo": rows[-1][0] - 300 * 10**9})
    stamps = [q[0] for q in quotes]
    for end, *_, bid, ask in rows:
        k = bisect.bisect_left(stamps, end) - 1  # the newest quote strictly before the bar's end
        q = quotes[k] if k >= 0 else None
        usable = q is not None and end - q[0] <= 300 * 10**9 and 0 < q[1] < q[2]
        assert (bid, ask) == ((q[1], q[2]) if usable else (None, None))
    assert info["quoted_bars"] == sum(r[6] is not None for r in rows) > 0.9 * info["bars"]


async def test_the_chart_renders_without_quotes(tmp_path):
    import base64

    from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
    from sql.duckdb_backend import DuckDBStorage
    from tests.conftest import small_settings
    from udx.transform import run_transform

    settings = small_settings(tmp_path / "no-quotes.duckdb")
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    end = 1_750_000_000 * 10**9
    trades, _ = SyntheticMarket(3, 5.0, DEFAULT_SYMBOLS[:1]).history(end - 3 * 3600 * 10**9, end)
    storage.append_trades(trades)
    run_transform(storage, settings)
    async with Client(build_server(settings, storage), raise_exceptions=True) as connected:
        result = await connected.call_tool("get_chart", {"symbol": "AAPL", "start": end - 3 * 3600 * 10**9})
    storage.close()
    assert not result.is_error and base64.b64decode(result.content[0].data).startswith(b"\x89PNG")
    assert result.structured_content["bars"] > 100 and result.structured_content["quoted_bars"] == 0

