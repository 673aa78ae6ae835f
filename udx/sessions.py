"""Trading sessions: parse ``"HH:MM-HH:MM Area/City"`` and list the sessions of a time range.

A session specification names the local opening and closing time and an IANA time zone, e.g.
``"09:30-16:00 America/New_York"`` (US equities) or ``"00:00-24:00 UTC"`` (crypto; ``24:00`` closes at the
next local midnight). Sessions are computed per local calendar day with :mod:`zoneinfo`, so daylight saving
time is handled: the New York session opens at 13:30 UTC in summer and 14:30 UTC in winter.

Which days have a session (kept deliberately simple, no holiday calendar):

- a full-day session (``00:00-24:00``) runs **every** day, weekends included (crypto);
- any other session runs Monday to Friday only (equities). Exchange holidays are not known: on a holiday
  there are simply no trades, and a session without trades produces no bars (see :mod:`udx.bars`).

A session is the half-open interval ``[open_ns, close_ns)`` in nanoseconds since the Unix epoch (UTC).
Sessions that wrap past midnight (close before open) are not supported.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from udx._typing import Int64Array1D

__all__ = ["Session", "next_bar_end_ns", "parse_session", "session_bounds"]

_SPEC = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s+(\S+)\s*$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NS_PER_US = 1000


@dataclass(frozen=True, slots=True)
class Session:
    """A parsed session specification.

    Attributes
    ----------
    open_minute, close_minute
        Local opening and closing time in minutes after midnight; ``close_minute`` may be 1440 (24:00).
    tz_name
        The IANA time zone name as written in the specification.
    every_day
        True for a full-day session (trades every day); otherwise weekends have no session.
    """

    open_minute: int
    close_minute: int
    tz_name: str
    every_day: bool

    @property
    def tz(self) -> ZoneInfo:
        """The session's time zone."""
        return ZoneInfo(self.tz_name)

    @property
    def nominal_seconds(self) -> int:
        """Length of a session in local wall-clock seconds (a DST change inside it is not counted)."""
        return (self.close_minute - self.open_minute) * 60


def parse_session(spec: str) -> Session:
    """Parse ``"HH:MM-HH:MM Area/City"``.

    Parameters
    ----------
    spec
        Local open and close time and an IANA time zone; ``24:00`` is allowed as the close.

    Raises
    ------
    ValueError
        When ``spec`` is malformed, a time is out of range, close is not after open, or the zone is unknown.

    Examples
    --------
    >>> parse_session("09:30-16:00 America/New_York")
    Session(open_minute=570, close_minute=960, tz_name='America/New_York', every_day=False)
    """
    return _parse_session(spec)


