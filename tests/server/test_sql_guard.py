"""The parser check of analysts' SQL on its own: what it lets through, what it refuses and with which reason."""

from __future__ import annotations

import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.sql_guard import SqlRefused, check_read_only

#: (statement, words the refusal must contain): every construct of the brief, each with its reason.
FORBIDDEN = [
    ("INSERT INTO market_data SELECT * FROM market_data", "INSERT"),
    ("UPDATE trading_signals SET close = 0", "UPDATE"),
    ("DELETE FROM quotes", "DELETE"),
    ("MERGE INTO quotes USING quotes q ON true WHEN MATCHED THEN DELETE", "MERGE"),
    ("CREATE TABLE x AS SELECT 1", "CREATE"),
    ("CREATE VIEW v AS SELECT 1", "CREATE"),
    ("DROP TABLE market_data", "DROP"),
    ("ALTER TABLE market_data ADD COLUMN x INT", "ALTER"),
    ("COPY market_data TO '/tmp/x.csv'", "COPY"),
    ("COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet)", "COPY"),
    ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
    ("DETACH other", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("PRAGMA database_list", "PRAGMA"),
    ("SET threads = 1", "SET"),
    ("RESET threads", "RESET"),
    ("CALL pragma_version()", "CALL"),
    ("EXPORT DATABASE '/tmp/export'", "parse"),
    ("IMPORT DATABASE '/tmp/export'", "parse"),
    ("CHECKPOINT", "not a query"),
    ("VACUUM", "VACUUM"),
    ("USE memory", "USE"),
    ("DESCRIBE market_data", "DESCRIBE"),
    ("SHOW TABLES", "SHOW"),
    ("SUMMARIZE market_data", "SUMMARIZE"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN"),
    ("PIVOT trading_signals ON trading_signal USING count(*)", "PIVOT"),
    ("SELECT * INTO copy_of FROM market_data", "INTO"),
    ("WITH a AS (SELECT 1) INSERT INTO market_data SELECT * FROM a", "INSERT"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("SELECT 1; DROP TABLE market_data", "one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto"),
    ("SELECT * FROM read_parquet('x.parquet')", "read_parquet"),
    ("SELECT * FROM read_json('x.json')", "read_json"),
    ("SELECT * FROM read_json_auto('x.json')", "read_json_auto"),
    ("SELECT * FROM read_text('/etc/hostname')", "read_text"),
    ("SELECT * FROM read_blob('/etc/hostname')", "read_blob"),
    ("SELECT * FROM glob('/*')", "glob"),
    ("SELECT * FROM sniff_csv('x.csv')", "sniff_csv"),
    ("SELECT * FROM parquet_metadata('x.parquet')", "parquet_metadata"),
    ("SELECT * FROM parquet_schema('x.parquet')", "parquet_schema"),
    ("SELECT * FROM iceberg_scan('s3://b/t')", "iceberg_scan"),
    ("SELECT * FROM delta_scan('s3://b/t')", "delta_scan"),
    ("SELECT * FROM 'trades.csv'", "file or URL"),
    ("SELECT * FROM \"https://example.com/x.parquet\"", "file or URL"),
    ("SELECT * FROM 's3://bucket/x.parquet'", "file or URL"),
    ("SELECT * FROM query('SELECT 1')", "query()"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT * FROM duckdb_tables", "not one of the documented"),
    ("SELECT * FROM information_schema.tables", "outside the documented"),
    ("SELECT * FROM pg_catalog.pg_tables", "outside the documented"),
    ("SELECT * FROM sqlite_master", "not one of the documented"),
    ("SELECT * FROM other.main.market_data", "outside the documented"),
    ("SELECT * FROM test_all_types()", "test_all_types"),
    ("SELECT getenv('HOME')", "getenv"),
    ("SELECT current_setting('temp_directory')", "current_setting"),
    ("SELECT nextval('seq')", "nextval"),
    ("SELECT setseed(0.5)", "setseed"),
    ("SELECT write_log('x')", "write_log"),
    ("SELECT get_block_size('owned')", "get_block_size"),
    ("SELECT pg_get_viewdef(1)", "pg_get_viewdef"),
    ("SELECT symbol FROM market_data WHERE no_such_function(price) > 0", "no_such_function"),
    ("SELECT * FROM (WITH duckdb_tables AS (SELECT 1) SELECT 1), duckdb_tables", "duckdb_tables"),
    ("", "empty"),
    ("SELECT (", "parse"),
]

ALLOWED = [
    "SELECT * FROM market_data LIMIT 5",
    "FROM latest_signals",
    "select symbol, count(*) from main.market_data group by all order by 2 desc;",
    "WITH recent AS (SELECT * FROM trading_signals WHERE bar_end_ns > epoch_ns(now()) - 3600e9::BIGINT) "
    "SELECT symbol, avg(vpin) FROM recent GROUP BY symbol",
    "SELECT symbol, bar_end_ns, avg(close) OVER (PARTITION BY symbol ORDER BY bar_end_ns ROWS 9 PRECEDING) "
    "FROM trading_signals",
    "SELECT m.symbol, m.ts_ns, s.garch_sigma FROM market_data m ASOF JOIN trading_signals s "
    "ON m.symbol = s.symbol AND m.ts_ns >= s.bar_end_ns",
    "SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM range(10) t(i)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT * FROM unnest([1, 2, 3])",
    "SELECT make_timestamp(ts_ns // 1000), list_transform([1, 2], x -> x + 1), random() FROM market_data",
    "SELECT * FROM trading_signals PIVOT (count(*) FOR trading_signal IN ('BUY', 'SELL'))",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
    "SELECT * FROM market_data USING SAMPLE 10",
    "SELECT 'DROP TABLE market_data; --' AS text",
]


@pytest.mark.parametrize(("sql", "reason"), FORBIDDEN, ids=[s[:40] or "empty" for s, _ in FORBIDDEN])
def test_forbidden_statement_is_refused_naming_the_construct(sql, reason):
    with pytest.raises(SqlRefused) as refused:
        check_read_only(sql, dialect="duckdb")
    assert reason.lower() in str(refused.value).lower()


@pytest.mark.parametrize("sql", ALLOWED)
def test_read_only_query_passes_and_duckdb_reads_the_result_as_one_select(sql):
    text = check_read_only(sql, dialect="duckdb")
    (statement,) = duckdb.extract_statements(text)
    assert statement.type == duckdb.StatementType.SELECT


def test_the_text_to_run_is_regenerated_without_comments():
    text = check_read_only("SELECT 1 -- */ ; DROP TABLE market_data", dialect="duckdb")
    assert "DROP" not in text.upper() and ";" not in text


def test_refused_is_a_value_error_for_the_error_mappers():
    assert issubclass(SqlRefused, ValueError)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [("INSERT INTO market_data SELECT 1", "INSERT"), ("SELECT 1; DROP TABLE x", "one statement"),
     ("SELECT * FROM v_catalog.tables", "outside the documented"), ("SELECT export_tables('', 'x')", "export_tables"),
     ("SELECT * FROM market_data TIMESERIES ts AS '1 minute' OVER (ORDER BY ts); COMMIT", "one statement"),
     ("COPY market_data FROM '/tmp/x'", "COPY"), ("GRANT ALL ON market_data TO public", "GRANT")],
)  # fmt: skip
def test_vertica_statements_are_checked_by_type_relations_and_functions(sql, reason):
    with pytest.raises(SqlRefused) as refused:
        check_read_only(sql, dialect="vertica")
    assert reason.lower() in str(refused.value).lower()


def test_vertica_only_syntax_passes_the_keyword_check_unchanged():
    sql = "SELECT symbol, ts FROM market_data TIMESERIES ts AS '1 minute' OVER (PARTITION BY symbol ORDER BY ts)"
    assert check_read_only(sql + ";", dialect="vertica") == sql
    assert check_read_only("select * from public.latest_signals", dialect="vertica") == "select * from public.latest_signals"


_FRAGMENTS = [
    "SELECT", "*", "FROM", "market_data", "latest_signals", "read_csv('x.csv')", "'x.csv'", ";", "INSERT INTO",
    "quotes", "VALUES (1)", "COPY", "TO '/tmp/y'", "ATTACH", "'/tmp/z.duckdb'", "WITH a AS (SELECT 1)", "a",
    "UNION ALL", "(", ")", ",", "getenv('HOME')", "count(*)", "WHERE", "1=1", "--", "/*", "*/", "DROP TABLE",
    "information_schema.tables", "range(3)", "query('DELETE FROM quotes')", "SET", "threads=1", "INTO t",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=12) | st.text(max_size=80).map(lambda t: [t]))
def test_whatever_passes_is_one_select_over_documented_relations(parts):
    """Random compositions of allowed and forbidden fragments (and random text): the guard either refuses, or
    returns text that DuckDB's own parser reads as one SELECT naming no relation outside the documented set."""
    try:
        text = check_read_only(" ".join(parts), dialect="duckdb")
    except SqlRefused:
        return
    (statement,) = duckdb.extract_statements(text)
    assert statement.type == duckdb.StatementType.SELECT
    # The statement is a SELECT, so COPY, INSERT, ATTACH and SET cannot run inside it (DuckDB nests no statement
    # in a SELECT but through query(), checked below); as bare words they are only column names ("SELECT copy").
    outside_strings = re.sub(r"'(?:[^']|'')*'", "''", text).lower()
    for word in ("read_csv", "x.csv", "getenv", "information_schema", "query("):
        assert word not in outside_strings
