"""``udx.seasonality``'s kernels, in process on small markets, against ``tests/reference`` (the profile of
``reference/profile.py``, the tested returns of ``reference/bars.py``, the count z of ``reference/stats.py``) and
rules worked out by hand from the module's docstring. Seconds a run in plain Python: the mutation group
``seasonality`` judges every mutant of the module with these alone (the transform-wide tests,
``test_seasonality.py`` and ``test_reference_profile.py``, take minutes in plain Python).

The market: one-hour bars of whole-day sessions (24 positions; one session of 26 hours, as a clock change
makes, whose last bars share the last position), Poisson prints with a U-shaped volatility, a few prints close
together (returns over less than half a bar), empty bars, a jump, and every fifth print in a thin market that
does not set the price. The module's walk is driven as ``udx.pipeline._seasonal`` drives it.

Tolerances: rtol 1e-12 for the profile, ``u`` and ``w`` (the same float64 arithmetic in another order); the
count z at 1e-9 (scipy's distributions against the module's own tail sums); counts and flags exact.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from reference import bars as ref_bars
from reference import profile as ref_profile
from reference import stats as ref_stats
from udx import seasonality as sea

NS = 10**9
HOUR = 3600 * NS
N_POS = 24
T0 = 1_700_006_400 * NS  # a UTC midnight


def _sessions(n: int) -> list[tuple[int, int]]:
    """``n`` whole-day sessions with a gap day between the 3rd and 4th; the 5th lasts 26 hours."""
    out, o = [], T0
    for k in range(n):
        length = 26 * HOUR if k == 4 else 24 * HOUR
        out.append((o, o + length))
        o += length + (24 * HOUR if k == 2 else 0)
    return out


def _prints(seed: int, sessions: list[tuple[int, int]], per_bar: float, *, bad_every: int = 0,
            jump: tuple[int, int] | None = None) -> list[tuple[int, float, float, bool, bool]]:
    rng = np.random.default_rng(seed)
    out, logp = [], math.log(40.0)
    for s, (o, c) in enumerate(sessions):
        n = int(rng.poisson(per_bar * (c - o) / HOUR))
        ts = np.sort(rng.integers(o, c, n))
        ts[5:8] = ts[4] + np.array([60, 600, 1200]) * NS  # returns over far less than half a bar
        ts = np.sort(np.minimum(ts, c - 1))
        x = (ts - o) / (c - o)
        vol = 0.004 * np.sqrt(0.5 + 4.0 * np.exp(-x / 0.1) + 1.5 * np.exp(-(1 - x) / 0.1))
        dt = np.diff(ts, prepend=o) / HOUR
        steps = vol * np.sqrt(dt) * rng.standard_normal(n)
        if jump is not None and jump[0] == s:
            steps[jump[1]] += 0.2
        path = logp + np.cumsum(steps)
        logp = float(path[-1]) if n else logp
        for k, (t, p) in enumerate(zip(ts.tolist(), np.exp(path).tolist(), strict=True)):
            sets = not (bad_every and k % bad_every == 3)
            out.append((int(t), round(p, 4) if sets else p * 1.05, float(1 + k % 3), sets, True))
    out.sort(key=lambda p: p[0])
    return out


def _walk_all(rows: list[dict], prints: list, bucket: int, depth: int, min_sessions: int,
              int_min: int) -> dict:
    """Drive ``_walk`` / ``start_session`` over the reference's bars as ``udx.pipeline._seasonal`` does."""
    m = len(rows)
    ends = np.array([r["bar_end_ns"] for r in rows], np.int64)
    sess = np.array([r["session_open_ns"] for r in rows], np.int64)
    n_priced = np.array([r["n_priced"] for r in rows], np.int64)
    last_ts = np.array([r["last_price_ns"] or 0 for r in rows], np.int64)
    n_trades = np.array([r["n_trades"] for r in rows], np.int64)
    close = np.array([r["close"] for r in rows], float)
    priced = [(t, px) for t, px, _, sets, _ in prints if sets]
    out = {"tested": np.zeros(m, np.bool_), "tod_ok": np.zeros(m, np.bool_)}
    for k in ("u", "w", "ref", "tod_z"):
        out[k] = np.full(m, -7.0)
    a = sea.initial_arrays(N_POS, bucket, depth)
    f_bar = sea.profile_by_bar(a["sea_f"], bucket, N_POS)
    i, half = 0, bucket // 2
    out["profiles"], out["baselines"], out["tests"] = {}, {}, {}
    while True:
        base = sea.count_baseline(a, depth, half, int_min)
        if i < m:
            out["baselines"][int(sess[i])] = base
            out["tests"][int(sess[i])] = sea.tests_per_session(a, depth, 390)
        i = sea._walk(ends, sess, n_priced, last_ts, n_trades, close, 3600 * NS, i, f_bar, a["sea_y"], *base,
                      a["cnt_cur"], depth, int_min, a["sea_i"], a["sea_ref"], out["tested"], out["u"], out["w"],
                      out["ref"], out["tod_z"], out["tod_ok"])
        if i >= m:
            break
        o = int(sess[i])
        ts, px = next(p for p in priced if p[0] >= o)
        new = sea.start_session(a, o, ts, px, bucket, depth, min_sessions)
        if new is not None:
            f_bar = sea.profile_by_bar(new[0], bucket, N_POS)
            out["profiles"][o] = new
    out["state"] = a
    return out