@functools.lru_cache(maxsize=64)
def _parse_session(spec: str) -> Session:
    """:func:`parse_session`, remembered per specification (errors are raised, not remembered)."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(f"session spec must look like 'HH:MM-HH:MM Area/City', got {spec!r}")
    oh, om, ch, cm = (int(match.group(i)) for i in range(1, 5))
    tz_name = match.group(5)
    if oh > 23 or om > 59:
        raise ValueError(f"session spec {spec!r}: opening time must be 00:00..23:59")
    if cm > 59 or ch > 24 or (ch == 24 and cm != 0):
        raise ValueError(f"session spec {spec!r}: closing time must be 00:00..24:00")
    open_minute, close_minute = oh * 60 + om, ch * 60 + cm
    if close_minute <= open_minute:
        raise ValueError(f"session spec {spec!r}: close must be after open (overnight sessions unsupported)")
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"session spec {spec!r}: unknown time zone {tz_name!r}") from exc
    every_day = open_minute == 0 and close_minute == 24 * 60
    return Session(open_minute, close_minute, tz_name, every_day)


def _local_ns(day: dt.date, minute: int, tz: ZoneInfo) -> int:
    """Nanoseconds since the epoch of local ``day`` + ``minute`` (1440 = next midnight) in ``tz``."""
    day = day + dt.timedelta(days=minute // 1440)
    minute %= 1440
    local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    return (local - _EPOCH) // dt.timedelta(microseconds=1) * _NS_PER_US


def session_bounds(session: Session | str, start_ns: int, end_ns: int) -> tuple[Int64Array1D, Int64Array1D]:
    """Return ``(open_ns, close_ns)`` of every session that overlaps ``[start_ns, end_ns)``.

    A session overlaps when ``close_ns > start_ns`` and ``open_ns < end_ns``. Both arrays are ``int64``,
    time-ordered and of equal length (empty when nothing overlaps).

    Parameters
    ----------
    session
        A :class:`Session` or a specification string for :func:`parse_session`.
    start_ns, end_ns
        The time range in nanoseconds since the epoch; ``end_ns <= start_ns`` gives empty arrays.

    Examples
    --------
    >>> o, c = session_bounds("09:30-16:00 America/New_York", 1_710_000_000 * 10**9, 1_710_200_000 * 10**9)
    >>> [(int(a) // 10**9, int(b) // 10**9) for a, b in zip(o, c)]  # 2024-03-11, the Monday after DST
    [(1710163800, 1710187200)]
    """
    sess = parse_session(session) if isinstance(session, str) else session
    if end_ns <= start_ns:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    tz = sess.tz
    first = dt.datetime.fromtimestamp(start_ns // 10**9, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end_ns // 10**9, tz).date() + dt.timedelta(days=1)
    opens, closes = _sessions_of_days(sess, first, last)
    overlap = (closes > start_ns) & (opens < end_ns)
    return opens[overlap], closes[overlap]


def next_bar_end_ns(session: Session | str, bar_ns: int, after_ns: int) -> int:
    """The earliest end, later than ``after_ns``, of a bar on the calendar grid of ``session``.

    Bars of a session ``[open, close)`` end at ``open + k * bar_ns`` (``k >= 1``) and the last one at ``close``
    (:mod:`udx.bars`). A symbol whose last written bar ended at ``after_ns`` can write no bar before the
    watermark reaches this time, so the transform need not read its trades until then.

    Parameters
    ----------
    session
        A :class:`Session` or a specification string for :func:`parse_session`.
    bar_ns
        Bar length in nanoseconds (>= 1).
    after_ns
        Nanoseconds since the epoch, typically the end of a symbol's last written bar.

    Examples
    --------
    >>> day = 1_710_000_000 * 10**9 - 1_710_000_000 * 10**9 % (86_400 * 10**9)  # a midnight, UTC
    >>> (next_bar_end_ns("00:00-24:00 UTC", 60 * 10**9, day + 90 * 10**9) - day) // 10**9
    120
    """
    if int(bar_ns) < 1:
        raise ValueError(f"bar_ns must be >= 1, got {bar_ns}")
    sess = parse_session(session) if isinstance(session, str) else session
    opens, closes = session_bounds(sess, after_ns, after_ns + 8 * 86_400 * 10**9)  # a week holds a session
    if opens.size == 0:
        return after_ns + 1
    o, c = int(opens[0]), int(closes[0])
    k = (after_ns - o) // bar_ns + 1 if after_ns >= o else 1
    return min(o + k * bar_ns, c)


@functools.lru_cache(maxsize=256)
def _sessions_of_days(sess: Session, first: dt.date, last: dt.date) -> tuple[Int64Array1D, Int64Array1D]:
    """Open and close of the sessions of the local days ``first..last``, remembered: every symbol of a
    transform asks for the same few days. The arrays are shared, so they are read-only."""
    tz = sess.tz
    opens: list[int] = []
    closes: list[int] = []
    day = first
    while day <= last:
        if sess.every_day or day.weekday() < 5:
            opens.append(_local_ns(day, sess.open_minute, tz))
            closes.append(_local_ns(day, sess.close_minute, tz))
        day += dt.timedelta(days=1)
    o, c = np.asarray(opens, dtype=np.int64), np.asarray(closes, dtype=np.int64)
    o.flags.writeable = c.flags.writeable = False
    return o, c
