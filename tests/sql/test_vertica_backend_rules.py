"""``sql/vertica_backend.py`` without a Vertica server: fast rules for the mutation group ``vertica-backend``.

The statement builders (COPY text read back by the reference reader :func:`tests.sql.vertica_on_duckdb.parse_copy`),
``connect_options``, ``udx_settings_json``, the connection pool, and :class:`VerticaStorage`'s methods on a
recording stand-in for a vertica-python connection: each method must send the statements of ``sql/vertica/`` its
docstring names, in its order, bound to the parameters each declares, inside one transaction (commit on success,
rollback on error), and read their answers as documented. The expected statements and parameters are written
by hand from the docstrings and the ``-- params:`` headers of the SQL files. What the statements compute is checked
elsewhere (``tests/sql/vertica_on_duckdb.py`` runs them in DuckDB); whether Vertica accepts them, where
``VERTICA_HOST`` is set. Milliseconds a test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
import vertica_python

from sql.backend import QueryTimeout, SignalStateRow, StatementError, StorageError
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    MODEL_PARAMS_SCHEMA,
    QUOTES_SCHEMA,
    SIGNAL_STATE_SCHEMA,
    SIGNALS_SCHEMA,
    TRADES_SCHEMA,
)
from sql.queries import load_registry, split_statements
from sql.settings import Settings
from sql.vertica_backend import (
    SOCKET_SLACK_SECONDS,
    InDatabaseTransformSummary,
    VerticaStorage,
    _Pool,
    _rows_table,
    connect_options,
    copy_rows,
    copy_statement,
    udx_settings_json,
)
from tests.sql.vertica_on_duckdb import parse_copy

NS = 10**9
DAY = 86_400 * NS
FOLDERS = ("queries", "session", "staging", "transform", "udx", "schema", "views", "retention")
#: statement text -> "folder/name" (what the stand-in records for each execute)
NAMES = {s.text: f"{folder}/{s.name}" for folder in FOLDERS for s in load_registry("vertica", folder)}
STAGING = [f"staging/{s.name}" for s in load_registry("vertica", "staging")]


# --- the COPY text -------------------------------------------------------------------------------------------
def test_copy_statement_is_the_documented_format() -> None:
    assert copy_statement("t_stage", ["a", "b", "c"]) == (
        "COPY t_stage (a, b, c) FROM STDIN DELIMITER '|' ENCLOSED BY '''' ENFORCELENGTH ABORT ON ERROR NO COMMIT")
    assert copy_statement("x", ["only"]) == (
        "COPY x (only) FROM STDIN DELIMITER '|' ENCLOSED BY '''' ENFORCELENGTH ABORT ON ERROR NO COMMIT")


def test_copy_rows_escapes_encloses_and_writes_null_as_an_empty_field() -> None:
    strings = ["a|b", None, "", "x'y\\z\n\r", "plain"]
    table = pa.table({"s": pa.array(strings), "i": pa.array([1, None, -3, 4, 2**62]),
                      "b": pa.array([True, False, None, True, False]),
                      "n": pa.array([7, 8, 9, None, 0], pa.int32()),
                      "l": pa.array(["é", "|", None, "'", "\\"])})
    text = copy_rows(table)
    assert text.endswith("\n") and text.count("\n") == 5 + 1  # the escaped line break of row 4
    assert text.splitlines()[0] == "'a\\|b'|1|true|7|'é'"
    assert text.splitlines()[1] == "||false|8|'\\|'"
    assert text.splitlines()[2] == "''|-3||9|"
    assert parse_copy(text) == [["a|b", "1", "true", "7", "é"], [None, None, "false", "8", "|"],
                                ["", "-3", None, "9", None], ["x'y\\z\n\r", "4", "true", None, "'"],
                                ["plain", str(2**62), "false", "0", "\\"]]
    large = copy_rows(pa.table({"l": pa.array(["a|b", None, "", "'"], pa.large_string())}))
    assert large == "'a\\|b'\n\n''\n'\\''\n"
    # a large_string column beside a string one (before 2026-12-05: ArrowNotImplementedError, no join kernel)
    mixed = pa.table({"s": pa.array(["x"]), "l": pa.array(["y|"], pa.large_string()), "i": pa.array([1])})
    assert copy_rows(mixed) == "'x'|'y\\|'|1\n"


def test_copy_rows_writes_floats_that_load_bit_for_bit_and_non_finite_as_null() -> None:
    values = [0.1, 1e300, -2.5e-320, 1 / 3, -0.0, float("nan"), float("inf"), float("-inf"), None, 123456789.125]
    text = copy_rows(pa.table({"f": pa.array(values, pa.float64())}))
    fields = [row[0] for row in parse_copy(text)]
    for got, want in zip(fields, values, strict=True):
        if want is None or not math.isfinite(want):
            assert got is None
        else:
            assert float(got) == want and math.copysign(1, float(got)) == math.copysign(1, want)
    assert fields[0] == "0.1" and fields[3] == repr(1 / 3)  # the shortest round-trip form
    f32 = copy_rows(pa.table({"f": pa.array([0.5, float("nan")], pa.float32())}))
    assert parse_copy(f32) == [["0.5"], [None]]


def test_copy_rows_of_chunked_columns_one_column_and_no_rows() -> None:
    chunked = pa.table({"s": pa.chunked_array([["a", "b"], ["c"]]), "i": pa.chunked_array([[1], [2, 3]])})
    assert copy_rows(chunked) == "'a'|1\n'b'|2\n'c'|3\n"
    assert copy_rows(pa.table({"i": [5, 6]})) == "5\n6\n"
    assert copy_rows(pa.table({"i": pa.array([], pa.int64())})) == ""
    with pytest.raises(StorageError, match="no COPY text form for Arrow type timestamp"):
        copy_rows(pa.table({"t": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("us"))}))


# --- options and settings -------------------------------------------------------------------------------
def _settings(**extra: Any) -> Settings:
    return Settings(_env_file=None, **extra)  # type: ignore[call-arg]


def test_connect_options_are_the_vertica_settings() -> None:
    s = _settings(vertica_host="h.example", vertica_port=5999, vertica_db="db1", vertica_user="u1",
                  vertica_pass="s3cret", vertica_connect_timeout_seconds=7.5)
    assert connect_options(s) == {"host": "h.example", "port": 5999, "database": "db1", "user": "u1",
                                  "password": "s3cret", "autocommit": False, "connection_timeout": 7.5}


def test_udx_settings_json_passes_every_field_but_the_secrets_compactly_sorted() -> None:
    s = _settings(vertica_pass="pw-one", polygon_api_key="key-two", mcp_auth_token="tok-three", bar_seconds=120,
                  lm_window=17, session_stocks="00:00-24:00 UTC")
    text = udx_settings_json(s)
    assert "pw-one" not in text and "key-two" not in text and "tok-three" not in text and "*****" not in text
    doc = json.loads(text)
    assert list(doc) == sorted(doc) and text == json.dumps(doc, sort_keys=True, separators=(",", ":"))
    assert " " not in text.replace("00:00-24:00 UTC", "")
    assert {"vertica_pass", "polygon_api_key", "mcp_auth_token"}.isdisjoint(doc)
    assert (doc["bar_seconds"], doc["lm_window"], doc["session_stocks"]) == (120, 17, "00:00-24:00 UTC")
    dumped = s.model_dump(mode="json")
    assert set(doc) == set(dumped) - {"vertica_pass", "polygon_api_key", "mcp_auth_token"}
    assert all(doc[k] == dumped[k] for k in doc)
    again = Settings(_env_file=None, **doc)  # type: ignore[call-arg]
    assert again.bar_seconds == 120 and again.lm_window == 17
    plain = json.loads(udx_settings_json(_settings()))
    assert plain["vertica_pass"] == ""  # an empty secret is no secret: passed as is
    assert "polygon_api_key" in plain and plain["polygon_api_key"] is None


def test_rows_table_types_the_rows_and_an_empty_answer() -> None:
    columns = (("symbol", pa.string()), ("n", pa.int64()), ("x", pa.float64()), ("k", pa.int32()))
    table = _rows_table([("A", 1, 0.5, 3), ("B", 2, None, -1)], columns)
    assert table.schema == pa.schema(list(columns))
    assert table.to_pylist() == [{"symbol": "A", "n": 1, "x": 0.5, "k": 3}, {"symbol": "B", "n": 2, "x": None, "k": -1}]
    empty = _rows_table([], columns)
    assert empty.schema == pa.schema(list(columns)) and empty.num_rows == 0
    # a statement whose answer does not fit the columns is refused, never cut
    with pytest.raises(ValueError):
        _rows_table([("A", 1, 0.5, 3, "extra")], columns)
    with pytest.raises(ValueError):
        _rows_table([("A", 1, 0.5, 3), ("B", 2, None)], columns)
    with pytest.raises(ValueError):
        VerticaStorage._trades_table([(1, 2.5, 3.0, None, 0), (2, 2.5, 3.0, None)])
    with pytest.raises(ValueError):  # a longer row after a fitting one
        _rows_table([("A", 1, 0.5, 3), ("B", 2, None, 4, "extra")], columns)
    with pytest.raises(ValueError):
        VerticaStorage._trades_table([(1, 2.5, 3.0, None, 0), (2, 2.5, 3.0, None, 0, "extra")])


# --- a recording stand-in for vertica-python ---------------------------------------------------------------
class Answer:
    """What a statement returns: rows (``None``: no result set), a rowcount, or an error to raise."""

    def __init__(self, rows: list[tuple] | None = None, rowcount: int = -1, error: BaseException | None = None,
                 description: list[Any] | None = None) -> None:
        self.rows, self.rowcount, self.error, self.description = rows, rowcount, error, description


class FakeVertica:
    """Connections that record every call; ``answers[name]`` is an :class:`Answer`, a list of them (in turn), or a
    callable of the parameters."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers = dict(answers or {})
        self.log: list[tuple[Any, ...]] = []
        self.connections: list[FakeConnection] = []
        self.fail_close = False
        self.cancelled = threading.Event()

    def connect(self) -> FakeConnection:
        connection = FakeConnection(self, len(self.connections))
        self.connections.append(connection)
        self.log.append(("connect", connection.id))
        return connection

    def answer(self, name: str, params: Any) -> Answer:
        a = self.answers.get(name)
        if isinstance(a, list):
            a = a.pop(0) if len(a) > 1 else a[0]
        if callable(a) and not isinstance(a, Answer):
            a = a(params)
        return a if a is not None else Answer()

    def calls(self, *kinds: str, skip_setup: bool = True) -> list[tuple[Any, ...]]:
        """The log without the sessions' setup statements."""
        out = []
        for entry in self.log:
            if entry[0] not in kinds:
                continue
            if skip_setup and entry[0] == "execute" and entry[2].split("/")[0] in ("session", "staging"):
                continue
            out.append(entry)
        return out

    def executed(self) -> list[tuple[str, Any]]:
        return [(e[2], e[3]) for e in self.calls("execute")]


