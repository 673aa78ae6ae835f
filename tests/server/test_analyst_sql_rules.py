"""``server/tools/analyst_sql.py`` in process against the documented contract (README "Analyst SQL", the tool
``query``): the row cap with ``truncated``, the byte cap with ``truncated_by``, the limits' bounds, the JSON value of
each SQL type, and the four formats read back by ``json``, ``csv`` and ``pyarrow``.

Expected values are written here from the statement's literals (and the column types from a bare in-memory DuckDB
connection, not the project's storage); one empty DuckDB file with the schema per module, milliseconds a test
(the ``analyst-sql`` mutation group).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import time
from datetime import datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sql.backend import StatementError
from server.sql_guard import DOCUMENTED_RELATIONS, SqlRefused, check_read_only
from server.tools.analyst_sql import (
    MAX_SQL_CHARS,
    MEDIA_TYPES,
    ResultTooLarge,
    _jsonable,
    encode,
    run_analyst_sql,
    tool_description,
)
from tests.server.tiny_market import empty_database


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    storage, settings = empty_database(tmp_path_factory.mktemp("analyst") / "empty.duckdb")
    yield storage, settings.model_copy(update={"mcp_max_rows": 100, "mcp_default_rows": 20,
                                               "mcp_sql_max_bytes": 1024})
    storage.close()


def _with(settings, **values):
    return settings.model_copy(update=values)


def _compact(rows) -> int:
    return len(json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode())


def _range(n: int) -> str:
    return f"SELECT x FROM range({n}) t(x) ORDER BY x"


# ---- the row cap and the limit's bounds ------------------------------------------------------------------------


def test_without_a_limit_the_default_rows_come_back_and_the_rest_is_cut_by_rows(db):
    storage, settings = db
    page = run_analyst_sql(storage, settings, _range(50)).page
    assert page.rows == [[i] for i in range(20)]
    assert (page.count, page.truncated, page.truncated_by) == (20, True, "rows")
    capped = run_analyst_sql(storage, _with(settings, mcp_default_rows=30, mcp_max_rows=7), _range(50)).page
    assert capped.rows == [[i] for i in range(7)]  # the default never passes MCP_MAX_ROWS


@pytest.mark.parametrize(("n", "limit", "count", "truncated"), [
    (5, 5, 5, True and False, ), (5, 4, 4, True), (5, 6, 5, False), (100, 100, 100, False), (101, 100, 100, True),
    (3, 1, 1, True), (1, 1, 1, False), (0, 3, 0, False),
])  # fmt: skip
def test_the_row_cap_is_limit_and_truncated_says_when_more_existed(db, n, limit, count, truncated):
    storage, settings = db
    answer = run_analyst_sql(storage, _with(settings, mcp_sql_max_bytes=64 * 1024), _range(n), limit)
    page = answer.page
    assert page.rows == [[i] for i in range(count)]
    assert (page.count, page.truncated, page.truncated_by) == (count, truncated, "rows" if truncated else None)
    assert page.bytes == _compact(page.rows)
    assert answer.table.column("x").to_pylist() == list(range(count))


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_a_limit_outside_one_to_max_rows_is_refused(db, limit):
    storage, settings = db
    with pytest.raises(ValueError, match=rf"^limit must be 1-100 \(MCP_MAX_ROWS\), not {limit}$"):
        run_analyst_sql(storage, settings, _range(3), limit)


def test_the_longest_statement_is_accepted_and_one_character_more_refused(db):
    storage, settings = db
    assert MAX_SQL_CHARS == 100_000
    longest = "SELECT 7 AS x" + " " * (100_000 - 13)
    assert run_analyst_sql(storage, settings, longest).page.rows == [[7]]
    with pytest.raises(ValueError, match="^sql is 100001 characters; at most 100000$"):
        run_analyst_sql(storage, settings, longest + " ")


def test_the_statement_is_checked_in_the_dialect_of_the_settings(db):
    storage, settings = db
    sql = "SELECT list_value(1, 2) AS l"  # a DuckDB function, not a plain SQL one
    assert run_analyst_sql(storage, settings, sql).page.rows == [[[1, 2]]]
    with pytest.raises(SqlRefused, match="list_value"):
        run_analyst_sql(storage, _with(settings, db_backend="vertica"), sql)


# ---- the byte cap ----------------------------------------------------------------------------------------------

#: Rows of one 88-character string: 92 bytes of JSON each and a comma between, so 11 rows are exactly
#: 2 + 11 * 92 + 10 = 1024 bytes (the smallest MCP_SQL_MAX_BYTES allowed).
WIDE = "SELECT repeat('a', 88) AS s, x FROM range({n}) t(x) ORDER BY x"


def _wide_rows(k: int) -> list[list[object]]:
    return [["a" * 88, i] for i in range(k)]


def test_rows_past_the_byte_cap_are_cut_exactly_at_it(db):
    storage, settings = db
    sql = "SELECT repeat('a', 88) AS s FROM range(30) t(x)"
    answer = run_analyst_sql(storage, settings, sql, 20)
    page = answer.page
    assert page.rows == [["a" * 88]] * 11 and _compact(page.rows) == 1024
    assert (page.count, page.truncated, page.truncated_by, page.bytes) == (11, True, "bytes", 1024)
    assert answer.table.num_rows == 11 and answer.table.column("s").to_pylist() == ["a" * 88] * 11
    one_less = run_analyst_sql(storage, _with(settings, mcp_sql_max_bytes=1023), sql, 20).page
    assert (one_less.count, one_less.bytes, one_less.truncated_by) == (10, 1 + 10 * 93, "bytes")


@pytest.mark.parametrize(("n", "limit", "count", "by"), [
    (11, 11, 11, None),  # exactly at the cap, nothing more: not truncated
    (12, 11, 11, "rows"),  # at the cap, and more rows by the limit
    (12, 12, 11, "bytes"),  # the twelfth row passes the cap
    (30, 15, 11, "bytes"),  # both: the bytes cut first
])  # fmt: skip
def test_truncated_by_names_what_cut_the_rows(db, n, limit, count, by):
    storage, settings = db
    sql = f"SELECT repeat('a', 88) AS s FROM range({n}) t(x)"
    page = run_analyst_sql(storage, settings, sql, limit).page
    assert (page.count, page.truncated, page.truncated_by) == (count, by is not None, by)
    assert page.bytes == 1 + 93 * count == _compact(page.rows)


def test_the_table_beside_the_page_holds_the_same_rows_in_order(db):
    storage, settings = db
    answer = run_analyst_sql(storage, _with(settings, mcp_sql_max_bytes=1100), WIDE.format(n=20), 20)
    assert answer.page.rows == _wide_rows(11)
    assert answer.table.to_pylist() == [{"s": s, "x": x} for s, x in _wide_rows(11)]


@pytest.mark.parametrize(("width", "fits"), [(1018, True), (1019, False), (1100, False)])
def test_a_first_row_above_the_byte_cap_is_refused_with_its_size(db, width, fits):
    storage, settings = db
    sql = f"SELECT repeat('b', {width}) AS s FROM range(2) t(x)"
    if fits:  # 2 + 1018 + 4 = 1024
        page = run_analyst_sql(storage, settings, sql).page
        assert (page.count, page.bytes, page.truncated_by) == (1, 1024, "bytes")
        return
    with pytest.raises(ResultTooLarge, match=(rf"^the first row alone is {width + 4} bytes of JSON, above "
                                              r"MCP_SQL_MAX_BYTES=1024; select fewer or narrower columns$")):
        run_analyst_sql(storage, settings, sql)


# ---- JSON values and columns -----------------------------------------------------------------------------------

VALUES_SQL = (
    "SELECT 1.50::DECIMAL(10,2) AS d, 2.00::DECIMAL(10,2) AS e, "
    "170141183460469231731687303715884105727::HUGEINT AS h, '\\xfb\\xff\\x00'::BLOB AS b, 'nan'::DOUBLE AS n, "
    "'inf'::DOUBLE AS i, '-inf'::DOUBLE AS ni, TIMESTAMP '2026-01-02 03:04:05.123456' AS ts, DATE '2026-01-02' AS dt, "
    "[1, 2] AS l, {'a': 1, 'b': 'x'} AS st, true AS t, false AS f, NULL AS z, "
    "'00000000-0000-0000-0000-000000000001'::UUID AS u, 'q\"\\' AS s, 2.5::DOUBLE AS x, 7::TINYINT AS k, "
    "[1.25::DECIMAL(5,2), 3::DECIMAL(5,2)] AS ld, {'p': 0.5::DECIMAL(3,1), 'blob': '\\xfb'::BLOB} AS sd, "
    "['\\xfb\\xff'::BLOB] AS lb, ['nan'::DOUBLE, 1.0] AS lf"
)

#: The documented JSON value of each: DECIMAL/HUGEINT as numbers (integers when integral), BLOB as base64,
#: NaN/Infinity as null, timestamps as ISO-8601, lists and structs as arrays and objects (their values by the same
#: rules), anything else as its text.
VALUES_JSON = [
    1.5, 2, 170141183460469231731687303715884105727, base64.b64encode(b"\xfb\xff\x00").decode(), None, None, None,
    "2026-01-02T03:04:05.123456", "2026-01-02", [1, 2], {"a": 1, "b": "x"}, True, False, None,
    "00000000-0000-0000-0000-000000000001", 'q"\\', 2.5, 7, [1.25, 3], {"p": 0.5, "blob": base64.b64encode(b"\xfb").decode()},
    [base64.b64encode(b"\xfb\xff").decode()], [None, 1.0],
]  # fmt: skip


def test_each_sql_type_has_its_documented_json_value_and_database_type(db):
    storage, settings = db
    answer = run_analyst_sql(storage, settings, VALUES_SQL)
    page = answer.page
    assert page.rows == [VALUES_JSON]
    row = page.rows[0]
    assert type(row[1]) is int and type(row[0]) is float and type(row[2]) is int and type(row[-4][1]) is int
    bare = duckdb.connect().sql(VALUES_SQL)
    assert [(c.name, c.type) for c in page.columns] == [(n, str(t)) for n, t in zip(bare.columns, bare.types)]
    assert page.bytes == len(json.dumps(page.rows, separators=(",", ":")))


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("NaN"), None), (Decimal("Infinity"), None), (Decimal("-Infinity"), None), (Decimal("3.000"), 3),
    (Decimal("-0.125"), -0.125), (float("nan"), None), (b"\xfb\xef", "++8="), ("text", "text"),
    ([Decimal("1.0"), b"\xff"], [1, "/w=="]), ({"k": [Decimal("2.5")]}, {"k": [2.5]}),
])  # fmt: skip
def test_a_value_and_the_values_inside_it_follow_the_same_rules(value, expected):
    got = _jsonable(value)
    assert got == expected and type(got) is type(expected)


def test_as_of_is_when_the_answer_was_computed(db):
    storage, settings = db
    before = time.time()
    as_of = run_analyst_sql(storage, settings, _range(1)).page.as_of
    after = time.time()
    assert as_of.endswith("Z") and len(as_of) == len("2026-01-02T03:04:05.123Z")
    instant = datetime.fromisoformat(as_of.replace("Z", "+00:00")).timestamp()
    assert math.floor(before * 1000) / 1000 <= instant <= after


# ---- the four formats ------------------------------------------------------------------------------------------


def test_media_types_are_the_registered_ones():
    assert MEDIA_TYPES == {"json": "application/json", "csv": "text/csv",
                           "arrow": "application/vnd.apache.arrow.stream", "parquet": "application/vnd.apache.parquet"}


def test_json_format_is_the_page(db):
    storage, settings = db
    answer = run_analyst_sql(storage, settings, _range(5), 3)
    body = json.loads(encode(answer, "json"))
    assert body == {"columns": [{"name": "x", "type": "BIGINT"}], "rows": [[0], [1], [2]], "count": 3,
                    "truncated": True, "truncated_by": "rows", "bytes": 13, "as_of": answer.page.as_of}


CSV_SQL = ("SELECT * FROM (VALUES (1, 'plain', true, NULL, [1, 2], {'a': 'b'}), "
           "(2, 'a,\"b\"', false, 2.5, [], {'a': NULL})) t(n, s, ok, v, l, st) ORDER BY n")


def test_csv_format_has_a_header_and_the_rows_with_nested_values_as_json(db):
    storage, settings = db
    data = encode(run_analyst_sql(storage, settings, CSV_SQL), "csv")
    assert data.count(b"\n") == 3 and b"\r" not in data
    assert list(csv.reader(io.StringIO(data.decode()))) == [
        ["n", "s", "ok", "v", "l", "st"],
        ["1", "plain", "true", "", "[1, 2]", '{"a": "b"}'],
        ["2", 'a,"b"', "false", "2.5", "[]", '{"a": null}'],
    ]


def test_arrow_and_parquet_hold_the_same_rows_with_the_database_types(db):
    storage, settings = db
    sql = "SELECT x, x * 1.5::DECIMAL(4,1) AS d, repeat('a', 88) AS s FROM range(30) t(x) ORDER BY x"
    answer = run_analyst_sql(storage, settings, sql, 20)
    assert answer.page.count < 20  # cut by bytes: the other formats hold the same rows, no more
    stream = pa.ipc.open_stream(encode(answer, "arrow")).read_all()
    parquet = pq.read_table(io.BytesIO(encode(answer, "parquet")))
    expected = [{"x": i, "d": Decimal(i) * Decimal("1.5"), "s": "a" * 88} for i in range(answer.page.count)]
    bare = duckdb.connect().sql(sql).to_arrow_table().schema  # the database's own types
    for table in (stream, parquet):
        assert table.to_pylist() == expected
        assert [(f.name, f.type) for f in table.schema] == [(f.name, f.type) for f in bare]
        assert table.schema.field("d").type == pa.decimal128(23, 1) and table.schema.field("x").type == pa.int64()


def test_a_type_a_format_cannot_hold_is_a_clear_error(db):
    storage, settings = db
    answer = run_analyst_sql(storage, settings, "SELECT INTERVAL 1 HOUR AS iv")
    with pytest.raises(ValueError, match=r"^this result cannot be written as parquet: .+; try format json or csv$"):
        encode(answer, "parquet")
    assert pa.ipc.open_stream(encode(answer, "arrow")).read_all().num_rows == 1


# ---- the tool's description ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["duckdb", "vertica"])
def test_the_description_states_the_dialect_relations_caps_and_refusals(db, backend):
    _, settings = db
    text = tool_description(_with(settings, db_backend=backend, mcp_max_rows=321, mcp_sql_max_bytes=65_432,
                                  mcp_query_timeout_ms=4_321))
    assert text.startswith(f"Run one read-only SQL statement ({'DuckDB' if backend == 'duckdb' else 'Vertica'} "
                           "dialect) over the market data and signals and get typed rows.")
    assert f"these tables and views: {', '.join(sorted(DOCUMENTED_RELATIONS))}. Read the resource schema://views" in text
    for fact in ["Only SELECT / WITH ... SELECT / VALUES",
                 "Read the resource schema://views first for every column, its type and meaning. Times are BIGINT",
                 "UTC (*_ns columns); the views add TIMESTAMP columns (ts, bar_end;", "Times are BIGINT nanoseconds since the Unix epoch, UTC",
                 "session_date is a DATE", "Filter on symbol and a *_ns range, and aggregate in SQL",
                 "at most `limit` rows (≤ 321) and 65432 bytes of JSON come back",
                 "(truncated/truncated_by say when more existed)",
                 "a statement running longer than 4321 ms is cancelled",
                 "Refused with the reason: writes, DDL, COPY/ATTACH/INSTALL/LOAD/PRAGMA/SET, files and URLs "
                 "(read_csv, read_parquet, 'file.csv'), system catalogs and several statements. Examples:\n- "]:
        assert fact in text
    hint = ("make_timestamp(ts_ns // 1000) gives a TIMESTAMP, epoch_ns(now() - INTERVAL 1 HOUR) a bound"
            if backend == "duckdb" else "TO_TIMESTAMP(ts_ns / 1e9) gives a TIMESTAMP")
    assert f"(ts, bar_end; session_date is a DATE); {hint}. Filter" in text
    examples = [line[2:] for line in text.split("Examples:\n", 1)[1].split("\n")]
    assert len(examples) == (4 if backend == "duckdb" else 2)
    assert all(line.startswith("SELECT ") for line in examples)
    for example in examples:  # each example passes the guard of its dialect
        check_read_only(example, dialect=backend)


def test_the_duckdb_examples_run_as_written(db):
    storage, settings = db
    text = tool_description(settings)
    examples = [line[2:] for line in text.split("Examples:\n", 1)[1].split("\n")]
    expected_columns = [["symbol", "trades", "volume"],
                        ["symbol", "bar_end", "close", "garch_sigma", "vpin_cdf", "trading_signal"],
                        ["symbol", "day", "jumps", "largest"], ["symbol", "bar_end", "vwap", "vwap_30"]]
    assert [[c.name for c in run_analyst_sql(storage, settings, e).page.columns] for e in examples] == expected_columns


@pytest.mark.parametrize(("sql", "column", "kind"), [
    ("SELECT 340282366920938463463374607431768211455::UHUGEINT AS u", "u", "UHUGEINT"),
    ("SELECT 1::UHUGEINT AS small", "small", "UHUGEINT"),  # refused by type: the next row may not fit
    ("SELECT '1010'::BIT AS b", "b", "BIT"),
    ("SELECT 10::BIGNUM AS g", "g", "BIGNUM"),
    ("SELECT '10:00:00+02'::TIMETZ AS t", "t", "TIME WITH TIME ZONE"),
    ("SELECT 1 AS ok, [1::UHUGEINT] AS l", "l", "UHUGEINT[] (UHUGEINT inside)"),
    ("SELECT {'x': [10::BIGNUM]} AS s", "s", "BIGNUM inside"),
    ("SELECT MAP {1: '1010'::BIT} AS m", "m", "BIT inside"),
    ("SELECT [1, 2]::UHUGEINT[2] AS a", "a", "UHUGEINT[2] (UHUGEINT inside)"),
    ("SELECT union_value(k := 1::UHUGEINT) AS v", "v", "UHUGEINT inside"),
])
def test_a_column_the_formats_would_change_is_refused_by_name(db, sql, column, kind):
    # DuckDB's Arrow export wraps a UHUGEINT above 2^127 - 1 negative (2^128 - 1 as -1), gives BIT and BIGNUM as its
    # internal bytes and drops a TIMETZ's offset: an error naming the column beats a wrong value
    storage, settings = db
    with pytest.raises(StatementError, match=rf"^column '{column}' has type .*{re.escape(kind)}.*CAST it to VARCHAR"):
        run_analyst_sql(storage, settings, sql)


@pytest.mark.parametrize("sql", ["SELECT 170141183460469231731687303715884105727::HUGEINT AS h",
                                 "SELECT CAST(340282366920938463463374607431768211455::UHUGEINT AS VARCHAR) AS u",
                                 "SELECT [1, 2]::INTEGER[2] AS a, 'x'::ENUM('x', 'y') AS e, TIME '10:00' AS t"])
def test_types_the_formats_carry_exactly_are_answered(db, sql):
    storage, settings = db
    answer = run_analyst_sql(storage, settings, sql)
    assert answer.page.count == 1 and answer.page.rows[0] == [_jsonable(v) for v in duckdb.connect().execute(sql).fetchone()]


def test_the_refusal_says_the_column_its_type_and_the_cast_out_in_full(db):
    storage, settings = db
    way_out = ("whose values the result formats cannot carry exactly: CAST it to VARCHAR (or to HUGEINT, DECIMAL or "
               "TIME when its values fit)")
    with pytest.raises(StatementError) as top:
        run_analyst_sql(storage, settings, "SELECT 1::UHUGEINT AS u")
    assert str(top.value) == f"column 'u' has type UHUGEINT, {way_out}"
    with pytest.raises(StatementError) as nested:
        run_analyst_sql(storage, settings, "SELECT [1::UHUGEINT] AS l")
    assert str(nested.value) == f"column 'l' has type UHUGEINT[] (UHUGEINT inside), {way_out}"
