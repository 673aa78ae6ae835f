"""Every signal of one symbol, incrementally: trades → bars → LM, BNS, GARCH, intensity, VPIN, ACD → rule.

:func:`process_symbol` is pure (no storage): given the symbol's trades since its last emitted bar, the
:class:`SignalConfig` and the carried :class:`udx.state.SymbolState`, it returns the new bars with every
``trading_signals`` column, the model fits made on the way and the state to carry. Splitting a trade stream
into pieces and calling it on each piece with the state of the previous call gives bit-identical results to
one call: every kernel walks the concatenation of the carried tail and the new values in the same order, the
windows it needs are in the state, and refits happen at positions fixed by the data (the first bar or event
of a session once enough observations exist), on windows that end before that bar or event.

**Eligible prints and tested bars** (:mod:`udx.bars`, :mod:`udx.seasonality`): only prints that may set the
last-sale price set closes; ``n_trades``, volume and VWAP count the prints that update volume. Lee-Mykland, BNS
and GARCH run on the series of *tested* bars only, each return divided by the square root of the intraday
volatility profile integrated over its elapsed time (``u``); the other bars get NaN statistics and are never
flagged. The Lee-Mykland critical value is the one for the number of tests a session holds (Lee & Mykland 2008:
the level is that of the largest of n statistics): the mean count of tested bars of the previous finished
sessions, ``bars_per_session`` until one has finished. VPIN classifies with the equally scaled price change; the
trade-intensity baseline is nearby bars of the day over earlier sessions once enough exist.

GARCH(1,1) (:mod:`udx.garch`): per tested bar, ``garch_sigma`` is the one-step-ahead sigma of ``u`` times the
square root of the bar's profile weight (so in the bar's return units) and ``standardized_return = u / sigma_u``
(spec §8, arch's ``std_resid``). Until ``garch_min_obs`` tested returns exist sigma follows EWMA(0.94) from the
first squared return (NaN on the very first). At the first tested bar with ``garch_min_obs`` returns, and then
at the first tested bar of every later session, the model is refitted on the trailing ``garch_window`` returns
*before* that bar and the variance is continued from the new fit's arch filter over that window. Fits that do
not yield finite parameters keep the previous ones.
ACD, VPIN, BNS and intensity conventions are in their modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from udx import acd as _acd
from udx import seasonality as _season
from udx import vpin as _vp
from udx._jit import jit
from udx.bars import Bars, bars
from udx.bns import _FORMS, _bns_rolling
from udx.garch import _fit_e2, _loglik_grad, _prepare
from udx.intensity import _intensity
from udx.lee_mykland import _lm_stat_tiled, lm_threshold
from udx.sessions import session_bounds
from udx.reasons import NOT_PRICED, OPENING_ONLY, decide_arrays
from udx.signal_rule import RuleConfig
from udx.state import SymbolState

__all__ = ["DEFINITIONS", "FitRecord", "ProfileRecord", "SignalConfig", "SymbolResult", "process_symbol"]

_NONE = -(2**63)


@dataclass(frozen=True, slots=True)
class SignalConfig:
    """Parameters of every statistic for one market (see ``sql.settings`` for their meaning)."""

    bar_seconds: int
    session: str
    bars_per_session: int
    lm_window: int
    lm_threshold: float
    bns_window: int
    garch_window: int = 2000
    garch_min_obs: int = 250
    intensity_lookback: int = 60
    vpin_buckets_per_day: int = 50
    vpin_window: int = 50
    vpin_cdf_window: int = 1000
    acd_window: int = 2000
    acd_min_obs: int = 500
    acd_bin_seconds: int = 1800
    bns_form: str = "ratio"
    bns_bv: str = "ht"
    seasonal_sessions: int = 20
    profile_bucket_minutes: int = 15
    profile_min_sessions: int = 3
    intensity_min_sessions: int = 10
    rule: RuleConfig = RuleConfig()

    def fingerprint(self) -> dict[str, Any]:
        """The parameters a carried state depends on (rule thresholds excluded: they only format rows).

        ``definitions`` numbers the signal definitions themselves: it changes when a statistic's meaning
        changes (e.g. 2: eligible prints, the intraday profile, tested bars only; 3: the half-bar noise floor
        of the elapsed-time scaling, the profile's leave-bucket-out session scale and thin buckets' first stage;
        4: the time-of-day trade intensity as a negative-binomial mid-p z over a window of bar positions, the
        Lee-Mykland threshold for the tested bars a session holds; 5: Lee-Ready's tick state moves at
        price-setting prints only, so ``bar_liquidity`` / ``bar_realized_spread`` sign as the view does),
        so a state written by older code is recomputed instead of continued.
        """
        return {"definitions": DEFINITIONS, "bar_seconds": self.bar_seconds, "session": self.session,
                "window": self.lm_window, "bns_window": self.bns_window, "garch_window": self.garch_window,
                "garch_min_obs": self.garch_min_obs, "intensity_lookback": self.intensity_lookback,
                "vpin_buckets_per_day": self.vpin_buckets_per_day, "vpin_window": self.vpin_window,
                "vpin_cdf_window": self.vpin_cdf_window, "acd_window": self.acd_window,
                "acd_min_obs": self.acd_min_obs, "acd_bin_seconds": self.acd_bin_seconds,
                "bns_form": self.bns_form, "bns_bv": self.bns_bv, "seasonal_sessions": self.seasonal_sessions,
                "profile_bucket_minutes": self.profile_bucket_minutes,
                "profile_min_sessions": self.profile_min_sessions,
                "intensity_min_sessions": self.intensity_min_sessions}

    @property
    def acd_bins(self) -> int:
        return max(1, math.ceil(self.bars_per_session * self.bar_seconds / self.acd_bin_seconds))

    @property
    def profile_bucket_bars(self) -> int:
        """Bars per time-of-day bucket of the volatility profile (at least one)."""
        return max(1, round(self.profile_bucket_minutes * 60 / self.bar_seconds))


#: Version of the signal definitions (see :meth:`SignalConfig.fingerprint`).
DEFINITIONS = 5


@dataclass(frozen=True, slots=True)
class FitRecord:
    """One model fit (a ``model_params`` row without symbol, grid and time stamp)."""

    model: str
    fit_start_ns: int
    fit_end_ns: int
    n_obs: int
    omega: float
    alpha: float
    beta: float
    loglik: float
    converged: bool
    scale: float


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """The volatility profile estimated at the start of the session opening at ``session_open_ns``.

    ``factor`` and ``n_obs`` per time-of-day bucket of ``bucket_seconds``; ``sessions`` finished sessions
    behind it; ``own_buckets`` had enough returns of their own (the others pool their neighbours); ``flat``:
    the fallback, too little history.
    """

    session_open_ns: int
    bucket_seconds: int
    factor: np.ndarray
    n_obs: np.ndarray
    sessions: int
    own_buckets: int
    flat: bool


@dataclass(frozen=True, slots=True)
class SymbolResult:
    """New bars (``columns``: name → array, the ``trading_signals`` columns), fits, profiles and the state."""

    columns: dict[str, Any]
    fits: list[FitRecord]
    state: SymbolState
    profiles: list[ProfileRecord] = field(default_factory=list)


def initial_state(cfg: SignalConfig) -> dict[str, np.ndarray]:
    """Arrays of a symbol that has seen nothing yet."""
    nb = cfg.acd_bins
    return {
        "ret": np.empty(0), "ret_end": np.empty(0, np.int64), "counts": np.empty(0), "bns": np.zeros(6),
        "n_tested": np.zeros(1, np.int64),
        "garch": np.array([np.nan, np.nan, np.nan, np.nan]), "garch_i": np.array([_NONE], np.int64),
        "vp_cur": np.array([_NONE, 0], np.int64), "vp_acc": np.array([0.0, 0.0, 0.0, 0.0, np.nan, np.nan]),
        "vp_ring": np.zeros(4 * _vp.HISTORY_SESSIONS), "vb_f": np.array([0.0, 0.0, np.nan, np.nan]),
        "vb_i": np.zeros(2, np.int64), "vb_oi": np.zeros(cfg.vpin_window), "vb_vol": np.zeros(cfg.vpin_window),
        "vb_hist": np.zeros(cfg.vpin_cdf_window),
        "acd_f": np.array([1.0, np.nan, np.nan, np.nan, np.nan]),
        "acd_i": np.array([_NONE, _NONE, _NONE, 0], np.int64),
        "acd_psum": np.zeros(nb), "acd_pcnt": np.zeros(nb), "acd_csum": np.zeros(nb), "acd_ccnt": np.zeros(nb),
        "acd_x": np.empty(0), "acd_ts": np.empty(0, np.int64),
        **_season.initial_arrays(cfg.bars_per_session, cfg.profile_bucket_bars, cfg.seasonal_sessions),
    }


def process_symbol(
    ts: np.ndarray, px: np.ndarray, sz: np.ndarray, cfg: SignalConfig, state: SymbolState | None,
    final_before_ns: int, *, rule: bool = True, sets_price: np.ndarray | None = None,
    counts_volume: np.ndarray | None = None,
) -> SymbolResult | None:
    """Compute the newly final bars of one symbol; ``None`` when there are none.

    ``ts``, ``px``, ``sz`` are the symbol's trades from ``state.last_bar_end_ns`` (or the beginning) up to
    ``final_before_ns``, time-ordered, with valid prices and sizes. ``sets_price`` / ``counts_volume`` say
    per print whether it may set the last-sale price and whether it counts in volume
    (``sql.conditions.print_eligibility``; ``None``: every print does both). ``rule=False`` leaves out
    ``trading_signal`` and ``signal_reason`` (the numeric signals only, e.g. to time the kernels).
    """
    if state is None and ts.size == 0:
        return None
    price_ok = np.ones(ts.size, np.bool_) if sets_price is None else np.ascontiguousarray(sets_price, np.bool_)
    volume_ok = (np.ones(ts.size, np.bool_) if counts_volume is None
                 else np.ascontiguousarray(counts_volume, np.bool_))
    bar_ns = cfg.bar_seconds * 1_000_000_000
    lo = state.last_bar_end_ns if state is not None else int(ts[0])
    s_open, s_close = session_bounds(cfg.session, lo, final_before_ns)
    b = bars(ts, px, sz, s_open, s_close, bar_ns, final_before_ns=final_before_ns,
             resume_end_ns=None if state is None else state.last_bar_end_ns,
             resume_close=None if state is None else state.last_close, sets_price=price_ok,
             counts_volume=volume_ok)
    m = b.bar_end_ns.size
    if m == 0:
        return None
    # the carried arrays are changed in place below: copies, so the caller's state stays as it was (a new
    # symbol's arrays are made here and need none)
    a = initial_state(cfg) if state is None else {k: v.copy() for k, v in state.arrays.items()}
    n_before = state.n_returns if state is not None else 0
    # --- tested bars, their returns in units of one average bar, the profile, time-of-day intensity
    tested, u, w, ref, tod_z, tod_ok, thr, profiles = _seasonal(ts, px, price_ok, b, cfg, a)
    n_tested_before = int(a["n_tested"][0])
    # --- the tested returns behind the carried tail (LM, BNS, GARCH walk them), their bar ends and sessions
    start = a["ret"].size
    x = np.empty(start + m)
    ends = np.empty(start + m, np.int64)
    sess_t = np.empty(m, np.int64)
    n_t = _tested_series(tested, u, b.bar_end_ns, b.session_open_ns, a["ret"], a["ret_end"], x, ends, sess_t)
    x, ends, sess_t = x[:start + n_t], ends[:start + n_t], sess_t[:n_t]
    # --- Lee-Mykland and BNS over the carried tail of tested returns
    lm_t = np.empty(n_t)
    _lm_stat_tiled(x, cfg.lm_window, start, n_tested_before, lm_t)
    bns_t = np.empty(n_t)
    _bns_rolling(x, start, n_tested_before, cfg.bns_window, max(3, cfg.bns_window // 2), _FORMS[cfg.bns_form],
                 cfg.bns_bv == "ht", a["bns"], bns_t)
    # --- GARCH with refits at session starts, on the tested returns
    fits: list[FitRecord] = []
    sigma_t, z_t = _garch(x, ends, start, n_tested_before, sess_t, cfg, a, fits)
    # --- trade intensity: same time of day over earlier sessions, the trailing bars until enough exist
    counts = np.concatenate((a["counts"], b.n_trades.astype(np.float64)))
    trailing = np.empty(m)
    _intensity(counts, a["counts"].size, n_before, cfg.intensity_lookback,
               max(2, cfg.intensity_lookback // 2), trailing)
    # --- every bar's columns from the tested bars' series; VPIN's scaled price changes; the rule's order
    lm, bns, sigma, z, iz, dp, tested_f = (np.empty(m) for _ in range(7))
    flags = np.empty(m, np.bool_)
    order = np.empty(m, np.int64)
    _bar_columns(tested, lm_t, bns_t, sigma_t, z_t, w, thr, tod_ok, tod_z, trailing, b.close, ref, b.n_priced,
                 n_tested_before, lm, bns, sigma, z, flags, iz, dp, tested_f, order)
    # --- VPIN on scaled price changes of tested bars
    bucket = np.empty(m)
    sig_dp = np.empty(m)
    _vp._session_params(dp, b.volume, tested_f, b.session_open_ns,
                        float(cfg.vpin_buckets_per_day), a["vp_cur"], a["vp_acc"], a["vp_ring"], bucket, sig_dp)
    vpin = np.empty(m)
    vcdf = np.empty(m)
    _vp._buckets(dp, b.volume, sig_dp, bucket, cfg.vpin_window, cfg.vpin_cdf_window, a["vb_f"], a["vb_i"],
                 a["vb_oi"], a["vb_vol"], a["vb_hist"], vpin, vcdf)
    # --- ACD on same-timestamp-aggregated events (prints that count in volume) inside the emitted bars
    acd_ts = ts if counts_volume is None else ts[volume_ok]
    cond, surprise = _acd_bars(acd_ts, b.bar_end_ns, b.session_open_ns, cfg, a, fits)
    # --- rule
    signals, reasons = None, None
    if rule:
        signals, reasons = decide_arrays(lm, thr, first_index=order, window=cfg.lm_window, z=z, intensity=iz,
                                         vpin=vpin, vpin_cdf=vcdf, config=cfg.rule)
    keep = max(cfg.lm_window - 1, cfg.bns_window, cfg.garch_window)
    a["ret"], a["ret_end"] = x[-keep:].copy(), ends[-keep:].copy()
    a["counts"] = counts[-cfg.intensity_lookback:].copy()
    a["n_tested"][0] = n_tested_before + n_t
    r = b.log_return
    columns = {"bar_end_ns": b.bar_end_ns, "n_trades": b.n_trades, "volume": b.volume, "vwap": b.vwap,
               "close": b.close, "log_return": r, "garch_sigma": sigma, "standardized_return": z,
               "lee_mykland_stat": lm, "jump_threshold": thr, "jump_detected": flags, "bns_stat": bns,
               "trade_intensity_zscore": iz, "conditional_duration": cond, "acd_surprise": surprise,
               "vpin": vpin, "vpin_cdf": vcdf,
               "session_open_ns": b.session_open_ns, "vpin_bucket": bucket}  # the last two: not stored
    if rule:
        columns.update(trading_signal=signals, signal_reason=reasons)
    new_state = SymbolState(cfg.fingerprint(), int(b.bar_end_ns[-1]), float(b.close[-1]),
                            int(b.session_open_ns[-1]), n_before + m, a)
    return SymbolResult(columns, fits, new_state, profiles)


def _tested_series_python(tested: np.ndarray, u: np.ndarray, bar_end: np.ndarray, bar_sess: np.ndarray,
                          ret_tail: np.ndarray, end_tail: np.ndarray, x: np.ndarray, ends: np.ndarray,
                          sess: np.ndarray) -> int:
    """The carried tail of tested returns (``ret_tail``, their bar ends ``end_tail``) followed by ``u`` of the
    new tested bars into ``x`` / ``ends``, the tested bars' sessions into ``sess``; return how many bars were
    tested (``x`` and ``ends`` hold the tail and then that many, ``sess`` that many)."""
    start = ret_tail.shape[0]
    for k in range(start):
        x[k] = ret_tail[k]
        ends[k] = end_tail[k]
    n = 0
    for i in range(tested.shape[0]):
        if tested[i]:
            x[start + n] = u[i]
            ends[start + n] = bar_end[i]
            sess[n] = bar_sess[i]
            n += 1
    return n


def _bar_columns_python(tested: np.ndarray, lm_t: np.ndarray, bns_t: np.ndarray, sigma_t: np.ndarray,
                        z_t: np.ndarray, w: np.ndarray, thr: np.ndarray, tod_ok: np.ndarray, tod_z: np.ndarray,
                        trailing: np.ndarray, close: np.ndarray, ref: np.ndarray, n_priced: np.ndarray,
                        n_tested_before: int, lm: np.ndarray, bns: np.ndarray, sigma: np.ndarray, z: np.ndarray,
                        flags: np.ndarray, iz: np.ndarray, dp: np.ndarray, tested_f: np.ndarray,
                        order: np.ndarray) -> None:
    """Every bar's columns from the tested bars' series (``*_t``, one value per tested bar in bar order).

    A tested bar gets its LM and BNS statistics, ``sigma_t`` times the square root of its profile weight
    ``w`` (the bar's return units), ``z_t``, VPIN's scaled price change ``(close - ref) / sqrt(w)`` and its
    index among the symbol's tested returns; the others NaN statistics, a zero price change and
    :data:`OPENING_ONLY` (priced) or :data:`NOT_PRICED`. ``flags``: ``|lm| > thr`` (False where NaN); ``iz``:
    the time-of-day intensity z where ``tod_ok``, else the trailing one; ``tested_f``: ``tested`` as 0.0 / 1.0.
    """
    k = 0
    for i in range(tested.shape[0]):
        if tested[i]:
            s = math.sqrt(w[i])
            lm[i] = lm_t[k]
            bns[i] = bns_t[k]
            sigma[i] = sigma_t[k] * s
            z[i] = z_t[k]
            dp[i] = (close[i] - ref[i]) / s
            tested_f[i] = 1.0
            order[i] = n_tested_before + k
            k += 1
        else:
            lm[i] = np.nan
            bns[i] = np.nan
            sigma[i] = np.nan
            z[i] = np.nan
            dp[i] = 0.0
            tested_f[i] = 0.0
            order[i] = OPENING_ONLY if n_priced[i] > 0 else NOT_PRICED
        flags[i] = abs(lm[i]) > thr[i]
        iz[i] = tod_z[i] if tod_ok[i] else trailing[i]


def _seasonal(ts: np.ndarray, px: np.ndarray, price_ok: np.ndarray, b: Bars, cfg: SignalConfig,
              a: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Walk the bars session by session (:mod:`udx.seasonality`): at each new session fold the finished one
    into the profile and set the reference point to the session's opening print."""
    m = b.bar_end_ns.size
    bar_ns = cfg.bar_seconds * 1_000_000_000
    tested = np.zeros(m, np.bool_)
    tod_ok = np.zeros(m, np.bool_)
    u, w, ref, tod_z = (np.empty(m) for _ in range(4))
    thr = np.empty(m)
    profiles: list[ProfileRecord] = []
    si = a["sea_i"]
    f_bar = _season.profile_by_bar(a["sea_f"], cfg.profile_bucket_bars, cfg.bars_per_session)
    half = cfg.profile_bucket_bars // 2
    i = 0
    while True:
        base = _season.count_baseline(a, cfg.seasonal_sessions, half, cfg.intensity_min_sessions)
        thr[i:] = _threshold(_season.tests_per_session(a, cfg.seasonal_sessions, cfg.bars_per_session), cfg)
        i = _season._walk(b.bar_end_ns, b.session_open_ns, b.n_priced, b.last_price_ns, b.n_trades, b.close,
                          bar_ns, i, f_bar, a["sea_y"], *base, a["cnt_cur"], cfg.seasonal_sessions,
                          cfg.intensity_min_sessions, si,
                          a["sea_ref"], tested, u, w, ref, tod_z, tod_ok)
        if i >= m:
            break
        o = int(b.session_open_ns[i])
        k = int(np.searchsorted(ts, o, side="left"))  # the session's opening print: the first priced one
        while not price_ok[k]:
            k += 1
        new = _season.start_session(a, o, int(ts[k]), float(px[k]), cfg.profile_bucket_bars,
                                    cfg.seasonal_sessions, cfg.profile_min_sessions)
        if new is not None:
            factor, n_obs, own = new
            f_bar = _season.profile_by_bar(factor, cfg.profile_bucket_bars, cfg.bars_per_session)
            profiles.append(ProfileRecord(o, cfg.profile_bucket_bars * cfg.bar_seconds, factor, n_obs,
                                          int(si[_season.S_FINISHED]), max(own, 0), own < 0))
    return tested, u, w, ref, tod_z, tod_ok, thr, profiles


def _threshold(n_tests: int, cfg: SignalConfig) -> float:
    """The Lee-Mykland critical value for ``n_tests`` tests in a session (``lm_threshold`` of the settings is
    the one for ``bars_per_session`` tests, used until a session has finished)."""
    return cfg.lm_threshold if n_tests == cfg.bars_per_session else lm_threshold(n_tests, cfg.rule.alpha)


def _garch(x: np.ndarray, ends: np.ndarray, start: int, n_before: int, sess: np.ndarray, cfg: SignalConfig,
           a: dict[str, np.ndarray], fits: list[FitRecord]) -> tuple[np.ndarray, np.ndarray]:
    m = x.size - start
    sigma = np.empty(m)
    z = np.empty(m)
    i = 0
    while i < m:
        i = _garch_bars(x, start, i, n_before, cfg.garch_min_obs, sess, a["garch"], a["garch_i"], sigma, z)
        if i >= m:
            break
        j = start + i  # refit on the returns before bar i
        lo = max(0, j - min(n_before + i, cfg.garch_window))
        y = x[lo:j]
        e2 = y * y
        path = np.empty(y.size)  # the fitted model's variance path over the window (arch's filter)
        fit = _fit_e2(e2, float(np.var(y)), sigma2=path)
        fits.append(FitRecord("garch11", int(ends[lo]), int(ends[j - 1]), y.size, fit.omega, fit.alpha,
                              fit.beta, fit.loglik, fit.converged, fit.scale))
        a["garch_i"][0] = sess[i]
        if math.isfinite(fit.omega) and fit.omega > 0 and math.isfinite(fit.alpha + fit.beta):
            a["garch"][:] = (fit.omega, fit.alpha, fit.beta,
                             fit.omega + fit.alpha * e2[-1] + fit.beta * path[-1])
    return sigma, z


def _garch_bars_python(x: np.ndarray, start: int, i0: int, n_before: int, min_obs: int, sess: np.ndarray,
                       gf: np.ndarray, gi: np.ndarray, sigma: np.ndarray, z: np.ndarray) -> int:
    """Filter bars from ``i0``; stop at (and return) the first bar that needs a refit, else len."""
    m = x.shape[0] - start
    for i in range(i0, m):
        if n_before + i >= min_obs and gi[0] != sess[i]:
            return i
        r = x[start + i]
        s2 = gf[3]
        if s2 > 0.0:
            s = math.sqrt(s2)
            sigma[i] = s
            z[i] = r / s
        else:
            sigma[i] = 0.0 if s2 == 0.0 else np.nan
            z[i] = np.nan
        e2 = r * r
        if math.isnan(gf[0]):
            gf[3] = e2 if math.isnan(s2) else 0.94 * s2 + (1.0 - 0.94) * e2
        else:
            gf[3] = gf[0] + gf[1] * e2 + gf[2] * s2
    return m


def _acd_bars(ts: np.ndarray, bar_end: np.ndarray, bar_sess: np.ndarray, cfg: SignalConfig,
              a: dict[str, np.ndarray], fits: list[FitRecord]) -> tuple[np.ndarray, np.ndarray]:
    m = bar_end.size
    ev_ts = np.empty(ts.size, np.int64)
    ev_bar = np.empty(ts.size, np.int64)
    ev_sess = np.empty(ts.size, np.int64)
    n_ev = _acd._events_in_bars(ts, bar_end, bar_sess, ev_ts, ev_bar, ev_sess)
    ev_ts, ev_bar, ev_sess = ev_ts[:n_ev], ev_bar[:n_ev], ev_sess[:n_ev]
    adj = np.empty(n_ev)
    cond = np.full(m, np.nan)
    sur_sum = np.zeros(m)
    sur_n = np.zeros(m, np.int64)
    prev_cond = float(a["acd_f"][_acd.F_COND])
    bin_ns = cfg.acd_bin_seconds * 1_000_000_000
    window_x, window_t = a["acd_x"], a["acd_ts"]  # the trailing adjusted durations a refit uses
    e = 0
    while True:
        e_next = _acd._acd_events(ev_ts, ev_sess, ev_bar, e, bin_ns, cfg.acd_min_obs, a["acd_f"], a["acd_i"],
                                  a["acd_psum"], a["acd_pcnt"], a["acd_csum"], a["acd_ccnt"], adj, cond,
                                  sur_sum, sur_n)
        window_x, window_t = _acd._keep_last_valid(window_x, window_t, adj, ev_ts, e, e_next, cfg.acd_window)
        e = e_next
        if e >= n_ev:
            break
        fit = _acd._fit_x(window_x)
        fits.append(FitRecord("acd11", int(window_t[0]), int(window_t[-1]), window_x.size, fit.omega, fit.alpha,
                              fit.beta, fit.loglik, fit.converged, fit.scale))
        a["acd_i"][_acd.I_FIT_SESSION] = ev_sess[e]
        if math.isfinite(fit.omega) and fit.omega > 0 and math.isfinite(fit.alpha + fit.beta):
            bc, low, up = _prepare(window_x, float(np.var(np.sqrt(window_x))))
            path = np.empty(window_x.size)
            _loglik_grad(fit.omega, fit.alpha, fit.beta, window_x, bc, low, up, path, np.empty(3))
            a["acd_f"][_acd.F_OMEGA:_acd.F_BETA + 1] = (fit.omega, fit.alpha, fit.beta)
            a["acd_f"][_acd.F_PSI_NEXT] = fit.omega + fit.alpha * window_x[-1] + fit.beta * path[-1]
    a["acd_x"], a["acd_ts"] = window_x, window_t
    out = np.empty(m)
    surprise = np.empty(m)
    _acd._bar_outputs(ev_bar, cond, prev_cond, sur_sum, sur_n, out, surprise)
    return out, surprise


_garch_bars = jit(_garch_bars_python, nogil=True)
_tested_series = jit(_tested_series_python, nogil=True)
_bar_columns = jit(_bar_columns_python, nogil=True)
