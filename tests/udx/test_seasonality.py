"""The intraday volatility profile, tested bars and the time-of-day intensity baseline (udx/seasonality.py)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("naive", Path(__file__).resolve().parents[1] / "naive.py")
naive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naive)

from reference import stats as ref_stats  # noqa: E402
from udx import seasonality as sea  # noqa: E402
from udx.lee_mykland import default_window, lm_threshold  # noqa: E402
from udx.pipeline import SignalConfig, process_symbol  # noqa: E402
from udx.sessions import session_bounds  # noqa: E402

NS = 10**9
NY = "09:30-16:00 America/New_York"
START = 1_709_251_200 * NS  # 2024-03-01 00:00 UTC: the sessions below cross the March DST change


def _config(**kw) -> SignalConfig:
    n = 390
    return SignalConfig(bar_seconds=60, session=NY, bars_per_session=n, lm_window=default_window(n),
                        lm_threshold=lm_threshold(n, 0.01), bns_window=n, garch_min_obs=250, **kw)


def _u_shape(x: np.ndarray) -> np.ndarray:
    """Volatility multiplier over the fraction of the session (about 2.4 at the open, 1.4 at the close)."""
    v = 0.55 + 5.0 * np.exp(-x / 0.04) + 1.3 * np.exp(-(1 - x) / 0.05)
    return np.sqrt(v / np.mean(0.55 + 5.0 * np.exp(-np.linspace(0, 1, 391) / 0.04)
                               + 1.3 * np.exp(-(1 - np.linspace(0, 1, 391)) / 0.05)))


def _market(seed: int, days: int, per_minute: float, *, jumps: list[tuple[int, float]] = (),
            bad_every: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NY sessions, Poisson prints, U-shaped volatility, no jumps unless given (session index, minute, sigmas).

    ``bad_every``: every n-th print is an average-price print (not price-setting) 5 % off the market.
    """
    rng = np.random.default_rng(seed)
    opens, closes = session_bounds(NY, START, START + days * 86_400 * NS)
    ts_all, px_all = [], []
    logp = math.log(50.0)
    sigma = 0.02 / math.sqrt(390)  # per-minute
    for s, (o, c) in enumerate(zip(opens.tolist(), closes.tolist(), strict=True)):
        n = rng.poisson(per_minute * (c - o) / (60 * NS))
        t = np.sort(rng.integers(o, c, n))
        x = (t - o) / (c - o)
        dt = np.diff(t, prepend=o) / (60 * NS)
        steps = sigma * _u_shape(x) * np.sqrt(dt) * rng.standard_normal(n)
        for sess, minute, size in jumps:
            if sess == s:
                at = o + minute * 60 * NS + 30 * NS
                local = sigma * _u_shape(np.array([minute / 390]))[0]
                steps[np.searchsorted(t, at):][:1] += size * local
        path = logp + np.cumsum(steps)
        logp = path[-1] if n else logp
        ts_all.append(t)
        px_all.append(np.round(np.exp(path), 4))
    ts = np.concatenate(ts_all)
    px = np.concatenate(px_all)
    sets_price = np.ones(ts.size, np.bool_)
    if bad_every:
        sets_price[::bad_every] = False
        px[::bad_every] *= 1.05
    return ts, px, np.full(ts.size, 100.0), sets_price, np.ones(ts.size, np.bool_)


