"""sql/conditions.py against a plain reading of the shipped tables (tests/reference/conditions.py) and the rules
of its docstring, function by function on small inputs (milliseconds a test; mutation group ``conditions``).

The loaders run once at import, so they are also called here directly: on the shipped files, and on small files
of our own (a stand-in for ``importlib.resources`` that reads bytes as a non-UTF-8 locale would unless told
``utf-8``) for the checks a shipped file never trips: duplicate ids or codes, flags that are not booleans, a
malformed CSV line.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pytest

import sql.conditions as conditions
from sql.conditions import (
    EXCLUDED_CORRECTIONS,
    KEPT_CORRECTIONS,
    STOCK_TRADE_CONDITIONS,
    ConditionRule,
    condition_sets_table,
    conditions_table,
    corrections_table,
    print_eligibility,
    unknown_codes,
)
from tests.reference import conditions as ref

ROWS = ref.condition_rows()
KEPT, EXCLUDED = ref.correction_codes()

# strings that exercise every rule: regular, volume-only, high/low-only combinations, unknown ids, tokens that are
# not integers, wrappers, spaces, empty tokens, negative ids, an indicator (57) that changes nothing
STRINGS = ["0", "14", "37", "2", "10", "22", "12,37", "14,37", "14,41", "15", "38", "38,14", "10,38", "999",
           "14,999", "37,999", "abc", "12,,x,37", " 14 , 37 ", "[12, 37]", "{22}", '"10,14"', "'38'", "-3", "57",
           "57,38", "5", "29", "33", ",", "14,", ",37", "x,y", "15,999,abc", "17", "41", "6,7"]


class _Files:
    """``importlib.resources`` for a folder of our own; decodes as latin-1 (a non-UTF-8 locale) unless told."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, package: str) -> _Files._Node:
        assert package == "sql"
        return _Files._Node(self.root)

    class _Node:
        def __init__(self, path: Path) -> None:
            self.path = path

        def joinpath(self, *parts: str) -> _Files._Node:
            return _Files._Node(self.path.joinpath(*parts))

        def read_text(self, encoding: str | None = None) -> str:
            return self.path.read_bytes().decode(encoding or "latin-1")


HEADER = "id,name,cta,utp,updates_last,updates_high_low,updates_volume,notes\n"


@pytest.fixture
def own_files(tmp_path, monkeypatch):
    (tmp_path / "reference").mkdir()
    monkeypatch.setattr(conditions, "resources", _Files(tmp_path))

    def write(conditions_csv: str, corrections_csv: str = "code,meaning,excluded,notes\n0,regular,false,\n") -> None:
        (tmp_path / "reference" / "polygon_stock_trade_conditions.csv").write_bytes(conditions_csv.encode("utf-8"))
        (tmp_path / "reference" / "polygon_trade_corrections.csv").write_bytes(corrections_csv.encode("utf-8"))

    return write


# -- the loaders -----------------------------------------------------------------------------------------------


def test_the_loaded_table_is_every_row_of_the_shipped_csv_in_id_order_and_read_only():
    for table in (conditions._load_conditions(), STOCK_TRADE_CONDITIONS):
        assert isinstance(table, MappingProxyType)
        assert list(table) == sorted(ROWS)
        for code, rule in table.items():
            expected = ROWS[code]
            assert isinstance(rule, ConditionRule)
            assert (rule.id, rule.name, rule.cta, rule.utp, rule.notes) == (
                code, expected["name"], expected["cta"], expected["utp"], expected["notes"])
            for column in ("updates_last", "updates_high_low", "updates_volume"):
                assert getattr(rule, column) is expected[column], (code, column)
        with pytest.raises(TypeError):
            table[999] = table[0]  # type: ignore[index]


def test_the_loaded_corrections_are_the_shipped_csvs_kept_and_excluded_codes():
    kept, excluded = conditions._load_corrections()
    assert (kept, excluded) == (frozenset(KEPT), frozenset(EXCLUDED)) == (KEPT_CORRECTIONS, EXCLUDED_CORRECTIONS)
    assert isinstance(kept, frozenset) and isinstance(excluded, frozenset)
    assert kept == {0} and excluded == set(range(1, 13))


def test_a_table_of_our_own_is_read_with_comments_spaces_case_and_utf8(own_files):
    own_files("# a comment line, skipped\n" + HEADER
              + "9,  Caf\u00e9 Cross  , X ,,TRUE, False ,true,  a note  \n"
              + "# another comment between rows\n"
              + "3,Automatic,E,  ,false,true,false,\n",
              "# head\ncode,meaning,excluded,notes\n4,x, TRUE ,\n0,regular,False,\n2,y,true,\n")
    table = conditions._load_conditions()
    assert list(table) == [3, 9]
    assert table[9] == ConditionRule(9, "Caf\u00e9 Cross", "X", None, True, False, True, "a note")
    assert table[3] == ConditionRule(3, "Automatic", "E", None, False, True, False, "")
    assert conditions._load_corrections() == (frozenset({0}), frozenset({2, 4}))


