"""The statistics of ``spec/signals.md``, each window recomputed from scratch.

- Lee & Mykland (2008), highfrequency scale (§2.4): ``L_i = x_i / sqrt(BPV_i)``,
  ``BPV_i = (π/2)/(K-2) Σ_{j=i-K+2}^{i-1} |x_j||x_{j-1}|``, NaN for the first K of the series or BPV <= 0;
  threshold ``Cn + Sn β*`` with n = bars per session.
- BNS (§3, Huang-Tauchen ratio with max adjustment and tripower quarticity) over the trailing ``window``
  returns including the current one, fewer at the start (NaN below ``max(3, window // 2)``).
- GARCH(1,1), zero mean, exactly as arch filters (§4.1): backcast = 0.94-weighted mean of the first
  min(75, T) squared returns, ``σ²_0 = ω + (α+β)·b``; Gaussian log-likelihood; the fit maximises it over
  arch's bounds with ``α + β <= 1`` (Nelder-Mead without gradients from arch's start grid, not the project's
  SLSQP with its analytic gradient).
- Trade intensity (§7): previous ``lookback`` bars (ddof 1), NaN below ``max(2, lookback // 2)`` or for a
  flat baseline; time-of-day (issue 13): the mid-p z of the count under a negative binomial fitted to the
  counts at nearby bar positions of the previous sessions.
- VPIN (§6.4, EPO 2012): buckets of V = mean volume of up to 5 previous sessions / buckets per day, σ of the
  scaled price changes of their tested bars (ddof 1), Φ split, ``Σ OI / Σ V`` over the last n buckets; CDF =
  share of the previous ``cdf_window`` VPIN values that are <= the current one (ties count), NaN under 50.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from scipy import stats as scipy_stats
from scipy.optimize import minimize

HISTORY_SESSIONS = 5
CDF_MIN_HISTORY = 50
MU43_CUBED_INV = 1.0 / (2.0 ** (2.0 / 3.0) * math.gamma(7.0 / 6.0) / math.gamma(0.5)) ** 3
THETA = math.pi**2 / 4 + math.pi - 5


def lm_threshold(n: int, alpha: float) -> float:
    if n < 3:
        return math.nan
    a = math.sqrt(2 * math.log(n))
    return a - (math.log(math.pi) + math.log(math.log(n))) / (2 * a) + (1 / a) * -math.log(-math.log(1 - alpha))


def lee_mykland(x: list[float], k: int) -> list[float]:
    out = []
    for i in range(len(x)):
        if i < k:
            out.append(math.nan)
            continue
        s = 0.0
        for j in range(i - k + 2, i):
            s += abs(x[j]) * abs(x[j - 1])
        bpv = (math.pi / 2) * s / (k - 2)
        v = x[i] / math.sqrt(bpv) if 0 < bpv < math.inf else math.nan
        out.append(v if math.isfinite(v) else math.nan)
    return out


def bns_ratio(x: list[float], window: int) -> list[float]:
    return bns(x, window, max(3, window // 2), "ratio", True)


def bns(x: list[float], window: int, min_periods: int, form: str, ht: bool) -> list[float]:
    """BNS over the trailing ``window`` returns (fewer at the start), NaN below ``min_periods``: HT's ratio
    ``(RV-BV)/RV`` or ``ln RV - ln BV`` over ``sqrt(θ/M max(1, TP/BV²))``, or the linear ``(RV-BV)/sqrt(θ/M TP)``;
    BV with ``M/(M-1)`` when ``ht`` (else highfrequency's RBPVar). NaN for M < 3, RV or BV not > 0 (ratio,
    log), TP not > 0 (linear), a non-finite result, or a NaN return in the window."""
    out = []
    for i in range(len(x)):
        r = x[max(0, i - window + 1): i + 1]
        m = len(r)
        if m < min_periods or m < 3:
            out.append(math.nan)
            continue
        rv = sum(v * v for v in r)
        bv = (math.pi / 2) * (m / (m - 1) if ht else 1.0) * sum(abs(r[j]) * abs(r[j - 1]) for j in range(1, m))
        tp = m * MU43_CUBED_INV * m / (m - 2) * sum(_pow43(abs(r[j] * r[j - 1] * r[j - 2])) for j in range(2, m))
        if form == "linear":
            z = (rv - bv) / math.sqrt(THETA / m * tp) if tp > 0 else math.nan
        elif not (rv > 0 and bv > 0):
            z = math.nan
        else:
            den = math.sqrt(THETA / m * max(1.0, tp / (bv * bv)))
            z = ((rv - bv) / rv if form == "ratio" else math.log(rv) - math.log(bv)) / den
        out.append(z if math.isfinite(z) else math.nan)
    return out


def _pow43(v: float) -> float:
    """``v ** (4/3)`` as IEEE arithmetic does it (inf beyond the largest double; Python's ``**`` raises)."""
    return float(np.float64(v) ** (4 / 3))


def intensity_trailing(counts: list[float], lookback: int) -> list[float]:
    min_periods = max(2, lookback // 2)
    out = []
    for i, c in enumerate(counts):
        base = counts[max(0, i - lookback): i]
        out.append(_z(c, base, min_periods))
    return out


def _z(c: float, base: list[float], min_periods: int) -> float:
    if len(base) < max(min_periods, 2):
        return math.nan
    mean = float(np.mean(base))
    sd = float(np.std(base, ddof=1))
    return (c - mean) / sd if sd > 1e-9 * max(1.0, mean) else math.nan


def _count_law(mean: float, var: float):  # noqa: ANN202 (a frozen scipy distribution)
    """The negative binomial of ``mean`` and ``var``, a Poisson when ``var <= mean``."""
    if var > mean * (1 + 1e-12):
        return scipy_stats.nbinom(mean * mean / (var - mean), mean / var)
    return scipy_stats.poisson(mean)


def count_midp_z(n: float, mean: float, var: float, positive: bool = False) -> float:
    """z of a count: the normal quantile of its mid-p upper tail ``P(N > n) + P(N = n)/2`` under a negative
    binomial of ``mean`` and ``var`` (a Poisson when ``var <= mean``), conditioned on ``N >= 1`` when
    ``positive``; NaN for ``mean <= 0`` (scipy's distributions)."""
    if not mean > 0 or (positive and n < 1):
        return math.nan
    law = _count_law(mean, var)
    at_least = law.sf(0) if positive else 1.0
    upper = (law.sf(n) + 0.5 * law.pmf(n)) / at_least
    lower = (law.cdf(n - 1) - (law.pmf(0) if positive else 0.0) + 0.5 * law.pmf(n)) / at_least
    return float(scipy_stats.norm.isf(upper) if upper < 0.5 else -scipy_stats.norm.isf(lower))


def count_midp_z_far(n: float, mean: float, var: float, positive: bool = False) -> float:
    """:func:`count_midp_z` in logarithms, for any tail: the smaller mid-p tail as a ``logsumexp`` of scipy's
    ``logpmf`` over its counts (up to ``n + 20000`` above), and ``z`` from scipy's ``ndtri_exp``."""
    if not mean > 0 or (positive and n < 1):
        return math.nan
    law = _count_law(mean, var)
    log_norm = math.log(-math.expm1(law.logpmf(0))) if positive else 0.0
    lowest = 1 if positive else 0
    half = math.log(0.5) + float(law.logpmf(n))
    if n >= mean:
        above = law.logpmf(np.arange(n + 1, n + 20_001))
        return float(-special.ndtri_exp(float(special.logsumexp([half, *above])) - log_norm))
    below = law.logpmf(np.arange(lowest, n)) if n > lowest else []
    return float(special.ndtri_exp(float(special.logsumexp([half, *below])) - log_norm))


def intensity_time_of_day(rows: list[dict], bars_per_session: int, sessions_back: int, min_sessions: int,
                          half: int) -> list[float | None]:
    """Per bar: the mid-p z of its count against the counts of the previous ``sessions_back`` sessions at bar
    positions within ``half`` of its own, leaving out each session's first bar (it holds the opening print, so
    its count is at least 1): mean, variance ``max(ddof-1 variance, mean) * (1 + 1/K)`` over the ``K`` counts;
    a session's own first bar is compared with the law conditioned on at least one print. ``None`` with fewer
    than ``min_sessions`` earlier sessions (the trailing baseline applies)."""
    by_session: dict[int, dict[int, int]] = {}  # session -> position -> count, after the session's first bar
    order: list[int] = []
    out: list[float | None] = []
    for row in rows:
        o = row["session_open_ns"]
        first = o not in by_session
        if first:
            by_session[o] = {}
            order.append(o)
        pos = min(row["position"], bars_per_session - 1)
        earlier = order[:-1][-sessions_back:]
        if len(earlier) < min_sessions:
            out.append(None)
        else:
            base = [by_session[s][q] for s in earlier for q in range(pos - half, pos + half + 1)
                    if q in by_session[s]]
            mean = float(np.mean(base)) if len(base) >= 2 else 0.0
            var = max(float(np.var(base, ddof=1)), mean) * (1 + 1 / len(base)) if mean > 0 else math.nan
            out.append(count_midp_z(row["n_trades"], mean, var, first))
        if not first:
            by_session[o][pos] = row["n_trades"]
    return out


def vpin_params(rows: list[dict], buckets_per_day: float) -> tuple[list[float], list[float], list[float]]:
    """Per bar: the scaled price change (0 for a bar that is not tested), and the bucket size V and σ of its
    session, frozen at the session's first bar from up to HISTORY_SESSIONS earlier sessions: V = their mean
    volume / ``buckets_per_day``, σ = std (ddof 1) of their pooled tested changes (NaN with fewer than two,
    V NaN without an earlier session). A session's first bar changes from the session's opening print
    (``ref_price``), so no overnight change enters."""
    dp = [(r["close"] - r["ref_price"]) / math.sqrt(r["w"]) if r["tested"] else 0.0 for r in rows]
    finished: list[tuple[float, list[float]]] = []  # per earlier session: volume, tested price changes
    cur_volume, cur_dp, session = 0.0, [], None
    bucket_size = sigma = math.nan
    sizes, sigmas = [], []
    for r, d in zip(rows, dp, strict=True):
        if r["session_open_ns"] != session:
            if session is not None:
                finished.append((cur_volume, cur_dp))
            session, cur_volume, cur_dp = r["session_open_ns"], 0.0, []
            prev = finished[-HISTORY_SESSIONS:]
            bucket_size = float(np.mean([v for v, _ in prev])) / buckets_per_day if prev else math.nan
            pooled = [x for _, xs in prev for x in xs]
            sigma = float(np.std(pooled, ddof=1)) if len(pooled) > 1 else math.nan
        cur_volume += r["volume"]
        if r["tested"]:
            cur_dp.append(d)
        sizes.append(bucket_size)
        sigmas.append(sigma)
    return dp, sizes, sigmas


def vpin(rows: list[dict], buckets_per_day: int, n: int, cdf_window: int) -> tuple[list[float], list[float]]:
    """VPIN and its causal CDF per bar (the last bucket completed by the bar's end)."""
    dp, sizes, sigmas = vpin_params(rows, buckets_per_day)
    fill = buy = 0.0
    ois: list[float] = []
    vols: list[float] = []
    history: list[float] = []
    last_vpin = last_cdf = math.nan
    out_v, out_c = [], []
    for r, d, bucket_size, sigma in zip(rows, dp, sizes, sigmas, strict=True):
        if bucket_size > 0:
            frac = 0.5 * math.erfc(-(d / sigma) / math.sqrt(2)) if sigma > 0 else 0.5
            left = r["volume"]
            while True:
                room = bucket_size - fill
                if room <= 0:  # the session's V is below the open bucket's fill: it closes at its fill
                    size = fill
                elif left >= room:
                    buy += room * frac
                    left -= room
                    size = bucket_size
                else:
                    if left > 0:
                        buy += left * frac
                        fill += left
                    break
                ois.append(abs(2 * buy - size))
                vols.append(size)
                fill = buy = 0.0
                if len(ois) >= n:
                    value = sum(ois[-n:]) / sum(vols[-n:])
                    earlier = history[-cdf_window:]
                    last_cdf = (sum(1 for h in earlier if h <= value) / len(earlier)
                                if len(earlier) >= CDF_MIN_HISTORY else math.nan)
                    last_vpin = value
                    history.append(value)
                if left <= 0:
                    break
        out_v.append(last_vpin)
        out_c.append(last_cdf)
    return out_v, out_c


# --- GARCH(1,1) ----------------------------------------------------------------------------------------

def backcast(e2: np.ndarray) -> float:
    tau = min(75, e2.size)
    w = 0.94 ** np.arange(tau)
    return float(np.sum(w / w.sum() * e2[:tau]))


def garch_path(omega: float, alpha: float, beta: float, e2: np.ndarray, b: float | None = None) -> np.ndarray:
    """arch's conditional variances of ``e2`` (bounds do not bind on these data; the test checks that), from
    arch's backcast or the given ``b``."""
    b = backcast(e2) if b is None else b
    s2 = np.empty(e2.size)
    for t in range(e2.size):
        s2[t] = omega + alpha * (e2[t - 1] if t else b) + beta * (s2[t - 1] if t else b)
    return s2


def garch_loglik(params: np.ndarray, e2: np.ndarray) -> float:
    s2 = garch_path(*params, e2)
    if not np.all(s2 > 0):
        return -math.inf
    return float(np.sum(-0.5 * (math.log(2 * math.pi) + np.log(s2) + e2 / s2)))


def garch_fit(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximum likelihood (ω, α, β) and the log-likelihood, fitted on ``y / std`` and mapped back."""
    c2 = float(np.mean(y * y))
    e2 = y * y / c2
    v = float(np.mean(e2))
    best = None
    for a in (0.01, 0.05, 0.1, 0.2):
        for p in (0.5, 0.7, 0.9, 0.98):
            x0 = np.array([(1 - p) * v, a, p - a])
            ll = garch_loglik(x0, e2)
            if best is None or ll > best[0]:
                best = (ll, x0)
    assert best is not None
    lo, hi = np.array([1e-8 * v, 0.0, 0.0]), np.array([10 * v, 1.0, 1.0])

    def objective(x: np.ndarray) -> float:  # Nelder-Mead (no gradient), infeasible points rejected
        if np.any(x < lo) or np.any(x > hi) or x[1] + x[2] > 1:
            return 1e10
        ll = garch_loglik(x, e2)
        return -ll / e2.size if math.isfinite(ll) else 1e10

    x = best[1]
    for _ in range(3):  # restarts from the last optimum: Nelder-Mead's simplex can collapse early
        res = minimize(objective, x, method="Nelder-Mead",
                       options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20_000, "maxfev": 40_000})
        x = res.x
    omega, alpha, beta = x
    params = np.array([omega * c2, alpha, beta])
    return params, garch_loglik(params, y * y)


def garch_filter(u: list[float], session_of: list[int], min_obs: int, window: int,
                 fitted: list[tuple[float, float, float]]) -> tuple[list[float], list[float], list[int]]:
    """One-step-ahead sigma and ``u / sigma`` per tested return; EWMA(0.94) from the first squared return
    until ``min_obs`` returns exist, then the fitted model, refitted at the first tested bar with ``min_obs``
    earlier returns and at the first tested bar of every later session, on the ``window`` returns before it.

    ``fitted`` gives the parameters of each refit in order (the project's stored fits, whose quality
    :func:`garch_fit` checks separately); returns sigma, z and the index of every refit.
    """
    sigma, z, refits = [], [], []
    s2 = math.nan
    params: tuple[float, float, float] | None = None
    fit_session = None
    for i, r in enumerate(u):
        if i >= min_obs and session_of[i] != fit_session:
            fit_session = session_of[i]
            refits.append(i)
            params_new = [math.nan if p is None else p for p in fitted[len(refits) - 1]]  # NULL: no fit
            if all(math.isfinite(p) for p in params_new) and params_new[0] > 0:
                params = (params_new[0], params_new[1], params_new[2])
                y = np.array(u[max(0, i - window): i])
                path = garch_path(*params, y * y)
                s2 = params[0] + params[1] * y[-1] ** 2 + params[2] * path[-1]
        sigma.append(math.sqrt(s2) if s2 > 0 else (0.0 if s2 == 0 else math.nan))
        z.append(r / math.sqrt(s2) if s2 > 0 else math.nan)
        if params is None:
            s2 = r * r if math.isnan(s2) else 0.94 * s2 + 0.06 * r * r
        else:
            s2 = params[0] + params[1] * r * r + params[2] * s2
    return sigma, z, refits


def vpin_lee_ready(rows: list[dict], trades: list[tuple[int, int, float]], buckets_per_day: int,
                   n: int) -> list[float]:
    """VPIN per bar with each trade's volume on its Lee-Ready side (EPO 2012 buckets filled trade by trade: a buy's
    size on the buy side, a sell's on the sell side, an unsigned trade's half each), in the buckets of
    :func:`vpin` above: V = the mean volume of up to HISTORY_SESSIONS earlier sessions / ``buckets_per_day``,
    frozen per session (none in the first), a V below the open bucket's fill closes it at its fill.

    ``rows``: the bars (``session_open_ns``, ``volume``); ``trades``: (bar index, side, size) in time order.
    """
    finished: list[float] = []
    cur_volume, session = 0.0, None
    bucket_size = math.nan
    fill = buy = 0.0
    ois: list[float] = []
    vols: list[float] = []
    last = math.nan
    out = []
    by_bar: dict[int, list[tuple[int, float]]] = {}
    for b, side, size in trades:
        by_bar.setdefault(b, []).append((side, size))

    def close(size: float) -> None:
        nonlocal fill, buy, last
        ois.append(abs(2 * buy - size))
        vols.append(size)
        fill = buy = 0.0
        if len(ois) >= n:
            last = sum(ois[-n:]) / sum(vols[-n:])

    for i, r in enumerate(rows):
        if r["session_open_ns"] != session:
            if session is not None:
                finished.append(cur_volume)
            session, cur_volume = r["session_open_ns"], 0.0
            prev = finished[-HISTORY_SESSIONS:]
            bucket_size = float(np.mean(prev)) / buckets_per_day if prev else math.nan
        cur_volume += r["volume"]
        if bucket_size > 0 and fill >= bucket_size:
            close(fill)
        for side, size in by_bar.get(i, []):
            if not bucket_size > 0:
                continue
            frac = {1: 1.0, -1: 0.0, 0: 0.5}[side]
            left = size
            while left > 0:
                room = bucket_size - fill
                if left >= room:
                    buy += room * frac
                    left -= room
                    close(bucket_size)
                else:
                    buy += left * frac
                    fill += left
                    left = 0.0
        out.append(last)
    return out
