"""The bar liquidity measures through the official MCP client: get_trading_signals (one symbol, several) and
get_real_time_data carry each bar's bar_liquidity row, equal to the table, and the view liquidity_signals."""

from __future__ import annotations

import math

import duckdb
import pytest
from mcp import Client

from server.mcp import build_server
from sql.contract import LIQUIDITY_COLUMNS

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(market_settings, market_storage):
    async with Client(build_server(market_settings, market_storage), raise_exceptions=True) as connected:
        yield connected


@pytest.fixture(scope="module")
def stored(market_db, market_settings):
    from sql.duckdb_backend import instance_config

    with duckdb.connect(str(market_db), read_only=True, config=instance_config(market_settings)) as con:
        rows = con.execute(f"SELECT symbol, bar_end_ns, {', '.join(LIQUIDITY_COLUMNS)} FROM bar_liquidity "
                           "WHERE bar_seconds = 60").fetchall()
        view = con.execute("SELECT count(*), count(quoted_spread) FROM liquidity_signals").fetchone()
    return {(r[0], r[1]): dict(zip(LIQUIDITY_COLUMNS, r[2:], strict=True)) for r in rows}, view


async def call(client, tool, **arguments):
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


def _same(row, want):
    for name in LIQUIDITY_COLUMNS:
        got, expected = row[name], want[name]
        if isinstance(expected, float) and math.isnan(expected):
            expected = None
        assert got == expected, (name, got, expected)


async def test_trading_signals_rows_carry_their_bar_liquidity(client, stored):
    table, _ = stored
    for arguments in ({"symbol": "AAPL"}, {"symbols": ["AAPL", "BTC-USD", "SPY"]}, {}):
        page = await call(client, "get_trading_signals", limit=40, **arguments)
        assert page["count"] == 40
        for row in page["rows"]:
            _same(row, table[(row["symbol"], row["bar_end_ns"])])
    aapl = (await call(client, "get_trading_signals", symbol="AAPL", limit=60))["rows"]
    assert sum(r["quoted_spread"] is not None and r["quoted_spread"] > 0 for r in aapl) > 30
    assert sum(r["effective_spread"] is not None for r in aapl) > 30
    assert sum(r["order_imbalance"] is not None and -1 <= r["order_imbalance"] <= 1 for r in aapl) > 30
    assert all(r["n_quotes"] >= 0 for r in aapl)


async def test_real_time_rows_carry_the_newest_bars_liquidity(client, stored):
    table, _ = stored
    page = await call(client, "get_real_time_data", limit=20)
    assert page["count"] >= 5
    for row in page["rows"]:
        _same(row, table[(row["symbol"], row["bar_end_ns"])])
    assert any(r["quoted_spread"] is not None for r in page["rows"])


async def test_the_output_schemas_name_the_liquidity_fields(client):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("get_trading_signals", "get_real_time_data"):
        row = tools[name].output_schema["$defs"]
        fields = set().union(*(set(d.get("properties", {})) for d in row.values()))
        assert set(LIQUIDITY_COLUMNS) <= fields, name


def test_the_view_joins_every_bar_liquidity_row(stored):
    table, (n, quoted) = stored
    assert n == len(table) and 0 < quoted <= n
