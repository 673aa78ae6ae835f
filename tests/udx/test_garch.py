"""GARCH(1,1): arch's recursion exactly (spec §4.4 vector), bounds, starting values, MLE against arch."""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from udx.garch import (
    _loglik_grad,
    _loglik_grad_python,
    _prepare,
    fit_garch,
    garch_backcast,
    garch_bounds,
    garch_starting_values,
    garch_variance,
)

_spec = importlib.util.spec_from_file_location("naive", Path(__file__).resolve().parents[1] / "naive.py")
assert _spec is not None and _spec.loader is not None
naive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naive)

arch_model = pytest.importorskip("arch").arch_model

# spec/signals.md §4.4 deterministic recursion test [COMPUTED with arch 8.0.0]
EPS = [0.5, -1, 0.25, 2, -0.75, 0, 1.5, -0.3]
BACKCAST = 1.016922514739461
SIGMA2 = [1.015230263265515, 0.9371842106124121, 0.9497473684899298, 0.8660478947919439,
          1.1928383158335552, 1.1105206526668443, 0.9884165221334754, 1.1157332177067805]
LOGLIK = -11.831634675196321

# spec §4.4 MLE comparison: arch_model(y, mean="Zero", rescale=False) on the simulated series
ARCH_OMEGA, ARCH_ALPHA, ARCH_BETA = 0.07833858463581717, 0.08343472094801867, 0.8862487470576165
ARCH_LL = -9227.935727143451
ARCH_B = 4.638989223556211


