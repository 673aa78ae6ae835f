"""The trailing trade-intensity z (udx/intensity.py) against the exact reference of spec §7
(``tests/reference/intensity.py``), directly on the plain twin and the public function, on small inputs:
the window's edges (``min_periods``, ``k < 2``, the lookback), the flat-baseline epsilon at and beside its
edge, the integer sums' limit, fractions and negatives that take the two-pass path and leave the window
again, carried counts, and the arguments the public function refuses.

Tolerance ``rtol = 1e-13`` plus ``|m| 2**-52 / s`` (``reference.intensity.tolerance``): the reference rounds once
at the end; the kernel rounds the mean before ``N - m``, which costs that much when N and m are large and close,
and its two-pass fallback differs by a few ulps. Whole windows are also checked bit for bit against the
arithmetic the module docstring states (``rounded_once``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference.intensity import rounded_once, tolerance, trailing_z
from udx.intensity import _exact_limit_python, _intensity_python, _whole_python, intensity_zscore

RTOL = 1e-13
_rng = np.random.default_rng(16)


def assert_reference(got: np.ndarray, counts: list[float] | np.ndarray, lookback: int, min_periods: int,
                     first: int = 0) -> None:
    """``got`` is the reference's z of ``counts[first:]``: NaN at the same bars, elsewhere within ``RTOL`` plus
    the rounding of the float mean (``reference.intensity.tolerance``)."""
    c = [float(v) for v in counts]
    want = np.array(trailing_z(c, lookback, min_periods))[first:]
    tol = np.array(tolerance(c, lookback, min_periods, RTOL))[first:]
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    ok = ~np.isnan(want)
    assert (np.abs(got[ok] - want[ok]) <= tol[ok]).all(), (got[ok] - want[ok], tol[ok])


SERIES = {
    "poisson": _rng.poisson(4, 40).astype(float),
    "sparse": np.r_[np.zeros(6), 1.0, np.zeros(5), 2.0, 0.0, 0.0, 1.0, np.zeros(4), 3.0],
    "fractions in and out": np.r_[_rng.poisson(5, 12), 2.5, _rng.poisson(5, 12), 0.25, 7.75, _rng.poisson(5, 14)]
    .astype(float),
    "negatives in and out": np.r_[_rng.poisson(3, 9), -2.0, _rng.poisson(3, 10), -7.0, _rng.poisson(3, 12)]
    .astype(float),
    "whole then huge": np.r_[_rng.poisson(6, 10), 3e12, _rng.poisson(6, 15)].astype(float),
    # near and across the integer sums' limit 2**31 // 5 = 429496729 (lookback 5)
    "at the limit": 429496729.0 - _rng.integers(0, 4, 30).astype(float),
    "across the limit": 429496729.0 + _rng.integers(-2, 3, 30).astype(float),
    "large, small spread": 4e8 + _rng.integers(0, 3, 30).astype(float),
}


@pytest.mark.parametrize("name", list(SERIES))
@pytest.mark.parametrize(("lookback", "min_periods"), [(5, 5), (5, 2), (5, 3), (8, 4), (2, 2), (3, 3)])
def test_the_twin_equals_the_exact_reference(name: str, lookback: int, min_periods: int) -> None:
    counts = SERIES[name]
    out = np.full(counts.size, -123.0)
    _intensity_python(counts, 0, 0, lookback, min_periods, out)
    assert_reference(out, counts, lookback, min_periods)


@pytest.mark.parametrize("name", ["poisson", "fractions in and out", "negatives in and out", "across the limit"])
@pytest.mark.parametrize("lookback", [5, 7])
def test_carried_counts_give_the_one_pass_values(name: str, lookback: int) -> None:
    """``counts[:start]`` are carried previous counts and ``n_before`` the bars before ``counts[start]``:
    every split of the stream, with the last ``min(n_before, lookback)`` counts carried (as the transform
    does) or all of them, gives the reference's values of the whole series."""
    counts = SERIES[name]
    for cut in range(1, counts.size):
        for first in (max(0, cut - lookback), 0):
            piece = counts[first:]
            out = np.full(counts.size - cut, -123.0)
            _intensity_python(piece, cut - first, cut, lookback, 3, out)
            assert_reference(out, counts, lookback, 3, first=cut)


