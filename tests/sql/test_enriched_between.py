"""The table macro ``enriched_market_data_between(ticker, start_ns, end_ns)`` returns exactly the rows of the
view ``enriched_market_data`` of that symbol and window, on real DuckDB files: Hypothesis draws the windows on
the simulated market file (quotes, signals, 1.5 days), and whole random streams with their windows on a file of
their own: prices that repeat, prints that may not set the price, several prints and quotes at one stamp,
stale, locked, crossed and one-sided quotes, and sometimes 1,100 prints at one price right before the window,
so that the last price change lies beyond the macro's 1,000-trade look-back (the rest of the history is then
searched). The page's macro ``enriched_market_data_between_grid(ticker, start_ns, end_ns, grid)`` returns the view's
rows of that window with ``bar_seconds = grid OR bar_seconds IS NULL`` (and all of them for a NULL grid): drawn
grids on the simulated file (one it has, one it lacks) and on the random streams with bars of two grids or none."""

from __future__ import annotations

import math
import re
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sql.duckdb_backend import DuckDBStorage, instance_config
from sql.settings import Settings
from tests.readme_recipes import ROOT
from tests.sql.test_enriched_quotes import _quotes, _store, _trades

pytestmark = pytest.mark.duckdb

MS = 10**6
ORDER = "ORDER BY ts_ns, exchange, trade_id, bar_seconds NULLS FIRST"
MACRO = f"SELECT * FROM enriched_market_data_between($symbol, $start_ns, $end_ns) {ORDER}"
VIEW = f"SELECT * FROM enriched_market_data WHERE symbol = $symbol AND ts_ns >= $start_ns AND ts_ns < $end_ns {ORDER}"
GRID = f"SELECT * FROM enriched_market_data_between_grid($symbol, $start_ns, $end_ns, $grid) {ORDER}"
VIEW_GRID = ("SELECT * FROM enriched_market_data WHERE symbol = $symbol AND ts_ns >= $start_ns AND ts_ns < $end_ns "
             f"AND (bar_seconds = $grid OR bar_seconds IS NULL OR $grid IS NULL) {ORDER}")


def _same_rows(con, params: dict[str, Any], ours_sql: str = MACRO, view_sql: str = VIEW) -> int:
    """Assert the macro's rows equal the view's (floats to 1e-12); return how many."""
    ours, view = con.execute(ours_sql, params).fetchall(), con.execute(view_sql, params).fetchall()
    assert len(ours) == len(view), params
    for a, b in zip(ours, view, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-300) or (math.isnan(x) and math.isnan(y)), params
            else:
                assert x == y, (params, a, b)
    return len(ours)


@pytest.fixture(scope="module")
def market(market_db, market_settings):
    con = duckdb.connect(str(market_db), read_only=True, config=instance_config(market_settings))
    span = con.execute("SELECT min(ts_ns), max(ts_ns) FROM market_data").fetchone()
    symbols = [r[0] for r in con.execute("SELECT DISTINCT symbol FROM market_data ORDER BY 1").fetchall()]
    yield con, span, symbols
    con.close()


@settings(max_examples=60, deadline=None)
@given(symbol_at=st.integers(0, 20), start_at=st.floats(-0.05, 1.05), minutes=st.sampled_from([0, 1, 7, 60, 600]))
def test_the_macro_equals_the_view_on_the_simulated_market(market, symbol_at, start_at, minutes):
    con, (first, last), symbols = market
    start = int(first + start_at * (last - first))
    params = {"symbol": symbols[symbol_at % len(symbols)], "start_ns": start, "end_ns": start + minutes * 60_000_000_000}
    _same_rows(con, params)


@settings(max_examples=30, deadline=None)
@given(symbol_at=st.integers(0, 20), start_at=st.floats(-0.05, 1.05), minutes=st.sampled_from([0, 7, 60, 600]),
       grid_at=st.integers(0, 2))
def test_the_grid_macro_equals_the_view_of_that_grid_on_the_simulated_market(market, symbol_at, start_at, minutes,
                                                                             grid_at):
    con, (first, last), symbols = market
    grids = [r[0] for r in con.execute("SELECT DISTINCT bar_seconds FROM trading_signals").fetchall()]
    grid = [grids[0], 7, None][grid_at]  # a grid the file has, one it lacks (no rows), every grid
    start = int(first + start_at * (last - first))
    params = {"symbol": symbols[symbol_at % len(symbols)], "start_ns": start,
              "end_ns": start + minutes * 60_000_000_000, "grid": grid}
    _same_rows(con, params, GRID, VIEW_GRID)


