r"""The prevailing NBBO of each trade: an as-of join of one symbol's trades with its quotes.

**Timing convention (used everywhere in this project).** A trade's prevailing quote is the newest quote whose
SIP timestamp is *strictly before* the trade's SIP timestamp. A quote stamped at the trade's own time is not
used: at equal stamps the SIP order of a trade and a quote is unknown, and the quote update that a trade
triggers (the depth it took, the price level it cleared) is stamped at or after the trade, so "at or before"
would often compare a trade with the book it left behind. Lee and Ready (1991) lagged quotes by 5 seconds
because 1988 quotes were recorded ahead of the trades they followed; Bessembinder (2003) found no lag best
from 1998 on, and with the millisecond (now nanosecond) SIP stamps of Daily TAQ, Holden and Jacobsen (2014)
match a trade with the NBBO in force at the end of the previous time unit (their SAS code moves each quote one
millisecond later before interleaving: "trades at TMMM are matched with quotes in force at TMM(M-1)"). With
nanosecond flat-file stamps that is the newest quote with ``quote_ts < trade_ts``; with the WebSocket's
millisecond stamps it is exactly Holden and Jacobsen's rule.

**Flags** (``uint8``, OR-ed; :data:`NO_QUOTE` ... :data:`CROSSED`):

* ``NO_QUOTE`` — no quote before the trade (``bid``/``ask`` NaN, age -1);
* ``STALE`` — the prevailing quote is more than ``stale_ns`` older than the trade;
* ``ONE_SIDED`` — a side is missing: its price is not finite or is ``<= 0`` (Polygon writes 0), output NaN;
* ``LOCKED`` — two-sided with ``bid == ask``; ``CROSSED`` — two-sided with ``bid > ask``.

A trade whose flags are all clear has a usable quote (:data:`UNUSABLE` masks the rest); :mod:`udx.trade_sign`
signs only such trades by the quote rule.

**Incremental.** The kernel carries the newest quote seen (time, bid, ask) across calls. Batches must be cut
on time: every trade and quote of a later call is stamped after every quote of an earlier one (all events
with the same stamp go in the same call). Then the carried quote is exactly what one pass over the
concatenation would have used, so the split changes nothing (``tests/udx/test_nbbo.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D

__all__ = [
    "CROSSED",
    "LOCKED",
    "NO_QUOTE",
    "ONE_SIDED",
    "STALE",
    "UNUSABLE",
    "CarriedQuote",
    "Prevailing",
    "prevailing_quotes",
]

NO_QUOTE = 1
STALE = 2
ONE_SIDED = 4
LOCKED = 8
CROSSED = 16
#: Any of these: the quote rule cannot use the trade's quote.
UNUSABLE = NO_QUOTE | STALE | ONE_SIDED | LOCKED | CROSSED


@dataclass(frozen=True, slots=True)
class CarriedQuote:
    """The newest quote seen so far (``ts_ns`` -1: none yet), carried into the next call."""

    ts_ns: int = -1
    bid: float = math.nan
    ask: float = math.nan


@dataclass(frozen=True, slots=True)
class Prevailing:
    """Per trade: the prevailing ``bid``/``ask`` (NaN for a missing side or no quote), ``age_ns`` of the quote
    (-1: none), ``flags``; and the quote to carry into the next call."""

    bid: Float64Array1D
    ask: Float64Array1D
    age_ns: Int64Array1D
    flags: np.ndarray
    carried: CarriedQuote


def _prevailing_python(
    trade_ts: Int64Array1D, quote_ts: Int64Array1D, bid: Float64Array1D, ask: Float64Array1D, stale_ns: int,
    carry_ts: int, carry_bid: float, carry_ask: float,
    out_bid: Float64Array1D, out_ask: Float64Array1D, out_age: Int64Array1D, out_flags: np.ndarray,
) -> tuple[int, float, float]:
    """Fill the outputs for every trade; return the quote to carry (time, bid, ask).

    One merge pass: the quote pointer only moves forward, by galloping then bisecting to the first quote at or
    after the trade (O(log gap) comparisons), and only the last quote passed is read.
    """
    nq = quote_ts.shape[0]
    j = 0
    q_ts, q_bid, q_ask = carry_ts, carry_bid, carry_ask
    for i in range(trade_ts.shape[0]):
        t = trade_ts[i]
        k = j
        if k < nq and quote_ts[k] < t:  # gallop, then bisect: O(log gap) per trade
            step = 1
            while k + step < nq and quote_ts[k + step] < t:
                k += step
                step *= 2
            hi = k + step if k + step < nq else nq  # quote_ts[k] < t <= quote_ts[hi] (or hi == nq)
            while hi - k > 1:
                mid = (k + hi) // 2
                if quote_ts[mid] < t:
                    k = mid
                else:
                    hi = mid
            k += 1  # first quote at or after t
        if k > j:
            q_ts, q_bid, q_ask = quote_ts[k - 1], bid[k - 1], ask[k - 1]
            j = k
        if q_ts < 0:
            out_bid[i] = np.nan
            out_ask[i] = np.nan
            out_age[i] = -1
            out_flags[i] = NO_QUOTE
            continue
        flags = 0
        age = t - q_ts
        if age > stale_ns:
            flags |= STALE
        b = q_bid if q_bid > 0.0 and q_bid < np.inf else np.nan
        a = q_ask if q_ask > 0.0 and q_ask < np.inf else np.nan
        if b != b or a != a:
            flags |= ONE_SIDED
        elif b == a:
            flags |= LOCKED
        elif b > a:
            flags |= CROSSED
        out_bid[i] = b
        out_ask[i] = a
        out_age[i] = age
        out_flags[i] = flags
    if nq > 0:
        return quote_ts[nq - 1], bid[nq - 1], ask[nq - 1]
    return q_ts, q_bid, q_ask


_prevailing = jit(_prevailing_python, nogil=True)


def _unsorted_at_python(ts: Int64Array1D) -> int:
    """Index of the first time earlier than the one before it, -1 when none (one pass, no temporaries)."""
    for i in range(1, ts.shape[0]):
        if ts[i] < ts[i - 1]:
            return i
    return -1


_unsorted_at = jit(_unsorted_at_python, nogil=True)


def _sorted(name: str, ts: np.ndarray) -> None:
    at = int(_unsorted_at(ts))
    if at >= 0:
        raise ValueError(f"{name} must be sorted by time (non-decreasing); row {at} is earlier than row {at - 1}")


def prevailing_quotes(
    trade_ts: object, quote_ts: object, bid: object, ask: object, stale_ns: int,
    carried: CarriedQuote | None = None,
) -> Prevailing:
    """Return each trade's prevailing NBBO (the newest quote strictly before it) and its flags.

    Parameters
    ----------
    trade_ts
        SIP times of one symbol's trades, Unix ns, non-decreasing.
    quote_ts, bid, ask
        That symbol's quotes, time non-decreasing; a side's price that is not finite or ``<= 0`` is missing.
    stale_ns
        A quote more than this many ns older than the trade is flagged ``STALE`` (``QUOTE_STALE_SECONDS``).
    carried
        The quote carried from the previous call (:attr:`Prevailing.carried`); batches must be cut on time
        (module docstring).

    Raises
    ------
    ValueError
        Unequal lengths, unsorted times, a negative ``stale_ns``, or a batch that starts at or before the
        carried quote's time.

    Examples
    --------
    >>> p = prevailing_quotes([10, 20, 30], [5, 20, 25], [9.99, 10.0, 10.01], [10.01, 10.0, 10.0], 100)
    >>> p.bid.tolist(), p.ask.tolist(), p.flags.tolist()
    ([9.99, 9.99, 10.01], [10.01, 10.01, 10.0], [0, 0, 16])
    """
    t = np.ascontiguousarray(trade_ts, dtype=np.int64)
    q = np.ascontiguousarray(quote_ts, dtype=np.int64)
    b = np.ascontiguousarray(bid, dtype=np.float64)
    a = np.ascontiguousarray(ask, dtype=np.float64)
    if t.ndim != 1 or q.ndim != 1 or b.shape != q.shape or a.shape != q.shape:
        raise ValueError(f"need one-dimensional arrays and one bid and ask per quote, got trade_ts {t.shape}, "
                         f"quote_ts {q.shape}, bid {b.shape}, ask {a.shape}")
    if stale_ns < 0:
        raise ValueError(f"stale_ns must be >= 0, got {stale_ns}")
    _sorted("trade_ts", t)
    _sorted("quote_ts", q)
    c = carried or CarriedQuote()
    if c.ts_ns >= 0 and ((t.size and t[0] <= c.ts_ns) or (q.size and q[0] <= c.ts_ns)):
        raise ValueError(f"this batch starts at or before the carried quote's time {c.ts_ns}: cut batches on time")
    out_bid, out_ask = np.empty(t.size), np.empty(t.size)
    out_age, out_flags = np.empty(t.size, np.int64), np.empty(t.size, np.uint8)
    last = _prevailing(t, q, b, a, int(stale_ns), int(c.ts_ns), float(c.bid), float(c.ask),
                       out_bid, out_ask, out_age, out_flags)
    return Prevailing(out_bid, out_ask, out_age, out_flags, CarriedQuote(int(last[0]), float(last[1]),
                                                                         float(last[2])))
