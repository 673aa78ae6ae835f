"""Each rule of the analyst SQL guard (``server/sql_guard.py``) with the exact message an analyst reads.

``test_sql_guard.py`` checks that every forbidden construct is refused with a message naming it; here each
rule's whole message is pinned (what is refused, and why), per dialect, with the allowed reads that sit next to
each rule (a CTE in scope, ``main.``/``public.``, the documented table macro, Vertica-only syntax passed
through unchanged). Messages that quote a library's error are compared with the library's own error, read here
directly (sqlglot, DuckDB), cut to its first line without terminal colour codes as the module documents.
No server, no database file: milliseconds a case (the fast group ``sql-guard`` of ``scripts/mutation``).
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ParseError, TokenError

from server.sql_guard import DOCUMENTED_RELATIONS, SqlRefused, _confirm_with_duckdb, _first_line, check_read_only

ONLY = "only SELECT (or WITH ... SELECT, VALUES) is allowed, not "
READS_ONLY = " is not allowed: the analyst SQL reads only"
TABLE_FUNCTION = ("() is not allowed: only generate_series, range, unnest and the documented tables and views "
                  "(schema://views) can be read")  # fmt: skip
HOST = "() is not allowed: it reads files, reveals the host or has side effects"
OUTSIDE = " is outside the documented tables and views (schema://views)"
FILE_HINT = " (a file or URL: reading files is not allowed)"
NOT_VERTICA = "() is not known as a plain SQL function; on Vertica only those are allowed"


def _not_documented(name: str, hint: str = "") -> str:
    return f"relation {name!r} is not one of the documented tables and views{hint}: " + ", ".join(sorted(DOCUMENTED_RELATIONS))


#: (dialect, statement, the whole refusal).
REFUSED = [
    # statements other than a query, at the root
    ("duckdb", "INSERT INTO market_data SELECT * FROM market_data", ONLY + "INSERT"),
    ("duckdb", "UPDATE trading_signals SET close = 0", ONLY + "UPDATE"),
    ("duckdb", "DELETE FROM quotes", ONLY + "DELETE"),
    ("duckdb", "COPY market_data TO '/tmp/x.csv'", ONLY + "COPY"),
    ("duckdb", "ATTACH '/tmp/o.duckdb' AS o", ONLY + "ATTACH"),
    ("duckdb", "DETACH o", ONLY + "DETACH"),
    ("duckdb", "PRAGMA database_list", ONLY + "PRAGMA"),
    ("duckdb", "SET threads = 1", ONLY + "SET"),
    ("duckdb", "USE memory", ONLY + "USE"),
    ("duckdb", "INSTALL httpfs", ONLY + "INSTALL"),
    ("duckdb", "DROP TABLE market_data", ONLY + "DROP"),
    ("duckdb", "CREATE TABLE x AS SELECT 1", ONLY + "CREATE"),
    ("duckdb", "CREATE MACRO m() AS 1", ONLY + "CREATE"),
    ("duckdb", "DESCRIBE market_data", ONLY + "DESCRIBE"),
    # what sqlglot only knows as a command: named upper-case whatever the case sent
    ("duckdb", "CALL pragma_version()", ONLY + "CALL (a command)"),
    ("duckdb", "call pragma_version()", ONLY + "CALL (a command)"),
    ("duckdb", "LOAD httpfs", ONLY + "LOAD (a command)"),
    ("duckdb", "VACUUM", ONLY + "VACUUM (a command)"),
    ("duckdb", "reset threads", ONLY + "RESET (a command)"),
    # a root that is no statement at all: quoted, cut at 60 characters
    ("duckdb", "CHECKPOINT", ONLY + "'CHECKPOINT' (not a query)"),
    ("duckdb", "1 + " * 30 + "1", ONLY + repr(("1 + " * 30)[:60]) + " (not a query)"),
    # statements nested in a query
    ("duckdb", "WITH d AS (DELETE FROM quotes RETURNING 1) SELECT * FROM d", "DELETE" + READS_ONLY),
    ("duckdb", "select * from (describe market_data)", "DESCRIBE" + READS_ONLY),
    ("duckdb", "SELECT * FROM (SUMMARIZE market_data)", "SUMMARIZE" + READS_ONLY),
    ("duckdb", "SELECT * INTO t FROM market_data", "SELECT ... INTO is not allowed: it creates a table"),
    ("duckdb", "SELECT 1 UNION SELECT 2 INTO t", "SELECT ... INTO is not allowed: it creates a table"),
    # what DuckDB's own parser reads otherwise than sqlglot
    ("duckdb", "SELECT * FROM (PIVOT trading_signals ON trading_signal USING count(*))",
     "DuckDB reads this as MULTI; only one SELECT is allowed"),
    # one statement
    ("duckdb", "SELECT 1; SELECT 2", "send exactly one statement, not 2"),
    ("duckdb", "SELECT 1; DROP TABLE market_data; SELECT 3", "send exactly one statement, not 3"),
    ("duckdb", ";", "send exactly one statement, not 0"),
    ("duckdb", "", "the statement is empty; send one SELECT"),
    ("duckdb", "  \n\t", "the statement is empty; send one SELECT"),
    ("vertica", " \n", "the statement is empty; send one SELECT"),
    # table functions: only range, generate_series, unnest and the documented macro
    ("duckdb", "SELECT * FROM read_csv('/etc/passwd')", "table function read_csv" + TABLE_FUNCTION),
    ("duckdb", "SELECT * FROM read_parquet('x.parquet')", "table function read_parquet" + TABLE_FUNCTION),
    ("duckdb", "SELECT * FROM glob('/*')", "table function glob" + TABLE_FUNCTION),
    ("duckdb", "SELECT * FROM duckdb_settings()", "table function duckdb_settings" + TABLE_FUNCTION),
    ("duckdb", "SELECT * FROM getvariable('x')", "table function getvariable" + TABLE_FUNCTION),
    ("duckdb", "SELECT * FROM query('SELECT 1')", "table function query" + TABLE_FUNCTION),
    ("duckdb", "WITH market_data AS (SELECT * FROM duckdb_tables()) SELECT * FROM market_data",
     "table function duckdb_tables" + TABLE_FUNCTION),
    # functions that read files (sqlglot's own classes), reveal the host or have side effects
    ("duckdb", "SELECT read_csv('x.csv')", "function read_csv() is not allowed: it reads files or URLs"),
    ("duckdb", "SELECT read_parquet('x.parquet')", "function read_parquet() is not allowed: it reads files or URLs"),
    ("vertica", "SELECT read_csv('x.csv')", "function read_csv() is not allowed: it reads files or URLs"),
    ("duckdb", "SELECT glob('/*')", "function glob" + HOST),
    ("duckdb", "SELECT sniff_csv('x')", "function sniff_csv" + HOST),
    ("duckdb", "SELECT read_text('/etc/hostname')", "function read_text" + HOST),
    ("duckdb", "SELECT duckdb_settings()", "function duckdb_settings" + HOST),
    ("duckdb", "SELECT current_setting('home_directory')", "function current_setting" + HOST),
    ("duckdb", "SELECT GETENV('HOME')", "function getenv" + HOST),
    ("duckdb", "SELECT nextval('s')", "function nextval" + HOST),
    ("duckdb", "SELECT pragma_version()", "function pragma_version" + HOST),
    ("duckdb", "SELECT pg_typeof(1)", "function pg_typeof" + HOST),
    ("duckdb", "SELECT has_table_privilege('a', 'b')", "function has_table_privilege" + HOST),
    ("duckdb", "SELECT query('SELECT 1')", "function query" + HOST),
    ("vertica", "SELECT getenv('x')", "function getenv" + HOST),
    ("duckdb", "SELECT no_such_function(1)",
     "function no_such_function() is not a plain DuckDB scalar, aggregate or window function"),
    # relations: the documented set, qualified by main (DuckDB) or public (Vertica) only, CTEs in scope only
    ("duckdb", "SELECT * FROM information_schema.tables", "relation 'information_schema.tables'" + OUTSIDE),
    ("duckdb", "SELECT * FROM memory.main.market_data", "relation 'memory.main.market_data'" + OUTSIDE),
    ("duckdb", "SELECT * FROM public.market_data", "relation 'public.market_data'" + OUTSIDE),
    ("vertica", "SELECT * FROM main.market_data", "relation 'main.market_data'" + OUTSIDE),
    ("vertica", "SELECT * FROM v_catalog.tables", "relation 'v_catalog.tables'" + OUTSIDE),
    ("duckdb", "SELECT * FROM nope", _not_documented("nope")),
    ("duckdb", "SELECT * FROM duckdb_tables", _not_documented("duckdb_tables")),
    ("duckdb", "SELECT * FROM sqlite_master", _not_documented("sqlite_master")),
    ("duckdb", "WITH x AS (SELECT 1) SELECT * FROM main.x", _not_documented("main.x")),
    ("duckdb", "SELECT * FROM y, (WITH y AS (SELECT 1) SELECT * FROM y)", _not_documented("y")),
    ("vertica", "SELECT * FROM nope", _not_documented("nope")),
    ("duckdb", "SELECT * FROM 'x.csv'", _not_documented("x.csv", FILE_HINT)),
    ("duckdb", 'SELECT * FROM "https://e.com/x.parquet"', _not_documented("https://e.com/x.parquet", FILE_HINT)),
    ("duckdb", "SELECT * FROM 's3:bucket'", _not_documented("s3:bucket", FILE_HINT)),
    ("duckdb", "SELECT * FROM ?", "? is not a table name; read the documented tables and views (schema://views)"),
    ("duckdb", "SELECT * FROM $1", "$1 is not a table name; read the documented tables and views (schema://views)"),
    # Vertica: every function sqlglot does not know is refused (no catalog to consult), also DuckDB built-ins
    ("vertica", "SELECT export_tables('', 'x')", "function export_tables" + NOT_VERTICA),
    ("vertica", "SELECT hash(1)", "function hash" + NOT_VERTICA),
    ("vertica", "SELECT * FROM range(3)", "function range" + NOT_VERTICA),
    ("vertica", "INSERT INTO market_data SELECT 1", ONLY + "INSERT"),
    # Vertica-only syntax (PostgreSQL's grammar does not parse it): the keyword check
    ("vertica", "PROFILE SELECT 1", "only SELECT (or WITH ... SELECT) is allowed"),
    ("vertica", "(SELECT 1) TIMESERIES ts AS '1 minute' OVER (ORDER BY ts)", "only SELECT (or WITH ... SELECT) is allowed"),
    ("vertica", "SELECT copy FROM market_data TIMESERIES ts AS '1 minute' OVER (ORDER BY ts)", "COPY" + READS_ONLY),
    ("vertica", "SELECT ts FROM market_data TIMESERIES ts AS '1 minute' OVER (ORDER BY ts) union select 1 from quotes "
                "where delete = 1", "DELETE" + READS_ONLY),  # fmt: skip
    ("vertica", "SELECT * FROM market_data TIMESERIES ts AS '1 minute' OVER (ORDER BY ts); COMMIT",
     "send exactly one statement (no ';' inside)"),
    ("vertica", "SELECT 1 TIMESERIES; SELECT 2", "send exactly one statement (no ';' inside)"),
    ("vertica", "SELECT $$x", "the statement does not tokenize: Error tokenizing 'SELECT $$'"),
]  # fmt: skip


@pytest.mark.parametrize(("dialect", "sql", "message"), REFUSED, ids=[f"{d}:{s[:50]}" for d, s, _ in REFUSED])
def test_each_rule_refuses_with_its_whole_message(dialect, sql, message):
    with pytest.raises(SqlRefused) as refused:
        check_read_only(sql, dialect=dialect)
    assert str(refused.value) == message


#: (dialect, statement, the text returned to run). DuckDB: regenerated from the checked tree; Vertica: as sent,
#: without the outer blanks and one trailing semicolon.
ALLOWED = [
    ("duckdb", "SELECT 1;", "SELECT 1"),
    ("duckdb", "select symbol from main.market_data", "SELECT symbol FROM main.market_data"),
    ("duckdb", "SELECT * FROM MAIN.Market_Data", "SELECT * FROM MAIN.Market_Data"),
    ("duckdb", "WITH X AS (SELECT 1) SELECT * FROM x", "WITH X AS (SELECT 1) SELECT * FROM x"),
    ("duckdb", "SELECT (WITH y AS (SELECT 1) SELECT * FROM y)", "SELECT (WITH y AS (SELECT 1) SELECT * FROM y)"),
    ("duckdb", "WITH a AS (SELECT 1 AS v) SELECT * FROM (SELECT * FROM (SELECT * FROM a) AS b) AS c",
     "WITH a AS (SELECT 1 AS v) SELECT * FROM (SELECT * FROM (SELECT * FROM a) AS b) AS c"),
    ("duckdb", "WITH duckdb_settings AS (SELECT 1) SELECT * FROM duckdb_settings",
     "WITH duckdb_settings AS (SELECT 1) SELECT * FROM duckdb_settings"),
    ("duckdb", "SELECT * FROM enriched_market_data_between('A', 1, 2)",
     "SELECT * FROM ENRICHED_MARKET_DATA_BETWEEN('A', 1, 2)"),
    ("duckdb", "SELECT 1 -- c\n", "SELECT 1"),
    ("vertica", "SELECT 1 AS X;", "SELECT 1 AS X"),
    ("vertica", "  SELECT now() ;  ", "SELECT now()"),
    ("vertica", "select * from public.latest_signals", "select * from public.latest_signals"),
    ("vertica", "WITH a AS (SELECT * FROM market_data) SELECT symbol, ts FROM a TIMESERIES ts AS '1 minute' OVER "
                "(PARTITION BY symbol ORDER BY ts)",
     "WITH a AS (SELECT * FROM market_data) SELECT symbol, ts FROM a TIMESERIES ts AS '1 minute' OVER "
     "(PARTITION BY symbol ORDER BY ts)"),
    ("vertica", "SELECT 'DELETE' AS w, \"copy\", ts FROM market_data TIMESERIES ts AS '1 minute' OVER (ORDER BY ts)",
     "SELECT 'DELETE' AS w, \"copy\", ts FROM market_data TIMESERIES ts AS '1 minute' OVER (ORDER BY ts)"),
]  # fmt: skip


@pytest.mark.parametrize(("dialect", "sql", "text"), ALLOWED, ids=[f"{d}:{s[:50]}" for d, s, _ in ALLOWED])
def test_each_allowed_read_passes_as_the_text_to_run(dialect, sql, text):
    assert check_read_only(sql, dialect=dialect) == text


def test_a_statement_nested_too_deeply_to_parse_is_refused():
    """sqlglot's parser runs out of recursion; the guard refuses instead of failing with a RecursionError."""
    with pytest.raises(SqlRefused) as refused:
        check_read_only("SELECT " + "(" * 3000 + "1" + ")" * 3000, dialect="duckdb")
    assert str(refused.value) == "the statement is nested too deeply to check"


