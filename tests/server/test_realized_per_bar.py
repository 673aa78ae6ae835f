"""Each bar's realized spread and price impact in get_trading_signals and get_real_time_data.

Through the official MCP client and the REST routes on the shared file: every row carries its bar's
``bar_realized_spread`` row (``horizon_seconds``, ``realized_spread``, ``price_impact``), NULL for a bar without
one. On a writable copy served over HTTP (the short path, its response cache and the rows kept in memory): a
bar served before its horizon passed shows NULL, and once the transform writes its row (a later write, after
the bar itself) the next call of each tool shows the row's values, as the SQL without memory does.
"""

from __future__ import annotations

import math

import httpx
import numpy as np
import pyarrow as pa
import pytest
from mcp import Client

from conftest import serving_app, writable_copy
from server.app import build_app
from server.mcp import build_server
from server.tools import market
from sql.contract import BAR_REALIZED_SPREAD_SCHEMA, QUOTES_SCHEMA
from tests.server.test_jump_memory import _moves
from udx.transform import run_transform

BAR = 60
NS = 1_000_000_000
REALIZED = ("horizon_seconds", "realized_spread", "price_impact")
MCP = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def _stored(storage) -> dict[tuple[str, int], tuple]:
    rows = storage.fetch_all("SELECT symbol, bar_end_ns, horizon_seconds, realized_spread, price_impact "
                             "FROM bar_realized_spread WHERE bar_seconds = 60")
    return {(r[0], r[1]): r[2:] for r in rows}


def _check(rows: list[dict], stored: dict[tuple[str, int], tuple]) -> tuple[int, int]:
    """Each row's realized columns are its bar's stored row (all NULL without one); (rows with, rows without)."""
    filled = empty = 0
    for row in rows:
        want = stored.get((row["symbol"], row["bar_end_ns"]))
        got = tuple(row[c] for c in REALIZED)
        if want is None:
            assert got == (None, None, None), row
            empty += 1
        else:
            assert got[0] == want[0]
            for g, w in zip(got[1:], want[1:], strict=True):
                assert (g is None and (w is None or math.isnan(w))) or g == w, (row, want)
            filled += 1
    return filled, empty


@pytest.fixture
async def client(market_settings, market_storage):
    async with Client(build_server(market_settings, market_storage), raise_exceptions=True) as connected:
        yield connected


@pytest.mark.anyio
async def test_the_mcp_tools_carry_each_bars_realized_spread_and_price_impact(client, market_storage,
                                                                             market_settings):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("get_trading_signals", "get_real_time_data"):
        fields = set().union(*(set(d.get("properties", {})) for d in tools[name].output_schema["$defs"].values()))
        assert set(REALIZED) <= fields, name
        assert "horizon" in tools[name].description
    stored = _stored(market_storage)
    assert {w[0] for w in stored.values()} == {market_settings.liquidity_horizon_seconds}
    filled = empty = 0
    for arguments in ({"symbol": "BTC-USD"}, {"symbols": ["AAPL", "ETH-USD", "SPY"]}, {}):
        result = await client.call_tool("get_trading_signals", {"limit": 100, **arguments})
        assert not result.is_error, result.content[0].text
        f, e = _check(result.structured_content["rows"], stored)
        filled, empty = filled + f, empty + e
    assert filled > 0 and empty > 0  # the newest bars of the 24-hour crypto symbols are within H of the watermark
    result = await client.call_tool("get_real_time_data", {"limit": 50})
    assert not result.is_error
    rows = result.structured_content["rows"]
    assert len(rows) >= 5
    _check(rows, stored)


def test_the_rest_routes_carry_them_too(market_settings, market_storage):
    stored = _stored(market_storage)
    with serving_app(build_app(market_settings, market_storage)) as url:
        signals = httpx.get(f"{url}/api/v1/trading-signals", params={"limit": 100}, timeout=30)
        latest = httpx.get(f"{url}/api/v1/real-time-data", params={"limit": 50}, timeout=30)
    assert signals.status_code == latest.status_code == 200
    filled, _ = _check(signals.json()["rows"], stored)
    assert filled > 0
    _check(latest.json()["rows"], stored)


