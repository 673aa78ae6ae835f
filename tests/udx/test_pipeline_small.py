"""``udx.pipeline.process_symbol`` called directly (no storage) against the independent reference pipeline
(``tests/reference/pipeline.py``) on small inputs, so that a mutant of the pipeline is judged in a second or
two in plain Python (``UDX_DISABLE_NUMBA=1``, scripts/mutation group ``pipeline-fast``).

Why test_reference_pipeline.py is slow: it builds five symbols over six days of one-minute bars (~20,000 bars,
~90,000 prints), stores them in DuckDB and runs the whole transform, then the reference in plain Python: 30-60 s
a mutant without numba. Here: four short sessions (one hour of 60 s bars, New York time across the 2024
daylight-saving change and a weekend), three symbols of a few hundred prints, windows scaled down so that
every refit and every regime happens: GARCH from EWMA to its first fit inside the first session and refits at
each later session start, ACD refits at session starts, a U-shaped intraday profile from the second session
on (own buckets and pooled ones), the time-of-day intensity baseline from the third, VPIN buckets and their
CDF, a jump, prints that may not set a price or count in volume, prints outside the session, empty bars, a
price grid coarse enough for zero returns and VPIN ties.

Tolerances as in test_reference_pipeline.py (``reference_db.assert_rows_equal``); pieces against one pass
bit for bit (the module's promise).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from reference import acd as racd
from reference import stats
from reference.pipeline import Config, symbol_rows
from reference.profile import MIN_OBS, weighted_counts
from reference.sessions import sessions
from reference_db import assert_rows_equal
from udx.pipeline import DEFINITIONS, SignalConfig, process_symbol

NS = 10**9
SPEC = "09:30-10:30 America/New_York"  # 60 bars of 60 s; Thu 7, Fri 8, Mon 11 (after DST), Tue 12 March 2024
START = int(dt.datetime(2024, 3, 7, tzinfo=dt.UTC).timestamp()) * NS
END = START + 6 * 86_400 * NS
SESSIONS = sessions(SPEC, START, END - 1)
#: the watermark: 40 minutes into the fourth session (its later bars are not final yet)
FINAL = SESSIONS[3][0] + 40 * 60 * NS + 17 * NS
N_PER = 60


def signal_config(**changes: object) -> SignalConfig:
    cfg = SignalConfig(bar_seconds=60, session=SPEC, bars_per_session=N_PER, lm_window=10,
                       lm_threshold=stats.lm_threshold(N_PER, 0.01), bns_window=12, garch_window=60,
                       garch_min_obs=40, intensity_lookback=10, vpin_buckets_per_day=10, vpin_window=5,
                       vpin_cdf_window=20, acd_window=150, acd_min_obs=100, acd_bin_seconds=1200,
                       seasonal_sessions=2, profile_bucket_minutes=15, profile_min_sessions=1,
                       intensity_min_sessions=2)
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]


def reference_config() -> Config:
    return Config(session=SPEC, bar_seconds=60, lm_window=10, lm_alpha=0.01, bns_window=12, garch_window=60,
                  garch_min_obs=40, intensity_lookback=10, intensity_min_sessions=2, seasonal_sessions=2,
                  vpin_buckets_per_day=10, intensity_half_window=15 // 2, vpin_window=5, vpin_cdf_window=20,
                  acd_window=150, acd_min_obs=100, acd_bin_seconds=1200, profile_min_sessions=1,
                  profile_bucket_minutes=15)


def _u_shape(x: np.ndarray) -> np.ndarray:
    """Volatility multiplier over the fraction of the session elapsed (high at the open, raised at the close)."""
    return np.sqrt(0.5 + 4.0 * np.exp(-x / 0.08) + 1.5 * np.exp(-(1 - x) / 0.1))


def make_prints(seed: int, per_minute: float, vol: float, tick: float = 0.0, base: float = 100.0,
                jump: float = 0.0) -> tuple[np.ndarray, ...]:
    """``ts, px, sz, sets_price, counts_volume``: prints in each session and up to 10 minutes around it (the
    ones outside are ignored by the bars), 3 % sharing the previous print's time stamp; 85 % regular, 8 %
    volume only, 4 % neither, 3 % price only."""
    rng = np.random.default_rng(seed)
    ts_all = []
    for o, c in SESSIONS:
        n = rng.poisson(per_minute * (c - o + 20 * 60 * NS) / (60 * NS))
        ts_all.append(rng.integers(o - 10 * 60 * NS, c + 10 * 60 * NS, n))
    # prints exactly on the ACD bins' bounds (every 1,200 s from the open): a bin starts at its bound
    ts_all.append(np.array([o + k * 1200 * NS for o, _ in SESSIONS for k in (1, 2)], np.int64))
    ts = np.sort(np.concatenate(ts_all))
    same = np.flatnonzero(rng.random(ts.size - 1) < 0.03)
    ts[same + 1] = ts[same]
    opens = np.array([o for o, _ in SESSIONS])
    k = np.clip(np.searchsorted(opens, ts, side="right") - 1, 0, len(SESSIONS) - 1)
    frac = np.clip((ts - opens[k]) / (60 * 60 * NS), 0.0, 1.0)
    dt_min = np.diff(ts, prepend=ts[0]) / (60 * NS)
    logp = np.cumsum(vol * _u_shape(frac) * np.sqrt(dt_min + 1e-3) * rng.standard_normal(ts.size))
    if jump:
        logp[ts >= SESSIONS[2][0] + 31 * 60 * NS + 5 * NS] += jump
    px = base * np.exp(logp)
    if tick:
        px = np.round(px / tick) * tick
    sz = rng.integers(1, 300, ts.size).astype(np.float64)
    kind = rng.choice(4, ts.size, p=[0.85, 0.08, 0.04, 0.03])
    return ts, px, sz, (kind == 0) | (kind == 3), (kind == 0) | (kind == 1)


#: a liquid symbol with a jump in its third session, a thin one on a coarse grid (empty bars, zero returns,
#: buckets that pool), a stable one on a cent grid (zero returns, LM undefined, VPIN ties)
SYMBOLS = {"LIQ": (11, 3.0, 4e-4, 0.0, 100.0, 0.02), "THIN": (12, 1.5, 6e-4, 0.05, 100.0, 0.0),
           "FLAT": (13, 2.0, 2e-5, 0.01, 1.0, 0.0)}


def prints_of(symbol: str) -> tuple[np.ndarray, ...]:
    return make_prints(*SYMBOLS[symbol])


def as_rows(columns: dict[str, object]) -> list[dict]:
    lists = {k: (v.to_pylist() if hasattr(v, "to_pylist") else np.asarray(v).tolist())  # type: ignore[union-attr]
             for k, v in columns.items()}
    return [{k: lists[k][i] for k in lists} for i in range(len(lists["bar_end_ns"]))]


def reference_of(symbol: str, fits: list, final: int = FINAL, cfg: Config | None = None) -> tuple[list[dict], list, list, dict]:
    ts, px, sz, sp, cv = prints_of(symbol)
    prints = list(zip(ts.tolist(), px.tolist(), sz.tolist(), sp.tolist(), cv.tolist(), strict=True))
    garch = [(f.omega, f.alpha, f.beta) for f in fits if f.model == "garch11"]
    acd = [(f.omega, f.alpha, f.beta) for f in fits if f.model == "acd11"]
    return symbol_rows(prints, cfg or reference_config(), final, garch, acd)


def one_pass(symbol: str, cfg: SignalConfig | None = None, final: int = FINAL):  # noqa: ANN201
    """``process_symbol`` on all of ``symbol``'s prints in one call (not cached: mutmut maps each test to the
    functions it calls, and a test served from a cache would not be run against their mutants)."""
    ts, px, sz, sp, cv = prints_of(symbol)
    return process_symbol(ts, px, sz, cfg or signal_config(), None, final, sets_price=sp, counts_volume=cv)


def in_pieces(symbol: str, cuts: list[int], final: int = FINAL, cfg: SignalConfig | None = None):  # noqa: ANN201
    """Calls on the prints from the last bar's end up to each cut, as the transform makes them."""
    ts, px, sz, sp, cv = prints_of(symbol)
    cfg = cfg or signal_config()
    state, results = None, []
    for cut in [*cuts, final]:
        lo = 0 if state is None else int(np.searchsorted(ts, state.last_bar_end_ns, side="left"))
        hi = int(np.searchsorted(ts, cut, side="right"))
        r = process_symbol(ts[lo:hi], px[lo:hi], sz[lo:hi], cfg, state, cut, sets_price=sp[lo:hi],
                           counts_volume=cv[lo:hi])
        if r is not None:
            results.append(r)
            state = r.state
    return results


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_every_row_equals_the_reference(symbol: str) -> None:
    got = one_pass(symbol)
    want, _, _, _ = reference_of(symbol, got.fits)
    assert_rows_equal(as_rows(got.columns), want)
    # the two columns that are not stored: the session of each bar, the VPIN bucket count is a count
    assert got.columns["session_open_ns"].tolist() == [r["session_open_ns"] for r in want]


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_the_fits_are_the_references_refits_on_its_windows(symbol: str) -> None:
    """One GARCH fit per reference refit, on the reference's window (its size and likelihood at the stored
    parameters), spanning the bars of that window; ACD likewise with the window of adjusted durations."""
    got = one_pass(symbol)
    want, garch_windows, acd_windows, _ = reference_of(symbol, got.fits)
    garch = [f for f in got.fits if f.model == "garch11"]
    acd = [f for f in got.fits if f.model == "acd11"]
    assert len(garch) == len(garch_windows) and len(acd) == len(acd_windows)
    tested = [r for r in want if r["tested"]]
    _, _, refits = stats.garch_filter([r["u"] for r in tested], [r["session_open_ns"] for r in tested], 40, 60,
                                      [(f.omega, f.alpha, f.beta) for f in garch])
    for f, y, i in zip(garch, garch_windows, refits, strict=True):
        assert f.n_obs == y.size
        assert (f.fit_start_ns, f.fit_end_ns) == (tested[i - y.size]["bar_end_ns"], tested[i - 1]["bar_end_ns"])
        if math.isfinite(f.omega):
            assert math.isclose(stats.garch_loglik(np.array([f.omega, f.alpha, f.beta]), y * y), f.loglik,
                                rel_tol=1e-9)
    for f, x in zip(acd, acd_windows, strict=True):
        assert f.n_obs == len(x)
        assert f.fit_start_ns < f.fit_end_ns <= FINAL
        if math.isfinite(f.omega):
            assert math.isclose(racd.loglik(f.omega, f.alpha, f.beta, x), f.loglik, rel_tol=1e-9)


