"""Naive reference twins of the udx kernels: plain Python loops written from the spec, not from the kernels.

Slow and obvious on purpose; tests compare the numba kernels and their ``_python`` twins against these.
"""

from __future__ import annotations

import bisect
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


def bars(ts_ns, price, size, session_open_ns, session_close_ns, bar_ns, final_before_ns=None, sets_price=None,
         counts_volume=None):
    """Previous-tick bars, one pass, as a list of dicts; see udx/bars.py for the conventions.

    Only prints with ``sets_price`` set a close; only those with ``counts_volume`` count in ``n_trades``,
    volume and VWAP; a session's bars start at the bar of its first price-setting print (None = all True).
    """
    n = len(ts_ns)
    sp = [True] * n if sets_price is None else [bool(v) for v in sets_price]
    cv = [True] * n if counts_volume is None else [bool(v) for v in counts_volume]
    trades = list(zip([int(t) for t in ts_ns], [float(p) for p in price], [float(s) for s in size], sp, cv))
    rows = []
    for o, c in zip([int(v) for v in session_open_ns], [int(v) for v in session_close_ns]):
        priced = [tr for tr in trades if o <= tr[0] < c and tr[3]]
        if not priced:
            continue
        first_ts, first_price = priced[0][0], priced[0][1]
        prev = first_price
        k = (first_ts - o) // bar_ns
        while o + k * bar_ns < c:
            start = o + k * bar_ns
            end = min(start + bar_ns, c)
            if final_before_ns is not None and end > final_before_ns:
                return rows
            mine = [tr for tr in trades if start <= tr[0] < end]
            volume = 0.0
            notional = 0.0
            counted = [tr for tr in mine if tr[4]]
            for _, p, s, _, _ in counted:
                volume += s
                notional += p * s
            setting = [tr for tr in mine if tr[3]]
            close = setting[-1][1] if setting else prev
            rows.append(
                {
                    "bar_end_ns": end,
                    "session_open_ns": o,
                    "n_trades": len(counted),
                    "n_priced": len(setting),
                    "last_price_ns": setting[-1][0] if setting else -(2**63),
                    "volume": volume,
                    "vwap": notional / volume if volume > 0 else math.nan,
                    "close": close,
                    "log_return": math.log(close) - math.log(prev),
                }
            )
            prev = close
            k += 1
    return rows


def garch_variance(resids, omega, alpha, beta):
    """arch's GARCH(1,1) recursion with its backcast and variance bounds, spec §4.1; returns (sigma2, ll)."""
    e = [float(v) for v in resids]
    n = len(e)
    e2 = [v * v for v in e]
    tau = min(75, n)
    w = [0.94**j for j in range(tau)]
    b = sum(e2[j] * w[j] / sum(w) for j in range(tau))
    mean = sum(e) / n
    var = sum((v - mean) ** 2 for v in e) / n
    ewma = []
    for t in range(n):
        prev_e2, prev_v = (b, b) if t == 0 else (e2[t - 1], ewma[-1])
        ewma.append(0.06000000000000005 * prev_e2 + 0.94 * prev_v)
    top = 1 + max(e2)
    sigma2 = []
    ll = 0.0
    for t in range(n):
        s = omega + alpha * (b if t == 0 else e2[t - 1]) + beta * (b if t == 0 else sigma2[-1])
        lower = max(ewma[t] / 1e6, var / 1e8)
        upper = min(max(ewma[t] * 1e6, top), 1e7 * top)
        if s < lower:
            s = lower
        elif s > upper:
            s = upper + math.log(s / upper)
        sigma2.append(s)
        ll += -0.5 * (math.log(2 * math.pi) + math.log(s) + e2[t] / s)
    return sigma2, ll


