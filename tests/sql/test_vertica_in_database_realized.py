"""``bar_realized_spread`` on Vertica in the transform's transaction (issue 19): the in-database transform
(``VerticaStorage.run_transform_in_database``, the 12-argument UDx ``batch_microstructure``) and the client-side one
(``VerticaStorage.commit_signals(..., realized=...)``) write DuckDB's rows, and a crash at the ``staged`` fault
point (realized rows in their stage, not yet inserted) writes nothing.

Where no Vertica server runs, :mod:`tests.sql.vertica_on_duckdb` runs the Vertica statements in DuckDB and
emulates the UDx statement: its ``FROM`` runs in DuckDB and each partition drives ``udx.vertica_udx``'s transform
function. The data: two stocks whose session closes ten minutes before the tape ends (their last bars become due
when they compute no new bar, so the UDx returns realized rows without bars) and one crypto pair around the clock
(its own statement: a market's due bars must not leak into another market's partitions). Rows are compared with
DuckDB's one-pass rows (the same code on another engine) and a few with the plain definitions of
:mod:`tests.reference.realized` and :mod:`tests.reference.quotes`. On a real Vertica with the UDx installed
(``VERTICA_HOST``, ``VERTICA_UDX_LIBRARY``) the in-database rows are compared with DuckDB's the same way.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.contract import BAR_REALIZED_SPREAD_SCHEMA
from sql.settings import Settings
from sql.vertica_backend import VerticaStorage
from tests.duckdb_one_pass import transform_in_one_pass
from tests.killed_at import kill_at
from tests.reference import quotes as quote_ref
from tests.reference import realized as realized_ref
from tests.sql.real_vertica import needs_vertica, real_vertica, rows_of
from tests.sql.vertica_on_duckdb import STAGES, VerticaOnDuckDB
from udx.transform import run_transform

NS = 10**9
BAR = 60
END = 1_750_086_400 * NS - (1_750_086_400 % BAR) * NS  # Monday 2025-06-16 15:06 UTC, on the bar grid; not the clock
START = END - 30 * 60 * NS
SESSION = "00:00-14:56 UTC"  # the stocks close 10 minutes before the tape ends; trades go on after the close
CLOSE = END - 10 * 60 * NS
#: mid-bar; after the close with the last bars not yet due; the end (the last bars due, no new stock bar)
CUTS = (START + 11 * 60 * NS + 123_456_789, CLOSE + 2 * 60 * NS, END + 1)
SYMBOLS = (*[s for s in DEFAULT_SYMBOLS if s.market == "stocks"][:2], next(s for s in DEFAULT_SYMBOLS
                                                                          if s.market == "crypto"))
TRADES, QUOTES = SyntheticMarket(7, 20.0, SYMBOLS, quote_dynamics=True, record_truth=True).history(START, END)
COLUMNS = ", ".join(f.name for f in BAR_REALIZED_SPREAD_SCHEMA if f.name != "computed_at_ns")
REALIZED = f"SELECT {COLUMNS} FROM bar_realized_spread ORDER BY symbol, bar_seconds, bar_end_ns"
#: What a pass writes: a crash must leave every one of them as it was.
WRITTEN = {"trading_signals": "symbol, bar_end_ns", "bar_liquidity": "symbol, bar_end_ns",
           "bar_realized_spread": "symbol, bar_end_ns", "signal_state": "symbol, last_bar_end_ns",
           "model_params": "symbol, fit_end_ns, model"}
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("vertica_fault_transform.py")


def _settings(**extra: Any) -> Settings:
    return Settings(_env_file=None, bar_seconds=BAR, session_stocks=SESSION,  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, **extra)


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows, NaN equal to NaN."""
    return len(a) == len(b) and all(
        u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))
        for x, y in zip(a, b, strict=True) for u, v in zip(x, y, strict=True))


def _piece(table: pa.Table, lo: int, hi: int) -> pa.Table:
    return table.filter(pc.and_(pc.greater_equal(table["ts_ns"], lo), pc.less(table["ts_ns"], hi)))


def _vertica(db: VerticaOnDuckDB, fault: Any = None) -> VerticaStorage:
    return VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60, pool_size=1,
                          fault=fault)


def _snapshot(db: VerticaOnDuckDB) -> dict[str, list[tuple[Any, ...]]]:
    return {table: db.rows(f"SELECT {key} FROM {table} ORDER BY {key}") for table, key in WRITTEN.items()}


def _in_database(storage: VerticaStorage, settings: Settings, k: int) -> Any:
    """Append the ``k``-th piece of the tape and run the in-database transform."""
    lo = 0 if k == 0 else CUTS[k - 1]
    storage.append_trades(_piece(TRADES, lo, CUTS[k]))
    storage.append_quotes(_piece(QUOTES, lo, CUTS[k]))
    return storage.run_transform_in_database(settings, now_ns=1)