def _quotes(symbol: str, start_ns: int, minutes: int, price: float) -> pa.Table:
    """A two-sided quote of ``symbol`` every 5 s for ``minutes`` from ``start_ns`` with its ask at ``price`` (the
    trades of :func:`_moves` at ``price`` are buys)."""
    ts = start_ns + np.arange(minutes * 12, dtype=np.int64) * 5 * NS
    return pa.Table.from_pylist([
        {"market": "crypto", "symbol": symbol, "ts_ns": int(t), "bid_price": price - 0.02, "bid_size": 5.0,
         "ask_price": price, "ask_size": 5.0, "bid_exchange": 1, "ask_exchange": 1, "conditions": None,
         "sequence": None, "tape": None, "received_ns": int(t), "source": "sim"} for t in ts], schema=QUOTES_SCHEMA)


def _call(url: str, tool: str, arguments: dict) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    response = httpx.post(f"{url}/mcp", json=body, headers=MCP, timeout=30)
    assert response.status_code == 200
    return response.json()["result"]["structuredContent"]


def _realized_row(symbol: str, bar_end_ns: int, horizon: int) -> pa.Table:
    """A ``bar_realized_spread`` row of one bar, as the transform's step writes it."""
    return pa.Table.from_pylist([{
        "symbol": symbol, "bar_end_ns": bar_end_ns, "bar_seconds": BAR, "horizon_seconds": horizon, "n_trades": 3,
        "matched_volume": 300.0, "realized_spread": 0.00125, "price_impact": -0.0005, "tick_price": 1.0,
        "tick_sign": 1, "computed_at_ns": 1}], schema=BAR_REALIZED_SPREAD_SCHEMA)  # fmt: skip


