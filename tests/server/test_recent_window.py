"""Newest-first pages read through a recent window give exactly the rows of the plain query.

Hypothesis draws the arguments of ``get_trading_signals`` (one, several or all symbols, signal type, windows,
cursors taken from real rows, limits) and compares :class:`server.tools.recent_window.RecentWindow` with the
plain named query row for row, on the shared market file (bars written symbol by symbol), on a file whose
bars were written interleaved by a transform run after every few minutes of trades (as a live process writes
them), and on a copy whose ``signal_state`` hints point hours too early (the hint must never change a page).
"""

from __future__ import annotations

import shutil
import time

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import small_settings
from ingest.synthetic_market import SyntheticMarket
from server.tools.latest import LatestRows
from server.tools.recent_window import RecentWindow
from sql.duckdb_backend import DuckDBStorage
from udx.transform import run_transform

BAR = 60
NS = 1_000_000_000
NOW = time.time_ns()  # the files end near now; one instant, so that the strategy draws the same each time
SYMBOLS = ["AAPL", "MSFT", "TSLA", "NVDA", "SPY", "BTC-USD", "ETH-USD", "NOSUCH"]


def _open(path):
    return DuckDBStorage.open(small_settings(path, duckdb_threads=1), read_only=True)


@pytest.fixture(scope="module")
def stores(market_db, tmp_path_factory):
    """A copy of the shared file, a copy with hints 3 hours early, and a file with interleaved bars (copies: the
    shared file is open in this process already, with another DuckDB configuration)."""
    shared = tmp_path_factory.mktemp("shared") / "market.duckdb"
    shutil.copyfile(market_db, shared)
    wrong = tmp_path_factory.mktemp("hint") / "market.duckdb"
    shutil.copyfile(market_db, wrong)
    con = duckdb.connect(str(wrong))
    con.execute("UPDATE signal_state SET last_bar_end_ns = last_bar_end_ns - 10800000000000")
    con.close()
    live = tmp_path_factory.mktemp("live") / "market.duckdb"
    writer = DuckDBStorage.open(small_settings(live))
    writer.apply_schema()
    end = time.time_ns()
    trades, _ = SyntheticMarket(seed=5, rate=3.0).history(end - 8 * 3600 * NS, end)
    ts = trades.column("ts_ns").to_numpy()
    step = 7 * 60 * NS  # a transform pass after every 7 minutes of trades: bars interleave across symbols
    for lo in range(int(ts[0]), int(ts[-1]) + 1, step):
        writer.append_trades(trades.filter((ts >= lo) & (ts < lo + step)))
        run_transform(writer, small_settings(live))
    writer.close()
    opened = {name: _open(path) for name, path in (("shared", shared), ("wrong hint", wrong), ("live", live))}
    yield opened
    for storage in opened.values():
        storage.close()


@st.composite
def calls(draw):
    """Arguments of one page: query, params, limit."""
    chosen = draw(st.one_of(st.none(), st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True)))
    one = chosen is not None and len(chosen) == 1
    query, key = ("trading_signals_symbol_page", {"symbol": chosen[0]}) if one else ("trading_signals_page", {"symbols": chosen})
    start = draw(st.one_of(st.just(0), st.integers(NOW - 40 * 3600 * NS, NOW)))
    end = draw(st.one_of(st.just(2**62), st.integers(start, NOW + 3600 * NS)))
    params = {**key, "signal_type": draw(st.sampled_from([None, "HOLD", "BUY", "SELL"])), "bar_seconds": BAR,
              "start_ns": start, "end_ns": end, "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    return query, params, draw(st.integers(1, 120)), draw(st.integers(0, 300))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=calls(), store=st.sampled_from(["shared", "wrong hint", "live"]), kept=st.booleans())
def test_a_narrowed_page_equals_the_plain_query_row_for_row(stores, call, store, kept):
    query, params, limit, cursor_at = call
    storage = stores[store]
    if cursor_at:  # resume after a real row of the plain answer, as a next_cursor does
        rows = storage.query(query, params, 300).rows
        if rows:
            row = rows[min(cursor_at, len(rows)) - 1]
            params = {**params, "after_bar_end_ns": row[1], "after_symbol": row[0]}
    paths: list[str] = []
    hint = LatestRows.attach(storage, BAR).newest_bar_end if kept else None  # the hint from memory, or the query
    narrowed = RecentWindow(storage, symbols=params.get("symbols") or ([params["symbol"]] if "symbol" in params else None),
                            bar_seconds=BAR, on_path=paths.append, hint=hint).query(query, params, limit)
    plain = storage.query(query, params, limit)
    assert narrowed == plain
    assert len(paths) == 1 and paths[0] in ("narrowed", "sql")


def test_the_newest_page_of_one_symbol_is_answered_by_a_narrowed_window(stores):
    for storage in stores.values():
        paths: list[str] = []
        params = {"symbol": "AAPL", "signal_type": None, "bar_seconds": BAR, "start_ns": 0, "end_ns": 2**62,
                  "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
        result = RecentWindow(storage, symbols=["AAPL"], bar_seconds=BAR, on_path=paths.append).query(
            "trading_signals_symbol_page", params, 50)
        assert result.truncated and len(result.rows) == 50
        assert paths == ["narrowed"]


def test_a_symbol_without_bars_falls_back_to_the_plain_query_and_says_so(stores):
    paths: list[str] = []
    params = {"symbol": "NOSUCH", "signal_type": None, "bar_seconds": BAR, "start_ns": 0, "end_ns": 2**62,
              "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    result = RecentWindow(stores["shared"], symbols=["NOSUCH"], bar_seconds=BAR, on_path=paths.append).query(
        "trading_signals_symbol_page", params, 10)
    assert result.rows == [] and paths == ["sql"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.one_of(st.none(), st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True)))
def test_the_newest_bar_end_kept_in_memory_is_the_one_the_query_reads(stores, chosen):
    storage = stores["live"]
    kept = LatestRows.attach(storage, BAR)
    assert kept is not None
    rows = storage.query("newest_bar_end", {"symbols": chosen, "bar_seconds": BAR}, 1).rows
    assert kept.newest_bar_end(chosen) == tuple(rows[0])
