"""The feed's whole-frame decoder against the reference decoder (``FrameBatch.add_frame``).

Over any sequence of frames, :class:`ingest.frame_decode.FastFrameBatch` must give exactly what the reference
gives: the same trade and quote tables row for row (floats compared by ``repr``, so ``-0.0`` is not ``0.0``), the
same rejects with the same reasons, the same status events. The frames are the simulator's events, mutated:
fields set to values of every JSON type and to the edges of the 32- and 64-bit ranges, fields dropped, whole
events replaced, and raw bytes changed (cut, duplicated keys, whitespace, escapes, non-ASCII text).
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.frame_decode import FastFrameBatch
from ingest.normalize import FrameBatch
from ingest.synthetic_market import SyntheticMarket

FRAMES = Path(__file__).resolve().parents[1] / "data" / "polygon_frames"
RECEIVED = 1_712_306_654_500_000_000


def _simulated_events() -> list[dict]:
    market = SyntheticMarket(5, 3000.0)
    market.advance(1_712_306_654_000_000_000)
    events = market.advance(1_712_306_655_000_000_000)
    assert {e["ev"] for e in events} == {"T", "Q", "XT", "XQ"}
    return events


EVENTS = _simulated_events()
REPLAYED = {"ev": "T", "sym": "AAPL", "x": 12, "i": "52983525034125", "z": 3, "p": 169.2, "s": 5, "c": [12, 37],
            "t": 1712306654208, "q": 1017, "t_ns": 1712306654208740096, "trfi": 202, "trft": 1712306654100,
            "trft_ns": 1712306654100002304, "_corr": 12}
REPLAYED_QUOTE = {"ev": "Q", "sym": "AAPL", "bx": 11, "bp": 169.1, "bs": 300, "ax": 12, "ap": 169.3, "as": 0,
                  "c": [1, 2], "t_ns": 1712306654208740096, "q": 5, "z": 3, "i": [604]}
TEMPLATES = [*EVENTS[:40], REPLAYED, REPLAYED_QUOTE]
FIELDS = ["ev", "sym", "pair", "x", "i", "z", "p", "s", "c", "t", "q", "trfi", "trft", "t_ns", "trft_ns", "_corr",
          "bx", "bp", "bs", "ax", "ap", "as", "r", "status", "message"]
EDGES = [0, 1, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1,
         2**64, 9_223_372_036_854_775, 9_223_372_036_854_776, 1_712_306_654_208]
VALUES = st.one_of(
    st.none(), st.booleans(), st.sampled_from(EDGES), st.integers(),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1e-320, 1.5, -2.5, 1e300]),
    st.sampled_from(["", "T", "Q", "XT", "XQ", "status", "AAPL", "auth_failed", "ü"]), st.text(max_size=4),
    st.lists(st.integers(-3, 2**64), max_size=3), st.lists(st.sampled_from([1, True, 2.0, "1", None]), max_size=2),
    st.dictionaries(st.sampled_from(["ev", "a"]), st.integers(0, 3), max_size=2),
)  # fmt: skip


@st.composite
def events(draw: st.DrawFn) -> object:
    """A simulated event, often with a field changed or dropped, or now and then something else entirely."""
    if draw(st.integers(0, 29)) == 0:
        return draw(st.one_of(VALUES, st.just({"ev": "status", "status": "success", "message": "subscribed"})))
    event = dict(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        key = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(VALUES)
    return event


RAW_EDITS = [
    lambda b, k: b[:k],  # cut
    lambda b, k: b[:k] + b" " + b[k:],  # whitespace (or a broken token)
    lambda b, k: b[:k] + b'"ev":"Q",' + b[k:],  # a duplicated ev where an object's member can start
    lambda b, k: b.replace(b'{"ev":"T",', b'{"ev":"T","ev":"Q",', 1),
    lambda b, k: b.replace(b'"ev"', b'"ev" ', 1),
    lambda b, k: b.replace(b'"AAPL"', b'"\\u0041APL"', 1),
    lambda b, k: b.replace(b'"AAPL"', b'"\\ud800"', 1),
    lambda b, k: b.replace(b'"AAPL"', "\"AAPL\u00e9\"".encode(), 1),
    lambda b, k: b.replace(b'"AAPL"', b'"AA\xffPL"', 1),
    lambda b, k: b.replace(b"}", b"}{", 1),
    lambda b, k: b.replace(b",", b",,", 1),
    lambda b, k: b + b"]",
]


@st.composite
def frames(draw: st.DrawFn) -> bytes | str:
    """A frame: an array of events (sometimes an object or a scalar), with an occasional raw edit."""
    body = draw(st.lists(events(), max_size=4))
    if draw(st.integers(0, 14)) == 0:
        body = body[0] if body else draw(VALUES)  # not an array
    raw = dumps(body)
    if draw(st.integers(0, 4)) == 0:
        edit = draw(st.sampled_from(RAW_EDITS))
        raw = edit(raw, draw(st.integers(0, max(len(raw) - 1, 0))))
    return raw.decode("utf-8", "replace") if draw(st.integers(0, 5)) == 0 else raw


def dumps(value: object) -> bytes:
    """Compact JSON, as the simulator and Polygon send it; integers of any size (orjson stops at 64 bits)."""
    return json.dumps(value, separators=(",", ":")).encode()


def _exact(table: pa.Table) -> str:
    return repr(table.to_pylist())


def assert_same(frames_in: list[bytes | str]) -> tuple[int, int]:
    """Both decoders over the same frames agree in everything; return the frames the fast path took whole and
    those it handed to the reference."""
    fast, reference, split = FastFrameBatch("sim"), FrameBatch("sim"), FastFrameBatch("sim")
    for k, frame in enumerate(frames_in):
        fast.add_frame(frame, RECEIVED + k)
        reference.add_frame(frame, RECEIVED + k)
        split.add_frame(frame, RECEIVED + k)
        assert fast.n_trades == reference.n_trades and fast.n_quotes == reference.n_quotes
        assert fast.rejects == reference.rejects and fast.statuses == reference.statuses
    got, want = fast.take(), reference.take()
    assert got.trades.schema == want.trades.schema and got.quotes.schema == want.quotes.schema
    assert _exact(got.trades) == _exact(want.trades)
    assert _exact(got.quotes) == _exact(want.quotes)
    assert got.rejects == want.rejects and got.statuses == want.statuses
    assert fast.n_rows == 0 and fast.take().trades.num_rows == 0
    first, build_quotes = split.take_trades_first()  # the feed's order: trades, then the quotes' table
    assert split.n_rows == 0 and first.quotes.num_rows == 0
    assert _exact(first.trades) == _exact(want.trades) and first.trades.schema == want.trades.schema
    quotes = build_quotes()
    assert _exact(quotes) == _exact(want.quotes) and quotes.schema == want.quotes.schema
    assert first.rejects == want.rejects and first.statuses == want.statuses
    return fast.fast_frames, fast.reference_frames


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), max_size=8))
def test_random_frames_give_what_the_reference_gives(frames_in: list[bytes | str]) -> None:
    assert_same(frames_in)


ONE_OF_EACH = [next(e for e in EVENTS if e["ev"] == ev) for ev in ("T", "Q", "XT", "XQ")] + [REPLAYED, REPLAYED_QUOTE]
SWEEP_VALUES = [None, True, "", "7", 0.0, -0.0, 0.5, -0.5, 1e300, 12.0, 1e22, 1e23, [], [7], [-1, 2**63 - 1],
                [2**63], [True], *EDGES]  # fmt: skip


def test_every_field_set_to_every_edge_value_gives_what_the_reference_gives() -> None:
    """A field of each kind of event (and of two replayed ones) set to each edge value, or dropped."""
    frames_in = []
    for template in ONE_OF_EACH:
        for key in FIELDS:
            frames_in.append(orjson.dumps([{k: v for k, v in template.items() if k != key}]))
            frames_in += [dumps([{**template, key: value}]) for value in SWEEP_VALUES]
    fast, handed = assert_same(frames_in)
    assert fast > 1000 and handed > 1000  # both paths are exercised


def test_simulated_frames_take_the_fast_path_whole_with_identical_rows() -> None:
    frames_in = [orjson.dumps(EVENTS[k:k + 50]) for k in range(0, len(EVENTS), 50)]
    frames_in.append(orjson.dumps([REPLAYED, REPLAYED_QUOTE]))
    frames_in.append(orjson.dumps(EVENTS[:3]).decode())  # websockets hands text frames over as str
    assert assert_same(frames_in) == (len(frames_in), 0)


def test_a_bad_event_sends_its_whole_frame_to_the_reference_between_fast_frames() -> None:
    good = orjson.dumps(EVENTS[:10])
    bad = orjson.dumps([*EVENTS[:5], {**EVENTS[5], "t": -1}, *EVENTS[6:10]])
    fast, handed = assert_same([good, bad, good, bad, bad, good])
    assert (fast, handed) == (3, 3)


def test_crypto_trades_without_an_id_get_the_reference_id() -> None:
    crypto = next(e for e in EVENTS if e["ev"] == "XT")
    without = {k: v for k, v in crypto.items() if k != "i"}
    assert assert_same([orjson.dumps([without, {**without, "i": 17}])]) == (1, 0)


def test_recorded_polygon_frames_give_what_the_reference_gives() -> None:
    recorded = sorted(FRAMES.glob("*.json"))
    assert len(recorded) >= 10
    fast, handed = assert_same([path.read_bytes() for path in recorded])
    assert fast >= 4 and handed >= 5  # the data frames fast; statuses and malformed ones by the reference