class FakeSocket:
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection

    def settimeout(self, seconds: float) -> None:
        self._connection.db.log.append(("settimeout", self._connection.id, seconds))


class FakeConnection:
    def __init__(self, db: FakeVertica, id_: int) -> None:
        self.db, self.id = db, id_
        self.socket = FakeSocket(self)
        self.closed = 0

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def commit(self) -> None:
        self.db.log.append(("commit", self.id))

    def rollback(self) -> None:
        self.db.log.append(("rollback", self.id))
        if self.db.answers.get("rollback fails"):
            raise vertica_python.errors.ConnectionError("gone")

    def cancel(self) -> None:
        self.db.log.append(("cancel", self.id))
        self.db.cancelled.set()

    def close(self) -> None:
        self.closed += 1
        self.db.log.append(("close", self.id))
        if self.db.fail_close:
            raise OSError("cannot close")


_NO_PARAMS = object()


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection
        self._rows: list[tuple] = []
        self.description: Any = None
        self.rowcount = -1

    def execute(self, text: str, params: Any = _NO_PARAMS) -> FakeCursor:
        name = NAMES.get(text, text)
        self._connection.db.log.append(("execute", self._connection.id, name,
                                        None if params is _NO_PARAMS else params))
        a = self._connection.db.answer(name, params)
        if a.error is not None:
            raise a.error
        self._rows = list(a.rows or [])
        self.description = a.description if a.description is not None else (
            [("c",)] if a.rows is not None else None)
        self.rowcount = a.rowcount
        return self

    def copy(self, statement: str, data: str) -> None:
        self._connection.db.log.append(("copy", self._connection.id, statement, data))

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, n: int | None = None) -> list[tuple]:
        n = n or 1  # vertica-python: no size is the cursor's arraysize, 1
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows


def _storage(db: FakeVertica, **kwargs: Any) -> VerticaStorage:
    args: dict[str, Any] = {"read_only": False, "query_timeout_ms": 3000, "write_timeout_s": 60, "pool_size": 2}
    args.update(kwargs)
    return VerticaStorage(db.connect, **args)


def _vertica_error(message: str, sqlstate: str | None = None) -> vertica_python.errors.Error:
    exc = vertica_python.errors.Error(message)
    if sqlstate is not None:
        exc.sqlstate = sqlstate  # type: ignore[attr-defined]
    return exc


# --- the pool -------------------------------------------------------------------------------------------
def test_a_new_connection_gets_its_socket_timeout_and_session_setup_then_commits() -> None:
    db = FakeVertica()
    pool = _Pool(db.connect, 2, [("SET A", {}), ("SET B", {"x": 1})], 12.5)
    with pool.connection() as c:
        assert c is db.connections[0]
    assert db.log == [("connect", 0), ("settimeout", 0, 12.5), ("execute", 0, "SET A", None),
                      ("execute", 0, "SET B", {"x": 1}), ("commit", 0)]
    with pool.connection() as again:  # back to the pool: no new connection
        assert again is c
    assert len(db.connections) == 1


def test_the_pool_hands_out_the_newest_idle_connection_and_opens_up_to_its_size() -> None:
    db = FakeVertica()
    pool = _Pool(db.connect, 2, [], 1.0)
    with pool.connection() as a, pool.connection() as b:
        assert a is not b
    # a went back last (b's block closed first): it comes out first
    with pool.connection() as first:
        assert first is a
    assert len(db.connections) == 2
    blocked = threading.Event()
    got = threading.Event()

    def borrow() -> None:
        blocked.set()
        with small.connection():
            got.set()

    small = _Pool(db.connect, 1, [], 1.0)
    with small.connection():
        t = threading.Thread(target=borrow)
        t.start()
        blocked.wait(5)
        assert not got.wait(0.3)  # the one slot is taken
    t.join(5)
    assert got.is_set()


def test_a_connection_that_raised_is_closed_and_replaced_and_its_slot_freed() -> None:
    db = FakeVertica()
    pool = _Pool(db.connect, 1, [], 1.0)
    with pytest.raises(KeyError), pool.connection():
        raise KeyError("boom")
    assert db.connections[0].closed == 1
    db.fail_close = True  # closing a broken connection may fail: still gone, the error is the caller's
    with pytest.raises(ValueError), pool.connection() as c:
        assert c is db.connections[1]
        raise ValueError("again")
    db.fail_close = False
    with pool.connection() as c:
        assert c is db.connections[2]
    pool.close()
    assert [c.closed for c in db.connections] == [1, 1, 1]  # the discarded ones are not closed again
    pool.close()
    assert [c.closed for c in db.connections] == [1, 1, 1]


def test_closing_the_pool_closes_every_connection_even_when_one_fails() -> None:
    db = FakeVertica()
    pool = _Pool(db.connect, 3, [], 1.0)
    with pool.connection(), pool.connection(), pool.connection():
        pass
    db.fail_close = True
    pool.close()
    assert [c.closed for c in db.connections] == [1, 1, 1]


def test_a_failed_setup_statement_leaves_no_connection_behind() -> None:
    db = FakeVertica({"SET A": Answer(error=_vertica_error("nope"))})
    pool = _Pool(db.connect, 1, [("SET A", {})], 1.0)
    with pytest.raises(vertica_python.errors.Error), pool.connection():
        pass
    db.answers.clear()
    with pool.connection() as c:  # the slot is free again
        assert c is db.connections[1]
    pool.close()
    assert db.connections[0].closed == 0 and db.connections[1].closed == 1


# --- sessions and transactions ---------------------------------------------------------------------------
def test_reader_and_writer_sessions_are_set_up_as_documented() -> None:
    db = FakeVertica({"queries/newest_trade_ns": Answer([(5,)])})
    storage = _storage(db, query_timeout_ms=2500, write_timeout_s=45)
    with storage._reader.connection():
        pass
    assert db.log[1] == ("settimeout", 0, 2.5 + SOCKET_SLACK_SECONDS)
    assert [e[2:] for e in db.log if e[0] == "execute"] == [
        ("session/read_only", None), ("session/runtimecap", {"runtimecap": "2500 milliseconds"})]
    db.log.clear()
    assert storage.newest_trade_ns() == 5  # reads of a writer go through the writer pool
    assert db.log[1] == ("settimeout", 1, 45 + SOCKET_SLACK_SECONDS)
    setup = [e[2:] for e in db.log if e[0] == "execute"][:-1]
    assert setup == [("session/runtimecap", {"runtimecap": "45 seconds"})] + [(s, None) for s in STAGING]
    assert db.log[-2:] == [("execute", 1, "queries/newest_trade_ns", {}), ("rollback", 1)]


