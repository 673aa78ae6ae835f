"""Trades against quotes, from the rule in the README ("Trades and quotes") and the view's header, not from
:mod:`udx.nbbo` or :mod:`udx.trade_sign`: for every trade its prevailing quote, flags, Lee-Ready side and
effective spread. The tick rule runs over the prints that may set the price (the conditions table's
``updates_last``): such a print is compared with the last one before it; a print that may not set the price is
compared with the last one that did and does not enter the comparison of any later print.

Slow and obvious on purpose: each trade searches all quotes and walks back over all earlier prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sql.conditions import conditions_table

__all__ = ["TradeQuote", "trade_order", "trades_against_quotes"]

BIGINT_MAX = 2**63 - 1
NO_QUOTE, STALE, ONE_SIDED, LOCKED, CROSSED, AT_MIDPOINT, TICK_ONLY = 1, 2, 4, 8, 16, 32, 64
MID_TOL = 1e-9


@dataclass(frozen=True)
class TradeQuote:
    """One trade's quote columns, as the view ``enriched_market_data`` names them."""

    bid_price: float | None
    ask_price: float | None
    trade_side: int
    quote_flags: int
    effective_spread: float | None


def trade_order(t: dict[str, Any]) -> tuple[int, int, int, str]:
    """The project's trade order: time, SIP sequence (missing last), exchange, trade id."""
    return t["ts_ns"], BIGINT_MAX if t["sequence"] is None else t["sequence"], t["exchange"], t["trade_id"]


def _sets_price(t: dict[str, Any], no_last: set[str]) -> bool:
    """A stock print may set the last sale when it is regular (or kept) and none of its conditions forbids it."""
    if t["market"] != "stocks":
        return True
    if t.get("correction") not in (None, 0):
        return False  # the tests store regular prints only; a corrected one sets nothing
    codes = [c for c in (t["conditions"] or "").split(",") if c]
    return not any(c in no_last for c in codes)


def _side_price(x: float | None) -> float | None:
    return x if x is not None and not math.isnan(x) and 0 < x < math.inf else None


