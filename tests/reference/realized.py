"""Realized spread and price impact at a horizon from their published definitions, without project code.

Huang and Stoll (1996), Bessembinder (2003): for a trade at ``t`` with price ``p``, side ``q`` and the quote
midpoints ``m_t`` and ``m_{t+H}``, realized spread ``2 q (p - m_{t+H}) / m_t`` and price impact
``2 q (m_{t+H} - m_t) / m_t``. The midpoint at a time ``x`` is that of the newest quote stamped strictly before
``x``, used only when ``x`` minus its stamp is at most the stale limit, both sides are positive and finite and
bid < ask (the README's "Trades and quotes" rule). Per bar: means weighted by size over the trades with both.

The tick state stored with each bar (``tick_price``, ``tick_sign``) is the tick rule's (README, "Trades and
quotes"): the last price of the prints that may set the price and the sign of the last change between two
consecutive such prices; a print that may not set the price does not enter it.

Slow and obvious on purpose: every lookup scans all quotes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["bar_means", "mid_at", "tick_state_after", "trade_values"]


def mid_at(x: int, quotes: Sequence[tuple[int, float, float]], stale_ns: int) -> float | None:
    """The usable midpoint prevailing at ``x``; ``quotes`` are ``(ts, bid, ask)`` in time order."""
    earlier = [q for q in quotes if q[0] < x]
    if not earlier:
        return None
    ts, bid, ask = earlier[-1]
    if x - ts > stale_ns:
        return None
    if not (math.isfinite(bid) and math.isfinite(ask) and 0 < bid < ask):
        return None
    return (bid + ask) / 2


def trade_values(trades: Sequence[tuple[int, float, int]], quotes: Sequence[tuple[int, float, float]],
                 horizon_ns: int, stale_ns: int) -> list[tuple[float, float] | None]:
    """Per trade ``(ts, price, side)``: ``(realized_spread, price_impact)``, or ``None`` when not defined."""
    out: list[tuple[float, float] | None] = []
    for ts, price, side in trades:
        m, later = mid_at(ts, quotes, stale_ns), mid_at(ts + horizon_ns, quotes, stale_ns)
        if m is None or later is None or side == 0:
            out.append(None)
        else:
            out.append((2 * side * (price - later) / m, 2 * side * (later - m) / m))
    return out


def bar_means(bars: Sequence[tuple[int, int]], trades: Sequence[tuple[int, float, int]], sizes: Sequence[float],
              values: Sequence[tuple[float, float] | None]) -> list[tuple[float, float, int, float]]:
    """Per bar ``[start, end)``: size-weighted realized spread and price impact (NaN without weight), the trades
    and the volume they are taken over."""
    out = []
    for s, e in bars:
        inside = [(v, w) for (ts, _, _), w, v in zip(trades, sizes, values, strict=True)
                  if s <= ts < e and v is not None and w > 0]
        volume = sum(w for _, w in inside)
        if volume > 0:
            out.append((sum(w * v[0] for v, w in inside) / volume, sum(w * v[1] for v, w in inside) / volume,
                        len(inside), volume))
        else:
            out.append((math.nan, math.nan, 0, 0.0))
    return out


def tick_state_after(prices: Sequence[float], sets_price: Sequence[bool], before_price: float | None = None,
                     before_tick: int = 0) -> tuple[float | None, int]:
    """``(tick_price, tick_sign)`` after ``prices`` given the state before them (None / 0: none)."""
    setting = ([] if before_price is None else [before_price]) + [
        p for p, s in zip(prices, sets_price, strict=True) if s]
    for k in range(len(setting) - 1, 0, -1):
        if setting[k] != setting[k - 1]:
            return setting[-1], 1 if setting[k] > setting[k - 1] else -1
    return (setting[-1] if setting else None), before_tick
