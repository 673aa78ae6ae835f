"""The signal and bar-liquidity upserts of ``DuckDBStorage`` (``upsert_signals``, ``upsert_bar_liquidity``): a bar
written again replaces its row in both tables, at either edge of the new batch's range and inside it, and across
the parts of one transaction; rows of other symbols, grids or times are left alone. Counted by key against the rows
written. (Written for a range check that let a batch with no stored key skip the DELETE; the check saved nothing
on the bench file and was dropped: BENCHMARKS.md, transform end to end, helper qspeed.)"""

from __future__ import annotations

import pyarrow as pa
import pytest

from sql.backend import SignalStateRow
from sql.contract import BAR_LIQUIDITY_SCHEMA, SIGNALS_SCHEMA
from tests.sql import test_duckdb_storage

pytestmark = pytest.mark.duckdb

storage = test_duckdb_storage.storage


def _signals(symbol: str, ends: list[int], reason: str, seconds: int = 60) -> pa.Table:
    n = len(ends)
    columns = {name: [None] * n for name in SIGNALS_SCHEMA.names}
    columns.update(symbol=[symbol] * n, bar_end_ns=ends, bar_seconds=[seconds] * n, n_trades=[1] * n,
                   volume=[1.0] * n, close=[1.0] * n, jump_detected=[False] * n, trading_signal=["HOLD"] * n,
                   signal_reason=[reason] * n, computed_at_ns=[0] * n)
    return pa.table(columns, schema=SIGNALS_SCHEMA)


def _liquidity(symbol: str, ends: list[int], spread: float, seconds: int = 60) -> pa.Table:
    n = len(ends)
    columns = {name: [None] * n for name in BAR_LIQUIDITY_SCHEMA.names}
    columns.update(symbol=[symbol] * n, bar_end_ns=ends, bar_seconds=[seconds] * n, n_quotes=[1] * n, buy_volume=[1.0] * n, sell_volume=[1.0] * n, signed_volume=[0.0] * n,
                   quoted_spread=[spread] * n, computed_at_ns=[0] * n)
    return pa.table(columns, schema=BAR_LIQUIDITY_SCHEMA)


def _commit(storage, symbol: str, ends: list[int], tag: float, seconds: int = 60) -> None:
    storage.commit_signals(_signals(symbol, ends, f"r{tag}", seconds), [SignalStateRow(symbol, seconds, max(ends), "{}")],
                           liquidity=_liquidity(symbol, ends, tag, seconds))


def _rows(storage) -> tuple[list[tuple], list[tuple]]:
    signals = storage.fetch_all("SELECT symbol, bar_seconds, bar_end_ns, signal_reason FROM trading_signals")
    liquidity = storage.fetch_all("SELECT symbol, bar_seconds, bar_end_ns, quoted_spread FROM bar_liquidity")
    return sorted(signals), sorted(liquidity)


@pytest.mark.parametrize("again", [[60], [180], [120, 240], [0, 60], [180, 300]])
def test_a_bar_written_again_replaces_its_row_in_both_tables(storage, again: list[int]) -> None:
    """``again`` holds a stored bar at the first, the last or both ends of its range, or inside it."""
    _commit(storage, "AAPL", [60, 120, 180], 1.0)
    _commit(storage, "AAPL", again, 2.0)
    want = {end: 1.0 for end in (60, 120, 180)} | {end: 2.0 for end in again}
    signals, liquidity = _rows(storage)
    assert signals == [("AAPL", 60, end, f"r{tag}") for end, tag in sorted(want.items())]
    assert liquidity == [("AAPL", 60, end, tag) for end, tag in sorted(want.items())]


def test_other_symbols_grids_and_times_are_kept_when_new_bars_come(storage) -> None:
    _commit(storage, "AAPL", [60, 120], 1.0)
    _commit(storage, "AAPL", [60, 120], 1.0, seconds=300)
    _commit(storage, "MSFT", [60, 120, 180], 2.0)  # the range of AAPL's bars: another symbol
    _commit(storage, "AAPL", [180, 240], 3.0)  # after AAPL's stored bars on its grid
    signals, liquidity = _rows(storage)
    want = ([("AAPL", 60, e, 1.0) for e in (60, 120)] + [("AAPL", 60, e, 3.0) for e in (180, 240)]
            + [("AAPL", 300, e, 1.0) for e in (60, 120)] + [("MSFT", 60, e, 2.0) for e in (60, 120, 180)])
    assert liquidity == sorted(want)
    assert signals == sorted((s, g, e, f"r{t}") for s, g, e, t in want)


def test_parts_of_one_transaction_replace_each_others_bars(storage) -> None:
    txn = storage.begin_signals()
    txn.add(_signals("AAPL", [60, 120], "r1.0"), liquidity=_liquidity("AAPL", [60, 120], 1.0))
    txn.add(_signals("MSFT", [60], "r1.0"), liquidity=_liquidity("MSFT", [60], 1.0))
    txn.add(_signals("AAPL", [120, 180], "r2.0"), liquidity=_liquidity("AAPL", [120, 180], 2.0))
    txn.commit([SignalStateRow("AAPL", 60, 180, "{}"), SignalStateRow("MSFT", 60, 60, "{}")])
    signals, liquidity = _rows(storage)
    want = [("AAPL", 60, 60, 1.0), ("AAPL", 60, 120, 2.0), ("AAPL", 60, 180, 2.0), ("MSFT", 60, 60, 1.0)]
    assert liquidity == want
    assert signals == [(s, g, e, f"r{t}") for s, g, e, t in want]
