"""The DuckDB backend's reads one rule at a time (``sql/duckdb_backend.py``: the writers' reads, the transform's
reads by symbol, the stored states, the server's named reads and analyst SQL): what each read returns, in which
order, within which bounds, with NULLs and without rows, and that the server's reads cannot write. One tiny file
per module (built once), an in-memory storage where a test needs its own rows; the expected rows are written out
here or ordered by ``tests/reference/order.py``, never by the module under test. Seconds for the whole file (the
fast judge of the mutation row ``storage-read``; the paths as a whole: ``test_duckdb_storage.py``,
``test_stored_order.py``)."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sql.backend import QueryTimeout, SignalStateRow, StatementError, StorageError
from sql.contract import QUOTES_SCHEMA, SIGNALS_SCHEMA, TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage, _first_rows
from sql.queries import NamedQuery
from sql.settings import Settings
from tests.reference.order import byte_sorted

pytestmark = pytest.mark.duckdb

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
DAY_NS = 86_400 * NS
#: The trades of the module's file: (symbol, ts offset in s, sequence, exchange, trade_id, price, correction).
#: Stored in this order: the symbols interleaved, "MSFT" out of time order, "AAPL" with two prints tied on
#: ts_ns, sequence and exchange (only trade_id orders them), "b" and "B" (byte order: "B" < "MSFT" < "b").
TRADES = [
    ("MSFT", 5, 3, 4, "m3", 30.5, 0),
    ("AAPL", 0, 0, 4, "a0", 10.0, 0),
    ("b", 1, 0, 4, "b0", 7.0, 0),
    ("MSFT", 1, 1, 4, "m1", 30.1, 1),
    ("AAPL", 2, 1, 4, "a2", 10.2, 0),
    ("AAPL", 2, 1, 4, "a1", 10.1, 0),
    ("B", 3, 0, 4, "B0", 5.0, 0),
    ("AAPL", 4, None, 4, "a9", 10.4, 0),
    ("AAPL", 4, 2, 4, "a3", 10.3, 0),
    ("MSFT", 9, 4, 4, "m4", 30.9, 0),
]
#: The quotes: (symbol, ts offset in ms, sequence, received offset, bid). "AAPL" has two quotes at one time (the
#: sequence orders them) and one stored before an older one; "MSFT" stored in order.
QUOTES = [
    ("AAPL", 2, 5, 1, 99.2),
    ("MSFT", 0, 0, 0, 50.0),
    ("AAPL", 0, 1, 0, 99.0),
    ("AAPL", 2, 4, 2, 99.1),
    ("MSFT", 3, 1, 0, 50.3),
    ("AAPL", 7, None, 0, None),
]


def _trades(rows) -> pa.Table:
    n = len(rows)
    ts = [T0 + r[1] * NS for r in rows]
    return pa.table({
        "market": ["stocks"] * n, "symbol": [r[0] for r in rows], "ts_ns": ts, "price": [r[5] for r in rows],
        "size": [100.0 + i for i in range(n)], "exchange": pa.array([r[3] for r in rows], pa.int32()),
        "trade_id": [r[4] for r in rows], "conditions": ["12"] * n, "tape": pa.array([3] * n, pa.int32()),
        "sequence": pa.array([r[2] for r in rows], pa.int64()), "trf_id": pa.array([None] * n, pa.int32()),
        "trf_ts_ns": pa.array([None] * n, pa.int64()), "received_ns": [t + 1 for t in ts], "source": ["sim"] * n,
        "correction": pa.array([r[6] for r in rows], pa.int32()),
    }, schema=TRADES_SCHEMA)  # fmt: skip


def _quotes(rows) -> pa.Table:
    n = len(rows)
    ts = [T0 + r[1] * 1_000_000 for r in rows]
    return pa.table({
        "market": ["stocks"] * n, "symbol": [r[0] for r in rows], "ts_ns": ts, "bid_price": [r[4] for r in rows],
        "bid_size": [1.0] * n, "ask_price": [None if r[4] is None else r[4] + 1 for r in rows],
        "ask_size": [2.0] * n, "bid_exchange": pa.array([1] * n, pa.int32()), "ask_exchange": pa.array([2] * n, pa.int32()),
        "conditions": [None] * n, "sequence": pa.array([r[2] for r in rows], pa.int64()),
        "tape": pa.array([3] * n, pa.int32()), "received_ns": [t + r[3] for t, r in zip(ts, rows)], "source": ["sim"] * n,
    }, schema=QUOTES_SCHEMA)  # fmt: skip


def _signals(symbol: str, ends: list[int]) -> pa.Table:
    n = len(ends)
    columns: dict[str, list] = {name: [None] * n for name in SIGNALS_SCHEMA.names}
    columns.update(symbol=[symbol] * n, bar_end_ns=ends, bar_seconds=[60] * n, n_trades=[1] * n, volume=[1.0] * n,
                   close=[1.0] * n, jump_detected=[False] * n, trading_signal=["HOLD"] * n,
                   signal_reason=["r"] * n, computed_at_ns=[0] * n)  # fmt: skip
    return pa.table(columns, schema=SIGNALS_SCHEMA)


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    path = tmp_path_factory.mktemp("read") / "r.duckdb"
    store = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path, mcp_query_timeout_ms=600))  # type: ignore[call-arg]
    store.apply_schema()
    store.append_trades(_trades(TRADES))
    store.append_quotes(_quotes(QUOTES))
    store.commit_signals(_signals("AAPL", [60 * NS, 120 * NS, 180 * NS]),
                         [SignalStateRow("AAPL", 60, 180 * NS, '{"a":1}'), SignalStateRow("MSFT", 60, 60 * NS, "{}"),
                          SignalStateRow("AAPL", 300, 600 * NS, '{"g":5}')])  # fmt: skip
    yield store
    store.close()


@pytest.fixture
def empty():
    store = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=0.4)
    store.apply_schema()
    yield store
    store.close()


def _expected_trades(symbols: list[str], start_s: int, end_s: int) -> list[dict]:
    """The rows of ``read_trades_many``: the stored trades in bounds, symbols in byte order, each by ts_ns, a
    missing sequence after every stored one, exchange, trade_id (the order ``trades_range`` documents)."""
    inside = [r for r in TRADES if r[0] in symbols and start_s <= r[1] < end_s]
    order = {s: i for i, s in enumerate(byte_sorted(symbols))}
    inside.sort(key=lambda r: (order[r[0]], r[1], 2**63 if r[2] is None else r[2], r[3], r[4]))
    size = {r[4]: 100.0 + i for i, r in enumerate(TRADES)}
    return [{"symbol": r[0], "ts_ns": T0 + r[1] * NS, "price": r[5], "size": size[r[4]], "conditions": "12",
             "correction": r[6]} for r in inside]  # fmt: skip


# --- the writers' reads ---------------------------------------------------------------------------------------
def test_maintenance_reads_bind_their_parameters_and_give_every_row(storage):
    assert storage.fetch_one("SELECT $a + 1, $b", {"a": 2, "b": "x"}) == (3, "x")
    assert storage.fetch_one("SELECT 5") == (5,)
    assert storage.fetch_all("SELECT i FROM range($n) t(i) ORDER BY i", {"n": 3}) == [(0,), (1,), (2,)]
    assert storage.fetch_all("SELECT 1 WHERE false") == []
    assert storage.fetch_all("SELECT 'only'") == [("only",)]


def test_trade_symbols_are_every_market_and_symbol_once_in_order(storage, empty):
    assert storage.trade_symbols() == [("stocks", "AAPL"), ("stocks", "B"), ("stocks", "MSFT"), ("stocks", "b")]
    assert all(type(m) is str and type(s) is str for m, s in storage.trade_symbols())
    assert empty.trade_symbols() == []


def test_the_newest_trade_is_an_int_and_none_without_trades(storage, empty):
    newest = storage.newest_trade_ns()
    assert newest == T0 + 9 * NS and type(newest) is int
    assert empty.newest_trade_ns() is None


def test_read_trades_is_one_symbol_in_time_order_and_half_open(storage):
    got = storage.read_trades("AAPL", T0 + 2 * NS, T0 + 4 * NS)
    assert got.column_names == ["ts_ns", "price", "size", "conditions", "correction"]
    assert got.column("price").to_pylist() == [10.1, 10.2]  # tied on ts_ns, sequence: by trade_id; 4 s excluded
    whole = storage.read_trades("AAPL", 0, 2**62)
    assert whole.column("price").to_pylist() == [10.0, 10.1, 10.2, 10.3, 10.4]  # the missing sequence last
    assert storage.read_trades("MSFT", T0 + 1 * NS, T0 + 1 * NS + 1).column("correction").to_pylist() == [1]
    assert storage.read_trades("NONE", 0, 2**62).num_rows == 0


def test_read_trades_with_archive_reads_the_live_trades_alike(storage):
    got = storage.read_trades_with_archive("MSFT", T0 + 1 * NS, T0 + 9 * NS)
    assert got.column_names == ["ts_ns", "price", "size", "conditions", "correction"]
    assert got.column("price").to_pylist() == [30.1, 30.5]
    assert storage.read_trades_with_archive("b", 0, 2**62).column("ts_ns").to_pylist() == [T0 + NS]


@pytest.mark.parametrize("symbols, start_s, end_s", [
    (["MSFT", "AAPL", "b", "B"], 0, 100),
    (["b", "AAPL"], 0, 100),
    (["MSFT"], 1, 9),
    (["AAPL", "MSFT"], 2, 5),
    (["AAPL"], 4, 5),
    (["NONE"], 0, 100),
])  # fmt: skip
def test_read_trades_many_is_by_symbol_in_byte_order_each_in_trade_order(storage, symbols, start_s, end_s):
    got = storage.read_trades_many(symbols, T0 + start_s * NS, T0 + end_s * NS)
    assert got.column_names == ["symbol", "ts_ns", "price", "size", "conditions", "correction"]
    assert got.to_pylist() == _expected_trades(symbols, start_s, end_s)


def test_read_trades_many_of_no_symbol_is_empty(storage):
    got = storage.read_trades_many([], 0, 2**62)
    assert got.num_rows == 0


def _expected_quotes(symbols: list[str], start_ms: int, end_ms: int) -> list[dict]:
    inside = [r for r in QUOTES if r[0] in symbols and start_ms <= r[1] < end_ms]
    inside.sort(key=lambda r: (r[0].encode(), r[1], 2**63 if r[2] is None else r[2], r[3]))
    return [{"symbol": r[0], "ts_ns": T0 + r[1] * 1_000_000, "bid_price": r[4], "bid_size": 1.0,
             "ask_price": None if r[4] is None else r[4] + 1, "ask_size": 2.0} for r in inside]  # fmt: skip


@pytest.mark.parametrize("symbols, start_ms, end_ms", [
    (["MSFT", "AAPL"], 0, 100), (["AAPL"], 2, 7), (["MSFT"], 1, 4), (["NONE"], 0, 100),
])  # fmt: skip
def test_read_quotes_many_is_by_symbol_each_in_time_then_sequence_order(storage, symbols, start_ms, end_ms):
    got = storage.read_quotes_many(symbols, T0 + start_ms * 1_000_000, T0 + end_ms * 1_000_000)
    assert got.column_names == ["symbol", "ts_ns", "bid_price", "bid_size", "ask_price", "ask_size"]
    assert got.to_pylist() == _expected_quotes(symbols, start_ms, end_ms)


def test_read_quotes_many_orders_quotes_tied_on_time_and_sequence_by_arrival(empty):
    rows = [("X", 1, 7, 9, 3.0), ("X", 1, 7, 2, 1.0), ("X", 1, 7, 5, 2.0), ("X", 0, 9, 0, 0.5)]
    empty.append_quotes(_quotes(rows))
    got = empty.read_quotes_many(["X"], 0, 2**62)
    assert got.column("bid_price").to_pylist() == [0.5, 1.0, 2.0, 3.0]


def test_read_trades_many_orders_stored_out_of_order_trades_of_one_symbol(empty):
    rows = [("Z", 3, 3, 1, "z3", 3.0, 0), ("Z", 1, 1, 1, "z1", 1.0, 0), ("Z", 2, 2, 1, "z2", 2.0, 0),
            ("Y", 0, 0, 1, "y0", 9.0, 0)]  # fmt: skip
    empty.append_trades(_trades(rows))
    got = empty.read_trades_many(["Z", "Y"], 0, 2**62)
    assert got.column("price").to_pylist() == [9.0, 1.0, 2.0, 3.0]
    assert got.column("symbol").to_pylist() == ["Y", "Z", "Z", "Z"]


def test_read_trades_many_orders_prints_tied_but_for_their_id_by_the_id(empty):
    # "T" is stored in time order but for two prints tied on ts_ns, sequence and exchange, stored id "t2" first
    rows = [("T", 0, 0, 1, "t0", 1.0, 0), ("T", 1, 1, 1, "t2", 2.2, 0), ("T", 1, 1, 1, "t1", 2.1, 0),
            ("T", 2, 2, 1, "t3", 3.0, 0)]  # fmt: skip
    empty.append_trades(_trades(rows))
    assert empty.read_trades_many(["T"], 0, 2**62).column("price").to_pylist() == [1.0, 2.1, 2.2, 3.0]
    assert empty.read_trades("T", 0, 2**62).column("price").to_pylist() == [1.0, 2.1, 2.2, 3.0]


@pytest.mark.parametrize("symbols, start_ms, end_ms", [
    (["MSFT", "AAPL"], 0, 100), (["AAPL"], 1, 7), (["MSFT", "NONE"], 0, 3), (["NONE"], 0, 100),
])  # fmt: skip
def test_quote_arrays_are_each_symbols_quotes_in_the_order_of_read_quotes_many(storage, symbols, start_ms, end_ms):
    storage._quote_ties = storage._quotes_interleaved = False  # each case from a storage's first read
    got = storage.read_quote_arrays(symbols, T0 + start_ms * 1_000_000, T0 + end_ms * 1_000_000)
    rows = _expected_quotes(symbols, start_ms, end_ms)
    want = {s for s in symbols if any(r["symbol"] == s for r in rows)}
    assert set(got) == want
    for symbol in want:
        mine = [r for r in rows if r["symbol"] == symbol]
        ts, bid, bid_size, ask, ask_size = got[symbol]
        assert ts.tolist() == [r["ts_ns"] for r in mine] and ts.dtype == np.int64
        assert np.array_equal(bid, np.array([r["bid_price"] for r in mine], dtype=float), equal_nan=True)
        assert np.array_equal(ask, np.array([r["ask_price"] for r in mine], dtype=float), equal_nan=True)
        assert bid_size.tolist() == [1.0] * len(mine) and ask_size.tolist() == [2.0] * len(mine)


def test_quote_arrays_of_interleaved_symbols_with_ties_and_rows_out_of_order(empty):
    rows = [("Q", 5, 2, 0, 5.0), ("R", 1, 0, 0, 7.0), ("Q", 1, 0, 0, 1.0), ("R", 3, 1, 0, 7.3), ("Q", 5, 1, 0, 4.0),
            ("R", 3, 0, 0, 7.2)]  # fmt: skip
    empty.append_quotes(_quotes(rows))
    for _ in range(2):  # the second read with what the first learned (ties, interleaved)
        got = empty.read_quote_arrays(["R", "Q"], 0, 2**62)
        assert got["Q"][1].tolist() == [1.0, 4.0, 5.0] and got["R"][1].tolist() == [7.0, 7.2, 7.3]
        assert got["Q"][0].tolist() == [T0 + 1_000_000, T0 + 5_000_000, T0 + 5_000_000]


def test_archived_until_is_the_end_of_each_symbols_newest_archived_day(empty):
    insert = ("INSERT INTO archive_manifest VALUES ($table, 'stocks', $day, $symbol, 'p', 'p', 1, 0, '', 0, 0, 0, "
              "true)")  # fmt: skip
    assert empty.archived_until() == {}
    for table, day, symbol in [("trades", 3, "AAPL"), ("signals", 5, "AAPL"), ("trades", 1, "MSFT"),
                               ("quotes", 9, "MSFT"), ("quotes", 2, "QQQ")]:  # fmt: skip
        empty.execute_write(insert, {"table": table, "day": dt.date(1970, 1, 1) + dt.timedelta(days=day),
                                     "symbol": symbol})  # fmt: skip
    got = empty.archived_until()
    assert got == {"AAPL": 6 * DAY_NS, "MSFT": 2 * DAY_NS}  # quotes do not count; the day's end, exclusive
    assert all(type(k) is str and type(v) is int for k, v in got.items())


# --- the stored states ----------------------------------------------------------------------------------------
def test_the_states_of_a_grid_and_only_of_that_grid(storage):
    assert storage.load_signal_states(60) == {"AAPL": SignalStateRow("AAPL", 60, 180 * NS, '{"a":1}'),
                                              "MSFT": SignalStateRow("MSFT", 60, 60 * NS, "{}")}  # fmt: skip
    assert storage.load_signal_states(300) == {"AAPL": SignalStateRow("AAPL", 300, 600 * NS, '{"g":5}')}
    assert storage.load_signal_states(30) == {}


def test_the_stamps_are_each_states_end_and_write_stamp(storage):
    stamps = storage.signal_state_stamps(60)
    assert set(stamps) == {"AAPL", "MSFT"}
    (end, stamp), (end_m, stamp_m) = stamps["AAPL"], stamps["MSFT"]
    assert (end, end_m) == (180 * NS, 60 * NS) and type(end) is int and type(stamp) is int
    written = dict(storage.fetch_all("SELECT symbol, updated_ns FROM signal_state WHERE bar_seconds = 60"))
    assert (stamp, stamp_m) == (written["AAPL"], written["MSFT"]) and stamp > 0
    assert storage.signal_state_stamps(30) == {}


def test_the_states_of_some_symbols_with_their_stamps(storage):
    stamps = storage.signal_state_stamps(60)
    got = storage.load_signal_states_of(60, ["MSFT", "NONE"])
    assert got == {"MSFT": (SignalStateRow("MSFT", 60, 60 * NS, "{}"), stamps["MSFT"][1])}
    both = storage.load_signal_states_of(60, ("AAPL", "MSFT"))
    assert both["AAPL"] == (SignalStateRow("AAPL", 60, 180 * NS, '{"a":1}'), stamps["AAPL"][1])
    assert set(both) == {"AAPL", "MSFT"}
    assert storage.load_signal_states_of(300, ["AAPL"])["AAPL"][0].state == '{"g":5}'
    assert storage.load_signal_states_of(60, []) == {}


def test_no_symbols_asked_reads_nothing(storage, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("read")

    monkeypatch.setattr(storage, "_fetchall", refuse)
    assert storage.load_signal_states_of(60, []) == {}


# --- the server's named reads ---------------------------------------------------------------------------------
def _named(storage: DuckDBStorage, monkeypatch, name: str, text: str, params: tuple[str, ...] = ()) -> None:
    monkeypatch.setitem(storage._queries._queries, name, NamedQuery(name, params, "", text))


def test_a_named_read_gives_its_columns_the_first_rows_and_whether_more_exist(storage, monkeypatch):
    _named(storage, monkeypatch, "nums", "SELECT i AS n, i * 2 AS twice FROM range($top) t(i) ORDER BY i", ("top",))
    three = storage.query("nums", {"top": 5}, 3)
    assert three.columns == ["n", "twice"] and three.rows == [(0, 0), (1, 2), (2, 4)] and three.truncated is True
    exact = storage.query("nums", {"top": 3}, 3)
    assert exact.rows == [(0, 0), (1, 2), (2, 4)] and exact.truncated is False
    assert storage.query("nums", {"top": 0}, 3).rows == [] and storage.query("nums", {"top": 0}, 3).columns == ["n", "twice"]


def test_a_named_read_with_a_row_limit_binds_one_more_than_asked(storage, monkeypatch):
    _named(storage, monkeypatch, "limited", "SELECT $row_limit AS bound FROM range(10) LIMIT $row_limit",
           ("row_limit",))  # fmt: skip
    got = storage.query("limited", {}, 2)
    assert got.rows == [(3,), (3,)] and got.truncated is True
    assert storage.query("limited", {"row_limit": 99}, 4).rows[0] == (5,)  # the caller's value is replaced


def test_a_named_read_cannot_write_and_its_failures_name_it(storage, monkeypatch):
    _named(storage, monkeypatch, "writer", "DELETE FROM signal_state RETURNING symbol")
    with pytest.raises(StorageError) as refused:
        storage.query("writer", {}, 5)
    assert str(refused.value).startswith("query 'writer' failed: ") and "read-only" in str(refused.value)
    assert len(storage.load_signal_states(60)) == 2  # nothing deleted, and the cursor reads on
    _named(storage, monkeypatch, "slow", "SELECT count(*) FROM range(100000000000)")
    with pytest.raises(QueryTimeout) as slow:
        storage.query("slow", {}, 1)
    assert str(slow.value) == "query 'slow' exceeded MCP_QUERY_TIMEOUT_MS=600"
    storage.execute_write("DELETE FROM signal_state WHERE bar_seconds = 5")  # the writer still writes afterwards


# --- analyst SQL ----------------------------------------------------------------------------------------------
def test_analyst_sql_gives_columns_with_types_the_first_rows_and_truncated(storage):
    got = storage.run_sql("SELECT i, 'x' || i AS s FROM range(5) t(i) ORDER BY i", 2)
    assert got.columns == [("i", "BIGINT"), ("s", "VARCHAR")]
    assert got.table.to_pylist() == [{"i": 0, "s": "x0"}, {"i": 1, "s": "x1"}] and got.truncated is True
    exact = storage.run_sql("SELECT i FROM range(2) t(i) ORDER BY i", 2)
    assert exact.table.column("i").to_pylist() == [0, 1] and exact.truncated is False
    none = storage.run_sql("SELECT 1 AS one WHERE false", 2)
    assert none.table.num_rows == 0 and none.table.column_names == ["one"] and none.truncated is False


def test_analyst_sql_cannot_write_and_the_writer_writes_after(storage):
    with pytest.raises(StatementError, match="read-only"):
        storage.run_sql("DELETE FROM market_data", 5)
    assert storage.fetch_one("SELECT count(*) FROM market_data") == (len(TRADES),)
    storage.execute_write("DELETE FROM signal_state WHERE bar_seconds = 5")  # no transaction left open


def test_analyst_sql_errors_name_the_statement_or_the_time_limit(storage):
    with pytest.raises(StatementError, match="^Parser Error"):
        storage.run_sql("SELEC 1", 5)
    with pytest.raises(QueryTimeout) as slow:
        storage.run_sql("SELECT count(*) FROM range(100000000000)", 5)
    assert str(slow.value) == "the statement exceeded MCP_QUERY_TIMEOUT_MS=600"
    assert storage.run_sql("SELECT 2 AS two", 5).table.to_pylist() == [{"two": 2}]


def test_a_second_analyst_statement_waits_at_most_the_time_limit(storage):
    storage._analyst_slot.acquire()
    try:
        with pytest.raises(QueryTimeout) as waited:
            storage.run_sql("SELECT 1", 5)
    finally:
        storage._analyst_slot.release()
    assert str(waited.value) == "another analyst SQL statement held the analyst slot for MCP_QUERY_TIMEOUT_MS=600"
    done = threading.Event()
    storage._analyst_slot.acquire()
    answers: list[object] = []
    worker = threading.Thread(target=lambda: (answers.append(storage.run_sql("SELECT 3 AS x", 1).table.to_pylist()),
                                              done.set()))  # fmt: skip
    worker.start()
    storage._analyst_slot.release()
    worker.join(10)
    assert answers == [[{"x": 3}]]


def test_analyst_sql_failing_in_the_database_is_a_storage_error_and_frees_the_slot(storage, caplog):
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    missing = f"{storage.archive_root}/none.parquet"
    with pytest.raises(StorageError, match=r"^the database failed running the statement \(the server log"):
        storage.run_sql(f"SELECT * FROM read_parquet('{missing}')", 5)
    (line,) = [r.getMessage() for r in caplog.records]  # the server log has the detail
    assert line.startswith("analyst SQL failed in the database: IO Error") and missing in line
    assert storage._analyst_slot.acquire(blocking=False)
    storage._analyst_slot.release()


def test_analyst_sql_keeps_many_batches_up_to_the_limit(storage):
    got = storage.run_sql("SELECT i FROM range(30000) t(i) ORDER BY i", 20_001)
    assert got.table.num_rows == 20_001 and got.truncated is True
    assert got.table.column("i").to_pylist() == list(range(20_001))


def _reader(sizes: list[int]) -> pa.RecordBatchReader:
    schema = pa.schema([("v", pa.int64())])
    start = np.cumsum([0, *sizes])
    batches = [pa.record_batch([pa.array(np.arange(start[i], start[i] + n))], schema=schema)
               for i, n in enumerate(sizes)]  # fmt: skip
    return pa.RecordBatchReader.from_batches(schema, batches)


@pytest.mark.parametrize("sizes, n, rows", [
    ([2, 3, 4], 4, [0, 1, 2, 3]), ([2, 3, 4], 5, [0, 1, 2, 3, 4]), ([2, 3], 9, [0, 1, 2, 3, 4]), ([], 3, []),
    ([3], 0, []), ([3, 0, 2], 4, [0, 1, 2, 3]),
])  # fmt: skip
def test_first_rows_are_the_first_n_rows_of_the_reader(sizes, n, rows):
    got = _first_rows(_reader(sizes), n)
    assert got.column("v").to_pylist() == rows and got.schema.names == ["v"]


class _RecordingReader:
    """A reader of batches of two rows ``[i, i]`` that records each batch read and whether it was closed."""

    def __init__(self, n: int) -> None:
        self.schema = pa.schema([("v", pa.int64())])
        self._left = list(range(n))
        self.read: list[int] = []
        self.closed = False

    def read_next_batch(self) -> pa.RecordBatch:
        if not self._left:
            raise StopIteration
        i = self._left.pop(0)
        self.read.append(i)
        return pa.record_batch([pa.array([i, i])], schema=self.schema)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("batches, n, rows, read", [(5, 3, [0, 0, 1], [0, 1]), (5, 4, [0, 0, 1, 1], [0, 1]),
                                                    (1, 3, [0, 0], [0]), (0, 2, [], [])])  # fmt: skip
def test_first_rows_reads_no_batch_past_the_n_th_row_and_closes_the_reader(batches, n, rows, read):
    reader = _RecordingReader(batches)
    assert _first_rows(reader, n).column("v").to_pylist() == rows  # type: ignore[arg-type]
    assert reader.read == read and reader.closed


def test_first_rows_closes_the_reader_when_a_read_fails():
    reader = _RecordingReader(3)

    def fail() -> pa.RecordBatch:
        raise OSError("gone")

    reader.read_next_batch = fail  # type: ignore[method-assign]
    with pytest.raises(OSError):
        _first_rows(reader, 2)  # type: ignore[arg-type]
    assert reader.closed
