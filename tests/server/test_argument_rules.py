"""Time windows, tickers and cursors as the tools read them: exact bounds, exact messages, forged cursors."""

from __future__ import annotations

import base64
import dataclasses
import time

import orjson
import pytest

from server.arguments import (
    TimeWindow,
    decode_cursor,
    encode_cursor,
    iso_utc,
    normalize_symbol,
    parse_window,
)

NS_MAX = 2**63 - 1
NOON = 1_767_364_200_000_000_000  # 2026-01-02T14:30:00Z
HOUR = 3_600_000_000_000


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "1970-01-01T00:00:00.000Z"), (NOON + 125_999_999, "2026-01-02T14:30:00.125Z"),
     (999_999, "1970-01-01T00:00:00.000Z"), (NS_MAX, "2262-04-11T23:47:16.854Z")],
)  # fmt: skip
def test_instants_are_shown_as_utc_with_milliseconds(ns, text):
    assert iso_utc(ns) == text


@pytest.mark.parametrize(
    ("start", "start_ns"),
    [(NOON, NOON), (str(NOON), NOON), (f" {NOON} ", NOON), (0, 0), ("2026-01-02T14:30:00Z", NOON),
     ("2026-01-02T14:30:00.125Z", NOON + 125_000_000), ("2026-01-02T14:30:00", NOON),
     ("2026-01-02T15:30:00+01:00", NOON), (" 2026-01-02T14:30:00Z ", NOON), ("2026-01-02", NOON - 14.5 * HOUR)],
)  # fmt: skip
def test_start_is_nanoseconds_or_iso_utc_unless_an_offset_is_given(start, start_ns):
    assert parse_window(None, start, None) == TimeWindow(int(start_ns), NS_MAX)


def test_no_arguments_mean_all_time_and_end_is_read_like_start():
    assert parse_window(None, None, None) == TimeWindow(0, NS_MAX)
    assert parse_window(None, None, "2026-01-02T14:30:00Z") == TimeWindow(0, NOON)
    assert parse_window(None, NOON, NOON + 1) == TimeWindow(NOON, NOON + 1)
    assert parse_window(None, None, NS_MAX) == TimeWindow(0, NS_MAX)


