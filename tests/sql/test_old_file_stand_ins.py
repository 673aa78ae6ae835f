"""A reader of a file older code wrote (``DuckDBStorage.open(read_only=True)``) on its own cursors: the tables
the file lacks stand in as empty temporary tables, a table a pending migration widens as its ``readers/`` view,
every view as a temporary view of the newest definition, one that the old tables cannot carry stays as the file
has it (logged); nothing stands in for a file at the newest layout. What is expected is read from the schema,
view and layout files here, not from the backend (the tools on such a file: ``tests/server/test_old_file_reader.py``).
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import duckdb
import pytest

from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = pytest.mark.duckdb

ROOT = Path(__file__).resolve().parents[2]
LAYOUTS = ROOT / "tests" / "data" / "layouts"
_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def _tables(files: list[Path]) -> list[str]:
    return [name for f in files for name in _TABLE.findall(f.read_text(encoding="utf-8"))]


SCHEMA_TABLES = _tables(sorted((ROOT / "sql" / "duckdb" / "schema").glob("*.sql")))
#: (name, VIEW or MACRO) of each file of sql/duckdb/views, in order
_OBJECTS = [re.search(r"CREATE OR REPLACE (VIEW|MACRO) (\w+)", f.read_text(encoding="utf-8")).group(2, 1)  # type: ignore[union-attr]
            for f in sorted((ROOT / "sql" / "duckdb" / "views").glob("*.sql"))]
VIEWS = [name for name, kind in _OBJECTS if kind == "VIEW"]
MACROS = {name for name, kind in _OBJECTS if kind == "MACRO"}


def _old_file(path: Path, layout: str, version: int, *after: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute((LAYOUTS / f"{layout}.sql").read_text(encoding="utf-8"))
        con.execute("INSERT INTO schema_version VALUES (?, 'created', 1)", (version,))
        for statement in after:
            con.execute(statement)
    return path


def _newest_file(path: Path, *after: str) -> Path:
    """A file a writer of today's code made (schema applied, closed), then ``after`` run on it."""
    writer = DuckDBStorage.open(Settings(duckdb_path=path))
    writer.apply_schema()
    writer.close()
    if after:
        with duckdb.connect(str(path)) as con:
            for statement in after:
                con.execute(statement)
    return path


def _temporary(storage: DuckDBStorage) -> tuple[set[str], set[str]]:
    """The temporary tables and the temporary views and macros this thread's cursor sees."""
    tables = {name for (name,) in storage.fetch_all("SELECT table_name FROM duckdb_tables() WHERE temporary")}
    views = {name for (name,) in storage.fetch_all(
        "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal UNION "
        "SELECT function_name FROM duckdb_functions() WHERE database_name = 'temp'")}
    return tables, views


def _reader(path: Path, caplog: pytest.LogCaptureFixture) -> tuple[DuckDBStorage, list[str]]:
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    caplog.clear()
    storage = DuckDBStorage.open(Settings(duckdb_path=path), read_only=True)
    return storage, [r.getMessage() for r in caplog.records if r.name == "microstructure.sql"]


def _older(path: Path, missing: str) -> str:
    return (f"DUCKDB_PATH {str(path)!r} was written by older code and is not migrated to {missing} yet (a writer's "
            "open does it): they stand empty for this reader meanwhile (daily metrics are computed from the trades)")


def test_the_tables_an_old_file_lacks_stand_in_empty_and_every_view_is_the_newest(tmp_path, caplog):
    layout = "duckdb_f582240"
    path = _old_file(tmp_path / "old.duckdb", layout, 3)
    missing = [t for t in SCHEMA_TABLES if t not in set(_tables([LAYOUTS / f"{layout}.sql"]))]
    assert "daily_metrics" in missing and "bar_liquidity" in missing  # what the layout's header says it lacks
    storage, logged = _reader(path, caplog)
    try:
        assert logged == [_older(path, ", ".join(missing))]
        seen: list[tuple[set[str], set[str]]] = []
        thread = threading.Thread(target=lambda: seen.append(_temporary(storage)))  # another thread's cursor
        thread.start()
        thread.join()
        assert seen == [_temporary(storage)] == [(set(missing), {*VIEWS, *MACROS})]
        for table in missing:
            assert storage.fetch_one(f"SELECT count(*) FROM {table}") == (0,), table
        assert storage.fetch_one("SELECT count(*) FROM quote_book") == (0,)  # a view the old file did not have
    finally:
        storage.close()