def test_the_data_hold_the_cases() -> None:
    """The comparisons above are not vacuous: refits of both models, jumps, every kind of bar."""
    liq, thin, flat = (one_pass(s) for s in SYMBOLS)
    for r in (liq, thin):
        assert sum(f.model == "garch11" for f in r.fits) >= 3
    assert sum(f.model == "acd11" for f in liq.fits) >= 2
    assert liq.columns["jump_detected"].any()
    reasons = [x for r in (liq, thin, flat) for x in r.columns["signal_reason"].to_pylist()]
    for start in ("jump", "no signal: no price-setting", "no signal: LM window not full", "no signal: |LM|",
                  "no signal: LM undefined", "no signal: first bar of the session"):
        assert any(x.startswith(start) for x in reasons), start
    assert (flat.columns["vpin"] == 0).sum() >= 2  # ties in the CDF
    assert (thin.columns["n_trades"] == 0).any()
    iz = liq.columns["trade_intensity_zscore"]
    assert np.isfinite(iz).sum() > 100
    assert any(not p.flat for p in liq.profiles) and any(not p.flat for p in thin.profiles)
    assert any(0 < p.own_buckets < 4 for p in thin.profiles + liq.profiles), [p.own_buckets for p in thin.profiles + liq.profiles]


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_the_profiles_equal_the_reference(symbol: str) -> None:
    """One profile record per session start after the first: the reference's factors (flat where it has none),
    the finished sessions behind it, the weighted returns per bucket and the buckets with 20 of their own."""
    got = one_pass(symbol)
    want, _, _, prof = reference_of(symbol, got.fits)
    opens = list(prof)
    ts, *_ = prints_of(symbol)
    counts = weighted_counts({o: _y(want, o) for o in opens}, 15, 2)
    assert [p.session_open_ns for p in got.profiles] == opens[1:]
    for k, p in enumerate(got.profiles, start=1):
        o = opens[k]
        assert p.bucket_seconds == 15 * 60
        assert p.sessions == k
        assert p.flat == (prof[o] is None)
        np.testing.assert_allclose(p.factor, [1.0] * 4 if prof[o] is None else prof[o][0], rtol=1e-12, atol=0)
        np.testing.assert_allclose(p.n_obs, counts[o], rtol=1e-12, atol=0)
        assert p.own_buckets == (0 if p.flat else sum(n >= MIN_OBS for n in counts[o]))


