"""The Vertica writer of ``bar_realized_spread`` (issue 19): ``VerticaStorage.realized_spread_due`` and
``write_realized_spread`` with the statements of ``sql/vertica/queries``.

Where no Vertica server runs, :mod:`tests.sql.vertica_on_duckdb` runs the Vertica statements (bound by
vertica-python) in DuckDB: the whole client-side transform on the Vertica backend writes the rows DuckDB's writes,
in pieces as in one pass; each statement returns what its DuckDB twin returns on the same tables. On a real
Vertica (``VERTICA_HOST``) the transform's rows are compared with DuckDB's the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.contract import BAR_REALIZED_SPREAD_SCHEMA, SIGNALS_SCHEMA
from sql.queries import load_registry
from sql.settings import Settings
from sql.vertica_backend import VerticaStorage
from tests.duckdb_one_pass import transform_in_one_pass
from tests.sql.real_vertica import needs_vertica, real_vertica, rows_of
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB
from udx.transform import run_transform

NS = 10**9
BAR = 60
END = 1_750_000_000 * NS - (1_750_000_000 % BAR) * NS  # on the bar grid; times pinned, never the wall clock
START = END - 30 * 60 * NS
STOCKS = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2]
TRADES, QUOTES = SyntheticMarket(5, 20.0, STOCKS, quote_dynamics=True, record_truth=True).history(START, END)
COLUMNS = ", ".join(f.name for f in BAR_REALIZED_SPREAD_SCHEMA if f.name != "computed_at_ns")
ROWS = f"SELECT {COLUMNS} FROM bar_realized_spread ORDER BY symbol, bar_seconds, bar_end_ns"


def _settings(**extra: Any) -> Settings:
    return Settings(_env_file=None, bar_seconds=BAR, session_stocks="00:00-24:00 UTC",  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, **extra)


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows, NaN equal to NaN (the values are computed by the same code from the same inputs)."""
    return len(a) == len(b) and all(
        u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))
        for x, y in zip(a, b, strict=True) for u, v in zip(x, y, strict=True))


def _before(table: pa.Table, end_ns: int) -> pa.Table:
    return table.filter(pc.less(table["ts_ns"], end_ns))


def _from(table: pa.Table, start_ns: int) -> pa.Table:
    return table.filter(pc.greater_equal(table["ts_ns"], start_ns))


@pytest.fixture(scope="module")
def duckdb_rows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """DuckDB's bar_realized_spread after one pass over the whole tape."""
    settings = _settings(duckdb_path=tmp_path_factory.mktemp("duck") / "one.duckdb")
    storage = transform_in_one_pass(settings, TRADES, QUOTES, now_ns=1)
    try:
        return [tuple(r) for r in storage.fetch_all(ROWS)]
    finally:
        storage.close()


def _vertica(db: VerticaOnDuckDB) -> VerticaStorage:
    return VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60, pool_size=1)


def test_the_transform_on_vertica_writes_duckdbs_realized_rows_in_pieces(duckdb_rows) -> None:
    db = VerticaOnDuckDB()
    storage = _vertica(db)
    settings = _settings(db_backend="vertica")
    try:
        cut = START + 17 * 60 * NS + 123_456_789  # mid-bar: the second run resumes from the first's tick state
        for piece in (_before, _from):
            storage.append_trades(piece(TRADES, cut))
            storage.append_quotes(piece(QUOTES, cut))
            run_transform(storage, settings, now_ns=1)
            assert db.rows("SELECT count(*) FROM bar_realized_spread")[0][0] > 0
    finally:
        storage.close()
    assert len(duckdb_rows) == 2 * (30 - 1 - 5)  # every bar but the last, less the horizon's five
    assert _same(db.rows(ROWS), duckdb_rows)


def test_a_changed_horizon_deletes_the_old_rows_and_every_bar_is_due_again(duckdb_rows) -> None:
    db = VerticaOnDuckDB()
    storage = _vertica(db)
    try:
        storage.append_trades(TRADES)
        storage.append_quotes(QUOTES)
        run_transform(storage, _settings(db_backend="vertica", liquidity_horizon_seconds=120), now_ns=1)
        assert {h for (h,) in db.rows("SELECT DISTINCT horizon_seconds FROM bar_realized_spread")} == {120}
        due, resume = storage.realized_spread_due(BAR, 300, END)
        assert resume.num_rows == 0 and db.rows("SELECT count(*) FROM bar_realized_spread") == [(0,)]
        assert due.num_rows == 2 * 29 and due.schema.names == ["symbol", "bar_end_ns"]
        run_transform(storage, _settings(db_backend="vertica"), now_ns=1)
    finally:
        storage.close()
    assert _same(db.rows(ROWS), duckdb_rows)


# --- each statement against its DuckDB twin, on the same tables ------------------------------------------
def _bars(symbol: str, ends: list[int], bar_seconds: int = BAR) -> pa.Table:
    n = len(ends)
    filler = {"string": "HOLD", "bool": False, "double": 1.0}
    columns = {f.name: pa.array([filler.get(str(f.type), 1)] * n, f.type) for f in SIGNALS_SCHEMA}
    columns.update(symbol=pa.array([symbol] * n), bar_end_ns=pa.array(ends, pa.int64()),
                   bar_seconds=pa.array([bar_seconds] * n, pa.int32()))
    return pa.table(columns, schema=SIGNALS_SCHEMA)


