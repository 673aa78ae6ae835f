"""``udx._commit_batch`` against a recording storage (no DuckDB, no transform): which rows each part written ahead
carries, when a chunk's transaction is opened, committed or rolled back, and where a failed write surfaces.

The DuckDB side of the same plumbing (every table equal to a run committing each chunk whole, a failed run leaving
the file as it was) is ``test_transform_write_ahead.py``; this file judges a mutant in milliseconds.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import udx._commit_batch as commit_batch
from sql.contract import BAR_LIQUIDITY_SCHEMA, SIGNALS_SCHEMA
from udx._commit_batch import BackgroundCommits, Batch
from udx.pipeline import FitRecord, ProfileRecord

AHEAD = 10  #: WRITE_AHEAD_ROWS in these tests


class _Txn:
    def __init__(self, log: list[Any], fail_add: int | None) -> None:
        self.log, self.fail_add, self.adds = log, fail_add, 0

    def add(self, signals: pa.Table, model_params: pa.Table | None = None, profiles: pa.Table | None = None,
            liquidity: pa.Table | None = None, realized: pa.Table | None = None) -> None:
        """``SignalsTransaction.add``'s signature: a table under another name is a TypeError."""
        self.adds += 1
        if self.adds == self.fail_add:
            raise RuntimeError("add failed")
        more = {"model_params": model_params, "profiles": profiles, "liquidity": liquidity, "realized": realized}
        self.log.append(("add", signals.column("symbol").to_pylist(),
                         {k: v.num_rows for k, v in more.items() if v is not None}))

    def commit(self, states: list[Any]) -> int:
        self.log.append(("commit", [s.symbol for s in states]))
        return 41

    def rollback(self) -> None:
        self.log.append(("rollback",))


class _Storage:
    """Records begin_signals / the transaction's calls / commit_signals in one log."""

    def __init__(self, fail_add: int | None = None) -> None:
        self.log: list[Any] = []
        self.fail_add = fail_add

    def begin_signals(self) -> _Txn:
        self.log.append(("begin",))
        return _Txn(self.log, self.fail_add)

    def commit_signals(self, signals: pa.Table, states: list[Any], **more: pa.Table) -> int:
        self.log.append(("commit_signals", signals.column("symbol").to_pylist(), [s.symbol for s in states],
                         {k: v.num_rows for k, v in more.items()}))
        return 7


class _Whole:
    """A storage that commits a chunk only whole (no begin_signals)."""

    def __init__(self) -> None:
        self.log: list[Any] = []

    def commit_signals(self, signals: pa.Table, states: list[Any], **more: pa.Table) -> int:
        self.log.append(("commit_signals", signals.column("symbol").to_pylist(), [s.symbol for s in states]))
        return 7


def _result(rows: int) -> Any:
    columns = {f.name: pa.nulls(rows, f.type) for f in SIGNALS_SCHEMA}
    columns["bar_end_ns"] = np.arange(rows, dtype=np.int64)
    state = SimpleNamespace(last_bar_end_ns=rows, to_json=lambda: "{}")
    return SimpleNamespace(columns=columns, fits=[], profiles=[], state=state)


def _add(batch: Batch, symbol: str, rows: int) -> None:
    batch.add(symbol, _result(rows), cfg=None)  # type: ignore[arg-type]


def _add_all(batch: Batch, symbol: str, rows: int) -> None:
    """A symbol with two fits, a profile of three buckets and bar liquidity."""
    result = _result(rows)
    result.fits = [FitRecord("garch", 0, 1, 10, 0.1, 0.1, 0.8, -1.0, True, 1.0)] * 2
    result.profiles = [ProfileRecord(0, 600, np.ones(3), np.ones(3, np.int64), 2, 3, False)]
    liquidity = {f.name: np.zeros(rows) for f in BAR_LIQUIDITY_SCHEMA
                 if f.name not in ("symbol", "bar_end_ns", "bar_seconds", "computed_at_ns")}
    liquidity["n_quotes"] = np.zeros(rows, np.int64)
    batch.add(symbol, result, cfg=SimpleNamespace(fingerprint=lambda: {}), liquidity=liquidity)  # type: ignore[arg-type]


def _realized(rows: int) -> pa.Table:
    return pa.table({"x": np.zeros(rows)})


