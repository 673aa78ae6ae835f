"""Opening a DuckDB file, one rule a test, on tiny files in this process (no subprocess, no market data): what a
path that cannot be a database is told, the instance's settings and lock-down, each thread's cursor, ``reopen``,
a reader of a file newer code migrated and of a file no writer gave the schema, and the settings the open hands
to the storage (time limit, view settings, archive folder, the file's name in messages).

The mutation group ``storage-open-core`` (``scripts/mutation``) runs this file alone for the open family of
``sql/duckdb_backend.py``: every test here reaches ``open``, so a mutant of it costs this file (a few seconds)
rather than every storage test. Expected texts are written out here, not taken from the backend.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sql.backend import DatabaseHeld, QueryTimeout, StatementError, StorageError
from sql.duckdb_backend import DuckDBStorage, _open_error, instance_config
from sql.migrations import SchemaTooNew, latest_version
from sql.settings import Settings

pytestmark = pytest.mark.duckdb


def _refused(path: Path, *, read_only: bool = False) -> str:
    with pytest.raises(StorageError) as refused:
        DuckDBStorage.open(Settings(duckdb_path=path), read_only=read_only)
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_paths_that_cannot_be_a_database_are_refused_naming_the_cause(tmp_path):
    where = f"DUCKDB_PATH {str(tmp_path)!r}"
    assert _refused(tmp_path, read_only=True) == (f"{where} is a directory, not a DuckDB database file; point "
                                                  "DUCKDB_PATH at a file")  # fmt: skip
    short = tmp_path / "short.duckdb"
    short.write_bytes(b"\0" * 8 + b"DU")  # 10 bytes: the magic cut off
    assert _refused(short, read_only=True) == (
        f"DUCKDB_PATH {str(short)!r} is not a DuckDB database file (a CSV, Parquet or other file?); point "
        "DUCKDB_PATH at a DuckDB file, or at a new path to create one")  # fmt: skip
    empty = tmp_path / "empty.duckdb"
    empty.write_bytes(b"")
    assert _refused(empty, read_only=True) == (f"DUCKDB_PATH {str(empty)!r} is an empty file; point DUCKDB_PATH "
                                               "at a DuckDB file, or at a new path to create one")  # fmt: skip
    assert short.read_bytes() == b"\0" * 8 + b"DU" and empty.read_bytes() == b""  # neither file touched


def test_a_file_that_exists_but_cannot_be_read_is_told_why(tmp_path):
    path = tmp_path / "socket.duckdb"  # exists, is no folder, and open() fails (ENXIO) even for root
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert _refused(path) == f"DUCKDB_PATH {str(path)!r} cannot be read: No such device or address"
    finally:
        server.close()


def test_a_file_with_the_magic_that_duckdb_cannot_open_is_named_with_duckdbs_first_line(tmp_path):
    path = tmp_path / "corrupt.duckdb"
    path.write_bytes(b"\0" * 8 + b"DUCK" + b"\1" * 5000)
    message = _refused(path)
    assert message.startswith(f"cannot open DUCKDB_PATH {str(path)!r}: ")
    assert "checksum" in message  # DuckDB's own first line follows the colon


def test_a_lock_message_names_the_holder_when_duckdb_does(tmp_path):
    path = tmp_path / "held.duckdb"
    first_line = f'IO Error: Could not set lock on file "{path}": Conflicting lock is held in /usr/bin/python3'
    named = _open_error(path, duckdb.IOException(f"{first_line} (PID 4242) by user u.\nSee also ..."))
    assert isinstance(named, DatabaseHeld) and named.pid == 4242 and named.path == str(path)
    assert str(named) == f"{str(path)!r} is held by another process: {first_line} (PID 4242) by user u."
    unnamed = _open_error(path, duckdb.IOException(f'IO Error: Could not set lock on file "{path}"'))
    assert isinstance(unnamed, DatabaseHeld) and unnamed.pid is None and unnamed.path == str(path)
    other = _open_error(path, duckdb.IOException("IO Error: something else\nsecond line"))
    assert type(other) is StorageError
    assert str(other) == f"cannot open DUCKDB_PATH {str(path)!r}: IO Error: something else"
    silent = _open_error(path, duckdb.IOException())  # an error without text is named by its type
    assert type(silent) is StorageError and str(silent) == f"cannot open DUCKDB_PATH {str(path)!r}: IOException"
    short = _open_error(path, duckdb.IOException("IO Error: Could not read enough bytes from file: 12 < 4096"))
    assert type(short) is StorageError and str(short) == (
        f"DUCKDB_PATH {str(path)!r} is truncated or damaged (DuckDB: IO Error: Could not read enough bytes from "
        "file: 12 < 4096); restore it from a copy")  # fmt: skip


def test_a_writer_creates_the_file_in_a_new_or_an_existing_folder_and_a_reader_never_does(tmp_path):
    missing = tmp_path / "missing.duckdb"
    assert _refused(missing, read_only=True) == (f"DUCKDB_PATH {str(missing)!r} does not exist; run the demo or "
                                                 "a loader first")  # fmt: skip
    assert not missing.exists()
    for path in (tmp_path / "here.duckdb", tmp_path / "new" / "deeper" / "there.duckdb"):
        DuckDBStorage.open(Settings(duckdb_path=path)).close()
        assert path.is_file() and path.read_bytes()[8:12] == b"DUCK"


def test_the_instance_takes_threads_and_memory_limit_from_the_settings(tmp_path):
    assert instance_config(Settings(duckdb_path=tmp_path / "x", duckdb_threads=3)) == {"threads": 3}
    settings = Settings(duckdb_path=tmp_path / "c.duckdb", duckdb_threads=3, duckdb_memory_limit="1GB")
    assert instance_config(settings) == {"threads": 3, "memory_limit": "1GB"}
    store = DuckDBStorage.open(settings)
    try:
        assert store.fetch_one("SELECT current_setting('threads'), current_setting('memory_limit')") == (
            3, "953.6 MiB")  # 1 GB = 10^9 bytes, shown in MiB
    finally:
        store.close()


def test_the_instance_is_locked_down_but_the_archive_folder_stays_reachable(tmp_path):
    archive = tmp_path / "archive"
    outside = tmp_path / "outside.parquet"
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "l.duckdb", archive_path=archive))
    try:
        assert store.archive_root == archive
        archive.mkdir()
        store.execute_write(f"COPY (SELECT 7 AS x) TO '{archive}/a.parquet' (FORMAT parquet)")
        assert store.fetch_one(f"SELECT x FROM read_parquet('{archive}/a.parquet')") == (7,)
        with pytest.raises(duckdb.PermissionException):
            store.execute_write(f"COPY (SELECT 7 AS x) TO '{outside}' (FORMAT parquet)")
        assert not outside.exists()
        with pytest.raises(StatementError, match="Permission Error"):
            store.run_sql("SELECT * FROM read_csv('/etc/hostname')", 5)
        with pytest.raises(duckdb.Error, match="locked"):
            store.execute_write("SET threads = 1")
        # a second storage of the same file in this process shares the locked instance: its open changes nothing
        again = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "l.duckdb", archive_path=archive))
        assert again.fetch_one(f"SELECT x FROM read_parquet('{archive}/a.parquet')") == (7,)
        with pytest.raises(duckdb.PermissionException):
            again.execute_write(f"COPY (SELECT 7 AS x) TO '{outside}' (FORMAT parquet)")
        again.close()
    finally:
        store.close()


def _in_thread(call):
    out: list = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return out[0]


def test_each_thread_keeps_its_own_cursor_until_reopen(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "t.duckdb"))
    try:
        store.execute_write("CREATE TEMP TABLE mine AS SELECT 1 AS x")  # temporary: this cursor's only
        assert store.fetch_one("SELECT x FROM mine") == (1,)  # the same cursor on the next call
        assert isinstance(_in_thread(lambda: store.fetch_one("SELECT x FROM mine")), duckdb.CatalogException)
        store.reopen()
        with pytest.raises(duckdb.CatalogException):  # a new cursor after reopen
            store.fetch_one("SELECT x FROM mine")
        assert store.fetch_one("SELECT 2") == (2,)
    finally:
        store.close()
    bare = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=1.0)
    with pytest.raises(StorageError, match="^this storage was not opened from a path and cannot reopen$"):
        bare.reopen()
    bare.close()


def test_the_time_limit_comes_from_the_settings_in_milliseconds(tmp_path):
    # 600 ms: a limit that is not exactly 1000 times the seconds the storage keeps would print as 599
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "q.duckdb", mcp_query_timeout_ms=600))
    try:
        with pytest.raises(QueryTimeout, match="^the statement exceeded MCP_QUERY_TIMEOUT_MS=600$"):
            store.run_sql("SELECT count(*) FROM range(100000000000) a", 5)
    finally:
        store.close()


def test_a_writer_stores_its_view_settings_and_a_bare_storage_the_defaults(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "v.duckdb", quote_stale_seconds=1.5))
    try:
        store.apply_schema()
        assert store.fetch_all("SELECT name, value FROM view_settings") == [("quote_stale_ns", 1_500_000_000)]
    finally:
        store.close()
    bare = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=1.0)
    try:
        bare.apply_schema()
        assert bare.fetch_all("SELECT name, value FROM view_settings") == [("quote_stale_ns", 300_000_000_000)]
    finally:
        bare.close()


def test_a_reader_of_a_file_newer_code_migrated_is_refused_and_lets_the_file_go(tmp_path):
    path = tmp_path / "newer.duckdb"
    writer = DuckDBStorage.open(Settings(duckdb_path=path))
    writer.apply_schema()
    newer = latest_version("duckdb") + 1
    writer.execute_write(f"INSERT INTO schema_version VALUES ({newer}, 'from_the_future', 0)")
    writer.close()
    with pytest.raises(SchemaTooNew) as refused:
        DuckDBStorage.open(Settings(duckdb_path=path), read_only=True)
    assert str(refused.value) == (f"DUCKDB_PATH {str(path)!r} has schema version {newer}, newer than this code's "
                                  f"{newer - 1}: it was written by a newer microstructure; upgrade the code to "
                                  "open it")  # fmt: skip
    # the refused reader closed its instance: this process can open the file with another configuration now
    other = DuckDBStorage.open(Settings(duckdb_path=path, duckdb_threads=1))
    assert other.fetch_one("SELECT max(version) FROM schema_version") == (newer,)
    other.close()
    bare = DuckDBStorage(duckdb.connect(str(path)), read_only=False, query_timeout_s=1.0)  # no label given
    try:
        with pytest.raises(SchemaTooNew, match=f"^the DuckDB file has schema version {newer}, newer than"):
            bare.apply_schema()
    finally:
        bare.close()


def test_a_reader_of_a_file_no_writer_gave_the_schema_sees_empty_tables_on_every_thread(tmp_path):
    path = tmp_path / "bare.duckdb"
    DuckDBStorage.open(Settings(duckdb_path=path)).close()  # created, no schema applied
    reader = DuckDBStorage.open(Settings(duckdb_path=path), read_only=True)
    try:
        assert reader.fetch_one("SELECT count(*) FROM trading_signals") == (0,)
        assert _in_thread(lambda: reader.fetch_one("SELECT count(*) FROM market_data")) == (0,)
        assert reader.fetch_one("SELECT count(*) FROM latest_signals") == (0,)  # a view over them
        with pytest.raises(duckdb.Error):  # read-only: the stand-ins are temporary, the file is not written
            reader.execute_write("CREATE TABLE t (x INTEGER)")
    finally:
        reader.close()
    writer = DuckDBStorage.open(Settings(duckdb_path=path))
    try:
        assert writer.fetch_all("SELECT table_name FROM information_schema.tables") == []
    finally:
        writer.close()


def test_a_writer_that_finds_the_condition_lookup_empty_lists_the_stored_strings_and_decides_them(tmp_path):
    """The schema's promise (``trade_condition_sets``): an open that finds the lookup empty (a file made before
    it, a bulk load around the storage API) lists the strings ``market_data`` holds and decides their rules."""
    from tests.sql.test_duckdb_storage import trades

    path = tmp_path / "lookup.duckdb"
    writer = DuckDBStorage.open(Settings(duckdb_path=path))
    writer.apply_schema()
    batch = trades(3)
    writer.append_trades(batch.set_column(batch.schema.get_field_index("conditions"), "conditions",
                                          pa.array(["12,37", "", "14"])))
    writer.execute_write("DELETE FROM trade_condition_sets")
    writer.close()
    again = DuckDBStorage.open(Settings(duckdb_path=path))
    try:
        again.apply_schema()
        rows = again.fetch_all("SELECT conditions, updates_last IS NOT NULL FROM trade_condition_sets ORDER BY 1")
        assert rows == [("12,37", True), ("14", True)]
    finally:
        again.close()
