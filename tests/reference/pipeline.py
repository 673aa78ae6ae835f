"""One symbol's ``trading_signals`` rows from its prints, every column (ACD included), with the intraday
volatility profile of :mod:`reference.profile` (flat until ``profile_min_sessions`` sessions have finished)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import acd
from . import bars as rb
from . import profile
from . import rule, stats
from .sessions import nominal_bars, sessions


@dataclass(frozen=True)
class Config:
    session: str
    bar_seconds: int
    lm_window: int
    lm_alpha: float
    bns_window: int | None
    garch_window: int
    garch_min_obs: int
    intensity_lookback: int
    intensity_min_sessions: int
    seasonal_sessions: int
    vpin_buckets_per_day: int
    intensity_half_window: int
    vpin_window: int
    vpin_cdf_window: int
    acd_window: int = 2000
    acd_min_obs: int = 500
    acd_bin_seconds: int = 1800
    profile_min_sessions: int = 10**9
    profile_bucket_minutes: int = 15


def symbol_rows(prints: list[tuple[int, float, float, bool, bool]], cfg: Config, final_before_ns: int,
                garch_fits: list[tuple[float, float, float]], acd_fits: list[tuple[float, float, float]],
                ) -> tuple[list[dict], list[np.ndarray], list[list[float]], dict]:
    """Rows of one symbol; also the window of returns of each GARCH refit and the window of adjusted
    durations of each ACD refit (``garch_fits``/``acd_fits``: the stored parameters of each refit, in order),
    and the profile of every session (:func:`reference.profile.profiles`)."""
    bar_ns = cfg.bar_seconds * 10**9
    n_per = nominal_bars(cfg.session, cfg.bar_seconds)
    rows = rb.make_bars(prints, sessions(cfg.session, prints[0][0], final_before_ns), bar_ns, final_before_ns)
    rb.tested_returns(rows, bar_ns)  # r and e do not depend on the profile
    bucket_bars = max(1, round(cfg.profile_bucket_minutes * 60 / cfg.bar_seconds))
    prof = profile.profiles(profile.session_y(rows, n_per), bucket_bars, cfg.seasonal_sessions,
                            cfg.profile_min_sessions)
    rb.tested_returns(rows, bar_ns, lambda o: None if prof[o] is None else prof[o][1])
    tested = [i for i, r in enumerate(rows) if r["tested"]]
    u = [rows[i]["u"] for i in tested]
    lm = stats.lee_mykland(u, cfg.lm_window)
    bns = stats.bns_ratio(u, cfg.bns_window or max(3, n_per))
    sigma, z, refits = stats.garch_filter(u, [rows[i]["session_open_ns"] for i in tested], cfg.garch_min_obs,
                                          cfg.garch_window, garch_fits)
    windows = [np.array(u[max(0, i - cfg.garch_window): i]) for i in refits]
    thr = _thresholds(rows, n_per, cfg)
    counts = [float(r["n_trades"]) for r in rows]
    trailing = stats.intensity_trailing(counts, cfg.intensity_lookback)
    tod = stats.intensity_time_of_day(rows, n_per, cfg.seasonal_sessions, cfg.intensity_min_sessions,
                                       cfg.intensity_half_window)
    vp, cdf = stats.vpin(rows, cfg.vpin_buckets_per_day, cfg.vpin_window, cfg.vpin_cdf_window)
    cond, surprise, acd_windows = acd.columns(rows, prints, bar_ns, n_per, cfg.acd_bin_seconds, cfg.acd_min_obs,
                                              cfg.acd_window, acd_fits)
    at = {i: k for k, i in enumerate(tested)}
    for i, row in enumerate(rows):
        k = at.get(i)
        row["lee_mykland_stat"] = lm[k] if k is not None else math.nan
        row["bns_stat"] = bns[k] if k is not None else math.nan
        row["garch_sigma"] = sigma[k] * math.sqrt(row["w"]) if k is not None else math.nan
        row["standardized_return"] = z[k] if k is not None else math.nan
        row["jump_threshold"] = thr[i]
        row["jump_detected"] = abs(row["lee_mykland_stat"]) > thr[i]
        row["trade_intensity_zscore"] = trailing[i] if tod[i] is None else tod[i]
        row["vpin"], row["vpin_cdf"] = vp[i], cdf[i]
        row["conditional_duration"], row["acd_surprise"] = cond[i], surprise[i]
        row["trading_signal"], row["signal_reason"] = rule.decide(
            row["lee_mykland_stat"], thr[i], k, row["n_priced"] > 0, cfg.lm_window, row["standardized_return"],
            row["trade_intensity_zscore"], row["vpin"], row["vpin_cdf"], alpha=cfg.lm_alpha)
    return rows, windows, acd_windows, prof



def _thresholds(rows: list[dict], n_per: int, cfg: Config) -> list[float]:
    """Per bar: the LM critical value for n = the mean number of tested bars of the previous (up to
    ``seasonal_sessions``) sessions, rounded half up and at least 3; n = bars per session before any."""
    tested: dict[int, int] = {}
    for r in rows:
        tested[r["session_open_ns"]] = tested.get(r["session_open_ns"], 0) + int(r["tested"])
    order = list(tested)
    out = []
    for r in rows:
        earlier = [tested[o] for o in order[:order.index(r["session_open_ns"])]][-cfg.seasonal_sessions:]
        n = max(3, math.floor(sum(earlier) / len(earlier) + 0.5)) if earlier else n_per
        out.append(stats.lm_threshold(n, cfg.lm_alpha))
    return out


def acd_refit_spans(rows: list[dict], prints: list[tuple[int, float, float, bool, bool]], bar_ns: int,
                    bars_per_session: int, bin_seconds: int, min_obs: int, window: int) -> list[tuple[int, int, int]]:
    """Per ACD refit, in order: the times of the events that end the first and the last adjusted duration of
    its window, and the window's size (a ``model_params`` row's ``fit_start_ns``, ``fit_end_ns``, ``n_obs``).

    The events, spells and refits of :func:`reference.acd.columns`: the distinct times of the prints that count
    in volume inside a session's emitted bars; a spell runs between consecutive events of one session and is
    adjusted when the profile of the bin it starts in (earlier sessions only) is positive; a refit at a
    session's first event once ``min_obs`` adjusted spells exist, on the trailing ``window`` of them. A spell's
    time is the event that ends it."""
    bin_ns = bin_seconds * 10**9
    n_bins = max(1, -(-(bars_per_session * bar_ns) // bin_ns))
    by_session: dict[int, list[int]] = {}
    for r in rows:
        by_session.setdefault(r["session_open_ns"], []).append(r["bar_end_ns"])
    finished: list[tuple[list[float], list[float]]] = []
    adjusted_at: list[int] = []  # the ending event's time of every adjusted spell so far
    spans = []
    for o, ends in by_session.items():
        times = sorted({p[0] for p in prints if p[4] and o <= p[0] < ends[-1]})
        if not times:
            continue
        phi = acd._profile(finished, n_bins)
        if len(adjusted_at) >= min_obs:
            w = adjusted_at[-window:]
            spans.append((w[0], w[-1], len(w)))
        sums, counts = [0.0] * n_bins, [0.0] * n_bins
        for k in range(1, len(times)):
            start_bin = min((times[k - 1] - o) // bin_ns, n_bins - 1)
            sums[start_bin] += (times[k] - times[k - 1]) / 1e9
            counts[start_bin] += 1.0
            if phi[start_bin] > 0:
                adjusted_at.append(times[k])
        finished.append((sums, counts))
    return spans
