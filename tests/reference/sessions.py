"""Trading sessions: ``"HH:MM-HH:MM Area/City"``, weekdays only unless the session is the whole day (README
"Signals": stocks 09:30-16:00 America/New_York with daylight saving, crypto the UTC day)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def sessions(spec: str, first_ns: int, last_ns: int) -> list[tuple[int, int]]:
    """Every session ``(open_ns, close_ns)`` (half-open) that overlaps ``[first_ns, last_ns]``, in order."""
    times, zone_name = spec.split()
    start, end = times.split("-")
    oh, om = (int(v) for v in start.split(":"))
    ch, cm = (int(v) for v in end.split(":"))
    zone = ZoneInfo(zone_name)
    whole_day = (oh, om, ch, cm) == (0, 0, 24, 0)
    day = dt.datetime.fromtimestamp(first_ns / 1e9, dt.UTC).astimezone(zone).date() - dt.timedelta(days=1)
    last_day = dt.datetime.fromtimestamp(last_ns / 1e9, dt.UTC).astimezone(zone).date() + dt.timedelta(days=1)
    out = []
    while day <= last_day:
        if whole_day or day.weekday() < 5:
            opened = dt.datetime(day.year, day.month, day.day, oh, om, tzinfo=zone)
            if ch == 24:
                nxt = day + dt.timedelta(days=1)
                closed = dt.datetime(nxt.year, nxt.month, nxt.day, 0, 0, tzinfo=zone)
            else:
                closed = dt.datetime(day.year, day.month, day.day, ch, cm, tzinfo=zone)
            o, c = _ns(opened), _ns(closed)
            if c > first_ns and o <= last_ns:
                out.append((o, c))
        day += dt.timedelta(days=1)
    return out


def _ns(moment: dt.datetime) -> int:
    delta = moment.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def nominal_bars(spec: str, bar_seconds: int) -> int:
    """Bars of a session of ``spec`` on a day without a clock change (ceil of its length / the bar)."""
    times = spec.split()[0]
    (oh, om), (ch, cm) = ((int(v) for v in part.split(":")) for part in times.split("-"))
    seconds = ((ch * 60 + cm) - (oh * 60 + om)) * 60
    return -(-seconds // bar_seconds)