def bns_window(returns, form="ratio", ht=True):
    """BNS statistic of one window with tripower quarticity, spec §3.2."""
    r = [abs(float(v)) for v in returns]
    m = len(r)
    if m < 3:
        return math.nan
    rv = sum(v * v for v in r)
    bv = (math.pi / 2) * sum(r[j] * r[j - 1] for j in range(1, m)) * (m / (m - 1) if ht else 1.0)
    mu43 = 2 ** (2 / 3) * math.gamma(7 / 6) / math.gamma(0.5)
    tp = m * mu43**-3 * m / (m - 2) * sum((r[j] * r[j - 1] * r[j - 2]) ** (4 / 3) for j in range(2, m))
    theta = math.pi**2 / 4 + math.pi - 5
    try:
        if form == "linear":
            z = (rv - bv) / math.sqrt(theta / m * tp)
        elif form == "ratio":
            z = ((rv - bv) / rv) / math.sqrt(theta / m * max(1.0, tp / bv**2))
        else:
            z = (math.log(rv) - math.log(bv)) / math.sqrt(theta / m * max(1.0, tp / bv**2))
    except (ZeroDivisionError, ValueError):
        return math.nan
    return z if math.isfinite(z) else math.nan


def bns_rolling(returns, window, min_periods):
    """bns_window over the trailing window (current return included), NaN below min_periods."""
    r = list(returns)
    return [bns_window(r[max(0, i - window + 1): i + 1]) if min(i + 1, window) >= min_periods else math.nan
            for i in range(len(r))]


def intensity_zscore(counts, lookback, min_periods):
    """(N_t - mean)/std(ddof=1) of the previous `lookback` counts, spec §7."""
    c = [float(v) for v in counts]
    out = []
    for t in range(len(c)):
        base = c[max(0, t - lookback): t]
        if len(base) < max(2, min_periods):
            out.append(math.nan)
            continue
        m = sum(base) / len(base)
        s = math.sqrt(sum((v - m) ** 2 for v in base) / (len(base) - 1))
        out.append(math.nan if s <= 1e-9 * max(1.0, abs(m)) else (c[t] - m) / s)
    return out


def vpin_buckets(dp, volume, sigma, bucket, n):
    """Bucket order imbalances and VPIN per complete bucket, spec §6.4 (constant V and sigma)."""
    fracs = [0.5 * math.erfc(-(d / sigma) / math.sqrt(2)) if sigma > 0 else 0.5 for d in dp]
    oi, vp, _ = _classified_buckets(volume, fracs, bucket, n)
    return oi, vp


def vpin_lee_ready(side, size, bucket, n):
    """VPIN as of each trade with each trade's volume on its Lee-Ready side (EPO 2012 buckets of V; a buy's
    size is buy volume, a sell's sell volume, an unsigned trade's half each)."""
    fracs = [{1: 1.0, -1: 0.0, 0: 0.5}[int(s)] for s in side]
    _, vp, done = _classified_buckets(size, fracs, bucket, n)
    return [vp[k - 1] if k else math.nan for k in done]


def _classified_buckets(volume, fracs, bucket, n):
    """EPO buckets of size ``bucket`` filled in order with each item's volume split by its buy fraction:
    per bucket OI and VPIN (NaN before n buckets), and the buckets complete after each item."""
    pieces = []  # (volume, buy fraction, closes a bucket), split at bucket boundaries
    done = []
    fill = 0.0
    complete = 0
    for v, f in zip(volume, fracs):
        v = float(v)
        while v > 0:
            take = min(v, bucket - fill)
            closes = fill + take >= bucket
            pieces.append((take, f, closes))
            complete += closes
            fill = 0.0 if closes else fill + take
            v -= take
        done.append(complete)
    oi = []
    buy = 0.0
    for take, f, closes in pieces:
        buy += take * f
        if closes:
            oi.append(abs(2 * buy - bucket))
            buy = 0.0
    vp = [math.nan if k + 1 < n else sum(oi[k + 1 - n: k + 1]) / (n * bucket) for k in range(len(oi))]
    return oi, vp, done