def _reference_baseline(rows: list[dict], o: int, depth: int, half: int, int_min: int) -> tuple[list, list]:
    """Mean and predictive variance per position of the counts of the last ``depth`` earlier sessions at
    positions within ``half`` of it, each session's first bar left out (the module's docstring)."""
    order = sorted({r["session_open_ns"] for r in rows})
    earlier = [s for s in order if s < o][-depth:]
    if len(earlier) < int_min:
        return [math.nan], [math.nan]
    counts: dict[tuple[int, int], int] = {}
    for s in earlier:
        mine = [r for r in rows if r["session_open_ns"] == s]
        for r in mine[1:]:
            counts[(s, min(r["position"], N_POS - 1))] = r["n_trades"]
    means, variances = [], []
    for p in range(N_POS):
        base = [v for (s, q), v in counts.items() if abs(q - p) <= half]
        if len(base) < 2 or sum(base) == 0:
            means.append(math.nan)
            variances.append(math.nan)
            continue
        mean = sum(base) / len(base)
        var = sum((v - mean) ** 2 for v in base) / (len(base) - 1)
        means.append(mean)
        variances.append(max(var, mean) * (1 + 1 / len(base)))
    return means, variances


CASES = {  # name: (seed, sessions, prints per bar, bad_every, jump, bucket, depth, min_sessions, int_min)
    "busy": (1, 11, 3.0, 0, (6, 30), 4, 5, 2, 3),
    "thin": (2, 12, 1.5, 5, None, 3, 12, 3, 6),
    "one bucket": (3, 8, 2.5, 0, None, 24, 4, 1, 4),
    "uneven buckets": (4, 9, 2.0, 0, (2, 10), 5, 3, 3, 1),
    "deep": (6, 14, 3.0, 0, (9, 40), 6, 10, 3, 5),
    "last bucket of one bar": (7, 9, 2.0, 0, None, 23, 4, 2, 3),  # 24 positions = 23 + 1: `nb` rounds up
}


