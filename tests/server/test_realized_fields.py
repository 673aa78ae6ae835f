"""get_symbol_metrics' realized_spread and price_impact through the official MCP client, against the table
bar_realized_spread summed here, and the view liquidity_signals' columns of that table."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import pytest
from mcp import Client

from server.mcp import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(market_settings, market_storage):
    async with Client(build_server(market_settings, market_storage), raise_exceptions=True) as connected:
        yield connected


def _daily_from_the_table(storage) -> dict[tuple[str, str], tuple[float, float]]:
    """Per (symbol, UTC day of the bar's end): the bars' values weighted by their matched volume."""
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for symbol, end_ns, volume, realized, impact in storage.fetch_all(
            "SELECT symbol, bar_end_ns, matched_volume, realized_spread, price_impact FROM bar_realized_spread"):
        if volume > 0:
            day = dt.datetime.fromtimestamp(end_ns // 10**9, dt.UTC).date().isoformat()
            acc = sums[(symbol, day)]
            acc[0] += volume * realized
            acc[1] += volume * impact
            acc[2] += volume
    return {key: (a / w, b / w) for key, (a, b, w) in sums.items()}


async def test_get_symbol_metrics_carries_each_days_realized_spread_and_price_impact(client, market_storage):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    row_schema = tools["get_symbol_metrics"].output_schema["$defs"]["SymbolMetrics"]["properties"]
    assert {"realized_spread", "price_impact"} <= set(row_schema)
    result = await client.call_tool("get_symbol_metrics", {"symbols": ["AAPL", "MSFT"], "limit": 10})
    assert not result.is_error
    rows = result.structured_content["rows"]
    want = _daily_from_the_table(market_storage)
    filled = 0
    for row in rows:
        if (row["symbol"], row["session_date"]) in want:  # a day whose bars are all within H of now has none yet
            realized, impact = want[(row["symbol"], row["session_date"])]
            assert math.isclose(row["realized_spread"], realized, rel_tol=1e-9, abs_tol=1e-15)
            assert math.isclose(row["price_impact"], impact, rel_tol=1e-9, abs_tol=1e-15)
            assert abs(row["realized_spread"]) < 0.05 and abs(row["price_impact"]) < 0.05
            filled += 1
        else:
            assert row["realized_spread"] is None and row["price_impact"] is None
    assert filled >= 2  # 1.5 days of data: at least the previous UTC day of each symbol is complete


def test_liquidity_signals_shows_the_rows_of_bar_realized_spread(market_storage):
    joined = market_storage.fetch_all(
        "SELECT count(*), count(realized_spread), count(price_impact), count(horizon_seconds) FROM liquidity_signals")
    (stored,) = market_storage.fetch_all(
        "SELECT count(*) FROM bar_realized_spread AS r JOIN bar_liquidity AS l USING (symbol, bar_seconds, "
        "bar_end_ns) WHERE r.realized_spread IS NOT NULL")
    n, realized, impact, horizons = joined[0]
    assert 0 < realized == impact == stored[0] <= horizons < n  # the last H of bars have no row yet