def _y(rows: list[dict], o: int) -> list[float]:
    from reference.profile import session_y

    return session_y(rows, N_PER)[o]


#: cuts: inside a bar, at a bar's end, in the weekend, before the first session's opening print, right
#: after a session's first bar, at the close of a session and one second after
CUTS = [SESSIONS[0][0] - 60 * NS, SESSIONS[0][0] + 5 * 60 * NS + 123, SESSIONS[0][0] + 17 * 60 * NS,
        SESSIONS[1][0] + 61 * NS, SESSIONS[1][1], SESSIONS[1][1] + NS, SESSIONS[2][0] - 86_400 * NS,
        SESSIONS[2][0] + 31 * 60 * NS + 30 * NS, SESSIONS[3][0] + 60 * NS]


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_pieces_give_the_one_pass_columns_fits_profiles_and_state(symbol: str) -> None:
    whole = one_pass(symbol)
    pieces = in_pieces(symbol, CUTS)
    assert len(pieces) >= 6
    for name, values in whole.columns.items():
        parts = [np.asarray(p.columns[name].to_pylist() if hasattr(p.columns[name], "to_pylist")
                            else p.columns[name]) for p in pieces]
        joined = np.concatenate(parts)
        want = np.asarray(values.to_pylist() if hasattr(values, "to_pylist") else values)
        if joined.dtype.kind == "f":
            np.testing.assert_array_equal(joined, want, err_msg=name)  # NaN where NaN, else bit for bit
        else:
            assert joined.tolist() == want.tolist(), name
    for model in ("garch11", "acd11"):  # NaN parameters of a failed fit: compared by their text
        assert [repr(f) for p in pieces for f in p.fits if f.model == model] == \
            [repr(f) for f in whole.fits if f.model == model], model
    got_profiles = [q for p in pieces for q in p.profiles]
    assert [q.session_open_ns for q in got_profiles] == [q.session_open_ns for q in whole.profiles]
    for q, w in zip(got_profiles, whole.profiles, strict=True):
        np.testing.assert_array_equal(q.factor, w.factor)
        np.testing.assert_array_equal(q.n_obs, w.n_obs)
        assert (q.sessions, q.own_buckets, q.flat) == (w.sessions, w.own_buckets, w.flat)
    last, full = pieces[-1].state, whole.state
    assert (last.last_bar_end_ns, last.last_close, last.n_returns) == \
        (full.last_bar_end_ns, full.last_close, full.n_returns)
    assert set(last.arrays) == set(full.arrays)
    for k in full.arrays:
        np.testing.assert_array_equal(last.arrays[k], full.arrays[k], err_msg=k)