def test_the_grid_macro_of_the_newest_hour_has_the_grids_rows_only(market):
    con, (_, last), _ = market
    grid = con.execute("SELECT min(bar_seconds) FROM trading_signals").fetchone()[0]
    hour = {"symbol": "AAPL", "start_ns": last - 3_600_000_000_000, "end_ns": last + 1}
    n = _same_rows(con, {**hour, "grid": grid}, GRID, VIEW_GRID)
    assert n > 0 and n == con.execute(
        "SELECT count(*) FROM enriched_market_data WHERE symbol = $symbol AND ts_ns >= $start_ns "
        "AND ts_ns < $end_ns AND bar_seconds = $grid", {**hour, "grid": grid}).fetchone()[0]
    assert _same_rows(con, {**hour, "grid": 7}, GRID, VIEW_GRID) == 0


def test_a_window_of_the_newest_hour_has_rows_with_quotes_sides_and_signals(market):
    con, (_, last), _ = market
    params = {"symbol": "AAPL", "start_ns": last - 3_600_000_000_000, "end_ns": last + 1}
    assert _same_rows(con, params) > 0
    sides, quoted, signalled = con.execute(
        "SELECT count(*) FILTER (trade_side <> 0), count(bid_price), count(signal_bar_end_ns) "
        "FROM enriched_market_data_between($symbol, $start_ns, $end_ns)", params).fetchone()
    assert sides > 0 and quoted > 0 and signalled > 0


STALE_SECONDS = 0.01  # 10 ms: the random streams cross it often
PRICES = [10.00, 10.01, 10.02]
SIDES = PRICES + [0.0, 10.015]  # 0: Polygon's missing side


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    path = tmp_path_factory.mktemp("between") / "b.duckdb"
    store = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path, quote_stale_seconds=STALE_SECONDS))  # type: ignore[call-arg]
    store.apply_schema()
    yield store
    store.close()


trade_rows = st.lists(st.tuples(st.integers(0, 60), st.sampled_from(PRICES), st.sampled_from([None, None, "12", "37"]),
                                st.one_of(st.none(), st.integers(0, 5)), st.integers(1, 3)), max_size=50)  # fmt: skip
quote_rows = st.lists(st.tuples(st.integers(0, 60), st.sampled_from(SIDES), st.sampled_from(SIDES),
                                st.one_of(st.none(), st.integers(0, 5))), max_size=30)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t_rows=trade_rows, q_rows=quote_rows, flat=st.booleans(), start=st.integers(-5, 65), length=st.integers(0, 70))
def test_the_macro_equals_the_view_on_random_streams(storage, t_rows, q_rows, flat, start, length):
    rows = [("AAA", *row) for row in t_rows]
    if flat:  # a change, then 1,100 prints at one price just before the window: beyond the look-back
        rows += [("AAA", start - 3, 10.02, None, None, 1), ("AAA", start - 2, 10.01, None, None, 1)]
        rows += [("AAA", start - 1, 10.01, None, i, 1) for i in range(1_100)]
    trades, quotes = _trades(rows), _quotes([("AAA", *row) for row in q_rows])
    _store(storage, trades, quotes)
    _same_rows(storage._cursor(), {"symbol": "AAA", "start_ns": start * MS, "end_ns": (start + length) * MS})


BAR_SQL = ("INSERT INTO trading_signals (symbol, bar_end_ns, bar_seconds, n_trades, volume, close, jump_detected, "
           "trading_signal, signal_reason, computed_at_ns) VALUES ($symbol, $end_ns, $grid, 1, 1.0, $close, false, "
           "'HOLD', 'test', 0)")
bar_rows = st.lists(st.tuples(st.sampled_from(["AAA", "BBB"]), st.sampled_from([1, 5]), st.integers(0, 70)),
                    max_size=12, unique=True)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t_rows=trade_rows, q_rows=quote_rows, bars=bar_rows, start=st.integers(-5, 65), length=st.integers(0, 70),
       grid=st.sampled_from([1, 5, 9, None]))
def test_the_grid_macro_equals_the_view_of_that_grid_on_random_streams(storage, t_rows, q_rows, bars, start, length,
                                                                       grid):
    """Bars of two grids (of this symbol, of another only, or none at all: then one row per trade, grid NULL)."""
    _store(storage, _trades([("AAA", *row) for row in t_rows]), _quotes([("AAA", *row) for row in q_rows]))
    storage.execute_write("DELETE FROM trading_signals")
    for k, (symbol, seconds, end) in enumerate(bars):
        storage.execute_write(BAR_SQL, {"symbol": symbol, "end_ns": end * MS, "grid": seconds, "close": 10.0 + k})
    params = {"symbol": "AAA", "start_ns": start * MS, "end_ns": (start + length) * MS, "grid": grid}
    try:
        _same_rows(storage._cursor(), params, GRID, VIEW_GRID)
        _same_rows(storage._cursor(), {k: v for k, v in params.items() if k != "grid"})  # the public macro
    finally:
        storage.execute_write("DELETE FROM trading_signals")