def test_a_read_only_storage_reads_through_its_reader_and_refuses_writes() -> None:
    db = FakeVertica({"queries/trade_symbols": Answer([("stocks", "A"), ("crypto", "X:B")])})
    storage = _storage(db, read_only=True)
    assert storage._writer is None
    assert storage.trade_symbols() == [("stocks", "A"), ("crypto", "X:B")]
    assert [e[2] for e in db.log if e[0] == "execute"][0] == "session/read_only"
    with pytest.raises(StorageError, match="this storage was opened read-only"):
        storage.reset_signals(["A"], 60)
    storage.close()
    assert db.connections[0].closed == 1


def test_a_write_commits_once_or_rolls_back_and_raises() -> None:
    db = FakeVertica({"queries/reset_trading_signals": Answer(error=_vertica_error("bad"))})
    storage = _storage(db)
    with pytest.raises(StorageError, match="reset_signals failed: bad"):
        storage.reset_signals(["A"], 60)
    assert db.calls("commit", "rollback")[-1] == ("rollback", 0) and db.connections[0].closed == 1
    db.answers["rollback fails"] = True
    with pytest.raises(StorageError, match="reset_signals failed: bad"):
        storage.reset_signals(["A"], 60)
    with pytest.raises(KeyError):
        with storage._write():
            raise KeyError("not a database error")
    db.answers.clear()
    db.log.clear()
    storage.reset_signals(["A"], 60)
    assert [e[0] for e in db.log if e[0] in ("commit", "rollback")] == ["commit", "commit"]  # setup, write
    storage.close()
    assert all(c.closed == 1 for c in db.connections)


# --- writes ----------------------------------------------------------------------------------------------
def _trades(n: int) -> pa.Table:
    return pa.table({
        "market": ["stocks"] * n, "symbol": ["A"] * n, "ts_ns": list(range(n)), "price": [1.5] * n,
        "size": [2.0] * n, "exchange": pa.array([1] * n, pa.int32()), "trade_id": [f"t{i}" for i in range(n)],
        "conditions": [None] * n, "tape": pa.array([1] * n, pa.int32()), "sequence": pa.array(range(n), pa.int64()),
        "trf_id": pa.array([None] * n, pa.int32()), "trf_ts_ns": pa.array([None] * n, pa.int64()),
        "received_ns": list(range(n)), "source": ["sim"] * n, "correction": pa.array([0] * n, pa.int32())},
        schema=TRADES_SCHEMA)


def test_an_append_copies_to_its_stage_then_inserts_and_counts() -> None:
    db = FakeVertica({"queries/insert_trades": Answer([(3,)])})
    points: list[str] = []
    storage = _storage(db, fault=lambda p: points.append(f"{p} after {len(db.calls('copy'))} copies"))
    trades = _trades(3)
    assert storage.append_trades(trades) == 3
    copies = db.calls("copy")
    assert copies == [("copy", 0, copy_statement("market_data_stage", TRADES_SCHEMA.names), copy_rows(trades))]
    assert db.executed() == [("queries/insert_trades", None)]
    assert points == ["staged after 1 copies"] and db.calls("commit")[-1] == ("commit", 0)
    # another column order and types: conformed to the contract first
    shuffled = trades.select(list(reversed(TRADES_SCHEMA.names))).set_column(
        TRADES_SCHEMA.names[::-1].index("size"), "size", pa.array([2, 2, 2], pa.int64()))
    db.log.clear()
    assert storage.append_trades(shuffled) == 3
    assert db.calls("copy")[0][2:] == (copy_statement("market_data_stage", TRADES_SCHEMA.names), copy_rows(trades))
    assert storage.append_trades(trades.slice(0, 0)) == 0 and len(db.calls("copy")) == 1
    assert points == ["staged after 1 copies", "staged after 1 copies"]


@pytest.mark.parametrize(("answer", "added"), [(Answer([(None,)], rowcount=4), 4), (Answer(None, rowcount=2), 2),
                                               (Answer(None, rowcount=-1), 0), (Answer([(0,)], rowcount=5), 0)])
def test_an_append_counts_the_statements_answer_else_its_rowcount(answer: Answer, added: int) -> None:
    db = FakeVertica({"queries/insert_quotes": answer})
    quotes = pa.Table.from_pylist([{f.name: None for f in QUOTES_SCHEMA} | {"ts_ns": 1, "market": "stocks",
                                                                         "symbol": "A", "source": "sim"}],
                                  QUOTES_SCHEMA)
    assert _storage(db).append_quotes(quotes) == added
    assert db.calls("copy")[0][2] == copy_statement("quotes_stage", QUOTES_SCHEMA.names)
    assert db.executed() == [("queries/insert_quotes", None)]


def test_a_failed_append_is_a_storage_error_naming_its_statement() -> None:
    db = FakeVertica({"queries/insert_trades": Answer(error=_vertica_error("constraint"))})
    with pytest.raises(StorageError, match="insert_trades failed: constraint"):
        _storage(db).append_trades(_trades(1))
    assert db.calls("rollback")


def _one(schema: pa.Schema, **values: Any) -> pa.Table:
    row = {f.name: None for f in schema}
    for f in schema:
        if not f.nullable:
            row[f.name] = {pa.string(): "A", pa.bool_(): False, pa.float64(): 1.0}.get(f.type, 1)
    row.update(values)
    return pa.Table.from_pylist([row], schema)


def test_commit_signals_writes_each_table_given_then_the_states_in_one_transaction() -> None:
    db = FakeVertica()
    points: list[int] = []
    storage = _storage(db, fault=lambda p: points.append(len(db.log)))
    sig, fits, prof = _one(SIGNALS_SCHEMA), _one(MODEL_PARAMS_SCHEMA), _one(INTRADAY_PROFILE_SCHEMA)
    liq, rea = _one(BAR_LIQUIDITY_SCHEMA), _one(BAR_REALIZED_SPREAD_SCHEMA)
    state = SignalStateRow("A", 60, 123, '{"s":1}')
    storage.commit_signals(sig, [state], fits, prof, liq, rea)
    steps = [(e[0], e[2].split(" (")[0]) if e[0] == "copy" else (e[0], e[2]) if e[0] == "execute" else (e[0],)
             for e in db.calls("copy", "execute", "commit")]
    assert steps == [
        ("commit",),  # the writer session's setup
        ("copy", "COPY trading_signals_stage"), ("execute", "queries/upsert_signals"),
        ("copy", "COPY model_params_stage"), ("execute", "queries/upsert_model_params"),
        ("copy", "COPY intraday_profile_stage"), ("execute", "queries/upsert_intraday_profile"),
        ("copy", "COPY bar_liquidity_stage"), ("execute", "queries/upsert_bar_liquidity"),
        ("copy", "COPY bar_realized_spread_stage"), ("execute", "queries/insert_bar_realized_spread"),
        ("copy", "COPY signal_state_stage"), ("execute", "queries/upsert_signal_state"), ("commit",)]
    copies = db.calls("copy")
    assert copies[0][3] == copy_rows(sig) and copies[3][3] == copy_rows(liq) and copies[4][3] == copy_rows(rea)
    assert copies[0][2] == copy_statement("trading_signals_stage", SIGNALS_SCHEMA.names)
    state_rows = parse_copy(copies[5][3])
    assert copies[5][2] == copy_statement("signal_state_stage", SIGNAL_STATE_SCHEMA.names)
    assert len(state_rows) == 1 and state_rows[0][:4] == ["A", "60", "123", '{"s":1}']
    assert abs(int(state_rows[0][4]) - time.time_ns()) < 600 * NS  # updated now
    # the fault point: after the realized rows are staged, before they and the states are written
    staged_at = points[0]
    assert db.log[staged_at - 1][0] == "copy" and "bar_realized_spread_stage" in db.log[staged_at - 1][2]
    assert db.log[staged_at][2] == "queries/insert_bar_realized_spread"


def test_commit_signals_skips_what_is_empty_and_still_passes_the_fault_point() -> None:
    db = FakeVertica()
    points: list[str] = []
    storage = _storage(db, fault=points.append)
    storage.commit_signals(SIGNALS_SCHEMA.empty_table(), [], MODEL_PARAMS_SCHEMA.empty_table(),
                           INTRADAY_PROFILE_SCHEMA.empty_table(), BAR_LIQUIDITY_SCHEMA.empty_table(),
                           BAR_REALIZED_SPREAD_SCHEMA.empty_table())
    storage.commit_signals(SIGNALS_SCHEMA.empty_table(), [])
    assert db.calls("copy") == [] and db.executed() == [] and points == ["staged", "staged"]
    db.answers["queries/upsert_signals"] = Answer(error=_vertica_error("dup"))
    with pytest.raises(StorageError, match="commit_signals failed: dup"):
        storage.commit_signals(_one(SIGNALS_SCHEMA), [])


