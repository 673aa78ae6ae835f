"""Bar liquidity measures from their published definitions, by brute force, without project code.

- Depth imbalance: time-weighted ``(B - A)/(B + A)`` of the NBBO sizes while the quote in force is usable
  (two-sided, positive, bid < ask, not stale) and its sizes are finite, not negative, not both 0.
- Amihud (2002): ``|r| / Σ p·v`` of the bar's trades.
- Roll (1984): ``2 sqrt(-Cov(Δp_t, Δp_{t-1}))`` of the last ``window`` price changes before the bar's end
  (sample covariance, ddof 1; NaN when >= 0 or fewer than 3 pairs).
- Kyle (1985) in Hasbrouck's regression form: OLS slope of ``r_t`` on ``S_t`` (signed dollar volume) over the
  last ``window`` bars with finite values, the current one included (``scipy.stats.linregress``).
- Lee and Ready's tick rule as the README and the view ``enriched_market_data`` state it: it runs over the prints
  that may set the price (a price-setting print against the last price-setting one: up +1, down -1, equal the
  last non-zero change of the price-setting prints, 0 when none); a print that may not set the price is compared
  with the last price-setting price the same way and changes nothing for the prints after it.
- Signed volume per bar: ``Σ size · side`` of the bar's trades.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def depth_imbalance(bars, quotes, stale_ns):
    """``bars``: ``[(start, end)]``; ``quotes``: ``[(ts, bid, ask, bid_size, ask_size)]`` in time order."""
    out = []
    for s, e in bars:
        total = weighted = 0.0
        for k, (q, b, a, bs, as_) in enumerate(quotes):
            nxt = quotes[k + 1][0] if k + 1 < len(quotes) else math.inf
            lo, hi = max(q, s), min(nxt, q + stale_ns, e)
            if hi <= lo:
                continue
            priced = math.isfinite(b) and math.isfinite(a) and 0 < b < a
            sized = math.isfinite(bs) and math.isfinite(as_) and bs >= 0 and as_ >= 0 and bs + as_ > 0
            if priced and sized:
                total += hi - lo
                weighted += (hi - lo) * (bs - as_) / (bs + as_)
        out.append(weighted / total if total > 0 else math.nan)
    return out


def amihud(bars, trades, returns):
    """``trades``: ``[(ts, price, size)]``; one log return per bar."""
    out = []
    for (s, e), r in zip(bars, returns, strict=True):
        dv = sum(p * v for t, p, v in trades if s <= t < e)
        out.append(abs(r) / dv if dv > 0 and not math.isnan(r) else math.nan)
    return out


def roll(bar_ends, trades, window):
    """``trades``: ``[(ts, price)]`` in time order (every trade from the start of the series)."""
    out = []
    for e in bar_ends:
        prices = [p for t, p in trades if t < e]
        changes = [b - a for a, b in zip(prices, prices[1:])][-window:]
        x, y = changes[1:], changes[:-1]
        if len(x) < 3:
            out.append(math.nan)
            continue
        c = float(np.cov(x, y, ddof=1)[0, 1])
        out.append(2 * math.sqrt(-c) if c < 0 else math.nan)
    return out


def kyle(returns, flows, window):
    """One return and signed dollar volume per bar, from the start of the series."""
    out = []
    points = []
    for r, x in zip(returns, flows, strict=True):
        if not (math.isfinite(r) and math.isfinite(x)):
            out.append(math.nan)
            continue
        points.append((x, r))
        last = points[-window:]
        xs = [p[0] for p in last]
        if len(last) < 3 or len(set(xs)) == 1:
            out.append(math.nan)
            continue
        out.append(float(stats.linregress(xs, [p[1] for p in last]).slope))
    return out


def _sign(x):
    return 1 if x > 0 else -1 if x < 0 else 0


def _last_change(setting, before_tick):
    """The sign of the last change between consecutive price-setting prices (``before_tick`` when none)."""
    for k in range(len(setting) - 1, 0, -1):
        if setting[k] != setting[k - 1]:
            return _sign(setting[k] - setting[k - 1])
    return before_tick


def tick_sides(prices, sets_price, before_price=None, before_tick=0):
    """Per print its tick-rule side, by walking back over all earlier prints. ``before_price`` / ``before_tick``:
    the last price-setting price and last non-zero change of the prints before these (None / 0: none)."""
    out = []
    for i, p in enumerate(prices):
        setting = ([] if before_price is None else [before_price]) + [
            q for q, s in zip(prices[:i], sets_price[:i], strict=True) if s]
        if sets_price[i]:
            out.append(_last_change(setting + [p], before_tick))
        elif setting and p != setting[-1]:
            out.append(_sign(p - setting[-1]))
        else:
            out.append(_last_change(setting, before_tick))
    return out


def signed_volume(bars, trades):
    """``bars``: ``[(start, end)]``; ``trades``: ``[(ts, size, side)]``."""
    return [float(sum(v * q for t, v, q in trades if s <= t < e)) for s, e in bars]