@pytest.fixture(autouse=True)
def _small(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setattr(commit_batch, "WRITE_AHEAD_ROWS", AHEAD)
    kept: list[Any] = []
    monkeypatch.setattr(commit_batch, "remember",
                        lambda storage, seconds, stamp, states: kept.append((seconds, stamp, [s for s, _ in states]))
                        if storage is not None else kept.append("no storage"))
    return kept


def _wait_done(commits: BackgroundCommits) -> None:
    deadline = time.monotonic() + 30
    while commits._pending is not None and not commits._pending.done() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_batch_take_hands_out_each_row_once_and_keeps_the_states(_small: list[Any]) -> None:
    batch = Batch(60, 5)
    assert batch.take() is None and not batch.taken and batch.untaken_rows == 0
    _add(batch, "A", 3)
    _add(batch, "B", 4)
    assert batch.untaken_rows == 7
    part = batch.take()
    assert part is not None and set(part) == {"signals"} and batch.taken
    assert part["signals"].column("symbol").to_pylist() == ["A"] * 3 + ["B"] * 4
    assert batch.untaken_rows == 0 and batch.take() is None and batch.taken
    _add(batch, "C", 2)
    batch.add_realized(_realized(5))
    assert batch.untaken_rows == 2
    part = batch.take()
    assert part is not None and part["signals"].column("symbol").to_pylist() == ["C", "C"]
    assert part["realized"].num_rows == 5 and set(part) == {"signals", "realized"}
    batch.add_realized(_realized(1))  # realized rows alone: an empty signals table beside them
    part = batch.take()
    assert part is not None and part["signals"].num_rows == 0 and part["signals"].schema == SIGNALS_SCHEMA
    assert part["realized"].num_rows == 1
    assert batch.take() is None  # the realized rows were handed out once
    txn = _Storage().begin_signals()
    batch.commit_in(txn, "storage")  # type: ignore[arg-type]
    assert txn.log == [("begin",), ("commit", ["A", "B", "C"])]  # nothing left to add: the states only
    assert _small == [(60, 41, ["A", "B", "C"])]


def test_commit_in_adds_the_rows_not_taken_then_commits() -> None:
    batch = Batch(60, 5)
    _add(batch, "A", 3)
    batch.take()
    _add(batch, "B", 2)
    txn = _Storage().begin_signals()
    batch.commit_in(txn, "storage")  # type: ignore[arg-type]
    assert txn.log == [("begin",), ("add", ["B", "B"], {}), ("commit", ["A", "B"])]


def test_parts_are_written_ahead_once_they_fill_a_row_group_and_committed_with_the_rest(
        _small: list[Any]) -> None:
    storage = _Storage()
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    batch = Batch(60, 5)
    _add(batch, "A", AHEAD - 1)
    commits.write_ahead(batch)  # one row short: nothing yet
    _add(batch, "B", 1)
    commits.write_ahead(batch)  # exactly a row group: written ahead
    _add(batch, "C", AHEAD)
    commits.write_ahead(batch)
    _add(batch, "D", 2)
    commits.write_ahead(batch)
    commits.submit(batch)
    batch2 = Batch(60, 6)
    _add(batch2, "E", AHEAD)
    commits.write_ahead(batch2)
    commits.submit(batch2)
    commits.close()
    assert storage.log == [("begin",), ("add", ["A"] * (AHEAD - 1) + ["B"], {}), ("add", ["C"] * AHEAD, {}),
                           ("add", ["D", "D"], {}), ("commit", ["A", "B", "C", "D"]),
                           ("begin",), ("add", ["E"] * AHEAD, {}), ("commit", ["E"])]
    assert _small == [(60, 41, ["A", "B", "C", "D"]), (60, 41, ["E"])]


def test_a_batch_not_written_ahead_is_one_commit_signals(_small: list[Any]) -> None:
    storage = _Storage()
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    batch = Batch(60, 5)
    _add(batch, "A", 2)
    commits.write_ahead(batch)
    commits.submit(batch)
    commits.close()
    assert storage.log == [("commit_signals", ["A", "A"], ["A"], {})]
    assert _small == [(60, 7, ["A"])]


def test_a_storage_without_begin_signals_commits_whole() -> None:
    storage = _Whole()
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    batch = Batch(60, 5)
    _add(batch, "A", AHEAD * 3)
    commits.write_ahead(batch)
    commits.submit(batch)
    commits.close()
    assert storage.log == [("commit_signals", ["A"] * AHEAD * 3, ["A"])]
    assert not batch.taken


def test_a_failed_part_rolls_back_skips_what_follows_and_surfaces_at_submit() -> None:
    storage = _Storage(fail_add=1)
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    batch = Batch(60, 5)
    _add(batch, "A", AHEAD)
    commits.write_ahead(batch)  # fails on the worker
    _add(batch, "B", AHEAD)
    _wait_done(commits)
    with pytest.raises(RuntimeError, match="add failed"):
        commits.write_ahead(batch)  # the failure surfaces before anything more is queued
    assert batch.untaken_rows == AHEAD  # B was not taken
    commits.close()
    assert storage.log == [("begin",), ("rollback",)]


def test_a_step_after_a_failed_one_does_nothing_and_the_error_surfaces_once() -> None:
    storage = _Storage(fail_add=1)
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    gate = __import__("threading").Event()
    commits._pool.submit(gate.wait)  # hold the worker so that both steps are queued before the first runs
    batch = Batch(60, 5)
    _add(batch, "A", AHEAD)
    commits.write_ahead(batch)
    _add(batch, "B", AHEAD)
    commits.write_ahead(batch)
    gate.set()
    with pytest.raises(RuntimeError, match="add failed"):
        commits.submit(batch)
    commits.close()  # surfaced once: close does not raise it again
    assert storage.log == [("begin",), ("rollback",)]


def test_close_rolls_back_a_transaction_left_open_and_is_idempotent() -> None:
    storage = _Storage()
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    batch = Batch(60, 5)
    _add(batch, "A", AHEAD)
    commits.write_ahead(batch)
    commits.close()
    commits.close()
    assert storage.log == [("begin",), ("add", ["A"] * AHEAD, {}), ("rollback",)]


def test_close_reraises_a_failed_commit_and_still_stops() -> None:
    storage = _Storage()
    storage.commit_signals = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("commit failed"))  # type: ignore
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    batch = Batch(60, 5)
    _add(batch, "A", 1)
    commits.submit(batch)
    with pytest.raises(RuntimeError, match="commit failed"):
        commits.close()
    assert commits._pool._shutdown