def test_reset_and_rewind_delete_every_table_of_each_symbol_on_the_grid() -> None:
    db = FakeVertica()
    storage = _storage(db)
    storage._metrics_final_before[60] = 5
    storage.reset_signals(["A", "B"], 60)
    tables = ["trading_signals", "model_params", "intraday_profile", "bar_liquidity", "bar_realized_spread",
              "daily_metrics", "signal_state"]
    assert db.executed() == [(f"queries/reset_{t}", {"symbol": s, "bar_seconds": 60}) for s in ("A", "B")
                             for t in tables]
    assert storage._metrics_final_before == {}
    db.log.clear()
    storage._metrics_final_before[60] = 5
    storage.rewind_signals([])
    assert db.log == [] and storage._metrics_final_before == {60: 5}
    states = [SignalStateRow("A", 60, 100, "{}"), SignalStateRow("B", 60, 200, "{}")]
    storage.rewind_signals(states)
    assert db.executed() == [(f"queries/rewind_{t}", {"symbol": s.symbol, "bar_seconds": 60,
                                                      "after_ns": s.last_bar_end_ns})
                             for s in states for t in tables[:-1]] + [("queries/upsert_signal_state", None)]
    copies = db.calls("copy")
    assert len(copies) == 1 and copies[0][2] == copy_statement("signal_state_stage", SIGNAL_STATE_SCHEMA.names)
    assert [r[:3] for r in parse_copy(copies[0][3])] == [["A", "60", "100"], ["B", "60", "200"]]
    assert all(abs(int(r[4]) - time.time_ns()) < 600 * NS for r in parse_copy(copies[0][3]))
    assert storage._metrics_final_before == {}
    db.answers["queries/rewind_model_params"] = Answer(error=_vertica_error("x"))
    with pytest.raises(StorageError, match="rewind_signals failed: x"):
        storage.rewind_signals(states)


# --- realized spreads -------------------------------------------------------------------------------------
def test_realized_spread_due_reads_the_plan_and_types_it() -> None:
    resume = [("A", 100, 9.5, -1, 300, 300), ("B", 200, None, 0, 300, 300)]
    db = FakeVertica({"queries/realized_spread_resume": Answer(resume),
                      "queries/realized_spread_due": Answer([("A", 160), ("B", 260)])})
    due, res = _storage(db).realized_spread_due(60, 300, 999)
    assert db.executed() == [("queries/realized_spread_resume", {"bar_seconds": 60}),
                             ("queries/realized_spread_due", {"bar_seconds": 60, "until_ns": 999})]
    assert due.schema == pa.schema([("symbol", pa.string()), ("bar_end_ns", pa.int64())])
    assert due.to_pylist() == [{"symbol": "A", "bar_end_ns": 160}, {"symbol": "B", "bar_end_ns": 260}]
    assert res.schema == pa.schema([("symbol", pa.string()), ("bar_end_ns", pa.int64()), ("tick_price", pa.float64()),
                                    ("tick_sign", pa.int32()), ("min_horizon", pa.int32()),
                                    ("max_horizon", pa.int32())])
    assert [tuple(r.values()) for r in res.to_pylist()] == resume


@pytest.mark.parametrize("horizons", [(120, 300), (300, 600), (120, 120)])
def test_rows_of_another_horizon_are_deleted_first_and_the_plan_read_again(horizons, caplog) -> None:
    db = FakeVertica({"queries/realized_spread_resume": [Answer([("A", 100, 9.5, 1, *horizons)]),
                                                         Answer([("A", 50, 9.0, 1, 300, 300)])],
                      "queries/delete_realized_other_horizon": Answer([(7,)]),
                      "queries/realized_spread_due": Answer([])})
    with caplog.at_level(logging.WARNING, logger="microstructure.sql"):
        due, res = _storage(db).realized_spread_due(60, 300, 999)
    assert db.executed() == [("queries/realized_spread_resume", {"bar_seconds": 60}),
                             ("queries/delete_realized_other_horizon", {"bar_seconds": 60, "horizon_seconds": 300}),
                             ("queries/realized_spread_resume", {"bar_seconds": 60}),
                             ("queries/realized_spread_due", {"bar_seconds": 60, "until_ns": 999})]
    assert res.column("bar_end_ns").to_pylist() == [50] and due.num_rows == 0
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "bar_realized_spread: 7 row(s) of another horizon than 300 s deleted; recomputing them"]
    assert db.calls("commit")[-1][0] == "commit"


def test_no_row_of_another_horizon_deletes_nothing_and_a_failed_delete_is_a_storage_error() -> None:
    db = FakeVertica({"queries/realized_spread_resume": Answer([("A", 100, 9.5, 1, 300, 300)])})
    storage = _storage(db)
    assert storage._drop_other_horizons(None, 60, 300) is False
    assert db.executed() == [("queries/realized_spread_resume", {"bar_seconds": 60})]
    assert storage._drop_other_horizons([], 60, 300) is False
    db.answers["queries/delete_realized_other_horizon"] = Answer(error=_vertica_error("locked"))
    with pytest.raises(StorageError, match="delete_realized_other_horizon failed: locked"):
        storage._drop_other_horizons([("A", 1, 1.0, 1, 300, 60)], 60, 300)


def test_write_realized_spread_is_an_append_of_its_stage() -> None:
    db = FakeVertica({"queries/insert_bar_realized_spread": Answer([(1,)])})
    rows = _one(BAR_REALIZED_SPREAD_SCHEMA)
    assert _storage(db).write_realized_spread(rows) == 1
    assert db.calls("copy")[0][2:] == (copy_statement("bar_realized_spread_stage", BAR_REALIZED_SPREAD_SCHEMA.names),
                                       copy_rows(rows))
    assert db.executed() == [("queries/insert_bar_realized_spread", None)]


# --- daily metrics -----------------------------------------------------------------------------------------
def _metrics_db(pending: list[int | None], written: list[int]) -> FakeVertica:
    return FakeVertica({"queries/daily_metrics_pending": [Answer([(p,)]) for p in pending],
                        "queries/write_daily_metrics": [Answer([(w,)]) for w in written]})


def test_daily_metrics_are_written_one_final_day_a_transaction_oldest_first() -> None:
    watermark = 10 * DAY + 5 * NS
    db = _metrics_db([7 * DAY + 3, 8 * DAY + 9, 9 * DAY, None], [2, 3, 1])
    storage = _storage(db)
    assert storage.write_daily_metrics(60, watermark) == 6
    executed = db.executed()
    assert [e[0] for e in executed] == ["queries/daily_metrics_pending", "queries/write_daily_metrics"] * 3 + [
        "queries/daily_metrics_pending"]
    assert all(e[1] == {"bar_seconds": 60, "final_before_ns": 10 * DAY} for e in executed[::2])
    writes = [e[1] for e in executed[1::2]]
    assert [{k: w[k] for k in ("bar_seconds", "from_ns", "final_before_ns")} for w in writes] == [
        {"bar_seconds": 60, "from_ns": d * DAY, "final_before_ns": (d + 1) * DAY} for d in (7, 8, 9)]
    assert all(isinstance(w["computed_at_ns"], int) and w["computed_at_ns"] > 1_700_000_000 * NS for w in writes)
    assert len(db.calls("commit")) == 1 + 4  # the session's setup, then one a day and the last look
    # nothing final since: nothing read
    db.log.clear()
    assert storage.write_daily_metrics(60, watermark + 3 * NS) == 0 and db.log == []
    assert storage.write_daily_metrics(60, watermark, 10 * DAY) == 0 and db.log == []
    # a bar of a final day written since: looked at again
    db.answers["queries/daily_metrics_pending"] = [Answer([(None,)])]
    assert storage.write_daily_metrics(60, watermark, 10 * DAY - 1) == 0
    assert db.executed() == [("queries/daily_metrics_pending", {"bar_seconds": 60, "final_before_ns": 10 * DAY})]
    db.log.clear()
    assert storage.write_daily_metrics(120, watermark) == 0 and len(db.executed()) == 1  # another grid
    db.log.clear()
    assert storage.write_daily_metrics(60, 11 * DAY) == 0 and len(db.executed()) == 1  # a new final day


