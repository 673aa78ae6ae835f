"""A chunk's read groups written ahead into its one open transaction (``BackgroundCommits.write_ahead``, DuckDB's
``SignalsTransaction``): every table gets the rows of a run that commits each chunk whole, the transaction takes
several parts, and a run that fails after a part was written leaves the file as it was (the next run writes it all)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pytest

import udx._commit_batch as commit_batch
import udx.transform as transform
from conftest import trades_from_parts
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
duckdb_backend = pytest.importorskip("sql.duckdb_backend")

NS = 10**9
START = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS
#: the tables a commit writes, and the columns stamped with the wall clock whatever now_ns says
TABLES = {"trading_signals": (), "bar_liquidity": (), "bar_realized_spread": (), "model_params": (),
          "intraday_profile": (), "signal_state": ("updated_ns",), "daily_metrics": ("computed_at_ns",)}


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    rng = np.random.default_rng(77)
    parts = []
    for k in range(5):
        n = 3_000
        ts = np.sort(rng.integers(START, START + 3 * 86_400 * NS, n))
        parts.append(("crypto", f"X:S{k}USD", ts, 50 * np.exp(np.cumsum(rng.normal(0, 4e-4, n))),
                      rng.integers(1, 100, n).astype(float)))
    return trades_from_parts(parts)


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=60, lm_window=20,  # type: ignore[call-arg]
                    transform_lateness_seconds=2.0)


def _rows(storage: object, table: str) -> list[tuple]:
    cols = [c for (c,) in storage.fetch_all(  # type: ignore[attr-defined]
        "SELECT column_name FROM duckdb_columns() WHERE table_name = $t ORDER BY column_index", {"t": table})
        if c not in TABLES[table]]
    return sorted(storage.fetch_all(f"SELECT {', '.join(cols)} FROM {table}"),  # type: ignore[attr-defined]
                  key=repr)


def _run(path: Path, trades: pa.Table, *, symbols_per_commit: int = 3) -> dict[str, list[tuple]]:
    storage = duckdb_backend.DuckDBStorage.open(_settings(path))
    try:
        storage.apply_schema()
        storage.append_trades(trades)
        run_transform(storage, _settings(path), now_ns=1, symbols_per_commit=symbols_per_commit)
        return {table: _rows(storage, table) for table in TABLES}
    finally:
        storage.close()


@pytest.fixture
def one_symbol_groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Read groups of one symbol, each written ahead; returns the rows of each part written."""
    monkeypatch.setattr(transform, "_READ_SYMBOLS", 1)
    monkeypatch.setattr(transform, "_FIRST_READ_SYMBOLS", 1)
    monkeypatch.setattr(commit_batch, "WRITE_AHEAD_ROWS", 1)
    parts: list[int] = []
    add = duckdb_backend.SignalsTransaction.add

    def counted(self: object, signals: pa.Table, **more: object) -> None:
        parts.append(signals.num_rows)
        add(self, signals, **more)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb_backend.SignalsTransaction, "add", counted)
    return parts


def test_parts_written_ahead_give_the_rows_of_whole_chunk_commits(tmp_path: Path, trades: pa.Table,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transform, "_READ_SYMBOLS", 1)
    monkeypatch.setattr(transform, "_FIRST_READ_SYMBOLS", 1)
    whole = _run(tmp_path / "whole.duckdb", trades)  # WRITE_AHEAD_ROWS: no part of a few symbols fills it
    monkeypatch.undo()
    assert all(whole[t] for t in ("trading_signals", "bar_liquidity", "bar_realized_spread", "signal_state",
                                  "daily_metrics"))
    parts = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(transform, "_READ_SYMBOLS", 1)
        mp.setattr(transform, "_FIRST_READ_SYMBOLS", 1)
        mp.setattr(commit_batch, "WRITE_AHEAD_ROWS", 1)
        add = duckdb_backend.SignalsTransaction.add
        mp.setattr(duckdb_backend.SignalsTransaction, "add",
                   lambda self, signals, **more: (parts.append(signals.num_rows), add(self, signals, **more)))
        ahead = _run(tmp_path / "ahead.duckdb", trades)
    # chunks of 3 and 2 symbols, one symbol a group: 2 + 1 parts ahead, then the last group with each commit
    assert len(parts) == 5 and all(parts)
    for table in TABLES:
        assert ahead[table] == whole[table], table


