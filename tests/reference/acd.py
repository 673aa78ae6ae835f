"""ACD(1,1) of Engle & Russell (1998) on diurnally adjusted trade durations, as ``spec/signals.md`` §5 and the
README's "Signals" table (``conditional_duration``, ``acd_surprise``) describe it.

- Model: ``x_i = ψ_i ε_i``, ``E ε = 1``, ``ψ_i = ω + α x_{i-1} + β ψ_{i-1}``; exponential QML
  ``ℓ = Σ_i (-ln ψ_i - x_i/ψ_i)`` (§5.1). The first ψ is arch's initialisation (§5.2):
  ``ψ_1 = ω + (α + β) b``, ``b`` the 0.94-weighted mean of the first min(75, T) durations.
- Events: distinct timestamps of the prints that count in volume (same-timestamp prints are one event, §5.5),
  inside the session's emitted bars; a duration runs between consecutive events of one session (the first
  event of a session starts the clock).
- Diurnal profile (causal): per bin of ``bin_seconds`` from the session open (the last bin takes the rest),
  the mean raw duration of the spells that *started* in the bin over previous sessions, each earlier session
  weighted 0.8 per session since; a bin without history takes the profile's overall mean. The adjusted duration
  is ``x / φ(bin of the spell's start)``; no profile yet (a symbol's first session): no adjusted duration.
- Filter: ``ψ = 1``, then EWMA ``0.94 ψ + 0.06 x̃`` until a fit exists; refit at a session's first event once
  ``min_obs`` adjusted durations exist, on the trailing ``window`` of them, ψ continued from the fit's path over
  that window: ``ψ_next = ω + α x̃_last + β ψ_last``.
- Per bar: ``conditional_duration = ψ_next · φ(bin of the bar's last event)`` (seconds), carried over bars
  without events; ``acd_surprise`` = mean ``x̃/ψ`` of the durations that end in the bar.

Written from those sentences, not from ``udx/acd.py``; every profile value is recomputed from the per-session
sums (no running state).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize
from scipy.signal import lfilter

from .stats import backcast

#: Weight of a finished session in the profile relative to the next one (udx/acd.py's documented constant).
PROFILE_DECAY = 0.8
EWMA = 0.94


def spec_durations() -> np.ndarray:
    """spec §5.2's simulation: T = 20000, ``default_rng(2024)``, ω 0.1, α 0.1, β 0.8, Exp(1) errors,
    ψ_0 = ω/(1-α-β), the first 1000 dropped."""
    omega, alpha, beta, n = 0.1, 0.1, 0.8, 20000
    eps = np.random.default_rng(2024).exponential(1.0, n + 1000)
    x = np.empty(n + 1000)
    psi = omega / (1 - alpha - beta)
    x[0] = psi * eps[0]
    for i in range(1, n + 1000):
        psi = omega + alpha * x[i - 1] + beta * psi
        x[i] = psi * eps[i]
    return x[1000:]


def psi_path(omega: float, alpha: float, beta: float, x: list[float] | np.ndarray) -> list[float]:
    """Conditional expected durations ψ_1..ψ_T of ``x`` under (ω, α, β), arch's initialisation."""
    b = backcast(np.asarray(x, dtype=float))
    out = []
    psi = omega + (alpha + beta) * b
    for i in range(len(x)):
        if i:
            psi = omega + alpha * x[i - 1] + beta * psi
        out.append(psi)
    return out


def loglik(omega: float, alpha: float, beta: float, x: list[float] | np.ndarray) -> float:
    """Exponential QML log-likelihood ``Σ -ln ψ_i - x_i/ψ_i``."""
    total = 0.0
    for xi, p in zip(x, psi_path(omega, alpha, beta, x), strict=True):
        if not p > 0:
            return -math.inf
        total += -math.log(p) - xi / p
    return total


def fit(x: list[float] | np.ndarray) -> tuple[tuple[float, float, float], float]:
    """QML (ω, α, β) by Nelder-Mead from ACDm's start ``(mean/10, 0.15, 0.8)`` (spec §5.1) under ω > 0,
    α, β >= 0, α + β < 1 (§5.5), and the log-likelihood."""
    x = np.asarray(x, dtype=float)
    mean = float(np.mean(x))
    b = backcast(x)

    def objective(p: np.ndarray) -> float:  # ℓ with ψ from scipy's linear filter (the loop is too slow here)
        omega, alpha, beta = p
        if omega <= 0 or alpha < 0 or beta < 0 or alpha + beta >= 1:
            return 1e10
        drive = np.concatenate(([omega + (alpha + beta) * b], omega + alpha * x[:-1]))
        psi = lfilter([1.0], [1.0, -beta], drive)
        return float(np.mean(np.log(psi) + x / psi))

    p = np.array([mean / 10, 0.15, 0.8])
    for _ in range(3):  # restarts from the last optimum: Nelder-Mead's simplex can collapse early
        p = minimize(objective, p, method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20_000, "maxfev": 40_000}).x
    return (float(p[0]), float(p[1]), float(p[2])), loglik(*p, x)