def _sessions_y(seed: int, n: int, n_pos: int, *, open_excess: float, decay: float,
                untested: float) -> list[np.ndarray]:
    """``n`` sessions of normal ``y`` by bar position with a volatile open, a share ``untested`` of NaN."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = rng.standard_normal(n_pos) * (1 + open_excess * np.exp(-np.arange(n_pos) / decay))
        y[rng.random(n_pos) < untested] = np.nan
        out.append(y)
    return out


def _profile_matches_reference(sessions: list[np.ndarray], bucket: int, depth: int) -> tuple[dict, list[float]]:
    """Fold ``sessions`` (y by bar position) into a new state, check the profile against the reference, and
    return the state and the profile by bar position."""
    n_pos = sessions[0].size
    a = sea.initial_arrays(n_pos, bucket, depth)
    for k, y in enumerate(sessions):
        sea.start_session(a, k + 1, k + 1, 1.0, bucket, depth, 2)  # folds the session in progress
        a["sea_y"][:] = y
    sea.start_session(a, 99, 99, 1.0, bucket, depth, 2)
    want = naive.intraday_profile(sessions, bucket, depth, 2)
    got = [sea._factor_at(a["sea_f"], bucket, n_pos, p) for p in range(n_pos)]  # the state keeps the buckets
    np.testing.assert_allclose(got, want, rtol=1e-12)
    return a, got


def test_the_profile_kernel_equals_its_reference_written_from_the_docstring() -> None:
    sessions = _sessions_y(11, 7, 60, open_excess=2.0, decay=8.0, untested=0.3)
    sessions[2][5] = 40.0  # a jump never enters the profile
    sessions[4][:] = np.nan  # a session too thin to be standardized
    _, got = _profile_matches_reference(sessions, 10, 6)
    assert np.mean(np.square(got)) == pytest.approx(1.0, rel=1e-12)
    assert got[0] > 1.5 * got[-1]  # the open is more volatile


def test_a_thin_bucket_truncates_at_its_mean_absolute_return_like_the_reference() -> None:
    # most positions untested: consecutive returns rarely share a bucket, so the first stage of most buckets
    # has fewer than MIN_BUCKET_PAIRS pairs and takes the mean absolute return (the daily scale cut the open)
    depth = 12
    a, _ = _profile_matches_reference(_sessions_y(5, 14, 60, open_excess=3.0, decay=6.0, untested=0.6), 3, depth)
    sums = a["sea_sums"].reshape(depth, -1, 6).sum(axis=0)
    thin = (sums[:, 1] < sea.MIN_BUCKET_PAIRS) & (sums[:, 5] >= sea.MIN_BUCKET_PAIRS)
    assert thin[:4].all()  # the branch under test is taken at the open


def test_a_return_over_less_than_half_a_bar_is_scaled_as_over_half_a_bar() -> None:
    # a flat profile, so u is the return over its elapsed time; LM against the reference from the tested returns
    ts, px, sz, sp, cv = _market(4, 6, 3.0)
    n = 390
    cfg = SignalConfig(bar_seconds=60, session=NY, bars_per_session=n, lm_window=30,
                       lm_threshold=lm_threshold(n, 0.01), bns_window=n, profile_min_sessions=10**6)
    res = process_symbol(ts, px, sz, cfg, None, int(ts[-1]) + 1, sets_price=sp, counts_volume=cv)
    opens, closes = session_bounds(NY, START, int(ts[-1]) + 1)
    rows = naive.bars(ts, px, sz, opens, closes, 60 * NS, final_before_ns=int(ts[-1]) + 1)
    first = {int(o): (int(ts[k]), float(px[k])) for o, k in zip(opens, np.searchsorted(ts, opens), strict=True)
             if k < ts.size}
    tested = naive.tested_returns(rows, first, 60 * NS)
    short = [w for _, _, w in tested if abs(w - 0.5) < 1e-12]  # flat profile: w = elapsed bars, at least 0.5
    assert len(short) > 20
    stat = np.full(len(rows), np.nan)
    stat[[i for i, _, _ in tested]] = naive.lee_mykland_stat(np.array([u for _, u, _ in tested]), 30)
    np.testing.assert_allclose(res.columns["lee_mykland_stat"], stat, rtol=1e-12, equal_nan=True)


def test_the_profile_is_flat_until_enough_sessions_have_finished() -> None:
    y = np.linspace(3, 1, 300) * (-1) ** np.arange(300)
    a = sea.initial_arrays(300, 30, 20)
    sea.start_session(a, 1, 1, 1.0, 30, 20, 3)
    for k in range(2):
        a["sea_y"][:] = y
        sea.start_session(a, k + 2, k + 2, 1.0, 30, 20, 3)
        assert np.all(a["sea_f"] == 1.0)
    a["sea_y"][:] = y
    sea.start_session(a, 9, 9, 1.0, 30, 20, 3)
    assert a["sea_f"][0] > 1.5 * a["sea_f"][-1]


def test_changing_a_later_session_changes_nothing_before_it() -> None:
    ts, px, sz, sp, cv = _market(1, 12, 20.0)
    cfg = _config()
    one = process_symbol(ts, px, sz, cfg, None, int(ts[-1]) + 1, sets_price=sp, counts_volume=cv)
    opens, _ = session_bounds(NY, START, int(ts[-1]))
    later = int(opens[6])
    px2 = px.copy()
    px2[ts >= later] *= np.exp(np.random.default_rng(2).normal(0, 0.01, int((ts >= later).sum())))
    two = process_symbol(ts, px2, sz, cfg, None, int(ts[-1]) + 1, sets_price=sp, counts_volume=cv)
    before = one.columns["bar_end_ns"] <= later
    assert 0 < before.sum() < before.size
    for name in ("lee_mykland_stat", "garch_sigma", "standardized_return", "bns_stat", "vpin",
                 "trade_intensity_zscore"):
        np.testing.assert_array_equal(one.columns[name][before], two.columns[name][before], err_msg=name)
    kept = [p for p in one.profiles if p.session_open_ns <= later]
    assert kept and all(np.array_equal(p.factor, q.factor) for p, q in zip(kept, two.profiles, strict=False))
    assert not np.array_equal(one.profiles[-1].factor, two.profiles[-1].factor)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_equals_one_pass_with_eligibility_at_random_cut_points(seed: int) -> None:
    ts, px, sz, sp, cv = _market(10 + seed, 8, 5.0, bad_every=17)
    cv[::23] = False
    cfg = _config()
    end = int(ts[-1]) + 1
    one = process_symbol(ts, px, sz, cfg, None, end, sets_price=sp, counts_volume=cv)
    rng = np.random.default_rng(seed)
    state, parts = None, []
    for cut in [*np.sort(rng.integers(int(ts[0]), end, 9)).tolist(), end]:
        lo = state.last_bar_end_ns if state is not None else 0
        sel = (ts >= lo) & (ts < cut)
        res = process_symbol(ts[sel], px[sel], sz[sel], cfg, state, cut, sets_price=sp[sel], counts_volume=cv[sel])
        if res is not None:
            state = res.state
            parts.append(res)
    for name, values in one.columns.items():
        got = np.concatenate([np.asarray(p.columns[name]) for p in parts])
        want = np.asarray(values)
        assert got.shape == want.shape and (np.array_equal(got, want, equal_nan=True) if got.dtype.kind == "f"
                                            else (got == want).all()), name
    assert [p.session_open_ns for r in parts for p in r.profiles] == [p.session_open_ns for p in one.profiles]


def test_a_bad_print_never_sets_a_close_or_a_return_and_no_flag_comes_of_it() -> None:
    ts, px, sz, sp, cv = _market(5, 6, 10.0, bad_every=50)
    res = process_symbol(ts, px, sz, _config(), None, int(ts[-1]) + 1, sets_price=sp, counts_volume=cv)
    good = set(np.round(px[sp], 4).tolist())
    assert set(np.round(res.columns["close"], 4).tolist()) <= good
    clean = process_symbol(ts[sp], px[sp], sz[sp], _config(), None, int(ts[-1]) + 1)
    np.testing.assert_array_equal(res.columns["log_return"], clean.columns["log_return"])
    assert not _flags_after_fallback(res.columns).any()


def _flags_after_fallback(c: dict, sessions: int = 3) -> np.ndarray:
    """Jump flags of the sessions after the profile's fallback (flat until ``sessions`` have finished: the
    open's volatility then looks like jumps, as it does without seasonality adjustment)."""
    opens, _ = session_bounds(NY, START, int(c["bar_end_ns"][-1]))
    return c["jump_detected"] & (c["bar_end_ns"] > opens[sessions])


