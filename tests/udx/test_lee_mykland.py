"""Lee-Mykland kernel: spec vectors (spec/signals.md §2.4), twins, naive reference, streaming."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

# tests/ is not a package (no __init__.py), so load the naive twins by path; putting tests/ on sys.path
# would let the folder tests/udx shadow the udx package.
_spec = importlib.util.spec_from_file_location("naive", Path(__file__).resolve().parents[1] / "naive.py")
assert _spec is not None and _spec.loader is not None
naive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naive)

from udx.lee_mykland import (  # noqa: E402
    _lm_stat,
    _lm_stat_python,
    _lm_stat_tiled,
    _lm_stat_tiled_python,
    default_window,
    jump_flags,
    lee_mykland_stat,
    lm_threshold,
)

# spec/signals.md §2.4 sanity vector [COMPUTED]
SPEC_R = [0.001, -0.002, 0.0015, 0.0005, -0.001, 0.012, -0.0008, 0.0011, -0.0004, 0.0009]
SPEC_L = [math.nan] * 5 + [8.044285, -0.303727, 0.323368, -0.11659, 0.376385]

# spec/signals.md §2.4 critical values Cn + Sn beta* (hf scale) [COMPUTED]: n -> (0.05, 0.01, 0.001)
CRITICAL = {
    10: (3.069007, 3.828550, 4.903640),
    78: (3.514877, 4.067058, 4.848637),
    100: (3.573345, 4.110423, 4.870626),
    288: (3.820282, 4.304608, 4.990145),
    390: (3.889938, 4.361799, 5.029690),
    1000: (4.102055, 4.540577, 5.161281),
    23400: (4.762865, 5.126236, 5.640567),
}

_rng = np.random.default_rng(20240311)


def _with_nan(r: np.ndarray, where: int) -> np.ndarray:
    r = r.copy()
    r[where] = np.nan
    return r


_random = _rng.normal(0.0, 1e-3, 400)
_jumpy = _rng.normal(0.0, 1e-3, 200)
_jumpy[[50, 120, 121]] += [0.02, -0.03, 0.01]
_sparse = np.where(_rng.random(300) < 0.6, 0.0, _rng.normal(0, 1e-3, 300))

# (returns, window)
test_data = [
    (np.asarray(SPEC_R), 5),
    (np.asarray(SPEC_R), 3),
    (np.asarray(SPEC_R), 10),
    (np.asarray(SPEC_R), 11),  # n < window: all NaN
    (_random, 3),
    (_random, 20),
    (_random, 314),
    (_jumpy, 16),
    (_sparse, 5),  # many exact zeros: bpv = 0 -> NaN, zero return with bpv > 0 -> 0
    (np.zeros(50), 5),  # constant prices
    (_with_nan(_random[:100], 0), 7),
    (_with_nan(_random[:100], 50), 7),
    (_with_nan(_random[:100], 99), 7),
    (np.array([1e-300, 1e-300, 1e-300, 1e-300, 1.0, 1e300]), 3),  # underflowing bpv / huge quotient
    (np.array([np.inf, 0.001, 0.002, 0.001, 0.003]), 3),
    (np.empty(0), 3),
]


def test_spec_sanity_vector() -> None:
    assert_allclose(lee_mykland_stat(SPEC_R, 5), SPEC_L, rtol=0, atol=1e-6, equal_nan=True)


def test_spec_sanity_vector_flags_only_the_jump() -> None:
    crit = lm_threshold(10, 0.01)
    assert crit == pytest.approx(3.828550, abs=1e-6)
    assert jump_flags(lee_mykland_stat(SPEC_R, 5), crit).tolist() == [False] * 5 + [True] + [False] * 4


@pytest.mark.parametrize("n", sorted(CRITICAL))
def test_critical_value_table(n: int) -> None:
    for alpha, expected in zip((0.05, 0.01, 0.001), CRITICAL[n], strict=True):
        assert lm_threshold(n, alpha) == pytest.approx(expected, abs=1e-6)
        assert lm_threshold(n, alpha) == pytest.approx(naive.lm_threshold(n, alpha), rel=1e-14)


def test_beta_star_values_of_the_spec() -> None:
    # crit = Cn + Sn beta*: recover beta* from two alphas at the same n
    sn = 1 / math.sqrt(2 * math.log(78))
    cn = lm_threshold(78, 0.5) - sn * -math.log(-math.log(0.5))
    for alpha, beta in ((0.01, 4.600149), (0.05, 2.970195), (0.001, 6.907255)):
        assert (lm_threshold(78, alpha) - cn) / sn == pytest.approx(beta, abs=1e-6)


@pytest.mark.parametrize("n", [-1, 0, 1, 2])
def test_threshold_is_nan_below_three(n: int) -> None:
    assert math.isnan(lm_threshold(n, 0.01))


@pytest.mark.parametrize("n", [3, 4])
def test_threshold_exists_from_three_returns_a_session(n: int) -> None:
    # Cn + Sn beta* written out from spec §2.3 at the smallest n that has one (n = 3 and 4 were NaN under
    # a `n <= 3` / `n < 4` guard and no other test noticed)
    root = math.sqrt(2 * math.log(n))
    expected = root - (math.log(math.pi) + math.log(math.log(n))) / (2 * root) - math.log(-math.log(0.99)) / root
    assert lm_threshold(n, 0.01) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_threshold_rejects_alpha_outside_unit_interval(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        lm_threshold(78, alpha)


@pytest.mark.parametrize(("n_per_day", "k"), [(390, 314), (78, 141), (288, 270), (24, 78), (1, 16), (0.2, 8),
                                              (7, 42), (1e-3, 3), (390.5, 314), (1440.5, 603)])
def test_default_window(n_per_day: float, k: int) -> None:
    assert default_window(n_per_day) == k


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
def test_default_window_rejects_bad_n(bad: float) -> None:
    with pytest.raises(ValueError, match="n_per_day"):
        default_window(bad)


@pytest.mark.parametrize(("r", "k"), test_data)
def test_kernel_matches_twin_and_naive(r: np.ndarray, k: int) -> None:
    expected = np.asarray(naive.lee_mykland_stat(r, k), dtype=np.float64)
    got = lee_mykland_stat(r, k)
    assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True)
    assert not np.any(np.isinf(got))
    x = np.ascontiguousarray(r, dtype=np.float64)
    twin = np.empty(x.size)
    jitted = np.empty(x.size)
    _lm_stat_python(x, k, 0, 0, twin)
    _lm_stat(x, k, 0, 0, jitted)
    assert_array_equal(twin, jitted)
    assert_array_equal(got, jitted)
    tiled_py = np.empty(x.size)
    _lm_stat_tiled_python(x, k, 0, 0, tiled_py)
    assert_array_equal(tiled_py, twin)


_long = _rng.normal(0.0, 1e-3, 2500)
_long[_rng.random(2500) < 0.05] = 0.0
_long[[100, 1700]] = [np.nan, 0.04]


@pytest.mark.parametrize(("k", "start", "n_before"), [
    (603, 0, 0), (603, 602, 602), (603, 602, 10_000), (603, 300, 300), (5, 4, 4), (64, 63, 63), (65, 0, 0),
    (3, 2, 2), (2600, 0, 0), (70, 69, 1000),
])
def test_tiled_kernel_is_bit_identical_to_the_twin(k: int, start: int, n_before: int) -> None:
    # the tiled kernel adds the same products in the same order, lane by lane: equal bits, NaN included
    twin = np.empty(_long.size - start)
    tiled = np.empty(_long.size - start)
    _lm_stat_python(_long, k, start, n_before, twin)
    _lm_stat_tiled(_long, k, start, n_before, tiled)
    assert_array_equal(tiled.view(np.int64), twin.view(np.int64))


def test_zero_tested_return_with_positive_bpv_is_zero() -> None:
    r = [0.001, -0.002, 0.001, 0.002, 0.0]
    assert lee_mykland_stat(r, 3)[-1] == 0.0


@pytest.mark.parametrize("k", [2, 1, 0, -3])
def test_window_below_three_is_rejected(k: int) -> None:
    with pytest.raises(ValueError, match="window must be >= 3"):
        lee_mykland_stat(SPEC_R, k)


@pytest.mark.parametrize("k", [3.0, "5", True])
def test_window_must_be_an_integer(k: object) -> None:
    with pytest.raises(ValueError, match="window must be an integer"):
        lee_mykland_stat(SPEC_R, k)  # type: ignore[arg-type]


def test_two_dimensional_returns_are_rejected() -> None:
    with pytest.raises(ValueError, match="returns must be one-dimensional"):
        lee_mykland_stat(np.zeros((3, 3)), 3)


def test_short_tail_is_rejected() -> None:
    with pytest.raises(ValueError, match="tail must hold"):
        lee_mykland_stat(SPEC_R[5:], 5, tail=SPEC_R[3:5], n_before=5)
    with pytest.raises(ValueError, match="n_before"):
        lee_mykland_stat(SPEC_R[5:], 5, tail=SPEC_R[:5], n_before=2)


def test_a_tail_one_short_is_rejected_and_the_message_says_how_many() -> None:
    # window 5 needs the last 4 returns before the first new one; 3 are refused, naming 4
    with pytest.raises(ValueError, match=r"min\(window - 1, n_before\) = 4 returns, got 3"):
        lee_mykland_stat(SPEC_R[5:], 5, tail=SPEC_R[2:5], n_before=5)


def test_a_two_dimensional_tail_is_rejected() -> None:
    with pytest.raises(ValueError, match="tail must be one-dimensional, got 2 dimensions"):
        lee_mykland_stat(SPEC_R, 3, tail=np.zeros((2, 2)))


def test_a_window_whose_bipower_variation_overflows_gives_nan_not_zero() -> None:
    # |r_j||r_{j-1}| of 1e200 overflows to inf: L is undefined (NaN), never x / sqrt(inf) = 0
    r = [1e200, -1e200, 1e200, -1e200, 0.5]
    assert math.isnan(lee_mykland_stat(r, 4)[-1])
    twin = np.empty(1)
    with np.errstate(over="ignore"):  # the overflow is the point
        _lm_stat_python(np.array(r), 4, 4, 4, twin)  # the plain twin too
    assert math.isnan(twin[0])


def test_a_statistic_exactly_at_the_threshold_is_not_a_jump() -> None:
    """README: a jump when |L| passes the threshold (strictly)."""
    c = lm_threshold(390, 0.01)
    flags = jump_flags([c, -c, math.nextafter(c, math.inf), -math.nextafter(c, math.inf), math.nan], c)
    assert flags.tolist() == [False, False, True, True, False]


def _in_pieces(r: np.ndarray, k: int, cuts: list[int]) -> np.ndarray:
    parts = []
    seen: list[float] = []
    for lo, hi in zip([0, *cuts], [*cuts, r.size], strict=True):
        parts.append(lee_mykland_stat(r[lo:hi], k, tail=seen[-(k - 1):], n_before=len(seen)))
        seen.extend(r[lo:hi].tolist())
    return np.concatenate(parts)


@pytest.mark.parametrize(("r", "k"), test_data)
def test_streaming_in_pieces_equals_one_pass(r: np.ndarray, k: int) -> None:
    one = lee_mykland_stat(r, k)
    for cuts in ([], [1], [k - 1, k, k + 1], list(range(1, r.size, 7)), list(range(1, r.size))):
        cuts = [c for c in cuts if 0 < c < r.size]
        assert_array_equal(_in_pieces(r, k, cuts), one)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(3, 12),
    r=st.lists(st.floats(-0.05, 0.05, allow_nan=False, allow_subnormal=False), min_size=0, max_size=60),
    data=st.data(),
)
def test_streaming_split_points_property(k: int, r: list[float], data: st.DataObject) -> None:
    arr = np.asarray(r, dtype=np.float64)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, arr.size - 1)), max_size=6))))
    cuts = [c for c in cuts if 0 < c < arr.size]
    assert_array_equal(_in_pieces(arr, k, cuts), lee_mykland_stat(arr, k))
