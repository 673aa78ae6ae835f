"""The mid-p z of a count (udx/count_z.py) against scipy's distributions, and its calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.stats import count_midp_z
from udx.count_z import _midp_z_python, count_zscore


# overdispersion from 1e-4: below it the negative binomial's size exceeds 1e4 * mean and scipy's
# lgamma(n + r) - lgamma(r) cancels (an exp(1e-11) overdispersion was off by 2e-5 in z, the kernel by 1e-12 from the
# Poisson limit); test_count_z_tails.py checks that regime against its limit
@settings(max_examples=300, deadline=None)
@given(log_mean=st.floats(-5.0, 6.0), over=st.floats(1e-4, 2.5), poisson=st.booleans(), positive=st.booleans(),
       where=st.floats(0.0, 4.0))
def test_the_kernel_and_its_twin_equal_scipy(log_mean: float, over: float, poisson: bool, positive: bool,
                                             where: float) -> None:
    mean = math.exp(log_mean)
    var = mean if poisson else mean * math.exp(over)
    n = float(math.floor(where * (mean + 3.0 * math.sqrt(var) + 1.0)))
    want = count_midp_z(n, mean, var, positive)
    if not math.isfinite(want) or abs(want) > 8:  # scipy's tails lose digits beyond this
        return
    assert count_zscore([n], mean, var, positive)[0] == pytest.approx(want, rel=1e-8, abs=1e-8)
    assert _midp_z_python(n, mean, var, positive) == pytest.approx(want, rel=1e-8, abs=1e-8)


def test_far_tails_stay_finite_and_ordered() -> None:
    z = count_zscore([0, 100, 1_000, 100_000], 30.0, 30.0)
    assert z[0] < -7 and 0 < z[1] < z[2] < z[3] < math.inf
    assert count_zscore([10**6], 30.0, 150.0)[0] == pytest.approx(
        count_zscore([10**6], 30.0, 150.0)[0])  # deterministic, no overflow
    assert np.isnan(count_zscore([3, 1], [0.0, math.nan], 1.0)).all()
    assert np.isnan(count_zscore([0], 0.5, 0.5, True)[0])  # at least one print was known


def test_counts_below_zero_are_refused() -> None:
    with pytest.raises(ValueError, match="counts"):
        count_zscore([-1], 1.0, 1.0)


@pytest.mark.parametrize("mean", [0.05, 0.1, 0.25, 0.5, 1.0, 3.0, 30.0, 300.0])
@pytest.mark.parametrize("dispersion", [1.0, 5.0])
def test_z_of_two_or_more_has_about_the_normal_tail_at_any_rate(mean: float, dispersion: float) -> None:
    """Exact probability of z >= 2 under the baseline law: never above 1.5x the normal 2.28 % and, from a
    quarter of a print per bar (or overdispersed), not below half of it. The Gaussian z of a sparse count fires
    up to 4x as often (9.5 % for a Poisson of mean 0.1, 5.4 % at mean 3 with dispersion 5)."""
    nominal = 0.5 * math.erfc(2.0 / math.sqrt(2.0))
    var = mean * dispersion
    n = np.arange(0, int(mean + 40 * math.sqrt(var) + 40))
    z = count_zscore(n, mean, var)
    law = np.array([math.exp(_log_pmf(k, mean, var)) for k in n.tolist()])
    p = law[z >= 2.0].sum()
    assert p <= 1.5 * nominal, p
    if mean >= 0.25 or dispersion > 1:
        assert p >= 0.5 * nominal, p


def _log_pmf(k: int, mean: float, var: float) -> float:
    if var <= mean:
        return -mean + k * math.log(mean) - math.lgamma(k + 1)
    r, p = mean * mean / (var - mean), mean / var
    return math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + r * math.log(p) + k * math.log1p(-p)