def _prevailing(trade: dict[str, Any], quotes: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest quote stamped strictly before the trade; of several at that stamp the last in SIP order."""
    earlier = [q for q in quotes if q["symbol"] == trade["symbol"] and q["ts_ns"] < trade["ts_ns"]]
    if not earlier:
        return None
    newest = max(q["ts_ns"] for q in earlier)
    at = [q for q in earlier if q["ts_ns"] == newest]
    return max(at, key=lambda q: (BIGINT_MAX if q["sequence"] is None else q["sequence"], q["received_ns"]))


def _sign(x: float) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


def _last_change(prices: Sequence[float]) -> int:
    """The sign of the last non-zero change of a price series (0: it never changed)."""
    for k in range(len(prices) - 1, 0, -1):
        if prices[k] != prices[k - 1]:
            return _sign(prices[k] - prices[k - 1])
    return 0


def trades_against_quotes(trades: Sequence[dict[str, Any]], quotes: Sequence[dict[str, Any]],
                          stale_ns: int) -> dict[tuple[str, int, str], TradeQuote]:
    """Every trade's quote columns, keyed by (symbol, exchange, trade_id)."""
    no_last = {str(r["code"]) for r in conditions_table().to_pylist() if not r["updates_last"]}
    out: dict[tuple[str, int, str], TradeQuote] = {}
    ordered = sorted(trades, key=lambda t: (t["symbol"], *trade_order(t)))
    for i, t in enumerate(ordered):
        setting = [u["price"] for u in ordered[:i] if u["symbol"] == t["symbol"] and _sets_price(u, no_last)]
        if _sets_price(t, no_last):
            tick = _last_change(setting + [t["price"]])
        elif setting and t["price"] != setting[-1]:
            tick = _sign(t["price"] - setting[-1])
        else:
            tick = _last_change(setting)
        q = _prevailing(t, quotes)
        bid = ask = None
        if q is None:
            flags = NO_QUOTE
        else:
            bid, ask = _side_price(q["bid_price"]), _side_price(q["ask_price"])
            flags = 0
            if t["ts_ns"] - q["ts_ns"] > stale_ns:  # not in force: no prices, no shape
                bid = ask = None
                flags = STALE
            elif bid is None or ask is None:
                flags |= ONE_SIDED
            elif bid == ask:
                flags |= LOCKED
            elif bid > ask:
                flags |= CROSSED
        spread = None
        if flags:
            side, flags = tick, flags | TICK_ONLY
        else:
            assert bid is not None and ask is not None
            gap = 2.0 * t["price"] - bid - ask
            if abs(gap) <= MID_TOL * t["price"]:
                side, flags = tick, flags | AT_MIDPOINT
            else:
                side = _sign(gap)
            mid = (bid + ask) / 2
            spread = 2 * abs(t["price"] - mid) / mid
        out[(t["symbol"], t["exchange"], t["trade_id"])] = TradeQuote(bid, ask, side, flags, spread)
    return out


def daily_spreads(trades: Sequence[dict[str, Any]], quotes: Sequence[dict[str, Any]], stale_ns: int, start_ns: int,
                  end_ns: int) -> dict[tuple[str, int], tuple[float | None, float | None]]:
    """Per (symbol, UTC day number) of [start_ns, end_ns): (time-weighted relative quoted spread, volume-weighted
    effective spread), from the rule in ``symbol_daily_spreads.sql``'s header."""
    day_ns = 86_400 * 10**9
    no_volume = {str(r["code"]) for r in conditions_table().to_pylist() if not r["updates_volume"]}
    out: dict[tuple[str, int], list[float]] = {}
    for symbol in sorted({q["symbol"] for q in quotes} | {t["symbol"] for t in trades}):
        stamps = sorted({q["ts_ns"] for q in quotes if q["symbol"] == symbol})
        for k, ts in enumerate(stamps):
            if ts < start_ns - stale_ns or ts >= end_ns or ts // day_ns < start_ns // day_ns:
                continue
            q = _prevailing({"symbol": symbol, "ts_ns": ts + 1}, quotes)
            assert q is not None
            bid, ask = _side_price(q["bid_price"]), _side_price(q["ask_price"])
            nxt = stamps[k + 1] if k + 1 < len(stamps) else end_ns
            stands = min(nxt, ts + stale_ns, (ts // day_ns + 1) * day_ns, end_ns) - ts
            if bid is None or ask is None or ask <= bid or stands <= 0:
                continue
            acc = out.setdefault((symbol, ts // day_ns), [0.0, 0.0, 0.0, 0.0])
            acc[0] += stands * (ask - bid) / ((ask + bid) / 2)
            acc[1] += stands
        for t in trades:
            codes = [c for c in (t["conditions"] or "").split(",") if c]
            if t["symbol"] != symbol or not start_ns <= t["ts_ns"] < end_ns or any(c in no_volume for c in codes):
                continue
            q = _prevailing(t, quotes)
            if q is None or t["ts_ns"] - q["ts_ns"] > stale_ns:
                continue
            bid, ask = _side_price(q["bid_price"]), _side_price(q["ask_price"])
            if bid is None or ask is None or ask <= bid:
                continue
            mid = (bid + ask) / 2
            acc = out.setdefault((symbol, t["ts_ns"] // day_ns), [0.0, 0.0, 0.0, 0.0])
            acc[2] += t["size"] * 2 * abs(t["price"] - mid) / mid
            acc[3] += t["size"]
    return {key: (a[0] / a[1] if a[1] else None, a[2] / a[3] if a[3] else None) for key, a in out.items()
            if a[1] or a[3]}


# --- the kernels' contract, call by call (udx.nbbo, udx.trade_sign), from their module docstrings ----------------
# Written from the rules as the docstrings state them, not from the kernels: every trade searches every quote and
# every sign walks back over every earlier print. Unlike the view above, a stale quote keeps its prices and its
# shape flags (the kernel ORs STALE with them); the carried quote and tick state are an earlier call's last values.

USABLE_MASK = NO_QUOTE | STALE | ONE_SIDED | LOCKED | CROSSED


def prevailing_each(trade_ts: Sequence[int], quote_ts: Sequence[int], bids: Sequence[float], asks: Sequence[float],
                    stale_ns: int, carried: tuple[int, float, float] | None = None
                    ) -> tuple[list[tuple[float, float, int, int]], tuple[int, float, float] | None]:
    """Per trade ``(bid, ask, age_ns, flags)`` and the quote to carry out of the call.

    The prevailing quote is the last listed of the quotes stamped strictly before the trade, the carried quote
    (an earlier call's newest, stamped before everything of this call) counting as listed first. A side that is
    not a finite price ``> 0`` is NaN. Flags: NO_QUOTE alone (NaN, NaN, age -1) without a quote; else STALE when
    the age exceeds ``stale_ns``, OR-ed with ONE_SIDED (a side missing), LOCKED (bid == ask) or CROSSED
    (bid > ask). The quote carried out is the last listed quote of the call, else the one carried in.
    """
    book = ([carried] if carried is not None else []) + [
        (quote_ts[k], bids[k], asks[k]) for k in range(len(quote_ts))]
    out = []
    for t in trade_ts:
        before = [q for q in book if q[0] < t]
        if not before:
            out.append((math.nan, math.nan, -1, NO_QUOTE))
            continue
        ts, b, a = before[-1]
        b = float(b) if math.isfinite(b) and b > 0 else math.nan
        a = float(a) if math.isfinite(a) and a > 0 else math.nan
        flags = STALE if t - ts > stale_ns else 0
        if math.isnan(b) or math.isnan(a):
            flags |= ONE_SIDED
        elif b == a:
            flags |= LOCKED
        elif b > a:
            flags |= CROSSED
        out.append((b, a, t - ts, flags))
    return out, (book[-1] if book else None)


def lee_ready_each(prices: Sequence[float], bids: Sequence[float], asks: Sequence[float], quote_flags: Sequence[int],
                   sets_price: Sequence[bool] | None = None, last_price: float | None = None, last_tick: int = 0
                   ) -> tuple[list[tuple[int, int]], tuple[float | None, int]]:
    """Per trade ``(side, flags)`` by Lee-Ready and the tick state carried out: (last price-setting price or
    None, sign of the last non-zero change among price-setting prints or the one carried in, 0 for none).

    Tick rule: a price-setting print takes the last change of the price-setting series up to and including it
    (the carried last price first); a print that may not set the price is compared with the last price-setting
    price and, when equal or when there is none, takes the last change before it. Without a change, the carried
    tick. Quote rule when none of the usable-quote flags is set: ``|2p - b - a| <= 1e-9 p`` is the midpoint (the
    tick, flag AT_MIDPOINT OR-ed in), else the side of the midpoint; otherwise the tick with TICK_ONLY OR-ed in.
    """
    setting: list[float] = [] if last_price is None else [last_price]

    def change(series: list[float]) -> int:
        c = _last_change(series)
        return c if c != 0 else last_tick

    out = []
    for i, p in enumerate(prices):
        if sets_price is None or sets_price[i]:
            setting.append(p)
            tick = change(setting)
        elif setting and p != setting[-1]:
            tick = _sign(p - setting[-1])
        else:
            tick = change(setting)
        f = int(quote_flags[i])
        if f & USABLE_MASK:
            out.append((tick, f | TICK_ONLY))
            continue
        gap = 2.0 * p - bids[i] - asks[i]
        if abs(gap) <= MID_TOL * p:
            out.append((tick, f | AT_MIDPOINT))
        else:
            out.append((_sign(gap), f))
    return out, (setting[-1] if setting else None, change(setting))
