"""The named-statement registry: lookups, names in file order, and the splitting of migration scripts."""

from __future__ import annotations

import pytest

from sql.queries import NamedQuery, _parse, load_registry, split_statements


def test_statements_are_split_at_semicolons_without_comment_lines_or_blanks():
    script = "-- header; with a semicolon\nCREATE TABLE a (x INT);\n  -- indented comment\n\nINSERT INTO a\nVALUES (1) ;;\n\n"
    assert split_statements(script) == ["CREATE TABLE a (x INT)", "INSERT INTO a\nVALUES (1)"]
    assert split_statements("SELECT 1 -- trailing comment kept\n") == ["SELECT 1 -- trailing comment kept"]
    assert split_statements("") == [] and split_statements("-- only\n;\n") == []


def test_a_registry_lists_its_names_in_file_order_and_names_the_known_ones_on_a_miss():
    registry = load_registry("duckdb", "schema")
    names = registry.names()
    assert names[:3] == ["schema_version", "market_data", "quotes"] and len(names) == len(registry)
    assert [q.name for q in registry] == names
    with pytest.raises(KeyError) as missing:
        registry["nope"]
    assert missing.value.args[0] == f"no SQL statement named 'nope'; known: {', '.join(sorted(names))}"


def test_a_statement_file_is_read_from_its_header():
    query = _parse("duckdb", "queries/page.sql",
                   "-- name: page\n--params:  a , ,b \n-- returns:  rows, newest first \nSELECT $a, $b;\n")  # fmt: skip
    assert query == NamedQuery("page", ("a", "b"), "rows, newest first", "-- name: page\n--params:  a , ,b \n"
                               "-- returns:  rows, newest first \nSELECT $a, $b;")  # fmt: skip
    numbered = _parse("duckdb", "schema/001_market_data.sql", "-- name: market_data\nCREATE TABLE market_data (x INT)")
    assert (numbered.name, numbered.params, numbered.returns) == ("market_data", (), "")
    assert _parse("duckdb", "views/plain.sql", "SELECT 1").name == "plain"  # no header: the file's stem
    # a file of a nested folder (migrations/readers/) is named by its stem too, without the inner folder
    assert _parse("duckdb", "migrations/readers/005_plain.sql", "SELECT 1").name == "005_plain"


@pytest.mark.parametrize(
    ("dialect", "text", "params"),
    [("duckdb", "SELECT '$quoted', 'it''s $x', 1 -- $commented\n", ()),
     ("duckdb", "SELECT $Upper_1, $b FROM t WHERE c = $b", ("Upper_1", "b")),
     ("vertica", "SELECT :a::INT, ':quoted' -- :commented\nFROM t WHERE x = :b_2", ("a", "b_2")),
     ("vertica", "SELECT x::FLOAT FROM t", ()),
     # a comment right after a parameter ends its name (the comment is removed, not replaced by text)
     ("duckdb", "SELECT $a-- the first\nFROM t WHERE s = $b--the second", ("a", "b")),
     ("vertica", "SELECT :a-- the first\nFROM t", ("a",))],
)  # fmt: skip
def test_declared_parameters_must_be_those_used_outside_comments_and_strings(dialect, text, params):
    header = f"-- params: {', '.join(params)}\n" if params else ""
    assert _parse(dialect, "queries/q.sql", header + text).params == params
    with pytest.raises(ValueError) as refused:
        _parse(dialect, "queries/q.sql", "-- params: other\n" + text)
    assert str(refused.value) == f"sql/{dialect}/queries/q.sql: declares params ['other'] but uses {sorted(params)}"


def test_a_header_name_other_than_the_files_is_refused():
    with pytest.raises(ValueError) as refused:
        _parse("duckdb", "queries/page.sql", "-- name: pages\nSELECT 1")
    assert str(refused.value) == "sql/duckdb/queries/page.sql: header name 'pages' does not match the file name"


def test_loading_a_folder_again_gives_the_same_statements():
    fresh = load_registry.__wrapped__("duckdb", "queries")  # not the cached registry: parsed again
    cached = load_registry("duckdb", "queries")
    assert fresh.names() == cached.names() == sorted(cached.names())
    assert [fresh[name] for name in fresh.names()] == [cached[name] for name in cached.names()]
