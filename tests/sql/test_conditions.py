"""Polygon trade-condition table and print eligibility (sql.conditions)."""

from __future__ import annotations

import csv
import io
from importlib import resources

import numpy as np
import pyarrow as pa
import pytest

from sql.conditions import (
    EXCLUDED_CORRECTIONS,
    KEPT_CORRECTIONS,
    STOCK_TRADE_CONDITIONS,
    ConditionRule,
    conditions_table,
    print_eligibility,
    unknown_codes,
)

# Polygon glossary "Conditions & Indicators", Trade Conditions table (legacy modifier numbering), read 2026-12-03 from
# https://polygon.io/glossary/us/stocks/conditions-indicators and from farajimhd/quant-research-workbench
# research/market_references/massive/conditions_indicators_glossary.json @ 74610acd5946e58c16eaa7526f4a9ed02e6bd305;
# the same rows stand in IlshatGaripov/Lean ToolBox/Polygon/PolygonSIPTradeMappings.cs @ 5b1508d7.
# (id, SIP letter, update high/low, update last, update volume)
GLOSSARY_ROWS = [
    (0, "@", True, True, True),
    (1, "A", True, True, True),
    (2, "W", False, False, True),
    (5, "G", True, False, True),
    (7, "C", False, False, True),
    (8, "6", True, True, True),
    (9, "X", True, True, True),
    (10, "4", True, False, True),
    (12, "T", False, False, True),
    (13, "U", False, False, True),
    (14, "F", True, True, True),
    (15, "M", False, False, False),
    (16, "Q", False, False, False),
    (20, "N", False, False, True),
    (21, "H", False, False, True),
    (22, "P", True, False, True),
    (25, "O", True, True, True),
    (28, "5", True, True, True),
    (29, "R", True, False, True),
    (33, "Z", True, False, True),
    (37, "I", False, False, True),
    (38, "9", True, True, False),
    (52, "V", False, False, True),
    (53, "7", False, False, True),
]
# Where the table follows the v3 listing instead of the glossary (see the CSV notes): id -> flags that differ.
GLOSSARY_DISAGREEMENTS = {29: {"updates_high_low"}}

# /v3/reference/conditions consolidated flags captured 2024-09-14, fin-ai-lab/market-1t
# src/market_1t/trade_conditions.json @ 38da67c065c12e0373a5d56a52a2685d6eccf660, copied literally.
V3_HIGH_LOW = {1, 3, 4, 5, 6, 8, 9, 10, 11, 14, 17, 18, 19, 22, 23, 24, 25, 27, 28, 30, 31, 32, 33, 34, 35, 36, 38, 55}
V3_OPEN_CLOSE = {1, 3, 4, 6, 8, 9, 11, 14, 18, 19, 23, 24, 25, 27, 28, 30, 31, 34, 35, 36, 38, 55}
V3_VOLUME = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 29, 30, 31,
             32, 33, 34, 35, 36, 37, 52, 53, 55}
# The sale-condition ids of that listing (15, 16 are in it with every flag false).
V3_IDS = set(range(1, 26)) | set(range(27, 39)) | {52, 53, 55}
# id 17: that capture says updates_open_close false, a later transcription true; the table chose true (CSV notes).
V3_DISAGREEMENTS = {17: {"updates_last"}}

# Rows of the v3 listing with their SIP letters, polygon-io/client-go rest/reference_test.go @ ca870baa (id 1) and
# a fixture trimmed from the live listing of 2026-10-05 (ids 10, 37, 41): (id, CTA, UTP, high/low, open/close, volume).
V3_ROWS = [
    (1, None, "A", True, True, True),
    (10, "4", "4", True, False, True),
    (37, "I", "I", False, False, True),
    (41, "1", "X", True, True, True),
]


def reference_rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("sql").joinpath("reference", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))


def test_the_conditions_csv_parses_with_unique_ids_and_boolean_flags():
    rows = reference_rows("polygon_stock_trade_conditions.csv")
    ids = [int(row["id"]) for row in rows]
    assert len(ids) == len(set(ids)) == len(STOCK_TRADE_CONDITIONS)
    assert all(None not in row for row in rows)
    for row in rows:
        for column in ("updates_last", "updates_high_low", "updates_volume"):
            assert row[column] in ("true", "false")
    assert set(range(0, 57)) - set(ids) == {56}  # 56 is a glossary placeholder with no rules


