"""The named-statement registry: lookups, names in file order, and the splitting of migration scripts."""

from __future__ import annotations

import pytest

from sql.queries import load_registry, split_statements


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