@pytest.mark.parametrize("value", ["yes", "1", "", "t", "truee"])
def test_a_flag_that_is_not_true_or_false_is_refused(own_files, value):
    own_files(HEADER + f"1,A,,,true,{value},true,\n")
    with pytest.raises(ValueError, match=f"updates_high_low must be true or false, got '{value}'"):
        conditions._load_conditions()
    own_files(HEADER + "1,A,,,true,true,true,\n", f"code,meaning,excluded,notes\n0,regular,{value},\n")
    with pytest.raises(ValueError, match=f"excluded must be true or false, got '{value}' in row"):
        conditions._load_corrections()


def test_the_flag_reader_directly():
    assert conditions._flag({"c": " TRUE "}, "c") is True
    assert conditions._flag({"c": "False"}, "c") is False
    with pytest.raises(ValueError, match=r"^c must be true or false, got 'no' in row \{'c': 'no', 'd': 'x'\}$"):
        conditions._flag({"c": "no", "d": "x"}, "c")


def test_a_duplicate_id_or_code_is_refused(own_files):
    own_files(HEADER + "1,A,,,true,true,true,\n2,B,,,true,true,true,\n1,C,,,false,false,false,\n")
    with pytest.raises(ValueError, match="^condition id 1 appears twice in polygon_stock_trade_conditions.csv$"):
        conditions._load_conditions()
    for body in ("0,a,false,\n3,b,true,\n0,c,false,\n", "0,a,false,\n3,b,true,\n3,c,true,\n",
                 "0,a,false,\n3,b,true,\n0,c,true,\n", "0,a,false,\n3,b,true,\n3,c,false,\n"):
        own_files(HEADER + "1,A,,,true,true,true,\n", "code,meaning,excluded,notes\n" + body)
        with pytest.raises(ValueError, match=r"^correction code [03] appears twice in polygon_trade_corrections.csv$"):
            conditions._load_corrections()


def test_a_malformed_csv_line_is_refused(own_files):
    own_files(HEADER + '1,"Acq"uisition,,,true,true,true,\n')
    with pytest.raises(csv.Error):
        conditions._load_conditions()


# -- parsing and deciding one string ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", STRINGS)
def test_codes_and_flags_of_one_string(text):
    assert conditions._parse_codes(text) == ref.tokens(text)
    assert conditions._decide(text) == ref.flags(text, ROWS)


def test_parse_codes_by_hand():
    assert conditions._parse_codes("[12, 37]") == [12, 37]
    assert conditions._parse_codes(" \"{14,x,,-2}\" ") == [14, None, -2]
    assert conditions._parse_codes("") == []
    assert conditions._parse_codes(",,") == []
    assert conditions._parse_codes("12,,37") == [12, 37]
    assert conditions._parse_codes("X,12,X") == [None, 12, None]  # only the wrappers are stripped, not letters


def test_decide_by_hand():
    # (last, high/low, volume): 10 derivatively priced sets high/low but not the last sale; 38 a close correction
    # sets both but not volume; 15 an official close does nothing
    assert conditions._decide("10") == (False, True, True)
    assert conditions._decide("38") == (True, True, False)
    assert conditions._decide("10,38") == (False, True, False)
    assert conditions._decide("15") == (False, False, False)
    assert conditions._decide("999,x") == (True, True, True)


# -- print_eligibility -----------------------------------------------------------------------------------------


def _expected(texts, corrections=None, market="stocks"):
    corrections = corrections if corrections is not None else [None] * len(texts)
    pairs = [ref.eligibility(t, c, ROWS, market) for t, c in zip(texts, corrections, strict=True)]
    return [p for p, _ in pairs], [v for _, v in pairs]


def test_every_string_with_every_correction_against_the_reference():
    texts = [t for t in STRINGS for _ in range(15)] + [None, ""]
    corrections = [c for _ in STRINGS for c in [None, *range(0, 14)]] + [None, 8]
    for given in (corrections, pa.array(corrections, pa.int64()), pa.array(corrections, pa.int8()),
                  np.array([0 if c is None else c for c in corrections], dtype=np.int32)):
        price, volume = print_eligibility(pa.array(texts, pa.string()), given)
        assert price.dtype == volume.dtype == np.bool_
        assert (price.tolist(), volume.tolist()) == _expected(texts, corrections)


