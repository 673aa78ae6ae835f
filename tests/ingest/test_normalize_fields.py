"""Field checks of ``ingest.normalize`` that mutation testing found untested: every rejected field is named
in the reason (the dead-letter headers carry it), timestamp and price bounds at their edges, status events,
the default ``source``, crypto quotes' times, and an ``ev`` that is not a string (a reject, not a crash)."""

from __future__ import annotations

import orjson
import pytest

from ingest.normalize import MAX_RAW_CHARS, FrameBatch, normalize_frame, normalize_frames

RECEIVED = 1_712_306_654_000_000_000
INT64_MAX = 2**63 - 1
STOCK_TRADE = {"ev": "T", "sym": "MSFT", "x": 4, "i": "12345", "z": 3, "p": 114.125, "s": 100, "c": [0, 12],
               "t": 1536036818784, "q": 3681328}
CRYPTO_TRADE = {"ev": "XT", "pair": "BTC-USD", "p": 33021.9, "t": 1610462007425, "s": 0.01616304, "c": [2],
                "i": "14272084", "x": 1}
STOCK_QUOTE = {"ev": "Q", "sym": "MSFT", "bx": 4, "bp": 114.125, "bs": 100, "ax": 7, "ap": 114.128, "as": 160,
               "c": [0], "t": 1536036818784, "q": 50385480, "z": 3}
CRYPTO_QUOTE = {"ev": "XQ", "pair": "BTC-USD", "bp": 33052.79, "bs": 0.48, "ap": 33073.19, "as": 0.6,
                "t": 1610462411115, "x": 1}


def _one(event: dict):
    return normalize_frame(orjson.dumps([event]), RECEIVED)


def _reason(event: dict) -> str:
    out = _one(event)
    assert out.trades.num_rows == out.quotes.num_rows == 0 and len(out.rejects) == 1, out
    return out.rejects[0].reason


@pytest.mark.parametrize(("event", "key"), [
    (STOCK_TRADE, "x"), (STOCK_TRADE, "z"), (STOCK_TRADE, "trfi"), (CRYPTO_TRADE, "x"),
    (STOCK_QUOTE, "bx"), (STOCK_QUOTE, "ax"), (STOCK_QUOTE, "z"), (CRYPTO_QUOTE, "x"),
])
def test_a_value_past_the_32_bit_column_is_rejected_naming_its_field(event: dict, key: str) -> None:
    reason = _reason({**event, key: 2**31})
    assert reason.endswith(f"field {key!r} is out of the 32-bit range, got {2**31}"), reason


def test_other_reasons_name_the_field_and_the_value() -> None:
    assert _reason({**STOCK_TRADE, "q": 2**63}).endswith(
        "field 'q' is out of the 64-bit range, got 9223372036854775808")
    assert _reason({**STOCK_TRADE, "x": 2**63}).endswith(
        "field 'x' is out of the 64-bit range, got 9223372036854775808")
    assert _reason({**STOCK_TRADE, "c": [1, "x"]}).endswith("field 'c' must be a list of integers, got element 'x'")
    assert _reason({**STOCK_TRADE, "t_ns": 0}).endswith("field 't_ns' must be a positive Unix-ns timestamp, got 0")


def test_the_64_bit_range_includes_its_ends() -> None:
    out = _one({**STOCK_TRADE, "q": -(2**63)})
    assert out.rejects == [] and out.trades.column("sequence")[0].as_py() == -(2**63)


@pytest.mark.parametrize(("ms", "ok"), [(0, False), (1, True), (INT64_MAX // 1_000_000, True),
                                        (INT64_MAX // 1_000_000 + 1, False)])
def test_millisecond_times_are_positive_and_fit_nanoseconds(ms: int, ok: bool) -> None:
    out = _one({**STOCK_TRADE, "t": ms})
    assert (out.trades.num_rows == 1) is ok, out.rejects
    if ok:
        assert out.trades.column("ts_ns")[0].as_py() == ms * 1_000_000


@pytest.mark.parametrize(("ns", "ok"), [(0, False), (1, True), (-5, False)])
def test_nanosecond_times_are_positive(ns: int, ok: bool) -> None:
    out = _one({**STOCK_TRADE, "t_ns": ns})
    assert (out.trades.num_rows == 1) is ok, out.rejects


@pytest.mark.parametrize(("price", "ok"), [(0.0, True), (0.5, True), (-0.01, False)])
def test_a_quote_may_have_a_zero_price_but_not_a_negative_one(price: float, ok: bool) -> None:
    out = _one({**STOCK_QUOTE, "bp": price})
    assert (out.quotes.num_rows == 1) is ok, out.rejects


def test_crypto_quotes_keep_their_time_and_receive_time() -> None:
    row = _one(CRYPTO_QUOTE).quotes.to_pylist()[0]
    assert row["ts_ns"] == 1610462411115 * 1_000_000 and row["received_ns"] == RECEIVED
    assert row["bid_exchange"] == row["ask_exchange"] == 1


def test_status_events_keep_their_message_as_text() -> None:
    out = normalize_frame(orjson.dumps([{"ev": "status", "status": "connected"},
                                        {"ev": "status", "status": "success", "message": 5}]), RECEIVED)
    assert [(s.status, s.message) for s in out.statuses] == [("connected", ""), ("success", "5")]


@pytest.mark.parametrize("ev", [["T"], {"x": 1}, 7])
def test_an_ev_that_is_not_a_string_is_rejected_not_a_crash(ev: object) -> None:
    assert _reason({**STOCK_TRADE, "ev": ev}) == f"unsupported event type ev={ev!r}"


def test_the_default_source_is_ws() -> None:
    frame = orjson.dumps([STOCK_TRADE])
    assert normalize_frames([(frame, RECEIVED)]).trades.column("source").to_pylist() == ["ws"]
    batch = FrameBatch()
    batch.add_frame(frame, RECEIVED)
    assert batch.take().trades.column("source").to_pylist() == ["ws"]


def test_a_long_bad_frame_keeps_its_first_characters_and_an_ellipsis() -> None:
    frame = b"[" + b"9" * (2 * MAX_RAW_CHARS)
    raw = normalize_frame(frame, RECEIVED).rejects[0].raw
    assert raw == frame[:MAX_RAW_CHARS].decode() + "…"
    exact = b"x" * MAX_RAW_CHARS
    assert normalize_frame(exact, RECEIVED).rejects[0].raw == exact.decode()