def test_the_state_describes_the_last_bar() -> None:
    r = one_pass("LIQ")
    c = r.columns
    assert r.state.last_bar_end_ns == int(c["bar_end_ns"][-1]) <= FINAL
    assert r.state.last_close == float(c["close"][-1])
    assert r.state.n_returns == c["bar_end_ns"].size
    assert r.state.config == signal_config().fingerprint()
    want, _, _, _ = reference_of("LIQ", r.fits)
    tested = [row for row in want if row["tested"]]
    assert int(r.state.arrays["n_tested"][0]) == len(tested)
    # the carried windows: the last returns the kernels need, the last counts of the trailing intensity
    cfg = signal_config()
    assert r.state.arrays["ret"].size == max(cfg.lm_window - 1, cfg.bns_window, cfg.garch_window)
    assert r.state.arrays["counts"].tolist() == c["n_trades"][-cfg.intensity_lookback:].astype(float).tolist()
    keep = r.state.arrays["ret"].size
    np.testing.assert_allclose(r.state.arrays["ret"], [row["u"] for row in tested[-keep:]], rtol=1e-12, atol=0)
    assert r.state.arrays["ret_end"].tolist() == [row["bar_end_ns"] for row in tested[-keep:]]
    assert r.state.last_session_open_ns == SESSIONS[3][0]