def _case(name: str) -> tuple:
    seed, n, rate, bad, jump, bucket, depth, min_sessions, int_min = CASES[name]
    sessions = _sessions(n)
    prints = _prints(seed, sessions, rate, bad_every=bad, jump=jump)
    rows = ref_bars.make_bars(prints, sessions, HOUR, sessions[-1][1])
    ref_bars.tested_returns(rows, HOUR)  # r and e do not depend on the profile
    ys = ref_profile.session_y(rows, N_POS)
    prof = ref_profile.profiles(ys, bucket, depth, min_sessions)
    ref_bars.tested_returns(rows, HOUR, lambda o: None if prof[o] is None else prof[o][1])
    got = _walk_all(rows, prints, bucket, depth, min_sessions, int_min)
    return name, rows, ys, prof, got, (bucket, depth, min_sessions, int_min)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_market_walked_session_by_session_equals_the_reference(name: str) -> None:
    """One test a market (mutmut maps a kernel only to the tests that call it, and a module fixture's calls to
    its first user alone): the profiles, the tested bars, the counts and baselines, the tests per session."""
    case = _case(name)
    _check_profiles(case)
    _check_tested_bars(case)
    _check_y(case)
    _check_baselines_and_z(case)
    _check_counts(case)
    _check_tests_per_session(case)


def _check_profiles(case: tuple) -> None:
    name, rows, ys, prof, got, (bucket, depth, min_sessions, _) = case
    counts = ref_profile.weighted_counts(ys, bucket, depth)
    opens = list(ys)
    nb = sea.n_buckets(N_POS, bucket)
    assert sorted(got["profiles"]) == opens[1:]  # a profile at every session start after the first
    flat = own = 0
    for o in opens[1:]:
        factor, n_obs, n_own = got["profiles"][o]
        assert_allclose(n_obs, counts[o], rtol=0, atol=0)
        if prof[o] is None:
            assert n_own == -1 and np.array_equal(factor, np.ones(factor.size))
            flat += 1
        else:
            assert_allclose(factor, prof[o][0], rtol=1e-12, atol=0)
            assert_allclose(sea.profile_by_bar(factor, bucket, N_POS), prof[o][1], rtol=1e-12, atol=0)
            assert n_own == sum(n >= sea.MIN_BUCKET_OBS for n in counts[o])
            own += n_own < factor.size  # some bucket pooled its neighbours
    if name in ("one bucket", "last bucket of one bar"):  # (almost) no pair outside the big bucket: no scale, flat
        assert flat == len(opens) - 1
    else:
        assert 0 < flat < len(opens) - 1  # flat at first, estimated later
    if name in ("busy", "thin", "uneven buckets", "deep"):
        assert own > 0
    if name == "deep":  # a deep ring: later sessions' buckets have their own values, some or all of them
        owns = [got["profiles"][o][2] for o in opens[1:]]
        assert any(0 < k < nb for k in owns) and owns[-1] == nb


def _check_tested_bars(case: tuple) -> None:
    _, rows, _, _, got, _ = case
    assert got["tested"].tolist() == [r["tested"] for r in rows]
    assert_allclose(got["u"], [r["u"] for r in rows], rtol=1e-12, atol=0, equal_nan=True)
    assert_allclose(got["w"], [r["w"] for r in rows], rtol=1e-12, atol=0, equal_nan=True)
    assert_allclose(got["ref"], [r["ref_price"] for r in rows], rtol=0, atol=0)
    short = [r for r in rows if r["tested"] and r["e"] < 0.5]
    assert len(short) >= 3 and sum(not r["tested"] and r["n_priced"] for r in rows) >= 1


def _check_y(case: tuple) -> None:
    """The last session's ``y`` by position, still in the state (the earlier ones are checked through the
    profile built from them)."""
    _, rows, ys, _, got, _ = case
    assert_allclose(got["state"]["sea_y"], ys[list(ys)[-1]], rtol=1e-13, atol=0, equal_nan=True)