def acd_bars(ts_ns, bar_end_ns, bar_session_ns, bin_seconds, n_bins, decay=0.8):
    """Per-bar ``conditional_duration`` and ``acd_surprise`` with the pre-fit EWMA(0.94) filter (udx.acd).

    Events are the distinct trade times inside bars; durations run between consecutive events of a session
    and are divided by the diurnal profile of the bin where the spell started, taken from earlier sessions
    only (each older session weighted down by ``decay``; an empty bin uses the profile's overall mean).
    """
    bin_ns = bin_seconds * 10**9
    ends = [int(v) for v in bar_end_ns]
    events = []  # (time, bar index, session open)
    for t in sorted(set(int(v) for v in ts_ns)):
        j = bisect.bisect_right(ends, t)  # the first bar ending after t
        if j < len(ends) and t >= bar_session_ns[j]:
            events.append((t, j, int(bar_session_ns[j])))
    finished = []  # per earlier session: [sums per bin], [counts per bin]
    psi, cond = 1.0, math.nan
    sur = [[] for _ in bar_end_ns]
    cond_at = {}
    session = last = None
    sums = counts = None

    def phi(b):
        num = sum(decay ** (len(finished) - 1 - i) * s[b] for i, (s, _) in enumerate(finished))
        den = sum(decay ** (len(finished) - 1 - i) * c[b] for i, (_, c) in enumerate(finished))
        if den > 0:
            return num / den
        num = sum(decay ** (len(finished) - 1 - i) * sum(s) for i, (s, _) in enumerate(finished))
        den = sum(decay ** (len(finished) - 1 - i) * sum(c) for i, (_, c) in enumerate(finished))
        return num / den if den > 0 else math.nan

    def bin_of(t, o):
        return min((t - o) // bin_ns, n_bins - 1)

    for t, j, o in events:
        if o != session:
            if session is not None:
                finished.append((sums, counts))
            session, sums, counts = o, [0.0] * n_bins, [0.0] * n_bins
        else:
            x = (t - last) / 1e9
            b = bin_of(last, o)
            sums[b] += x
            counts[b] += 1
            p = phi(b)
            if p > 0:
                xa = x / p
                sur[j].append(xa / psi)
                psi = 0.94 * psi + 0.06 * xa
        last = t
        p_now = phi(bin_of(t, o))
        cond = psi * p_now if p_now > 0 else math.nan
        cond_at[j] = cond
    out_cond, out_sur, carry = [], [], math.nan
    for j in range(len(bar_end_ns)):
        carry = cond_at.get(j, carry)
        out_cond.append(carry)
        out_sur.append(sum(sur[j]) / len(sur[j]) if sur[j] else math.nan)
    return out_cond, out_sur


def intraday_profile(sessions_y, bucket_bars, depth, min_sessions, min_obs=20, min_pairs=10, min_returns=10):
    """The profile in force after the given finished sessions (udx/seasonality.py), written from its docstring.

    ``sessions_y``: per finished session, its ``y`` by bar position (NaN = untested). Returns per bar
    position the factor (mean square 1), or all ones for the flat fallback.
    """
    n_pos = len(sessions_y[0])
    nb = -(-n_pos // bucket_bars)
    rows = []  # per session: per bucket [bp, pairs, sq, n, sum |z|, returns]
    for y in sessions_y:
        row = [[0.0] * 6 for _ in range(nb)]
        valid = [(p, v) for p, v in enumerate(y) if not math.isnan(v)]
        out_scale = {}  # per bucket: the bipower scale of the session's pairs that hold none of its returns
        if len(valid) >= min_returns:
            for j in range(nb):
                other = [abs(b) * abs(a) for (p0, a), (p1, b) in zip(valid, valid[1:])
                         if p0 // bucket_bars != j and p1 // bucket_bars != j]
                if len(other) >= min_returns - 1 and sum(other) > 0:
                    out_scale[j] = math.sqrt(math.pi / 2 * sum(other) / len(other))
        if len(valid) >= min_returns:
            z = [(p, v / out_scale[p // bucket_bars]) for p, v in valid if p // bucket_bars in out_scale]
            for (p0, a), (p1, b) in zip(z, z[1:]):
                if p0 // bucket_bars == p1 // bucket_bars:
                    row[p1 // bucket_bars][0] += abs(b) * abs(a)
                    row[p1 // bucket_bars][1] += 1
            for p, v in z:
                row[p // bucket_bars][4] += abs(v)
                row[p // bucket_bars][5] += 1
            rows.append(row)
            ring = rows[-depth:]
            all_bp = sum(r[j][0] for r in ring for j in range(nb))
            all_n = sum(r[j][1] for r in ring for j in range(nb))
            fallback = math.sqrt(math.pi / 2 * all_bp / all_n) if all_n >= min_pairs and all_bp > 0 else 1.0
            for j in range(nb):
                bpj = sum(r[j][0] for r in ring)
                npj = sum(r[j][1] for r in ring)
                aj = sum(r[j][4] for r in ring)
                naj = sum(r[j][5] for r in ring)
                if npj >= min_pairs and bpj > 0:
                    scale = math.sqrt(math.pi / 2 * bpj / npj)
                elif naj >= min_pairs and aj > 0:  # few pairs: the mean absolute return, E|Z| = sqrt(2/pi)
                    scale = math.sqrt(math.pi / 2) * aj / naj
                else:
                    scale = fallback
                for p, v in z:
                    if p // bucket_bars == j and (v / scale) ** 2 <= 6.635:
                        row[j][2] += v * v
                        row[j][3] += 1
        else:
            rows.append(row)
    ring = rows[-depth:]
    all_sq = sum(r[j][2] for r in ring for j in range(nb))
    all_n = sum(r[j][3] for r in ring for j in range(nb))
    if len(sessions_y) < min_sessions or all_n < min_obs or not all_sq > 0:
        return [1.0] * n_pos  # the flat fallback
    own = {}
    for j in range(nb):
        sq = sum(r[j][2] for r in ring)
        n = sum(r[j][3] for r in ring)
        if n >= min_obs and sq > 0:
            own[j] = math.sqrt(1.081 * sq / n)
    filled = []
    for j in range(nb):
        if j in own:
            filled.append(own[j])
            continue
        for d in range(nb):  # pool the buckets j-d..j+d
            near = [q for q in range(j - d, j + d + 1) if 0 <= q < nb]
            sq = sum(r[q][2] for r in ring for q in near)
            n = sum(r[q][3] for r in ring for q in near)
            if n >= min_obs and sq > 0:
                filled.append(math.sqrt(1.081 * sq / n))
                break
    curve = [profile_at(filled, bucket_bars, n_pos, p) for p in range(n_pos)]
    norm = math.sqrt(sum(v * v for v in curve) / n_pos)
    return [v / norm for v in curve]


def profile_at(buckets, bucket_bars, n_pos, p):
    """The profile at bar position p: the straight line through the two bucket centres around the bar's middle
    (the two nearest at either end), not below half the end bucket beyond the first or last centre."""
    centres = [(b * bucket_bars + min((b + 1) * bucket_bars, n_pos)) / 2 for b in range(len(buckets))]
    if len(buckets) == 1:
        return buckets[0]
    x = p + 0.5
    k = 0
    while k < len(centres) - 2 and x > centres[k + 1]:
        k += 1
    (x0, y0), (x1, y1) = (centres[k], buckets[k]), (centres[k + 1], buckets[k + 1])
    v = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    if x < centres[0]:
        return max(v, 0.5 * buckets[0])
    if x > centres[-1]:
        return max(v, 0.5 * buckets[-1])
    return v


def tested_returns(bar_rows, first_prints, bar_ns, factor=None):
    """The tested bars and their scaled returns (udx/seasonality.py), written from its docstring.

    ``bar_rows``: dicts of :func:`bars`; ``first_prints``: session open -> (ts, price) of its opening print;
    ``factor``: per bar position of the session the profile (None = flat). A return runs from the reference print
    to the bar's last price-setting print, over the time between them. Returns ``[(index, u, w), ...]``.
    """
    out = []
    ref = None
    for i, row in enumerate(bar_rows):
        o = row["session_open_ns"]
        if ref is None or ref[2] != o:
            t0, p0 = first_prints[o]
            ref = (t0, p0, o)
        if row["n_priced"] == 0:
            continue
        t_ref, p_ref, _ = ref
        end = row["last_price_ns"]
        w = 0.0
        t = t_ref
        while t < end:
            pos = (t - o) // bar_ns
            nxt = min(o + (pos + 1) * bar_ns, end)
            f = 1.0 if factor is None else factor[min(pos, len(factor) - 1)]
            w += f * f * (nxt - t) / bar_ns
            t = nxt
        if w > 0:
            elapsed = (end - t_ref) / bar_ns
            if elapsed < 0.5:  # shorter than half a bar: scaled as half a bar at the span's mean profile level
                w = w * 0.5 / elapsed
            out.append((i, (math.log(row["close"]) - math.log(p_ref)) / math.sqrt(w), w))
        ref = (end, row["close"], o)
    return out


def prevailing_quote(trade_ts, quote_ts, bids, asks, stale_ns):
    """Per trade ``(bid, ask, age, flags)`` from the rule of udx.nbbo: of the quotes stamped strictly before
    the trade, the last one listed; a side that is not a positive finite price is missing (NaN).
    Flags: 1 no quote, 2 stale (age > stale_ns), 4 one-sided, 8 locked, 16 crossed."""
    out = []
    for t in trade_ts:
        before = [k for k in range(len(quote_ts)) if quote_ts[k] < t]
        if not before:
            out.append((math.nan, math.nan, -1, 1))
            continue
        k = before[-1]
        age = t - quote_ts[k]

        def side(x):
            return float(x) if math.isfinite(x) and x > 0 else math.nan

        b, a = side(bids[k]), side(asks[k])
        flags = 2 if age > stale_ns else 0
        if math.isnan(b) or math.isnan(a):
            flags |= 4
        elif b == a:
            flags |= 8
        elif b > a:
            flags |= 16
        out.append((b, a, age, flags))
    return out


def lee_ready(prices, bids, asks, quote_flags):
    """Per trade ``(side, flags)`` by Lee-Ready from its definition: the tick rule compares a price with the most
    recent *different* earlier price (0 when there is none); a usable quote (flags 0) signs by the side of the
    midpoint, a price within 1e-9·p of it by the tick rule (flag 32); without one, the tick rule (flag 64)."""
    out = []
    for i, p in enumerate(prices):
        tick = 0
        for j in range(i - 1, -1, -1):
            if prices[j] != p:
                tick = 1 if p > prices[j] else -1
                break
        f = quote_flags[i]
        if f != 0:
            out.append((tick, f | 64))
            continue
        mid = (bids[i] + asks[i]) / 2
        if abs(p - mid) <= 0.5e-9 * p:
            out.append((tick, f | 32))
        else:
            out.append((1 if p > mid else -1, f))
    return out


def liquidity_bars(bars, trades, quotes, carried, stale_ns):
    """Per bar ``(quoted, effective, buy, sell)`` from the definitions of udx.liquidity, by brute force.

    ``bars``: ``[(start, end)]``; ``trades``: ``[(ts, price, size, side, bid, ask, flags)]``; ``quotes``:
    ``[(ts, bid, ask)]``; ``carried``: the quote in force before them or None. Each quote's in-force interval
    is ``[ts, next ts)`` cut at ``ts + stale_ns``, intersected with each bar.
    """
    book = ([carried] if carried is not None else []) + list(quotes)
    out = []
    for s, e in bars:
        total = weighted = 0.0
        for k, (q, b, a) in enumerate(book):
            nxt = book[k + 1][0] if k + 1 < len(book) else math.inf
            lo, hi = max(q, s), min(nxt, q + stale_ns, e)
            usable = math.isfinite(b) and math.isfinite(a) and 0 < b < a
            if usable and hi > lo:
                total += hi - lo
                weighted += (hi - lo) * (a - b) / ((a + b) / 2)
        quoted = weighted / total if total > 0 else math.nan
        inside = [t for t in trades if s <= t[0] < e]
        good = [t for t in inside if t[6] & 31 == 0]
        vol = sum(t[2] for t in good)
        eff = sum(t[2] * 2 * abs(t[1] - (t[4] + t[5]) / 2) / ((t[4] + t[5]) / 2) for t in good) / vol \
            if vol > 0 else math.nan
        buy = sum(t[2] for t in inside if t[3] > 0)
        sell = sum(t[2] for t in inside if t[3] < 0)
        out.append((quoted, eff, buy, sell))
    return out
