"""The pieces of the mid-p count z (udx/count_z.py) against scipy where its hypothesis test cannot look: tails
beyond z = 8 (scipy's ``sf`` loses digits there, its ``logpmf``/``ndtri_exp`` do not), the asymptotic normal
tail beyond x = 25, the quantile of a tail below 1e-300, and the negative binomial's log-pmf for a large size.

Tolerances: ``rtol = 1e-12`` where both sides compute the same quantity in double precision from closed forms;
``1e-9`` for the z of a summed tail (the kernel stops a tail sum at a relative term of 1e-17 and refines the
quantile by Newton to 1e-15; scipy sums in logarithms).
"""

from __future__ import annotations

import math

import pytest
from scipy import special
from scipy import stats as scipy_stats

from reference.stats import count_midp_z_far
from udx.count_z import _isf_log_python, _log_pmf_python, _log_upper_python, _midp_z_python, count_zscore


@pytest.mark.parametrize("x", [0.0, 0.5, 3.0, 10.0, 24.999, 25.0, 26.5, 40.0, 120.0, 1e4])
def test_the_log_normal_tail_is_scipy_s_on_both_sides_of_25(x: float) -> None:
    assert _log_upper_python(x) == pytest.approx(float(special.log_ndtr(-x)), rel=1e-12)


@pytest.mark.parametrize("lq", [math.log(0.5), -0.8, -3.7, math.log(0.02425) + 1e-9, math.log(0.02425) - 1e-9,
                                -40.0, -689.9, -690.1, -2000.0, -5e5])
def test_the_quantile_of_a_log_tail_is_scipy_s_ndtri_exp(lq: float) -> None:
    assert _isf_log_python(lq) == pytest.approx(float(-special.ndtri_exp(lq)), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("n", "mean", "var"), [
    (0.0, 3.0, 3.0), (7.0, 3.0, 3.0), (250.0, 3.0, 3.0),            # Poisson
    (0.0, 2.0, 9.0), (5.0, 0.4, 0.9), (900.0, 30.0, 150.0),           # overdispersed, small size
    (12.0, 10.0, 10.005), (9_999.0, 400.0, 408.0),                    # size 2e4: the summed rising factorial
    (20_000.0, 400.0, 408.0),                                         # size 2e4, n >= 1e4: lgamma differences
])
def test_the_log_pmf_is_scipy_s(n: float, mean: float, var: float) -> None:
    rel = 1e-11
    if var > mean:
        r, p = mean * mean / (var - mean), mean / var
        want = float(scipy_stats.nbinom.logpmf(n, r, p))
        got = _log_pmf_python(n, r, math.log(p), math.log1p(-p))
        if r > 1e4:  # scipy's lgamma(n + r) - lgamma(r) cancels: ~1e-16 * lgamma(2e4) = 2e-11 absolute
            rel = 1e-9
    else:
        want = float(scipy_stats.poisson.logpmf(n, mean))
        got = _log_pmf_python(n, -1.0, math.log(mean), 0.0)
    assert got == pytest.approx(want, rel=rel, abs=1e-11)


CASES = [  # (n, mean, var): both tails, far beyond z = 8, Poisson and negative binomial
    (0.0, 30.0, 30.0), (2.0, 30.0, 30.0), (80.0, 30.0, 30.0), (200.0, 30.0, 30.0), (700.0, 30.0, 30.0),
    (0.0, 0.05, 0.05), (6.0, 0.05, 0.05), (40.0, 0.05, 0.05),
    (0.0, 300.0, 1500.0), (3000.0, 300.0, 1500.0), (60.0, 300.0, 310.0), (1.0, 5.0, 6.0),
    (2500.0, 30.0, 150.0), (4.0, 0.3, 1.2), (31.0, 12.0, 12.0),
]


@pytest.mark.parametrize(("n", "mean", "var"), CASES)
@pytest.mark.parametrize("positive", [False, True])
def test_far_tails_equal_the_log_space_reference(n: float, mean: float, var: float, positive: bool) -> None:
    want = count_midp_z_far(n, mean, var, positive)
    got = _midp_z_python(n, mean, var, positive)
    if positive and n < 1:
        assert math.isnan(want) and math.isnan(got)
        return
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert count_zscore([n], mean, var, positive)[0] == got


def test_non_finite_or_fractional_inputs() -> None:
    assert count_zscore([3.7], 2.0, 5.0)[0] == _midp_z_python(3.0, 2.0, 5.0, False)  # rounded down
    for n, mean, var in ((math.inf, 2.0, 2.0), (math.nan, 2.0, 2.0), (1.0, math.inf, 2.0), (1.0, 2.0, math.nan),
                         (1.0, -1.0, 2.0)):
        assert math.isnan(_midp_z_python(n, mean, var, False))


@pytest.mark.parametrize("over", [1e-12, 1e-10, 1e-8])
@pytest.mark.parametrize(("n", "mean"), [(0.0, 30.0), (24.0, 30.0), (30.0, 30.0), (160.0, 200.0), (3.0, 0.5)])
@pytest.mark.parametrize("positive", [False, True])
def test_a_barely_overdispersed_count_has_the_poisson_z(over: float, n: float, mean: float, positive: bool) -> None:
    """The negative binomial of size ``r = mean / over`` tends to the Poisson as ``r`` grows (the z moves by
    O(1/r) = O(over)): the kernel's summed rising factorial keeps that limit where scipy's lgamma differences
    lose it (an overdispersion of 1e-11 moved scipy's z by 2e-5)."""
    want = count_midp_z_far(n, mean, mean, positive)
    got = _midp_z_python(n, mean, mean * (1 + over), positive)
    if positive and n < 1:
        assert math.isnan(want) and math.isnan(got)
        return
    assert got == pytest.approx(want, abs=10 * over * (1 + abs(want)) + 1e-12)