def _realized(symbol: str, ends: list[int], horizon: int, *, bar_seconds: int = BAR, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = len(ends)
    values = {"symbol": [symbol] * n, "bar_end_ns": ends, "bar_seconds": [bar_seconds] * n,
              "horizon_seconds": [horizon] * n, "n_trades": rng.integers(0, 9, n), "matched_volume": rng.random(n),
              "realized_spread": rng.random(n), "price_impact": rng.random(n),
              "tick_price": [None if k % 3 == 0 else float(k) for k in range(n)],
              "tick_sign": rng.integers(-1, 2, n), "computed_at_ns": [0] * n}
    return pa.table({f.name: pa.array(values[f.name], f.type) for f in BAR_REALIZED_SPREAD_SCHEMA})


@pytest.fixture
def tables() -> VerticaOnDuckDB:
    """Bars of three symbols and two grids; realized rows of two horizons for one symbol, one for another."""
    db = VerticaOnDuckDB()
    ends = [END - k * BAR * NS for k in range(12, 0, -1)]
    for symbol in ("AAA", "BBB", "CCC"):
        db.append("trading_signals", _bars(symbol, ends))
    db.append("trading_signals", _bars("AAA", ends[::5], bar_seconds=300))
    db.append("bar_realized_spread", _realized("AAA", ends[:4], 300, seed=1))
    db.append("bar_realized_spread", _realized("AAA", ends[4:6], 120, seed=2))
    db.append("bar_realized_spread", _realized("BBB", ends[:7], 300, seed=3))
    db.append("bar_realized_spread", _realized("AAA", ends[:9], 300, bar_seconds=300, seed=4))
    return db


def _twin(db: VerticaOnDuckDB, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    statement = load_registry("duckdb", "queries")[name]
    cursor = db.con.execute(statement.text, {k: params[k] for k in statement.params})
    return cursor.fetchall() if cursor.description else []


@pytest.mark.parametrize("name", ["realized_spread_resume", "realized_spread_due"])
@pytest.mark.parametrize("bar_seconds", [BAR, 300])
def test_the_reads_return_what_their_duckdb_twins_return(tables, name: str, bar_seconds: int) -> None:
    params = {"bar_seconds": bar_seconds, "until_ns": END - 2 * BAR * NS}
    got = tables.run("queries", name, params)
    assert got and _same(got, _twin(tables, name, params))


def test_the_other_horizons_delete_matches_its_twin(tables) -> None:
    params = {"bar_seconds": BAR, "horizon_seconds": 300}
    (deleted,) = tables.run("queries", "delete_realized_other_horizon", params)[0]
    left = tables.rows(ROWS)
    tables.con.execute("DELETE FROM bar_realized_spread")
    tables.append("bar_realized_spread", _realized("AAA", [1, 2], 120))
    assert (deleted, len(left)) == (2, 4 + 7 + 9) and _twin(tables, "delete_realized_other_horizon", params) == [(2,)]


def test_the_insert_adds_only_new_keys_of_live_bars_as_its_twin(tables) -> None:
    ends = [END - k * BAR * NS for k in range(12, 0, -1)]
    batch = pa.concat_tables([
        _realized("AAA", ends[:8], 300, seed=5),             # 6 stored already (4 + 2), 2 new
        _realized("CCC", ends[10:] + [END + BAR * NS], 300),  # 2 new, 1 without a live bar
        _realized("DDD", ends[:2], 300),                       # no live bar at all
    ])
    before = tables.rows(ROWS)
    tables.put("bar_realized_spread_stage", batch)
    (added,) = tables.run("queries", "insert_bar_realized_spread")[0]
    vertica_rows = tables.rows(ROWS)
    tables.con.execute("DELETE FROM bar_realized_spread")
    tables.append("bar_realized_spread", pa.Table.from_pylist(
        [dict(zip(BAR_REALIZED_SPREAD_SCHEMA.names, r + (0,), strict=True)) for r in before],
        BAR_REALIZED_SPREAD_SCHEMA))
    tables.con.register("bar_realized_spread_batch", batch)
    (twin_added,) = _twin(tables, "insert_bar_realized_spread", {})[0]
    assert (added, twin_added) == (4, 4)
    assert _same(vertica_rows, tables.rows(ROWS))


# --- a real Vertica --------------------------------------------------------------------------------------
@pytest.mark.vertica
@needs_vertica
def test_on_a_real_vertica_the_transform_writes_duckdbs_realized_rows(duckdb_rows) -> None:
    settings = _settings(db_backend="vertica")  # VERTICA_* from the environment
    with real_vertica(settings) as storage:
        cut = START + 17 * 60 * NS
        for piece in (_before, _from):
            storage.append_trades(piece(TRADES, cut))
            storage.append_quotes(piece(QUOTES, cut))
            run_transform(storage, settings, now_ns=1)
        rows = rows_of(storage, ROWS)
    assert _same(rows, duckdb_rows)