def test_fewer_than_two_baseline_counts_is_nan_whatever_min_periods() -> None:
    """``ddof = 1`` needs two counts: the kernel itself keeps the first two bars NaN even if a caller passes
    ``min_periods`` below 2 (the public function refuses that)."""
    counts = np.array([1.0, 4.0, 2.0, 9.0, 3.0])
    for mp in (0, 1, 2):
        out = np.full(5, -123.0)
        _intensity_python(counts, 0, 0, 4, mp, out)
        assert np.isnan(out[:2]).all()
        assert_reference(out, counts, 4, 2)


def test_the_flat_baseline_edge_is_the_epsilon_itself() -> None:
    """NaN when ``s <= 1e-9 max(1, |m|)``: at exactly 1e-9 (two counts 0 and x with x/sqrt(2) = 1e-9 to the
    last bit) NaN, one ulp of x above it a value; with |m| < 1 the floor 1e-9 applies, not 1e-9 |m|; with a
    negative mean its magnitude."""
    x = 1.4142135623730951e-09  # sqrt(((0 - x/2)^2 + (x - x/2)^2) / 1) == 1e-9 exactly in float64
    out = np.empty(1)
    _intensity_python(np.array([0.0, x, 1.0]), 2, 2, 2, 2, out)
    assert math.isnan(out[0])
    up = math.nextafter(x, 1.0)
    _intensity_python(np.array([0.0, up, 1.0]), 2, 2, 2, 2, out)
    assert math.isfinite(out[0])
    assert out[0] == pytest.approx(trailing_z([0.0, up, 1.0], 2, 2)[2], rel=RTOL)
    # |m| = 0.5: s = 7.07e-10 is above 1e-9 * 0.5 but not above the floor 1e-9
    _intensity_python(np.array([0.5, 0.5 + 1e-9, 3.0]), 2, 2, 2, 2, out)
    assert math.isnan(out[0])
    # m = -1000 (negative counts through the public function): s = 7.07e-8 <= 1e-9 * 1000
    _intensity_python(np.array([-1000.0, -1000.0 + 1e-7, 3.0]), 2, 2, 2, 2, out)
    assert math.isnan(out[0])
    # and s = 7.07e-6 > 1e-6: a value
    _intensity_python(np.array([-1000.0, -1000.0 + 1e-5, 3.0]), 2, 2, 2, 2, out)
    assert out[0] == pytest.approx(trailing_z([-1000.0, -1000.0 + 1e-5, 3.0], 2, 2)[2], rel=1e-9)


def test_constant_whole_windows_are_exactly_flat_and_large_spread_is_exact() -> None:
    """The running integer sums give exactly 0 for a constant window (NaN, never a rounding-residue z), and
    windows of large counts with a spread of 1 are as exact as the rational reference."""
    counts = np.r_[np.full(12, 429496729.0), 429496728.0, np.full(6, 429496729.0)]
    out = np.full(counts.size, -123.0)
    _intensity_python(counts, 0, 0, 5, 2, out)
    assert np.isnan(out[2:13]).all()
    assert_reference(out, counts, 5, 2)
    assert np.isfinite(out[13:18]).all() and np.isnan(out[18])


