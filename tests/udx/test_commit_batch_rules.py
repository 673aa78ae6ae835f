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
from sql.contract import BAR_LIQUIDITY_SCHEMA, INTRADAY_PROFILE_SCHEMA, MODEL_PARAMS_SCHEMA, SIGNALS_SCHEMA
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


# helper mutcover (issue 16 point 4): Batch.add, add_realized, commit and the table builders, in no mutation row
# until tests/test_mutation_plan_coverage.py named them (row commit-batch-rest). Values written out here.

class _Keeping:
    """A storage without begin_signals that keeps what one commit_signals call got."""

    def __init__(self) -> None:
        self.calls: list[tuple[pa.Table, list[Any], dict[str, pa.Table]]] = []

    def commit_signals(self, signals: pa.Table, states: list[Any], **more: pa.Table) -> int:
        self.calls.append((signals, states, more))
        return 9


_FIT = FitRecord("garch", 100, 200, 30, 0.5, 0.25, 0.7, float("nan"), False, 2.0)


def _typed_result(rows: int, last: int, state: str, fits: list[Any], profiles: list[Any]) -> Any:
    """Columns as a pipeline hands them: numpy int64/float64/bool arrays and Python strings, not the schema's types."""
    columns: dict[str, Any] = {}
    for f in SIGNALS_SCHEMA:
        if f.name in ("symbol", "bar_seconds", "computed_at_ns"):
            continue
        if pa.types.is_string(f.type):
            columns[f.name] = ["hold"] * rows
        elif pa.types.is_boolean(f.type):
            columns[f.name] = np.zeros(rows, bool)
        elif pa.types.is_integer(f.type):
            columns[f.name] = np.arange(rows, dtype=np.int64) + 1000
        else:
            columns[f.name] = np.full(rows, np.nan)  # NaN statistics: SQL NULL
    columns["close"] = np.arange(rows, dtype=np.float64) + 10.0
    columns["n_trades"] = pa.array(np.arange(rows) + 3, pa.int32())  # an Arrow column of another type: cast
    return SimpleNamespace(columns=columns, fits=fits, profiles=profiles,
                           state=SimpleNamespace(last_bar_end_ns=last, to_json=lambda: state))


def test_a_commit_hands_every_table_with_its_rows_types_and_states() -> None:
    batch = Batch(60, 777)
    assert batch.taken is False  # nothing handed out yet
    two = [ProfileRecord(5_000, 300, np.array([1.0, 2.0, 3.0]), np.array([4, 5, 6]), 7, 3, False),
           ProfileRecord(9_000, 600, np.array([0.5, 1.5]), np.array([8, 9]), 2, 1, True)]
    cfg = SimpleNamespace(fingerprint=lambda: {"b": 1, "a": [1, 2]})
    batch.add("AAPL", _typed_result(2, 1_060, '{"s":1}', [_FIT], two), cfg)  # type: ignore[arg-type]
    batch.add("MSFT", _typed_result(1, 2_060, '{"s":2}', [], []), cfg)  # type: ignore[arg-type]
    batch.add_realized(pa.table({"x": [1.0, 2.0]}))
    storage = _Keeping()
    batch.commit(storage)  # type: ignore[arg-type]
    [(signals, states, more)] = storage.calls
    assert signals.schema == SIGNALS_SCHEMA
    assert signals.column("symbol").to_pylist() == ["AAPL", "AAPL", "MSFT"]
    assert signals.column("bar_seconds").to_pylist() == [60, 60, 60]
    assert signals.column("computed_at_ns").to_pylist() == [777, 777, 777]
    assert signals.column("close").to_pylist() == [10.0, 11.0, 10.0]
    assert signals.column("n_trades").to_pylist() == [3, 4, 3]
    assert signals.column("vwap").null_count == 3
    assert [(s.symbol, s.bar_seconds, s.last_bar_end_ns, s.state) for s in states] == [
        ("AAPL", 60, 1_060, '{"s":1}'), ("MSFT", 60, 2_060, '{"s":2}')]
    assert sorted(more) == ["model_params", "profiles", "realized"]  # no liquidity was given
    fits = more["model_params"]
    assert fits.schema == MODEL_PARAMS_SCHEMA
    assert fits.to_pylist() == [{
        "symbol": "AAPL", "model": "garch", "bar_seconds": 60, "fit_start_ns": 100, "fit_end_ns": 200, "n_obs": 30,
        "omega": 0.5, "alpha": 0.25, "beta": 0.7, "loglik": None, "converged": False, "scale": 2.0,
        "fitted_at_ns": 777, "fingerprint": '{"a":[1,2],"b":1}'}]  # NaN log-likelihood: NULL; compact sorted JSON
    profiles = more["profiles"]
    assert profiles.schema == INTRADAY_PROFILE_SCHEMA
    assert profiles.to_pydict() == {
        "symbol": ["AAPL"] * 5, "bar_seconds": [60] * 5, "session_open_ns": [5_000] * 3 + [9_000] * 2,
        "bucket": [0, 1, 2, 0, 1], "minutes_after_open": [0.0, 5.0, 10.0, 0.0, 10.0],
        "factor": [1.0, 2.0, 3.0, 0.5, 1.5], "n_obs": [4.0, 5.0, 6.0, 8.0, 9.0], "sessions": [7, 7, 7, 2, 2],
        "fallback": [False] * 3 + [True] * 2, "computed_at_ns": [777] * 5}
    assert more["realized"].column("x").to_pylist() == [1.0, 2.0]


def test_an_empty_batch_commits_nothing_and_realized_rows_alone_commit_with_no_signals(_small: list[Any]) -> None:
    storage = _Keeping()
    Batch(60, 1).commit(storage)  # type: ignore[arg-type]
    assert storage.calls == [] and _small == []
    batch = Batch(60, 1)
    batch.add_realized(pa.table({"x": [3.0]}))
    batch.commit(storage)  # type: ignore[arg-type]
    [(signals, states, more)] = storage.calls
    assert signals.num_rows == 0 and signals.schema == SIGNALS_SCHEMA and states == []
    assert list(more) == ["realized"] and more["realized"].num_rows == 1
    assert _small == [(60, 9, [])]


def test_liquidity_added_with_a_symbol_is_committed_under_its_name() -> None:
    batch = Batch(60, 5)
    _add_all(batch, "A", 2)
    storage = _Keeping()
    batch.commit(storage)  # type: ignore[arg-type]
    [(_, _, more)] = storage.calls
    assert more["liquidity"].column("symbol").to_pylist() == ["A", "A"]
    assert more["model_params"].num_rows == 2 and more["profiles"].num_rows == 3
