"""The loader's vectorised trade decoder against the reference decoder (``FrameBatch.add_event``).

The fast path may hand any record back, but every row it accepts must be the row the reference decoder
makes of that record, and it must never accept a record the reference decoder rejects.
"""

from __future__ import annotations

import random

import orjson
import pyarrow as pa
import pytest

from ingest.arrow_decode import decode_trades
from ingest.normalize import FrameBatch
from ingest.synthetic_market import SyntheticMarket
from sql.contract import TRADES_SCHEMA

RECEIVED = 1_712_306_654_000_000_000

STOCK = {"ev": "T", "sym": "MSFT", "x": 4, "i": "12345", "z": 3, "p": 114.125, "s": 100, "c": [0, 12],
         "t": 1536036818784, "q": 3681328}
CRYPTO = {"ev": "XT", "pair": "BTC-USD", "p": 33021.9, "t": 1610462007425, "s": 0.01616304, "c": [2],
          "i": "14272084", "x": 1, "r": 1610462007576}
REPLAYED = {"ev": "T", "sym": "AAPL", "x": 12, "i": "52983525034125", "z": 3, "p": 169.2, "s": 5, "c": [12, 37],
            "t": 1712306654208, "q": 1017, "t_ns": 1712306654208740096, "trfi": 202, "trft": 1712306654100,
            "trft_ns": 1712306654100002304}
CORRECTED = {**REPLAYED, "_corr": 12}


def reference(values: list[bytes], sources: list[str]) -> tuple[list[dict], list[int]]:
    """Rows and rejected positions by the per-record reference decoder, as the loader runs it."""
    rows, rejected = [], []
    for k, (value, source) in enumerate(zip(values, sources, strict=True)):
        batch = FrameBatch(source)
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError:
            rejected.append(k)
            continue
        if not isinstance(event, dict):
            rejected.append(k)
            continue
        batch.add_event(event, RECEIVED + k)
        out = batch.take()
        if out.rejects or out.statuses or out.quotes.num_rows:
            rejected.append(k)
        rows += out.trades.to_pylist()
    return rows, rejected


def check(values: list[bytes], sources: list[str] | None = None) -> tuple[int, int]:
    """Assert the fast path agrees with the reference; return (accepted by fast path, handed back)."""
    sources = sources or ["sim"] * len(values)
    decoded = decode_trades(values, [RECEIVED + k for k in range(len(values))], sources)
    assert decoded.trades.schema == TRADES_SCHEMA
    assert decoded.rest == sorted(set(decoded.rest))
    ref_rows, rejected = reference(values, sources)
    assert set(rejected) <= set(decoded.rest)  # never accepts what the reference rejects
    accepted = [k for k in range(len(values)) if k not in set(decoded.rest)]
    by_received = {row["received_ns"]: row for row in ref_rows}
    fast_rows = decoded.trades.to_pylist()
    assert [row["received_ns"] - RECEIVED for row in fast_rows] == accepted
    for row in fast_rows:
        assert row == by_received[row["received_ns"]]
    return len(accepted), len(decoded.rest)


def dumps(*events: dict) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


def test_simulated_stock_and_crypto_trades_take_the_fast_path_with_identical_rows():
    market = SyntheticMarket(5, 3000.0)
    market.advance(1_712_306_654_000_000_000)
    events = [e for e in market.advance(1_712_306_656_000_000_000) if e["ev"] in ("T", "XT")]
    assert {e["ev"] for e in events} == {"T", "XT"} and len(events) > 1000
    assert check([orjson.dumps(e) for e in events]) == (len(events), 0)


def test_the_correction_is_read_from_our_key_and_is_zero_when_a_replayed_trade_leaves_it_out():
    events = [CORRECTED, REPLAYED, STOCK, {**CORRECTED, "_corr": None}, {**STOCK, "_corr": 3}, CRYPTO,
              {**CRYPTO, "_corr": 3}]
    values = dumps(*events)
    assert check(values) == (len(events), 0)
    decoded = decode_trades(values, [RECEIVED] * len(events), ["replay"] * len(events))
    assert decoded.trades["correction"].to_pylist() == [12, 0, None, None, 3, None, None]
    assert decode_trades(dumps({**CORRECTED, "_corr": "x"}), [RECEIVED], ["replay"]).rest == [0]
    raw = [b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"t_ns":5000001,"_corr":-0}',
           b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"_corr":1e0}',
           b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"_corr":5,"_corr":6}']
    check(raw)
    assert decode_trades(raw, [RECEIVED] * 3, ["ws"] * 3).trades["correction"].to_pylist() == [0]


