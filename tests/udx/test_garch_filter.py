"""The transform's GARCH filter (``udx.pipeline._garch`` over ``_garch_bars``) against ``stats.garch_filter`` of
``tests/reference`` on a few small sessions: EWMA(0.94) from the first squared return until ``min_obs``
returns exist, the refit at that bar and at the first bar of every later session on the trailing ``window``
returns, sigma one step ahead (the refit bar uses the new model, its own return only the next bar), the
parameters stored per refit, and a run resumed in pieces from its carried state.

Tolerance: rtol 1e-12 (the same recursion in float64; ``1 - 0.94`` is rounded the same way on both sides up to
its last bit). The reference filters with the project's stored parameters; their quality is
``test_garch.py``'s business.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from reference import stats
from udx.pipeline import SignalConfig, _garch, initial_state

MIN_OBS, WINDOW = 60, 90


def config() -> SignalConfig:
    return SignalConfig(bar_seconds=60, session="00:00-24:00 UTC", bars_per_session=40, lm_window=10,
                        lm_threshold=4.0, bns_window=10, garch_window=WINDOW, garch_min_obs=MIN_OBS)


def returns(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) returns (ω 0.05, α 0.1, β 0.85) in sessions of 25 to 45 bars, and each one's session."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(25, 46, 8)
    n = int(sizes.sum())
    r, s2 = np.empty(n), 1.0
    for t in range(n):
        r[t] = np.sqrt(s2) * rng.standard_normal()
        s2 = 0.05 + 0.1 * r[t] ** 2 + 0.85 * s2
    sess = np.repeat(np.arange(1, sizes.size + 1, dtype=np.int64) * 10**12, sizes)
    return r, sess


def run_pieces(r: np.ndarray, sess: np.ndarray, cuts: list[int]) -> tuple[np.ndarray, np.ndarray, list]:
    """The filter over ``r`` fed in pieces, carrying the state and the trailing ``WINDOW`` returns."""
    cfg = config()
    a = initial_state(cfg)
    fits: list = []
    sig, zs = [], []
    ends = np.arange(r.size, dtype=np.int64) * 60 + 1
    for s, e in zip([0, *cuts], [*cuts, r.size], strict=True):
        lo = max(0, s - WINDOW)
        sigma, z = _garch(r[lo:e], ends[lo:e], s - lo, s, sess[s:e], cfg, a, fits)
        sig.append(sigma)
        zs.append(z)
    return np.concatenate(sig), np.concatenate(zs), fits


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigma_and_z_equal_the_reference_with_refits_at_session_starts(seed: int) -> None:
    r, sess = returns(seed)
    sigma, z, fits = run_pieces(r, sess, [])
    want_sigma, want_z, refits = stats.garch_filter(r.tolist(), sess.tolist(), MIN_OBS, WINDOW,
                                                    [(f.omega, f.alpha, f.beta) for f in fits])
    assert len(refits) == len(fits) >= 4
    assert refits[0] >= MIN_OBS and all(sess[i] != sess[i - 1] for i in refits[1:])
    assert_allclose(sigma, want_sigma, rtol=1e-12)
    assert_allclose(z, want_z, rtol=1e-12)
    assert np.isnan(sigma[0]) and sigma[1] == pytest.approx(abs(r[0]), rel=1e-15)  # EWMA from r0²
    ends = np.arange(r.size, dtype=np.int64) * 60 + 1
    for fit, i in zip(fits, refits, strict=True):
        lo = max(0, i - WINDOW)
        assert (fit.model, fit.n_obs, fit.fit_start_ns, fit.fit_end_ns) == ("garch11", i - lo, ends[lo], ends[i - 1])
        y = r[lo:i]
        assert fit.converged is True and fit.scale == pytest.approx(np.sqrt(np.mean(y * y)), rel=1e-12)
        assert fit.loglik == pytest.approx(stats.garch_loglik(np.array([fit.omega, fit.alpha, fit.beta]), y * y),
                                           rel=1e-9)


@pytest.mark.parametrize("cuts", [[1], [59, 61], [30, 95, 96, 170], list(range(7, 290, 23))])
def test_pieces_equal_one_pass(cuts: list[int]) -> None:
    r, sess = returns(3)
    one = run_pieces(r, sess, [])
    got = run_pieces(r, sess, [c for c in cuts if c < r.size])
    assert np.array_equal(got[0], one[0], equal_nan=True)
    assert np.array_equal(got[1], one[1], equal_nan=True)
    assert got[2] == one[2]


def test_leading_zero_returns_give_sigma_zero_and_no_z() -> None:
    """The EWMA starts from the first squared return: zeros give sigma 0 (not NaN) and z NaN until a nonzero
    return, as the reference says."""
    r, sess = returns(4)
    r[:6] = 0.0
    sigma, z, fits = run_pieces(r, sess, [3])
    want_sigma, want_z, _ = stats.garch_filter(r.tolist(), sess.tolist(), MIN_OBS, WINDOW,
                                               [(f.omega, f.alpha, f.beta) for f in fits])
    assert np.isnan(sigma[0]) and (sigma[1:7] == 0.0).all() and np.isnan(z[:7]).all() and sigma[7] > 0
    assert_allclose(sigma, want_sigma, rtol=1e-12)
    assert_allclose(z, want_z, rtol=1e-12)