def _plain_first_line(message: str) -> str:
    """The first line of a library's error without ANSI colour codes, at most 300 characters (module contract)."""
    line = message.split("\n")[0]
    out, i = "", 0
    while i < len(line):
        if line[i] == "\x1b" and line[i + 1 : i + 2] == "[":
            j = i + 2
            while j < len(line) and (line[j].isdigit() or line[j] == ";"):
                j += 1
            if j < len(line) and line[j] == "m":
                i = j + 1
                continue
        out += line[i]
        i += 1
    return out[:300]


@pytest.mark.parametrize("sql", ["SELECT (", "SELEC 1", "SELECT 1 FROM market_data WHERE", "SELECT 'abc"])
def test_a_statement_sqlglot_cannot_parse_is_refused_with_sqlglots_first_line(sql):
    with pytest.raises((ParseError, TokenError)) as error:
        sqlglot.parse(sql, dialect="duckdb")
    with pytest.raises(SqlRefused) as refused:
        check_read_only(sql, dialect="duckdb")
    assert str(refused.value) == f"the statement does not parse: {_plain_first_line(str(error.value))}"
    assert len(str(refused.value)) > len("the statement does not parse: ") + 10


def test_the_first_line_of_an_error_drops_colour_codes_and_stops_at_300_characters():
    assert _first_line("\x1b[4mbad\x1b[0m token. Line 1\n  SELECT \x1b[4m(\x1b[0m") == "bad token. Line 1"
    assert _first_line("a\x1b[1;31mb\x1b[mc") == "abc"
    assert _first_line("x" * 400 + "\nnext") == "x" * 300
    assert _first_line("y" * 300) == "y" * 300


@pytest.mark.parametrize(("text", "kinds"), [("SELECT 1; SELECT 2", "SELECT, SELECT"),
                                             ("INSERT INTO t VALUES (1)", "INSERT"),
                                             ("SELECT 1; PRAGMA version", "SELECT, PRAGMA")])  # fmt: skip
def test_duckdbs_own_parser_must_see_exactly_one_select(text, kinds):
    with pytest.raises(SqlRefused) as refused:
        _confirm_with_duckdb(text)
    assert str(refused.value) == f"DuckDB reads this as {kinds}; only one SELECT is allowed"
    assert _confirm_with_duckdb("SELECT 1") is None


def test_text_duckdb_cannot_parse_is_refused_with_duckdbs_first_line():
    with pytest.raises(duckdb.Error) as error:
        duckdb.extract_statements("SELEC 1")
    with pytest.raises(SqlRefused) as refused:
        _confirm_with_duckdb("SELEC 1")
    assert str(refused.value) == f"the statement does not parse in DuckDB: {_plain_first_line(str(error.value))}"
    assert "SELEC" in str(refused.value)