def _check_baselines_and_z(case: tuple) -> None:
    _, rows, ys, _, got, (bucket, depth, _, int_min) = case
    half = bucket // 2
    checked = 0
    for o in ys:
        mean, var = got["baselines"][o]
        want_mean, want_var = _reference_baseline(rows, o, depth, half, int_min)
        assert_allclose(mean, want_mean, rtol=1e-15, atol=0, equal_nan=True)
        assert_allclose(var, want_var, rtol=1e-14, atol=0, equal_nan=True)
        finished = sum(s < o for s in ys)
        mine = [i for i, r in enumerate(rows) if r["session_open_ns"] == o]
        for k, i in enumerate(mine):
            ok = min(finished, depth) >= int_min
            assert got["tod_ok"][i] == ok
            if not ok:
                assert math.isnan(got["tod_z"][i])
                continue
            p = min(rows[i]["position"], N_POS - 1)
            want = ref_stats.count_midp_z(rows[i]["n_trades"], want_mean[p], want_var[p], k == 0)
            assert got["tod_z"][i] == pytest.approx(want, rel=1e-9, abs=1e-9, nan_ok=True), (o, k)
            checked += 1
    assert checked > 20


def _check_counts(case: tuple) -> None:
    """The ring of counts: the session's first bar marked, positions before it not reached, counts after."""
    _, rows, ys, _, got, (_, depth, _, _) = case
    a = got["state"]
    opens = list(ys)
    want_ring = np.full((depth, N_POS), sea.NOT_STARTED)
    for k, o in enumerate(opens[:-1]):
        want_ring[k % depth] = _positions(rows, o)
    assert np.array_equal(a["cnt_ring"].reshape(depth, N_POS), want_ring)
    assert np.array_equal(a["cnt_cur"], _positions(rows, opens[-1]))
    assert a["cnt_ring"].dtype == np.uint16


def _positions(rows: list[dict], o: int) -> np.ndarray:
    out = np.full(N_POS, sea.NOT_STARTED)
    mine = [r for r in rows if r["session_open_ns"] == o]
    for k, r in enumerate(mine):
        out[min(r["position"], N_POS - 1)] = sea.FIRST_BAR if k == 0 else min(r["n_trades"], sea.FIRST_BAR - 1)
    return out


def _check_tests_per_session(case: tuple) -> None:
    _, rows, ys, _, got, (_, depth, _, _) = case
    tested = {o: sum(r["tested"] for r in rows if r["session_open_ns"] == o) for o in ys}
    opens = list(ys)
    for k, o in enumerate(opens):
        earlier = [tested[s] for s in opens[:k]][-depth:]
        want = 390 if not earlier else max(3, math.floor(sum(earlier) / len(earlier) + 0.5))
        assert got["tests"][o] == want, (k, earlier)
    a = got["state"]
    assert a["sea_i"][sea.S_FINISHED] == len(opens) - 1
    assert a["sea_i"][sea.S_TESTED] == tested[opens[-1]]


@pytest.mark.parametrize(("f", "bucket", "n_pos"), [
    ([1.3], 5, 17), ([2.0, 0.5], 4, 8), ([2.0, 0.5], 4, 7), ([3.0, 1.0, 0.4, 0.2, 1.5], 6, 29),
    ([0.2, 1.0, 4.0], 3, 9), ([5.0, 1.0, 1.0, 0.1], 10, 40), ([0.5, 0.9, 1.1, 4.0], 2, 7)])
def test_the_profile_by_bar_is_the_reference_s_interpolation(f: list[float], bucket: int, n_pos: int) -> None:
    """Linear between bucket centres, extended past the edge centres with the nearest slope, not below half the
    edge bucket (the floor binds for the steep edges here), a shorter last bucket's centre in its middle."""
    got = sea.profile_by_bar(np.array(f), bucket, n_pos)
    want = [ref_profile._at(f, bucket, n_pos, p) for p in range(n_pos)]
    assert_allclose(got, want, rtol=1e-13, atol=0)
    assert got.shape == (n_pos,)