def test_the_readme_recipe_runs_as_written_and_on_the_files_last_hour(market):
    readme = (ROOT / "README.md").read_text()
    recipe = re.search(r"```sql\n(SELECT[^`]*?enriched_market_data_between[^`]*?)```", readme, re.S)
    assert recipe is not None, "the README's enriched_market_data_between recipe"
    con, (_, last), _ = market
    text = recipe.group(1).strip().rstrip(";")
    assert con.execute(text).fetchall() == []  # January 2026: before the simulated file
    bounds = re.search(r"\('AAPL', (\d+), (\d+)\)", text)
    assert bounds is not None
    hour = text.replace(bounds.group(0), f"('AAPL', {last - 3_600_000_000_000}, {last + 1})")
    rows = con.execute(hour).fetchall()
    assert rows and len(rows[0]) == 7
    assert len(rows) == con.execute("SELECT count(*) FROM enriched_market_data WHERE symbol = 'AAPL' AND ts_ns >= $s "
                                    "AND ts_ns < $e AND (bar_seconds = 60 OR bar_seconds IS NULL)",
                                    {"s": last - 3_600_000_000_000, "e": last + 1}).fetchone()[0]


def test_analysts_read_the_macro_through_the_sql_guard_on_duckdb_only(market_storage, market_settings, market):
    from server.sql_guard import SqlRefused, check_read_only
    from server.tools.analyst_sql import run_analyst_sql

    _, (_, last), _ = market
    sql = (f"SELECT count(*) AS n FROM enriched_market_data_between('MSFT', {last - 3_600_000_000_000}, {last + 1}) "
           "WHERE bar_seconds = 60")
    answer = run_analyst_sql(market_storage, market_settings, sql)
    assert answer.page.rows[0][0] == market_storage.fetch_all(
        "SELECT count(*) FROM enriched_market_data WHERE symbol = 'MSFT' AND ts_ns >= $s AND ts_ns < $e "
        "AND bar_seconds = 60", {"s": last - 3_600_000_000_000, "e": last + 1})[0][0] > 0
    with pytest.raises(SqlRefused, match="table function"):
        check_read_only("SELECT * FROM enriched_market_data_between('A', 1, 2)", dialect="vertica")
    with pytest.raises(SqlRefused, match="duckdb_settings"):  # its arguments are checked like any expression
        check_read_only("SELECT * FROM enriched_market_data_between('A', (SELECT 1 FROM duckdb_settings()), 2)",
                        dialect="duckdb")


def test_a_reader_of_a_file_whose_writer_predates_the_grid_macro_serves_pages(tmp_path):
    """A file written before ``enriched_market_data_between_grid`` (its ``enriched_market_data_between`` the
    3-argument macro of its own code, here a plain filter of the view) and opened read-only: the reader finds
    the grid macro missing and stands the newest macros in, so ``get_enriched_data`` pages equal the view."""
    from server.tools import market as market_tools

    path = tmp_path / "older.duckdb"
    writer = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    writer.apply_schema()
    _store(writer, _trades([("AAA", ms, 10.0 + (ms % 3) / 100, None, None, 1) for ms in range(1, 40)]),
           _quotes([("AAA", ms, 9.99, 10.03, None) for ms in range(0, 40, 5)]))
    writer.execute_write("DROP MACRO TABLE enriched_market_data_between_grid")
    writer.execute_write("CREATE OR REPLACE MACRO enriched_market_data_between(ticker, start_ns, end_ns) AS TABLE "
                         "SELECT * FROM enriched_market_data WHERE symbol = ticker AND ts_ns >= start_ns "
                         "AND ts_ns < end_ns")
    writer.close()
    reader = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path), read_only=True)  # type: ignore[call-arg]
    try:
        page = market_tools.enriched_data(reader, symbol="AAA", limit=7, bar_seconds=60, start=0)
        view = reader.fetch_all("SELECT trade_id, trade_side, quote_flags FROM enriched_market_data "
                                "WHERE symbol = 'AAA' ORDER BY ts_ns DESC LIMIT 7")
        assert page.count == 7 and [(r.trade_id, r.trade_side, r.quote_flags) for r in page.rows] == view
    finally:
        reader.close()
