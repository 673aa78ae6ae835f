"""``udx.garch``'s kernels one by one against ``arch`` itself (``arch.univariate.GARCH``, 8.0): the backcast
around its 75-return window, ``variance_bounds`` where each of its floors and caps binds, the variance path
and log-likelihood where arch's ``bounds_check`` clamps below, squashes above (``U + ln(σ²/U)``) or replaces an
infinite variance (``U + 1000``), the analytic gradient there against central differences of arch's
likelihood, and the 16-point starting grid. Small inputs, in process: the mutation group ``garch`` runs them
for every kernel mutant in plain Python.

Tolerances: rtol 1e-12 where arch does the same float64 arithmetic in another summation order; the
gradient at rtol 1e-6 against central differences (h = 1e-4 · |x_k|: truncation O(h²) about 1e-8
relative here, rounding eps·|ℓ|/h smaller; a step across a clamp's kink would not be, so the clamped case
is ω = 1e-7, whose 19 clamped steps stay clamped within ±h).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from udx.garch import _backcast, _loglik_grad, _prepare, _start, garch_starting_values, garch_variance

arch_univariate = pytest.importorskip("arch.univariate")
GARCH = arch_univariate.GARCH()


def _arch_path(y: np.ndarray, params: tuple[float, float, float]) -> tuple[np.ndarray, float]:
    """arch's conditional variances (its backcast and variance bounds) and the Gaussian ℓ of ``y``."""
    sigma2 = np.empty(y.size)
    GARCH.compute_variance(np.array(params, float), y, sigma2, GARCH.backcast(y), GARCH.variance_bounds(y))
    return sigma2, float(np.sum(-0.5 * (math.log(2 * math.pi) + np.log(sigma2) + y * y / sigma2)))


def _zeros_after_bursts() -> np.ndarray:
    """Large returns, then 150 zeros: the EWMA decays below var/100, so the lower bound's floor binds."""
    rng = np.random.default_rng(21)
    y = rng.standard_normal(300) * 3.0
    y[100:250] = 0.0
    return y


def _small_scale() -> np.ndarray:
    """Returns of order 1e-4: EWMA·1e6 is below 1 + max ε², so the upper bound's minimum binds."""
    return np.random.default_rng(22).standard_normal(200) * 1e-4


def _clustered() -> np.ndarray:
    rng = np.random.default_rng(23)
    return rng.standard_normal(240) * np.where(rng.random(240) < 0.05, 12.0, 1.0)


SERIES = {"zeros after bursts": _zeros_after_bursts, "small scale": _small_scale, "clustered": _clustered}


@pytest.mark.parametrize("n", [1, 2, 74, 75, 76, 160])
def test_backcast_equals_arch_s_around_its_75_return_window(n: int) -> None:
    y = np.random.default_rng(n).standard_normal(n) * np.linspace(3.0, 0.5, n)
    assert _backcast(y * y) == pytest.approx(GARCH.backcast(y), rel=1e-13, abs=0.0)


@pytest.mark.parametrize("name", sorted(SERIES))
def test_variance_bounds_equal_arch_s_where_each_floor_and_cap_binds(name: str) -> None:
    y = SERIES[name]()
    b, lower, upper = _prepare(y * y, float(np.var(y)))
    want = GARCH.variance_bounds(y)
    assert b == pytest.approx(GARCH.backcast(y), rel=1e-13, abs=0.0)
    assert_allclose(lower, want[:, 0], rtol=1e-12, atol=0.0)
    assert_allclose(upper, want[:, 1], rtol=1e-12, atol=0.0)
    floor, top = float(np.var(y)) / 1e8, 1.0 + float(np.max(y * y))
    if name == "zeros after bursts":
        assert np.sum(want[:, 0] == floor) > 20 and np.sum(want[:, 0] > floor) > 20  # both sides of the floor
    if name == "small scale":
        assert np.all(want[:, 1] == top)  # the cap's minimum everywhere
    if name == "clustered":
        assert np.all(want[:, 1] > top)  # EWMA·1e6 itself


