"""The DuckDB backend's rules one by one, on real files: what a bad ``DUCKDB_PATH`` is told, the locked-down
instance, write listeners and when they hear of a write, idempotent appends, the read paths' limits, time
limit and messages (the paths as a whole: ``test_duckdb_storage.py``)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sql.backend import DatabaseHeld, QueryTimeout, SignalStateRow, StatementError, StorageError
from sql.contract import QUOTES_SCHEMA
from sql.duckdb_backend import DuckDBStorage, instance_config
from sql.queries import NamedQuery
from sql.settings import Settings
from tests.sql import test_duckdb_storage
from tests.sql.test_duckdb_storage import _page_params, _signal_rows, trades

pytestmark = pytest.mark.duckdb

#: A new file with the schema and a 300 ms time limit (the fixture of ``test_duckdb_storage.py``).
storage = test_duckdb_storage.storage


def _refusal(path: Path, *, read_only: bool = False) -> str:
    with pytest.raises(StorageError) as refused:
        DuckDBStorage.open(Settings(duckdb_path=path), read_only=read_only)
    return str(refused.value)


def test_a_path_that_is_no_duckdb_file_is_refused_in_one_line_naming_it(tmp_path):
    where = f"DUCKDB_PATH {str(tmp_path)!r}"
    assert _refusal(tmp_path) == f"{where} is a directory, not a DuckDB database file; point DUCKDB_PATH at a file"
    missing = tmp_path / "missing.duckdb"
    assert _refusal(missing, read_only=True) == (f"DUCKDB_PATH {str(missing)!r} does not exist; run the demo or "
                                                 "a loader first")  # fmt: skip
    assert not missing.exists()
    empty = tmp_path / "empty.duckdb"
    empty.write_bytes(b"")
    assert _refusal(empty) == (f"DUCKDB_PATH {str(empty)!r} is an empty file; point DUCKDB_PATH at a DuckDB file, "
                               "or at a new path to create one")  # fmt: skip
    csv = tmp_path / "trades.csv"
    csv.write_text("symbol,price\nAAPL,1\n")
    assert _refusal(csv, read_only=True) == (
        f"DUCKDB_PATH {str(csv)!r} is not a DuckDB database file (a CSV, Parquet or other file?); point "
        "DUCKDB_PATH at a DuckDB file, or at a new path to create one")  # fmt: skip
    assert csv.read_text() == "symbol,price\nAAPL,1\n"


def test_a_new_writer_path_is_created_with_its_folder(tmp_path):
    path = tmp_path / "a" / "b" / "new.duckdb"
    DuckDBStorage.open(Settings(duckdb_path=path)).close()
    assert path.is_file()


def test_a_truncated_file_is_named_damaged(tmp_path, storage):
    storage.checkpoint()
    source = Path(storage.fetch_one("SELECT path FROM duckdb_databases() WHERE database_name = 't'")[0])
    damaged = tmp_path / "damaged.duckdb"
    damaged.write_bytes(source.read_bytes()[:5000])
    message = _refusal(damaged)
    assert message.startswith(f"DUCKDB_PATH {str(damaged)!r} is truncated or damaged (DuckDB: IO Error: Could not "
                              "read enough bytes")  # fmt: skip
    assert message.endswith("; restore it from a copy") and "\n" not in message


def test_a_file_another_process_holds_names_that_process(tmp_path):
    path = tmp_path / "held.duckdb"
    DuckDBStorage.open(Settings(duckdb_path=path)).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseHeld) as held:
            DuckDBStorage.open(Settings(duckdb_path=path), read_only=True)
    finally:
        holder.communicate("", timeout=30)
    assert held.value.pid == holder.pid and held.value.path == str(path)
    assert str(held.value).startswith(f"{str(path)!r} is held by another process: ")


def test_the_instance_is_configured_from_the_settings(tmp_path):
    assert instance_config(Settings(duckdb_path=tmp_path / "x", duckdb_threads=3)) == {"threads": 3}
    config = instance_config(Settings(duckdb_path=tmp_path / "x", duckdb_threads=2, duckdb_memory_limit="1GB"))
    assert config == {"threads": 2, "memory_limit": "1GB"}
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "c.duckdb", duckdb_threads=3))
    try:
        assert store.fetch_one("SELECT current_setting('threads')")[0] == 3
    finally:
        store.close()


@pytest.mark.parametrize(
    ("sql", "words"),
    [("SELECT * FROM read_csv('/etc/hostname')", "Permission Error"), ("SET threads = 1", "locked"),
     ("ATTACH '/tmp/other.duckdb' AS other", "Permission Error")],
)  # fmt: skip
def test_the_instance_reads_no_file_and_changes_no_setting(storage, sql, words):
    with pytest.raises(StatementError, match=words):
        storage.run_sql(sql, 5)
    with pytest.raises(duckdb.Error):
        storage.execute_write(sql)


class Listener:
    """Records what the storage tells it; ``fail`` makes ``trades_written`` raise."""

    def __init__(self, fail: bool = False) -> None:
        self.heard: list[tuple] = []
        self.fail = fail

    def attached(self) -> None:
        self.heard.append(("attached",))

    def trades_written(self, batch: pa.Table) -> None:
        self.heard.append(("trades_written", batch.num_rows))
        if self.fail:
            raise RuntimeError("listener broke")

    def signals_written(self, signals: pa.Table, states) -> None:
        self.heard.append(("signals_written", signals.num_rows, len(states)))

    def signals_reset(self, symbols, bar_seconds: int) -> None:
        self.heard.append(("signals_reset", list(symbols), bar_seconds))

    def write_failed(self, error: BaseException) -> None:
        self.heard.append(("write_failed", str(error)))


def test_listeners_hear_of_each_committed_write_in_order(storage):
    first, second = Listener(), Listener()
    storage.add_write_listener(first)
    storage.add_write_listener(second)
    assert storage.write_listeners == (first, second)
    storage.append_trades(trades(3))
    storage.append_trades(trades(3))  # nothing added: nothing to tell
    state = SignalStateRow("AAPL", 60, 120, "{}")
    storage.commit_signals(_signal_rows("AAPL", [60, 120]), [state])
    storage.rewind_signals([])  # nothing to rewind: nothing to tell
    storage.rewind_signals([SignalStateRow("AAPL", 60, 60, "{}")])
    storage.reset_signals(["AAPL"], 60)
    assert first.heard == second.heard == [
        ("attached",), ("trades_written", 3), ("signals_written", 2, 1),
        ("write_failed", "signals of 1 symbol(s) rewound for a recompute"), ("signals_reset", ["AAPL"], 60)]
    storage.remove_write_listener(first)
    storage.remove_write_listener(Listener())  # never added: ignored
    assert storage.write_listeners == (second,)


def test_a_failing_listener_is_told_and_the_write_stands(storage):
    broken, other = Listener(fail=True), Listener()
    storage.add_write_listener(broken)
    storage.add_write_listener(other)
    assert storage.append_trades(trades(2)) == 2
    assert broken.heard == [("attached",), ("trades_written", 2), ("write_failed", "listener broke")]
    assert other.heard == [("attached",), ("trades_written", 2)]
    assert storage.read_trades("AAPL", 0, 2**62).num_rows == 2


def test_a_listener_nothing_else_holds_is_dropped(storage):
    storage.add_write_listener(Listener())
    kept = Listener()
    storage.add_write_listener(kept)
    assert storage.write_listeners == (kept,)
    storage.append_trades(trades(1))
    assert kept.heard[-1] == ("trades_written", 1) and len(storage._listeners) == 1


def test_a_rolled_back_write_tells_no_listener_and_keeps_nothing(storage):
    listener = Listener()
    storage.add_write_listener(listener)
    with pytest.raises(duckdb.Error):
        storage.commit_signals(_signal_rows("AAPL", [60]), [SignalStateRow("AAPL", 60, 60, None)])  # type: ignore[arg-type]
    with pytest.raises(duckdb.Error):
        storage.execute_write("INSERT INTO signal_state (symbol) VALUES ('X')")
    assert listener.heard == [("attached",)]
    assert storage.fetch_one("SELECT count(*) FROM trading_signals")[0] == 0


def test_batches_in_another_column_order_are_cast_to_the_contract(storage):
    batch = trades(4)
    shuffled = batch.select(list(reversed(batch.schema.names)))
    assert storage.append_trades(shuffled) == 4 and storage.append_trades(batch) == 0
    assert storage.append_trades(trades(0)) == 0 and storage.append_quotes(pa.table({})) == 0
    rows = storage.read_trades_many(["AAPL"], 0, 2**62)
    assert rows.column("price").to_pylist() == batch.column("price").to_pylist()


def test_new_condition_strings_are_listed_once_with_their_rules(storage):
    strings = "SELECT conditions FROM trade_condition_sets ORDER BY 1"
    before = [r[0] for r in storage.fetch_all(strings)]
    storage.append_trades(trades(2))  # conditions "12,37"
    batch = trades(2, id_prefix="u").set_column(7, "conditions", pa.array(["41", None]))
    storage.append_trades(batch)
    after = [r[0] for r in storage.fetch_all(strings)]
    assert sorted(set(after) - set(before)) == ["12,37", "41"] and len(after) == len(set(after))
    storage.append_trades(trades(2, id_prefix="v"))
    assert [r[0] for r in storage.fetch_all(strings)] == after


def test_a_named_read_fetches_one_row_more_than_its_limit(storage):
    storage.commit_signals(_signal_rows("AAPL", [60, 120, 180]), [])
    page = storage.query("trading_signals_page", _page_params(), 2)
    assert [r[1] for r in page.rows] == [180, 120] and page.truncated is True
    assert page.columns[:2] == ["symbol", "bar_end_ns"]
    whole = storage.query("trading_signals_page", _page_params(), 3)
    assert len(whole.rows) == 3 and whole.truncated is False
    version = storage.query("data_version", {}, 1)  # a query without row_limit: the limit is applied by fetching
    assert version.columns == ["signals_updated_ns", "trades", "bars", "realized_bars"] and len(version.rows) == 1


def slow_query_message(storage: DuckDBStorage, monkeypatch: pytest.MonkeyPatch) -> str:
    """What a named read ``slow`` that runs past the time limit is told (it must raise ``QueryTimeout``); shared
    with ``test_duckdb_read_paths.py``."""
    monkeypatch.setitem(storage._queries._queries, "slow",
                        NamedQuery("slow", (), "", "SELECT count(*) FROM range(100000000000) a"))  # fmt: skip
    with pytest.raises(QueryTimeout) as slow:
        storage.query("slow", {}, 1)
    return str(slow.value)


def test_named_read_failures_name_the_query(storage, monkeypatch):
    assert slow_query_message(storage, monkeypatch) == "query 'slow' exceeded MCP_QUERY_TIMEOUT_MS=300"
    monkeypatch.setitem(storage._queries._queries, "broken", NamedQuery("broken", (), "", "SELECT * FROM nowhere"))
    with pytest.raises(StorageError) as broken:
        storage.query("broken", {}, 1)
    assert str(broken.value).startswith("query 'broken' failed: Catalog Error")
    assert storage.query("data_version", {}, 1).rows == [(None, 0, 0, 0)]  # the cursor works afterwards


def test_a_read_only_file_reads_without_a_transaction_and_refuses_writes(tmp_path):
    path = tmp_path / "ro.duckdb"
    writer = DuckDBStorage.open(Settings(duckdb_path=path))
    writer.apply_schema()
    writer.append_trades(trades(3))
    writer.close()
    reader = DuckDBStorage.open(Settings(duckdb_path=path), read_only=True)
    try:
        assert reader.query("data_version", {}, 1).rows == [(None, 3, 0, 0)]
        assert reader.run_sql("SELECT count(*) AS n FROM market_data", 5).table.to_pylist() == [{"n": 3}]
        with pytest.raises(StatementError, match="read-only mode"):
            reader.run_sql("DELETE FROM market_data", 5)
    finally:
        reader.close()


def test_analyst_sql_keeps_the_first_rows_with_their_types(storage):
    result = storage.run_sql("SELECT i, i * 0.5 AS half FROM range(25000) t(i) ORDER BY i", 12_000)
    assert result.columns == [("i", "BIGINT"), ("half", "DECIMAL(21,1)")]
    assert result.table.num_rows == 12_000 and result.truncated is True
    assert result.table.column("i").to_pylist() == list(range(12_000))
    exact = storage.run_sql("SELECT * FROM range(3)", 3)
    assert exact.table.num_rows == 3 and exact.truncated is False
    assert storage.run_sql("SELECT * FROM range(0)", 3).table.num_rows == 0


def time_limit_messages(storage: DuckDBStorage) -> tuple[str, str]:
    """What analyst SQL is told when a statement runs past the time limit, and when another statement holds the
    analyst slot that long (each must raise ``QueryTimeout``); shared with ``test_duckdb_read_paths.py``."""
    with pytest.raises(QueryTimeout) as slow:
        storage.run_sql("SELECT count(*) FROM range(100000000000)", 5)
    storage._analyst_slot.acquire()  # another statement runs
    try:
        with pytest.raises(QueryTimeout) as waited:
            storage.run_sql("SELECT 1", 5)
    finally:
        storage._analyst_slot.release()
    return str(slow.value), str(waited.value)


def test_analyst_sql_errors_are_the_statements_or_the_time_limits(storage):
    with pytest.raises(StatementError, match="^Parser Error"):
        storage.run_sql("SELEC 1", 5)
    with pytest.raises(StatementError, match="read-only mode"):
        storage.run_sql("DELETE FROM market_data", 5)
    slow, waited = time_limit_messages(storage)
    assert slow == "the statement exceeded MCP_QUERY_TIMEOUT_MS=300"
    assert waited == ("another analyst SQL statement held the analyst slot for "
                      "MCP_QUERY_TIMEOUT_MS=300")  # fmt: skip
    assert storage.run_sql("SELECT 1 AS one", 5).table.to_pylist() == [{"one": 1}]  # the slot was released


def test_one_analyst_statement_runs_at_a_time(storage):
    inside = threading.Event()
    storage._analyst_slot.acquire()
    answers: list[object] = []

    def second() -> None:
        inside.set()
        answers.append(storage.run_sql("SELECT 2 AS two", 5).table.to_pylist())

    worker = threading.Thread(target=second)
    worker.start()
    inside.wait(10)
    storage._analyst_slot.release()  # the first statement ends within the second's wait
    worker.join(10)
    assert answers == [[{"two": 2}]]


def test_a_storage_not_opened_from_a_path_cannot_reopen(tmp_path):
    connection = duckdb.connect(str(tmp_path / "plain.duckdb"))
    store = DuckDBStorage(connection, read_only=False, query_timeout_s=1.0)
    with pytest.raises(StorageError, match="^this storage was not opened from a path and cannot reopen$"):
        store.reopen()
    store.close()


def test_writers_reads_give_symbols_and_the_newest_trade(storage):
    assert storage.newest_trade_ns() is None and storage.trade_symbols() == []
    storage.append_trades(pa.concat_tables([trades(3), trades(2, symbol="MSFT", id_prefix="m")]))
    assert sorted(storage.trade_symbols()) == [("stocks", "AAPL"), ("stocks", "MSFT")]
    assert storage.newest_trade_ns() == 1_700_000_000_000_000_000 + 2 * 1_000_000_000
    many = storage.read_trades_many(["MSFT", "AAPL"], 0, 2**62)
    assert many.num_rows == 5 and set(many.column("symbol").to_pylist()) == {"AAPL", "MSFT"}
    assert storage.read_trades_many(["MSFT"], 0, 1_700_000_000_000_000_001).num_rows == 1


def test_reset_and_rewind_touch_only_their_symbols_rows(storage):
    storage.commit_signals(pa.concat_tables([_signal_rows("AAPL", [60, 120, 180]), _signal_rows("MSFT", [60, 120])]),
                           [SignalStateRow("AAPL", 60, 180, "{}"), SignalStateRow("MSFT", 60, 120, "{}")])  # fmt: skip
    storage.rewind_signals([SignalStateRow("AAPL", 60, 60, '{"r":1}')])
    bars = "SELECT symbol, bar_end_ns FROM trading_signals ORDER BY 1, 2"
    assert storage.fetch_all(bars) == [("AAPL", 60), ("MSFT", 60), ("MSFT", 120)]
    assert storage.load_signal_states(60)["AAPL"] == SignalStateRow("AAPL", 60, 60, '{"r":1}')
    storage.reset_signals(["MSFT"], 60)
    assert storage.fetch_all(bars) == [("AAPL", 60)] and set(storage.load_signal_states(60)) == {"AAPL"}
    storage.reset_signals(["AAPL"], 30)  # another grid: nothing of the 60 s grid goes
    assert storage.fetch_all(bars) == [("AAPL", 60)]


def test_signals_in_another_column_order_are_cast(storage):
    rows = _signal_rows("AAPL", [60])
    storage.commit_signals(rows.select(list(reversed(rows.schema.names))), [])
    assert storage.fetch_all("SELECT symbol, bar_end_ns, signal_reason FROM trading_signals") == [("AAPL", 60, "test")]



def _quotes(n: int, *, symbol: str = "AAPL") -> pa.Table:
    ts = 1_700_000_000_000_000_000 + pa.array(range(n), pa.int64()).to_numpy() * 1_000_000
    return pa.table({
        "market": ["stocks"] * n, "symbol": [symbol] * n, "ts_ns": ts, "bid_price": [99.5] * n,
        "bid_size": [100.0] * n, "ask_price": [100.5] * n, "ask_size": [200.0] * n,
        "bid_exchange": pa.array([4] * n, pa.int32()), "ask_exchange": pa.array([7] * n, pa.int32()),
        "conditions": [None] * n, "sequence": pa.array(range(n), pa.int64()), "tape": pa.array([3] * n, pa.int32()),
        "received_ns": ts + 5, "source": ["sim"] * n,
    }, schema=QUOTES_SCHEMA)  # fmt: skip


def test_quotes_are_appended_as_given_in_any_column_order(storage):
    batch = _quotes(5)
    assert storage.append_quotes(batch) == 5
    assert storage.append_quotes(batch.select(list(reversed(batch.schema.names)))) == 5  # quotes keep no key
    assert storage.append_quotes(_quotes(0)) == 0
    stored = storage.fetch_all("SELECT symbol, ts_ns, bid_price, ask_exchange, received_ns FROM quotes "
                               "ORDER BY ts_ns LIMIT 2")  # fmt: skip
    first = 1_700_000_000_000_000_000
    assert stored == [("AAPL", first, 99.5, 7, first + 5), ("AAPL", first, 99.5, 7, first + 5)]
    assert storage.fetch_one("SELECT count(*) FROM quotes")[0] == 10


def test_maintenance_statements_bind_their_parameters(storage):
    storage.append_trades(pa.concat_tables([trades(3), trades(2, symbol="MSFT", id_prefix="m")]))
    assert storage.fetch_one("SELECT count(*) FROM market_data WHERE symbol = $s", {"s": "MSFT"}) == (2,)
    assert storage.fetch_all("SELECT DISTINCT symbol FROM market_data WHERE symbol <> $s", {"s": "MSFT"}) == [("AAPL",)]
    storage.execute_write("DELETE FROM market_data WHERE symbol = $s", {"s": "AAPL"})
    assert storage.fetch_all("SELECT DISTINCT symbol FROM market_data") == [("MSFT",)]
    storage.execute_write("DELETE FROM market_data")
    assert storage.fetch_one("SELECT count(*) FROM market_data") == (0,)


def test_each_reopen_replaces_the_threads_cursor_again(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "again.duckdb"))
    store.apply_schema()
    try:
        for n in (1, 2, 3):
            store.append_trades(trades(n))
            store.reopen()
            assert store.newest_trade_ns() == 1_700_000_000_000_000_000 + (n - 1) * 1_000_000_000
    finally:
        store.close()


def test_a_block_that_raises_after_a_write_rolls_the_write_back(storage):
    storage.append_trades(trades(4))
    listener = Listener()
    storage.add_write_listener(listener)
    with pytest.raises(RuntimeError, match="half way"):
        with storage.archive_transaction() as cursor:
            cursor.execute("DELETE FROM market_data")
            raise RuntimeError("half way")  # Python's failure, not the database's: DuckDB aborts nothing itself
    assert storage.fetch_one("SELECT count(*) FROM market_data") == (4,)
    assert listener.heard == [("attached",)]
    with storage.archive_transaction() as cursor:
        cursor.execute("DELETE FROM market_data WHERE trade_id = 't0'")
    assert storage.fetch_one("SELECT count(*) FROM market_data") == (3,)
    assert listener.heard[-1] == ("write_failed", "rows moved from the live tables to the archive")


def test_a_writer_that_did_not_apply_the_schema_learns_the_listed_strings_from_the_file(tmp_path):
    path = tmp_path / "listed.duckdb"
    first = DuckDBStorage.open(Settings(duckdb_path=path))
    first.apply_schema()
    first.append_trades(trades(2))  # lists "12,37"
    first.close()
    writer = DuckDBStorage.open(Settings(duckdb_path=path))  # no apply_schema: nothing learnt yet
    try:
        writer.append_trades(trades(2, id_prefix="w").set_column(7, "conditions", pa.array(["12,37", "41"])))
        listed = [r[0] for r in writer.fetch_all("SELECT conditions FROM trade_condition_sets WHERE conditions IN "
                                                 "('12,37', '41') ORDER BY 1")]  # fmt: skip
    finally:
        writer.close()
    assert listed == ["12,37", "41"]  # each once: the stored one was read back, only the new one added
