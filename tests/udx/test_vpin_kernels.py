"""The transform's VPIN kernels (``_session_params``, ``_buckets``, ``_phi``) on small multi-session markets
against ``tests/reference/stats.py`` (spec/signals.md §6.4): buckets of the previous sessions' size, BVC with the
previous sessions' σ of the scaled changes of tested bars, buckets running across sessions and closing at their
fill when a new session's V is below it, VPIN over the last n buckets and its causal CDF with ties. The markets
are built to reach each branch: a first session with no volume (V = 0: no bucket), a σ from fewer than two
tested changes (NaN) and from flat prices only (0: an even split), more sessions than the history keeps, V
jumping up and down, bars that fill a bucket exactly, and VPIN values that repeat exactly (ties in the CDF).
Each market also runs in pieces with the state carried, as the transform feeds it. ``scripts/mutation vpin``
runs these in plain Python (TESTING.md)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as scipy_stats

from tests.reference import stats as ref
vp = importlib.import_module("udx.vpin")  # the module: ``udx.vpin`` is also the public function

DAY = 86_400 * 10**9


def _session(rows: list[dict], day: int, last: float, dps: np.ndarray, volumes: np.ndarray,
             tested: np.ndarray, w: np.ndarray, gap: float) -> float:
    """Append one session's bars; the first changes from the opening print ``last + gap`` (not ``last``)."""
    price = last + gap
    for d, v, t, wi in zip(dps, volumes, tested, w, strict=True):
        rows.append({"session_open_ns": day * DAY, "ref_price": price, "close": price + d * math.sqrt(wi),
                     "w": float(wi), "tested": bool(t), "volume": float(v)})
        price += d * math.sqrt(wi)
    return price


def _varied(seed: int) -> list[dict]:
    """Twelve sessions of random length, volume level e^N(0, 1.2) (V jumps both ways), 20 % empty bars,
    15 % bars not tested, profile weights 0.3-2.5, overnight gaps."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    last = 100.0
    for day in range(12):
        m = int(rng.integers(15, 45))
        level = math.exp(rng.normal(0, 1.2)) * 100
        vol = np.round(rng.exponential(level, m)) * (rng.random(m) > 0.2)
        last = _session(rows, day, last, rng.normal(0, 0.05, m), vol, rng.random(m) > 0.15,
                        rng.uniform(0.3, 2.5, m), rng.normal(0, 1.0))
    return rows


def _edges(seed: int) -> list[dict]:
    """Session 0 without volume (session 1: V = 0, no bucket); session 1 with one tested change (session 2: σ
    NaN, even split of moving prices); sessions 3-7 flat and tested (session 8: σ = 0 exactly, even split, and
    sessions 0-2 out of the five kept); then moving sessions again."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    last = 50.0
    for day in range(11):
        m = int(rng.integers(20, 35))
        vol = np.round(rng.exponential(80.0, m)) + 1
        tested = np.ones(m, bool)
        dps = rng.normal(0, 0.03, m)
        if day == 0:
            vol[:] = 0.0
            tested[:] = False
        elif day == 1:
            tested[:] = False
            tested[3] = True
        elif 3 <= day <= 7:
            dps[:] = 0.0
        last = _session(rows, day, last, dps, vol, tested, rng.uniform(0.5, 2.0, m), rng.normal(0, 0.5))
    return rows