@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("params", [(0.1, 0.1, 0.8), (1e-12, 0.0, 0.0), (0.02, 0.35, 0.64), (3e8, 0.05, 0.9),
                                    (1e6, 0.5, 0.2)])
def test_variance_path_and_loglik_equal_arch_s_with_its_bounds_check(name: str, params: tuple) -> None:
    """(1e-12, 0, 0) is clamped to the lower bound at every step, ω = 3e8 squashed above at every step
    (ω = 1e6 above where the bound is 1 + max ε², inside elsewhere)."""
    y = SERIES[name]()
    sigma2, ll = garch_variance(y, *params)
    want, want_ll = _arch_path(y, params)
    assert_allclose(sigma2, want, rtol=1e-12, atol=0.0)
    assert ll == pytest.approx(want_ll, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("name", sorted(SERIES))
def test_an_infinite_variance_is_replaced_by_the_upper_bound_plus_1000_with_zero_gradient(name: str) -> None:
    y = SERIES[name]()
    e2 = y * y
    b, lower, upper = _prepare(e2, float(np.var(y)))
    sigma2, grad = np.full(y.size, np.nan), np.full(3, np.nan)
    ll = _loglik_grad(math.inf, 0.1, 0.8, e2, b, lower, upper, sigma2, grad)
    want, want_ll = _arch_path(y, (math.inf, 0.1, 0.8))
    assert_allclose(sigma2, upper + 1000.0, rtol=1e-15, atol=0.0)  # worked out: every step is +inf
    assert_allclose(sigma2, want, rtol=1e-12, atol=0.0)
    assert ll == pytest.approx(want_ll, rel=1e-12, abs=0.0)
    assert np.array_equal(grad, np.zeros(3))  # a replaced variance does not move with the parameters


def _arch_ll(y: np.ndarray, x: np.ndarray) -> float:
    return _arch_path(y, (float(x[0]), float(x[1]), float(x[2])))[1]


@pytest.mark.parametrize(("name", "x"), [("clustered", (0.1, 0.1, 0.8)), ("clustered", (4e8, 0.2, 0.5)),
                                         ("small scale", (2.0, 0.3, 0.6)), ("zeros after bursts", (0.05, 0.2, 0.7)),
                                         ("zeros after bursts", (1e-7, 0.3, 0.6))])
def test_gradient_equals_central_differences_of_arch_s_likelihood(name: str, x: tuple) -> None:
    """Interior, squashed above at every step (ω = 4e8), squashed above where the bound is 1 + max ε²
    (small scale, ω = 2), and clamped below in 19 steps of the zero run (ω = 1e-7)."""
    y = SERIES[name]()
    e2 = y * y
    b, lower, upper = _prepare(e2, float(np.var(y)))
    sigma2, grad = np.empty(y.size), np.full(3, np.nan)
    ll = _loglik_grad(*x, e2, b, lower, upper, sigma2, grad)
    assert ll == pytest.approx(_arch_ll(y, np.array(x)), rel=1e-12, abs=0.0)
    for k in range(3):
        h = 1e-4 * abs(x[k])
        up, down = np.array(x, float), np.array(x, float)
        up[k] += h
        down[k] -= h
        difference = (_arch_ll(y, up) - _arch_ll(y, down)) / (2 * h)
        assert grad[k] == pytest.approx(difference, rel=1e-6, abs=1e-9 * abs(ll)), (k, x)


@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_starting_values_are_arch_s_best_grid_point(name: str, scale: float) -> None:
    y = SERIES[name]() * scale
    got = garch_starting_values(y)
    assert_allclose(got, GARCH.starting_values(y), rtol=1e-12, atol=0.0)


def test_the_starting_grid_point_is_the_best_of_all_16_and_not_the_first() -> None:
    """A persistent series: the best point is far into the grid, so a search that kept its first point, the
    last, or stopped early would differ; every other grid point has a lower ℓ (arch's own likelihood)."""
    rng = np.random.default_rng(32)
    s2, y = 1.0, np.empty(500)
    for t in range(500):
        y[t] = math.sqrt(s2) * rng.standard_normal()
        s2 = 0.05 + 0.1 * y[t] ** 2 + 0.85 * s2
    e2 = y * y
    b, lower, upper = _prepare(e2, float(np.var(y)))
    out = np.full(3, np.nan)
    _start(e2, b, lower, upper, out)
    target = float(np.mean(e2))
    grid = [((1 - p) * target, a, p - a) for a in (0.01, 0.05, 0.1, 0.2) for p in (0.5, 0.7, 0.9, 0.98)]
    lls = [_arch_ll(y, np.array(g)) for g in grid]
    best = int(np.argmax(lls))
    assert best not in (0, len(grid) - 1)
    assert_allclose(out, grid[best], rtol=1e-12, atol=0.0)
    assert sorted(lls)[-1] > sorted(lls)[-2]  # no tie to break


@pytest.mark.parametrize("maxiter", [1, 2, 5])
def test_both_slsqp_drivers_stop_at_the_iteration_limit(maxiter: int) -> None:
    """``maxiter`` reaches SLSQP through either driver: stopped after exactly that many iterations with
    scipy's status 9 ("iteration limit reached"), at the same point, and without scipy's warning about an
    unknown option (turned into an error here)."""
    import warnings

    from udx.garch import _slsqp_direct, _slsqp_scipy

    rng = np.random.default_rng(0)
    y = rng.standard_normal(600) * np.exp(np.linspace(0.0, 2.5, 600))
    e2 = y * y
    es = e2 / float(np.mean(e2))
    b, lower, upper = _prepare(es, float(np.var(y)) / float(np.mean(e2)))
    path, grad = np.empty(es.size), np.empty(3)

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        ll = _loglik_grad(float(x[0]), float(x[1]), float(x[2]), es, b, lower, upper, path, grad)
        return -ll / es.size, -grad / es.size

    lo, hi = np.array([1e-8, 0.0, 0.0]), np.array([10.0, 1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x_scipy, status_scipy, nit_scipy = _slsqp_scipy(objective, np.array([0.2, 0.05, 0.9]), lo, hi, 1e-11, maxiter)
    x_direct, status_direct, nit_direct = _slsqp_direct(objective, np.array([0.2, 0.05, 0.9]), lo, hi, 1e-11,
                                                        maxiter)
    assert (status_scipy, nit_scipy) == (status_direct, nit_direct) == (9, maxiter)
    assert np.array_equal(x_scipy, x_direct)


@pytest.mark.parametrize(("alpha", "beta", "seed", "best_alpha"),
                         [(0.01, 0.5, 0, 0.01), (0.1, 0.85, 0, 0.05), (0.1, 0.85, 2, 0.1), (0.25, 0.7, 0, 0.2)])
def test_each_alpha_of_the_grid_is_the_start_on_some_series(alpha: float, beta: float, seed: int,
                                                            best_alpha: float) -> None:
    """800 returns simulated from GARCH(1,1) (ω = 1 - α - β): arch's best grid point has each grid α in turn
    (checked on arch's own answer first), and the kernel's start equals arch's, so no grid α can be another."""
    rng = np.random.default_rng(seed)
    s2, y = 1.0, np.empty(800)
    for t in range(800):
        y[t] = math.sqrt(s2) * rng.standard_normal()
        s2 = (1.0 - alpha - beta) + alpha * y[t] ** 2 + beta * s2
    expected = GARCH.starting_values(y)
    assert expected[1] == best_alpha
    assert_allclose(garch_starting_values(y), expected, rtol=1e-12, atol=0.0)
