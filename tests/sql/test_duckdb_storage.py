"""The DuckDB backend on a real file: schema, dedupe, transactions, read-only reads, time limit."""

from __future__ import annotations

import math
import re
import threading

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sql.backend import QueryTimeout, SignalStateRow, StorageError
from sql.contract import (
    BAR_REALIZED_SPREAD_SCHEMA,
    MODEL_PARAMS_SCHEMA,
    QUOTES_SCHEMA,
    SIGNAL_STATE_SCHEMA,
    SIGNALS_SCHEMA,
    TRADES_SCHEMA,
)
from sql.duckdb_backend import DuckDBStorage
from sql.queries import load_registry
from sql.settings import Settings

pytestmark = pytest.mark.duckdb


def trades(n: int, *, symbol: str = "AAPL", start_ns: int = 1_700_000_000_000_000_000, id_prefix: str = "t") -> pa.Table:
    ts = start_ns + np.arange(n, dtype=np.int64) * 1_000_000_000
    return pa.table(
        {
            "market": ["stocks"] * n,
            "symbol": [symbol] * n,
            "ts_ns": ts,
            "price": 100.0 + np.arange(n) * 0.01,
            "size": np.full(n, 100.0),
            "exchange": pa.array([4] * n, pa.int32()),
            "trade_id": [f"{id_prefix}{i}" for i in range(n)],
            "conditions": ["12,37"] * n,
            "tape": pa.array([3] * n, pa.int32()),
            "sequence": pa.array(range(n), pa.int64()),
            "trf_id": pa.array([None] * n, pa.int32()),
            "trf_ts_ns": pa.array([None] * n, pa.int64()),
            "received_ns": ts + 1000,
            "source": ["sim"] * n,
            "correction": pa.array([0] * n, pa.int32()),
        },
        schema=TRADES_SCHEMA,
    )


@pytest.fixture
def storage(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "t.duckdb", mcp_query_timeout_ms=300))
    store.apply_schema()
    yield store
    store.close()


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def test_schema_applied_twice_changes_nothing(storage):
    storage.append_trades(trades(3))
    storage.apply_schema()
    assert storage.newest_trade_ns() is not None
    assert storage.trade_symbols() == [("stocks", "AAPL")]


def test_tables_have_exactly_the_contract_columns(tmp_path, storage):
    con = storage._cursor()
    assert _columns(con, "market_data") == TRADES_SCHEMA.names
    assert _columns(con, "quotes") == QUOTES_SCHEMA.names
    assert _columns(con, "trading_signals") == SIGNALS_SCHEMA.names
    assert _columns(con, "model_params") == MODEL_PARAMS_SCHEMA.names
    assert _columns(con, "signal_state") == SIGNAL_STATE_SCHEMA.names
    assert _columns(con, "bar_realized_spread") == BAR_REALIZED_SPREAD_SCHEMA.names


def test_the_same_event_loaded_twice_is_stored_once(storage):
    batch = trades(10)
    assert storage.append_trades(batch) == 10
    assert storage.append_trades(batch) == 0
    assert storage.append_trades(pa.concat_tables([trades(12), trades(12)])) == 2
    assert storage.read_trades("AAPL", 0, 2**62).num_rows == 12


def test_read_trades_is_time_ordered_and_half_open(storage):
    batch = trades(10)
    storage.append_trades(batch.take(list(reversed(range(10)))))
    ts = batch.column("ts_ns").to_pylist()
    got = storage.read_trades("AAPL", ts[2], ts[7]).column("ts_ns").to_pylist()
    assert got == ts[2:7]


def _signal_rows(symbol: str, ends: list[int]) -> pa.Table:
    n = len(ends)
    columns = {name: [None] * n for name in SIGNALS_SCHEMA.names}
    columns.update(
        symbol=[symbol] * n, bar_end_ns=ends, bar_seconds=[60] * n, n_trades=[1] * n, volume=[1.0] * n,
        close=[1.0] * n, jump_detected=[False] * n, trading_signal=["HOLD"] * n, signal_reason=["test"] * n,
        computed_at_ns=[0] * n,
    )  # fmt: skip
    return pa.table(columns, schema=SIGNALS_SCHEMA)