def test_the_corrections_csv_parses_with_unique_codes_and_only_zero_kept():
    rows = reference_rows("polygon_trade_corrections.csv")
    codes = [int(row["code"]) for row in rows]
    assert len(codes) == len(set(codes)) == 13
    assert KEPT_CORRECTIONS == {0}
    assert EXCLUDED_CORRECTIONS == frozenset(range(1, 13))


def test_the_csvs_name_their_sources_in_the_header():
    for filename in ("polygon_stock_trade_conditions.csv", "polygon_trade_corrections.csv"):
        text = resources.files("sql").joinpath("reference", filename).read_text(encoding="utf-8")
        header = "".join(line for line in io.StringIO(text) if line.startswith("#"))
        assert "conditions-indicators" in header and "read 2026-12-03" in header


@pytest.mark.parametrize(("code", "letter", "high_low", "last", "volume"), GLOSSARY_ROWS)
def test_the_table_agrees_with_polygons_glossary(code, letter, high_low, last, volume):
    rule = STOCK_TRADE_CONDITIONS[code]
    differ = GLOSSARY_DISAGREEMENTS.get(code, set())
    for column, expected in (("updates_high_low", high_low), ("updates_last", last), ("updates_volume", volume)):
        if column in differ:
            assert getattr(rule, column) is not expected
        else:
            assert getattr(rule, column) is expected, column
    if code not in (32, 33):  # the glossary's Z (Sold out of Sequence) sits on 33; the v3 letters are not known
        assert rule.utp == letter


@pytest.mark.parametrize("code", sorted(V3_IDS))
def test_the_table_agrees_with_the_v3_listing(code):
    rule = STOCK_TRADE_CONDITIONS[code]
    differ = V3_DISAGREEMENTS.get(code, set())
    for column, members in (
        ("updates_high_low", V3_HIGH_LOW),
        ("updates_last", V3_OPEN_CLOSE),
        ("updates_volume", V3_VOLUME),
    ):
        expected = code in members
        if column in differ:
            assert getattr(rule, column) is not expected
        else:
            assert getattr(rule, column) is expected, column


@pytest.mark.parametrize(("code", "cta", "utp", "high_low", "open_close", "volume"), V3_ROWS)
def test_the_table_agrees_with_v3_rows_and_their_sip_letters(code, cta, utp, high_low, open_close, volume):
    rule = STOCK_TRADE_CONDITIONS[code]
    assert (rule.cta, rule.utp) == (cta, utp)
    assert (rule.updates_high_low, rule.updates_last, rule.updates_volume) == (high_low, open_close, volume)


def test_the_starting_facts_of_the_notes_hold():
    def flags(code: int) -> tuple[bool, bool, bool]:
        rule = STOCK_TRADE_CONDITIONS[code]
        return rule.updates_last, rule.updates_high_low, rule.updates_volume

    for code in (0, 14, 25, 8, 28):
        assert flags(code) == (True, True, True)
    for code in (2, 7, 12, 13, 20, 21, 37, 52, 53):
        assert flags(code) == (False, False, True)
    for code in (10, 22, 33):
        assert flags(code) == (False, True, True)
    assert flags(29) == (False, False, True)  # the notes say high/low yes: the glossary's; v3 says no
    assert not STOCK_TRADE_CONDITIONS[15].updates_volume and not STOCK_TRADE_CONDITIONS[16].updates_volume


def test_condition_rules_are_frozen():
    rule = STOCK_TRADE_CONDITIONS[37]
    assert isinstance(rule, ConditionRule)
    with pytest.raises(AttributeError):
        rule.updates_last = True  # type: ignore[misc]


CASES = [
    # (conditions, correction, sets_price, counts_volume)
    (None, None, True, True),
    ("", None, True, True),
    ("0", 0, True, True),
    ("14", None, True, True),
    ("37", None, False, True),  # odd lot: volume only
    ("2", None, False, True),  # average price: volume only
    ("22", None, False, True),  # prior reference price: volume only
    ("12,37", None, False, True),
    ("14,37", None, False, True),
    ("14,41", None, True, True),
    ("15", None, False, False),
    ("38", None, True, False),
    ("999", None, True, True),  # unknown id: neutral
    ("14,999", None, True, True),
    ("37,999", None, False, True),
    ("abc", None, True, True),  # malformed: neutral
    ("12,,x,37", None, False, True),
    (" 14 , 37 ", None, False, True),
    ("14", 8, False, False),  # cancelled
    ("14", 12, False, False),  # correction record
    ("14", 1, False, False),  # original of a correction (disputed reading, excluded)
    ("14", 77, False, False),  # correction code no source defines
    (None, 7, False, False),
]


