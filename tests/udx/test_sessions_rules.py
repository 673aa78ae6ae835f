"""``udx.sessions`` at the edges its reference test does not reach (mutation group ``sessions``): an empty
range inside a session, a range that ends before it starts (two empty ``int64`` arrays, nothing else), and
the next bar end for a :class:`Session` object as for its text. Expected values from
``tests/reference/sessions.py`` or written out by hand; exact (integer nanoseconds)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from reference.sessions import sessions
from udx.sessions import next_bar_end_ns, parse_session, session_bounds

NS = 10**9
DAY = 86_400 * NS
T0 = int(dt.datetime(2024, 3, 4, tzinfo=dt.UTC).timestamp()) * NS  # a Monday
SPECS = ["09:30-16:00 America/New_York", "00:00-24:00 UTC", "08:05-17:55 Asia/Kolkata"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shift", [0, 1, -NS])
def test_an_empty_or_reversed_range_inside_a_session_has_no_session(spec: str, shift: int) -> None:
    """``[t, t)`` (and ``[t, t - 1 s)``) with ``t`` in the middle of a session overlaps nothing, though the
    session holds ``t``: two empty int64 arrays."""
    o, c = sessions(spec, T0, T0 + DAY)[0]
    t = (o + c) // 2
    assert sessions(spec, t, t)[0] == (o, c)  # t is inside the session
    for start, end in ((t, t + shift), (t + 1, t + 1 + shift)):
        if end > start:
            continue
        opens, closes = session_bounds(spec, start, end)
        assert opens.shape == closes.shape == (0,)
        assert opens.dtype == closes.dtype == np.int64


@pytest.mark.parametrize("spec", SPECS)
def test_a_one_nanosecond_range_inside_a_session_has_that_session(spec: str) -> None:
    o, c = sessions(spec, T0, T0 + DAY)[0]
    t = (o + c) // 2
    opens, closes = session_bounds(spec, t, t + 1)
    assert opens.tolist() == [o] and closes.tolist() == [c]
    assert opens.dtype == closes.dtype == np.int64


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("bar_s", [60, 900])
def test_the_next_bar_end_of_a_session_object_equals_that_of_its_text(spec: str, bar_s: int) -> None:
    session = parse_session(spec)
    o, c = sessions(spec, T0 + 2 * DAY, T0 + 3 * DAY)[0]
    bar = bar_s * NS
    # worked out by hand on the grid open + k·bar (last bar at the close): before the open the first end,
    # inside the next grid point, from the last grid point on the close, at the close the next session's
    last_grid = o + (c - 1 - o) // bar * bar
    nxt = sessions(spec, c, c + 5 * DAY)[0][0]
    before = o if session.every_day else o + bar  # a whole-day session: o - 1 is in the previous one, closing at o
    for after, want in ((o - 1, before), (o, o + bar), (o + bar, o + 2 * bar), (o + bar + 1, o + 2 * bar),
                        (last_grid, c), (c - 1, c), (c, nxt + bar)):
        assert next_bar_end_ns(session, bar, after) == want, (after - o, spec)
        assert next_bar_end_ns(spec, bar, after) == want