def test_strings_in_many_chunks_with_repeats_nulls_and_empty_chunks():
    chunks = [["37", None, "14"], [], ["37", "10", None, "12,37"], [None, None], ["14", "999,2"], ["15"]]
    texts = [t for chunk in chunks for t in chunk]
    corrections = [0, 0, 12, None, 0, 0, 1, None, 0, 0, 0, 0]
    got = print_eligibility(pa.chunked_array([pa.array(c, pa.string()) for c in chunks], pa.string()),
                            pa.chunked_array([pa.array(corrections[:5], pa.int16()),
                                              pa.array(corrections[5:], pa.int16())]))
    assert (got[0].tolist(), got[1].tolist()) == _expected(texts, corrections)
    # the second chunk's strings come from the cache of the first: the same answer as alone
    for chunk in chunks:
        alone = print_eligibility(chunk)
        assert (alone[0].tolist(), alone[1].tolist()) == _expected(chunk)


def test_large_strings_and_dictionary_arrays_with_nulls_in_indices_and_in_the_dictionary():
    texts = ["37", None, "14", "15", "37", "38"]
    large = print_eligibility(pa.array(texts, pa.large_string()))
    assert (large[0].tolist(), large[1].tolist()) == _expected(texts)
    # a dictionary that holds a NULL entry before other strings: that slot is a regular sale, the others decided
    dictionary = pa.array(["37", None, "15", "38"], pa.string())
    indices = pa.array([2, 1, None, 0, 3, 1, 2], pa.int32())
    encoded = pa.DictionaryArray.from_arrays(indices, dictionary)
    plain = ["15", None, None, "37", "38", None, "15"]
    price, volume = print_eligibility(encoded, [0, 0, 0, 0, 0, 8, 0])
    assert (price.tolist(), volume.tolist()) == _expected(plain, [0, 0, 0, 0, 0, 8, 0])
    assert price.tolist() == [False, True, True, False, True, False, False]
    assert volume.tolist() == [False, True, True, True, False, False, False]
    chunked = print_eligibility(pa.chunked_array([encoded, encoded]))
    assert (chunked[0].tolist(), chunked[1].tolist()) == _expected(plain + plain)


def test_null_typed_and_all_null_inputs_are_regular_sales():
    for given in (pa.nulls(3), pa.nulls(3, pa.string()), [None, None, None],
                  pa.chunked_array([pa.nulls(2, pa.string()), pa.nulls(1, pa.string())])):
        price, volume = print_eligibility(given)
        assert price.tolist() == volume.tolist() == [True, True, True]
        assert price.dtype == volume.dtype == np.bool_
    price, volume = print_eligibility(pa.nulls(2, pa.string()), [0, 7])
    assert (price.tolist(), volume.tolist()) == ([True, False], [True, False])


def test_empty_inputs():
    for given in ([], pa.array([], pa.string()), pa.chunked_array([], pa.string()),
                  pa.chunked_array([pa.array([], pa.string())])):
        price, volume = print_eligibility(given, [])
        assert price.shape == volume.shape == (0,) and price.dtype == volume.dtype == np.bool_
        assert print_eligibility(given)[0].shape == (0,)


def test_corrections_given_every_way():
    texts = ["14", "14", "37", "14"]
    for given in ([0, None, 8, 0], pa.array([0, None, 8, 0], pa.int32()),
                  pa.chunked_array([pa.array([0, None], pa.int64()), pa.array([8, 0], pa.int64())])):
        price, volume = print_eligibility(texts, given)
        assert (price.tolist(), volume.tolist()) == ([True, True, False, True], [True, True, False, True])
    # a NULL-typed correction column, and all-zero corrections: every print kept
    for given in (pa.nulls(4), [0, 0, 0, 0], np.zeros(4, dtype=np.int64), None, [None] * 4):
        price, volume = print_eligibility(texts, given)
        assert (price.tolist(), volume.tolist()) == ([True, True, False, True], [True, True, True, True])
    # a code no table lists drops the print, as does every listed code but 0
    price, volume = print_eligibility(["14"] * 4, [77, -1, 13, 0])
    assert (price.tolist(), volume.tolist()) == ([False, False, False, True], [False, False, False, True])