def test_the_state_after_a_sessions_first_bar_names_that_session() -> None:
    whole = one_pass("LIQ").columns
    first = int(whole["bar_end_ns"][np.flatnonzero(whole["session_open_ns"] == SESSIONS[2][0])[0]])
    r = one_pass("LIQ", final=first)
    assert r.state.last_bar_end_ns == first and r.state.last_session_open_ns == SESSIONS[2][0]


def test_the_callers_state_is_left_as_it_was() -> None:
    """A state handed in twice gives the same result twice (the pipeline works on copies of its arrays)."""
    first = in_pieces("LIQ", [SESSIONS[2][0] + 10 * 60 * NS])[0].state
    before = copy.deepcopy(first.arrays)
    ts, px, sz, sp, cv = prints_of("LIQ")
    lo = int(np.searchsorted(ts, first.last_bar_end_ns, side="left"))
    again = [process_symbol(ts[lo:], px[lo:], sz[lo:], signal_config(), first, FINAL, sets_price=sp[lo:],
                            counts_volume=cv[lo:]) for _ in range(2)]
    for k, v in before.items():
        np.testing.assert_array_equal(first.arrays[k], v, err_msg=k)
    np.testing.assert_array_equal(again[0].columns["garch_sigma"], again[1].columns["garch_sigma"])
    np.testing.assert_array_equal(again[0].columns["vpin"], again[1].columns["vpin"])


def test_rule_false_leaves_out_the_signal_and_keeps_the_numbers() -> None:
    ts, px, sz, sp, cv = prints_of("LIQ")
    full = one_pass("LIQ")
    bare = process_symbol(ts, px, sz, signal_config(), None, FINAL, rule=False, sets_price=sp, counts_volume=cv)
    assert "trading_signal" not in bare.columns and "signal_reason" not in bare.columns
    assert set(full.columns) - set(bare.columns) == {"trading_signal", "signal_reason"}
    for k, v in bare.columns.items():
        np.testing.assert_array_equal(v, full.columns[k], err_msg=k)


def test_every_print_eligible_by_default() -> None:
    ts, px, sz, _, _ = prints_of("LIQ")
    cfg = signal_config()
    default = process_symbol(ts, px, sz, cfg, None, FINAL)
    ones = np.ones(ts.size, np.bool_)
    explicit = process_symbol(ts, px, sz, cfg, None, FINAL, sets_price=ones, counts_volume=ones)
    for k in ("n_trades", "volume", "close", "lee_mykland_stat", "conditional_duration", "vpin"):
        np.testing.assert_array_equal(default.columns[k], explicit.columns[k], err_msg=k)
    prints = list(zip(ts.tolist(), px.tolist(), sz.tolist(), [True] * ts.size, [True] * ts.size, strict=True))
    want, _, _, _ = symbol_rows(prints, reference_config(), FINAL,
                                [(f.omega, f.alpha, f.beta) for f in default.fits if f.model == "garch11"],
                                [(f.omega, f.alpha, f.beta) for f in default.fits if f.model == "acd11"])
    assert_rows_equal(as_rows(default.columns), want)