def test_replayed_trades_keep_their_nanoseconds_and_trf_fields():
    accepted, rest = check(dumps(REPLAYED, STOCK, CRYPTO, {**REPLAYED, "trfi": None, "trft": None,
                                                           "trft_ns": None}))
    assert (accepted, rest) == (4, 0)
    row = decode_trades(dumps(REPLAYED), [RECEIVED], ["replay"]).trades.to_pylist()[0]
    assert row["ts_ns"] == REPLAYED["t_ns"] and row["trf_ts_ns"] == REPLAYED["trft_ns"]
    assert row["conditions"] == "12,37" and row["source"] == "replay"


BAD_EVENTS = [
    {**STOCK, "p": 0}, {**STOCK, "p": -1.5}, {**STOCK, "s": -1}, {**STOCK, "sym": ""}, {**STOCK, "i": ""},
    {**STOCK, "t": 0}, {**STOCK, "t_ns": -5}, {**STOCK, "trft": 0}, {**STOCK, "trft_ns": 0, "trft": 5},
    {**STOCK, "x": 2**31}, {**STOCK, "z": -(2**31) - 1}, {**STOCK, "trfi": 2**40},
    {k: v for k, v in STOCK.items() if k != "sym"}, {k: v for k, v in STOCK.items() if k != "i"},
    {k: v for k, v in STOCK.items() if k != "x"}, {k: v for k, v in STOCK.items() if k != "t"},
    {**STOCK, "p": None}, {**STOCK, "ev": "Q"}, {**STOCK, "ev": None}, {**STOCK, "ev": "status"},
    {k: v for k, v in CRYPTO.items() if k != "i"}, {**CRYPTO, "pair": None}, {**CRYPTO, "x": None},
    {"ev": "XQ", "pair": "BTC-USD", "bp": 1.0, "bs": 1.0, "ap": 2.0, "as": 1.0, "t": 5, "x": 1},
    {**CORRECTED, "_corr": "x"}, {**CORRECTED, "_corr": 1.5}, {**CORRECTED, "_corr": 2**31},
    {**CORRECTED, "_corr": -(2**31) - 1}, {**CORRECTED, "_corr": 2**63 - 1}, {**CORRECTED, "_corr": True},
    {**CORRECTED, "_corr": [1]}, {**STOCK, "_corr": "1"},
]
GOOD_VARIANTS = [
    {**STOCK, "c": []}, {**STOCK, "c": None}, {**STOCK, "z": None, "q": None}, {**STOCK, "s": 0},
    {**STOCK, "t_ns": None}, {**STOCK, "p": 7}, {**STOCK, "extra": {"nested": [1, "x"]}},
    {**CRYPTO, "t_ns": 5, "z": 4, "q": 9, "trfi": 3, "trft": 2},  # crypto ignores the stock-only fields
    {**CRYPTO, "c": None},
    CORRECTED, {**CORRECTED, "_corr": None}, {**CORRECTED, "_corr": 0}, {**CORRECTED, "_corr": -(2**31)},
    {**CORRECTED, "_corr": 2**31 - 1}, {**STOCK, "_corr": 7}, {**STOCK, "_corr": None},
    {**CORRECTED, "t_ns": None}, {k: v for k, v in CORRECTED.items() if k != "_corr"},
    {**CRYPTO, "_corr": 3},
]


@pytest.mark.parametrize("bad", BAD_EVENTS, ids=range(len(BAD_EVENTS)))
def test_a_record_breaking_a_rule_is_handed_back_alone(bad):
    values = dumps(STOCK, bad, CRYPTO)
    assert check(values) == (2, 1)


@pytest.mark.parametrize("good", GOOD_VARIANTS, ids=range(len(GOOD_VARIANTS)))
def test_optional_and_null_fields_match_the_reference(good):
    assert check(dumps(STOCK, good)) == (2, 0)