def test_the_profile_by_bar_floor_binds_at_both_edges() -> None:
    """Worked out by hand: buckets of 2 bars, centres 1 and 3, slope ∓1.5 a bar, f = (4, 1) and (1, 4): the bar
    at 0.5 extrapolates to 4 + 0.75 (kept), the one at 3.5 to 1 - 0.75 = 0.25, floored at half of 1."""
    assert_allclose(sea.profile_by_bar(np.array([4.0, 1.0]), 2, 4), [4.75, 3.25, 1.75, 0.5], rtol=1e-15)
    assert_allclose(sea.profile_by_bar(np.array([1.0, 4.0]), 2, 4), [0.5, 1.75, 3.25, 4.75], rtol=1e-15)


def test_the_initial_state_and_the_bucket_count() -> None:
    a = sea.initial_arrays(10, 4, 3)
    assert sea.n_buckets(10, 4) == 3 and sea.n_buckets(12, 4) == 3 and sea.n_buckets(13, 4) == 4
    want = {"sea_f": (np.ones(3), np.float64), "sea_y": (np.full(10, np.nan), np.float64),
            "sea_sums": (np.zeros(3 * 6 * 3), np.float64),
            "sea_i": (np.array([-(2**63), 0, 0, 0]), np.int64), "sea_ref": (np.array([np.nan]), np.float64),
            "sea_ntest": (np.zeros(3), np.int64), "cnt_ring": (np.full(30, 65535), np.uint16),
            "cnt_cur": (np.full(10, 65535), np.uint16)}
    assert sorted(a) == sorted(want)
    for key, (value, dtype) in want.items():
        assert a[key].dtype == dtype and np.array_equal(a[key], value, equal_nan=True), key
    assert sea.start_session(a, 5, 7, 2.5, 4, 3, 1) is None  # nothing to finish yet
    assert a["sea_i"].tolist() == [5, 0, 7, 0] and a["sea_ref"][0] == 2.5


def test_tests_per_session_before_any_and_at_least_three() -> None:
    a = sea.initial_arrays(10, 4, 4)
    assert sea.tests_per_session(a, 4, 123) == 123
    a["sea_i"][sea.S_FINISHED] = 2
    a["sea_ntest"][:] = [1, 2, 50, 50]  # only the first two finished: mean 1.5 -> 2, at least 3
    assert sea.tests_per_session(a, 4, 123) == 3
    a["sea_i"][sea.S_FINISHED] = 6
    a["sea_ntest"][:] = [10, 11, 11, 11]  # 10.75 -> 11
    assert sea.tests_per_session(a, 4, 123) == 11
    a["sea_ntest"][:] = [10, 11, 10, 11]  # 10.5 rounds half up
    assert sea.tests_per_session(a, 4, 123) == 11
    assert sea.tests_per_session(a, 2, 123) == 11  # depth 2: (10 + 11) / 2
    a["sea_ntest"][:] = [3, 4, 4, 4]  # 3.75 -> 4 (above the floor)
    assert sea.tests_per_session(a, 4, 123) == 4


def test_the_count_baseline_is_unused_below_its_minimum_sessions() -> None:
    a = sea.initial_arrays(6, 2, 3)
    a["sea_i"][sea.S_FINISHED] = 1
    mean, var = sea.count_baseline(a, 3, 1, 2)
    assert mean.size == 1 and var.size == 1 and math.isnan(mean[0]) and math.isnan(var[0])
    a["sea_i"][sea.S_FINISHED] = 5  # the ring holds 3: all filled by hand below
    a["cnt_ring"][:] = np.array([[65534, 2, 0, 3, 65535, 1], [65535, 65534, 4, 1, 1, 0],
                                 [65534, 0, 0, 0, 0, 0]], np.uint16).ravel()
    mean, var = sea.count_baseline(a, 3, 1, 3)
    # positions 0..5 with half 1: cells (first bars and not-reached left out), by hand
    cells = [[2, 0], [2, 0, 0, 4, 0], [2, 0, 0, 4, 0, 3, 1, 0], [0, 4, 0, 3, 1, 0, 1, 0], [3, 1, 0, 1, 0, 1, 0, 0],
             [1, 0, 1, 0, 0]]
    for p, c in enumerate(cells):
        m = sum(c) / len(c)
        v = sum((x - m) ** 2 for x in c) / (len(c) - 1)
        assert mean[p] == pytest.approx(m, rel=1e-15) and var[p] == pytest.approx(max(v, m) * (1 + 1 / len(c)),
                                                                                    rel=1e-15), p
    a["cnt_ring"][:] = np.array([[65534, 0, 0, 0, 0, 0]] * 3, np.uint16).ravel()
    mean, var = sea.count_baseline(a, 3, 1, 3)
    assert np.isnan(mean).all() and np.isnan(var).all()  # every cell 0


