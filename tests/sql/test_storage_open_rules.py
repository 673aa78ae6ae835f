"""What opening a DuckDB file does beyond the open itself (``sql/duckdb_backend.py``: ``apply_schema`` with its
migrations, reference rows and view settings, ``create_views``, the schema files' tables, the temporary stand-ins a
reader of an old file gets, ``reopen``, ``close``), one rule at a time; each write ``apply_schema`` makes (a new
file's stamp, a migration, the reference rows) waits for this process's other writes (every write lock). Each expected value is read from the schema,
view, migration and layout files here or written out, never taken from the backend. Small files in ``tmp_path``
and in-memory storages: seconds for the whole file (the fast judge of the mutation row ``storage-open``; the
paths as a whole: ``test_migrations.py``, ``test_old_file_stand_ins.py``)."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sql.backend import StorageError
from sql.duckdb_backend import DuckDBStorage, _as_temporary, _schema_tables
from sql.settings import Settings
from sql.view_settings import DEFAULT_VIEW_SETTINGS
from tests.sql.test_storage_read_rules import TRADES, _trades

pytestmark = pytest.mark.duckdb

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "sql" / "duckdb"
LAYOUTS = ROOT / "tests" / "data" / "layouts"
_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
_OBJECT = re.compile(r"CREATE OR REPLACE (VIEW|MACRO) (\w+)")
#: The schema files' tables in file order, and the views' (name, kind) in file order, read from the files.
TABLES = [name for f in sorted((SQL / "schema").glob("*.sql")) for name in _TABLE.findall(f.read_text("utf-8"))]
OBJECTS = [_OBJECT.search(f.read_text("utf-8")).group(2, 1)  # type: ignore[union-attr]
           for f in sorted((SQL / "views").glob("*.sql"))]  # fmt: skip
VIEWS = {name for name, kind in OBJECTS if kind == "VIEW"}
#: (version, name) of each migration file, in order.
MIGRATIONS = [(int(f.stem[:3]), f.stem[4:]) for f in sorted((SQL / "migrations").glob("[0-9]*.sql"))]
NEWEST = MIGRATIONS[-1][0]
#: The archive branch of ``trades_all`` before the manifest lists a placed file (``sql/duckdb/views/050_trades_all.sql``).
NO_ARCHIVE = "FROM (FROM market_data LIMIT 0) AS archived"


def _settings(path: Path, **more) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, **more)  # type: ignore[call-arg]


def _memory() -> DuckDBStorage:
    return DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=5.0)


def _old_file(path: Path, layout: str, version: int | None, *after: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute((LAYOUTS / f"{layout}.sql").read_text(encoding="utf-8"))
        if version is not None:
            con.execute("INSERT INTO schema_version VALUES (?, 'created', 1)", (version,))
        for statement in after:
            con.execute(statement)
    return path


def _versions(storage: DuckDBStorage) -> list[tuple[int, str]]:
    return storage.fetch_all("SELECT version, name FROM schema_version ORDER BY version, name")


# --- the schema files' tables and their temporary twins -------------------------------------------------------
def test_the_schema_tables_are_each_files_table_in_file_order():
    got = _schema_tables()
    assert [name for name, _ in got] == TABLES
    for name, text in got:
        assert f"CREATE TABLE IF NOT EXISTS {name}" in text


@pytest.mark.parametrize("text, temporary", [
    ("CREATE TABLE IF NOT EXISTS t (a INT);", "CREATE TEMP TABLE IF NOT EXISTS t (a INT);"),
    ("-- c\nCREATE OR REPLACE VIEW v AS SELECT 1;", "-- c\nCREATE OR REPLACE TEMP VIEW v AS SELECT 1;"),
    ("CREATE OR REPLACE MACRO m(x) AS x + 1;", "CREATE OR REPLACE TEMP MACRO m(x) AS x + 1;"),
    ("CREATE TABLE IF NOT EXISTS a (x INT); CREATE TABLE IF NOT EXISTS b (x INT);",
     "CREATE TEMP TABLE IF NOT EXISTS a (x INT); CREATE TABLE IF NOT EXISTS b (x INT);"),
    ("CREATE OR REPLACE VIEW v AS SELECT 1; CREATE OR REPLACE VIEW w AS SELECT 2;",
     "CREATE OR REPLACE TEMP VIEW v AS SELECT 1; CREATE OR REPLACE VIEW w AS SELECT 2;"),
    ("SELECT 1", "SELECT 1"),
])  # fmt: skip
def test_a_statement_made_temporary_changes_only_its_first_create(text, temporary):
    assert _as_temporary(text) == temporary


# --- apply_schema -----------------------------------------------------------------------------------------------
def test_a_new_file_gets_every_table_and_view_and_is_stamped_with_the_newest_version():
    storage = _memory()
    before = time.time_ns()
    storage.apply_schema()
    after = time.time_ns()
    tables = {n for (n,) in storage.fetch_all("SELECT table_name FROM duckdb_tables() WHERE NOT temporary")}
    views = {n for (n,) in storage.fetch_all("SELECT view_name FROM duckdb_views() WHERE NOT internal")}
    assert tables == set(TABLES) and views == VIEWS
    ((version, name, stamp),) = storage.fetch_all("SELECT version, name, applied_at_ns FROM schema_version")
    assert (version, name) == (NEWEST, "created") and before <= stamp <= after


def test_a_second_apply_changes_nothing():
    storage = _memory()
    storage.apply_schema()
    once = (_versions(storage), storage.fetch_all("SELECT count(*) FROM trade_conditions"),
            storage.fetch_all("SELECT * FROM view_settings ORDER BY ALL"))  # fmt: skip
    storage.apply_schema()
    assert (_versions(storage), storage.fetch_all("SELECT count(*) FROM trade_conditions"),
            storage.fetch_all("SELECT * FROM view_settings ORDER BY ALL")) == once  # fmt: skip


def test_the_view_settings_are_stored_by_name(tmp_path):
    storage = _memory()
    storage.apply_schema()
    stored = dict(storage.fetch_all("SELECT name, value FROM view_settings"))
    assert stored == {name: value for name, value in DEFAULT_VIEW_SETTINGS.items()}
    custom = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=1.0,
                           view_settings={name: value + 7 for name, value in DEFAULT_VIEW_SETTINGS.items()})
    custom.apply_schema()
    assert dict(custom.fetch_all("SELECT name, value FROM view_settings")) == {
        name: value + 7 for name, value in DEFAULT_VIEW_SETTINGS.items()}


def test_the_shipped_reference_rows_replace_what_the_file_held():
    storage = _memory()
    storage.apply_schema()
    conditions = storage.fetch_all("SELECT * FROM trade_conditions ORDER BY ALL")
    corrections = storage.fetch_all("SELECT * FROM trade_corrections ORDER BY ALL")
    assert conditions and corrections
    storage.execute_write("DELETE FROM trade_conditions WHERE rowid % 2 = 0")
    storage.execute_write("DELETE FROM trade_corrections")
    storage.apply_schema()
    assert storage.fetch_all("SELECT * FROM trade_conditions ORDER BY ALL") == conditions
    assert storage.fetch_all("SELECT * FROM trade_corrections ORDER BY ALL") == corrections


def test_the_condition_strings_stored_trades_hold_are_listed_and_decided_at_apply(tmp_path):
    path = tmp_path / "c.duckdb"
    storage = DuckDBStorage.open(_settings(path))
    storage.apply_schema()
    storage.append_trades(_trades(TRADES[:3]))  # conditions "12"
    storage.execute_write("DELETE FROM trade_condition_sets")  # an empty lookup: listed again from the trades
    storage.apply_schema()
    assert storage.fetch_all("SELECT conditions FROM trade_condition_sets") == [("12",)]
    assert storage._condition_sets == {"12"}
    decided = storage.fetch_all("SELECT * FROM trade_condition_sets")[0]
    assert None not in decided  # its rules decided from the shipped tables
    storage.close()


@pytest.mark.parametrize("layout, not_needed", [
    ("duckdb_bc1f731", set()),  # market_data and trading_signals with PRIMARY KEYs: 001 and 002 drop them
    ("duckdb_10e73b1", {1, 2}),  # no keys (its header): 001 and 002 have nothing to do
])  # fmt: skip
def test_an_old_file_gets_each_pending_migration_once_in_order_and_logged(tmp_path, caplog, layout, not_needed):
    path = _old_file(tmp_path / "old.duckdb", layout, None,
                     "INSERT INTO market_data (market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape,"
                     " sequence, received_ns, source) VALUES ('stocks', 'AAPL', 1, 2.0, 3.0, 4, 't', '', 3, 7, 1, 'sim')")
    caplog.set_level(logging.INFO, logger="microstructure.sql")
    storage = DuckDBStorage.open(_settings(path))
    before = time.time_ns()
    storage.apply_schema()
    after = time.time_ns()
    assert _versions(storage) == MIGRATIONS
    stamps = [s for (s,) in storage.fetch_all("SELECT applied_at_ns FROM schema_version")]
    assert all(before <= s <= after for s in stamps)
    logged = [r.getMessage() for r in caplog.records if "schema migration" in r.getMessage()]
    label = f"DUCKDB_PATH {str(path)!r}"
    said = [re.fullmatch(rf"{re.escape(label)}: schema migration (\d{{3}}) (\w+) (applied|not needed)", m) for m in logged]
    assert all(said) and [(int(m.group(1)), m.group(2)) for m in said] == MIGRATIONS  # type: ignore[union-attr]
    assert {int(m.group(1)) for m in said if m.group(3) == "not needed"} == not_needed  # type: ignore[union-attr]
    assert storage.fetch_one("SELECT count(*) FROM market_data") == (1,)
    storage.apply_schema()
    assert _versions(storage) == MIGRATIONS  # none again
    storage.close()


def test_a_migration_that_fails_is_rolled_back_with_its_record(tmp_path):
    path = _old_file(tmp_path / "bad.duckdb", "duckdb_bc1f731", None,
                     "ALTER TABLE market_data ADD COLUMN not_known INTEGER")  # fmt: skip
    storage = DuckDBStorage.open(_settings(path))
    with pytest.raises(duckdb.Error, match="not_known"):
        storage.apply_schema()
    assert _versions(storage) == []
    storage.close()


def test_a_file_versioned_by_rows_gets_only_the_migrations_after_its_version(tmp_path):
    path = _old_file(tmp_path / "v3.duckdb", "duckdb_f582240", 3)
    storage = DuckDBStorage.open(_settings(path))
    storage.apply_schema()
    assert _versions(storage) == [(3, "created"), *[m for m in MIGRATIONS if m[0] > 3]]
    assert storage._schema_version(storage._cursor()) == NEWEST
    storage.close()


def test_the_schema_version_of_a_new_an_unversioned_and_a_versioned_file(tmp_path):
    new = _memory()
    assert new._schema_version(new._cursor()) is None
    unversioned = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=1.0)
    unversioned.execute_write("CREATE TABLE market_data (x INT)")
    assert unversioned._schema_version(unversioned._cursor()) == 0
    unversioned.execute_write("CREATE TABLE schema_version (version INT, name VARCHAR, applied_at_ns BIGINT)")
    unversioned.execute_write("INSERT INTO schema_version VALUES (2, 'a', 0), (4, 'b', 0)")
    assert unversioned._schema_version(unversioned._cursor()) == 4


# --- the views ----------------------------------------------------------------------------------------------------
def test_create_views_replaces_each_view_and_reads_the_archive_once_placed(tmp_path):
    storage = DuckDBStorage.open(_settings(tmp_path / "v.duckdb"))
    storage.apply_schema()
    storage.execute_write("DROP VIEW quote_book")
    storage.create_views()
    assert {n for (n,) in storage.fetch_all("SELECT view_name FROM duckdb_views() WHERE NOT internal")} == VIEWS
    texts = dict(storage._view_texts(storage._cursor()))
    assert list(texts) == [name for name, _ in OBJECTS]
    assert NO_ARCHIVE in texts["trades_all"]
    path = "trades/market=stocks/date=2023-11-14/symbol=ZZ/part-1.parquet"
    (storage.archive_root / path).parent.mkdir(parents=True)
    pq.write_table(_trades([("ZZ", 0, 0, 4, "z0", 1.5, 0)]), storage.archive_root / path)
    storage.execute_write("INSERT INTO archive_manifest VALUES ('trades', 'stocks', DATE '2023-11-14', 'ZZ', $p, $p, "
                          "1, 0, '', 0, 0, 0, true)", {"p": path})  # fmt: skip
    texts = dict(storage._view_texts(storage._cursor()))
    assert str(storage.archive_root) in texts["trades_all"] and str(storage.archive_root) not in texts["quotes_all"]
    storage.create_views()
    assert storage.read_trades_with_archive("ZZ", 0, 2**62).column("price").to_pylist() == [1.5]
    storage.close()


def test_without_an_archive_root_the_views_read_no_file(tmp_path):
    storage = _memory()  # archive_root None
    storage.apply_schema()
    storage.execute_write("INSERT INTO archive_manifest VALUES ('trades', 'stocks', DATE '2023-11-14', 'ZZ', 'p', "
                          "'p', 1, 0, '', 0, 0, 0, true)")  # fmt: skip
    texts = dict(storage._view_texts(storage._cursor()))
    assert NO_ARCHIVE in texts["trades_all"]
    storage.create_views()
    assert storage.fetch_one("SELECT count(*) FROM trades_all") == (0,)


# --- a reader of an old file ---------------------------------------------------------------------------------------
def _temporary(storage: DuckDBStorage) -> tuple[set[str], set[str]]:
    tables = {n for (n,) in storage.fetch_all("SELECT table_name FROM duckdb_tables() WHERE temporary")}
    views = {n for (n,) in storage.fetch_all("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal "
                                             "UNION SELECT function_name FROM duckdb_functions() "
                                             "WHERE database_name = 'temp'")}  # fmt: skip
    return tables, views


def test_a_reader_of_an_old_file_sees_the_missing_tables_empty_and_the_newest_views(tmp_path, caplog):
    layout = "duckdb_f582240"
    path = _old_file(tmp_path / "r.duckdb", layout, 3)
    held = set(_TABLE.findall((LAYOUTS / f"{layout}.sql").read_text("utf-8")))
    missing = [t for t in TABLES if t not in held]
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    reader = DuckDBStorage.open(_settings(path), read_only=True)
    try:
        assert _temporary(reader) == (set(missing), {name for name, _ in OBJECTS})
        assert [r.getMessage() for r in caplog.records] == [
            f"DUCKDB_PATH {str(path)!r} was written by older code and is not migrated to {', '.join(missing)} yet (a "
            "writer's open does it): they stand empty for this reader meanwhile (daily metrics are computed from the "
            "trades)"]  # fmt: skip
        assert reader.fetch_one("SELECT count(*) FROM quote_book") == (0,)
        assert reader._cursor_setup[:len(missing)] == tuple(
            _as_temporary(dict(_schema_tables())[t]) for t in missing)
    finally:
        reader.close()


def test_a_table_a_pending_migration_widens_stands_in_as_its_reader_view(tmp_path, caplog):
    path = _old_file(tmp_path / "w.duckdb", "duckdb_57de66c", 4,
                     "INSERT INTO bar_liquidity VALUES ('AAPL', 120, 60, 7, 0.001, 0.002, 300.0, 200.0, 100.0, 0.2, "
                     "0.1, 1e-9, 0.01, 2e-6, 9)")  # fmt: skip
    reader = DuckDBStorage.open(_settings(path), read_only=True)
    try:
        assert "bar_liquidity" in _temporary(reader)[1]
        assert reader.fetch_all("SELECT n_quotes, vpin_lee_ready FROM bar_liquidity") == [(7, None)]
    finally:
        reader.close()


def test_a_reader_of_a_newest_file_needs_no_stand_in_and_a_lacking_view_gets_one(tmp_path, caplog):
    path = tmp_path / "n.duckdb"
    writer = DuckDBStorage.open(_settings(path))
    writer.apply_schema()
    writer.close()
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    reader = DuckDBStorage.open(_settings(path), read_only=True)
    assert reader._cursor_setup == () and _temporary(reader) == (set(), set()) and caplog.records == []
    reader.close()
    with duckdb.connect(str(path)) as con:
        con.execute("DROP VIEW quote_book")
    reader = DuckDBStorage.open(_settings(path), read_only=True)
    try:
        assert reader.fetch_one("SELECT count(*) FROM quote_book") == (0,)
        assert [r.getMessage() for r in caplog.records][-1].endswith(
            "is not migrated to the newest views yet (a writer's open does it): they stand empty for this reader "
            "meanwhile (daily metrics are computed from the trades)")  # fmt: skip
    finally:
        reader.close()


def test_a_view_an_old_table_cannot_carry_is_left_as_the_file_has_it_and_named(tmp_path, caplog):
    path = _old_file(tmp_path / "odd.duckdb", "duckdb_f582240", 3, "ALTER TABLE trading_signals DROP COLUMN close")
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    reader = DuckDBStorage.open(_settings(path), read_only=True)
    try:
        logged = [r.getMessage() for r in caplog.records]
        kept = [re.match(rf"DUCKDB_PATH {re.escape(repr(str(path)))}: the view (\w+) stays as the file has it "
                         r"\((.+)\)$", m) for m in logged[:-1]]  # fmt: skip
        assert kept and all(kept) and all("close" in m.group(2) and "\n" not in m.group(2) for m in kept)
        names = {m.group(1) for m in kept}
        assert _temporary(reader)[1] == {name for name, _ in OBJECTS} - names
    finally:
        reader.close()


# --- reopen and close -------------------------------------------------------------------------------------------
def test_reopen_keeps_the_rows_and_replaces_the_cursor(tmp_path):
    storage = DuckDBStorage.open(_settings(tmp_path / "o.duckdb"))
    storage.apply_schema()
    storage.append_trades(_trades(TRADES[:2]))
    old_root, old_cursor = storage._root, storage._cursor()
    storage.reopen()
    assert storage._root is not old_root and storage._cursor() is not old_cursor
    assert storage.fetch_one("SELECT count(*) FROM market_data") == (2,)
    with pytest.raises(duckdb.Error):
        old_root.execute("SELECT 1")
    storage.reopen()
    assert storage.fetch_one("SELECT count(*) FROM market_data") == (2,)
    storage.close()


def test_reopen_takes_every_write_lock():
    storage = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=1.0, connect=duckdb.connect)
    storage._quotes_lock.acquire()
    try:
        import threading

        done = threading.Event()
        worker = threading.Thread(target=lambda: (storage.reopen(), done.set()))
        worker.start()
        assert not done.wait(0.3)  # waits for the quotes lock
    finally:
        storage._quotes_lock.release()
    worker.join(10)
    assert done.is_set()


def test_a_storage_not_opened_from_a_path_cannot_reopen():
    with pytest.raises(StorageError) as refused:
        _memory().reopen()
    assert str(refused.value) == "this storage was not opened from a path and cannot reopen"


def test_close_closes_the_file_and_a_writers_close_drops_its_floors(tmp_path):
    path = tmp_path / "f.duckdb"
    writer = DuckDBStorage.open(_settings(path))
    writer.apply_schema()
    drops = DuckDBStorage._realized_drops.get(writer._file_key, 0)
    writer.close()
    assert DuckDBStorage._realized_drops.get(writer._file_key, 0) == drops + 1
    with pytest.raises(duckdb.Error):
        writer._root.execute("SELECT 1")
    reader = DuckDBStorage.open(_settings(path), read_only=True)
    reader.close()
    assert DuckDBStorage._realized_drops.get(writer._file_key, 0) == drops + 1  # a reader drops none
    with pytest.raises(duckdb.Error):
        reader._root.execute("SELECT 1")


def test_a_migration_waits_for_the_writes_of_this_process(tmp_path):
    """Each migration runs under every write lock: while another thread holds one, nothing is migrated yet."""
    import threading

    path = _old_file(tmp_path / "m.duckdb", "duckdb_bc1f731", None)
    storage = DuckDBStorage.open(_settings(path))
    storage._quotes_lock.acquire()
    try:
        worker = threading.Thread(target=storage.apply_schema)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and _versions(storage) == []  # waiting before the first migration
    finally:
        storage._quotes_lock.release()
    worker.join(30)
    assert _versions(storage) == MIGRATIONS
    storage.close()


def test_listing_the_stored_condition_strings_waits_for_the_writes_of_this_process(tmp_path):
    """An empty lookup is listed again from the stored trades under every write lock."""
    import threading

    storage = DuckDBStorage.open(_settings(tmp_path / "l.duckdb"))
    storage.apply_schema()
    storage.append_trades(_trades(TRADES[:2]))
    storage.execute_write("DELETE FROM trade_condition_sets")
    storage._market_lock.acquire()
    try:
        worker = threading.Thread(target=storage.apply_schema)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and storage.fetch_all("SELECT conditions FROM trade_condition_sets") == []
    finally:
        storage._market_lock.release()
    worker.join(30)
    assert storage.fetch_all("SELECT conditions FROM trade_condition_sets") == [("12",)]
    storage.close()


def _waits_for_the_quotes_lock(storage: DuckDBStorage, held: str) -> list[tuple]:
    """Run ``apply_schema`` on another thread while this one holds the quotes lock: the rows of the query ``held``
    while it waits; then let it finish."""
    import threading

    storage._quotes_lock.acquire()
    try:
        worker = threading.Thread(target=storage.apply_schema)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive()  # it waits for the lock
        seen = storage.fetch_all(held)
    finally:
        storage._quotes_lock.release()
    worker.join(30)
    assert not worker.is_alive()
    return seen


def test_a_new_files_stamp_waits_for_the_writes_of_this_process(tmp_path):
    storage = DuckDBStorage.open(_settings(tmp_path / "s.duckdb"))
    storage.execute_write("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, name VARCHAR NOT NULL, "
                          "applied_at_ns BIGINT NOT NULL)")  # fmt: skip
    assert _waits_for_the_quotes_lock(storage, "SELECT * FROM schema_version") == []
    assert _versions(storage) == [(NEWEST, "created")]
    storage.close()


def test_reloading_the_reference_rows_waits_for_the_writes_of_this_process(tmp_path):
    storage = DuckDBStorage.open(_settings(tmp_path / "t.duckdb"))
    storage.apply_schema()
    storage.append_trades(_trades(TRADES[:1]))  # a listed condition string: the reload is the first write
    shipped = storage.fetch_all("SELECT * FROM trade_corrections ORDER BY ALL")
    storage.execute_write("DELETE FROM trade_corrections")
    assert _waits_for_the_quotes_lock(storage, "SELECT * FROM trade_corrections") == []
    assert storage.fetch_all("SELECT * FROM trade_corrections ORDER BY ALL") == shipped
    storage.close()


def test_a_file_newer_than_the_code_is_refused_naming_the_file(tmp_path):
    from sql.migrations import SchemaTooNew

    path = tmp_path / "future.duckdb"
    storage = DuckDBStorage.open(_settings(path))
    storage.apply_schema()
    storage.execute_write("INSERT INTO schema_version VALUES ($v, 'from the future', 1)", {"v": NEWEST + 2})
    with pytest.raises(SchemaTooNew) as refused:
        storage.apply_schema()
    assert str(path) in str(refused.value) and f"schema version {NEWEST + 2}" in str(refused.value)
    storage.close()