def test_the_last_final_day_is_cut_at_the_watermarks_day() -> None:
    db = _metrics_db([8 * DAY + DAY - 1, None], [4])  # the last bar of day 8
    assert _storage(db).write_daily_metrics(60, 9 * DAY + DAY // 2) == 4
    assert db.executed()[1][1]["from_ns"] == 8 * DAY and db.executed()[1][1]["final_before_ns"] == 9 * DAY
    # never past the watermark's day, whatever the pending statement names
    db = _metrics_db([9 * DAY + 1, None], [1])
    _storage(db).write_daily_metrics(60, 9 * DAY + DAY // 2)
    assert db.executed()[0][1]["final_before_ns"] == 9 * DAY
    assert db.executed()[1][1]["from_ns"] == 9 * DAY and db.executed()[1][1]["final_before_ns"] == 9 * DAY


def test_a_pending_day_that_writes_nothing_is_an_error_not_a_loop() -> None:
    db = _metrics_db([7 * DAY, 7 * DAY], [0])
    storage = _storage(db)
    with pytest.raises(StorageError, match=f"daily_metrics: the day from {7 * DAY} ns was pending; nothing was written"):
        storage.write_daily_metrics(60, 10 * DAY)
    assert 60 not in storage._metrics_final_before
    db.answers["queries/daily_metrics_pending"] = Answer(error=_vertica_error("lost"))
    with pytest.raises(StorageError, match="write_daily_metrics failed: lost"):
        storage.write_daily_metrics(60, 10 * DAY)


# --- statements and reads --------------------------------------------------------------------------------------
def test_run_statement_binds_the_declared_parameters_only() -> None:
    statement = load_registry("vertica", "retention")["delete_daily_metrics"]
    params = {p: i for i, p in enumerate(statement.params)}
    db = FakeVertica({"retention/delete_daily_metrics": Answer([(3,)])})
    storage = _storage(db)
    assert storage.run_statement("retention", "delete_daily_metrics", {**params, "other": 1}) == [(3,)]
    assert db.executed() == [("retention/delete_daily_metrics", params)]
    db.answers["retention/delete_daily_metrics"] = Answer(None)
    assert storage.run_statement("retention", "delete_daily_metrics", params) == []
    db.log.clear()
    storage.run_statement("retention", "delete_daily_metrics")
    assert db.executed() == [("retention/delete_daily_metrics", {})]
    db.answers["retention/delete_daily_metrics"] = Answer(error=_vertica_error("no"))
    with pytest.raises(StorageError, match="retention/delete_daily_metrics failed: no"):
        storage.run_statement("retention", "delete_daily_metrics", params)


def test_the_reads_for_the_transform_bind_and_type_their_answers() -> None:
    db = FakeVertica({
        "queries/newest_trade_ns": [Answer([(None,)]), Answer([(42,)])],
        "queries/trades_range": Answer([(1, 2.5, 3, "12", 0), (2, 2.0, 1, None, None)]),
        "queries/quotes_range_symbols": Answer([("A", 5, 1.0, 2.0, 1.5, 3.0)]),
        "queries/signal_states": Answer([("A", 60, 100, '{"x":1}')]),
        "queries/archived_symbol_days": Answer([("A", dt.date(1970, 1, 3)), ("B", dt.date(2024, 3, 8))]),
    })
    storage = _storage(db)
    assert storage.newest_trade_ns() is None
    assert storage.newest_trade_ns() == 42
    t = storage.read_trades("A", 1, 9)
    assert t.schema == pa.schema([("ts_ns", pa.int64()), ("price", pa.float64()), ("size", pa.float64()),
                                  ("conditions", pa.string()), ("correction", pa.int32())])
    assert t.to_pylist() == [{"ts_ns": 1, "price": 2.5, "size": 3.0, "conditions": "12", "correction": 0},
                             {"ts_ns": 2, "price": 2.0, "size": 1.0, "conditions": None, "correction": None}]
    db.answers["queries/trades_range"] = Answer([])
    empty = storage.read_trades("A", 1, 9)
    assert empty.num_rows == 0 and empty.schema == t.schema
    q = storage.read_quotes_many(["A", "B"], 3, 7)
    assert q.to_pylist() == [{"symbol": "A", "ts_ns": 5, "bid_price": 1.0, "bid_size": 2.0, "ask_price": 1.5,
                              "ask_size": 3.0}]
    assert storage.load_signal_states(60) == {"A": SignalStateRow("A", 60, 100, '{"x":1}')}
    assert storage.archived_until() == {"A": 3 * DAY, "B": (dt.date(2024, 3, 9) - dt.date(1970, 1, 1)).days * DAY}
    assert db.executed() == [
        ("queries/newest_trade_ns", {}), ("queries/newest_trade_ns", {}),
        ("queries/trades_range", {"symbol": "A", "start_ns": 1, "end_ns": 9}),
        ("queries/trades_range", {"symbol": "A", "start_ns": 1, "end_ns": 9}),
        ("queries/quotes_range_symbols", {"symbols": ["A", "B"], "start_ns": 3, "end_ns": 7}),
        ("queries/signal_states", {"bar_seconds": 60}), ("queries/archived_symbol_days", {})]
    assert len(db.calls("rollback")) == 7  # a read leaves no transaction open


def test_a_recompute_read_refuses_days_only_in_the_parquet_export() -> None:
    db = FakeVertica({"queries/parquet_only_trade_days": Answer([(0, None)]),
                      "queries/trades_all_range": Answer([(1, 2.5, 3.0, None, 0)])})
    storage = _storage(db)
    t = storage.read_trades_with_archive("A", 0, 10)
    assert t.column("ts_ns").to_pylist() == [1] and t.column("size").type == pa.float64()
    params = {"symbol": "A", "start_ns": 0, "end_ns": 10}
    assert db.executed() == [("queries/parquet_only_trade_days", params), ("queries/trades_all_range", params)]
    db.answers["queries/parquet_only_trade_days"] = Answer([(2, dt.date(2024, 3, 9))])
    with pytest.raises(StorageError) as err:
        storage.read_trades_with_archive("A", 0, 10)
    assert str(err.value) == (
        "A: the trades of 2 day(s) through 2024-03-09 were exported to Parquet and dropped from market_data_archive; "
        "a recompute from its first trade cannot read them in Vertica (COPY the export back into "
        "market_data_archive to recompute it; its signals stay as made)")


# --- reads for the server ------------------------------------------------------------------------------------
def test_query_binds_the_declared_parameters_and_fetches_one_more_row() -> None:
    statement = load_registry("vertica", "queries")["trading_signals_page"]
    assert "row_limit" in statement.params
    params = {p: f"v{i}" for i, p in enumerate(statement.params) if p != "row_limit"}
    rows = [(1, "a"), (2, "b"), (3, "c")]
    db = FakeVertica({"queries/trading_signals_page": Answer(rows, description=[("n",), ("s",)])})
    storage = _storage(db, read_only=True)
    result = storage.query("trading_signals_page", {**params, "unrelated": 1}, 2)
    assert db.executed() == [("queries/trading_signals_page", {**params, "row_limit": 3})]
    assert result.columns == ["n", "s"] and result.rows == rows[:2] and result.truncated is True
    assert db.calls("rollback")[-1][0] == "rollback"
    db.log.clear()
    exact = storage.query("trading_signals_page", params, 3)
    assert exact.rows == rows and exact.truncated is False
    missing = sorted(statement.params)[:2]
    with pytest.raises(StorageError, match=re.escape(
            f"query 'trading_signals_page' misses parameters {sorted(set(missing) - {'row_limit'})}")):
        storage.query("trading_signals_page", {k: v for k, v in params.items() if k not in missing}, 2)
    no_limit = load_registry("vertica", "queries")["known_symbols"]
    assert "row_limit" not in no_limit.params
    db.answers["queries/known_symbols"] = Answer([("A",), ("B",)], description=[("symbol",)])
    db.log.clear()
    result = storage.query("known_symbols", {p: 1 for p in no_limit.params}, 1)
    assert db.executed() == [("queries/known_symbols", {p: 1 for p in no_limit.params})]
    assert result.rows == [("A",)] and result.truncated is True



@pytest.mark.parametrize("message", ["Execution time exceeded run time cap of 3000 milliseconds",
                                     "RUNTIMECAP exceeded", "Query Canceled", "Execution cancelled by user",
                                     "statement interrupted"])
def test_a_capped_or_cancelled_read_is_a_query_timeout(message: str) -> None:
    db = FakeVertica({"queries/known_symbols": Answer(error=_vertica_error(message)),
                      "run": Answer(error=_vertica_error(message))})
    storage = _storage(db, read_only=True, query_timeout_ms=1500)
    params = {p: 1 for p in load_registry("vertica", "queries")["known_symbols"].params}
    with pytest.raises(QueryTimeout, match="query 'known_symbols' exceeded MCP_QUERY_TIMEOUT_MS=1500"):
        storage.query("known_symbols", params, 5)
    with pytest.raises(QueryTimeout, match="the statement exceeded MCP_QUERY_TIMEOUT_MS=1500"):
        storage.run_sql("run", 5)


def test_a_read_that_outlives_its_cap_is_cancelled_from_the_client_side() -> None:
    """The server-side RUNTIMECAP is the limit; the watchdog's cancel (after the cap plus 1 s) the backstop."""
    def hang(params: Any) -> Answer:  # a statement the server never stops: only the client's cancel ends it
        cancelled = db.cancelled.wait(10)
        db.cancelled.clear()
        return Answer(error=_vertica_error("Query canceled" if cancelled else "never cancelled"))

    db = FakeVertica({"queries/known_symbols": hang, "SELECT slow": hang})
    storage = _storage(db, read_only=True, query_timeout_ms=10)
    params = {p: 1 for p in load_registry("vertica", "queries")["known_symbols"].params}
    with pytest.raises(QueryTimeout, match="MCP_QUERY_TIMEOUT_MS=10"):
        storage.query("known_symbols", params, 5)
    with pytest.raises(QueryTimeout, match="MCP_QUERY_TIMEOUT_MS=10"):
        storage.run_sql("SELECT slow", 5)
    assert [e for e in db.log if e[0] == "cancel"] == [("cancel", 0), ("cancel", 1)]  # a failed session is dropped
    assert [c.closed for c in db.connections] == [1, 1]


def test_a_read_within_its_cap_is_not_cancelled() -> None:
    def brief(params: Any) -> Answer:  # 0.3 s of a 1 s cap: the backstop fires after 2 s, not before
        cancelled = db.cancelled.wait(0.3)
        return Answer(error=_vertica_error("Query canceled")) if cancelled else Answer([(1,)], description=[("n",)])

    db = FakeVertica({"queries/known_symbols": brief})
    storage = _storage(db, read_only=True, query_timeout_ms=1000)
    params = {p: 1 for p in load_registry("vertica", "queries")["known_symbols"].params}
    assert storage.query("known_symbols", params, 5).rows == [(1,)]
    db.answers["SELECT n"] = lambda p: (Answer(error=_vertica_error("Query canceled")) if db.cancelled.wait(0.3)
                                        else Answer([(2,)], description=[_Column("n", "Integer")]))
    assert storage.run_sql("SELECT n", 5).table.to_pylist() == [{"n": 2}]


def test_a_failed_read_is_a_storage_error() -> None:
    db = FakeVertica({"queries/known_symbols": Answer(error=_vertica_error("relation does not exist"))})
    storage = _storage(db, read_only=True)
    params = {p: 1 for p in load_registry("vertica", "queries")["known_symbols"].params}
    with pytest.raises(StorageError, match="query 'known_symbols' failed: relation does not exist") as err:
        storage.query("known_symbols", params, 5)
    assert not isinstance(err.value, QueryTimeout)


class _Column:
    def __init__(self, name: str, type_name: str) -> None:
        self.name, self.type_name = name, type_name


def test_run_sql_returns_typed_columns_and_at_most_limit_rows() -> None:
    rows = [(1, "a", 0.5), (2, None, 1.5), (3, "c", None)]
    db = FakeVertica({"SELECT 1": Answer(rows, description=[_Column("n", "Integer"), _Column("s", "varchar"),
                                                            _Column("x", "Float")])})
    storage = _storage(db, read_only=True)
    result = storage.run_sql("SELECT 1", 2)
    assert db.executed() == [("SELECT 1", None)]
    assert result.columns == [("n", "INTEGER"), ("s", "VARCHAR"), ("x", "FLOAT")]
    assert result.table.to_pylist() == [{"n": 1, "s": "a", "x": 0.5}, {"n": 2, "s": None, "x": 1.5}]
    assert result.truncated is True and db.calls("rollback")
    whole = storage.run_sql("SELECT 1", 3)
    assert whole.table.num_rows == 3 and whole.truncated is False
    db.answers["SELECT 2"] = Answer([], description=[])
    none = storage.run_sql("SELECT 2", 3)
    assert none.columns == [] and none.table.num_columns == 0 and none.truncated is False


@pytest.mark.parametrize("sqlstate", ["42601", "22012", "0A000"])
def test_a_statement_error_is_returned_with_its_text(sqlstate: str) -> None:
    db = FakeVertica({"SELECT x": Answer(error=_vertica_error("Syntax error at or near x", sqlstate))})
    with pytest.raises(StatementError, match="Syntax error at or near x"):
        _storage(db, read_only=True).run_sql("SELECT x", 5)


@pytest.mark.parametrize("sqlstate", ["53200", None, "4", "2"])
def test_any_other_failure_is_reported_without_its_text(sqlstate: str | None, caplog) -> None:
    db = FakeVertica({"SELECT x": Answer(error=_vertica_error("secret detail", sqlstate))})
    with caplog.at_level(logging.WARNING, logger="microstructure.sql"), pytest.raises(StorageError) as err:
        _storage(db, read_only=True).run_sql("SELECT x", 5)
    assert not isinstance(err.value, StatementError)
    assert str(err.value) == "the database failed running the statement (the server log has the detail)"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "analyst SQL failed in the database: secret detail"]


# --- the transform inside Vertica ---------------------------------------------------------------------------
def test_install_udx_binds_only_the_placeholders_each_statement_has() -> None:
    db = FakeVertica()
    _storage(db).install_udx("/opt/lib.py", "/opt/site/*")
    executed = db.executed()
    install = load_registry("vertica", "udx")["install"].text
    assert [e[0] for e in executed] == split_statements(install) and len(executed) == 5  # the library, 4 forms
    library = [e for e in executed if e[0].lstrip().startswith("CREATE OR REPLACE LIBRARY")]
    assert library == [("CREATE OR REPLACE LIBRARY microstructure_udx AS :library_path DEPENDS :depends_path "
                        "LANGUAGE 'Python'", {"library_path": "/opt/lib.py", "depends_path": "/opt/site/*"})]
    assert all(p is None for text, p in executed if text not in {library[0][0]})
    assert db.calls("commit")


def test_the_in_database_transform_without_trades_does_nothing() -> None:
    db = FakeVertica({"queries/newest_trade_ns": Answer([(None,)])})
    summary = _storage(db).run_transform_in_database(_settings(), now_ns=5)
    assert (summary.symbols, summary.bars, summary.watermark_ns, summary.realized) == (0, 0, None, 0)
    assert 0 <= summary.seconds < 600
    assert db.executed() == [("queries/newest_trade_ns", {})]


def test_the_in_database_transform_sends_its_statements_in_one_transaction(caplog) -> None:
    fits = [{f: None for f in MODEL_PARAMS_SCHEMA.names} | {"symbol": "A", "model": "garch", "bar_seconds": 60,
                                                             "fit_start_ns": 1, "fit_end_ns": 2, "n_obs": 3,
                                                             "converged": True, "fitted_at_ns": 4}]
    profiles = [{f: None for f in INTRADAY_PROFILE_SCHEMA.names} | {"symbol": "A", "bar_seconds": 60,
                                                                     "session_open_ns": 0, "bucket": 1,
                                                                     "minutes_after_open": 0, "factor": 1.0,
                                                                     "n_obs": 1, "sessions": 1, "fallback": False,
                                                                     "computed_at_ns": 5}]
    realized = [{f: None for f in BAR_REALIZED_SPREAD_SCHEMA.names} | {
        "symbol": "A", "bar_end_ns": 60, "bar_seconds": 60, "horizon_seconds": 300, "n_trades": 1,
        "matched_volume": 1.0, "tick_sign": 1, "computed_at_ns": 5}] * 2
    newest = 100 * DAY + 7 * NS
    db = FakeVertica({
        "queries/newest_trade_ns": Answer([(newest,)]),
        "queries/trade_symbols": Answer([("stocks", "B"), ("crypto", "X:C"), ("stocks", "A")]),
        "queries/realized_spread_resume": Answer([]),
        "transform/staged_summary": Answer([(12, 3, 99 * DAY)]),
        "transform/staged_model_params": Answer([("A", json.dumps(fits[:1])), ("B", "[]")]),
        "transform/staged_intraday_profile": Answer([("A", json.dumps(profiles))]),
        "transform/staged_realized_spread": Answer([("A", json.dumps(realized[:1])), ("A", json.dumps(realized[1:]))]),
        "queries/insert_bar_realized_spread": Answer([(2,)]),
        "queries/daily_metrics_pending": [Answer([(99 * DAY + 60 * NS,)]), Answer([(None,)])],
        "queries/write_daily_metrics": Answer([(3,)]),
    })
    points: list[int] = []
    storage = _storage(db, fault=lambda p: points.append(len(db.log)))
    # day 99 was final at the last call already: only the oldest new bar (in day 99) makes the write look again
    storage._metrics_final_before[60] = 100 * DAY
    settings = _settings(transform_lateness_seconds=2.5, bar_seconds=60, liquidity_horizon_seconds=300,
                         quote_stale_seconds=1.5)
    with caplog.at_level(logging.INFO, logger="microstructure.sql"):
        summary = storage.run_transform_in_database(settings, now_ns=77)
    watermark = newest - round(2.5 * NS)
    assert summary == InDatabaseTransformSummary(3, 12, summary.seconds, watermark, 2)
    assert 0 <= summary.seconds < 600  # the call's duration
    assert "daily metrics of 3 final symbol day(s) written" in [r.getMessage() for r in caplog.records]
    executed = db.executed()
    names = [e[0] for e in executed]
    assert names == ["queries/newest_trade_ns", "queries/trade_symbols", "queries/realized_spread_resume",
                     "transform/udx_signals_to_stage", "transform/udx_signals_to_stage", "transform/staged_summary",
                     "queries/upsert_signals", "transform/staged_bar_liquidity", "queries/upsert_bar_liquidity",
                     "transform/staged_model_params", "queries/upsert_model_params",
                     "transform/staged_intraday_profile", "queries/upsert_intraday_profile",
                     "transform/staged_realized_spread", "queries/insert_bar_realized_spread",
                     "transform/signal_states_from_stage", "queries/daily_metrics_pending",
                     "queries/write_daily_metrics", "queries/daily_metrics_pending"]
    assert executed[2][1] == {"bar_seconds": 60}
    common = {"bar_seconds": 60, "watermark_ns": watermark, "computed_at_ns": 77,
              "until_ns": watermark - 300 * NS, "stale_ns": round(1.5 * NS), "settings": udx_settings_json(settings)}
    assert executed[3][1] == {"market": "crypto", **common, "symbols": ["X:C"]}
    assert executed[4][1] == {"market": "stocks", **common, "symbols": ["B", "A"]}
    assert list(executed[3][1])[-1] == "settings"  # bound last: its text is never searched for placeholders
    assert set(executed[15][1]) == {"updated_ns"} and executed[15][1]["updated_ns"] > 1_700_000_000 * NS
    assert executed[16][1] == {"bar_seconds": 60, "final_before_ns": 100 * DAY}
    copies = db.calls("copy")
    assert [c[2] for c in copies] == [copy_statement("model_params_stage", MODEL_PARAMS_SCHEMA.names),
                                      copy_statement("intraday_profile_stage", INTRADAY_PROFILE_SCHEMA.names),
                                      copy_statement("bar_realized_spread_stage", BAR_REALIZED_SPREAD_SCHEMA.names)]
    assert copies[0][3] == copy_rows(pa.Table.from_pylist(fits, MODEL_PARAMS_SCHEMA))
    assert copies[1][3] == copy_rows(pa.Table.from_pylist(profiles, INTRADAY_PROFILE_SCHEMA))
    assert copies[2][3] == copy_rows(pa.Table.from_pylist(realized, BAR_REALIZED_SPREAD_SCHEMA))
    staged_at = points[0]
    assert db.log[staged_at - 1][0] == "copy" and db.log[staged_at][2] == "queries/insert_bar_realized_spread"
    commits = [i for i, e in enumerate(db.log) if e[0] == "commit"]
    udx_at = next(i for i, e in enumerate(db.log) if e[0] == "execute" and e[2] == "transform/udx_signals_to_stage")
    states_at = next(i for i, e in enumerate(db.log) if e[0] == "execute" and e[2] == "transform/signal_states_from_stage")
    assert not [c for c in commits if udx_at < c < states_at]  # one transaction
    assert [c for c in commits if c > states_at]


def test_the_in_database_transform_without_fits_profiles_or_realized_rows_copies_nothing() -> None:
    db = FakeVertica({
        "queries/newest_trade_ns": Answer([(5 * DAY,)]),
        "queries/trade_symbols": Answer([("stocks", "A")]),
        "queries/realized_spread_resume": [Answer([("A", 1, 1.0, 1, 60, 60)]), Answer([])],
        "queries/delete_realized_other_horizon": Answer([(1,)]),
        "transform/staged_summary": Answer([(0, 0, None)]),
        "transform/staged_model_params": Answer([]),
        "transform/staged_intraday_profile": Answer([]),
        "transform/staged_realized_spread": Answer([]),
        "queries/daily_metrics_pending": Answer([(None,)]),
    })
    points: list[str] = []
    storage = _storage(db, fault=points.append)
    storage._metrics_final_before[60] = 5 * DAY  # final since an earlier call, and no new bar: nothing read
    summary = storage.run_transform_in_database(_settings(liquidity_horizon_seconds=300,
                                                          transform_lateness_seconds=0.0))
    assert (summary.symbols, summary.bars, summary.realized) == (0, 0, 0)
    names = [e[0] for e in db.executed()]
    assert "queries/delete_realized_other_horizon" in names  # another horizon: deleted before, on its own
    assert "queries/upsert_model_params" not in names and "queries/upsert_intraday_profile" not in names
    assert "queries/insert_bar_realized_spread" not in names and db.calls("copy") == []
    assert points == ["staged"]
    assert [e for e in db.executed() if e[0] == "queries/daily_metrics_pending"] == []
    computed = [e[1]["computed_at_ns"] for e in db.executed() if e[0] == "transform/udx_signals_to_stage"]
    assert computed[0] > 1_700_000_000 * NS  # now, without now_ns


def test_a_failed_in_database_transform_is_a_storage_error_and_writes_nothing() -> None:
    db = FakeVertica({"queries/newest_trade_ns": Answer([(5 * DAY,)]),
                      "queries/trade_symbols": Answer([("stocks", "A")]),
                      "queries/realized_spread_resume": Answer([]),
                      "transform/udx_signals_to_stage": Answer(error=_vertica_error("UDx failed"))})
    with pytest.raises(StorageError, match="in-database transform failed: UDx failed"):
        _storage(db).run_transform_in_database(_settings())
    assert db.calls("rollback")[-1][0] == "rollback"
    assert "queries/daily_metrics_pending" not in [e[0] for e in db.executed()]


def test_callable_answers_are_supported() -> None:  # the stand-in itself
    seen: list[Any] = []
    answer: Callable[[Any], Answer] = lambda p: seen.append(p) or Answer([(1,)])  # noqa: E731
    db = FakeVertica({"queries/newest_trade_ns": answer})
    assert _storage(db).newest_trade_ns() == 1 and seen == [{}]


# --- opening, schema and migrations ----------------------------------------------------------------------------
def test_open_needs_a_host_and_connects_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StorageError, match=r"^DB_BACKEND=vertica needs VERTICA_HOST \(and VERTICA_PORT, VERTICA_DB, "
                                           r"VERTICA_USER\)$"):
        VerticaStorage.open(_settings(vertica_host=""))
    db = FakeVertica()
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(vertica_python, "connect", lambda **options: seen.append(options) or db.connect())
    settings = _settings(vertica_host="h", vertica_port=5444, vertica_db="d", vertica_user="u",
                         mcp_query_timeout_ms=1234, vertica_write_timeout_seconds=77)
    storage = VerticaStorage.open(settings, read_only=True, pool_size=3)
    assert seen == [connect_options(settings)]  # a reader session at once: fail now, not on the first request
    assert storage._writer is None and storage._timeout_ms == 1234
    assert [e[2:] for e in db.log if e[0] == "execute"] == [
        ("session/read_only", None), ("session/runtimecap", {"runtimecap": "1234 milliseconds"})]
    assert _holds(storage._reader, 3)
    storage.close()
    assert _holds(VerticaStorage.open(settings, read_only=True)._reader, 4)  # the default pool size
    db.log.clear()
    writer = VerticaStorage.open(settings)
    assert writer._writer is not None
    with writer._write():
        pass
    assert ("session/runtimecap", {"runtimecap": "77 seconds"}) in [e[2:] for e in db.log if e[0] == "execute"]
    db.answers["queries/table_exists"] = Answer([(1,)])
    db.answers["queries/schema_version"] = Answer([(0,)])
    with pytest.raises(StorageError, match="^VERTICA_DB 'd' at h:5444 is at schema version 0"):
        writer.apply_schema()
    db.answers["queries/schema_version"] = Answer([(_latest(),)])
    db.log.clear()
    VerticaStorage.open(_settings(vertica_host="h", quote_stale_seconds=12.5)).apply_schema()
    assert [e[1] for e in db.executed() if e[0] == "queries/set_view_setting"] == [
        {"name": "quote_stale_ns", "value": 12_500_000_000}]  # the settings' view settings, not the defaults

    def refuse(**options: Any) -> None:
        raise vertica_python.errors.ConnectionError("refused")

    monkeypatch.setattr(vertica_python, "connect", refuse)
    with pytest.raises(StorageError) as err:
        VerticaStorage.open(settings)
    assert str(err.value) == "cannot connect to Vertica at h:5444 (database 'd', user 'u'): refused"


