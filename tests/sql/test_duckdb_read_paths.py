"""The DuckDB backend's analyst SQL beyond ``test_duckdb_storage_rules.py``: one row asked for, the time limit
named in its own units, and a failure of the database itself (not of the statement) told without its text and
logged with it (fast, in process: the mutation group ``storage-read`` runs them)."""

from __future__ import annotations

import datetime as dt
import logging

import pyarrow.parquet as pq
import pytest

from sql.backend import StorageError
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from tests.sql.test_duckdb_storage import trades
from tests.sql.test_duckdb_storage_rules import slow_query_message, time_limit_messages

pytestmark = pytest.mark.duckdb

NS = 1_000_000_000
DAY = 86_400 * NS
T0 = 1_700_000_000 * NS  # the first trade of trades()


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
    slow, waited = time_limit_messages(storage)
    assert slow == "the statement exceeded MCP_QUERY_TIMEOUT_MS=1500"
    assert waited == "another analyst SQL statement held the analyst slot for MCP_QUERY_TIMEOUT_MS=1500"


def test_a_failure_of_the_database_is_told_without_its_text_and_logged_with_it(storage, caplog):
    missing = f"{storage.archive_root}/nothing.parquet"  # the archive folder is readable; the file is not there
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    with pytest.raises(StorageError) as failed:
        storage.run_sql(f"SELECT * FROM read_parquet('{missing}')", 5)
    assert str(failed.value) == "the database failed running the statement (the server log has the detail)"
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("analyst SQL failed in the database: IO Error: No files found") and missing in line
    assert storage.run_sql("SELECT 1 AS one", 5).table.to_pylist() == [{"one": 1}]  # the slot was released


def test_reads_over_live_and_archived_trades_and_where_the_archive_ends(storage):
    # one archived day of AAPL laid out as sql/archive.py leaves it (market=/date=/symbol=/part-*.parquet, its
    # placed manifest row); the *_all views read it once the views are recreated
    day = T0 // DAY
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    path = f"trades/market=stocks/date={date.isoformat()}/symbol=AAPL/part-1.parquet"
    (storage.archive_root / path).parent.mkdir(parents=True)
    pq.write_table(trades(3), storage.archive_root / path)
    storage.execute_write(
        "INSERT INTO archive_manifest VALUES ('trades', 'stocks', $date, 'AAPL', $path, $path, 3, 0, '', 0, 0, 0, "
        "true)", {"date": date, "path": path})
    storage.create_views()
    storage.append_trades(trades(2, start_ns=T0 + DAY, id_prefix="live"))  # the next day, live
    both = storage.read_trades_with_archive("AAPL", 0, 2**62)
    assert both.column("ts_ns").to_pylist() == [T0, T0 + NS, T0 + 2 * NS, T0 + DAY, T0 + DAY + NS]
    assert both.column("price").to_pylist() == [100.0, 100.01, 100.02, 100.0, 100.01]
    assert storage.read_trades_with_archive("AAPL", T0 + NS, T0 + DAY).column("ts_ns").to_pylist() == [
        T0 + NS, T0 + 2 * NS]  # half-open
    assert storage.read_trades_with_archive("MSFT", 0, 2**62).num_rows == 0
    assert storage.read_trades("AAPL", 0, 2**62).num_rows == 2  # the live table alone
    assert storage.archived_until() == {"AAPL": (day + 1) * DAY}  # the end of the newest archived day


def test_a_named_read_past_its_time_limit_names_it_in_milliseconds(storage, monkeypatch):
    assert slow_query_message(storage, monkeypatch) == "query 'slow' exceeded MCP_QUERY_TIMEOUT_MS=1500"
