"""``udx.sessions`` against ``tests/reference/sessions.py`` (written from the README's session rule, not from
the module): sessions of random ranges in zones with and without daylight saving (north and south), a
full-day session, sessions that end at 24:00, the next bar end by brute force over the reference sessions,
and the parser's errors. Exact comparisons: both sides produce integer nanoseconds."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from reference.sessions import sessions
from udx.sessions import Session, next_bar_end_ns, parse_session, session_bounds

NS = 10**9
DAY = 86_400 * NS
SPECS = ["09:30-16:00 America/New_York", "00:00-24:00 UTC", "10:00-24:00 Europe/London",
         "00:00-03:15 Australia/Sydney", "00:00-24:00 America/Sao_Paulo", "08:05-17:55 Asia/Kolkata"]
T0 = int(dt.datetime(2021, 1, 1, tzinfo=dt.UTC).timestamp()) * NS


@pytest.mark.parametrize("spec", SPECS)
def test_session_bounds_equal_the_reference_on_random_ranges(spec: str) -> None:
    rng = np.random.default_rng(len(spec))
    for _ in range(40):
        start = T0 + int(rng.integers(0, 5 * 365 * DAY // NS)) * NS + int(rng.integers(0, NS))
        end = start + int(rng.integers(0, 12 * DAY // NS)) * NS + int(rng.integers(-NS, NS))
        opens, closes = session_bounds(spec, start, end)
        want = sessions(spec, start, end - 1) if end > start else []
        assert [(int(o), int(c)) for o, c in zip(opens, closes, strict=True)] == want, (spec, start, end)
        assert opens.dtype == closes.dtype == np.int64


@pytest.mark.parametrize("spec", SPECS)
def test_ranges_that_touch_a_session_at_its_ends(spec: str) -> None:
    """Half-open sessions: a range ending at the open or starting at the close does not overlap."""
    o, c = sessions(spec, T0 + 10 * DAY, T0 + 10 * DAY + 3 * DAY)[1]
    for start, end, overlaps in ((o - NS, o, False), (o - NS, o + 1, True), (c, c + NS, False),
                                 (c - 1, c + NS, True), (o, o, False)):
        opens, _ = session_bounds(spec, start, end)
        assert (o in opens.tolist()) is overlaps, (start - o, end - o)


def _next_end(spec: str, bar_ns: int, after: int) -> int:
    for o, c in sessions(spec, after, after + 9 * DAY):
        ends = [*range(o + bar_ns, c, bar_ns), c]
        later = [e for e in ends if e > after]
        if later:
            return later[0]
    return after + 1


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("bar_s", [60, 300, 7 * 60 + 11])
def test_the_next_bar_end_is_the_first_later_end_on_the_grid(spec: str, bar_s: int) -> None:
    rng = np.random.default_rng(bar_s)
    o, c = sessions(spec, T0 + 40 * DAY, T0 + 43 * DAY)[0]
    probes = [o - 1, o, o + 1, o + bar_s * NS - 1, o + bar_s * NS, c - 1, c, c + 1,
              *(int(v) for v in rng.integers(T0, T0 + 400 * DAY, 30))]
    for after in probes:
        assert next_bar_end_ns(spec, bar_s * NS, after) == _next_end(spec, bar_s * NS, after), after - o


def test_a_bar_length_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^bar_ns must be >= 1, got 0$"):
        next_bar_end_ns("00:00-24:00 UTC", 0, T0)
    assert next_bar_end_ns("00:00-24:00 UTC", 1, T0) == T0 + 1


@pytest.mark.parametrize(("spec", "want"), [
    ("09:30-16:00 America/New_York", Session(570, 960, "America/New_York", False)),
    ("  7:05 - 24:00   UTC ", Session(425, 1440, "UTC", False)),
    ("00:00-24:00 UTC", Session(0, 1440, "UTC", True)),
    ("00:00-23:59 UTC", Session(0, 1439, "UTC", False)),
    ("23:59-24:00 Asia/Tokyo", Session(1439, 1440, "Asia/Tokyo", False)),
])
def test_valid_specifications(spec: str, want: Session) -> None:
    got = parse_session(spec)
    assert got == want
    assert got.nominal_seconds == (want.close_minute - want.open_minute) * 60


@pytest.mark.parametrize(("spec", "message"), [
    ("9:30 16:00 America/New_York", "session spec must look like 'HH:MM-HH:MM Area/City', got "),
    (None, "session spec must look like 'HH:MM-HH:MM Area/City', got None"),
    ("24:00-24:00 UTC", "opening time must be 00:00..23:59"),
    ("10:60-12:00 UTC", "opening time must be 00:00..23:59"),
    ("10:00-24:01 UTC", "closing time must be 00:00..24:00"),
    ("10:00-25:00 UTC", "closing time must be 00:00..24:00"),
    ("10:00-12:60 UTC", "closing time must be 00:00..24:00"),
    ("10:00-10:00 UTC", "close must be after open (overnight sessions unsupported)"),
    ("22:00-02:00 UTC", "close must be after open (overnight sessions unsupported)"),
    ("10:00-12:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("10:00-12:00 ../etc", "unknown time zone '../etc'"),
])
def test_bad_specifications_are_refused_with_the_reason(spec: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_session(spec)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_a_caller_changing_the_result_does_not_change_the_remembered_days() -> None:
    opens, closes = session_bounds("00:00-24:00 UTC", T0, T0 + 3 * DAY)
    opens[0] = closes[0] = 0
    opens, closes = session_bounds("00:00-24:00 UTC", T0, T0 + 3 * DAY)
    again = session_bounds("00:00-24:00 UTC", T0, T0 + 3 * DAY)
    assert opens.tolist() == again[0].tolist() == [T0, T0 + DAY, T0 + 2 * DAY]
    assert closes.tolist() == [T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY]
