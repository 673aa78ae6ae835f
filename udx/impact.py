r"""Price-impact and illiquidity measures per bar: Amihud (2002), Roll (1984), Kyle (1985) in Hasbrouck's form.

* ``amihud`` — :math:`|r| / DV`, the bar's absolute log return over its dollar volume
  :math:`DV = \sum p_i v_i` (Amihud 2002, here per bar instead of per day; units: return per dollar). NaN when
  the return is NaN or the dollar volume is not positive.
* ``roll_spread`` — :math:`2\sqrt{-\mathrm{cov}(\Delta p_t, \Delta p_{t-1})}` (Roll 1984) over the trailing
  ``window`` trade-price changes up to the bar's end (every change between consecutive prices, zeros
  included; price units). The covariance is the sample covariance (denominator pairs − 1) of the
  ``window - 1`` pairs of consecutive changes; NaN when it is not negative or fewer than 3 pairs exist.
* ``kyle_lambda`` — the OLS slope of bar returns on bar signed dollar volume,
  :math:`r_t = c + \lambda\, S_t + \varepsilon_t` (Kyle 1985; Hasbrouck 2007 §5, signed order flow from the
  trades' Lee-Ready sides), over the trailing ``window`` bars with a finite return, the current one
  included; NaN with fewer than 3 such bars or when their order flow does not vary.

Each statistic is recomputed at every bar from its window, walked oldest to newest, so the value does not
depend on how the series was cut into calls. **Incremental:** :func:`roll_bars` and :func:`kyle_bars` take the
carried tail (the last ``window + 1`` prices; the last ``window`` return/flow pairs) and return the new one.
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D

__all__ = ["amihud", "kyle_bars", "roll_bars"]


def amihud(log_return: object, dollar_volume: object) -> Float64Array1D:
    """Return ``|log_return| / dollar_volume`` per bar, NaN where the return is NaN or the volume is not > 0.

    Examples
    --------
    >>> amihud([0.01, -0.02, np.nan, 0.01], [1e6, 2e6, 1e6, 0.0]).tolist()
    [1e-08, 1e-08, nan, nan]
    """
    r = np.ascontiguousarray(log_return, dtype=np.float64)
    dv = np.ascontiguousarray(dollar_volume, dtype=np.float64)
    if r.shape != dv.shape or r.ndim != 1:
        raise ValueError(f"need one dollar volume per return, got {r.shape} and {dv.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(dv > 0, np.abs(r) / np.where(dv > 0, dv, 1.0), np.nan)


def _roll_python(prices: Float64Array1D, bar_last: Int64Array1D, window: int, out: Float64Array1D) -> None:
    """For bar ``j``, the Roll spread of the changes among ``prices[: bar_last[j] + 1]``, the last ``window``.

    The changes are formed once (the same doubles as ``prices[t] - prices[t - 1]`` in the sums), and a bar
    with no new price since the bar before repeats its value. Four bars with full windows are summed in one
    loop (each sum still adds its terms oldest first, so every value is the one of summing that bar alone: the
    four sums only overlap in time on the processor).
    """
    d = np.empty(prices.shape[0])
    if prices.shape[0]:
        d[0] = np.nan
    for t in range(1, prices.shape[0]):
        d[t] = prices[t] - prices[t - 1]
    todo = np.empty(bar_last.shape[0], np.int64)  # bars with a new price and at least 3 pairs, in order
    m = 0
    for j in range(bar_last.shape[0]):
        k = bar_last[j]
        if j > 0 and k == bar_last[j - 1]:
            continue
        lo = k - window if k - window > 0 else 0  # prices[lo..k]: up to `window` changes
        if k - lo - 1 < 3:  # pairs (d_t, d_{t-1}) of changes d_t = p_t - p_{t-1}, t = lo+2..k
            out[j] = np.nan
        else:
            todo[m] = j
            m += 1
    full = window - 1  # the pairs of a full window
    i = 0
    while i < m:
        j0 = todo[i]
        if i + 4 <= m and bar_last[j0] - window >= 0:  # four full windows (later bars end later)
            j1, j2, j3 = todo[i + 1], todo[i + 2], todo[i + 3]
            b0, b1 = bar_last[j0] - full + 1, bar_last[j1] - full + 1  # first t of each sum
            b2, b3 = bar_last[j2] - full + 1, bar_last[j3] - full + 1
            sx0 = sy0 = sx1 = sy1 = sx2 = sy2 = sx3 = sy3 = 0.0
            p0, p1, p2, p3 = d[b0 - 1], d[b1 - 1], d[b2 - 1], d[b3 - 1]  # each change is read once
            for s in range(full):
                x0, x1, x2, x3 = d[b0 + s], d[b1 + s], d[b2 + s], d[b3 + s]
                sx0 += x0
                sy0 += p0
                sx1 += x1
                sy1 += p1
                sx2 += x2
                sy2 += p2
                sx3 += x3
                sy3 += p3
                p0, p1, p2, p3 = x0, x1, x2, x3
            mx0, my0, mx1, my1 = sx0 / full, sy0 / full, sx1 / full, sy1 / full
            mx2, my2, mx3, my3 = sx2 / full, sy2 / full, sx3 / full, sy3 / full
            c0 = c1 = c2 = c3 = 0.0
            p0, p1, p2, p3 = d[b0 - 1] - my0, d[b1 - 1] - my1, d[b2 - 1] - my2, d[b3 - 1] - my3
            for s in range(full):
                x0, x1, x2, x3 = d[b0 + s], d[b1 + s], d[b2 + s], d[b3 + s]
                c0 += (x0 - mx0) * p0
                c1 += (x1 - mx1) * p1
                c2 += (x2 - mx2) * p2
                c3 += (x3 - mx3) * p3
                p0, p1, p2, p3 = x0 - my0, x1 - my1, x2 - my2, x3 - my3
            c0 /= full - 1
            c1 /= full - 1
            c2 /= full - 1
            c3 /= full - 1
            out[j0] = 2.0 * math.sqrt(-c0) if c0 < 0.0 else np.nan
            out[j1] = 2.0 * math.sqrt(-c1) if c1 < 0.0 else np.nan
            out[j2] = 2.0 * math.sqrt(-c2) if c2 < 0.0 else np.nan
            out[j3] = 2.0 * math.sqrt(-c3) if c3 < 0.0 else np.nan
            i += 4
            continue
        k = bar_last[j0]
        lo = k - window if k - window > 0 else 0
        n = k - lo - 1
        sx = 0.0
        sy = 0.0
        for t in range(lo + 2, k + 1):
            sx += d[t]
            sy += d[t - 1]
        mx = sx / n
        my = sy / n
        c = 0.0
        for t in range(lo + 2, k + 1):
            c += (d[t] - mx) * (d[t - 1] - my)
        c /= n - 1
        out[j0] = 2.0 * math.sqrt(-c) if c < 0.0 else np.nan
        i += 1
    for j in range(1, bar_last.shape[0]):
        if bar_last[j] == bar_last[j - 1]:
            out[j] = out[j - 1]


_roll = jit(_roll_python, nogil=True)


def roll_bars(carried: object, trade_ts: object, price: object, bar_end_ns: object,
              window: int) -> tuple[Float64Array1D, Float64Array1D]:
    """Roll's spread at the end of each bar, and the prices to carry into the next call.

    Parameters
    ----------
    carried
        The last prices of earlier calls (at most ``window + 1``; empty at first).
    trade_ts, price
        This call's trades in time order (those whose prices Roll's measure reads).
    bar_end_ns
        The bars' exclusive ends, increasing; bar ``j`` reads the changes among the prices before its end.
    window
        Price changes in the trailing window (``ROLL_WINDOW``, >= 4).

    Raises
    ------
    ValueError
        ``window < 4``, unequal lengths.

    Examples
    --------
    >>> out, tail = roll_bars([], [1, 2, 3, 4, 5], [10.0, 10.02, 10.0, 10.02, 10.0], [10], 4)
    >>> round(float(out[0]), 6), tail.tolist()
    (0.046188, [10.0, 10.02, 10.0, 10.02, 10.0])
    """
    if window < 4:
        raise ValueError(f"window must be >= 4 price changes, got {window}")
    t = np.ascontiguousarray(trade_ts, dtype=np.int64)
    p = np.ascontiguousarray(price, dtype=np.float64)
    ends = np.ascontiguousarray(bar_end_ns, dtype=np.int64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"need one price per trade time, got {t.shape} and {p.shape}")
    tail = np.ascontiguousarray(carried, dtype=np.float64)
    prices = np.concatenate((tail, p))
    last = np.searchsorted(t, ends, side="left").astype(np.int64) + tail.size - 1  # last price before each end
    out = np.empty(ends.size)
    _roll(prices, last, int(window), out)
    upto = int(last[-1]) + 1 if ends.size else prices.size
    return out, prices[max(0, upto - window - 1):upto].copy()


def _kyle_python(r: Float64Array1D, x: Float64Array1D, start: int, window: int, out: Float64Array1D) -> None:
    """For each point ``i >= start``, the OLS slope of ``r`` on ``x`` over the points ``i - window + 1 .. i``."""
    for i in range(start, r.shape[0]):
        lo = i - window + 1 if i - window + 1 > 0 else 0
        n = i - lo + 1
        if n < 3:
            out[i - start] = np.nan
            continue
        sx = 0.0
        sr = 0.0
        for k in range(lo, i + 1):
            sx += x[k]
            sr += r[k]
        mx = sx / n
        mr = sr / n
        sxx = 0.0
        sxr = 0.0
        for k in range(lo, i + 1):
            sxx += (x[k] - mx) * (x[k] - mx)
            sxr += (x[k] - mx) * (r[k] - mr)
        out[i - start] = sxr / sxx if sxx > 0.0 else np.nan


_kyle = jit(_kyle_python, nogil=True)


def kyle_bars(carried_r: object, carried_x: object, log_return: object, signed_dollar_volume: object,
              window: int) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    """Kyle's lambda at each bar, and the (return, flow) pairs to carry.

    Bars whose return or flow is not finite get NaN and stay out of every window.

    Parameters
    ----------
    carried_r, carried_x
        The last ``window`` finite pairs of earlier calls (empty at first).
    log_return, signed_dollar_volume
        This call's bars.
    window
        Bars in the trailing regression window (``KYLE_WINDOW``, >= 3).

    Examples
    --------
    >>> lam, r, x = kyle_bars([], [], [0.001, -0.002, 0.003, np.nan], [1e5, -2e5, 3e5, 1e5], 10)
    >>> [round(float(v) * 1e8, 6) for v in lam]
    [nan, nan, 1.0, nan]
    """
    if window < 3:
        raise ValueError(f"window must be >= 3 bars, got {window}")
    r = np.ascontiguousarray(log_return, dtype=np.float64)
    x = np.ascontiguousarray(signed_dollar_volume, dtype=np.float64)
    cr = np.ascontiguousarray(carried_r, dtype=np.float64)
    cx = np.ascontiguousarray(carried_x, dtype=np.float64)
    if r.shape != x.shape or cr.shape != cx.shape or r.ndim != 1:
        raise ValueError("need one signed dollar volume per return (and per carried return)")
    ok = np.isfinite(r) & np.isfinite(x)
    all_r, all_x = np.concatenate((cr, r[ok])), np.concatenate((cx, x[ok]))
    slopes = np.empty(int(ok.sum()))
    _kyle(all_r, all_x, cr.size, int(window), slopes)
    out = np.full(r.size, np.nan)
    out[ok] = slopes
    return out, all_r[-window:].copy(), all_x[-window:].copy()