def columns(rows: list[dict], prints: list[tuple[int, float, float, bool, bool]], bar_ns: int,
            bars_per_session: int, bin_seconds: int, min_obs: int, window: int,
            fitted: list[tuple[float, float, float]]) -> tuple[list[float], list[float], list[list[float]]]:
    """``conditional_duration`` and ``acd_surprise`` per bar of ``rows`` (reference bars of one symbol), and
    the window of adjusted durations of every refit. ``fitted`` gives each refit's parameters in order (the
    project's stored fits, whose quality :func:`fit` checks separately)."""
    bin_ns = bin_seconds * 10**9
    n_bins = max(1, -(-(bars_per_session * bar_ns) // bin_ns))
    cond = [math.nan] * len(rows)
    sur: list[list[float]] = [[] for _ in rows]
    finished: list[tuple[list[float], list[float]]] = []  # per earlier session: duration sum, count per bin
    adjusted: list[float] = []
    windows: list[list[float]] = []
    psi, params = 1.0, None
    carried = math.nan
    by_session: dict[int, list[int]] = {}
    for j, r in enumerate(rows):
        by_session.setdefault(r["session_open_ns"], []).append(j)
    for o, idx in by_session.items():
        ends = [rows[j]["bar_end_ns"] for j in idx]
        times = sorted({p[0] for p in prints if p[4] and o <= p[0] < ends[-1]})
        if not times:
            for j in idx:
                cond[j] = carried
            continue
        phi = _profile(finished, n_bins)
        if len(adjusted) >= min_obs:  # refit at the session's first event
            w = adjusted[-window:]
            windows.append(w)
            omega, alpha, beta = (math.nan if v is None else v for v in fitted[len(windows) - 1])
            if math.isfinite(omega) and omega > 0 and math.isfinite(alpha + beta):
                params = (omega, alpha, beta)
                psi = omega + alpha * w[-1] + beta * psi_path(omega, alpha, beta, w)[-1]
        sums, counts = [0.0] * n_bins, [0.0] * n_bins
        bar_of = [next(k for k, e in zip(idx, ends, strict=True) if t < e) for t in times]
        last_cond = {}
        for k, t in enumerate(times):
            if k:
                start_bin = min((times[k - 1] - o) // bin_ns, n_bins - 1)
                x = (t - times[k - 1]) / 1e9
                sums[start_bin] += x
                counts[start_bin] += 1.0
                f = phi[start_bin]
                if f > 0:
                    xa = x / f
                    sur[bar_of[k]].append(xa / psi)
                    adjusted.append(xa)
                    psi = (EWMA * psi + (1 - EWMA) * xa if params is None
                           else params[0] + params[1] * xa + params[2] * psi)
            f_now = phi[min((t - o) // bin_ns, n_bins - 1)]
            last_cond[bar_of[k]] = psi * f_now if f_now > 0 else math.nan
        for j in idx:
            carried = last_cond.get(j, carried)
            cond[j] = carried
        finished.append((sums, counts))
    surprise = [sum(s) / len(s) if s else math.nan for s in sur]
    return cond, surprise, windows


def _profile(finished: list[tuple[list[float], list[float]]], n_bins: int) -> list[float]:
    """φ per bin from the finished sessions (NaN everywhere without any)."""
    if not finished:
        return [math.nan] * n_bins
    weights = [PROFILE_DECAY ** (len(finished) - 1 - k) for k in range(len(finished))]
    s = [sum(w * f[0][b] for w, f in zip(weights, finished, strict=True)) for b in range(n_bins)]
    c = [sum(w * f[1][b] for w, f in zip(weights, finished, strict=True)) for b in range(n_bins)]
    overall = sum(s) / sum(c) if sum(c) > 0 else math.nan
    return [s[b] / c[b] if c[b] > 0 else overall for b in range(n_bins)]