def _holds(pool: _Pool, n: int) -> bool:
    """Whether ``pool`` lends ``n`` connections at once and not one more (a borrower beyond waits)."""
    got = threading.Event()

    def one_more() -> None:
        with pool.connection():
            got.set()

    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(pool.connection()) for _ in range(n)]
        t = threading.Thread(target=one_more, daemon=True)
        t.start()
        waited = not got.wait(0.3)
    t.join(5)
    return len({id(c) for c in held}) == n and waited and got.is_set()


def _schema_db(recorded: int | None, market_data: bool) -> FakeVertica:
    def exists(params: dict[str, Any]) -> Answer:
        return Answer([(int({"schema_version": recorded is not None, "market_data": market_data}[params["table_name"]]),)])

    return FakeVertica({"queries/table_exists": exists, "queries/schema_version": Answer([(recorded,)])})


@pytest.mark.parametrize(("recorded", "market_data", "version"), [(None, False, None), (None, True, 0), (3, True, 3)])
def test_schema_version_reads_the_recorded_version_or_the_tables(recorded, market_data, version) -> None:
    db = _schema_db(recorded, market_data)
    assert _storage(db).schema_version() == version
    want = [("queries/table_exists", {"table_name": "schema_version"})]
    if recorded is not None:
        want.append(("queries/schema_version", {}))
    want.append(("queries/table_exists", {"table_name": "market_data"}))
    assert db.executed() == want