def test_hours_back_counts_back_from_now_and_stops_at_the_epoch():
    assert parse_window(1.5, None, None, now_ns=NOON) == TimeWindow(NOON - 3 * HOUR // 2, NS_MAX)
    assert parse_window(2, None, NOON, now_ns=NOON + HOUR) == TimeWindow(NOON - HOUR, NOON)
    assert parse_window(1, None, None, now_ns=HOUR // 2) == TimeWindow(0, NS_MAX)
    window = parse_window(1, None, None)  # the real clock when no now is given
    assert window.end_ns == NS_MAX and window.start_ns > NOON


@pytest.mark.parametrize(
    ("hours_back", "start", "end", "message"),
    [(1, NOON, None, "give either hours_back or start (with an optional end), not both"),
     (None, -1, None, f"start must be nanoseconds since the epoch between 0 and {NS_MAX}"),
     (None, None, NS_MAX + 1, f"end must be nanoseconds since the epoch between 0 and {NS_MAX}"),
     (None, str(NS_MAX + 1), None, f"start must be nanoseconds since the epoch between 0 and {NS_MAX}"),
     (None, "noon", None,
      "start must be ISO-8601 (e.g. 2026-01-02T14:30:00Z) or nanoseconds since the epoch, got 'noon'"),
     (None, None, "-5", "end must be ISO-8601 (e.g. 2026-01-02T14:30:00Z) or nanoseconds since the epoch, got '-5'"),
     (None, NOON, NOON, "end (2026-01-02T14:30:00.000Z) must be after start (2026-01-02T14:30:00.000Z)"),
     (None, NOON + 1, NOON, "end (2026-01-02T14:30:00.000Z) must be after start (2026-01-02T14:30:00.000Z)"),
     (None, None, 0, "end (1970-01-01T00:00:00.000Z) must be after start (1970-01-01T00:00:00.000Z)")],
)  # fmt: skip
def test_a_bad_window_is_refused_with_a_message_naming_the_argument(hours_back, start, end, message):
    with pytest.raises(ValueError) as refused:
        parse_window(hours_back, start, end, now_ns=NOON)
    assert str(refused.value) == message


def test_a_window_cannot_be_changed():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TimeWindow(0, 1).start_ns = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("symbol", "normal"),
    [(" aapl ", "AAPL"), ("brk.b", "BRK.B"), ("X:BTC-USD", "X:BTC-USD"), ("A/B", "A/B"), ("9", "9"),
     ("A" * 32, "A" * 32)],
)  # fmt: skip
def test_a_ticker_is_upper_cased(symbol, normal):
    assert normalize_symbol(symbol) == normal


@pytest.mark.parametrize("symbol", ["", " ", "A" * 33, "-AB", ".A", "A B", "A;", "AA\nPL", "Ä"])
def test_anything_else_is_not_a_ticker(symbol):
    with pytest.raises(ValueError) as refused:
        normalize_symbol(symbol)
    assert str(refused.value) == (f"symbol {symbol!r} is not a ticker: use 1-32 letters, digits and . - : / "
                                  "(e.g. AAPL, BTC-USD)")  # fmt: skip


def _forged(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


KEYS = ("ns", "int32", "text", "date")
GOOD = [NS_MAX, -(2**31), "t" * 256, "2024-02-29"]


def test_a_cursor_is_unpadded_url_safe_text_that_gives_its_keyset_back():
    cursor = encode_cursor("get_jump_events", GOOD)
    assert "=" not in cursor and cursor == _forged({"t": "get_jump_events", "k": GOOD})
    assert decode_cursor("get_jump_events", cursor, KEYS) == GOOD
    assert decode_cursor("t", encode_cursor("t", [0, 2**31 - 1, "", "1970-01-01"]), KEYS) == [0, 2**31 - 1, "",
                                                                                             "1970-01-01"]


@pytest.mark.parametrize(
    "cursor",
    [encode_cursor("get_trading_signals", GOOD), encode_cursor("get_jump_events", GOOD[:3]),
     encode_cursor("get_jump_events", [*GOOD, 1]), encode_cursor("get_jump_events", [-1, *GOOD[1:]]),
     encode_cursor("get_jump_events", [NS_MAX + 1, *GOOD[1:]]), encode_cursor("get_jump_events", [True, *GOOD[1:]]),
     encode_cursor("get_jump_events", [1.0, *GOOD[1:]]), encode_cursor("get_jump_events", ["1", *GOOD[1:]]),
     encode_cursor("get_jump_events", [1, 2**31, *GOOD[2:]]), encode_cursor("get_jump_events", [1, -(2**31) - 1, *GOOD[2:]]),
     encode_cursor("get_jump_events", [1, False, *GOOD[2:]]), encode_cursor("get_jump_events", [1, 2, "t" * 257, GOOD[3]]),
     encode_cursor("get_jump_events", [1, 2, 3, GOOD[3]]), encode_cursor("get_jump_events", [1, 2, None, GOOD[3]]),
     encode_cursor("get_jump_events", [*GOOD[:3], "2023-02-29"]), encode_cursor("get_jump_events", [*GOOD[:3], "2024-2-29"]),
     encode_cursor("get_jump_events", [*GOOD[:3], 20240229]), encode_cursor("get_jump_events", [*GOOD[:3], "2024-02-29x"]),
     _forged({"t": "get_jump_events"}), _forged({"k": GOOD}), _forged([GOOD]), _forged({"t": "get_jump_events", "k": "abcd"}),
     "!!!!", "e30", base64.urlsafe_b64encode(b"\xff\xfe").decode(), ""],
)  # fmt: skip
def test_a_cursor_of_another_tool_shape_or_kind_is_refused(cursor):
    with pytest.raises(ValueError) as refused:
        decode_cursor("get_jump_events", cursor, KEYS)
    assert str(refused.value) == ("cursor is not one that get_jump_events returned as next_cursor; omit it to start "
                                  "from the newest rows")  # fmt: skip


def test_a_cursor_drops_its_base64_padding_only():
    padded = base64.urlsafe_b64encode(orjson.dumps({"t": "t", "k": [0]})).decode()
    assert padded.endswith("=")  # this keyset needs padding
    assert encode_cursor("t", [0]) == padded.rstrip("=") and not encode_cursor("t", [0]).startswith("=")
    assert decode_cursor("t", encode_cursor("t", [0]), ("ns",)) == [0]


def test_an_instant_without_an_offset_is_utc_whatever_the_machines_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_window(None, "2026-01-02T14:30:00", None).start_ns == NOON
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_instant_is_shown_in_utc_whatever_the_machines_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert iso_utc(NOON + 125_000_000) == "2026-01-02T14:30:00.125Z"
        with pytest.raises(ValueError) as refused:
            parse_window(None, NOON, NOON)
        assert str(refused.value) == "end (2026-01-02T14:30:00.000Z) must be after start (2026-01-02T14:30:00.000Z)"
    finally:
        monkeypatch.undo()
        time.tzset()
