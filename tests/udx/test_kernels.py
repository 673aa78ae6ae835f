"""BNS, trade-intensity z and VPIN: spec vectors (spec/signals.md §3, §6.4, §7), twins, naive references."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from udx.bns import _bns_rolling, _bns_rolling_python, bns_stat, bns_test
from udx.intensity import _intensity, _intensity_python, intensity_zscore
from udx.vpin import B_NBUCKETS, _buckets, _new_bucket_state, bvc_buy_fraction, vpin

_spec = importlib.util.spec_from_file_location("naive", Path(__file__).resolve().parents[1] / "naive.py")
assert _spec is not None and _spec.loader is not None
naive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naive)

R = [0.001, -0.002, 0.0015, 0.0005, -0.001, 0.012, -0.0008, 0.0011, -0.0004, 0.0009]

# spec §3.3 sanity vector [COMPUTED]: (form, bv) -> value, IQ = TP
BNS_VECTOR = {("linear", "hf"): 12.034255, ("ratio", "hf"): 2.842047, ("log", "hf"): 4.897107,
              ("linear", "ht"): 11.464884, ("log", "ht"): 4.470162, ("ratio", "ht"): 2.707582}

# spec §6.4 VPIN sanity vector [COMPUTED]
CLOSES = [100.00, 100.02, 100.01, 100.05, 100.04, 100.10, 100.08, 100.08, 100.15, 100.12, 100.20, 100.18, 100.25]
VOLUMES = [60, 30, 80, 50, 120, 40, 70, 90, 30, 60, 110, 60]
SIGMA = 0.0410007391
FRACS = [0.687153, 0.403655, 0.835367, 0.403655, 0.928319, 0.312847, 0.5, 0.956116, 0.232178, 0.974482,
         0.312847, 0.956116]
OI = [23.384970, 41.170631, 64.677302, 19.293325, 45.611557, 48.888851, 2.267546, 39.761640]
VPIN = [math.nan, math.nan, 0.430776, 0.417138, 0.431941, 0.379312, 0.322560, 0.303060]

_rng = np.random.default_rng(42)
_rand = _rng.normal(0, 1e-3, 700)
_jumpy = _rand.copy()
_jumpy[[100, 400]] += [0.02, -0.03]
_sparse = np.where(_rng.random(500) < 0.7, 0.0, _rng.normal(0, 1e-3, 500))
RETURN_SERIES = [np.array(R), _rand, _jumpy, _sparse, np.zeros(50), np.full(40, 1e-3)]


@pytest.mark.parametrize(("form", "bv"), sorted(BNS_VECTOR))
def test_bns_matches_the_spec_vector(form: str, bv: str) -> None:
    assert_allclose(bns_test(R, form=form, bv=bv), BNS_VECTOR[(form, bv)], atol=1e-6)
    assert_allclose(naive.bns_window(R, form, bv == "ht"), BNS_VECTOR[(form, bv)], atol=1e-6)
    assert_allclose(bns_stat(R, 10, form=form, bv=bv)[-1], BNS_VECTOR[(form, bv)], atol=1e-6)


def test_bns_edge_cases_are_nan_never_inf() -> None:
    assert math.isnan(bns_test([0.0] * 20))  # RV = 0
    assert math.isnan(bns_test([0.0, 0.01, 0.0, 0.0, 0.02, 0.0], form="log"))  # BV = 0
    assert math.isnan(bns_test([0.01, 0.02]))  # M < 3
    assert math.isnan(bns_test([0.01, 0.02, 0.03], iq="qp"))  # M < 4 with QP
    with pytest.raises(ValueError, match="form must be one of"):
        bns_test(R, form="max")
    with pytest.raises(ValueError, match="window must be an integer >= 3"):
        bns_stat(R, 2)


@pytest.mark.parametrize("series", RETURN_SERIES, ids=range(len(RETURN_SERIES)))
@pytest.mark.parametrize("window", [5, 10, 64])
def test_rolling_bns_twins_and_naive(series: np.ndarray, window: int) -> None:
    mp = max(3, window // 2)
    out_jit, out_py = np.empty(series.size), np.empty(series.size)
    _bns_rolling(series, 0, 0, window, mp, 0, True, np.zeros(6), out_jit)
    _bns_rolling_python(series, 0, 0, window, mp, 0, True, np.zeros(6), out_py)
    assert np.array_equal(out_jit, out_py, equal_nan=True)
    assert_allclose(out_jit, naive.bns_rolling(series, window, mp), rtol=1e-8, atol=1e-10)


def test_rolling_bns_in_pieces_equals_one_pass() -> None:
    one = bns_stat(_jumpy, 64)
    sums = np.zeros(6)
    parts = []
    lo = 0
    for hi in (1, 7, 64, 65, 300, _jumpy.size):
        x = _jumpy[max(0, lo - 64): hi]
        out = np.empty(hi - lo)
        _bns_rolling(x, lo - max(0, lo - 64), lo, 64, 32, 0, True, sums, out)
        parts.append(out)
        lo = hi
    assert np.array_equal(np.concatenate(parts), one, equal_nan=True)


COUNTS = [np.array([3, 5, 4, 6, 5, 20], float), _rng.poisson(5, 400).astype(float), np.zeros(100),
          np.full(90, 7.0), np.r_[np.zeros(40), np.ones(3), np.zeros(40)],
          # counts the exact integer sums cannot hold (fractions, negatives, huge): those windows use two passes
          np.r_[_rng.poisson(5, 100), 2.5, _rng.poisson(5, 100), -1.0, _rng.poisson(5, 80), 3e12,
                _rng.poisson(5, 100)].astype(float),
          _rng.poisson(3e6, 300).astype(float)]


@pytest.mark.parametrize("counts", COUNTS, ids=range(len(COUNTS)))
@pytest.mark.parametrize(("lookback", "min_periods"), [(5, 5), (60, 30), (10, 2)])
def test_intensity_twins_and_naive(counts: np.ndarray, lookback: int, min_periods: int) -> None:
    out_jit, out_py = np.empty(counts.size), np.empty(counts.size)
    _intensity(counts, 0, 0, lookback, min_periods, out_jit)
    _intensity_python(counts, 0, 0, lookback, min_periods, out_py)
    assert np.array_equal(out_jit, out_py, equal_nan=True)
    assert_allclose(out_jit, naive.intensity_zscore(counts, lookback, min_periods), rtol=1e-12)


def test_intensity_carried_counts_continue_one_pass() -> None:
    counts = np.r_[_rng.poisson(5, 150), 0.5, _rng.poisson(5, 150)].astype(float)
    one = np.empty(counts.size)
    _intensity(counts, 0, 0, 60, 30, one)
    for cut in (1, 29, 60, 149, 151, 200):
        carried = counts[max(0, cut - 60): cut]
        out = np.empty(counts.size - cut)
        _intensity(np.r_[carried, counts[cut:]], carried.size, cut, 60, 30, out)
        assert np.array_equal(out, one[cut:], equal_nan=True), cut


def test_intensity_matches_pandas_definition_and_guards() -> None:
    z = intensity_zscore([3, 5, 4, 6, 5, 20], lookback=5, min_periods=5)
    base = np.array([3, 5, 4, 6, 5.0])
    assert_allclose(z[-1], (20 - base.mean()) / base.std(ddof=1), rtol=1e-14)
    assert np.isnan(intensity_zscore(np.full(80, 4.0))).all()  # flat baseline: NaN, not inf
    with pytest.raises(ValueError, match="lookback"):
        intensity_zscore([1, 2, 3], lookback=1)


def _bucket_series(dp: np.ndarray, vol: np.ndarray, sigma: float, v: float, n: int) -> tuple[list, list]:
    """Run the bucket kernel bar by bar and collect OI and VPIN at every bucket completion."""
    bf, bi, oi, vr, hist = _new_bucket_state(n, 1000)
    ois, vps = [], []
    for i in range(dp.size):
        before = int(bi[B_NBUCKETS])
        ov, oc = np.empty(1), np.empty(1)
        _buckets(dp[i:i + 1], vol[i:i + 1], np.array([sigma]), np.array([v]), n, 1000, bf, bi, oi, vr, hist,
                 ov, oc)
        after = int(bi[B_NBUCKETS])
        for k in range(before, after):
            ois.append(oi[k % n])
            # the bar reports the VPIN of its last completed bucket; earlier ones in the same bar: None
            vps.append((ov[0] if k + 1 >= n else math.nan) if k == after - 1 else None)
    return ois, vps


def test_vpin_matches_the_spec_vector() -> None:
    dp = np.diff(CLOSES)
    assert_allclose(np.std(dp, ddof=1), SIGMA, rtol=1e-9)
    assert_allclose(bvc_buy_fraction(dp, SIGMA), FRACS, atol=1e-6)
    ois, vps = _bucket_series(dp, np.array(VOLUMES, float), SIGMA, 100.0, 3)
    assert_allclose(ois, OI, atol=1e-6)
    assert_allclose(vps, VPIN, atol=1e-6)
    n_oi, n_vp = naive.vpin_buckets(dp, VOLUMES, SIGMA, 100.0, 3)
    assert_allclose(n_oi, OI, atol=1e-6)
    assert_allclose(n_vp, VPIN, atol=1e-6)
    v, cdf = vpin(CLOSES, VOLUMES, 100.0, 3)
    assert_allclose(v[-1], 0.303060, atol=1e-6)
    assert np.isnan(cdf).all()  # the CDF needs 50 earlier values


def test_vpin_random_bars_match_naive_and_cdf_is_causal() -> None:
    rng = np.random.default_rng(3)
    closes = 100 + np.cumsum(rng.normal(0, 0.05, 3001))
    vols = rng.integers(0, 400, 3000).astype(float)
    dp = np.diff(closes)
    sigma = float(np.std(dp, ddof=1))
    ois, vps = _bucket_series(dp, vols, sigma, 150.0, 50)
    n_oi, n_vp = naive.vpin_buckets(dp, vols, sigma, 150.0, 50)
    assert_allclose(ois, n_oi[: len(ois)], rtol=1e-9)
    last = [k for k, value in enumerate(vps) if value is not None]
    assert_allclose([vps[k] for k in last], [n_vp[k] for k in last], rtol=1e-9)
    v, cdf = vpin(closes, vols, 150.0, 50, cdf_window=200)
    assert np.nanmin(v) >= 0 and np.nanmax(v) <= 1
    ok = ~np.isnan(cdf)
    assert ok.any() and (cdf[ok] >= 0).all() and (cdf[ok] <= 1).all()
    # causal: the values up to bar k do not change when later bars are dropped
    v2, cdf2 = vpin(closes[:1501], vols[:1500], 150.0, 50, sigma=sigma, cdf_window=200)
    assert np.array_equal(v2, v[:1500], equal_nan=True) and np.array_equal(cdf2, cdf[:1500], equal_nan=True)


def test_vpin_edge_cases() -> None:
    v, _ = vpin([100.0] * 201, [10.0] * 200, 50.0, 5)  # constant price: 50/50 split, OI = 0
    assert np.nanmax(v) == 0.0
    v, _ = vpin([100.0, 100.1, 100.2], [0.0, 0.0], 50.0, 1)  # no volume: no bucket
    assert np.isnan(v).all()
    with pytest.raises(ValueError, match="one more value"):
        vpin([1.0, 2.0], [1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="bucket_volume"):
        vpin([1.0, 2.0], [1.0], 0.0)