def simulated(seed: int = 12345, n: int = 5000, omega: float = 0.05, alpha: float = 0.08,
              beta: float = 0.90) -> np.ndarray:
    """The spec §4.4 recipe (500 burn-in)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n + 500)
    r = np.empty(n + 500)
    s2 = omega / (1 - alpha - beta)
    r[0] = math.sqrt(s2) * z[0]
    for t in range(1, n + 500):
        s2 = omega + alpha * r[t - 1] ** 2 + beta * s2
        r[t] = math.sqrt(s2) * z[t]
    return r[500:]


@pytest.fixture(scope="module")
def y() -> np.ndarray:
    series = simulated()
    assert series[0] == 5.370708087169305
    return series


def test_recursion_matches_the_spec_vector_exactly() -> None:
    assert_allclose(garch_backcast(EPS), BACKCAST, rtol=1e-12)
    sigma2, ll = garch_variance(EPS, 0.1, 0.1, 0.8)
    assert_allclose(sigma2, SIGMA2, rtol=1e-12)
    assert_allclose(ll, LOGLIK, rtol=1e-12)
    assert sigma2[0] == pytest.approx(0.1 + 0.9 * BACKCAST, rel=1e-15)  # sigma2_0 = w + (a+b) b, not b


def test_bounds_and_starting_values_are_arch_s() -> None:
    assert_allclose(garch_bounds(EPS), [(1.026875e-08, 10.26875), (0, 1), (0, 1)], rtol=1e-12)
    assert_allclose(garch_starting_values(EPS), [0.5134375, 0.01, 0.49], rtol=1e-12)


@pytest.mark.parametrize("params", [(0.1, 0.1, 0.8), (1e-9, 0.0, 0.0), (5.0, 0.9, 0.1), (0.02, 0.3, 0.69)])
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_twins_and_naive_agree_including_active_bounds(params: tuple, seed: int) -> None:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(300) * np.where(rng.random(300) < 0.05, 50.0, 1.0)
    e[10:20] = 0.0
    e2 = e * e
    b, lo, up = _prepare(e2, float(np.var(e)))
    s_jit, s_py = np.empty(e.size), np.empty(e.size)
    g_jit, g_py = np.empty(3), np.empty(3)
    ll_jit = _loglik_grad(*params, e2, b, lo, up, s_jit, g_jit)
    ll_py = _loglik_grad_python(*params, e2, b, lo, up, s_py, g_py)
    assert ll_jit == ll_py and np.array_equal(s_jit, s_py) and np.array_equal(g_jit, g_py)
    s_naive, ll_naive = naive.garch_variance(e, *params)
    assert_allclose(s_jit, s_naive, rtol=1e-12)
    assert_allclose(ll_jit, ll_naive, rtol=1e-12)


def test_analytic_gradient_matches_finite_differences() -> None:
    e = simulated(n=800)
    e2 = e * e
    b, lo, up = _prepare(e2, float(np.var(e)))
    x = np.array([0.07, 0.09, 0.87])
    grad = np.empty(3)
    _loglik_grad(*x, e2, b, lo, up, np.empty(e.size), grad)
    for k in range(3):
        h = 1e-6 * max(1.0, abs(x[k]))
        xp, xm = x.copy(), x.copy()
        xp[k] += h
        xm[k] -= h
        fp = _loglik_grad(*xp, e2, b, lo, up, np.empty(e.size), np.empty(3))
        fm = _loglik_grad(*xm, e2, b, lo, up, np.empty(e.size), np.empty(3))
        assert_allclose(grad[k], (fp - fm) / (2 * h), rtol=1e-5)


def test_fit_matches_the_published_arch_numbers(y: np.ndarray) -> None:
    fit = fit_garch(y)
    assert fit.converged and fit.n_obs == 5000
    assert_allclose(fit.backcast, ARCH_B, rtol=1e-12)
    assert fit.loglik >= ARCH_LL - 1e-6 * abs(ARCH_LL)
    assert abs(fit.alpha - ARCH_ALPHA) <= 1e-4 and abs(fit.beta - ARCH_BETA) <= 1e-4
    assert abs(fit.omega - ARCH_OMEGA) / ARCH_OMEGA <= 1e-3


@pytest.mark.parametrize("seed", [12345, 7, 99])
def test_fit_matches_arch_live_on_well_scaled_data(seed: int) -> None:
    y = simulated(seed=seed, n=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = arch_model(y, mean="Zero", rescale=False).fit(disp="off")
    fit = fit_garch(y)
    omega, alpha, beta = res.params.to_numpy()
    assert fit.loglik >= res.loglikelihood - 1e-6 * abs(res.loglikelihood)
    assert abs(fit.alpha - alpha) <= 1e-3 and abs(fit.beta - beta) <= 1e-3


@pytest.mark.parametrize("scale", [1e-2, 1e-4])
def test_fit_at_intraday_scale_matches_arch_with_rescale(y: np.ndarray, scale: float) -> None:
    ys = y * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = arch_model(ys, mean="Zero", rescale=True).fit(disp="off")
    fit = fit_garch(ys)
    # arch reports parameters and log-likelihood of the rescaled data y * res.scale
    arch_ll = res.loglikelihood + ys.size * math.log(res.scale)
    omega, alpha, beta = res.params.to_numpy()
    assert fit.converged
    assert fit.loglik >= arch_ll - 1e-6 * abs(arch_ll)
    assert abs(fit.alpha - alpha) <= 1e-3 and abs(fit.beta - beta) <= 1e-3
    assert_allclose(fit.omega, omega / res.scale**2, rtol=1e-3)
    # the log-likelihood is in the returns' own units: the scale-1 value shifted by T ln(1/scale)
    assert_allclose(fit.loglik, fit_garch(y).loglik - ys.size * math.log(scale), rtol=1e-9)


def test_zero_series_is_not_estimable_and_bad_input_is_rejected() -> None:
    fit = fit_garch(np.zeros(200))
    assert not fit.converged and math.isnan(fit.omega) and math.isnan(fit.loglik)
    with pytest.raises(ValueError, match="one-dimensional"):
        fit_garch(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        fit_garch([0.1, math.nan, 0.2])
    with pytest.raises(ValueError, match="empty"):
        fit_garch([])
    with pytest.raises(ValueError, match="omega > 0"):
        garch_variance(EPS, 0.0, 0.1, 0.8)


def test_tiny_sample_stays_inside_the_parameter_space() -> None:
    fit = fit_garch([0.5, -1.0, 0.3, 2.0, -0.2])
    assert fit.alpha >= 0 and fit.beta >= 0 and fit.alpha + fit.beta <= 1 + 1e-12 and fit.omega > 0