def test_a_run_failing_after_a_part_was_written_leaves_the_file_as_it_was(
        tmp_path: Path, trades: pa.Table, monkeypatch: pytest.MonkeyPatch, one_symbol_groups: list[int]) -> None:
    path = tmp_path / "x.duckdb"
    compute = transform._compute_symbol

    def failing(entry: transform._Entry, **kw: object) -> object:
        if entry.symbol == "X:S2USD":  # the chunk's third group: two parts are written ahead by then
            raise RuntimeError("compute failed")
        return compute(entry, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(transform, "_compute_symbol", failing)
    storage = duckdb_backend.DuckDBStorage.open(_settings(path))
    try:
        storage.apply_schema()
        storage.append_trades(trades)
        with pytest.raises(RuntimeError, match="compute failed"):
            run_transform(storage, _settings(path), now_ns=1, symbols_per_commit=5)
        assert len(one_symbol_groups) >= 1  # a part was written before the failure
        for table in TABLES:
            assert storage.fetch_all(f"SELECT count(*) FROM {table}")[0][0] == 0, table
        monkeypatch.setattr(transform, "_compute_symbol", compute)
        run_transform(storage, _settings(path), now_ns=1, symbols_per_commit=5)
        got = {table: _rows(storage, table) for table in TABLES}
    finally:
        storage.close()
    monkeypatch.undo()
    assert got == _run(tmp_path / "whole.duckdb", trades, symbols_per_commit=5)


def test_a_failed_part_surfaces_and_nothing_of_its_chunk_is_committed(
        tmp_path: Path, trades: pa.Table, monkeypatch: pytest.MonkeyPatch, one_symbol_groups: list[int]) -> None:
    path = tmp_path / "x.duckdb"
    add = duckdb_backend.SignalsTransaction.add
    calls = []

    def second_fails(self: object, signals: pa.Table, **more: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise duckdb_backend.StorageError("part failed")
        add(self, signals, **more)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb_backend.SignalsTransaction, "add", second_fails)
    storage = duckdb_backend.DuckDBStorage.open(_settings(path))
    try:
        storage.apply_schema()
        storage.append_trades(trades)
        with pytest.raises(duckdb_backend.StorageError, match="part failed"):
            run_transform(storage, _settings(path), now_ns=1, symbols_per_commit=5)
        for table in TABLES:
            assert storage.fetch_all(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    finally:
        storage.close()


class _Heard:
    """A write listener recording what it is told (sql.backend.WriteListener)."""

    def __init__(self) -> None:
        self.signals: list[tuple[int, int]] = []  # (rows, states) per signals_written
        self.realized = 0
        self.buy_volume = 0.0

    def attached(self) -> None: ...
    def trades_written(self, batch: pa.Table) -> None: ...
    def signals_reset(self, symbols: object, bar_seconds: int) -> None: ...
    def write_failed(self, error: BaseException) -> None: ...

    def signals_written(self, signals: pa.Table, states: object) -> None:
        self.signals.append((signals.num_rows, len(states)))  # type: ignore[arg-type]
        self.buy_volume += pa.compute.sum(signals.column("buy_volume")).as_py() or 0.0

    def realized_written(self, rows: pa.Table) -> None:
        self.realized += rows.num_rows


def test_listeners_hear_each_chunk_once_with_all_its_parts_after_the_commit(
        tmp_path: Path, trades: pa.Table, one_symbol_groups: list[int]) -> None:
    path = tmp_path / "x.duckdb"
    storage = duckdb_backend.DuckDBStorage.open(_settings(path))
    heard = _Heard()
    try:
        storage.apply_schema()
        storage.append_trades(trades)
        storage.add_write_listener(heard)
        run_transform(storage, _settings(path), now_ns=1, symbols_per_commit=3)
        (bars,) = storage.fetch_all("SELECT count(*) FROM trading_signals")[0]
        (realized,) = storage.fetch_all("SELECT count(*) FROM bar_realized_spread")[0]
        (buy_volume,) = storage.fetch_all("SELECT sum(buy_volume) FROM bar_liquidity")[0]
    finally:
        storage.close()
    assert len(one_symbol_groups) == 5  # 2 + 1 parts written ahead
    assert heard.signals and [s for _, s in heard.signals] == [3, 2]  # one event per chunk, with its states
    assert sum(n for n, _ in heard.signals) == bars and heard.realized == realized > 0
    assert buy_volume > 0 and heard.buy_volume == pytest.approx(buy_volume, rel=1e-12)  # the liquidity beside them