@pytest.mark.parametrize("lookback", [3, 5, 7])
def test_whole_counts_round_the_variance_once(lookback: int) -> None:
    """Windows of whole counts use exact integer sums and round the variance once (module docstring): the
    twin's z is bit for bit the reference's ``rounded_once``, also after a fraction, a negative or a huge
    count has left the window (each takes the two-pass path only while it is inside); a two-pass variance
    differs from it in the last bits of about a third of these bars."""
    counts = np.r_[_rng.poisson(7, 60), 2.5, _rng.poisson(7, 20), -3.0, _rng.poisson(7, 20), 3e12,
                   _rng.poisson(7, 30), 0.0, 0.0, _rng.poisson(2, 30)].astype(float)
    out = np.full(counts.size, -123.0)
    _intensity_python(counts, 0, 0, lookback, 2, out)
    assert_reference(out, counts, lookback, 2)
    whole = np.ones(counts.size, bool)  # bars whose window holds whole counts in [0, 2**31 // lookback] only
    for t in range(counts.size):
        base = counts[max(0, t - lookback): t]
        whole[t] = bool(np.all((base >= 0) & (base == np.floor(base)) & (base <= 2**31 // lookback)))
    z = np.array(rounded_once(counts.tolist(), lookback, 2))
    picked = np.flatnonzero(whole)
    assert picked.size >= 140
    got, want = out[picked], z[picked]
    assert np.array_equal(got, want, equal_nan=True), picked[(got != want) & ~np.isnan(want)]


@pytest.mark.parametrize("lookback", [2, 3, 5, 60, 61, 1000, 2**20])
def test_the_integer_sums_limit_keeps_k_q_and_s_squared_within_2_to_the_62(lookback: int) -> None:
    """The largest count whose window sums stay exact in int64 (module docstring): ``(L·c)² <= 2**62``
    for the limit c and not for c + 1."""
    c = _exact_limit_python(lookback)
    assert c == math.floor(c) and c > 0
    assert (lookback * int(c)) ** 2 <= 2**62 < (lookback * (int(c) + 1)) ** 2


@pytest.mark.parametrize(("value", "whole"), [
    (0.0, 0), (3.0, 3), (100.0, 100), (100.5, -1), (0.25, -1), (-1.0, -1), (-0.5, -1), (101.0, -1), (1e300, -1),
])
def test_a_count_is_whole_only_in_zero_to_the_limit(value: float, whole: int) -> None:
    got = _whole_python(value, 100.0)
    assert got == whole and type(got) is int


def test_the_public_function_equals_the_reference_with_its_defaults() -> None:
    counts = _rng.poisson(5, 90).astype(float)
    assert_reference(intensity_zscore(counts), counts, 60, 30)
    assert_reference(intensity_zscore(counts, 7), counts, 7, 3)
    assert_reference(intensity_zscore(counts, 3), counts, 3, 2)  # max(2, 3 // 2)
    assert_reference(intensity_zscore(counts.tolist(), 9, min_periods=9), counts, 9, 9)
    assert_reference(intensity_zscore(counts.astype(np.int32), np.int64(4), min_periods=np.int64(2)), counts, 4, 2)
    # the docstring's example: (20 - 4.6) / std([3, 5, 4, 6, 5], ddof=1) = 15.4 / sqrt(1.3)
    assert intensity_zscore([3, 5, 4, 6, 5, 20], lookback=5, min_periods=5)[-1] == pytest.approx(
        15.4 / math.sqrt(1.3), rel=1e-14)
    empty = intensity_zscore([])
    assert empty.shape == (0,) and empty.dtype == np.float64


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"counts": [[1.0, 2.0], [3.0, 4.0]]}, "counts must be one-dimensional, got 2 dimensions"),
    ({"counts": [1.0, math.nan, 2.0]}, "counts must be finite"),
    ({"counts": [1.0, math.inf, 2.0]}, "counts must be finite"),
    ({"lookback": 1}, "lookback must be an integer >= 2, got 1"),
    ({"lookback": True}, "lookback must be an integer >= 2, got True"),
    ({"lookback": 5.0}, "lookback must be an integer >= 2, got 5.0"),
    ({"lookback": 5, "min_periods": 1}, r"min_periods must be in \[2, lookback\], got 1"),
    ({"lookback": 5, "min_periods": 6}, r"min_periods must be in \[2, lookback\], got 6"),
])
def test_bad_arguments_are_refused_by_name(kwargs: dict, message: str) -> None:
    args = {"counts": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], **kwargs}
    with pytest.raises(ValueError, match=f"^{message}$"):
        intensity_zscore(args.pop("counts"), **args)


def test_the_edges_of_the_arguments_are_accepted() -> None:
    counts = [1.0, 4.0, 2.0, 9.0, 3.0, 5.0]
    assert_reference(intensity_zscore(counts, 2), counts, 2, 2)
    assert_reference(intensity_zscore(counts, 5, min_periods=5), counts, 5, 5)
    assert_reference(intensity_zscore(counts, 5, min_periods=2), counts, 5, 2)
