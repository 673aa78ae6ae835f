r"""Per-bar liquidity from trades signed against their prevailing quotes (:mod:`udx.nbbo`, :mod:`udx.trade_sign`).

For a bar :math:`[s, e)` (a trade at :math:`t` is in it when :math:`s \le t < e`, as in :mod:`udx.bars`):

* ``quoted_spread`` — time-weighted relative quoted spread :math:`\int (a_\tau - b_\tau)/m_\tau \, d\tau / T`
  over the time :math:`T` of the bar during which the NBBO in force is usable. A quote stamped :math:`q` is
  in force on :math:`(q, q')` up to the next quote :math:`q'` (the convention of :mod:`udx.nbbo`), and only
  for ``stale_ns`` after :math:`q`; it is usable when two-sided, neither locked nor crossed. NaN when
  :math:`T = 0`.
* ``effective_spread`` — volume-weighted :math:`2|p - m|/m` over the bar's trades whose prevailing quote is
  usable (their ``flags`` clear of :data:`udx.nbbo.UNUSABLE`), :math:`m` its midpoint; NaN when none.
* ``buy_volume``, ``sell_volume`` — size of the trades signed +1 / -1; unsigned (0) trades count in neither.
* ``signed_volume = buy - sell``, ``order_imbalance = (buy - sell)/(buy + sell)`` (NaN when both are 0).
* ``depth_imbalance`` — time-weighted :math:`(B_\tau - A_\tau)/(B_\tau + A_\tau)` of the bid and ask sizes of
  the NBBO in force, over the time it is usable (as for ``quoted_spread``) *and* its sizes are finite, not
  negative and not both 0; NaN when that time is 0 or no sizes are given.
* ``signed_dollar_volume`` — :math:`\sum_i s_i p_i v_i` over the bar's trades (side :math:`s_i`): the order
  flow Kyle's lambda regresses returns on (:mod:`udx.impact`).

**Incremental.** The quoted spread at the start of a call needs the quote in force then: pass the quote
carried by :func:`udx.nbbo.prevailing_quotes` from the previous call (its state *before* this call's
quotes). Calls cut at bar boundaries, each with the trades and quotes stamped inside its bars, then give
the rows of one pass.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D
from udx.nbbo import UNUSABLE, CarriedQuote

__all__ = ["LiquidityBars", "liquidity_bars"]


class LiquidityBars(NamedTuple):
    """Per-bar columns, one row per bar passed in (module docstring)."""

    quoted_spread: Float64Array1D
    effective_spread: Float64Array1D
    buy_volume: Float64Array1D
    sell_volume: Float64Array1D
    signed_volume: Float64Array1D
    order_imbalance: Float64Array1D
    depth_imbalance: Float64Array1D
    signed_dollar_volume: Float64Array1D


def _usable_python(b: float, a: float) -> bool:
    return b > 0.0 and a > 0.0 and b < np.inf and a < np.inf and b < a


_usable = jit(_usable_python, nogil=True)


def _quoted_python(
    bar_start: Int64Array1D, bar_end: Int64Array1D, quote_ts: Int64Array1D, bid: Float64Array1D,
    ask: Float64Array1D, bid_size: Float64Array1D, ask_size: Float64Array1D, carry_ts: int, carry_bid: float,
    carry_ask: float, carry_bid_size: float, carry_ask_size: float, stale_ns: int, out: Float64Array1D,
    out_depth: Float64Array1D,
) -> None:
    """Time-weighted relative quoted spread and depth imbalance of every bar: one merge pass over bars and
    quotes."""
    nq = quote_ts.shape[0]
    k = 0
    q_ts, q_b, q_a, q_bs, q_as = carry_ts, carry_bid, carry_ask, carry_bid_size, carry_ask_size
    for j in range(bar_start.shape[0]):
        s, e = bar_start[j], bar_end[j]
        while k < nq and quote_ts[k] <= s:  # the quote in force at the bar's start
            q_ts, q_b, q_a, q_bs, q_as = quote_ts[k], bid[k], ask[k], bid_size[k], ask_size[k]
            k += 1
        x = s
        total = 0.0
        weighted = 0.0
        depth_total = 0.0
        depth_weighted = 0.0
        while True:
            y = e
            if k < nq and quote_ts[k] < e:
                y = quote_ts[k]
            if q_ts >= 0 and _usable(q_b, q_a):  # [x, y) under the current quote, until it goes stale
                hi = y if y < q_ts + stale_ns else q_ts + stale_ns
                if hi > x:
                    dt = float(hi - x)
                    total += dt
                    weighted += dt * (q_a - q_b) / (0.5 * (q_a + q_b))
                    depth = q_bs + q_as
                    if q_bs >= 0.0 and q_as >= 0.0 and depth > 0.0 and depth < np.inf:
                        depth_total += dt
                        depth_weighted += dt * (q_bs - q_as) / depth
            if y == e:
                break
            q_ts, q_b, q_a, q_bs, q_as = quote_ts[k], bid[k], ask[k], bid_size[k], ask_size[k]
            k += 1
            x = y
        out[j] = weighted / total if total > 0.0 else np.nan
        out_depth[j] = depth_weighted / depth_total if depth_total > 0.0 else np.nan


_quoted = jit(_quoted_python, nogil=True)


def _trade_measures_python(
    bar_start: Int64Array1D, bar_end: Int64Array1D, trade_ts: Int64Array1D, price: Float64Array1D,
    size: Float64Array1D, side: np.ndarray, bid: Float64Array1D, ask: Float64Array1D, flags: np.ndarray,
    out_eff: Float64Array1D, out_buy: Float64Array1D, out_sell: Float64Array1D, out_sdv: Float64Array1D,
) -> None:
    """Effective spread, buy/sell volume and signed dollar volume of every bar: one pass over the trades."""
    n = trade_ts.shape[0]
    i = 0
    for j in range(bar_start.shape[0]):
        s, e = bar_start[j], bar_end[j]
        while i < n and trade_ts[i] < s:
            i += 1
        num = 0.0
        den = 0.0
        buy = 0.0
        sell = 0.0
        sdv = 0.0
        while i < n and trade_ts[i] < e:
            v = size[i]
            if side[i] > 0:
                buy += v
                sdv += price[i] * v
            elif side[i] < 0:
                sell += v
                sdv -= price[i] * v
            if (flags[i] & UNUSABLE) == 0:
                m = 0.5 * (bid[i] + ask[i])
                num += v * 2.0 * abs(price[i] - m) / m
                den += v
            i += 1
        out_eff[j] = num / den if den > 0.0 else np.nan
        out_buy[j] = buy
        out_sell[j] = sell
        out_sdv[j] = sdv


_trade_measures = jit(_trade_measures_python, nogil=True)


def liquidity_bars(
    bar_start_ns: object, bar_end_ns: object, trade_ts: object, price: object, size: object, side: object,
    bid: object, ask: object, flags: object, quote_ts: object, quote_bid: object, quote_ask: object,
    stale_ns: int, carried: CarriedQuote | None = None, quote_bid_size: object = None,
    quote_ask_size: object = None, carried_sizes: tuple[float, float] = (np.nan, np.nan),
) -> LiquidityBars:
    """Return the per-bar liquidity measures of one symbol.

    Parameters
    ----------
    bar_start_ns, bar_end_ns
        The bars, in time order and not overlapping (e.g. from :func:`udx.bars`).
    trade_ts, price, size, side, bid, ask, flags
        The trades in time order with their side (:func:`udx.trade_sign.lee_ready`) and prevailing quote
        and flags (:func:`udx.nbbo.prevailing_quotes`).
    quote_ts, quote_bid, quote_ask
        The quotes in time order (for the time-weighted quoted spread).
    stale_ns
        A quote stops counting this long after its stamp (``QUOTE_STALE_SECONDS``).
    carried
        The quote in force before the first of ``quote_ts`` (module docstring).
    quote_bid_size, quote_ask_size
        The quotes' sizes, for ``depth_imbalance`` (``None``: not known, NaN).
    carried_sizes
        The bid and ask sizes of the carried quote.

    Raises
    ------
    ValueError
        Unequal lengths, bars that are empty, unordered or overlapping, or a negative ``stale_ns``.

    Examples
    --------
    >>> lb = liquidity_bars([0], [100], [10, 60], [10.02, 10.0], [100.0, 300.0], [1, -1],
    ...                     [9.99, 10.0], [10.01, 10.02], [0, 0], [0, 50], [9.99, 10.0], [10.01, 10.02], 1000)
    >>> [round(float(x[0]), 6) for x in lb]
    [0.001999, 0.002499, 100.0, 300.0, -200.0, -0.5, nan, -1998.0]
    """
    s = np.ascontiguousarray(bar_start_ns, dtype=np.int64)
    e = np.ascontiguousarray(bar_end_ns, dtype=np.int64)
    t = np.ascontiguousarray(trade_ts, dtype=np.int64)
    trade_cols = [np.ascontiguousarray(c, dtype=np.float64) for c in (price, size, bid, ask)]
    sd = np.ascontiguousarray(side, dtype=np.int8)
    fl = np.ascontiguousarray(flags, dtype=np.uint8)
    q = np.ascontiguousarray(quote_ts, dtype=np.int64)
    qb = np.ascontiguousarray(quote_bid, dtype=np.float64)
    qa = np.ascontiguousarray(quote_ask, dtype=np.float64)
    qbs, qas = (np.full(q.size, np.nan) if c is None else np.ascontiguousarray(c, dtype=np.float64)
                for c in (quote_bid_size, quote_ask_size))
    if s.shape != e.shape or any(c.shape != t.shape for c in (*trade_cols, sd, fl)) \
            or any(c.shape != q.shape for c in (qb, qa, qbs, qas)):
        raise ValueError("need one end per bar start, one value per trade in every trade column and one bid "
                         "and ask (and size, when given) per quote")
    if s.size and (bool(np.any(e <= s)) or bool(np.any(s[1:] < e[:-1]))):
        raise ValueError("bars must be non-empty, in time order and not overlapping")
    if stale_ns < 0:
        raise ValueError(f"stale_ns must be >= 0, got {stale_ns}")
    c = carried or CarriedQuote()
    qs, depth = np.empty(s.size), np.empty(s.size)
    _quoted(s, e, q, qb, qa, qbs, qas, int(c.ts_ns), float(c.bid), float(c.ask), float(carried_sizes[0]),
            float(carried_sizes[1]), int(stale_ns), qs, depth)
    eff, buy, sell, sdv = (np.empty(s.size) for _ in range(4))
    p, v, b, a = trade_cols
    _trade_measures(s, e, t, p, v, sd, b, a, fl, eff, buy, sell, sdv)
    total = buy + sell
    with np.errstate(invalid="ignore", divide="ignore"):
        imbalance = np.where(total > 0, (buy - sell) / np.where(total > 0, total, 1.0), np.nan)
    return LiquidityBars(qs, eff, buy, sell, buy - sell, imbalance, depth, sdv)
