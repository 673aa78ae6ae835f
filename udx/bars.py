"""Previous-tick time bars on a calendar grid anchored at each session's open.

Each session ``[open, close)`` is cut into bars ``[open + k·Δ, min(open + (k+1)·Δ, close))`` (Δ = ``bar_ns``;
when the session length is not a multiple of Δ the last bar is shorter). A trade at time ``t`` belongs to
the bar with ``start <= t < end``; a trade exactly at a bar end belongs to the next bar. Per bar:

- ``bar_end_ns``: the exclusive end of the bar; ``session_open_ns``: the open of its session;
- ``n_trades``, ``volume`` (Σ size), ``vwap`` (Σ price·size / Σ size; NaN when the volume is 0) over the
  prints that **count in volume**;
- ``n_priced``: the prints in the bar that **may set the last-sale price**; ``last_price_ns``: the time of the
  last of them (the minimum int64 when there is none);
- ``close``: the previous-tick price at the bar end, i.e. the price of the bar's last price-setting print;
  a bar without one carries the previous bar's close;
- ``log_return = ln close - ln previous close``. The **first bar of a session** is measured against the
  session's first price-setting print (its opening print): ``ln close - ln first_price``. Hence every
  emitted bar has a return, overnight returns (last close of one session to the next) never appear, and
  the return series of consecutive sessions is simply concatenated (spec/signals.md §1).

Which prints set the price and which count in volume is Polygon's consolidated processing rule of their
sale conditions (``sql.conditions.print_eligibility``): an odd lot or an average-price trade counts in volume
but never sets a close. Without flags every print does both.

A session's bars start at the bar containing its first price-setting print and run to the session close;
prints of the session before that bar are left out, and a session without a price-setting print has no
bars. Trades outside every session are ignored. With ``final_before_ns`` only bars
with ``bar_end_ns <= final_before_ns`` are emitted (incremental use: later bars are not final yet).

Resuming: ``resume_end_ns`` and ``resume_close`` (the end and close of the last bar emitted earlier) continue
the grid exactly: trades before ``resume_end_ns`` are ignored, the resumed session's bars continue from that
bar with its close as the previous close, and sessions that ended by then are skipped. Running the bars of a
trade stream in pieces this way gives exactly the rows of one pass.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from udx._jit import jit
from udx._typing import BoolArray1D, Float64Array1D, Int64Array1D

__all__ = ["Bars", "bars"]

_NO_CUTOFF = np.iinfo(np.int64).max
_NO_RESUME = np.iinfo(np.int64).min


class Bars(NamedTuple):
    """Bar columns, all of equal length (see the module docstring for their meaning)."""

    bar_end_ns: Int64Array1D
    session_open_ns: Int64Array1D
    n_trades: Int64Array1D
    n_priced: Int64Array1D
    last_price_ns: Int64Array1D
    volume: Float64Array1D
    vwap: Float64Array1D
    close: Float64Array1D
    log_return: Float64Array1D


def _bars_python(
    ts: Int64Array1D,
    price: Float64Array1D,
    size: Float64Array1D,
    price_ok: BoolArray1D,
    volume_ok: BoolArray1D,
    s_open: Int64Array1D,
    s_close: Int64Array1D,
    bar_ns: int,
    cutoff_ns: int,
    resume_end_ns: int,
    resume_close: float,
    out_end: Int64Array1D,
    out_sess: Int64Array1D,
    out_n: Int64Array1D,
    out_np: Int64Array1D,
    out_last: Int64Array1D,
    out_vol: Float64Array1D,
    out_vwap: Float64Array1D,
    out_close: Float64Array1D,
    out_ret: Float64Array1D,
) -> int:
    """Fill the ``out_*`` arrays (capacity: every bar the sessions can have); return the bars written."""
    n_ts = ts.shape[0]
    m = 0
    p = 0
    while p < n_ts and ts[p] < resume_end_ns:
        p += 1
    for s in range(s_open.shape[0]):
        o = s_open[s]
        c = s_close[s]
        if c <= resume_end_ns:
            continue
        if o < resume_end_ns:
            # the session of the last bar emitted earlier: continue its grid
            k = (resume_end_ns - o) // bar_ns
            prev_close = resume_close
        else:
            while p < n_ts and (ts[p] < o or (ts[p] < c and not price_ok[p])):
                p += 1  # before the session, or before its first price-setting print
            if p >= n_ts or ts[p] >= c:
                continue  # no price-setting print in this session (yet)
            k = (ts[p] - o) // bar_ns
            p0 = p
            while p0 > 0 and ts[p0 - 1] >= o + k * bar_ns:
                p0 -= 1  # the bar's earlier prints that only count in volume
            p = p0
            q = p
            while not price_ok[q]:
                q += 1
            prev_close = price[q]
        while True:
            start = o + k * bar_ns
            if start >= c:
                break
            end = start + bar_ns
            if end > c:
                end = c
            if end > cutoff_ns:
                return m
            n = 0
            n_p = 0
            last = _NO_RESUME
            vol = 0.0
            pv = 0.0
            close = prev_close
            while p < n_ts and ts[p] < end:
                if volume_ok[p]:
                    n += 1
                    vol += size[p]
                    pv += price[p] * size[p]
                if price_ok[p]:
                    n_p += 1
                    close = price[p]
                    last = ts[p]
                p += 1
            out_end[m] = end
            out_sess[m] = o
            out_n[m] = n
            out_np[m] = n_p
            out_last[m] = last
            out_vol[m] = vol
            out_vwap[m] = pv / vol if vol > 0.0 else np.nan
            out_close[m] = close
            out_ret[m] = math.log(close) - math.log(prev_close)
            prev_close = close
            m += 1
            k += 1
    return m


_bars = jit(_bars_python, nogil=True)

_TRADES_OK, _UNORDERED, _BAD_PRICE, _BAD_SIZE = range(4)
_TRADE_ERRORS = {_UNORDERED: "ts_ns must be non-decreasing (trades in time order)",
                 _BAD_PRICE: "price must be finite and > 0", _BAD_SIZE: "size must be finite and >= 0"}


def _check_trades_python(ts: Int64Array1D, price: Float64Array1D, size: Float64Array1D) -> int:
    """One pass over the trades: the first problem found (a ``_TRADE_ERRORS`` key), or ``_TRADES_OK``."""
    for i in range(ts.shape[0]):
        if i > 0 and ts[i] < ts[i - 1]:
            return _UNORDERED
        p = price[i]
        if not (p > 0.0 and p < np.inf):  # also False for NaN
            return _BAD_PRICE
        q = size[i]
        if not (q >= 0.0 and q < np.inf):
            return _BAD_SIZE
    return _TRADES_OK


_check_trades = jit(_check_trades_python, nogil=True)


def _as_1d(name: str, values: object, dtype: type) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got {arr.ndim} dimensions")
    return arr


def bars(
    ts_ns: object,
    price: object,
    size: object,
    session_open_ns: object,
    session_close_ns: object,
    bar_ns: int,
    *,
    final_before_ns: int | None = None,
    resume_end_ns: int | None = None,
    resume_close: float | None = None,
    sets_price: object = None,
    counts_volume: object = None,
) -> Bars:
    """Aggregate time-ordered trades into previous-tick bars on each session's calendar grid.

    Parameters
    ----------
    ts_ns, price, size
        Trades: ``int64`` nanosecond times (non-decreasing), prices (finite, > 0), sizes (finite, >= 0).
    session_open_ns, session_close_ns
        Sessions ``[open, close)`` in time order, not overlapping (e.g. from :func:`udx.sessions.session_bounds`).
    bar_ns
        Bar length in nanoseconds (>= 1).
    final_before_ns
        Emit only bars ending at or before this time; ``None`` runs every started session to its close.
    resume_end_ns, resume_close
        End and close of the last bar emitted by an earlier call; give both or neither.
    sets_price, counts_volume
        Per trade, whether the print may set the last-sale price and whether it counts in volume
        (``sql.conditions.print_eligibility``); ``None`` means every print does.

    Returns
    -------
    Bars
        Columns ``bar_end_ns, session_open_ns, n_trades, n_priced, last_price_ns, volume, vwap, close,
        log_return``.

    Examples
    --------
    >>> b = bars([0, 5, 25], [100.0, 101.0, 99.0], [1.0, 3.0, 2.0], [0], [40], 10)
    >>> b.bar_end_ns.tolist(), b.close.tolist(), b.vwap.tolist()[:2]
    ([10, 20, 30, 40], [101.0, 101.0, 99.0, 99.0], [100.75, nan])
    """
    ts = _as_1d("ts_ns", ts_ns, np.int64)
    px = _as_1d("price", price, np.float64)
    sz = _as_1d("size", size, np.float64)
    so = _as_1d("session_open_ns", session_open_ns, np.int64)
    sc = _as_1d("session_close_ns", session_close_ns, np.int64)
    if not (ts.shape == px.shape == sz.shape):
        raise ValueError(f"ts_ns, price and size must have equal lengths, got {ts.size}, {px.size}, {sz.size}")
    if so.shape != sc.shape:
        raise ValueError("session_open_ns and session_close_ns must have equal lengths")
    if int(bar_ns) < 1:
        raise ValueError(f"bar_ns must be >= 1, got {bar_ns}")
    problem = _check_trades(ts, px, sz)
    if problem != _TRADES_OK:
        raise ValueError(_TRADE_ERRORS[problem])
    if np.any(sc <= so):
        raise ValueError("every session must have session_close_ns > session_open_ns")
    if so.size > 1 and np.any(so[1:] < sc[:-1]):
        raise ValueError("sessions must be time-ordered and must not overlap")
    if (resume_end_ns is None) != (resume_close is None):
        raise ValueError("give both resume_end_ns and resume_close, or neither")
    if resume_close is not None and not (math.isfinite(resume_close) and resume_close > 0):
        raise ValueError(f"resume_close must be finite and > 0, got {resume_close}")
    price_ok = _flags("sets_price", sets_price, ts.size)
    volume_ok = _flags("counts_volume", counts_volume, ts.size)
    cutoff = _NO_CUTOFF if final_before_ns is None else int(final_before_ns)
    resume = _NO_RESUME if resume_end_ns is None else int(resume_end_ns)
    bar = int(bar_ns)
    # capacity: every bar of every session up to the cut-off
    last = np.minimum(sc, cutoff)
    capacity = int(np.sum(np.where(last > so, (last - so + bar - 1) // bar, 0)))
    out_end = np.empty(capacity, np.int64)
    out_sess = np.empty(capacity, np.int64)
    out_n = np.empty((3, capacity), np.int64)
    out_f = np.empty((4, capacity), np.float64)
    m = _bars(ts, px, sz, price_ok, volume_ok, so, sc, bar, cutoff, resume,
              1.0 if resume_close is None else float(resume_close),
              out_end, out_sess, out_n[0], out_n[1], out_n[2], out_f[0], out_f[1], out_f[2], out_f[3])
    return Bars(out_end[:m], out_sess[:m], out_n[0, :m], out_n[1, :m], out_n[2, :m], out_f[0, :m], out_f[1, :m],
                out_f[2, :m], out_f[3, :m])


def _flags(name: str, values: object, n: int) -> BoolArray1D:
    """``values`` as a contiguous boolean array of length ``n``; ``None`` means all True."""
    if values is None:
        return np.ones(n, np.bool_)
    arr = np.ascontiguousarray(values, dtype=np.bool_)
    if arr.shape != (n,):
        raise ValueError(f"{name} must be one boolean per trade ({n}), got shape {arr.shape}")
    return arr