def test_signals_and_state_commit_together_or_not_at_all(storage):
    state = SignalStateRow("AAPL", 60, 120, '{"v":1}')
    storage.commit_signals(_signal_rows("AAPL", [60, 120]), [state])
    assert storage.load_signal_states(60) == {"AAPL": state}
    bad_state = SignalStateRow("AAPL", 60, 180, None)  # type: ignore[arg-type]  # NOT NULL violation
    with pytest.raises(duckdb.Error):
        storage.commit_signals(_signal_rows("AAPL", [180]), [bad_state])
    assert storage.load_signal_states(60) == {"AAPL": state}
    count = storage.query("trading_signals_page", _page_params(), 10)
    assert [r[1] for r in count.rows] == [120, 60]


def _page_params(**overrides):
    params = {"symbols": None, "signal_type": None, "start_ns": 0, "end_ns": 2**62, "bar_seconds": 60,
              "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    params.update(overrides)
    return params


def test_query_reports_truncation_with_limit_plus_one(storage):
    storage.commit_signals(_signal_rows("AAPL", [60, 120, 180]), [])
    assert storage.query("trading_signals_page", _page_params(), 3).truncated is False
    page = storage.query("trading_signals_page", _page_params(), 2)
    assert page.truncated is True and len(page.rows) == 2


def test_server_reads_cannot_write_even_in_the_writers_process(storage, monkeypatch):
    """``DuckDBStorage.query`` on the writer's own connection: a named query that writes is refused by its
    ``READ ONLY`` transaction, and the row stays."""
    from sql.queries import NamedQuery

    storage.commit_signals(_signal_rows("AAPL", [60]), [])
    writer = NamedQuery("writer", (), "", "DELETE FROM trading_signals RETURNING symbol")
    monkeypatch.setitem(storage._queries._queries, "writer", writer)
    with pytest.raises(StorageError, match="read-only"):
        storage.query("writer", {}, 10)
    assert [r[0] for r in storage.query("trading_signals_page", _page_params(), 10).rows] == ["AAPL"]


def test_a_slow_query_is_interrupted_at_the_time_limit(storage, monkeypatch):
    from sql.queries import NamedQuery

    slow = NamedQuery("slow", (), "", "SELECT count(*) FROM range(100000000000) a")
    monkeypatch.setitem(storage._queries._queries, "slow", slow)
    with pytest.raises(QueryTimeout, match="MCP_QUERY_TIMEOUT_MS"):
        storage.query("slow", {}, 1)
    # The cursor is usable afterwards.
    assert storage.newest_trade_ns() is None


def test_read_only_open_of_a_missing_file_names_the_setting(tmp_path):
    with pytest.raises(StorageError, match="DUCKDB_PATH"):
        DuckDBStorage.open(Settings(duckdb_path=tmp_path / "missing.duckdb"), read_only=True)


def test_every_named_query_declares_exactly_the_parameters_it_uses():
    for folder in ("schema", "views", "queries"):
        registry = load_registry("duckdb", folder)
        assert len(registry) > 0
        for query in registry:
            assert set(re.findall(r"\$(\w+)", query.text)) == set(query.params), query.name


def test_every_read_query_runs_on_the_schema(storage):
    storage.append_trades(trades(5))
    samples = {"symbol": "AAPL", "symbols": ["AAPL"], "signal_type": None, "direction": None, "min_abs_stat": None,
               "start_date": "2000-01-01", "end_date": "2100-01-01", "after_session_date": None, "now_ns": 0, "start_ns": 0, "end_ns": 2**62, "bar_seconds": 60,
               "after_bar_end_ns": None, "after_symbol": None, "after_ts_ns": None, "after_exchange": None,
               "after_trade_id": None}  # fmt: skip
    for query in load_registry("duckdb", "queries"):
        if query.text.lstrip().upper().startswith(("SELECT", "WITH")):
            params = {p: samples[p] for p in query.params if p != "row_limit"}
            storage.query(query.name, params, 10)


# spec/signals.md §3.3 sanity vector: ratio statistic with max adjustment, highfrequency BV, TP.
SPEC_RETURNS = [0.001, -0.002, 0.0015, 0.0005, -0.001, 0.012, -0.0008, 0.0011, -0.0004, 0.0009]


def test_symbol_metrics_daily_bns_matches_the_spec_vector(storage):
    day = 1_700_006_400_000_000_000  # 2023-11-15 00:00 UTC
    table = _signal_rows("AAPL", [day + (i + 1) * 60_000_000_000 for i in range(10)])
    table = table.set_column(SIGNALS_SCHEMA.get_field_index("log_return"), "log_return", pa.array(SPEC_RETURNS))
    storage.commit_signals(table, [])
    row = storage._cursor().execute(
        "SELECT n_returns, realized_variance, bipower_variation, bns_stat FROM symbol_metrics"
    ).fetchone()
    n, rv, bv, bns = row
    assert n == 10
    assert math.isclose(rv, 1.5532e-04, rel_tol=1e-9)
    assert math.isclose(bv, 4.638561553025e-05, rel_tol=1e-9)
    assert math.isclose(bns, 2.842047, rel_tol=1e-6)


def test_the_memory_limit_setting_caps_duckdb_and_a_malformed_one_is_refused(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "m.duckdb", duckdb_memory_limit="300MB"))
    try:
        (limit,) = store._cursor().execute("SELECT current_setting('memory_limit')").fetchall()[0]
        assert limit == "286.1 MiB"  # 300 MB, printed by DuckDB in binary units
    finally:
        store.close()
    with pytest.raises(ValueError, match="duckdb_memory_limit"):
        Settings(duckdb_memory_limit="lots")


