"""Issue 18 on a real Vertica (only where ``VERTICA_HOST`` is set): ``daily_metrics`` written by the transform and
by retention before trades leave, equal to DuckDB's on the same trades; a trade delivered again after its day moved
to ``market_data_archive`` is not stored twice; a recompute after an archive starts after it and reads the moved
trades back, or refuses clearly when retention dropped them after the Parquet export."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import trades_from_parts
from sql.backend import StorageError
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = [pytest.mark.vertica, pytest.mark.skipif(
    not os.environ.get("VERTICA_HOST"), reason="VERTICA_HOST is not set: no Vertica server to test against")]

NS = 10**9
DAY = 86_400 * NS
START = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS  # Monday
DAYS = 3
#: every table these tests write; they own them in the VERTICA_* schema
TABLES = ("market_data", "market_data_archive", "quotes", "trading_signals", "trading_signals_archive", "model_params",
          "signal_state", "intraday_profile", "bar_liquidity", "daily_metrics", "archive_manifest")
METRICS = ("SELECT symbol, session_date, bar_seconds, trades, volume, vwap, open, high, low, close, n_returns, "
           "realized_variance, bipower_variation, bns_stat, jump_count, mean_vpin, max_vpin, last_signal, "
           "last_signal_reason, last_bar_end_ns FROM {} ORDER BY symbol, session_date, bar_seconds")


def _trades() -> pa.Table:
    rng = np.random.default_rng(1819)
    ts = np.sort(rng.integers(START, START + DAYS * DAY, 3_000))
    conditions = [None, "37", "14", None]
    table = trades_from_parts([("stocks", "AAPL", ts, 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, ts.size))),
                                rng.integers(1, 300, ts.size).astype(float))])
    drawn = [conditions[k] for k in rng.choice(len(conditions), table.num_rows)]
    return table.set_column(table.schema.get_field_index("conditions"), "conditions", pa.array(drawn, pa.string()))


def _settings(**more: object) -> Settings:
    values: dict[str, object] = {"db_backend": "vertica", "bar_seconds": 60, "lm_window": 20,
                                 "transform_lateness_seconds": 2.0, "session_stocks": "00:00-24:00 UTC", **more}
    return Settings(**values)  # type: ignore[call-arg]


@pytest.fixture
def vertica(tmp_path: Path):
    from sql.vertica_backend import VerticaStorage

    settings = _settings(retain_trades_days=1,
                         archive_path=os.environ.get("VERTICA_ARCHIVE_PATH", str(tmp_path / "archive")))
    storage = VerticaStorage.open(settings)
    storage.apply_schema()
    with storage._write() as cursor:
        for table in TABLES:
            cursor.execute(f"DELETE FROM {table}")
    yield storage, settings
    storage.close()


def _rows(storage, sql: str) -> list[list[object]]:
    with storage._write() as cursor:
        cursor.execute(sql)
        return [list(r) for r in cursor.fetchall()]


def test_daily_metrics_of_final_days_equal_duckdbs_and_the_view_reads_them(vertica, tmp_path: Path) -> None:
    from sql.duckdb_backend import DuckDBStorage

    storage, settings = vertica
    trades = _trades()
    storage.append_trades(trades)
    run_transform(storage, settings, now_ns=1)
    written = _rows(storage, METRICS.format("daily_metrics"))
    assert [r[1] for r in written] == [dt.date(2024, 3, 11) + dt.timedelta(days=d) for d in range(DAYS - 1)]
    duck = DuckDBStorage.open(settings.model_copy(update={"db_backend": "duckdb", "duckdb_path": tmp_path / "d.db"}))
    try:
        duck.apply_schema()
        duck.append_trades(trades)
        run_transform(duck, settings, now_ns=1)
        expected = [list(r) for r in duck.fetch_all(METRICS.format("daily_metrics"))]
    finally:
        duck.close()
    assert len(written) == len(expected)
    for got, want in zip(written, expected, strict=True):
        assert got[:3] == want[:3] and got[-3:] == want[-3:]
        np.testing.assert_allclose(np.array(got[3:-3], float), np.array(want[3:-3], float), rtol=1e-12)
    # the view: final days from the table, the open day computed from the bars and trades
    view = _rows(storage, METRICS.format("symbol_metrics"))
    assert view[:-1] == written and view[-1][1] == dt.date(2024, 3, 11) + dt.timedelta(days=DAYS - 1)


def test_a_day_keeps_its_metrics_after_retention_moved_and_dropped_its_trades(vertica) -> None:
    from sql.vertica_retention import archive_vertica

    storage, settings = vertica
    storage.append_trades(_trades())
    run_transform(storage, settings, now_ns=1)
    with storage._write() as cursor:  # as if the metrics were never written: retention writes them first
        cursor.execute("DELETE FROM daily_metrics")
    before = _rows(storage, METRICS.format("symbol_metrics"))
    lines = archive_vertica(storage, settings)
    assert any(line.startswith("trades:") and "exported" in line for line in lines)
    assert _rows(storage, "SELECT COUNT(*) FROM market_data_archive") == [[0]]
    assert _rows(storage, METRICS.format("symbol_metrics")) == before


def test_a_trade_delivered_again_after_its_day_moved_is_not_stored_twice(vertica) -> None:
    storage, settings = vertica
    trades = _trades()
    storage.append_trades(trades)
    run_transform(storage, settings, now_ns=1)
    first_day = f"{dt.date(2024, 3, 11)}"
    storage.run_statement("retention", "move_market_data", {"first_day": first_day, "last_day": first_day})
    day_one = trades.filter(pa.compute.less(trades.column("ts_ns"), START + DAY))
    assert day_one.num_rows > 0
    assert storage.append_trades(day_one) == 0  # its keys are in market_data_archive
    fresh = day_one.slice(0, 1).set_column(trades.schema.get_field_index("trade_id"), "trade_id", ["late-print"])
    assert storage.append_trades(fresh) == 1  # a new print of a moved (not yet exported) day is kept


def test_a_recompute_after_a_move_starts_after_it_and_equals_a_one_pass_run(vertica) -> None:
    from udx.recompute import prepare_recompute

    storage, settings = vertica
    storage.append_trades(_trades())
    run_transform(storage, settings, now_ns=1)
    one_pass = _rows(storage, "SELECT bar_end_ns, vpin, garch_sigma FROM trading_signals ORDER BY bar_end_ns")
    first_day = f"{dt.date(2024, 3, 11)}"
    storage.run_statement("retention", "move_market_data", {"first_day": first_day, "last_day": first_day})
    assert storage.archived_until() == {"AAPL": START + DAY}
    prepare_recompute(storage, settings, ["AAPL"])
    kept = _rows(storage, "SELECT MAX(bar_end_ns) FROM trading_signals")[0][0]
    assert kept <= START + DAY  # the bars of the moved day stay; the rest was rewound
    run_transform(storage, settings, now_ns=1)
    assert _rows(storage, "SELECT bar_end_ns, vpin, garch_sigma FROM trading_signals ORDER BY bar_end_ns") == one_pass


def test_a_recompute_over_days_only_in_the_parquet_export_is_refused_clearly(vertica) -> None:
    from sql.vertica_retention import archive_vertica

    storage, settings = vertica
    storage.append_trades(_trades())
    run_transform(storage, settings, now_ns=1)
    archive_vertica(storage, settings)
    with pytest.raises(StorageError, match=r"AAPL: the trades of 2 day\(s\) through 2024-03-12 were exported"):
        storage.read_trades_with_archive("AAPL", 0, START + DAYS * DAY)
    assert storage.read_trades_with_archive("AAPL", START + 2 * DAY, START + DAYS * DAY).num_rows > 0