@pytest.fixture(scope="module")
def duckdb_rows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """DuckDB's bar_realized_spread after one pass over the whole tape."""
    settings = _settings(duckdb_path=tmp_path_factory.mktemp("duck") / "one.duckdb")
    storage = transform_in_one_pass(settings, TRADES, QUOTES, now_ns=1)
    try:
        rows = [tuple(r) for r in storage.fetch_all(REALIZED)]
    finally:
        storage.close()
    by_symbol = {r[0] for r in rows}
    assert by_symbol == {s.symbol for s in SYMBOLS} and len(rows) > 50
    return rows


@pytest.fixture(scope="module")
def in_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The in-database transform run after each piece of the tape: its rows and the runs' summaries."""
    db = VerticaOnDuckDB()
    storage = _vertica(db)
    try:
        summaries = [_in_database(storage, _settings(db_backend="vertica"), k) for k in range(len(CUTS))]
    finally:
        storage.close()
    return db.rows(REALIZED), summaries


def test_the_in_database_transform_writes_duckdbs_realized_rows_run_after_run(duckdb_rows, in_database) -> None:
    rows, summaries = in_database
    assert _same(rows, duckdb_rows)
    assert all(s.realized > 0 for s in summaries)
    assert sum(s.realized for s in summaries) == len(duckdb_rows)  # each row written once


def test_bars_due_after_the_close_get_their_rows_without_a_new_bar(duckdb_rows, in_database) -> None:
    rows, summaries = in_database
    stocks = [s.symbol for s in SYMBOLS if s.market == "stocks"]
    last = [r for r in rows if r[0] in stocks and CLOSE - 5 * BAR * NS < r[1] <= CLOSE]
    assert len(last) == 2 * 5 and max(r[1] for r in last) == CLOSE  # the last five bars of each stock
    # the last run computes only crypto bars, yet writes the stocks' last rows (the UDx's rows without a bar)
    assert summaries[-1].symbols == 1 and summaries[-1].realized > len(last)


def test_a_few_rows_match_the_published_definitions(in_database) -> None:
    """Realized spread and price impact of whole bars from tests/reference: each trade's side is the enriched
    view's ``trade_side`` as tests/reference/quotes.py defines it (the quote rule; at the midpoint or without a
    usable quote the tick rule, whose state only price-setting prints move; a minute of prints before the bar);
    the midpoints at t and t + H of tests/reference/realized.py."""
    rows, _ = in_database
    settings = _settings()
    horizon, stale = settings.liquidity_horizon_seconds * NS, round(settings.quote_stale_seconds * NS)
    symbol = SYMBOLS[0].symbol
    trades = [t for t in TRADES.to_pylist() if t["symbol"] == symbol]
    quotes = sorted((q for q in QUOTES.to_pylist() if q["symbol"] == symbol),
                    key=lambda q: (q["ts_ns"], 2**63 if q["sequence"] is None else q["sequence"], q["received_ns"]))
    checked = 0
    for row in [r for r in rows if r[0] == symbol and r[4] > 0][3:6]:
        start, end = row[1] - BAR * NS, row[1]
        inside = [t for t in trades if start <= t["ts_ns"] < end]
        near = [q for q in quotes if start - BAR * NS - stale <= q["ts_ns"] < end + horizon]
        # the tick rule needs the prints before the bar: a minute of them
        context = sorted((t for t in trades if start - BAR * NS <= t["ts_ns"] < end), key=quote_ref.trade_order)
        signed = quote_ref.trades_against_quotes(context, near, stale)
        values = [(t["ts_ns"], t["price"], signed[(t["symbol"], t["exchange"], t["trade_id"])].trade_side)
                  for t in inside]
        book = [(q["ts_ns"], q["bid_price"], q["ask_price"]) for q in near]
        spread, impact, n, volume = realized_ref.bar_means(
            [(start, end)], values, [t["size"] for t in inside],
            realized_ref.trade_values(values, book, horizon, stale))[0]
        assert (row[4], row[5]) == (n, pytest.approx(volume, rel=1e-12))
        assert row[6] == pytest.approx(spread, rel=1e-9) and row[7] == pytest.approx(impact, rel=1e-9)
        checked += 1
    assert checked >= 3


def test_a_changed_horizon_rewrites_the_rows_in_database(duckdb_rows) -> None:
    db = VerticaOnDuckDB()
    storage = _vertica(db)
    try:
        storage.append_trades(TRADES)
        storage.append_quotes(QUOTES)
        storage.run_transform_in_database(_settings(db_backend="vertica", liquidity_horizon_seconds=120), now_ns=1)
        assert {h for (h,) in db.rows("SELECT DISTINCT horizon_seconds FROM bar_realized_spread")} == {120}
        storage.run_transform_in_database(_settings(db_backend="vertica"), now_ns=1)
    finally:
        storage.close()
    assert _same(db.rows(REALIZED), duckdb_rows)


class _Crash(Exception):
    pass


def _crash_once(nth: int) -> Any:
    passed: list[str] = []

    def fault(point: str) -> None:
        passed.append(point)
        if len(passed) == nth:
            raise _Crash(point)

    return fault