@pytest.mark.parametrize("value", [
    b"", b" ", b"not json", b"[1,2]", b'"T"', b"null", b'{"ev":"T"}\n{"ev":"T"}', b'{"ev":"T"} {"ev":"T"}',
    b'\xff\xfe', b'{"ev":"T","sym":"\\u00e9"}', b' {"ev":"T"}', orjson.dumps({**STOCK, "p": "1.5"}),
    orjson.dumps({**STOCK, "x": 4.0}), orjson.dumps({**STOCK, "x": True}), orjson.dumps({**STOCK, "i": 5}),
    orjson.dumps({**STOCK, "c": 12}), orjson.dumps({**STOCK, "c": [1, None]}), orjson.dumps({**STOCK, "t": 2**62}),
    orjson.dumps({**STOCK, "q": 2**63}), b'{"ev":"T","x":1,"x":2}',
    b'{"ev":"T","sym":"MSFT","x":4,"i":"1","p":1.5,"s":1,"t":5}x',
    b'{"ev":"T","sym":"MSFT","x":4,"i":"1","p":1.5,"s":1,"t":5',
    b'{"ev":"T", "sym":"MSFT","x":4,"i":"1","p":1.5,"s":1,"t":5}', orjson.dumps({**STOCK, "p": 1.0000000000000002}),
    orjson.dumps({**STOCK, "s": 1e-30}), orjson.dumps({**STOCK, "sym": "MSFT\n"}),
    orjson.dumps({**STOCK, "sym": "Ä"}), orjson.dumps({**STOCK, "t_ns": 2**63 - 1, "t": 2**63}),
    orjson.dumps({**STOCK, "c": [1, "2"]}), orjson.dumps({**STOCK, "c": [1, [2]]}), b'{"ev":"T","c":[01]}',
    orjson.dumps({**STOCK, "extra": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}),
], ids=range(32))
def test_a_value_it_cannot_read_is_handed_back_alone(value):
    values = [*dumps(STOCK), value, *dumps(CRYPTO)]
    assert check(values) == (2, 1)


def test_a_record_without_value_is_handed_back_alone():
    decoded = decode_trades([orjson.dumps(STOCK), None], [1, 2], ["ws", "ws"])  # type: ignore[list-item]
    assert decoded.rest == [1] and decoded.trades.num_rows == 1


def test_exact_numbers_and_integer_limits_match_the_reference():
    prices = [0.1, 1e-7, 2.5e-7, 123456789012345.0, 1e22, 1e16, 99.99, 0.30000000000000004, 7, 5e-324]
    events = [{**STOCK, "p": p, "s": p, "i": str(k)} for k, p in enumerate(prices)]
    events += [{**STOCK, "t_ns": 2**63 - 1}, {**STOCK, "q": -(2**63) + 1}, {**STOCK, "q": 2**63 - 1},
               {**STOCK, "x": 2**31 - 1, "z": -(2**31)}, {**STOCK, "s": -0.0}, {**STOCK, "s": 0}]
    values = dumps(*events) + [b'{"ev":"T","sym":"A","x":1,"i":"1","p":1E+2,"s":-0,"t":5}',
                               b'{"ev":"T","sym":"A","x":1,"i":"1","p":100.50e-1,"s":0.0,"t":5,"c":[-3,0]}']
    check(values)
    # handed back: 123456789012345.0, 0.30000000000000004 (16 and 17 digits), 5e-324 (exponent past 22)
    assert decode_trades(values, [0] * len(values), ["ws"] * len(values)).rest == [3, 7, 9]
    rows = decode_trades(values[-2:], [1, 2], ["ws", "ws"]).trades.to_pylist()
    assert [r["price"] for r in rows] == [100.0, 10.05] and rows[1]["conditions"] == "-3,0"
    assert str(rows[0]["size"]) == "0.0"  # an integer -0 is 0, not -0.0, as Python reads it


def _mutants(value: bytes, rng: random.Random, count: int) -> list[bytes]:
    alphabet = b'{}[]",:.-+eE0123456789 \\ntfalsuxTXpi_cor'
    out = []
    for _ in range(count):
        b = bytearray(value)
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(b) + 1)
            action = rng.randrange(3)
            if action == 0 and at < len(b):
                del b[at]
            elif action == 1 and at < len(b):
                b[at] = rng.choice(alphabet)
            else:
                b.insert(at, rng.choice(alphabet))
        out.append(bytes(b))
    return out


def test_mutated_values_never_disagree_with_the_reference():
    rng = random.Random(11)
    values = []
    for event in (STOCK, CRYPTO, REPLAYED, CORRECTED, {**CORRECTED, "_corr": None},
                  {**STOCK, "extra": {"nested": [1, "x", {"y": None}]}}):
        values += _mutants(orjson.dumps(event), rng, 1500)
    accepted, rest = check(values)
    assert accepted > 300 and rest > 3000  # both paths are exercised


def test_random_mixtures_agree_with_the_reference():
    rng = random.Random(7)
    pool = [STOCK, CRYPTO, REPLAYED, CORRECTED, *GOOD_VARIANTS, *BAD_EVENTS]
    for _ in range(30):
        events = [dict(rng.choice(pool), i=str(rng.randrange(10**9))) if rng.random() < 0.5 else rng.choice(pool)
                  for _ in range(rng.randrange(1, 60))]
        check([orjson.dumps(e) for e in events], [rng.choice(["ws", "sim", "replay"]) for _ in events])


def test_empty_input_and_schema():
    decoded = decode_trades([], [], [])
    assert decoded.rest == [] and decoded.trades.num_rows == 0 and decoded.trades.schema == TRADES_SCHEMA
    assert isinstance(decoded.trades, pa.Table)
