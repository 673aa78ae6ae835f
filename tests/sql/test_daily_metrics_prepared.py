"""The trade half of the daily metrics read beside the transform's last commit (``prepare_daily_metrics``, then
``write_daily_metrics(prepared=...)``): the rows stay those of the definitions (the plain reference of
``test_daily_metrics``) however the days become final (run after run, a backfill of every final day after an
upgrade, a symbol whose old days arrive late), a day the prepared read does not cover reads its trades itself, and a
failure of the read leaves the signals committed and the days pending for the next run."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from test_daily_metrics import COLUMNS, DAY, START, _as_dicts, _assert_equal, _bars, _day, _reference, _settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
duckdb_backend = pytest.importorskip("sql.duckdb_backend")
DuckDBStorage = duckdb_backend.DuckDBStorage


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    from test_daily_metrics import trades as make  # the module's fixture function, called plainly

    return make.__wrapped__()  # type: ignore[attr-defined]


def _open(path: Path) -> DuckDBStorage:
    storage = DuckDBStorage.open(_settings(path))
    storage.apply_schema()
    return storage


def _stored(storage: DuckDBStorage) -> dict:
    return _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM daily_metrics"))


def _spy(storage: DuckDBStorage, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record the ``prepared`` each write_daily_metrics gets."""
    seen: list[object] = []
    write = storage.write_daily_metrics

    def spied(*args: object, prepared: object = None) -> int:
        seen.append(prepared)
        return write(*args, prepared=prepared)

    monkeypatch.setattr(storage, "write_daily_metrics", spied)
    return seen


def _final_reference(storage: DuckDBStorage, trades: pa.Table) -> dict:
    (newest,) = storage.fetch_all("SELECT max(ts_ns) FROM market_data")[0]
    final_before = _day(newest - 2 * 10**9)
    return {k: v for k, v in _reference(trades, _bars(storage)).items() if k[1] < final_before}


def test_run_after_run_each_day_made_final_is_written_from_the_prepared_trades(
        tmp_path: Path, trades: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = _open(tmp_path / "x.duckdb")
    try:
        seen = _spy(storage, monkeypatch)
        ts = trades.column("ts_ns").to_numpy()
        for day in range(1, 6):  # a day's trades, then a transform
            part = trades.filter(pa.array((ts >= START + (day - 1) * DAY) & (ts < START + day * DAY)))
            storage.append_trades(part)
            run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)
        stored = _stored(storage)
        want = _final_reference(storage, trades)
        assert len(want) == 12  # Monday to Thursday of three symbols
        _assert_equal(stored, want)
        assert sum(p is not None for p in seen) == 4  # one read per day made final
    finally:
        storage.close()


def test_the_first_run_after_an_upgrade_backfills_every_final_day_from_one_read(
        tmp_path: Path, trades: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = _open(tmp_path / "x.duckdb")
    try:
        storage.append_trades(trades)
        run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)
        storage.execute_write("DELETE FROM daily_metrics")  # as a file older code transformed
        storage._metrics_final_before.clear()  # noqa: SLF001 - as a new process
        seen = _spy(storage, monkeypatch)
        run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)  # no new bar: the pending days lead
        assert len(seen) == 1 and seen[0] is not None and seen[0].from_ns == START
        _assert_equal(_stored(storage), _final_reference(storage, trades))
    finally:
        storage.close()


def test_a_symbol_whose_old_days_arrive_late_gets_them_written(tmp_path: Path, trades: pa.Table) -> None:
    storage = _open(tmp_path / "x.duckdb")
    try:
        symbols = trades.column("symbol").to_pylist()
        late = pa.array([s == "IBM" for s in symbols])
        storage.append_trades(trades.filter(pa.compute.invert(late)))
        run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)
        assert {s for s, _ in _stored(storage)} == {"X:ETHUSD", "AAPL"}
        storage.append_trades(trades.filter(late))  # every day of IBM, all but the last final already
        run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)
        stored = _stored(storage)
        assert {d for s, d in stored if s == "IBM"} == {_day(START + k * DAY) for k in range(4)}
        _assert_equal(stored, _final_reference(storage, trades))
    finally:
        storage.close()


def test_a_day_the_prepared_read_does_not_cover_reads_its_own_trades(tmp_path: Path, trades: pa.Table) -> None:
    storage = _open(tmp_path / "x.duckdb")
    try:
        storage.append_trades(trades)
        run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)
        want = _stored(storage)
        (newest,) = storage.fetch_all("SELECT max(ts_ns) FROM market_data")[0]
        watermark = newest - 2 * 10**9
        storage.execute_write("DELETE FROM daily_metrics")
        storage._metrics_final_before.clear()  # noqa: SLF001 - as a new process
        full = storage.prepare_daily_metrics(60, watermark)
        assert full is not None and full.from_ns == START
        # the read covers Wednesday on only: Monday and Tuesday read their trades in the write
        wednesday = START + 2 * DAY
        partial = duckdb_backend.DayTrades(wednesday, full.final_before_ns, full.table.filter(
            pa.compute.greater_equal(full.table.column("session_date"), pa.scalar(_day(wednesday)))))
        assert storage.write_daily_metrics(60, watermark, prepared=partial) == len(want)
        _assert_equal(_stored(storage), want)
    finally:
        storage.close()


def test_a_failed_read_of_the_trade_half_keeps_the_signals_and_leaves_the_days_for_the_next_run(
        tmp_path: Path, trades: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = _open(tmp_path / "x.duckdb")
    try:
        storage.append_trades(trades)

        def broken(*args: object) -> None:
            raise duckdb_backend.StorageError("read failed")

        monkeypatch.setattr(storage, "prepare_daily_metrics", broken)
        with pytest.raises(duckdb_backend.StorageError, match="read failed"):
            run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)
        assert storage.fetch_all("SELECT count(*) FROM signal_state")[0][0] == 3  # the commit stands
        (bars,) = storage.fetch_all("SELECT count(*) FROM trading_signals")[0]
        assert bars > 0 and not _stored(storage)
        monkeypatch.undo()
        run_transform(storage, _settings(tmp_path / "x.duckdb"), now_ns=1)
        assert storage.fetch_all("SELECT count(*) FROM trading_signals")[0][0] == bars  # nothing new, no repeat
        _assert_equal(_stored(storage), _final_reference(storage, trades))
    finally:
        storage.close()