def test_one_session_walked_by_hand() -> None:
    """Worked out by hand from the module's docstring: bars of 100 ns, four positions, profile (1, 2, 0.5, 1.5)
    by position, the opening print at +10 (price 10). Bar 0: last print at +60 (11), elapsed exactly half a bar:
    tested, w = 1²·0.5, and it enters the profile's y. Bar 1: no price-setting print. Bar 2: last print at +270
    (12): w = 0.4·1 + 1·4 + 0.7·0.25 = 4.575 over 2.1 bars. Bar 3: last print at +290 (12.5), 0.2 bars:
    w = 0.2·0.25 scaled to half a bar (× 0.5 / 0.2), not in y. Bar 4 (the same position 3, a longer session):
    from +290 to +480: 0.1·0.25 + 1·2.25 + 0.8·2.25 (past the last position, its value). Then a bar of the next session ends the walk. Counts: the first bar
    marked, 70,000 saturated at 65,533."""
    o, nxt = 1_000, 5_000
    ends = np.array([o + 100, o + 200, o + 300, o + 400, o + 500, nxt + 100], np.int64)
    sess = np.array([o] * 5 + [nxt], np.int64)
    n_priced = np.array([1, 0, 2, 1, 1, 1], np.int64)
    last_ts = np.array([o + 60, 0, o + 270, o + 290, o + 480, nxt + 50], np.int64)
    n_trades = np.array([3, 0, 70_000, 65_532, 7, 1], np.int64)
    close = np.array([11.0, 11.0, 12.0, 12.5, 12.0, 9.0])
    f_bar = np.array([1.0, 2.0, 0.5, 1.5])
    y = np.full(4, np.nan)
    cnt = np.full(4, sea.NOT_STARTED, np.uint16)
    si = np.array([o, 7, o + 10, 0], np.int64)  # 7 finished, the ring holds 5
    sf = np.array([10.0])
    tested = np.zeros(6, np.bool_)
    tod_ok = np.ones(6, np.bool_)
    u, w, ref, tod_z = (np.full(6, -7.0) for _ in range(4))
    nan = np.full(4, np.nan)
    i = sea._walk(ends, sess, n_priced, last_ts, n_trades, close, 100, 0, f_bar, y, nan, nan, cnt, 5, 6, si, sf,
                  tested, u, w, ref, tod_z, tod_ok)
    assert i == 5
    want_w = [0.5, math.nan, 4.575, 0.05 * 0.5 / 0.2, 0.025 + 2.25 + 0.8 * 2.25]
    r = [math.log(11 / 10), math.nan, math.log(12 / 11), math.log(12.5 / 12), math.log(12 / 12.5)]
    assert tested[:5].tolist() == [True, False, True, True, True]
    assert_allclose(w[:5], want_w, rtol=1e-14, equal_nan=True)
    assert_allclose(u[:5], np.array(r) / np.sqrt(want_w), rtol=1e-14, equal_nan=True)
    assert ref[:5].tolist() == [10.0, 11.0, 11.0, 12.0, 12.5]
    assert_allclose(y, [r[0] / math.sqrt(0.5), math.nan, r[2] / math.sqrt(2.1), r[4] / math.sqrt(1.9)],
                    rtol=1e-14, equal_nan=True)
    assert cnt.tolist() == [sea.FIRST_BAR, 0, 65_533, 7]
    assert tod_ok[:5].tolist() == [False] * 5 and np.isnan(tod_z[:5]).all()  # the ring's 5 < 6 needed
    assert si.tolist() == [o, 7, o + 480, 4] and sf[0] == 12.0
    assert tested[5] == 0 and u[5] == -7.0  # the next session's bar is not touched


