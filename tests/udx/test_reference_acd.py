"""ACD(1,1) kernels (udx/acd.py) against the independent reference ``tests/reference/acd.py`` (written from
spec §5 and Engle & Russell 1998), and the reference against the numbers published in spec §5.2.

Tolerances: ψ and ℓ at given parameters rtol 1e-12 (the same arithmetic); fitted parameters 1e-6 against the
spec's six decimals, 1e-5 between the project's optimiser and the reference's Nelder-Mead (20,000 durations).
"""

from __future__ import annotations

import numpy as np
import pytest

from reference import acd
from udx import acd_psi, fit_acd

#: spec §5.2, direct exponential QMLE with arch's initialisation, on the simulation below.
SPEC_PARAMS = (0.087834, 0.092936, 0.819021)
SPEC_LOGLIK = -19490.700285


@pytest.fixture(scope="module")
def durations() -> np.ndarray:
    """spec §5.2: T = 20000, default_rng(2024), ω 0.1, α 0.1, β 0.8, Exp(1) errors, 1000 dropped."""
    return acd.spec_durations()


@pytest.fixture(scope="module")
def reference_fit(durations: np.ndarray) -> tuple[tuple[float, float, float], float]:
    return acd.fit(durations)


def test_the_reference_fit_reproduces_the_spec_numbers(reference_fit) -> None:
    params, ll = reference_fit
    np.testing.assert_allclose(params, SPEC_PARAMS, rtol=0, atol=1e-6)
    assert ll == pytest.approx(SPEC_LOGLIK, abs=1e-6)


@pytest.mark.parametrize("params", [(0.1, 0.1, 0.8), (0.05, 0.3, 0.6), (0.5, 0.0, 0.4), (0.02, 0.05, 0.94)])
def test_psi_and_loglik_equal_the_reference_recursion(durations: np.ndarray, params) -> None:
    x = durations[:3000] * 7.0  # any unit
    psi, ll = acd_psi(x, *params)
    np.testing.assert_allclose(psi, acd.psi_path(*params, x), rtol=1e-12, atol=0)
    assert ll == pytest.approx(acd.loglik(*params, x), rel=1e-12)


def test_psi_starts_from_the_backcast_not_the_mean(durations: np.ndarray) -> None:
    """ψ_1 = ω + (α + β)·b with b the 0.94-weighted mean of the first 75 durations (spec §5.2); ACDm's mean
    start would differ on these data."""
    x = durations[:500]
    psi, _ = acd_psi(x, 0.1, 0.1, 0.8)
    w = 0.94 ** np.arange(75)
    assert psi[0] == pytest.approx(0.1 + 0.9 * float(np.sum(w * x[:75]) / np.sum(w)), rel=1e-13)
    assert abs(psi[0] - (0.1 + 0.9 * float(np.mean(x)))) > 1e-3


def test_the_project_fit_is_the_reference_maximum(durations: np.ndarray, reference_fit) -> None:
    params, ll = reference_fit
    fit = fit_acd(durations)
    assert fit.converged and fit.n_obs == durations.size
    assert fit.loglik >= ll - 1e-9 * abs(ll)
    np.testing.assert_allclose((fit.omega, fit.alpha, fit.beta), params, rtol=0, atol=1e-5)
    assert fit.loglik == pytest.approx(acd.loglik(fit.omega, fit.alpha, fit.beta, durations), rel=1e-12)
