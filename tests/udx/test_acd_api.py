"""ACD's public functions (udx.acd): the arguments they accept and refuse, and the fit's reported fields,
against tests/reference (arch's backcast, the ψ recursion)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.reference import acd as ref
from tests.reference.stats import backcast
from udx.acd import acd_psi, fit_acd


@pytest.mark.parametrize(("alpha", "beta"), [(0.1, 0.8), (0.0, 0.8), (0.1, 0.0)])
def test_two_durations_zero_durations_and_zero_alpha_or_beta_are_accepted(alpha: float, beta: float) -> None:
    # zero durations are legal input (>= 0): the exponential likelihood only needs psi > 0
    for x in ([1.5, 0.5], [0.0, 1.2, 0.0, 0.7]):
        psi, _ = acd_psi(x, 0.1, alpha, beta)
        assert_allclose(psi, ref.psi_path(0.1, alpha, beta, x), rtol=1e-12)


@pytest.mark.parametrize(("x", "message"), [
    ([1.0], r"^durations must hold at least 2 values, got 1$"),
    ([[1.0, 2.0]], r"^durations must be one-dimensional, got 2 dimensions$"),
    ([1.0, -0.5], r"^durations must be finite and >= 0$"),
    ([1.0, np.inf], r"^durations must be finite and >= 0$"),
])
def test_bad_durations_are_refused_with_their_exact_message(x: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        acd_psi(x, 0.1, 0.1, 0.8)
    with pytest.raises(ValueError, match=message):
        fit_acd(x)


@pytest.mark.parametrize(("omega", "alpha", "beta"), [(0.0, 0.1, 0.8), (0.1, -0.1, 0.8), (0.1, 0.1, -0.2)])
def test_parameters_outside_the_model_are_refused(omega: float, alpha: float, beta: float) -> None:
    with pytest.raises(ValueError, match=r"^need omega > 0, alpha >= 0, beta >= 0, got "):
        acd_psi([1.0, 2.0, 0.5], omega, alpha, beta)


def test_the_fit_reports_its_backcast_scale_and_iterations() -> None:
    x = np.random.default_rng(8).exponential(2.0, 600)
    fit = fit_acd(x)
    assert fit.backcast == pytest.approx(backcast(x), rel=1e-12)  # arch's backcast of the durations
    assert isinstance(fit.iterations, int) and fit.iterations >= 1
    assert isinstance(fit.scale, float) and fit.scale > 0
