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


# --- appended for the mutation tests of udx/liquidity.py and udx/liquidity_step.py (h2-mutliq) ---------------
#
# The whole ``bar_liquidity`` row of a bar from the README / schema definitions, by brute force over every quote
# and trade, with the quote in force at a bar's start possibly carried from before the quotes listed:
# - a quote stamped q is in force on [q, next quote) and for at most ``stale_ns`` after q; it is usable when both
#   sides are positive finite prices and bid < ask (neither locked nor crossed);
# - quoted spread: time-weighted (a - b)/((a + b)/2) over the usable time of the bar (NaN when none);
# - depth imbalance: time-weighted (B - A)/(B + A) over the usable time whose sizes are finite, >= 0 and not
#   both 0 (NaN when none);
# - effective spread: volume-weighted 2|p - m|/m over the bar's trades whose prevailing quote has flags 0;
# - buy / sell volume: sizes of the trades signed +1 / -1; signed volume buy - sell; order imbalance
#   (buy - sell)/(buy + sell), NaN when both are 0; signed dollar volume sum of side * price * size.


def bar_rows(bars, trades, quotes, stale_ns, carried=None):
    """``bars``: ``[(start, end)]``; ``trades``: ``[(ts, price, size, side, bid, ask, flags)]``; ``quotes`` and
    ``carried``: ``(ts, bid, ask, bid_size, ask_size)``. Per bar a dict of the eight measures."""
    book = ([carried] if carried is not None else []) + list(quotes)
    out = []
    for s, e in bars:
        total = weighted = depth_total = depth_weighted = 0.0
        for k, (q, b, a, bs, as_) in enumerate(book):
            nxt = book[k + 1][0] if k + 1 < len(book) else math.inf
            lo, hi = max(q, s), min(nxt, q + stale_ns, e)
            if hi <= lo or not (math.isfinite(b) and math.isfinite(a) and 0 < b < a):
                continue
            total += hi - lo
            weighted += (hi - lo) * (a - b) / ((a + b) / 2)
            if math.isfinite(bs) and math.isfinite(as_) and bs >= 0 and as_ >= 0 and bs + as_ > 0:
                depth_total += hi - lo
                depth_weighted += (hi - lo) * (bs - as_) / (bs + as_)
        inside = [t for t in trades if s <= t[0] < e]
        good = [t for t in inside if t[6] & 31 == 0]
        vol = sum(t[2] for t in good)
        eff = sum(t[2] * 2 * abs(t[1] - (t[4] + t[5]) / 2) / ((t[4] + t[5]) / 2) for t in good) / vol \
            if vol > 0 else math.nan
        buy = float(sum(t[2] for t in inside if t[3] > 0))
        sell = float(sum(t[2] for t in inside if t[3] < 0))
        out.append({
            "quoted_spread": weighted / total if total > 0 else math.nan,
            "effective_spread": eff, "buy_volume": buy, "sell_volume": sell, "signed_volume": buy - sell,
            "order_imbalance": (buy - sell) / (buy + sell) if buy + sell > 0 else math.nan,
            "depth_imbalance": depth_weighted / depth_total if depth_total > 0 else math.nan,
            "signed_dollar_volume": float(sum(t[3] * t[1] * t[2] for t in inside)),
        })
    return out


def lee_ready_sides(prices, sets_price, bids, asks, flags):
    """Lee and Ready with the tick rule of :func:`tick_sides`: a trade whose prevailing quote has flags 0 and whose
    price is off the midpoint (by more than 1e-9 of the price) is a buy above it, a sell below it; every other
    trade takes its tick-rule side."""
    ticks = tick_sides(prices, sets_price)
    out = []
    for p, b, a, f, tick in zip(prices, bids, asks, flags, ticks, strict=True):
        mid = (b + a) / 2
        if f == 0 and abs(p - mid) > 0.5e-9 * p:
            out.append(1 if p > mid else -1)
        else:
            out.append(tick)
    return out


def vpin_lr_per_bar(bars, trades, bucket, n):
    """VPIN with Lee-Ready sides at each bar's end, buckets of ``bucket`` filled by the trades inside some bar
    (``trades``: ``[(ts, size, side)]``), each trade's size a buy's, a sell's or half each (side 0); the VPIN of
    the last ``n`` complete buckets, NaN before ``n``."""
    fills = []  # per complete bucket: |buy - sell|
    fill = buy = 0.0
    out = []
    last = math.nan
    for s, e in bars:
        for t, v, side in trades:
            if not s <= t < e:
                continue
            frac = {1: 1.0, -1: 0.0, 0: 0.5}[int(side)]
            rem = v
            while rem > 0:
                take = min(rem, bucket - fill)
                fill += take
                buy += take * frac
                rem -= take
                if fill >= bucket:
                    fills.append(abs(2 * buy - bucket))
                    fill = buy = 0.0
                    if len(fills) >= n:
                        last = sum(fills[-n:]) / (n * bucket)
        out.append(last)
    return out