def test_a_thin_null_symbol_over_several_sessions_stays_within_three_times_the_nominal_rate() -> None:
    # 320 sessions: the threshold is set for the tested bars a session holds, so the rate is near the nominal
    # 1 % and fewer sessions could not tell it from three times that (3 flags in 96 sessions happen by chance)
    flags = sessions = 0
    for seed in range(40):
        ts, px, sz, sp, cv = _market(20 + seed, 15, 0.25)
        res = process_symbol(ts, px, sz, _config(), None, int(ts[-1]) + 1, sets_price=sp, counts_volume=cv)
        c = res.columns
        empty = c["n_trades"] == 0
        assert empty.mean() > 0.5 and np.isnan(c["lee_mykland_stat"][empty]).all()
        assert not c["jump_detected"][empty].any()  # a stale price is never a jump
        flags += int(_flags_after_fallback(c).sum())
        sessions += len(np.unique(c["bar_end_ns"] // (86_400 * NS))) - 3
    assert flags <= 3 * 0.01 * sessions, (flags, sessions)


def test_injected_jumps_of_ten_local_sigmas_at_the_open_and_at_midday_are_found() -> None:
    jumps = [(8, 3, 10.0), (8, 200, -10.0), (10, 5, -10.0), (10, 180, 10.0)]
    ts, px, sz, sp, cv = _market(3, 16, 30.0, jumps=jumps)
    res = process_symbol(ts, px, sz, _config(), None, int(ts[-1]) + 1, sets_price=sp, counts_volume=cv)
    c = res.columns
    opens, _ = session_bounds(NY, START, int(ts[-1]))
    for sess, minute, size in jumps:
        end = int(opens[sess]) + (minute + 1) * 60 * NS
        i = int(np.searchsorted(c["bar_end_ns"], end))
        assert c["jump_detected"][i], (sess, minute, c["lee_mykland_stat"][i])
        assert np.sign(c["lee_mykland_stat"][i]) == np.sign(size)
    assert _flags_after_fallback(c).sum() == len(jumps)


def test_the_intensity_is_the_mid_p_z_of_the_count_against_nearby_bars_of_the_earlier_sessions() -> None:
    ts, px, sz, sp, cv = _market(8, 19, 1.0)
    cfg = _config(intensity_min_sessions=10)
    half = cfg.profile_bucket_bars // 2
    c = process_symbol(ts, px, sz, cfg, None, int(ts[-1]) + 1, sets_price=sp, counts_volume=cv).columns
    opens, _ = session_bounds(NY, START, int(ts[-1]) + 1)
    sess = np.searchsorted(opens, c["bar_end_ns"] - 1, side="right") - 1
    pos = (c["bar_end_ns"] - 1 - opens[sess]) // (60 * NS)
    first = np.r_[True, sess[1:] != sess[:-1]]  # a session's bars start at the bar of its opening print
    counts = {}  # (session, position) -> prints counted, after the session's first bar
    for s, k, n, f in zip(sess.tolist(), pos.tolist(), c["n_trades"].tolist(), first.tolist(), strict=True):
        if not f:
            counts[(s, k)] = n
    seen = sorted(set(sess.tolist()))
    checked = fired = 0
    for i, (s, k) in enumerate(zip(sess.tolist(), pos.tolist(), strict=True)):
        earlier = [e for e in seen if e < s][-20:]
        if len(earlier) < 10:
            continue
        base = [counts[(e, q)] for e in earlier for q in range(k - half, k + half + 1) if (e, q) in counts]
        mean = sum(base) / len(base)
        var = max(sum((v - mean) ** 2 for v in base) / (len(base) - 1), mean) * (1 + 1 / len(base))
        want = ref_stats.count_midp_z(c["n_trades"][i], mean, var, bool(first[i]))
        got = c["trade_intensity_zscore"][i]
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (s, k)
        checked += 1
        fired += got >= 2.0
    assert checked > 1000
    assert 0.005 < fired / checked < 0.05  # about the normal 2.3 % above 2, at one print a minute


