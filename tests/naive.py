"""Naive reference twins of the udx kernels: plain Python loops written from the spec, not from the kernels.

Slow and obvious on purpose; tests compare the numba kernels and their ``_python`` twins against these.
"""

from __future__ import annotations

import math


def lee_mykland_stat(returns, window):
    """spec/signals.md §2.4 over a whole series, guard ``i < K``; NaN where undefined (never ±Inf)."""
    r = [float(v) for v in returns]
    out = []
    for i in range(len(r)):
        if i < window:
            out.append(math.nan)
            continue
        products = [abs(r[j]) * abs(r[j - 1]) for j in range(i - window + 2, i)]
        total = 0.0
        for p in products:
            total += p
        bpv = (math.pi / 2) * total / (window - 2)
        if not (bpv > 0 and math.isfinite(bpv)):
            out.append(math.nan)
            continue
        value = r[i] / math.sqrt(bpv)
        out.append(value if math.isfinite(value) else math.nan)
    return out


def lm_threshold(n, alpha):
    """Cn + Sn * beta* on the highfrequency scale; NaN for n < 3."""
    if n < 3:
        return math.nan
    a = math.sqrt(2 * math.log(n))
    cn = a - (math.log(math.pi) + math.log(math.log(n))) / (2 * a)
    return cn + (1 / a) * -math.log(-math.log(1 - alpha))


def bars(ts_ns, price, size, session_open_ns, session_close_ns, bar_ns, final_before_ns=None):
    """Previous-tick bars, one pass, as a list of dicts; see udx/bars.py for the conventions."""
    trades = list(zip([int(t) for t in ts_ns], [float(p) for p in price], [float(s) for s in size]))
    rows = []
    for o, c in zip([int(v) for v in session_open_ns], [int(v) for v in session_close_ns]):
        inside = [tr for tr in trades if o <= tr[0] < c]
        if not inside:
            continue
        first_ts, first_price, _ = inside[0]
        prev = first_price
        k = (first_ts - o) // bar_ns
        while o + k * bar_ns < c:
            start = o + k * bar_ns
            end = min(start + bar_ns, c)
            if final_before_ns is not None and end > final_before_ns:
                return rows
            mine = [tr for tr in inside if start <= tr[0] < end]
            volume = 0.0
            notional = 0.0
            for _, p, s in mine:
                volume += s
                notional += p * s
            close = mine[-1][1] if mine else prev
            rows.append(
                {
                    "bar_end_ns": end,
                    "session_open_ns": o,
                    "n_trades": len(mine),
                    "volume": volume,
                    "vwap": notional / volume if volume > 0 else math.nan,
                    "close": close,
                    "log_return": math.log(close) - math.log(prev),
                }
            )
            prev = close
            k += 1
    return rows
