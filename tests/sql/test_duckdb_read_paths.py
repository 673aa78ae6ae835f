"""The DuckDB backend's analyst SQL beyond ``test_duckdb_storage_rules.py``: one row asked for, the time limit
named in its own units, and a failure of the database itself (not of the statement) told without its text and
logged with it (fast, in process: the mutation group ``storage-read`` runs them)."""

from __future__ import annotations

import logging

import pytest

from sql.backend import QueryTimeout, StorageError
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = pytest.mark.duckdb


@pytest.fixture
def storage(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "r.duckdb", mcp_query_timeout_ms=1500))
    store.apply_schema()
    yield store
    store.close()


def test_one_row_asked_for_is_one_row_and_the_rest_is_truncated(storage):
    result = storage.run_sql("SELECT * FROM range(3) AS t(x)", 1)
    assert result.table.to_pylist() == [{"x": 0}] and result.truncated
    alone = storage.run_sql("SELECT 7 AS x", 1)
    assert alone.table.to_pylist() == [{"x": 7}] and not alone.truncated


def test_the_time_limits_are_named_in_milliseconds(storage):
    with pytest.raises(QueryTimeout) as slow:
        storage.run_sql("SELECT count(*) FROM range(100000000000)", 5)
    assert str(slow.value) == "the statement exceeded MCP_QUERY_TIMEOUT_MS=1500"
    storage._analyst_slot.acquire()  # another statement runs
    try:
        with pytest.raises(QueryTimeout) as waited:
            storage.run_sql("SELECT 1", 5)
    finally:
        storage._analyst_slot.release()
    assert str(waited.value) == "another analyst SQL statement held the analyst slot for MCP_QUERY_TIMEOUT_MS=1500"


def test_a_failure_of_the_database_is_told_without_its_text_and_logged_with_it(storage, caplog):
    missing = f"{storage.archive_root}/nothing.parquet"  # the archive folder is readable; the file is not there
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    with pytest.raises(StorageError) as failed:
        storage.run_sql(f"SELECT * FROM read_parquet('{missing}')", 5)
    assert str(failed.value) == "the database failed running the statement (the server log has the detail)"
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("analyst SQL failed in the database: IO Error: No files found") and missing in line
    assert storage.run_sql("SELECT 1 AS one", 5).table.to_pylist() == [{"one": 1}]  # the slot was released