def test_fits_profiles_and_liquidity_go_with_their_part_under_their_names(_small: list[Any]) -> None:
    storage = _Storage()
    commits = BackgroundCommits(storage)  # type: ignore[arg-type]
    batch = Batch(60, 5)
    _add_all(batch, "A", AHEAD)
    commits.write_ahead(batch)
    _add_all(batch, "B", 2)
    commits.submit(batch)
    commits.close()
    assert storage.log == [("begin",), ("add", ["A"] * AHEAD, {"model_params": 2, "profiles": 3, "liquidity": AHEAD}),
                           ("add", ["B", "B"], {"model_params": 2, "profiles": 3, "liquidity": 2}),
                           ("commit", ["A", "B"])]
    assert _small == [(60, 41, ["A", "B"])]  # kept for this storage


@pytest.mark.parametrize("symbol, m", [("AAPL", 3), ("BRK.B", 1), ("ÄÖ€", 4), ("X", 0)])
def test_the_symbol_columns_of_both_tables_hold_the_symbol_on_every_row(symbol: str, m: int) -> None:
    """The symbol column is built from its buffers: each row reads back as the symbol (multi-byte text too)."""
    ends = np.arange(m, dtype=np.int64)
    result = SimpleNamespace(columns={f.name: (np.zeros(m, np.bool_) if f.type == pa.bool_() else
                                               pa.array(["hold"] * m) if f.type == pa.string() else
                                               ends if f.type == pa.int64() else np.full(m, 0.5))
                                      for f in SIGNALS_SCHEMA if f.name not in ("symbol", "bar_seconds",
                                                                                "computed_at_ns")})
    signals = commit_batch._signals_table(symbol, 60, result, 7)
    measures = {f.name: np.full(m, 1.5) for f in BAR_LIQUIDITY_SCHEMA
                if f.name not in ("symbol", "bar_end_ns", "bar_seconds", "computed_at_ns")}
    measures["n_quotes"] = ends
    liquidity = commit_batch._liquidity_table(symbol, 60, ends, measures, 7)
    for table in (signals, liquidity):
        table.validate(full=True)
        assert table.column("symbol").to_pylist() == [symbol] * m
        assert table.column("bar_end_ns").to_pylist() == list(range(m))
    assert liquidity.column("quoted_spread").to_pylist() == [1.5] * m


def test_a_symbol_column_past_32_bit_offsets_is_left_to_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the offsets' limit (lowered here to 8 bytes) the column is built the plain way, with the same rows."""
    monkeypatch.setattr(commit_batch, "_OFFSETS_LIMIT", 8)
    for n in (2, 3):  # 8 bytes: from the buffers; 12: past the limit
        column = commit_batch._repeated("ABCD", n)
        column.validate(full=True)
        assert column.type == pa.string() and column.to_pylist() == ["ABCD"] * n


def test_nan_measures_and_statistics_are_null_in_both_tables() -> None:
    ends = np.arange(3, dtype=np.int64)
    result = SimpleNamespace(columns={f.name: (np.zeros(3, np.bool_) if f.type == pa.bool_() else
                                               pa.array(["hold"] * 3) if f.type == pa.string() else
                                               ends if f.type == pa.int64() else np.array([0.5, np.nan, 1.0]))
                                      for f in SIGNALS_SCHEMA if f.name not in ("symbol", "bar_seconds",
                                                                                "computed_at_ns")})
    signals = commit_batch._signals_table("A", 60, result, 7)
    measures = {f.name: np.array([np.nan, 2.0, np.nan]) for f in BAR_LIQUIDITY_SCHEMA
                if f.name not in ("symbol", "bar_end_ns", "bar_seconds", "computed_at_ns")}
    measures["n_quotes"] = ends
    liquidity = commit_batch._liquidity_table("A", 60, ends, measures, 7)
    assert signals.column("vwap").to_pylist() == [0.5, None, 1.0]
    assert liquidity.column("quoted_spread").to_pylist() == [None, 2.0, None]
    assert liquidity.schema == BAR_LIQUIDITY_SCHEMA and signals.schema == SIGNALS_SCHEMA
    assert liquidity.column("bar_seconds").to_pylist() == [60] * 3
    assert liquidity.column("computed_at_ns").to_pylist() == [7] * 3