def test_nothing_to_compute_gives_none() -> None:
    ts, px, sz, sp, cv = prints_of("LIQ")
    cfg = signal_config()
    empty = np.empty(0, np.int64)
    assert process_symbol(empty, np.empty(0), np.empty(0), cfg, None, FINAL) is None
    # prints, but the first bar is not final yet
    first = int(ts[np.searchsorted(ts, SESSIONS[0][0])])
    k = int(np.searchsorted(ts, first + 1))
    assert process_symbol(ts[:k], px[:k], sz[:k], cfg, None, first + 1, sets_price=sp[:k],
                          counts_volume=cv[:k]) is None
    # a state whose next bar is not final: nothing new
    state = one_pass("LIQ").state
    assert process_symbol(empty, np.empty(0), np.empty(0), cfg, state, state.last_bar_end_ns + 30 * NS) is None
    # a state and no prints, the watermark past later bars: bars without prints are still written
    later = process_symbol(empty, np.empty(0), np.empty(0), cfg, state, state.last_bar_end_ns + 180 * NS + 1)
    assert later is not None and later.columns["bar_end_ns"].size == 3
    assert later.columns["n_trades"].tolist() == [0, 0, 0]
    assert later.columns["close"].tolist() == [state.last_close] * 3


def test_the_config_properties_and_fingerprint() -> None:
    cfg = signal_config()
    assert cfg.acd_bins == 3  # 60 bars of 60 s in 1,200 s bins
    assert dataclasses.replace(cfg, acd_bin_seconds=1800).acd_bins == 2  # 3,600 / 1,800
    assert dataclasses.replace(cfg, acd_bin_seconds=1700).acd_bins == 3  # ceil(2.1)
    assert dataclasses.replace(cfg, bars_per_session=1, bar_seconds=60).acd_bins == 1
    assert dataclasses.replace(cfg, bars_per_session=0).acd_bins == 1  # at least one
    assert cfg.profile_bucket_bars == 15
    assert dataclasses.replace(cfg, bar_seconds=3600).profile_bucket_bars == 1  # at least one
    assert dataclasses.replace(cfg, bar_seconds=120).profile_bucket_bars == 8  # 7.5 rounded
    assert dataclasses.replace(cfg, bar_seconds=600).profile_bucket_bars == 2  # 1.5 rounded to even
    assert dataclasses.replace(cfg, bar_seconds=400).profile_bucket_bars == 2  # 2.25
    fp = cfg.fingerprint()
    assert fp["definitions"] == DEFINITIONS == 5
    fields = {"bar_seconds": "bar_seconds", "session": "session", "lm_window": "window",
              "bns_window": "bns_window", "garch_window": "garch_window", "garch_min_obs": "garch_min_obs",
              "intensity_lookback": "intensity_lookback", "vpin_buckets_per_day": "vpin_buckets_per_day",
              "vpin_window": "vpin_window", "vpin_cdf_window": "vpin_cdf_window", "acd_window": "acd_window",
              "acd_min_obs": "acd_min_obs", "acd_bin_seconds": "acd_bin_seconds", "bns_form": "bns_form",
              "bns_bv": "bns_bv", "seasonal_sessions": "seasonal_sessions",
              "profile_bucket_minutes": "profile_bucket_minutes", "profile_min_sessions": "profile_min_sessions",
              "intensity_min_sessions": "intensity_min_sessions"}
    assert set(fp) == {"definitions", *fields.values()}
    for attr, key in fields.items():
        assert fp[key] == getattr(cfg, attr), key
        other = "x" if isinstance(getattr(cfg, attr), str) else getattr(cfg, attr) + 7
        assert dataclasses.replace(cfg, **{attr: other}).fingerprint()[key] == other, key
    from udx.signal_rule import RuleConfig

    assert dataclasses.replace(cfg, rule=RuleConfig(0.5, 1.0, 1.0, 0.05), lm_threshold=9.0).fingerprint() == fp


