"""``jump_events_page`` answered from the jump events kept in memory equals the SQL, row for row, through writes.

Hypothesis draws the query's arguments (symbols, direction, minimum statistic, windows, cursors from real
rows, limits) and compares :class:`server.tools.jump_memory.JumpMemory` with the SQL on the shared file, and on
a writable copy between random writes: new trades (with large moves, so that some bars jump), transform
passes, and resets of a symbol (its bars recomputed and written again).
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import small_settings
from server.tools.jump_memory import JumpMemory
from sql.contract import TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage
from udx.transform import run_transform

BAR = 60
NS = 1_000_000_000
NOW = time.time_ns()
SYMBOLS = ["AAPL", "MSFT", "TSLA", "NVDA", "SPY", "BTC-USD", "ETH-USD", "AMZN", "GOOGL", "NOSUCH"]

page_args = st.tuples(
    st.one_of(st.none(), st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True)),
    st.sampled_from([None, "up", "down"]),
    st.one_of(st.none(), st.floats(0, 12), st.integers(0, 40)),  # an integer: |statistic| of a stored jump
    st.one_of(st.just(0), st.integers(NOW - 40 * 3600 * NS, NOW)),
    st.one_of(st.just(2**62), st.integers(NOW - 20 * 3600 * NS, NOW + 3600 * NS)),
    st.integers(1, 60),
    st.integers(0, 80),
)


_ALL = {"symbols": None, "direction": None, "min_abs_stat": None, "start_ns": 0, "end_ns": 2**62, "bar_seconds": BAR,
        "after_bar_end_ns": None, "after_symbol": None}


def _compare(storage, memory, args) -> list[str]:
    symbols, direction, min_abs, start, end, limit, cursor_at = args
    if isinstance(min_abs, int):  # exactly the statistic of a stored jump: the bound is inclusive
        rows = storage.query("jump_events_page", {**_ALL, "symbols": symbols}, 50).rows
        stats = [abs(r[6]) for r in rows if r[6] is not None]
        min_abs = stats[min(min_abs, len(stats) - 1)] if stats else None
    params = {"symbols": symbols, "direction": direction, "min_abs_stat": min_abs, "start_ns": start,
              "end_ns": end, "bar_seconds": BAR, "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    if cursor_at:  # resume after a real row, as a next_cursor does
        rows = storage.query("jump_events_page", params, 100).rows
        if rows:
            row = rows[min(cursor_at, len(rows)) - 1]
            params = {**params, "after_bar_end_ns": row[1], "after_symbol": row[0]}
    paths: list[str] = []
    kept = memory.source(paths.append).query("jump_events_page", params, limit)
    assert kept == storage.query("jump_events_page", params, limit)
    return paths


@settings(max_examples=120, deadline=None)
@given(args=page_args)
def test_a_read_only_file_answers_from_memory_what_the_sql_answers(market_storage, args):
    memory = JumpMemory.attach(market_storage, BAR)
    assert _compare(market_storage, memory, args) == ["memory"]


@pytest.fixture(scope="module")
def live(market_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("jumps") / "market.duckdb"
    shutil.copyfile(market_db, path)
    settings_ = small_settings(path)
    storage = DuckDBStorage.open(settings_)
    memory = JumpMemory.attach(storage, BAR)
    assert memory is not None and memory.answer({"bar_seconds": BAR, "symbols": None, "start_ns": 0, "end_ns": 2**62,
                                                 "after_bar_end_ns": None, "after_symbol": None, "direction": None,
                                                 "min_abs_stat": None}, 10) is not None  # fmt: skip
    yield storage, settings_, memory
    storage.close()


def _moves(storage, symbol: str, minutes: int, jump: float) -> pa.Table:
    """A trade every 5 s of ``symbol`` for ``minutes`` after the newest trade, with one move of ``jump``."""
    newest = storage.newest_trade_ns()
    last = storage.query("last_trades", {"bar_seconds": BAR}, 100).rows
    price = next((r[4] for r in last if r[0] == symbol), 100.0)
    n = minutes * 12
    ts = newest + (np.arange(n, dtype=np.int64) + 1) * 5 * NS
    prices = price * np.exp(np.where(np.arange(n) >= n // 2, jump, 0.0))
    return pa.Table.from_pylist([
        {"market": "crypto" if "-" in symbol else "stocks", "symbol": symbol, "ts_ns": int(t), "price": float(p),
         "size": 100.0, "exchange": 1, "trade_id": f"m{int(t)}", "conditions": None, "tape": None, "sequence": None,
         "trf_id": None, "trf_ts_ns": None, "received_ns": int(t), "source": "sim", "correction": None}
        for t, p in zip(ts, prices, strict=True)], schema=TRADES_SCHEMA)  # fmt: skip


def _flipped(storage, symbol: str, n: int) -> pa.Table:
    """``n`` stored bars of ``symbol`` around its newest jump, with ``jump_detected`` flipped."""
    jumps = storage.query("jump_events_page", {**_ALL, "symbols": [symbol]}, 1).rows
    end = jumps[0][1] if jumps else 2**62
    con = storage._cursor()  # the rows as stored, in the contract's column order
    table = con.sql("SELECT * FROM trading_signals WHERE symbol = $s AND bar_seconds = $b AND bar_end_ns <= $e "
                    "ORDER BY bar_end_ns DESC LIMIT $n", params={"s": symbol, "b": BAR, "e": end, "n": n}).to_arrow_table()
    return table.set_column(table.schema.get_field_index("jump_detected"), "jump_detected",
                            pa.compute.invert(table["jump_detected"]))


writes = st.lists(st.tuples(st.sampled_from(["moves", "moves", "reset", "rewrite"]), st.sampled_from(SYMBOLS[:7]),
                            st.integers(2, 6), st.floats(-0.05, 0.05)), min_size=1, max_size=3)  # fmt: skip


@settings(max_examples=25, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=writes, args=page_args)
def test_after_any_writes_memory_still_answers_what_the_sql_answers(live, steps, args):
    storage, settings_, memory = live
    for write, symbol, minutes, jump in steps:  # the file keeps every example's writes
        if write == "moves":
            storage.append_trades(_moves(storage, symbol, minutes, jump))
        elif write == "reset":
            storage.reset_signals([symbol], BAR)
        else:  # bars written again with the jump flag flipped, as a recomputed bar replaces the stored one
            storage.commit_signals(_flipped(storage, symbol, minutes), [])
        run_transform(storage, settings_)
    assert _compare(storage, memory, args) == ["memory"]


def test_too_many_jumps_keep_nothing_and_every_call_runs_the_sql(market_storage):
    memory = JumpMemory(market_storage, BAR, max_rows=1)
    args = (None, None, None, 0, 2**62, 10, 0)
    assert _compare(market_storage, memory, args) == ["sql"]


def test_a_jump_written_again_as_no_jump_leaves_memory_and_its_neighbours_enter_it(live):
    storage, _, memory = live
    flipped = _flipped(storage, "AAPL", 3)  # the newest jump (now none) and the two bars before it (now jumps)
    storage.commit_signals(flipped, [])
    params = {**_ALL, "symbols": ["AAPL"]}
    assert memory.source().query("jump_events_page", params, 5) == storage.query("jump_events_page", params, 5)
