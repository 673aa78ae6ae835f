r"""Realized spread and price impact at a horizon (Huang and Stoll 1996; Bessembinder 2003).

For a trade at :math:`t` with price :math:`p`, Lee-Ready side :math:`q` (+1 buy, -1 sell; :mod:`udx.trade_sign`),
prevailing midpoint :math:`m_t` and the midpoint :math:`m_{t+H}` prevailing at :math:`t + H`:

* realized spread :math:`2 q (p - m_{t+H}) / m_t` — what the liquidity provider keeps once the price has moved;
* price impact :math:`2 q (m_{t+H} - m_t) / m_t` — the lasting move of the midpoint in the trade's direction.

Their sum is the signed effective spread :math:`2 q (p - m_t) / m_t` (equal to :math:`2|p - m_t|/m_t` when the
quote rule signed the trade). Both midpoints follow the project's timing convention (:mod:`udx.nbbo`): the
newest quote stamped *strictly before* :math:`t` (before :math:`t + H`), used only when it is present, fresh
(not older than ``QUOTE_STALE_SECONDS``), two-sided and neither locked nor crossed.

**NaN policy.** A trade gets NaN for both when either quote is unusable or its side is 0 (unknown). A bar's
values are the means of its trades' values weighted by size; trades with NaN or zero weight do not count; a
bar with none gets NaN. ``H`` is ``LIQUIDITY_HORIZON_SECONDS``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D
from udx.nbbo import UNUSABLE, Prevailing, prevailing_quotes

__all__ = ["RealizedBars", "RealizedTrades", "realized_bars", "realized_trades"]


class RealizedTrades(NamedTuple):
    """Per trade: ``realized_spread`` and ``price_impact`` (NaN where not defined, module docstring), and the
    usable midpoints ``mid`` at the trade and ``mid_later`` at the horizon (NaN where unusable)."""

    realized_spread: Float64Array1D
    price_impact: Float64Array1D
    mid: Float64Array1D
    mid_later: Float64Array1D


class RealizedBars(NamedTuple):
    """Per bar: the size-weighted means and the trades and volume they are taken over."""

    realized_spread: Float64Array1D
    price_impact: Float64Array1D
    n_trades: Int64Array1D
    volume: Float64Array1D


def _decompose_python(price: Float64Array1D, side: np.ndarray, mid: Float64Array1D, mid_later: Float64Array1D,
                      out_realized: Float64Array1D, out_impact: Float64Array1D) -> None:
    """Fill each trade's realized spread and price impact (NaN without both midpoints or a side)."""
    for i in range(price.shape[0]):
        m, mh, q = mid[i], mid_later[i], side[i]
        if m == m and mh == mh and q != 0:
            out_realized[i] = 2.0 * q * (price[i] - mh) / m
            out_impact[i] = 2.0 * q * (mh - m) / m
        else:
            out_realized[i] = np.nan
            out_impact[i] = np.nan


_decompose = jit(_decompose_python, nogil=True)


def _bar_means_python(bar_start: Int64Array1D, bar_end: Int64Array1D, trade_ts: Int64Array1D,
                      size: Float64Array1D, realized: Float64Array1D, impact: Float64Array1D,
                      out_realized: Float64Array1D, out_impact: Float64Array1D, out_n: Int64Array1D,
                      out_volume: Float64Array1D) -> None:
    """Size-weighted means over each bar's trades with values: one pass over bars and trades."""
    n = trade_ts.shape[0]
    i = 0
    for j in range(bar_start.shape[0]):
        s, e = bar_start[j], bar_end[j]
        while i < n and trade_ts[i] < s:
            i += 1
        rs = 0.0
        pi = 0.0
        w = 0.0
        k = 0
        while i < n and trade_ts[i] < e:
            v = size[i]
            if realized[i] == realized[i] and v > 0.0:
                rs += v * realized[i]
                pi += v * impact[i]
                w += v
                k += 1
            i += 1
        out_realized[j] = rs / w if w > 0.0 else np.nan
        out_impact[j] = pi / w if w > 0.0 else np.nan
        out_n[j] = k
        out_volume[j] = w


_bar_means = jit(_bar_means_python, nogil=True)