def test_reopen_keeps_the_rows_and_gives_every_thread_a_fresh_cursor(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "r.duckdb", duckdb_memory_limit="300MB"))
    store.apply_schema()
    try:
        table = trades(5)
        assert store.append_trades(table) == 5
        other: list[int] = []
        worker = threading.Thread(target=lambda: other.append(store.newest_trade_ns() or 0))
        worker.start()
        worker.join()  # that thread holds a cursor of the first connection now
        store.reopen()
        assert store.append_trades(table) == 0  # the stored keys are read back from the file
        assert store.append_trades(trades(7)) == 2
        (limit,) = store._cursor().execute("SELECT current_setting('memory_limit')").fetchall()[0]
        assert limit == "286.1 MiB"  # reopened with the same settings
        worker = threading.Thread(target=lambda: other.append(store.newest_trade_ns() or 0))
        worker.start()
        worker.join()
        assert other[1] == other[0] + 2 * 1_000_000_000  # the thread's old cursor was replaced, not reused
    finally:
        store.close()


def test_the_loader_uses_the_lower_of_its_own_memory_limit_and_the_process_one():
    def limit(process: str | None, loader: str) -> str:
        return Settings(duckdb_memory_limit=process, load_duckdb_memory_limit=loader).loader_memory_limit()

    assert limit(None, "64MB") == "64MB"  # DuckDB's default, 80% of RAM, is higher
    assert limit("256MB", "64MB") == "64MB"
    assert limit("32MiB", "64MB") == "32MiB"
    assert limit("1.5 GB", "2000MiB") == "1.5 GB"  # 1.5e9 bytes < 2000 * 2**20
    assert limit("64MB", "64MB") == "64MB"
    with pytest.raises(ValueError, match="load_duckdb_memory_limit"):
        Settings(load_duckdb_memory_limit="64")


def test_a_batch_overlapping_stored_rows_with_duplicates_inside_adds_exactly_the_new_keys(storage):
    stored = trades(10)
    assert storage.append_trades(stored) == 10
    fresh = trades(15).slice(10)  # keys t10..t14, later in time than the stored rows
    # Stored keys (t3, t7), new keys twice (t11, t12) and a row in the stored time range with a new key:
    # same ts_ns as t5, other trade_id, so only the full key tells it apart.
    same_time = trades(6, id_prefix="other").slice(5)
    later_copy = fresh.slice(1, 1).set_column(3, TRADES_SCHEMA.field("price"), pa.array([999.0]))  # t11 again, another price
    batch = pa.concat_tables([stored.slice(3, 1), fresh, stored.slice(7, 1), fresh.slice(1, 2), later_copy,
                              same_time])
    assert storage.append_trades(batch) == 6
    rows = storage._cursor().execute(
        "SELECT trade_id, ts_ns, price FROM market_data ORDER BY ts_ns, trade_id").fetchall()
    keys = [(r[0], r[1]) for r in rows]
    assert len(keys) == len(set(keys)) == 16
    assert {r[0] for r in rows} == {f"t{i}" for i in range(15)} | {"other5"}
    # the first of the duplicates inside the batch is kept
    assert [r[2] for r in rows if r[0] == "t11"] == [fresh["price"][1].as_py()]
    assert storage.append_trades(batch) == 0