def test_bad_arguments_are_refused_with_their_message():
    with pytest.raises(ValueError, match=r"^market must be 'stocks' or 'crypto', got 'forex'$"):
        print_eligibility(["14"], market="forex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^correction has 1 values for 2 conditions$"):
        print_eligibility(["14", "37"], [0])
    with pytest.raises(ValueError, match=r"^correction has 3 values for 2 conditions$"):
        print_eligibility(["14", "37"], pa.array([0, 0, 0]))
    with pytest.raises(ValueError, match=r"^correction has 3 values for 2 conditions$"):
        print_eligibility(["14", "37"], pa.chunked_array([pa.array([0, 0]), pa.array([0])]))
    with pytest.raises(ValueError, match=r"^correction has 1 values for 2 conditions$"):
        print_eligibility(["14", "37"], np.zeros(1, dtype=np.int64))
    with pytest.raises(TypeError, match=r"^conditions must be strings \(comma-separated ids\), got int64$"):
        print_eligibility(pa.array([14, 37]))
    with pytest.raises(TypeError, match=r"^conditions must be strings \(comma-separated ids\), got int32$"):
        print_eligibility(pa.chunked_array([pa.array([14], pa.int32())]))
    with pytest.raises(TypeError, match=r"^conditions must be strings"):
        print_eligibility(pa.array([1, 2], pa.int8()).dictionary_encode())
    with pytest.raises(TypeError, match=r"^correction must be integers, got string$"):
        print_eligibility(["14"], pa.array(["0"]))
    with pytest.raises(TypeError, match=r"^correction must be integers, got double$"):
        print_eligibility(["14"], pa.chunked_array([pa.array([0.0])]))


def test_crypto_prints_are_all_eligible_whatever_their_codes_and_corrections():
    texts = ["1", "2", None, "37", "15"]
    for corrections in (None, [8, 12, 0, None, 77], pa.array([8, 12, 0, None, 77])):
        price, volume = print_eligibility(texts, corrections, market="crypto")
        assert price.tolist() == volume.tolist() == [True] * 5
        assert price.dtype == volume.dtype == np.bool_
    with pytest.raises(ValueError, match=r"^correction has 2 values for 5 conditions$"):
        print_eligibility(texts, [0, 0], market="crypto")
    with pytest.raises(TypeError, match="strings"):
        print_eligibility(pa.array([1, 2]), market="crypto")


# -- unknown_codes and the tables ------------------------------------------------------------------------------


def test_unknown_codes_over_every_kind_of_input():
    expected = {code for t in STRINGS for code in ref.tokens(t) if code is not None and code not in ROWS}
    assert expected == {999, -3}
    assert unknown_codes(STRINGS) == expected
    assert unknown_codes(pa.array(STRINGS, pa.large_string())) == expected
    dictionary = pa.DictionaryArray.from_arrays(pa.array([0, 1, None], pa.int8()),
                                                pa.array([None, "14,1001", "1002"], pa.string()))
    # a dictionary entry no index points at still names its ids: the dictionary is what is read
    assert unknown_codes(dictionary) == {1001, 1002}
    chunked = pa.chunked_array([pa.array([], pa.string()), pa.nulls(2, pa.string()), pa.array(["5000", None, "x,-9"]),
                                pa.array(["14", "5000"])])
    assert unknown_codes(chunked) == {5000, -9}
    assert unknown_codes([None, "", "x"]) == set()
    assert unknown_codes(["999"]) == {999}  # a single print is read too
    assert unknown_codes(pa.chunked_array([pa.array(["14"]), pa.array(["7000"])])) == {7000}
    assert unknown_codes([]) == set()
    with pytest.raises(TypeError, match="strings"):
        unknown_codes(pa.array([1]))


def test_conditions_table_is_every_row_with_its_flags():
    table = conditions_table()
    assert table.schema == pa.schema([("code", pa.int32()), ("name", pa.string()), ("updates_last", pa.bool_()),
                                      ("updates_high_low", pa.bool_()), ("updates_volume", pa.bool_())])
    assert table.to_pylist() == [
        {"code": code, "name": ROWS[code]["name"], "updates_last": ROWS[code]["updates_last"],
         "updates_high_low": ROWS[code]["updates_high_low"], "updates_volume": ROWS[code]["updates_volume"]}
        for code in sorted(ROWS)]


def test_condition_sets_table_gives_each_distinct_string_its_flags_in_sorted_order():
    given = STRINGS + list(reversed(STRINGS))
    table = condition_sets_table(iter(given))
    assert table.schema == pa.schema([("conditions", pa.string()), ("updates_last", pa.bool_()),
                                      ("updates_high_low", pa.bool_()), ("updates_volume", pa.bool_())])
    assert table.to_pylist() == [
        dict(zip(("conditions", "updates_last", "updates_high_low", "updates_volume"), (t, *ref.flags(t, ROWS)),
                 strict=True))
        for t in sorted(set(STRINGS))]
    empty = condition_sets_table([])
    assert empty.num_rows == 0 and empty.schema == table.schema  # typed columns even with no string


def test_corrections_table_lists_every_code_and_keeps_only_zero():
    table = corrections_table()
    assert table.schema == pa.schema([("code", pa.int32()), ("kept", pa.bool_())])
    assert table.to_pylist() == [{"code": code, "kept": code in KEPT} for code in sorted(KEPT | EXCLUDED)]
    assert table.column("kept").to_pylist() == [True] + [False] * 12