@pytest.mark.parametrize(("conditions", "correction", "price", "volume"), CASES)
def test_eligibility_of_one_print(conditions, correction, price, volume):
    sets_price, counts_volume = print_eligibility([conditions], [correction])
    assert sets_price.dtype == np.bool_ and counts_volume.dtype == np.bool_
    assert (sets_price[0], counts_volume[0]) == (price, volume)


def test_eligibility_of_many_prints_matches_one_by_one_from_arrow_arrays():
    conditions = pa.array([case[0] for case in CASES], type=pa.string())
    correction = pa.array([case[1] for case in CASES], type=pa.int32())
    sets_price, counts_volume = print_eligibility(conditions, correction)
    assert sets_price.tolist() == [case[2] for case in CASES]
    assert counts_volume.tolist() == [case[3] for case in CASES]


def test_a_chunked_array_gives_the_same_answer_as_one_array():
    rng = np.random.default_rng(7)
    pool = np.array([None, "37", "12,37", "14", "2", "22", "15", "999", "x", ""], dtype=object)
    values = pool[rng.integers(0, len(pool), 5_000)]
    corr = np.where(rng.random(5_000) < 0.05, 8, 0)
    flat = print_eligibility(pa.array(values, type=pa.string()), pa.array(corr))
    chunked_conditions = pa.chunked_array(
        [pa.array(values[:1000], type=pa.string()), pa.array(values[1000:1000], type=pa.string()),
         pa.array(values[1000:], type=pa.string())]
    )
    chunked_correction = pa.chunked_array([pa.array(corr[:2500]), pa.array(corr[2500:])])
    chunked = print_eligibility(chunked_conditions, chunked_correction)
    assert np.array_equal(flat[0], chunked[0]) and np.array_equal(flat[1], chunked[1])
    naive_price = [
        (v is None or all(STOCK_TRADE_CONDITIONS[int(t)].updates_last for t in v.split(",")
                          if t.strip().isdigit() and int(t) in STOCK_TRADE_CONDITIONS)) and c == 0
        for v, c in zip(values, corr, strict=True)
    ]
    assert flat[0].tolist() == naive_price


def test_a_dictionary_array_is_used_as_it_is():
    values = pa.array(["37", None, "14", "37"], type=pa.string()).dictionary_encode()
    sets_price, counts_volume = print_eligibility(values)
    assert sets_price.tolist() == [False, True, True, False]
    assert counts_volume.tolist() == [True, True, True, True]


def test_all_null_and_empty_inputs():
    assert print_eligibility(pa.nulls(3, type=pa.string()))[0].tolist() == [True, True, True]
    price, volume = print_eligibility([])
    assert price.shape == volume.shape == (0,)


def test_crypto_prints_are_all_eligible():
    sets_price, counts_volume = print_eligibility(["1", "2", None, "37"], market="crypto")
    assert sets_price.all() and counts_volume.all() and len(sets_price) == 4


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="market"):
        print_eligibility(["14"], market="forex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="correction"):
        print_eligibility(["14", "37"], [0])
    with pytest.raises(TypeError, match="strings"):
        print_eligibility(pa.array([14, 37]))
    with pytest.raises(TypeError, match="integers"):
        print_eligibility(["14"], pa.array(["0"]))


def test_unknown_codes_reports_only_unlisted_integer_ids():
    conditions = pa.chunked_array([pa.array(["14,999", None, "37", "x,1000"]), pa.array(["-3", ""])])
    assert unknown_codes(conditions) == {999, 1000, -3}
    assert unknown_codes(["12,37", None]) == set()


def test_conditions_table_has_the_contract_columns():
    table = conditions_table()
    assert table.schema == pa.schema(
        [
            ("code", pa.int32()),
            ("name", pa.string()),
            ("updates_last", pa.bool_()),
            ("updates_high_low", pa.bool_()),
            ("updates_volume", pa.bool_()),
        ]
    )
    assert table.num_rows == len(STOCK_TRADE_CONDITIONS)
    codes = table.column("code").to_pylist()
    assert codes == sorted(codes)
    row = table.slice(codes.index(37), 1).to_pylist()[0]
    assert row == {"code": 37, "name": "Odd Lot Trade", "updates_last": False, "updates_high_low": False,
                   "updates_volume": True}