def test_a_table_a_pending_migration_widens_reads_with_the_new_column_null(tmp_path, caplog):
    layout = "duckdb_57de66c"
    path = _old_file(tmp_path / "v4.duckdb", layout, 4)
    missing = [t for t in SCHEMA_TABLES if t not in set(_tables([LAYOUTS / f"{layout}.sql"]))]
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO bar_liquidity VALUES ('AAPL', 120, 60, 7, 0.001, 0.002, 300.0, 200.0, 100.0, 0.2,"
                    " 0.1, 1e-9, 0.01, 2e-6, 9)")
    storage, logged = _reader(path, caplog)
    try:
        assert logged == [_older(path, ", ".join(missing) or "the newest views")]
        tables, views = _temporary(storage)
        assert tables == set(missing) and views == {*VIEWS, *MACROS, "bar_liquidity"}
        assert storage.fetch_all("SELECT n_quotes, order_imbalance, vpin_lee_ready FROM bar_liquidity") == [
            (7, 0.2, None)]
    finally:
        storage.close()


def test_a_view_the_old_tables_cannot_carry_stays_as_the_file_has_it(tmp_path, caplog):
    # an old file whose trading_signals lost a column the newest views read: those views stay as the file has
    # them (logged, one line each); every other view still stands in with the newest definition
    path = _old_file(tmp_path / "odd.duckdb", "duckdb_f582240", 3, "ALTER TABLE trading_signals DROP COLUMN close")
    storage, logged = _reader(path, caplog)
    try:
        kept = re.compile(rf"DUCKDB_PATH {re.escape(repr(str(path)))}: the view (\w+) stays as the file has it "
                          r"\(([^\n]+)\)$")
        stayed = [kept.match(m) for m in logged[:-1]]
        assert stayed and all(stayed), logged
        assert all("close" in m.group(2) for m in stayed)  # each names why: the column the old table lacks
        _, views = _temporary(storage)
        names = [m.group(1) for m in stayed]
        assert views == {*VIEWS, *MACROS} - set(names) and names[-1] != VIEWS[-1]  # went on after each
        assert logged[-1].startswith(f"DUCKDB_PATH {str(path)!r} was written by older code")
    finally:
        storage.close()


def test_a_reader_of_a_file_at_the_newest_layout_needs_no_stand_in(tmp_path, caplog):
    path = _newest_file(tmp_path / "new.duckdb")
    storage, logged = _reader(path, caplog)
    try:
        assert logged == [] and _temporary(storage) == (set(), set())
    finally:
        storage.close()


def test_a_file_with_every_view_but_not_every_table_gets_the_table_standing_in(tmp_path, caplog):
    # a file of code that had every view name of today but not yet the newest table (here: dropped from a new
    # file): the view names alone do not make the layout the newest
    path = _newest_file(tmp_path / "lacks.duckdb", "DROP TABLE bar_realized_spread")
    storage, logged = _reader(path, caplog)
    try:
        assert logged == [_older(path, "bar_realized_spread")]
        assert storage.fetch_one("SELECT count(*) FROM bar_realized_spread") == (0,)
        assert _temporary(storage) == ({"bar_realized_spread"}, {*VIEWS, *MACROS})
    finally:
        storage.close()


def test_a_file_lacking_only_a_view_is_told_it_lacks_the_newest_views(tmp_path, caplog):
    path = _newest_file(tmp_path / "views.duckdb", "DROP VIEW quote_book")
    storage, logged = _reader(path, caplog)
    try:
        assert logged == [_older(path, "the newest views")]
        assert storage.fetch_one("SELECT count(*) FROM quote_book") == (0,)
    finally:
        storage.close()