def _latest() -> int:
    from sql.migrations import latest_version

    return latest_version("vertica")


@pytest.mark.parametrize("new", [True, False])
def test_apply_schema_creates_the_tables_loads_the_reference_rows_and_the_views(new: bool) -> None:
    from sql.conditions import conditions_table, corrections_table

    db = _schema_db(None if new else _latest(), not new)
    storage = _storage(db, view_settings={"quote_stale_ns": 5, "other": 7})
    storage.apply_schema()
    executed = db.executed()
    schema = [f"schema/{s.name}" for s in load_registry("vertica", "schema")]
    views = [f"views/{s.name}" for s in load_registry("vertica", "views")]
    head = [e for e in executed if e[0] not in ("queries/table_exists", "queries/schema_version")]
    stamp = [("queries/record_migration", head[len(schema)][1])] if new else []
    assert head == [(s, None) for s in schema] + stamp + [
        ("queries/clear_trade_conditions", None), ("queries/load_trade_conditions", None),
        ("queries/clear_trade_corrections", None), ("queries/load_trade_corrections", None),
        ("queries/set_view_setting", {"name": "quote_stale_ns", "value": 5}),
        ("queries/set_view_setting", {"name": "other", "value": 7})] + [(v, None) for v in views]
    if new:
        record = stamp[0][1]
        assert (record["version"], record["name"]) == (_latest(), "created")
        assert record["applied_at_ns"] > 1_700_000_000 * NS
    copies = db.calls("copy")
    assert [c[2:] for c in copies] == [
        (copy_statement("trade_conditions_stage", conditions_table().schema.names), copy_rows(conditions_table())),
        (copy_statement("trade_corrections_stage", corrections_table().schema.names), copy_rows(corrections_table()))]
    # the copy of each table between its clear and its load
    order = [e[2] if e[0] == "execute" else e[2].split(" (")[0] for e in db.calls("copy", "execute")]
    i = order.index("queries/clear_trade_conditions")
    assert order[i:i + 3] == ["queries/clear_trade_conditions", "COPY trade_conditions_stage",
                              "queries/load_trade_conditions"]
    # two transactions: the tables, then the rows and views
    assert len(db.calls("commit")) == 1 + 2