def _ties(seed: int) -> list[dict]:
    """Every session holds 1,000 in multiples of 10 (V = 100 exactly with 10 buckets a day, so bars fill buckets
    exactly) with a bar of 500 and one of 250, each spanning several whole buckets of the same buy fraction: with
    n = 3 their VPIN values repeat exactly. Sessions 4, 6 and 8 are flat: an even split, OI 0, VPIN 0 exactly."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    last = 20.0
    for day in range(10):
        vol = 10.0 * rng.multinomial(25, np.full(25, 1 / 25))
        big = rng.choice(25, 2, replace=False)
        vol[big] = 0.0
        vol[big[0]], vol[big[1]] = 500.0, 750.0 - vol.sum()
        dps = rng.normal(0, 0.04, 25) * (day not in (4, 6, 8))
        last = _session(rows, day, last, dps, vol, np.ones(25, bool), np.ones(25), rng.normal(0, 0.3))
    return rows


MARKETS = {"varied-1": (_varied, 1, 20.0, 5, 60), "varied-2": (_varied, 2, 20.0, 3, 50),
           "edges": (_edges, 3, 8.0, 4, 55), "ties": (_ties, 4, 10.0, 3, 52)}


def _kernels(rows: list[dict], bpd: float, n: int, cdf_window: int, cuts: tuple[int, ...] = ()) -> tuple:
    """``_session_params`` then ``_buckets`` as the transform calls them, in pieces split at ``cuts``, the state
    carried; the transform's input: the scaled change of a tested bar, 0 for the others."""
    dp = np.array([(r["close"] - r["ref_price"]) / math.sqrt(r["w"]) if r["tested"] else 0.0 for r in rows])
    volume = np.array([r["volume"] for r in rows])
    tested = np.array([1.0 if r["tested"] else 0.0 for r in rows])
    sess = np.array([r["session_open_ns"] for r in rows], np.int64)
    cur = np.array([vp._NONE, 0], np.int64)
    acc = np.array([0.0, 0.0, 0.0, 0.0, np.nan, np.nan])
    ring = np.zeros(4 * vp.HISTORY_SESSIONS)
    bf, bi, oi, vr, hist = vp._new_bucket_state(n, cdf_window)
    bucket, sigma, out_v, out_c = (np.full(len(rows), -1.0) for _ in range(4))
    edges = [0, *cuts, len(rows)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        p_bucket, p_sigma, p_v, p_c = np.empty(b - a), np.empty(b - a), np.empty(b - a), np.empty(b - a)
        vp._session_params(dp[a:b], volume[a:b], tested[a:b], sess[a:b], bpd, cur, acc, ring, p_bucket, p_sigma)
        vp._buckets(dp[a:b], volume[a:b], p_sigma, p_bucket, n, cdf_window, bf, bi, oi, vr, hist, p_v, p_c)
        bucket[a:b], sigma[a:b], out_v[a:b], out_c[a:b] = p_bucket, p_sigma, p_v, p_c
    return bucket, sigma, out_v, out_c


@pytest.mark.parametrize("name", sorted(MARKETS))
def test_bucket_size_sigma_vpin_and_cdf_equal_the_reference(name: str) -> None:
    build, seed, bpd, n, cdf_window = MARKETS[name]
    rows = build(seed)
    _, want_bucket, want_sigma = ref.vpin_params(rows, bpd)
    want_v, want_c = ref.vpin(rows, bpd, n, cdf_window)
    bucket, sigma, v, c = _kernels(rows, bpd, n, cdf_window)
    assert_allclose(bucket, want_bucket, rtol=1e-13)
    assert_allclose(sigma, want_sigma, rtol=1e-9)
    assert_allclose(v, want_v, rtol=1e-10)
    assert_allclose(c, want_c, rtol=0, atol=0)
    # each market reaches what it was built for: a CDF past its window, and no bucket in the first sessions
    n_values = np.unique(np.asarray(want_v)[~np.isnan(want_v)]).size
    assert np.isfinite(want_c).sum() > cdf_window and n_values > 5
    assert np.isnan(want_v[0]) and np.isnan(v[: sum(1 for r in rows if r["session_open_ns"] == 0)]).all()


def test_the_markets_reach_the_edge_cases() -> None:
    """What the edge and tie markets are for, checked on the reference (so a change of seed cannot lose it)."""
    rows = _edges(3)
    _, size, sigma = ref.vpin_params(rows, 8.0)
    first = {r["session_open_ns"] // DAY: i for i, r in reversed(list(enumerate(rows)))}
    assert size[first[1]] == 0.0 and math.isnan(sigma[first[2]]) and sigma[first[8]] == 0.0 and size[first[2]] > 0
    v, c = ref.vpin(rows, 8.0, 4, 55)
    assert np.isnan(v[: first[2]]).all()  # V = 0 in session 1: nothing bucketed before session 2
    rows = _ties(4)
    v, c = ref.vpin(rows, 10.0, 3, 52)
    values = np.asarray(v)[np.isfinite(c)]
    cdf = np.asarray(c)[np.isfinite(c)]
    assert ((cdf > 0) & (values == 0)).any()  # a VPIN of 0 counts the earlier zeros it ties
    # a bar of 500 completes at least four buckets of V = 100, the last three of them whole inside it with the
    # bar's one buy fraction, so the VPIN it reports equals the one its bucket before gave (a tie the CDF counts)
    big = [i for i, r in enumerate(rows) if r["volume"] == 500.0 and np.isfinite(c[i])]
    assert len(big) > 3


@pytest.mark.parametrize("name", sorted(MARKETS))
def test_pieces_with_the_state_carried_equal_one_pass(name: str) -> None:
    build, seed, bpd, n, cdf_window = MARKETS[name]
    rows = build(seed)
    whole = _kernels(rows, bpd, n, cdf_window)
    starts = [i for i in range(1, len(rows)) if rows[i]["session_open_ns"] != rows[i - 1]["session_open_ns"]]
    for cuts in ((1,), (starts[1], starts[1] + 1), tuple(range(7, len(rows), 13)), (starts[2] - 1, len(rows) - 1)):
        parts = _kernels(rows, bpd, n, cdf_window, cuts)
        for got, want in zip(parts, whole, strict=True):
            assert np.array_equal(got, want, equal_nan=True), cuts


def test_a_session_whose_volume_is_below_the_open_bucket_closes_it_at_its_fill() -> None:
    """Session 1 gets V = 600 / 2 = 300 and leaves a bucket open at 250; session 2's V = (600 + 250) / 2 / 2 =
    212.5 is below it, so its first bar closes that bucket at 250 as it stands (OI = |2 f 250 - 250|, n = 1),
    then fills buckets of 212.5 (none complete here)."""
    rows: list[dict] = []
    days = ([(0.1, 300.0), (-0.05, 300.0)], [(0.02, 250.0), (0.0, 0.0), (0.0, 0.0)], [(0.0, 30.0), (0.0, 120.0)])
    last = 10.0
    for day, bars in enumerate(days):
        dps = np.array([d for d, _ in bars])
        vol = np.array([v for _, v in bars])
        last = _session(rows, day, last, dps, vol, np.ones(len(bars), bool), np.ones(len(bars)), 0.7)
    bucket, sigma, v, _ = _kernels(rows, 2.0, 1, 50)
    assert_allclose(bucket, [np.nan, np.nan, 300.0, 300.0, 300.0, 212.5, 212.5])
    s = float(np.std([0.1, -0.05], ddof=1))
    assert_allclose(sigma[2:5], s, rtol=1e-12)
    f = float(scipy_stats.norm.cdf(0.02 / s))
    assert np.isnan(v[:5]).all()
    assert_allclose(v[5:], abs(2 * f - 1), rtol=1e-12)  # |2 f 250 - 250| / 250


def test_identical_changes_give_sigma_zero_even_when_rounding_leaves_a_negative_variance() -> None:
    """Five tested changes of exactly 0.3 in session 0: their variance is 0 (numpy's two-pass std says 0 too),
    but Σd² - (Σd)²/n rounds to -5.6e-17 here; σ must be 0 (an even split in session 1), not the square root of a
    negative number."""
    rows = [{"session_open_ns": 0, "ref_price": 0.0, "close": 0.3, "w": 1.0, "tested": True, "volume": 40.0}
            for _ in range(5)]
    rows += [{"session_open_ns": DAY, "ref_price": 1.0, "close": c, "w": 1.0, "tested": True, "volume": 70.0}
             for c in (1.2, 0.9, 1.05, 0.8)]
    d = [0.3] * 5
    assert sum(x * x for x in d) - sum(d) ** 2 / 5 < 0.0  # what the kernel's running sums meet
    bucket, sigma, v, _ = _kernels(rows, 4.0, 1, 50)
    _, want_bucket, want_sigma = ref.vpin_params(rows, 4.0)
    assert want_sigma[5] == 0.0 and (sigma[5:] == 0.0).all()
    assert_allclose(bucket, want_bucket)
    assert (v[5:] == 0.0).all()  # an even split: OI 0 in every bucket of 50
    assert_allclose(v, ref.vpin(rows, 4.0, 1, 50)[0])


def test_phi_is_the_standard_normal_cdf() -> None:
    x = np.array([-37.5, -8.0, -1.96, -0.3, 0.0, 1e-9, 0.7, 1.6448536269514722, 5.0, 9.0])
    got = [vp._phi_python(float(t)) for t in x]
    assert_allclose(got, scipy_stats.norm.cdf(x), rtol=1e-12, atol=0)
    assert_allclose([vp._phi(float(t)) for t in x], got, rtol=1e-15, atol=0)
