"""sql/archive_paths.py called directly: which archive folders may go into SQL text, how they are quoted, the
statement names and markers of each archived table, and the view text that reads the archive (milliseconds a test;
mutation group ``archive-paths``). Expected values are written by hand from the module's docstrings and the
archive layout in README "Retention and archive"; the quoted SQL is also run on DuckDB to show it reads back as
the same string.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sql.archive_paths import (
    ARCHIVE_MARKER,
    ARCHIVED_TABLES,
    STAGING,
    TABLE_MARKER,
    ArchivedTable,
    archived_tables,
    check_archive_root,
    check_sql_path,
    parquet_relation,
    render,
    sql_identifier,
    sql_literal,
    with_archive,
)

ARCHIVE_MESSAGE = "ARCHIVE_PATH (unset: DUCKDB_PATH without its suffix + .archive)"
HIVE = "hive_types = {'market': 'VARCHAR', 'date': 'DATE', 'symbol': 'VARCHAR'}"


def test_the_archived_tables_their_folders_views_settings_and_statement_names():
    trades, quotes, signals = ARCHIVED_TABLES
    assert (trades.folder, trades.live, trades.view, trades.setting, trades.followers) == (
        "trades", "market_data", "trades_all", "retain_trades_days", ())
    assert (quotes.folder, quotes.live, quotes.view, quotes.setting, quotes.followers) == (
        "quotes", "quotes", "quotes_all", "retain_quotes_days", ())
    assert (signals.folder, signals.live, signals.view, signals.setting) == (
        "signals", "trading_signals", "signals_all", "retain_signals_days")
    assert [(f.folder, f.live, f.view, f.setting, f.queries, f.followers) for f in signals.followers] == [
        ("bar_liquidity", "bar_liquidity", "bar_liquidity_all", "retain_signals_days", "bars", ()),
        ("bar_realized_spread", "bar_realized_spread", "bar_realized_spread_all", "retain_signals_days", "bars", ())]
    assert [t.query("export") for t in (trades, quotes, signals, *signals.followers)] == [
        "export_market_data", "export_quotes", "export_bars", "export_bars", "export_bars"]
    assert [t.folder for t in archived_tables()] == ["trades", "quotes", "signals", "bar_liquidity",
                                                     "bar_realized_spread"]
    assert (ARCHIVE_MARKER, TABLE_MARKER, STAGING) == ("__ARCHIVE__", "__TABLE__", ".staging")


def test_a_statement_names_its_table_only_where_it_has_the_marker():
    follower = ARCHIVED_TABLES[2].followers[0]
    assert follower.statement("-- on __TABLE__\nDELETE FROM __TABLE__ WHERE x") == 'DELETE FROM "bar_liquidity" WHERE x'
    assert follower.statement("DELETE FROM market_data") == "DELETE FROM market_data"
    odd = ArchivedTable("f", 'we"ird', "v", "s")
    assert odd.statement("FROM __TABLE__, __TABLE__") == 'FROM "we""ird", "we""ird"'
    assert odd.query("count") == 'count_we"ird'


@pytest.mark.parametrize("bad", ["it's", 'a"b', "a\\b", "a*b", "a?b", "a[b", "a]b", "a{b", "a}b", "a\nb", "a\x00b"[:2],
                                 "a\x1fb", "a\x7fb", "x/../y", "x/.."])
def test_a_path_that_cannot_go_into_sql_text_is_refused_naming_the_setting(tmp_path, bad):
    with pytest.raises(ValueError, match=r"^SETTING .* cannot go into DuckDB's SQL text safely: no quote, backslash, "
                                         r"glob character \(\* \? \[ \] \{ \}\), control character or '\.\.'$"):
        check_sql_path(tmp_path / bad, "SETTING")
    with pytest.raises(ValueError, match=r"^ARCHIVE_PATH \(unset: DUCKDB_PATH without its suffix \+ \.archive\) "):
        check_archive_root(tmp_path / bad)


def test_a_safe_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_sql_path(Path("a b") / "c..d" / "..e", "S") == tmp_path / "a b" / "c..d" / "..e"
    assert check_archive_root(Path("arch")) == tmp_path / "arch"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert check_sql_path(Path("~/x"), "S") == tmp_path / "home" / "x"
    assert check_sql_path(tmp_path / "a~b-c_d.e:f", "S") == tmp_path / "a~b-c_d.e:f"


@pytest.mark.parametrize("text", ["plain", "it's", "''", "a'b'c", "", "ünï ∂"])
def test_a_literal_reads_back_as_the_same_string(text):
    assert sql_literal(text) == "'" + text.replace("'", "''") + "'"
    with duckdb.connect() as con:
        assert con.execute(f"SELECT {sql_literal(text)}").fetchone() == (text,)


@pytest.mark.parametrize("name", ["plain", 'we"ird', '""', "a b"])
def test_an_identifier_names_the_same_column(name):
    assert sql_identifier(name) == '"' + name.replace('"', '""') + '"'
    with duckdb.connect() as con:
        assert con.execute(f"SELECT 1 AS {sql_identifier(name)}").description[0][0] == name


def test_the_parquet_relation_of_a_folder(tmp_path):
    assert parquet_relation(tmp_path, "trades") == (
        f"read_parquet('{tmp_path}/trades/*/*/*/*.parquet', hive_partitioning = true, {HIVE})")
    with pytest.raises(ValueError, match="ARCHIVE_PATH"):
        parquet_relation(tmp_path / "it's", "trades")


def test_the_relation_reads_every_archived_file_with_typed_keys(tmp_path):
    folder = tmp_path / "trades" / "market=stocks" / "date=2024-03-11" / "symbol=1234"
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 5 AS ts_ns) TO '{folder}/part-1-0.parquet' (FORMAT parquet)")
        con.execute(f"COPY (SELECT 6 AS ts_ns) TO '{folder}/part-2-0.parquet' (FORMAT parquet)")
        rows = con.execute(f"SELECT market, date, symbol, ts_ns FROM {parquet_relation(tmp_path, 'trades')} "
                           "ORDER BY ts_ns").fetchall()
        types = con.execute(f"SELECT typeof(date), typeof(symbol) FROM {parquet_relation(tmp_path, 'trades')} "
                            "LIMIT 1").fetchone()
    assert [(m, str(d), s, t) for m, d, s, t in rows] == [("stocks", "2024-03-11", "1234", 5),
                                                         ("stocks", "2024-03-11", "1234", 6)]
    assert types == ("DATE", "VARCHAR")


def test_render_drops_comment_lines_and_replaces_the_marker():
    text = "-- a __ARCHIVE__ comment\n  -- indented comment\nCOPY x TO __ARCHIVE__;\nSELECT '--' FROM __ARCHIVE__"
    assert render(text, "'/p'") == "COPY x TO '/p';\nSELECT '--' FROM '/p'"
    assert render("FROM __TABLE__ -- tail", '"t"', TABLE_MARKER) == 'FROM "t" -- tail'
    for text in ("SELECT 1", "-- __ARCHIVE__ only in a comment\nSELECT 1"):
        with pytest.raises(ValueError, match="^the statement has no __ARCHIVE__ to replace$"):
            render(text, "'/p'")
    with pytest.raises(ValueError, match="^the statement has no __TABLE__ to replace$"):
        render("SELECT __ARCHIVE__", "x", TABLE_MARKER)


def test_with_archive_replaces_the_one_empty_branch_of_each_shipped_view(tmp_path):
    views = Path(__file__).resolve().parents[2] / "sql" / "duckdb" / "views"
    names = {"trades_all": "050_trades_all.sql", "quotes_all": "051_quotes_all.sql", "signals_all": "052_signals_all.sql",
             "bar_liquidity_all": "053_bar_liquidity_all.sql",
             "bar_realized_spread_all": "054_bar_realized_spread_all.sql"}
    for table in archived_tables():
        text = (views / names[table.view]).read_text()
        done = with_archive(text, table, tmp_path)
        assert f"(FROM {table.live} LIMIT 0)" not in done and "--" not in done
        assert done.count(parquet_relation(tmp_path, table.folder) + " AS archived") == 1
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        assert done == body.replace(f"(FROM {table.live} LIMIT 0) AS archived",
                                    parquet_relation(tmp_path, table.folder) + " AS archived")


def test_with_archive_refuses_a_view_without_its_branch_or_with_two(tmp_path):
    trades = ARCHIVED_TABLES[0]
    message = r"^view trades_all: expected one '\(FROM market_data LIMIT 0\) AS archived' branch$"
    for view in ("SELECT * FROM market_data",
                 "SELECT 1 FROM (FROM market_data LIMIT 0) AS archived UNION ALL SELECT 1 FROM (FROM market_data "
                 "LIMIT 0) AS archived",
                 "SELECT 1 FROM (FROM quotes LIMIT 0) AS archived",
                 "-- (FROM market_data LIMIT 0) AS archived\nSELECT 1 FROM (FROM quotes LIMIT 0) AS archived",
                 "SELECT 1 FROM (FROM market_data LIMIT 0) AS archivedx"):
        with pytest.raises(ValueError, match=message):
            with_archive(view, trades, tmp_path)
    assert with_archive("SELECT 1 FROM (FROM market_data LIMIT 0) AS archived", trades, tmp_path) == (
        f"SELECT 1 FROM {parquet_relation(tmp_path, 'trades')} AS archived")
    # an indented comment naming the branch is a comment: dropped, not a second branch
    assert with_archive("  -- the (FROM market_data LIMIT 0) AS archived branch\nSELECT 1 FROM (FROM market_data "
                        "LIMIT 0) AS archived", trades, tmp_path) == (
        f"SELECT 1 FROM {parquet_relation(tmp_path, 'trades')} AS archived")


def test_a_follower_is_keyed_like_the_signals_and_shares_their_statements_and_setting():
    import sql.archive_paths as paths

    assert paths._follower("some_bars") == ArchivedTable("some_bars", "some_bars", "some_bars_all",
                                                         "retain_signals_days", "bars")
    assert paths._follower("some_bars").query("delete") == "delete_bars"
