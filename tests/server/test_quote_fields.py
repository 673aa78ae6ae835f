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