def test_every_key_column_tells_trades_apart(storage):
    base = trades(1)
    assert storage.append_trades(base) == 1
    variants = {"market": "crypto", "symbol": "MSFT", "exchange": pa.scalar(5, pa.int32()), "trade_id": "u0",
                "ts_ns": base["ts_ns"][0].as_py() + 1}
    for name, value in variants.items():
        i = TRADES_SCHEMA.get_field_index(name)
        row = base.set_column(i, TRADES_SCHEMA.field(name), pa.array([value], TRADES_SCHEMA.field(name).type))
        assert storage.append_trades(row) == 1, name
        assert storage.append_trades(row) == 0, name


def test_market_data_declares_no_index_the_writer_keeps_the_key(storage):
    con = storage._cursor()
    assert con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'market_data' "
                       "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'market_data'").fetchone() == (0,)


#: market_data as files created before the correction column have it (schema/001_market_data.sql before it).
OLD_MARKET_DATA = """
CREATE TABLE market_data (
    market VARCHAR NOT NULL, symbol VARCHAR NOT NULL, ts_ns BIGINT NOT NULL, price DOUBLE NOT NULL,
    size DOUBLE NOT NULL, exchange INTEGER NOT NULL, trade_id VARCHAR NOT NULL, conditions VARCHAR, tape INTEGER,
    sequence BIGINT, trf_id INTEGER, trf_ts_ns BIGINT, received_ns BIGINT NOT NULL, source VARCHAR NOT NULL{key}
)"""


def test_a_file_created_with_the_old_primary_key_keeps_loading(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(OLD_MARKET_DATA.format(key=", PRIMARY KEY (market, symbol, exchange, trade_id, ts_ns)"))
    store = DuckDBStorage.open(Settings(duckdb_path=path))
    try:
        store.apply_schema()
        assert store.append_trades(trades(5)) == 5
        assert store.append_trades(pa.concat_tables([trades(7), trades(7)])) == 2
        assert store.read_trades("AAPL", 0, 2**62).num_rows == 7
    finally:
        store.close()


def test_a_file_created_before_the_correction_column_gets_it_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "before-correction.duckdb"
    old_rows = trades(4, id_prefix="old").drop_columns(["correction"])
    with duckdb.connect(str(path)) as con:
        con.execute(OLD_MARKET_DATA.format(key=""))
        con.register("old_rows", old_rows)
        con.execute("INSERT INTO market_data SELECT * FROM old_rows")
    store = DuckDBStorage.open(Settings(duckdb_path=path))
    try:
        store.apply_schema()
        store.apply_schema()  # the column is added once
        con = store._cursor()
        assert _columns(con, "market_data") == TRADES_SCHEMA.names
        assert con.execute("SELECT trade_id, correction FROM market_data ORDER BY ts_ns").fetchall() == [
            (f"old{i}", None) for i in range(4)]
        new = trades(3, id_prefix="new", start_ns=1_800_000_000_000_000_000)
        new = new.set_column(TRADES_SCHEMA.get_field_index("correction"), TRADES_SCHEMA.field("correction"),
                             pa.array([0, 1, 12], pa.int32()))
        assert store.append_trades(new) == 3
        assert store.append_trades(trades(4, id_prefix="old")) == 0  # the stored keys still dedupe
        rows = con.execute("SELECT trade_id, correction FROM market_data ORDER BY ts_ns").fetchall()
        assert rows == [(f"old{i}", None) for i in range(4)] + [("new0", 0), ("new1", 1), ("new2", 12)]
    finally:
        store.close()


def test_appended_corrections_are_stored_as_given(storage):
    batch = trades(4)
    batch = batch.set_column(TRADES_SCHEMA.get_field_index("correction"), TRADES_SCHEMA.field("correction"),
                             pa.array([0, None, 7, 2**31 - 1], pa.int32()))
    assert storage.append_trades(batch) == 4
    rows = storage._cursor().execute("SELECT correction FROM market_data ORDER BY ts_ns").fetchall()
    assert rows == [(0,), (None,), (7,), (2**31 - 1,)]
