"""The replay's column-wise JSON builder (``trade_values``) against the per-row reference (``trade_event``).

Every value must be valid JSON equal to the reference event, in row order with the ticker as key, and the
loader (both its vectorised fast path and its per-record decoder) must make the same rows of either.
"""

from __future__ import annotations

import math
import random

import orjson
import pyarrow as pa
import pytest

from ingest.arrow_decode import decode_trades
from ingest.normalize import FrameBatch
from ingest.replay import _TYPES, COLUMNS, trade_events
from ingest import replay_json
from ingest.replay_json import trade_values

RECEIVED = 1_712_306_654_000_000_000
GOOD = {"ticker": "AAPL", "conditions": "12,37", "correction": "0", "exchange": 11, "id": "52983525035312",
        "participant_timestamp": 1712306654208705342, "price": 142.99, "sequence_number": 3807,
        "sip_timestamp": 1712306654208740096, "size": 5.0, "tape": 1, "trf_id": 0, "trf_timestamp": 0}

#: Rows the column path writes itself, and rows it must leave to the reference (module docstring).
EDGE_ROWS = [
    GOOD,
    {**GOOD, "trf_id": 202, "trf_timestamp": 1712306654100002304},
    {**GOOD, "trf_id": 202, "trf_timestamp": 0},
    {**GOOD, "trf_id": 0, "trf_timestamp": 1712306654100002304},
    {**GOOD, "trf_id": None, "trf_timestamp": None},
    {**GOOD, "conditions": ""}, {**GOOD, "conditions": None}, {**GOOD, "conditions": "0"},
    {**GOOD, "conditions": "012,7"}, {**GOOD, "conditions": "1, 2"}, {**GOOD, "conditions": "abc"},
    {**GOOD, "conditions": "99999999999999999999999"},
    {**GOOD, "price": 100.0}, {**GOOD, "price": 1e-05}, {**GOOD, "price": 2.5e-7}, {**GOOD, "price": 1e16},
    {**GOOD, "price": 0.30000000000000004}, {**GOOD, "price": -5.0}, {**GOOD, "price": 0.0},
    {**GOOD, "price": math.nan}, {**GOOD, "price": math.inf}, {**GOOD, "price": None},
    {**GOOD, "size": 0.5}, {**GOOD, "size": 1e18}, {**GOOD, "size": 1e19}, {**GOOD, "size": 1e300},
    {**GOOD, "size": -3.0}, {**GOOD, "size": -0.0}, {**GOOD, "size": math.inf}, {**GOOD, "size": None},
    {**GOOD, "ticker": 'BRK"B'}, {**GOOD, "ticker": "BRK\\B"}, {**GOOD, "ticker": "A\tB"},
    {**GOOD, "ticker": "ÄÖÜ€"}, {**GOOD, "ticker": ""}, {**GOOD, "ticker": None},
    {**GOOD, "id": 'x"1'}, {**GOOD, "id": "\x01"}, {**GOOD, "id": ""}, {**GOOD, "id": None},
    {**GOOD, "exchange": None}, {**GOOD, "exchange": -1}, {**GOOD, "tape": None},
    {**GOOD, "exchange": -15, "tape": -2147483648, "sequence_number": -9223372036854775808},
    {**GOOD, "sequence_number": None}, {**GOOD, "sip_timestamp": 0}, {**GOOD, "sip_timestamp": None},
    {**GOOD, "sip_timestamp": -1_500_000}, {**GOOD, "trf_id": 3, "trf_timestamp": -1_500_000},
    {**GOOD, "sip_timestamp": 999_999},
    {**GOOD, "correction": "12"}, {**GOOD, "correction": "-0"}, {**GOOD, "correction": "007"},
    {**GOOD, "correction": "2147483647"}, {**GOOD, "correction": "-2147483648"}, {**GOOD, "correction": None},
    {**GOOD, "correction": "2147483648"}, {**GOOD, "correction": "999999999999999999"},
    {**GOOD, "correction": "9999999999999999999"}, {**GOOD, "correction": "x"}, {**GOOD, "correction": "1.5"},
    {**GOOD, "correction": "+5"}, {**GOOD, "correction": " 1"}, {**GOOD, "correction": ""},
]


def batch_of(rows: list[dict]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=pa.schema([(c, _TYPES[c]) for c in COLUMNS]))


