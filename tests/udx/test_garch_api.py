"""``udx.garch``'s public functions at their edges, against ``tests/reference/stats.py``: zero α or β, an
explicit backcast, and the errors for bad parameters and bad returns (a clear ``ValueError`` naming the
problem). Tolerance rtol 1e-12: the same recursion in the same float64 arithmetic."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from reference import stats
from udx.garch import fit_garch, garch_backcast, garch_bounds, garch_starting_values, garch_variance

EPS = np.array([0.5, -1, 0.25, 2, -0.75, 0, 1.5, -0.3])


@pytest.mark.parametrize("params", [(0.1, 0.0, 0.8), (0.1, 0.2, 0.0), (0.3, 0.0, 0.0)])
def test_zero_alpha_or_beta_is_a_valid_model(params: tuple[float, float, float]) -> None:
    sigma2, ll = garch_variance(EPS, *params)
    want = stats.garch_path(*params, EPS * EPS)
    assert_allclose(sigma2, want, rtol=1e-12)
    assert ll == pytest.approx(stats.garch_loglik(np.array(params), EPS * EPS), rel=1e-12)


@pytest.mark.parametrize("b", [0.5, 1.0, 3.25])
def test_an_explicit_backcast_starts_the_recursion(b: float) -> None:
    sigma2, ll = garch_variance(EPS, 0.1, 0.1, 0.8, backcast=b)
    assert sigma2[0] == pytest.approx(0.1 + 0.9 * b, rel=1e-15)
    assert_allclose(sigma2, stats.garch_path(0.1, 0.1, 0.8, EPS * EPS, b), rtol=1e-12)
    s = sigma2
    assert ll == pytest.approx(float(np.sum(-0.5 * (math.log(2 * math.pi) + np.log(s) + EPS**2 / s))), rel=1e-12)


@pytest.mark.parametrize("b", [0.0, -1.0, math.nan])
def test_a_backcast_that_is_not_positive_is_refused(b: float) -> None:
    with pytest.raises(ValueError, match=r"^backcast must be > 0, got "):
        garch_variance(EPS, 0.1, 0.1, 0.8, backcast=b)


@pytest.mark.parametrize("params", [(0.0, 0.1, 0.8), (0.1, -0.1, 0.8), (0.1, 0.1, -0.8), (math.nan, 0.1, 0.8)])
def test_bad_parameters_are_refused(params: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match=r"^need omega > 0, alpha >= 0, beta >= 0, got "):
        garch_variance(EPS, *params)


@pytest.mark.parametrize("call", [fit_garch, garch_backcast, garch_bounds, garch_starting_values,
                                  lambda y: garch_variance(y, 0.1, 0.1, 0.8)])
def test_bad_returns_get_a_clear_error(call) -> None:
    with pytest.raises(ValueError, match=r"^returns must not be empty$"):
        call([])
    with pytest.raises(ValueError, match=r"^returns must be finite \(drop NaN returns before fitting\)$"):
        call([0.1, math.nan, 0.2])
    with pytest.raises(ValueError, match=r"^returns must be one-dimensional, got 2 dimensions$"):
        call([[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(ValueError):  # text is not a number: a ValueError, not a TypeError from isfinite
        call(["0.1", "x"])


@pytest.mark.parametrize("y", [[0.0] * 300, [0.7]])
def test_a_series_without_second_moment_or_with_one_return_is_not_estimable(y: list[float]) -> None:
    fit = fit_garch(y)
    values = (fit.omega, fit.alpha, fit.beta, fit.loglik, fit.scale, fit.backcast)
    assert [math.isnan(v) for v in values] == [True] * 6
    assert fit.converged is False and fit.n_obs == len(y) and fit.iterations == 0


def test_two_returns_are_enough_to_fit() -> None:
    fit = fit_garch([0.5, -0.3])
    assert fit.n_obs == 2 and math.isfinite(fit.omega) and fit.omega > 0 and fit.alpha + fit.beta <= 1.0
    assert fit.loglik == pytest.approx(stats.garch_loglik(np.array([fit.omega, fit.alpha, fit.beta]),
                                                          np.array([0.25, 0.09])), rel=1e-12)


@pytest.mark.parametrize("scale", [1e3, 1e6])
def test_the_fit_is_scale_free_for_large_returns_too(scale: float) -> None:
    """The fit standardizes by the second moment, arch's lower variance bound included: returns in units
    1e3 or 1e6 times larger give the same α and β, ω times scale² and ℓ shifted by ``-T ln(scale)``."""
    y = np.random.default_rng(11).standard_normal(400) * np.sqrt(np.linspace(0.5, 2.0, 400))
    one, big = fit_garch(y), fit_garch(y * scale)
    assert big.alpha == pytest.approx(one.alpha, abs=1e-6) and big.beta == pytest.approx(one.beta, abs=1e-6)
    assert big.omega == pytest.approx(one.omega * scale**2, rel=1e-5)
    assert big.loglik == pytest.approx(one.loglik - y.size * math.log(scale), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_trending_variance_fits_on_the_alpha_plus_beta_constraint(seed: int) -> None:
    """Returns whose variance grows 12-fold: the likelihood wants α + β > 1, so the fit sits on α + β = 1. The
    constrained optimum of the reference (Nelder-Mead, α + β > 1 rejected) agrees to 1e-5 in α and β and its
    ℓ is not higher (1e-9 relative); SLSQP's out-of-bounds warning stays inside the fit."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(600) * np.exp(np.linspace(0.0, 2.5, 600))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_garch(y)
    params, ll = stats.garch_fit(y)
    assert params[1] + params[2] == pytest.approx(1.0, abs=1e-6)
    assert fit.alpha + fit.beta <= 1.0 and fit.alpha + fit.beta == pytest.approx(1.0, abs=1e-9)
    assert fit.alpha == pytest.approx(params[1], abs=1e-5) and fit.beta == pytest.approx(params[2], abs=1e-5)
    assert fit.loglik >= ll - 1e-9 * abs(ll)


@pytest.mark.parametrize("scale", [1e-4, 1.0])
def test_the_fit_reports_its_scale_and_its_iterations(scale: float) -> None:
    """``scale`` is the internal standardization c = sqrt(mean(y²)) (the docstring's), in the returns' units;
    ``iterations`` counts SLSQP's iterations: a whole number of at least one (the start is not the optimum)
    and at most the limit of 200, below it for a fit that converged."""
    rng = np.random.default_rng(5)
    y = rng.standard_normal(500) * np.sqrt(np.linspace(0.5, 2.0, 500)) * scale
    fit = fit_garch(y)
    assert fit.scale == pytest.approx(math.sqrt(float(np.mean(y * y))), rel=1e-12)
    assert fit.converged and type(fit.iterations) is int and 1 <= fit.iterations < 200