@pytest.mark.parametrize("changes", [{"bns_window": 7, "intensity_lookback": 5}, {"bns_window": 6, "intensity_lookback": 4}])
def test_short_windows_set_their_minimum_periods_as_the_reference(changes: dict) -> None:
    """BNS needs max(3, window // 2) returns, the trailing intensity max(2, lookback // 2) bars (odd and even
    windows, where ``/`` and ``//`` and the floors differ)."""
    got = one_pass("LIQ", signal_config(**changes))
    want, _, _, _ = reference_of("LIQ", got.fits, cfg=dataclasses.replace(reference_config(), **changes))
    assert_rows_equal(as_rows(got.columns), want)


@pytest.mark.parametrize("changes", [{"lm_window": 70}, {"bns_window": 80}, {"garch_window": 30, "garch_min_obs": 20}])
def test_pieces_carry_the_longest_window_of_returns(changes: dict) -> None:
    """The state keeps max(lm_window - 1, bns_window, garch_window) returns, whichever is longest, and pieces
    still equal one pass."""
    cfg = signal_config(**changes)
    whole = one_pass("LIQ", cfg)
    pieces = in_pieces("LIQ", CUTS, cfg=cfg)
    for name in ("lee_mykland_stat", "bns_stat", "garch_sigma", "standardized_return"):
        np.testing.assert_array_equal(np.concatenate([p.columns[name] for p in pieces]), whole.columns[name],
                                      err_msg=name)
    keep = max(cfg.lm_window - 1, cfg.bns_window, cfg.garch_window)
    assert whole.state.arrays["ret"].size == pieces[-1].state.arrays["ret"].size == keep


def test_the_settings_threshold_holds_until_a_session_has_finished() -> None:
    """``lm_threshold`` of the config (the one for ``bars_per_session`` tests) is used as given while no session
    has finished, and whenever the tested bars per session average ``bars_per_session``."""
    got = one_pass("LIQ", signal_config(lm_threshold=9.5))
    thr = got.columns["jump_threshold"]
    first = got.columns["session_open_ns"] == SESSIONS[0][0]
    assert (thr[first] == 9.5).all()
    assert (thr[~first] != 9.5).all()  # later sessions: the mean count of tested bars, below 60


def test_eligibility_flags_of_any_integer_type() -> None:
    """``sets_price`` / ``counts_volume`` are read as booleans: 0/1 integers give the rows of the booleans."""
    ts, px, sz, sp, cv = prints_of("LIQ")
    cfg = signal_config()
    flags = process_symbol(ts, px, sz, cfg, None, FINAL, sets_price=sp, counts_volume=cv)
    ints = process_symbol(ts, px, sz, cfg, None, FINAL, sets_price=sp.astype(np.uint8),
                          counts_volume=cv.astype(np.int64))
    for k in ("n_trades", "volume", "close", "lee_mykland_stat", "conditional_duration", "vpin"):
        np.testing.assert_array_equal(ints.columns[k], flags.columns[k], err_msg=k)


def test_a_lone_first_print_sessions_before_the_rest() -> None:
    """The sessions start at the first print, even when it is alone a session before the others; a symbol
    with one print gets its one bar."""
    ts, px, sz, sp, cv = prints_of("LIQ")
    rest = ts >= SESSIONS[1][0]
    lone = int(np.flatnonzero(~rest & sp & (ts >= SESSIONS[0][0]))[0])
    keep = rest.copy()
    keep[lone] = True
    got = process_symbol(ts[keep], px[keep], sz[keep], signal_config(), None, FINAL, sets_price=sp[keep],
                         counts_volume=cv[keep])
    assert got.columns["session_open_ns"][0] == SESSIONS[0][0]
    assert got.columns["bar_end_ns"][0] == SESSIONS[0][0] + ((int(ts[lone]) - SESSIONS[0][0]) // (60 * NS) + 1) * 60 * NS
    one = process_symbol(ts[lone:lone + 1], px[lone:lone + 1], sz[lone:lone + 1], signal_config(), None,
                         SESSIONS[0][1], sets_price=np.ones(1, np.bool_), counts_volume=np.ones(1, np.bool_))
    assert one.columns["n_trades"].sum() == 1 and one.columns["close"][-1] == px[lone]
    assert one.columns["bar_end_ns"][-1] == SESSIONS[0][1]  # every bar to the close