def _usable_mid(bid: np.ndarray, ask: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The midpoint where the quote is usable (no :data:`udx.nbbo.UNUSABLE` flag), NaN elsewhere."""
    return np.where((flags & UNUSABLE) == 0, 0.5 * (bid + ask), np.nan)


def realized_trades(
    trade_ts: object, price: object, side: object, quote_ts: object, bid: object, ask: object, horizon_ns: int,
    stale_ns: int, *, now: Prevailing | None = None,
) -> RealizedTrades:
    """Return each trade's realized spread and price impact at the horizon.

    Parameters
    ----------
    trade_ts, price, side
        One symbol's trades in time order with their Lee-Ready side (:func:`udx.trade_sign.lee_ready`).
    quote_ts, bid, ask
        That symbol's quotes in time order, from at least ``stale_ns`` before the first trade (an older quote
        would be stale anyway) to ``horizon_ns`` after the last.
    horizon_ns
        ``H`` in ns (> 0).
    stale_ns
        ``QUOTE_STALE_SECONDS`` in ns.
    now
        The trades' prevailing quotes when the caller has them already (``prevailing_quotes(trade_ts, quote_ts,
        bid, ask, stale_ns)``, as signing them needed): not computed again.

    Raises
    ------
    ValueError
        Unequal lengths, unsorted times, a horizon that is not positive or a negative ``stale_ns``.

    Examples
    --------
    >>> r = realized_trades([10, 20], [10.02, 9.99], [1, -1], [5, 15, 25], [10.0, 10.0, 9.98],
    ...                     [10.02, 10.02, 10.0], 10, 100)
    >>> [round(float(x), 6) + 0.0 for x in (*r.realized_spread, *r.price_impact)]
    [0.001998, 0.0, 0.0, 0.003996]
    """
    horizon = int(horizon_ns)
    if horizon <= 0:
        raise ValueError(f"horizon_ns must be > 0, got {horizon_ns}")
    t = np.ascontiguousarray(trade_ts, dtype=np.int64)
    p = np.ascontiguousarray(price, dtype=np.float64)
    q = np.ascontiguousarray(side, dtype=np.int8)
    if p.shape != t.shape or q.shape != t.shape:
        raise ValueError(f"need one price and side per trade, got trade_ts {t.shape}, price {p.shape}, "
                         f"side {q.shape}")
    if now is None:
        now = prevailing_quotes(t, quote_ts, bid, ask, stale_ns)
    elif now.flags.shape != t.shape:
        raise ValueError(f"need one prevailing quote per trade, got {now.flags.shape} for {t.shape}")
    shifted = t + horizon
    shifted.setflags(write=t.flags.writeable)  # as the trades' times: one kernel specialization (udx._read_only)
    later = prevailing_quotes(shifted, quote_ts, bid, ask, stale_ns)
    mid = _usable_mid(now.bid, now.ask, now.flags)
    mid_later = _usable_mid(later.bid, later.ask, later.flags)
    realized, impact = np.empty(t.size), np.empty(t.size)
    _decompose(p, q, mid, mid_later, realized, impact)
    return RealizedTrades(realized, impact, mid, mid_later)


def realized_bars(bar_start_ns: object, bar_end_ns: object, trade_ts: object, size: object,
                  trades: RealizedTrades) -> RealizedBars:
    """Return each bar's size-weighted realized spread and price impact.

    Parameters
    ----------
    bar_start_ns, bar_end_ns
        The bars ``[start, end)``, in time order and not overlapping.
    trade_ts, size
        The trades of :func:`realized_trades` and their weights (0 for prints that do not count in volume).
    trades
        :func:`realized_trades` of these trades.

    Raises
    ------
    ValueError
        Unequal lengths, or bars that are empty, unordered or overlapping.

    Examples
    --------
    >>> r = RealizedTrades(np.array([0.002, 0.0]), np.array([0.0, 0.002]), np.ones(2), np.ones(2))
    >>> b = realized_bars([0], [100], [10, 20], [100.0, 300.0], r)
    >>> [round(float(x[0]), 6) for x in b]
    [0.0005, 0.0015, 2.0, 400.0]
    """
    s = np.ascontiguousarray(bar_start_ns, dtype=np.int64)
    e = np.ascontiguousarray(bar_end_ns, dtype=np.int64)
    t = np.ascontiguousarray(trade_ts, dtype=np.int64)
    v = np.ascontiguousarray(size, dtype=np.float64)
    rs = np.ascontiguousarray(trades.realized_spread, dtype=np.float64)
    pi = np.ascontiguousarray(trades.price_impact, dtype=np.float64)
    if s.shape != e.shape or any(c.shape != t.shape for c in (v, rs, pi)):
        raise ValueError("need one end per bar start and one size and value per trade")
    if s.size and (bool(np.any(e <= s)) or bool(np.any(s[1:] < e[:-1]))):
        raise ValueError("bars must be non-empty, in time order and not overlapping")
    out_rs, out_pi, out_v = np.empty(s.size), np.empty(s.size), np.empty(s.size)
    out_n = np.empty(s.size, np.int64)
    _bar_means(s, e, t, v, rs, pi, out_rs, out_pi, out_n, out_v)
    return RealizedBars(out_rs, out_pi, out_n, out_v)
