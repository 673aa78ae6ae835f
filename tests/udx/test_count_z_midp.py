"""The mid-p count z's driver and public function (udx/count_z.py: ``_midp_z``, ``_midp_z_all``,
``count_zscore``) against scipy's log-space reference (``reference.stats.count_midp_z_far``), deterministically:
both tails on either side of the mean and at it, the law conditioned on ``N >= 1``, the Poisson/negative
binomial switch at ``var = mean (1 + 1e-12)``, the inputs that give NaN, and the public function's broadcasting,
rounding down and refusal of negative counts. (``test_count_z.py``'s hypothesis test draws its cases at random;
these are fixed, so a mutant is judged the same way every run.)

Tolerance ``1e-9`` as in ``test_count_z_tails.py`` (the kernel stops a tail sum at a relative term of 1e-17,
scipy sums in logarithms).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference.stats import count_midp_z_far
from udx.count_z import _midp_z_all_python, _midp_z_python, count_zscore

TOL = 1e-9

CASES = [  # (n, mean, var)
    (0.0, 0.25, 0.25), (1.0, 0.25, 0.25), (2.0, 0.25, 0.25), (3.0, 0.25, 0.25),   # sparse Poisson
    (0.0, 0.25, 0.75), (1.0, 0.25, 0.75), (4.0, 0.25, 0.75),                      # sparse, overdispersed
    (4.0, 4.0, 4.0), (4.0, 4.0, 10.0), (3.0, 4.0, 4.0), (5.0, 4.0, 4.0),          # at the mean and beside it
    (3.0, 3.5, 3.5), (4.0, 3.5, 3.5), (3.0, 3.5, 9.0), (4.0, 3.5, 9.0),
    (1.0, 6.0, 6.0), (2.0, 6.0, 20.0), (0.0, 6.0, 20.0), (12.0, 6.0, 6.0), (15.0, 6.0, 20.0),
    (9.0, 12.0, 12.0), (40.0, 12.0, 30.0), (100.0, 120.0, 125.0), (150.0, 120.0, 300.0),
    (1.0, 1.0, 1.0), (1.0, 1.0, 1.5), (2.0, 1.0, 1.0), (0.0, 1.0, 3.0),
    (3.0, 2.0, 1.0), (0.0, 2.0, 0.5),                                             # var < mean: Poisson
    (1.0, 2.0, 6.0), (2.0, 2.0, 6.0), (0.0, 2.0, 6.0),                            # size r = 1 exactly
    (1.0, 2.0, 10.0), (3.0, 5.0, 40.0), (1.0, 3.0, 30.0), (2.0, 3.0, 30.0),        # size r < 1, below the mean
]


@pytest.mark.parametrize(("n", "mean", "var"), CASES)
@pytest.mark.parametrize("positive", [False, True])
def test_the_twin_equals_the_log_space_reference(n: float, mean: float, var: float, positive: bool) -> None:
    want = count_midp_z_far(n, mean, var, positive)
    got = _midp_z_python(n, mean, var, positive)
    if positive and n < 1:
        assert math.isnan(want) and math.isnan(got)
        return
    assert math.isfinite(want)
    assert got == pytest.approx(want, rel=TOL, abs=TOL)


@pytest.mark.parametrize(("n", "mean"), [(0.0, 0.3), (1.0, 0.3), (2.0, 5.0), (5.0, 5.0), (9.0, 5.0)])
@pytest.mark.parametrize("positive", [False, True])
def test_the_poisson_switch_is_at_var_equal_mean_times_one_plus_1e_12(n: float, mean: float,
                                                                       positive: bool) -> None:
    """``var <= mean (1 + 1e-12)`` is the Poisson (the reference's law too: equal to 1e-13); a variance above
    it is the negative binomial, whose z for an overdispersion of 1e-3 already differs from the Poisson's."""
    if positive and n < 1:
        return
    poisson = count_midp_z_far(n, mean, mean, positive)
    for var in (mean, mean * (1 + 1e-12), mean * 0.5, 0.0):
        assert _midp_z_python(n, mean, var, positive) == pytest.approx(poisson, rel=1e-13, abs=1e-13)
    over = mean * 1.001
    want = count_midp_z_far(n, mean, over, positive)
    got = _midp_z_python(n, mean, over, positive)
    assert got == pytest.approx(want, rel=TOL, abs=TOL)
    assert abs(got - poisson) > 1e3 * TOL * (1 + abs(poisson))


@pytest.mark.parametrize(("n", "mean", "var", "positive"), [
    (1.0, 0.0, 1.0, False), (1.0, -0.5, 1.0, False), (1.0, math.nan, 1.0, False), (1.0, math.inf, 1.0, False),
    (1.0, 2.0, math.nan, False), (1.0, 2.0, math.inf, False), (math.nan, 2.0, 3.0, False),
    (math.inf, 2.0, 3.0, False), (-1.0, 2.0, 3.0, False), (-0.5, 2.0, 2.0, False),
    (0.0, 2.0, 3.0, True), (0.75, 2.0, 3.0, True), (0.0, 2.0, 2.0, True),
])
def test_undefined_inputs_give_nan(n: float, mean: float, var: float, positive: bool) -> None:
    assert math.isnan(_midp_z_python(n, mean, var, positive))


@pytest.mark.parametrize("positive", [False, True])
def test_a_fractional_count_is_rounded_down(positive: bool) -> None:
    for n, whole in ((1.75, 1.0), (4.5, 4.0), (0.5, 0.0), (30.999, 30.0)):
        want = count_midp_z_far(whole, 6.0, 14.0, positive)
        got = _midp_z_python(n, 6.0, 14.0, positive)
        if positive and whole < 1:
            assert math.isnan(want) and math.isnan(got)
        else:
            assert got == pytest.approx(want, rel=TOL, abs=TOL)


def test_the_array_driver_fills_each_slot_from_its_own_inputs() -> None:
    n = np.array([0.0, 3.0, 7.0, 1.0, 2.0])
    mean = np.array([0.5, 2.0, 3.0, 4.0, 0.0])
    var = np.array([0.5, 5.0, 3.0, 4.0, 1.0])
    positive = np.array([False, True, False, True, False])
    out = np.full(5, -123.0)
    _midp_z_all_python(n, mean, var, positive, out)
    want = [count_midp_z_far(*args) for args in zip(n.tolist(), mean.tolist(), var.tolist(), positive.tolist())]
    assert np.isnan(out[4]) and math.isnan(want[4])
    assert out[:4] == pytest.approx(want[:4], rel=TOL, abs=TOL)


def test_the_public_function_broadcasts_and_flattens() -> None:
    counts = np.array([[0, 2, 5], [1, 3, 8]])
    mean = np.array([0.5, 2.0, 4.0])  # per column
    var = 6.0                          # one for all
    positive = np.array([[0], [1]])    # per row; any nonzero value is True
    got = count_zscore(counts, mean, var, positive)
    assert got.shape == (6,) and got.dtype == np.float64
    want = [count_midp_z_far(float(counts[i, j]), float(mean[j]), var, bool(positive[i, 0]))
            for i in range(2) for j in range(3)]
    assert got == pytest.approx(want, rel=TOL, abs=TOL)
    assert count_zscore(2, 1.0, 1.0)[0] == pytest.approx(count_midp_z_far(2.0, 1.0, 1.0), rel=TOL)
    assert count_zscore([2, 2], 1.0, 1.0, [2.0, 0.0]).tolist() == pytest.approx(
        [count_midp_z_far(2.0, 1.0, 1.0, True), count_midp_z_far(2.0, 1.0, 1.0, False)], rel=TOL)
    assert count_zscore([], 1.0, 1.0).shape == (0,)
    # the docstring's example: Poisson of mean 0.25
    assert [round(float(z), 4) for z in count_zscore([0, 1, 2], 0.25, 0.25)] == [-0.2809, 1.156, 2.1881]


def test_a_negative_count_anywhere_is_refused() -> None:
    for counts in ([-1], [3, -0.5, 2], [[1, 2], [0, -3]]):
        with pytest.raises(ValueError, match="^counts must be >= 0$"):
            count_zscore(counts, 2.0, 3.0)
    assert count_zscore([0], 2.0, 3.0)[0] == pytest.approx(count_midp_z_far(0.0, 2.0, 3.0), rel=TOL)