def _sums(per_bucket: list[tuple[float, float]]) -> np.ndarray:
    """One ring row of the module's six sums per bucket with only (Σ w z², Σ w) set."""
    row = np.zeros(6 * len(per_bucket))
    for b, (q, n) in enumerate(per_bucket):
        row[6 * b + 2], row[6 * b + 3] = q, n
    return row


@pytest.mark.parametrize(("per_bucket", "finished", "want_own"), [
    ([(10.0, 20.0), (45.0, 25.0)], 2, 2),  # exactly 20 returns and exactly min_sessions: own values
    ([(0.5, 20.0), (45.0, 25.0)], 2, 2),  # a small Σ z² is still positive
    ([(10.0, 19.0), (45.0, 25.0)], 2, 1),  # 19: pools with its neighbour
    ([(10.0, 20.0), (0.0, 0.0)], 2, 1),  # 20 in all, the last bucket empty: not flat, it borrows bucket 0's
    ([(10.0, 12.0), (9.0, 7.0)], 2, -1),  # 19 in all: flat
    ([(10.0, 20.0), (45.0, 25.0)], 1, -1),  # one session short of min_sessions: flat
    ([(0.0, 25.0), (0.0, 25.0)], 2, -1),  # no squared return at all: flat
    ([(0.5, 20.0), (0.25, 25.0)], 2, 2),  # Σ z² below 1 in all: not flat
    ([(0.0, 20.0), (45.0, 25.0)], 2, 1),  # 20 returns all zero: not its own value, pooled with its neighbour
    ([(0.5, 19.0), (0.25, 25.0)], 2, 1),  # pooled Σ z² below 1
])
def test_the_profile_from_its_sums_at_the_thresholds(per_bucket: list, finished: int, want_own: int) -> None:
    """Worked out from the docstring: WSD_j = sqrt(1.081 Σ w z² / Σ w) with at least 20 returns (else the
    neighbours pooled until 20), flat (all 1) below min_sessions or 20 returns in all, scaled to mean square one
    over the bar positions (the reference's interpolation)."""
    out, n = np.full(2, -7.0), np.full(2, -7.0)
    own = sea._profile(_sums(per_bucket), 1, 2, 4, 2, finished, out, n)
    assert own == want_own
    assert n.tolist() == [per_bucket[0][1], per_bucket[1][1]]
    if want_own < 0:
        assert out.tolist() == [1.0, 1.0]
        return
    q = [b[0] for b in per_bucket]
    k = [b[1] for b in per_bucket]
    own_value = [math.sqrt(1.081 * q[j] / k[j]) if k[j] >= 20 and q[j] > 0 else None for j in range(2)]
    pooled = math.sqrt(1.081 * sum(q) / sum(k))
    f = [v if v is not None else pooled for v in own_value]
    norm = math.sqrt(sum(ref_profile._at(f, 2, 4, p) ** 2 for p in range(4)) / 4)
    assert_allclose(out, [v / norm for v in f], rtol=1e-14)


