"""bar_liquidity.vpin_lee_ready through the transform on a real DuckDB file, over several short sessions (V comes
from earlier sessions): values once the buckets fill, and runs on pieces cut anywhere equal one pass. Against the
simulator's true sides: bench/bench_vpin_lr.py."""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
import pytest

import udx
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
SESSION = "00:00-00:30 UTC"  # short sessions at fixed times: no wall clock
END = (1_750_000_000 // 86400 + 1) * 86400 * NS + 3600 * NS
START = END - 6 * 86400 * NS  # weekdays only: four sessions
STOCKS = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2]
MARKET = SyntheticMarket(7, 20.0, STOCKS, session_bounds=functools.partial(udx.session_bounds, SESSION),
                         full_session_minutes=30, quote_dynamics=True)
TRADES, QUOTES = MARKET.history(START, END)


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=60, session_stocks=SESSION,  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, vpin_buckets_per_day=20, vpin_window=5)


def _run(path: Path, cuts: list[int]) -> list[tuple]:
    settings_ = _settings(path)
    storage = DuckDBStorage.open(settings_)
    try:
        storage.apply_schema()
        bounds = [START, *cuts, END + 1]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            for table, append in ((TRADES, storage.append_trades), (QUOTES, storage.append_quotes)):
                append(table.filter(pc.and_(pc.greater_equal(table["ts_ns"], lo), pc.less(table["ts_ns"], hi))))
            run_transform(storage, settings_, now_ns=1)
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT l.symbol, l.bar_end_ns, l.vpin_lee_ready, s.vpin FROM bar_liquidity AS l "
                           "JOIN trading_signals AS s USING (symbol, bar_seconds, bar_end_ns) "
                           "ORDER BY l.symbol, l.bar_end_ns").fetchall()


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    return _run(tmp_path_factory.mktemp("one") / "one.duckdb", [])


def test_values_appear_once_the_buckets_fill_and_lie_in_zero_one(one_pass) -> None:
    for spec in STOCKS:
        rows = [r for r in one_pass if r[0] == spec.symbol]
        values = np.array([np.nan if r[2] is None else r[2] for r in rows])
        assert np.isnan(values[:30]).all()  # the first session has no bucket size
        ok = ~np.isnan(values)
        assert ok.sum() > 60 and (values[ok] >= 0).all() and (values[ok] <= 1).all()
        assert sum(r[3] is not None for r in rows) > 60  # the BVC vpin beside it


def test_runs_on_pieces_cut_anywhere_equal_one_pass(one_pass, tmp_path: Path) -> None:
    day = 86400 * NS
    cuts = [START + day + 600 * NS + 17 * NS, START + 2 * day + 1234 * NS, START + 2 * day + 1500 * NS,
            START + 3 * day + 60 * NS]
    got = _run(tmp_path / "pieces.duckdb", cuts)
    assert [r[:2] for r in got] == [r[:2] for r in one_pass]
    assert np.array_equal(np.array([np.nan if r[2] is None else r[2] for r in got]),
                          np.array([np.nan if r[2] is None else r[2] for r in one_pass]), equal_nan=True)