def random_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    symbols = ["AAPL", "MSFT", "BRK.B", "SPY", "NVDA"]
    rows = []
    for k in range(n):
        trf = rng.random() < 0.3
        rows.append({**GOOD, "ticker": rng.choice(symbols), "id": str(rng.randrange(10**15)),
                     "exchange": rng.randrange(1, 21), "tape": rng.randrange(1, 4),
                     "price": round(rng.uniform(1, 1000), rng.choice([0, 2, 4])),
                     "size": float(rng.randrange(1, 5000)) if rng.random() < 0.9 else rng.uniform(0, 10),
                     "conditions": ",".join(str(rng.randrange(60)) for _ in range(rng.randrange(4))),
                     "sip_timestamp": 1712306654208740096 + k * 1_234_567, "sequence_number": k,
                     "trf_id": rng.randrange(200, 210) if trf else 0,
                     "trf_timestamp": 1712306654100002304 + k if trf else 0,
                     "correction": "0" if rng.random() < 0.8 else rng.choice(["1", "7", "8", "12", None])})
    return rows


@pytest.mark.parametrize("rows", [EDGE_ROWS, random_rows(5000, 1)], ids=["edge-cases", "random"])
def test_column_values_equal_the_reference_events_in_row_order(rows):
    batch = batch_of(rows)
    keys, values = trade_values(batch)
    reference = list(trade_events(batch))
    assert keys == [key for key, _ in reference]
    assert len(values) == len(rows)
    for k, (value, (_, expected)) in enumerate(zip(values, reference, strict=True)):
        assert orjson.loads(value) == orjson.loads(expected), (k, rows[k], value, expected)


def test_only_rows_the_column_path_cannot_vouch_for_take_the_per_row_path(monkeypatch):
    seen: list[list[int]] = []
    reference_values = replay_json._reference_values

    def counting(batch: pa.RecordBatch, rows: list[int]) -> list[bytes]:
        seen.append(rows)
        return reference_values(batch, rows)

    monkeypatch.setattr(replay_json, "_reference_values", counting)
    trade_values(batch_of(random_rows(2000, 2)))
    assert seen == []  # plain rows: all column-built
    trade_values(batch_of(EDGE_ROWS))
    fallback = {k for rows in seen for k in rows}
    expected_column_built = [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 22, 23, 24, 25, 26, 27, 33, 34,
                             38, 41, 43, 45, 49,
                             50, 51, 52, 53, 54, 55]  # corrections: 0 12 -0 007 INT32_MAX INT32_MIN empty
    assert sorted(set(range(len(EDGE_ROWS))) - fallback) == expected_column_built


def test_the_correction_key_is_left_out_for_zero_and_holds_anything_else():
    rows = [GOOD, {**GOOD, "correction": "12"}, {**GOOD, "correction": None}, {**GOOD, "correction": "1.5"},
            {**GOOD, "correction": "2147483648"}]
    _, values = trade_values(batch_of(rows))
    events = [orjson.loads(v) for v in values]
    assert "_corr" not in events[0] and [e["_corr"] for e in events[1:]] == [12, None, "1.5", 2147483648]
    assert b'"_corr"' not in values[0] and len(values[1]) == len(values[0]) + len(',"_corr":12')


def test_empty_batch():
    assert trade_values(batch_of([])) == ([], [])


def loader_rows(values: list[bytes]) -> tuple[list[dict], list[dict]]:
    """Rows of the loader's vectorised fast path and of its per-record decoder (``None`` for a reject)."""
    fast = decode_trades(values, [RECEIVED] * len(values), ["replay"] * len(values))
    per_record = []
    for value in values:
        batch = FrameBatch("replay")
        batch.add_event(orjson.loads(value), RECEIVED)
        out = batch.take()
        per_record.append(out.trades.to_pylist()[0] if out.trades.num_rows else None)
    return fast.trades.to_pylist(), per_record


@pytest.mark.parametrize("rows", [EDGE_ROWS, random_rows(3000, 3)], ids=["edge-cases", "random"])
def test_the_loader_makes_the_same_rows_of_both_spellings(rows):
    batch = batch_of(rows)
    _, values = trade_values(batch)
    reference = [v for _, v in trade_events(batch)]
    fast, per_record = loader_rows(values)
    ref_fast, ref_per_record = loader_rows(reference)
    assert fast == ref_fast and per_record == ref_per_record
    assert sum(r is not None for r in per_record) >= len(rows) // 2
