"""Vertica's ``write_daily_metrics`` restates the formulas of its ``symbol_metrics`` view (Vertica has no table
macro to share them: the header of ``sql/vertica/queries/write_daily_metrics.sql`` says why). What holds the two
together is this test: on the same bars and trades, the rows the write stores equal the rows the view computes.

Both Vertica statements run in DuckDB through :mod:`tests.sql.vertica_on_duckdb` (bound by vertica-python; the
view's text as Vertica gets it, under another name); the write runs through ``VerticaStorage`` from the transform.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from sql.contract import TRADES_SCHEMA
from sql.queries import load_registry
from sql.settings import Settings
from sql.vertica_backend import VerticaStorage
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB, to_duckdb
from udx.transform import run_transform

NS = 10**9
DAY = 86_400 * NS
START = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS  # times pinned
COLUMNS = ("symbol, session_date, bar_seconds, trades, volume, vwap, open, high, low, close, n_returns, "
           "realized_variance, bipower_variation, bns_stat, jump_count, mean_vpin, max_vpin, last_signal, "
           "last_signal_reason, last_bar_end_ns")


def _trades() -> pa.Table:
    rng = np.random.default_rng(5)
    ts = np.sort(rng.integers(START, START + 3 * DAY, 4_000))
    n = ts.size
    conditions = [[None, "37", "14", "12,37", None][k] for k in rng.integers(0, 5, n)]  # some set no price/volume
    return pa.table({
        "market": ["stocks"] * n, "symbol": [["AAA", "BBB"][k] for k in rng.integers(0, 2, n)], "ts_ns": ts,
        "price": 100 * np.exp(np.cumsum(rng.normal(0, 4e-4, n))), "size": rng.integers(1, 300, n).astype(float),
        "exchange": pa.array(rng.integers(1, 20, n), pa.int32()), "trade_id": [f"t{i}" for i in range(n)],
        "conditions": conditions, "tape": pa.array([3] * n, pa.int32()), "sequence": pa.array(range(n), pa.int64()),
        "trf_id": pa.array([None] * n, pa.int32()), "trf_ts_ns": pa.array([None] * n, pa.int64()),
        "received_ns": ts, "source": ["sim"] * n, "correction": pa.array([0] * n, pa.int32()),
    }, schema=TRADES_SCHEMA)  # fmt: skip


@pytest.fixture(scope="module")
def written() -> tuple[VerticaOnDuckDB, list[tuple]]:
    db = VerticaOnDuckDB()
    storage = VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60, pool_size=1)
    settings = Settings(_env_file=None, db_backend="vertica", bar_seconds=60, lm_window=20,  # type: ignore[call-arg]
                        transform_lateness_seconds=2.0, session_stocks="00:00-24:00 UTC")
    try:
        storage.append_trades(_trades())
        run_transform(storage, settings, now_ns=1)  # writes the two final days through write_daily_metrics
    finally:
        storage.close()
    view = load_registry("vertica", "views")["symbol_metrics"].text
    db.con.execute(to_duckdb(view).replace("VIEW symbol_metrics AS", "VIEW vertica_symbol_metrics AS", 1))
    return db, db.rows(f"SELECT {COLUMNS} FROM daily_metrics ORDER BY symbol, session_date")


def test_the_write_stores_what_the_view_computes_for_the_same_days(written) -> None:
    db, rows = written
    assert [(r[0], r[1]) for r in rows] == [(s, dt.date(2024, 3, 11) + dt.timedelta(days=d))
                                            for s in ("AAA", "BBB") for d in range(2)]
    db.con.execute("DELETE FROM daily_metrics")  # the view computes every day from the bars and trades now
    computed = db.rows(f"SELECT {COLUMNS} FROM vertica_symbol_metrics WHERE session_date < DATE '2024-03-13' "
                       "ORDER BY symbol, session_date")
    assert len(computed) == len(rows)
    for got, want in zip(rows, computed, strict=True):
        assert got[:3] == want[:3] and got[-3:] == want[-3:] and got[14] == want[14]
        np.testing.assert_allclose(np.array(got[3:14], float), np.array(want[3:14], float), rtol=1e-12)
        np.testing.assert_allclose(np.array(got[15:17], float), np.array(want[15:17], float), rtol=1e-12)