def test_apply_schema_uses_the_default_view_settings() -> None:
    from sql.view_settings import DEFAULT_VIEW_SETTINGS

    db = _schema_db(_latest(), True)
    _storage(db).apply_schema()
    assert [e[1] for e in db.executed() if e[0] == "queries/set_view_setting"] == [
        {"name": k, "value": v} for k, v in DEFAULT_VIEW_SETTINGS.items()]


def test_apply_schema_refuses_pending_migrations_and_a_newer_database() -> None:
    from sql.migrations import SchemaTooNew

    db = _schema_db(_latest() - 2, True)
    with pytest.raises(StorageError) as err:
        _storage(db, label="THE DB").apply_schema()
    assert str(err.value) == (f"THE DB is at schema version {_latest() - 2}, this code needs {_latest()}: "
                              "run `microstructure vertica migrate` first")
    assert [e[0] for e in db.executed()] == ["queries/table_exists", "queries/schema_version", "queries/table_exists"]
    with pytest.raises(SchemaTooNew, match="^THE DB has schema version"):
        _storage(_schema_db(_latest() + 1, True), label="THE DB").apply_schema()


def test_migrate_runs_each_pending_migration_with_its_record_in_one_transaction() -> None:
    from sql.migrations import load_migrations

    db = _schema_db(_latest() - 2, True)
    applied = _storage(db).migrate()
    todo = [m for m in load_migrations("vertica") if m.version > _latest() - 2]
    assert [m.version for m in applied] == [m.version for m in todo] and len(todo) == 2
    executed = db.executed()[3:]
    schema = [f"schema/{s.name}" for s in load_registry("vertica", "schema")]
    assert [e[0] for e in executed[:len(schema)]] == schema
    rest = executed[len(schema):]
    want: list[Any] = []
    for m in todo:
        want += list(m.statements) + ["queries/record_migration"]
    assert [e[0] for e in rest] == want
    records = [e[1] for e in rest if e[0] == "queries/record_migration"]
    assert [(r["version"], r["name"]) for r in records] == [(m.version, m.name) for m in todo]
    assert len(db.calls("commit")) == 1 + 1 + len(todo)  # setup, the tables, one per migration


def test_migrate_stamps_a_new_database_and_names_a_failed_migration() -> None:
    db = _schema_db(None, False)
    assert _storage(db).migrate() == []
    assert [e[1]["version"] for e in db.executed() if e[0] == "queries/record_migration"] == [_latest()]
    from sql.migrations import load_migrations

    last = load_migrations("vertica")[-1]
    db = _schema_db(_latest() - 1, True)
    db.answers[last.statements[0]] = Answer(error=_vertica_error("no such table"))
    with pytest.raises(StorageError) as err:
        _storage(db).migrate()
    assert str(err.value) == f"migration {last.version:03d} {last.name} failed: no such table"
    assert "queries/record_migration" not in [e[0] for e in db.executed()]


def test_reopen_keeps_the_connections_and_close_closes_both_pools() -> None:
    db = FakeVertica({"queries/trade_symbols": Answer([])})
    storage = _storage(db)
    with storage._reader.connection():
        pass
    storage.trade_symbols()
    storage.reopen()
    assert [c.closed for c in db.connections] == [0, 0]
    storage.close()
    assert [c.closed for c in db.connections] == [1, 1]


def test_migrate_logs_each_migration_and_whether_it_ran(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    import sql.vertica_backend as vb
    from sql.migrations import SchemaTooNew, load_migrations

    todo = [m for m in load_migrations("vertica") if m.version > _latest() - 2]
    seen: list[tuple[str, int]] = []

    def run(cursor: Any, dialect: str, migration: Any) -> bool:  # the first one's check finds nothing to change
        seen.append((dialect, migration.version))
        return migration.version != todo[0].version

    monkeypatch.setattr(vb, "run_migration", run)
    with caplog.at_level(logging.INFO, logger="microstructure.sql"):
        _storage(_schema_db(_latest() - 2, True), label="DB9").migrate()
    assert seen == [("vertica", m.version) for m in todo]
    lines = [r.getMessage() for r in caplog.records if "schema migration" in r.getMessage()]
    assert lines == [f"DB9: schema migration {todo[0].version:03d} {todo[0].name} not needed",
                     f"DB9: schema migration {todo[1].version:03d} {todo[1].name} applied"]
    with pytest.raises(SchemaTooNew, match="^DB9 has schema version"):
        _storage(_schema_db(_latest() + 1, True), label="DB9").migrate()


def test_without_vertica_python_the_backend_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sql.vertica_backend import _vertica

    assert _vertica() is vertica_python
    monkeypatch.setitem(sys.modules, "vertica_python", None)  # import fails as when it is not installed
    with pytest.raises(StorageError) as err:
        _vertica()
    assert str(err.value) == "DB_BACKEND=vertica needs the vertica-python package (pip install vertica-python)"
    assert isinstance(err.value.__cause__, ImportError)


def test_the_defaults_pool_of_four_and_the_databases_name() -> None:
    db = _schema_db(_latest() - 1, True)
    storage = VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60)
    assert _holds(storage._reader, 4)
    with pytest.raises(StorageError, match=f"^the Vertica database is at schema version {_latest() - 1},"):
        storage.apply_schema()