def test_a_crash_at_the_staged_point_of_the_in_database_transform_writes_nothing(duckdb_rows) -> None:
    db = VerticaOnDuckDB()
    storage = _vertica(db)
    try:
        settings = _settings(db_backend="vertica")
        _in_database(storage, settings, 0)
        before = _snapshot(db)
        storage.append_trades(_piece(TRADES, CUTS[0], CUTS[1]))
        storage.append_quotes(_piece(QUOTES, CUTS[0], CUTS[1]))
        storage._fault = _crash_once(1)  # the appends passed it before
        with pytest.raises(_Crash):
            storage.run_transform_in_database(settings, now_ns=1)
        assert _snapshot(db) == before  # rows, bar liquidity, realized rows and states as they were
        assert all(db.rows(f"SELECT count(*) FROM {stage}") == [(0,)] for stage in STAGES)
        storage._fault = _crash_once(0)
        storage.run_transform_in_database(settings, now_ns=1)  # the rerun computes the same pass
        _in_database(storage, settings, 2)
    finally:
        storage.close()
    assert _same(db.rows(REALIZED), duckdb_rows)


def test_a_crash_at_the_staged_point_of_commit_signals_writes_nothing(duckdb_rows) -> None:
    """The client-side transform on Vertica: the realized rows ride in commit_signals' transaction."""
    db = VerticaOnDuckDB()
    storage = _vertica(db)
    settings = _settings(db_backend="vertica")
    try:
        storage.append_trades(_piece(TRADES, 0, CUTS[1]))
        storage.append_quotes(_piece(QUOTES, 0, CUTS[1]))
        run_transform(storage, settings, now_ns=1)
        assert db.rows("SELECT count(*) FROM bar_realized_spread")[0][0] > 0
        before = _snapshot(db)
        storage.append_trades(_piece(TRADES, CUTS[1], CUTS[2]))
        storage.append_quotes(_piece(QUOTES, CUTS[1], CUTS[2]))
        storage._fault = _crash_once(1)
        with pytest.raises(_Crash):
            run_transform(storage, settings, now_ns=1, symbols_per_commit=len(SYMBOLS))  # one commit
        assert _snapshot(db) == before
        storage._fault = _crash_once(0)
        run_transform(storage, settings, now_ns=1)
    finally:
        storage.close()
    assert _same(db.rows(REALIZED), duckdb_rows)


def test_the_in_database_transform_killed_at_the_staged_point_loses_and_duplicates_nothing(duckdb_rows,
                                                                                            tmp_path) -> None:
    """A real kill (SIGKILL of the process at the point), on a DuckDB file: the rows outlive the process."""
    path = tmp_path / "vertica.duckdb"
    db = VerticaOnDuckDB(str(path))
    storage = _vertica(db)
    _in_database(storage, _settings(db_backend="vertica"), 0)
    storage.append_trades(_piece(TRADES, CUTS[0], CUTS[2]))
    storage.append_quotes(_piece(QUOTES, CUTS[0], CUTS[2]))
    before = _snapshot(db)
    storage.close()
    db.con.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, str(SCRIPT), str(path), SESSION], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_at(child, "staged", 240, "the transform")
    db = VerticaOnDuckDB(str(path))
    storage = _vertica(db)
    try:
        assert _snapshot(db) == before and before["bar_realized_spread"]  # nothing of the killed pass
        storage.run_transform_in_database(_settings(db_backend="vertica"), now_ns=1)
        assert _same(db.rows(REALIZED), duckdb_rows)  # no loss, no duplicate
    finally:
        storage.close()
        db.con.close()


# --- a real Vertica --------------------------------------------------------------------------------------
@pytest.mark.vertica
@needs_vertica
@pytest.mark.skipif(not os.environ.get("VERTICA_UDX_LIBRARY"), reason="VERTICA_UDX_LIBRARY is not set")
def test_on_a_real_vertica_the_in_database_transform_writes_duckdbs_realized_rows(duckdb_rows) -> None:
    settings = _settings(db_backend="vertica")  # VERTICA_* from the environment
    with real_vertica(settings) as storage:
        storage.install_udx(os.environ["VERTICA_UDX_LIBRARY"], os.environ["VERTICA_UDX_DEPENDS"])
        summaries = [_in_database(storage, settings, k) for k in range(len(CUTS))]
        rows = rows_of(storage, REALIZED)
    assert _same(rows, duckdb_rows) and summaries[-1].realized > 0


@pytest.mark.vertica
@needs_vertica
def test_on_a_real_vertica_commit_signals_writes_the_realized_rows_in_its_transaction(duckdb_rows) -> None:
    settings = _settings(db_backend="vertica")
    with real_vertica(settings) as storage:
        for k in range(len(CUTS)):
            lo = 0 if k == 0 else CUTS[k - 1]
            storage.append_trades(_piece(TRADES, lo, CUTS[k]))
            storage.append_quotes(_piece(QUOTES, lo, CUTS[k]))
            run_transform(storage, settings, now_ns=1)
        rows = rows_of(storage, REALIZED)
    assert _same(rows, duckdb_rows)
