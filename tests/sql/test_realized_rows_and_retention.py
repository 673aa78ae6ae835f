"""Retention and the writer of ``bar_realized_spread`` agree (issue 18 with 19): a bar's row is due
``LIQUIDITY_HORIZON_SECONDS`` after its end, so a day whose last bars have no row yet stays live (bars, trades and
quotes) until they have one, then leaves with its rows; and no row is written for a bar no longer live.

DuckDB runs on a real file with its Parquet archive; Vertica's retention runs on the stand-in of
:mod:`tests.sql.vertica_on_duckdb` (its partition functions emulated), and on a real Vertica where ``VERTICA_HOST``
is set.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.contract import BAR_REALIZED_SPREAD_SCHEMA
from sql.settings import Settings
from tests.sql.real_vertica import needs_vertica, real_vertica, rows_of
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB
from udx.transform import run_transform

NS = 10**9
MIDNIGHT = int(dt.datetime(2024, 3, 12, tzinfo=dt.UTC).timestamp()) * NS  # times pinned, never the wall clock
START, END = MIDNIGHT - 60 * 60 * NS, MIDNIGHT + 20 * 60 * NS
FIRST_CUT = MIDNIGHT + 3 * 60 * NS  # the watermark is 3 minutes into the new day: the old day's last bars wait
STOCKS = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2]
TRADES, QUOTES = SyntheticMarket(7, 20.0, STOCKS, quote_dynamics=True).history(START, END)
OLD_DAY_BARS = 2 * 59  # two symbols, bars ending 23:01 to 23:59 (the one ending at midnight is the new day's)


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(_env_file=None, bar_seconds=60, session_stocks="00:00-24:00 UTC",  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, retain_trades_days=1, retain_quotes_days=1,
                    retain_signals_days=1, archive_path=tmp_path / "archive", **extra)


def _piece(table: pa.Table, lo: int, hi: int) -> pa.Table:
    return table.filter(pc.and_(pc.greater_equal(table["ts_ns"], lo), pc.less(table["ts_ns"], hi)))


class _Backend:
    def __init__(self, storage: Any, archive: Callable[[], object], rows: Callable[[str], list[tuple[Any, ...]]],
                 settings: Settings, all_views: bool) -> None:
        self.storage, self.archive, self.rows, self.settings = storage, archive, rows, settings
        self.all_views = all_views  # DuckDB's *_all views read the archived files; Vertica's signals are dropped

    def count(self, sql: str) -> int:
        return int(self.rows(sql)[0][0])


@pytest.fixture(params=["duckdb", "vertica"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Backend]:
    if request.param == "duckdb":
        from sql.archive import archive
        from sql.duckdb_backend import DuckDBStorage

        settings = _settings(tmp_path, duckdb_path=tmp_path / "live.duckdb")
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        yield _Backend(storage, lambda: archive(storage, settings), storage.fetch_all, settings, True)
    else:
        from sql.vertica_backend import VerticaStorage
        from sql.vertica_retention import archive_vertica

        settings = _settings(tmp_path, db_backend="vertica")
        db = VerticaOnDuckDB()
        storage = VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60,
                                 pool_size=1)
        yield _Backend(storage, lambda: archive_vertica(storage, settings), db.rows, settings, False)
    storage.close()


def _load_and_transform(backend: _Backend, lo: int, hi: int) -> None:
    backend.storage.append_trades(_piece(TRADES, lo, hi))
    backend.storage.append_quotes(_piece(QUOTES, lo, hi))
    run_transform(backend.storage, backend.settings, now_ns=1)


def test_a_day_waits_for_its_last_bars_realized_rows_then_leaves_with_them(backend: _Backend) -> None:
    old_day = f"< {MIDNIGHT}"
    _load_and_transform(backend, START, FIRST_CUT)
    assert backend.count(f"SELECT count(*) FROM trading_signals WHERE bar_end_ns < {MIDNIGHT}") == OLD_DAY_BARS
    missing = OLD_DAY_BARS - backend.count(f"SELECT count(*) FROM bar_realized_spread WHERE bar_end_ns < {MIDNIGHT}")
    assert missing > 0  # the horizon (5 minutes) has not passed the old day's last bars yet
    backend.archive()
    assert backend.count(f"SELECT count(*) FROM trading_signals WHERE bar_end_ns < {MIDNIGHT}") == OLD_DAY_BARS
    assert backend.count(f"SELECT count(*) FROM market_data WHERE ts_ns {old_day}") > 0  # read by the realized step
    assert backend.count(f"SELECT count(*) FROM quotes WHERE ts_ns {old_day}") > 0

    _load_and_transform(backend, FIRST_CUT, END)  # the horizon passes midnight: the last bars get their rows
    backend.archive()
    assert backend.count(f"SELECT count(*) FROM trading_signals WHERE bar_end_ns < {MIDNIGHT}") == 0
    assert backend.count(f"SELECT count(*) FROM market_data WHERE ts_ns {old_day}") == 0
    assert backend.count(f"SELECT count(*) FROM quotes WHERE ts_ns {old_day}") == 0
    if backend.all_views:  # every archived bar left with its row; none stayed live
        joined = ("SELECT count(*) FROM signals_all AS s JOIN bar_realized_spread_all AS r USING (symbol, "
                  f"bar_seconds, bar_end_ns) WHERE s.bar_end_ns < {MIDNIGHT}")
        assert backend.count(joined) == OLD_DAY_BARS
        assert backend.count(f"SELECT count(*) FROM bar_realized_spread WHERE bar_end_ns < {MIDNIGHT}") == 0
    else:  # Vertica keeps bar_realized_spread live (retention leaves it): every bar of the day has its row
        assert backend.count(f"SELECT count(*) FROM bar_realized_spread WHERE bar_end_ns < {MIDNIGHT}") == OLD_DAY_BARS


def test_no_row_is_written_for_a_bar_no_longer_live(backend: _Backend) -> None:
    _load_and_transform(backend, START, END)
    backend.archive()
    assert backend.count(f"SELECT count(*) FROM trading_signals WHERE bar_end_ns < {MIDNIGHT}") == 0
    symbol = STOCKS[0].symbol
    stored = backend.rows(f"SELECT bar_end_ns FROM trading_signals WHERE symbol = '{symbol}' ORDER BY bar_end_ns")
    rows = pa.Table.from_pylist([
        {"symbol": symbol, "bar_end_ns": end, "bar_seconds": 60, "horizon_seconds": 300, "n_trades": 0,
         "matched_volume": 0.0, "realized_spread": None, "price_impact": None, "tick_price": None, "tick_sign": 0,
         "computed_at_ns": 1}
        for end in (MIDNIGHT - 120 * NS, MIDNIGHT - 60 * NS)  # bars of the archived day
    ], BAR_REALIZED_SPREAD_SCHEMA)
    backend.rows(f"DELETE FROM bar_realized_spread WHERE bar_end_ns < {MIDNIGHT}")  # as if never written (Vertica
    # keeps them live; DuckDB archived them): only the bar being gone can refuse the rows now
    before = backend.count("SELECT count(*) FROM bar_realized_spread")
    assert backend.storage.write_realized_spread(rows) == 0
    assert backend.count("SELECT count(*) FROM bar_realized_spread") == before
    assert stored and all(end >= MIDNIGHT for (end,) in stored)


@pytest.mark.vertica
@needs_vertica
def test_on_a_real_vertica_a_day_waits_for_its_realized_rows(tmp_path: Path) -> None:
    from sql.vertica_retention import archive_vertica

    settings = _settings(tmp_path, db_backend="vertica",
                         archive_path=os.environ.get("VERTICA_ARCHIVE_PATH", str(tmp_path / "archive")))
    with real_vertica(settings) as storage:
        backend = _Backend(storage, lambda: archive_vertica(storage, settings), lambda sql: rows_of(storage, sql),
                           settings, False)
        test_a_day_waits_for_its_last_bars_realized_rows_then_leaves_with_them(backend)