def _session_ys(kind: str, seed: int) -> tuple[int, int, list[list[float]]]:
    """A small ring of hand-shaped sessions. ``mixed``: few returns per bucket (the first stage's mean-absolute
    and daily scales), runs of zeros (sums of exactly 0 or below 1), spikes near the truncation, gaps (NaN).
    ``thin``: buckets of 2-5 bars with their own level (e^N(0, 2): sums far below or above 1), some mostly zero,
    many gaps, so a bucket's ring holds about 10 pairs or returns, some of them all zero."""
    rng = np.random.default_rng(seed)
    thin = kind == "thin"
    bucket_bars = int(rng.integers(2, 6)) if thin else int(rng.integers(1, 4))
    n_pos = int(rng.integers(12, 31)) if thin else int(rng.integers(10, 31))
    depth = int(rng.integers(2, 7)) if thin else int(rng.integers(1, 5))
    nb = -(-n_pos // bucket_bars)
    level = np.exp(rng.normal(0.0, 2.0, nb))
    zeros = rng.random(nb) < 0.25
    ys = []
    for _ in range(depth + 3):
        if thin:
            y = rng.standard_normal(n_pos)
            for p in range(n_pos):
                y[p] *= level[p // bucket_bars]
                if zeros[p // bucket_bars] and rng.random() < 0.6:
                    y[p] = 0.0
            y[rng.random(n_pos) < rng.choice([0.2, 0.4, 0.6])] = math.nan
            y[rng.random(n_pos) < 0.1] *= rng.uniform(2.0, 6.0)
        else:
            y = rng.standard_normal(n_pos) * math.exp(rng.normal(0.0, 1.0))
            y[rng.random(n_pos) < rng.choice([0.0, 0.2, 0.5])] = math.nan
            y[rng.random(n_pos) < rng.choice([0.0, 0.0, 0.3, 0.7])] = 0.0
            y[rng.random(n_pos) < 0.1] *= rng.uniform(2.0, 6.0)
            y[rng.random(n_pos) < rng.choice([0.0, 0.5])] *= 0.05
        ys.append(y.tolist())
    return bucket_bars, depth, ys


@pytest.mark.parametrize(("kind", "seed"), [("mixed", s) for s in range(60)] + [("thin", s) for s in range(200)])
def test_each_finished_session_s_sums_equal_the_reference(kind: str, seed: int) -> None:
    """Session by session into a ring of ``depth`` rows, each finished session's row against
    ``reference/profile.py``: the first stage's sums (Σ|z z'|, pairs, Σ|z|, returns per bucket, from the session
    alone) and the second stage's (Σ z², count of the untruncated returns, given the ring's first-stage scales:
    a bucket's bipower, its mean absolute return or the pooled daily scale, 1 below 10 pairs). Counts exact;
    sums to 1e-12, for ``thin`` to 1e-6 (the module's left-out scale is a difference of sums, which loses
    digits when bucket levels differ by e^±6)."""
    bucket_bars, depth, ys = _session_ys(kind, seed)
    rtol = 1e-6 if kind == "thin" else 1e-12
    n_pos = len(ys[0])
    nb = -(-n_pos // bucket_bars)
    sums = np.full(depth * 6 * nb, -7.0)
    first = []
    for k, y in enumerate(ys):
        sea._finish_session(np.array(y), bucket_bars, sums, depth, k)
        first.append(ref_profile._stage_one(y, bucket_bars, nb))
        ring = [s for s, _ in first[max(0, k - depth + 1): k + 1]]
        second = ref_profile._stage_two(ring, first[k][1], nb)
        row = sums[(k % depth) * 6 * nb: (k % depth + 1) * 6 * nb].reshape(nb, 6)
        want = np.array(first[k][0]).reshape(nb, 4)
        assert_allclose(row[:, [0, 4]], want[:, [0, 2]], rtol=rtol, atol=1e-300, err_msg=f"session {k}")
        assert row[:, 1].tolist() == want[:, 1].tolist() and row[:, 5].tolist() == want[:, 3].tolist()
        assert row[:, 3].tolist() == [n for _, n in second], f"session {k}"
        assert_allclose(row[:, 2], [q for q, _ in second], rtol=rtol, atol=1e-300, err_msg=f"session {k}")
