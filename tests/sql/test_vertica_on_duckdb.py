"""The harness that runs Vertica statements in DuckDB (:mod:`tests.sql.vertica_on_duckdb`) rewrites only what it
names and refuses the rest, so a statement it runs is the statement Vertica gets, bound as vertica-python binds it."""

from __future__ import annotations

import pytest

from tests.sql.vertica_on_duckdb import REFUSED, VerticaOnDuckDB, parse_copy, to_duckdb


def test_values_are_bound_by_vertica_pythons_own_binding() -> None:
    text = to_duckdb("SELECT :name, :n, :symbols FROM t WHERE a = :n",
                     {"name": "it's", "n": 3, "symbols": ["A", "B"]})
    assert text == "SELECT 'it''s', 3, ARRAY['A','B'] FROM t WHERE a = 3"


def test_the_named_rewrites_and_nothing_else() -> None:
    text = to_duckdb("SELECT a FROM t LIMIT 1 OVER (PARTITION BY k ORDER BY r) "
                     "WHERE CONTAINS((:s)::ARRAY[VARCHAR(32)], k)", {"s": ["X"]})
    assert text == ("SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY k ORDER BY r) <= 1 "
                    "WHERE CONTAINS((ARRAY['X']), k)")


@pytest.mark.parametrize("word", REFUSED)
def test_a_vertica_only_construct_is_refused(word: str) -> None:
    with pytest.raises(ValueError, match="no DuckDB twin"):
        to_duckdb(f"SELECT {word} FROM t")


def test_timestampadd_is_rewritten_in_microseconds_only() -> None:
    db = VerticaOnDuckDB()
    assert str(db.rows(to_duckdb("SELECT TIMESTAMPADD('microsecond', 86400000000000 // 1000, "
                                 "TIMESTAMP '1970-01-01 00:00:00')::DATE"))[0][0]) == "1970-01-02"
    with pytest.raises(ValueError, match="microseconds only"):
        to_duckdb("SELECT TIMESTAMPADD('day', 1, TIMESTAMP '1970-01-01 00:00:00')")


def test_the_copy_reader_reads_escapes_enclosures_and_nulls() -> None:
    assert parse_copy("'a\\|b'||'x\\'y'\n") == [["a|b", None, "x'y"]]