def test_a_realized_row_written_after_its_bar_was_served_appears_in_the_next_answers(market_db, tmp_path):
    storage, settings = writable_copy(market_db, tmp_path)
    try:
        horizon = settings.liquidity_horizon_seconds
        symbol, other = "BTC-USD", "ETH-USD"
        start = storage.newest_trade_ns() + NS
        price = next(r[4] for r in storage.query("last_trades", {"bar_seconds": BAR}, 100).rows if r[0] == symbol)
        span = 3 + 2 * horizon // 60  # minutes of quotes: through the bars' horizon and past the other's trades
        storage.append_quotes(_quotes(symbol, start, span, price))
        storage.append_trades(_moves(storage, symbol, 3, 0.0))  # three minutes of new bars of the symbol
        run_transform(storage, settings)
        # the response cache reads the data version again after 1 ms: each write below (a transform pass, an
        # insert) takes longer, so every call after one sees the new version; a call before it is a cache hit
        served = settings.model_copy(update={"mcp_response_cache_ms": 1})
        with serving_app(build_app(served, storage)) as url:
            first = _call(url, "get_trading_signals", {"symbol": symbol, "limit": 1})["rows"][0]
            args = {"symbol": symbol, "limit": 4, "end": first["bar_end_ns"] + 1}  # a fixed window: cacheable
            before = [_call(url, "get_trading_signals", args) for _ in range(2)]  # the second from the cache
            assert before[0] == before[1] and before[1]["rows"][0] == first
            assert first["bar_end_ns"] > start and first["realized_spread"] is None  # within H: none yet
            # only the other symbol trades on, past the horizon of the symbol's new bars: their rows are written
            storage.append_trades(_moves(storage, other, horizon // 60 + 3, 0.0))
            run_transform(storage, settings)
            stored = _stored(storage)
            assert (symbol, first["bar_end_ns"]) in stored
            after = _call(url, "get_trading_signals", args)
            # the newest page without a window comes from the bars kept in memory: the transform's commit wrote
            # the realized rows with its bars (commit_signals), and memory was told of them
            page = {"symbol": symbol, "limit": 20}
            memory_page = _call(url, "get_trading_signals", page)["rows"]
            sql_page = market.trading_signals(storage, bar_seconds=BAR, **page).model_dump(mode="json")["rows"]
            stored_then = _stored(storage)
            rest = httpx.get(f"{url}/api/v1/trading-signals", params=args, timeout=30).json()
            sql_rows = market.trading_signals(storage, bar_seconds=BAR, **args).model_dump(mode="json")["rows"]
            # the newest bar now (within H, no row), then a row written for it while it is the newest
            newest = _call(url, "get_real_time_data", {"symbol": symbol})["rows"][0]
            assert newest["horizon_seconds"] is None
            version = storage.query("data_version", {}, 1).rows
            assert storage.write_realized_spread(_realized_row(symbol, newest["bar_end_ns"], horizon)) == 1
            assert storage.query("data_version", {}, 1).rows != version  # the response cache drops its answers
            latest = _call(url, "get_real_time_data", {"symbol": symbol})["rows"]
            newest_page = _call(url, "get_trading_signals", {"symbol": symbol, "limit": 2,
                                                             "end": newest["bar_end_ns"] + 1})["rows"]  # fmt: skip
            stored = _stored(storage)
            # another horizon deletes the rows of this one (they are written again): the tools show none meanwhile
            storage.realized_spread_due(BAR, horizon + 60, 0)
            assert _stored(storage) == {}
            gone = [_call(url, "get_trading_signals", args)["rows"],
                    _call(url, "get_real_time_data", {"symbol": symbol})["rows"]]
        assert all(_check(rows, {}) == (0, len(rows)) for rows in gone)
        assert after["rows"][0]["bar_end_ns"] == first["bar_end_ns"]
        assert _check(after["rows"], stored)[0] >= 2 and after["rows"][0]["realized_spread"] > 0  # buys at the ask
        assert _check(rest["rows"], stored)[0] >= 2
        assert after["rows"] == rest["rows"] == sql_rows  # memory, cache and SQL agree
        assert memory_page == sql_page
        assert first["bar_end_ns"] in {r["bar_end_ns"] for r in memory_page}
        assert _check(memory_page, stored_then)[0] >= 3  # the symbol's three new bars at least
        assert _check(latest, stored) == (1, 0) and latest[0]["realized_spread"] == 0.00125
        assert _check(newest_page, stored)[0] >= 1 and newest_page[0]["price_impact"] == -0.0005
    finally:
        storage.close()


def test_realized_rows_committed_with_signals_reach_the_kept_bars(market_db, tmp_path):
    """The transform writes a chunk's realized rows in its ``commit_signals`` transaction; a symbol without new
    bars in that chunk (a stock after its close) is told only through ``realized_written``."""
    from sql.contract import SIGNALS_SCHEMA

    storage, settings = writable_copy(market_db, tmp_path)
    try:
        symbol = "BTC-USD"
        uncached = settings.model_copy(update={"mcp_response_cache_ms": 0})  # the rows kept in memory answer
        with serving_app(build_app(uncached, storage)) as url:
            served = _call(url, "get_trading_signals", {"symbol": symbol, "limit": 20})["rows"]
            bare = next(r for r in served if r["realized_spread"] is None)
            row = _realized_row(symbol, bare["bar_end_ns"], settings.liquidity_horizon_seconds)
            storage.commit_signals(SIGNALS_SCHEMA.empty_table(), [], realized=row)
            assert (symbol, bare["bar_end_ns"]) in _stored(storage)
            after = _call(url, "get_trading_signals", {"symbol": symbol, "limit": 20})["rows"]
            sql_rows = market.trading_signals(storage, bar_seconds=BAR, symbol=symbol, limit=20)
        got = next(r for r in after if r["bar_end_ns"] == bare["bar_end_ns"])
        assert (got["realized_spread"], got["price_impact"]) == (0.00125, -0.0005)
        assert after == sql_rows.model_dump(mode="json")["rows"]
    finally:
        storage.close()
