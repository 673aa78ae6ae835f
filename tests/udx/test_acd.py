"""ACD(1,1): exponential QMLE = GARCH(1,1) on sqrt(durations) (spec §5.2), against arch and the spec numbers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import naive
from reference import acd
from sql.settings import Settings
from udx import acd_psi, fit_acd, garch_variance
from udx.bars import bars
from udx.pipeline import process_symbol
from udx.sessions import session_bounds
from udx.transform import signal_config

arch_model = pytest.importorskip("arch").arch_model


@pytest.fixture(scope="module")
def durations() -> np.ndarray:
    """spec §5.2: T = 20000, default_rng(2024), omega 0.1, alpha 0.1, beta 0.8, Exp(1), 1000 burn-in."""
    return acd.spec_durations()


def test_fit_matches_the_spec_numbers_with_arch_initialisation(durations: np.ndarray) -> None:
    fit = fit_acd(durations)
    assert fit.converged and fit.n_obs == 20000
    # spec §5.2 direct exponential QMLE with arch's initialisation: 0.087834, 0.092936, 0.819021
    assert_allclose([fit.omega, fit.alpha, fit.beta], [0.087834, 0.092936, 0.819021], atol=1e-4)
    assert fit.loglik >= -19490.700285 - 1e-6 * 19490.700285
    # and arch on sqrt(x): 0.087833, 0.092937, 0.819021 (LL_gauss -28124.120807)
    assert abs(fit.alpha - 0.092937) <= 1e-4 and abs(fit.beta - 0.819021) <= 1e-4
    assert_allclose((fit.loglik - 20000 * math.log(2 * math.pi)) / 2, -28124.120807, rtol=1e-8)


def test_fit_matches_arch_live_on_sqrt_durations(durations: np.ndarray) -> None:
    sub = durations[:5000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = arch_model(np.sqrt(sub), mean="Zero", vol="GARCH", rescale=False).fit(disp="off")
    fit = fit_acd(sub)
    omega, alpha, beta = res.params.to_numpy()
    ll_gauss = (fit.loglik - sub.size * math.log(2 * math.pi)) / 2
    assert ll_gauss >= res.loglikelihood - 1e-6 * abs(res.loglikelihood)
    assert abs(fit.alpha - alpha) <= 1e-3 and abs(fit.beta - beta) <= 1e-3


def test_psi_is_the_garch_variance_of_sqrt_durations(durations: np.ndarray) -> None:
    x = durations[:500]
    psi, ll = acd_psi(x, 0.1, 0.1, 0.8)
    sigma2, _ = garch_variance(np.sqrt(x), 0.1, 0.1, 0.8)
    assert_allclose(psi, sigma2, rtol=1e-12)
    assert_allclose(ll, float(np.sum(-np.log(psi) - x / psi)), rtol=1e-10)


def test_scale_free_fit_in_any_unit(durations: np.ndarray) -> None:
    sub = durations[:3000]
    a, b = fit_acd(sub), fit_acd(sub * 1e-3)  # seconds vs kiloseconds
    assert_allclose([a.alpha, a.beta], [b.alpha, b.beta], atol=1e-6)
    assert_allclose(b.omega, a.omega * 1e-3, rtol=1e-4)


def test_bad_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        fit_acd([1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match="at least 2"):
        fit_acd([1.0])


NS = 10**9


def _stock_trades(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three New York sessions (a DST change between them) of trades with a U-shaped intensity, prints that
    share a timestamp, a gap of half an hour and a few trades outside the session."""
    rng = np.random.default_rng(seed)
    opens, closes = session_bounds("09:30-16:00 America/New_York", 1_710_000_000 * NS - 3 * 86_400 * NS,
                                   1_710_000_000 * NS + 3 * 86_400 * NS)
    parts = []
    for o, c in zip(opens[:3], closes[:3], strict=True):
        t, span = int(o) - 600 * NS, int(c) - int(o)
        while t < int(c) + 600 * NS:
            u = (t - int(o)) / span
            gap = rng.exponential(4.0 if 0.15 < u < 0.85 else 1.0) * NS
            if 0.4 < u < 0.4 + 1800 / 23_400:
                gap += 1800 * NS * (rng.random() < 0.01)
            t += int(gap) if rng.random() > 0.2 else 0  # one print in five shares the previous timestamp
            parts.append(t)
    ts = np.array(parts, np.int64)
    px = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, ts.size)))
    return ts, px, np.ones(ts.size)


@pytest.mark.parametrize("cut", [None, 0.37, 0.81])
def test_bar_outputs_match_the_naive_walk_before_any_fit(cut: float | None) -> None:
    """conditional_duration and acd_surprise per bar (EWMA filter, no fit yet) against tests/naive.py, in one
    call and resumed from the carried state at a cut."""
    cfg = signal_config(Settings(_env_file=None, acd_min_obs=10**9), "stocks")  # type: ignore[call-arg]
    assert cfg.acd_bin_seconds == 1800 and cfg.acd_bins == 13
    ts, px, sz = _stock_trades(7)
    end = int(ts[-1]) + 86_400 * NS
    if cut is None:
        res = process_symbol(ts, px, sz, cfg, None, end)
        cols = res.columns
    else:
        mid = int(ts[int(cut * ts.size)])
        first = process_symbol(ts[ts < mid], px[ts < mid], sz[ts < mid], cfg, None, mid)
        rest = ts >= first.state.last_bar_end_ns
        second = process_symbol(ts[rest], px[rest], sz[rest], cfg, first.state, end)
        cols = {k: np.concatenate((first.columns[k], second.columns[k]))
                for k in ("bar_end_ns", "conditional_duration", "acd_surprise")}
    so, sc = session_bounds(cfg.session, int(ts[0]), end)
    b = bars(ts, px, sz, so, sc, cfg.bar_seconds * NS, final_before_ns=end)
    assert np.array_equal(b.bar_end_ns, cols["bar_end_ns"])
    want_cond, want_sur = naive.acd_bars(ts, b.bar_end_ns, b.session_open_ns, cfg.acd_bin_seconds, cfg.acd_bins)
    assert np.isnan(want_cond[0]) and np.isfinite(want_cond[-1])  # first session: no profile yet
    assert_allclose(cols["conditional_duration"], want_cond, rtol=1e-12)
    assert_allclose(cols["acd_surprise"], want_sur, rtol=1e-12)
