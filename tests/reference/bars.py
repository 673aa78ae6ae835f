"""Eligible prints, previous-tick bars, tested bars (README "Signals", issue 13).

- A stock print sets the last-sale price iff every listed condition id has ``updates_last`` in Polygon's
  consolidated rules, and counts in volume iff every id has ``updates_volume``; a print whose correction is not
  0 does neither. Crypto prints do both.
- Bars ``[open + kΔ, min(open + (k+1)Δ, close))`` of each session, from the bar holding the session's first
  price-setting print (the opening print) to the close; only bars ending at or before ``final_before_ns``.
  ``n_trades``/``volume``/``vwap`` over prints that count in volume; ``close`` = the last price-setting print of
  the bar, else the previous close; ``log_return`` against the previous close (the opening print for a
  session's first bar).
- A bar with a price-setting print is tested when time elapsed between its reference print (the last
  price-setting print of the session's previous priced bar, or the opening print) and its own last
  price-setting print; its return ``r = ln close - ln P_ref`` is scaled to one average bar:
  ``u = r / sqrt(w)``, ``w = (1/Δ) ∫ f(t)² dt`` over that time (``f`` the profile by bar position; 1 when flat);
  over less than half a bar, ``w`` is scaled up to half a bar (``w · 0.5 / e``, ``e`` the elapsed bars).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

#: README "Signals" (issue 13, calibration): a return over less than half a bar is scaled as over half a bar.
MIN_ELAPSED_BARS = 0.5
CONDITIONS_CSV = Path(__file__).resolve().parents[2] / "sql" / "reference" / "polygon_stock_trade_conditions.csv"


def condition_rules() -> dict[int, tuple[bool, bool]]:
    """Condition id → (updates_last, updates_volume), read from the shipped data."""
    with CONDITIONS_CSV.open() as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {int(r["id"]): (r["updates_last"] == "true", r["updates_volume"] == "true") for r in rows}


def eligibility(market: str, conditions: str | None, correction: int | None,
                rules: dict[int, tuple[bool, bool]]) -> tuple[bool, bool]:
    """(sets_price, counts_volume) of one print."""
    if market == "crypto":
        return True, True
    if correction not in (None, 0):
        return False, False
    ids = [int(c) for c in (conditions or "").split(",") if c.strip()]
    known = [rules[i] for i in ids if i in rules]
    return all(k[0] for k in known), all(k[1] for k in known)


def make_bars(prints: list[tuple[int, float, float, bool, bool]], session_list: list[tuple[int, int]],
              bar_ns: int, final_before_ns: int) -> list[dict]:
    """Bars of one symbol; ``prints`` = (ts_ns, price, size, sets_price, counts_volume) in time order."""
    rows: list[dict] = []
    for o, c in session_list:
        inside = [p for p in prints if o <= p[0] < c]
        priced = [p for p in inside if p[3]]
        if not priced:
            continue
        open_ts, open_px = priced[0][0], priced[0][1]
        prev_close = open_px
        k = (open_ts - o) // bar_ns
        while o + k * bar_ns < c:
            start = o + k * bar_ns
            end = min(start + bar_ns, c)
            if end > final_before_ns:
                return rows
            mine = [p for p in inside if start <= p[0] < end]
            counted = [p for p in mine if p[4]]
            setting = [p for p in mine if p[3]]
            volume = sum(p[2] for p in counted)
            notional = sum(p[1] * p[2] for p in counted)
            close = setting[-1][1] if setting else prev_close
            rows.append({
                "bar_end_ns": end, "session_open_ns": o, "session_close_ns": c, "position": k,
                "n_trades": len(counted), "volume": float(volume),
                "vwap": notional / volume if volume > 0 else math.nan,
                "close": close, "log_return": math.log(close) - math.log(prev_close),
                "n_priced": len(setting), "last_price_ns": setting[-1][0] if setting else None,
                "opening_ts": open_ts, "opening_px": open_px,
            })
            prev_close = close
            k += 1
    return rows


def tested_returns(rows: list[dict], bar_ns: int, profile_of=None) -> None:
    """Add ``tested``, ``u``, ``w``, ``r`` (log return), ``e`` (elapsed bars) and ``ref_price`` to each bar
    (``profile_of(session_open_ns)`` gives ``f`` by bar position; ``None`` = flat)."""
    t_ref = p_ref = None
    session = None
    f: list[float] | None = None
    for row in rows:
        if row["session_open_ns"] != session:
            session = row["session_open_ns"]
            t_ref, p_ref = row["opening_ts"], row["opening_px"]
            f = None if profile_of is None else profile_of(session)
        row["ref_price"] = p_ref
        row["tested"], row["u"], row["w"], row["r"], row["e"] = False, math.nan, math.nan, math.nan, math.nan
        if row["n_priced"] == 0:
            continue
        t_end = row["last_price_ns"]
        w = _integral(f, session, t_ref, t_end, bar_ns)
        elapsed = (t_end - t_ref) / bar_ns
        if t_end > t_ref and w > 0:
            if elapsed < MIN_ELAPSED_BARS:  # noise floor: as over half a bar at the span's mean profile level
                w *= MIN_ELAPSED_BARS / elapsed
            row["tested"] = True
            row["w"], row["e"] = w, elapsed
            row["r"] = math.log(row["close"]) - math.log(p_ref)
            row["u"] = row["r"] / math.sqrt(w)
        t_ref, p_ref = t_end, row["close"]


def _integral(f: list[float] | None, o: int, t0: int, t1: int, bar_ns: int) -> float:
    """(1/Δ) ∫_{t0}^{t1} f² over bar positions of the session opening at ``o``."""
    if f is None:
        return (t1 - t0) / bar_ns
    total = 0.0
    b = (t0 - o) // bar_ns
    while o + b * bar_ns < t1:
        lo, hi = max(o + b * bar_ns, t0), min(o + (b + 1) * bar_ns, t1)
        total += f[min(b, len(f) - 1)] ** 2 * (hi - lo) / bar_ns
        b += 1
    return total
