"""The rolling BNS kernel (``_bns_rolling`` and its plain twin) against the windowed reference of
``tests/reference/stats.py`` (every window summed from scratch): adds and removes, the recompute at multiples
of the window, ``min_periods``, zero runs, NaN returns, streamed pieces with carried sums.

Tolerance: the kernel's running sums drift from the from-scratch sums by rounding only (a few ulps of the
largest term that entered since the last recompute); ``rtol = atol = 1e-9`` on the statistic leaves that
room and nothing else (a wrong term, factor or window moves it by far more). NaN positions must match.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.reference import stats
from udx.bns import _FORMS, _bns_rolling, _bns_rolling_python, bns_stat

TOL = {"rtol": 1e-9, "atol": 1e-9}


def returns(seed: int, n: int = 80) -> np.ndarray:
    """Returns of order 1e-3 with a few jumps (x40), a zero run longer than any window and isolated zeros."""
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(n) * 1e-3
    r[rng.random(n) < 0.06] *= 40.0
    r[30:42] = 0.0
    r[rng.random(n) < 0.08] = 0.0
    r[45] = 2e-3  # a single nonzero return among zeros: BV = 0 for a short window
    r[44] = r[46] = 0.0
    return r


def reference(r: np.ndarray, window: int, min_periods: int, form: str, ht: bool) -> np.ndarray:
    return np.array(stats.bns([float(v) for v in r], window, min_periods, form, ht))


def run(kernel: object, r: np.ndarray, window: int, min_periods: int, form: str, ht: bool) -> np.ndarray:
    out = np.empty(r.size)
    kernel(r, 0, 0, window, min_periods, _FORMS[form], ht, np.zeros(6), out)  # type: ignore[operator]
    return out


@pytest.mark.parametrize("form", ["ratio", "log", "linear"])
@pytest.mark.parametrize("ht", [True, False])
@pytest.mark.parametrize("window", [3, 4, 7, 10])
def test_the_twin_and_the_kernel_equal_the_windowed_reference(form: str, ht: bool, window: int) -> None:
    for seed in (0, 1):
        r = returns(seed)
        for mp in sorted({3, max(3, window // 2), window}):
            want = reference(r, window, mp, form, ht)
            got = run(_bns_rolling_python, r, window, mp, form, ht)
            assert_allclose(got, want, **TOL, err_msg=f"seed {seed} min_periods {mp}")
            assert np.array_equal(run(_bns_rolling, r, window, mp, form, ht), got, equal_nan=True)
            assert np.isfinite(want).sum() > r.size // 3  # the comparison is not NaN against NaN


def test_bns_stat_is_the_reference_with_its_default_min_periods() -> None:
    r = returns(2, 120)
    for window in (5, 9, 16):
        assert_allclose(bns_stat(r, window), reference(r, window, max(3, window // 2), "ratio", True), **TOL)
    assert_allclose(bns_stat(r, 9, form="log", bv="hf", min_periods=4), reference(r, 9, 4, "log", False), **TOL)


def test_the_first_values_wait_for_min_periods_returns() -> None:
    r = np.random.default_rng(3).standard_normal(20) * 1e-3
    for window, mp in ((10, 3), (10, 6), (10, 10), (4, 4)):
        out = run(_bns_rolling_python, r, window, mp, "ratio", True)
        assert np.isnan(out[: mp - 1]).all() and np.isfinite(out[mp - 1:]).all()


def test_zero_runs_give_exact_zero_sums_not_rounding_residue() -> None:
    # a jump leaves the window into a zero run: the running update would leave +-1e-19 residue in RV and the
    # products; the counts make them exactly 0, so ratio and log are NaN (RV = 0) as the reference says
    r = np.zeros(40)
    r[:6] = [3e-3, -0.7, 1e-3, 2e-3, -1.3e-3, 0.9e-3]
    r[1] = 0.7e-3
    for form in ("ratio", "log", "linear"):
        got = run(_bns_rolling_python, r, 4, 3, form, True)
        assert_allclose(got, reference(r, 4, 3, form, True), **TOL)
        assert np.isnan(got[10:]).all()
    sums = np.zeros(6)
    _bns_rolling_python(r, 0, 0, 7, 3, 0, True, sums, np.empty(r.size))
    assert sums.tolist() == [0.0] * 6


@pytest.mark.parametrize("window", [3, 5, 8])
def test_the_carried_sums_are_the_last_window_s_sums_and_nonzero_counts(window: int) -> None:
    r = returns(4, 50)
    for end in range(1, r.size + 1):
        sums = np.zeros(6)
        _bns_rolling_python(r[:end], 0, 0, window, 3, 0, True, sums, np.empty(end))
        w = r[max(0, end - window):end]
        terms = [w * w, np.abs(w[1:]) * np.abs(w[:-1]), np.abs(w[2:] * w[1:-1] * w[:-2]) ** (4.0 / 3.0)]
        assert_allclose(sums[:3], [t.sum() for t in terms], rtol=1e-9, atol=1e-20)
        assert sums[3:].tolist() == [float(np.count_nonzero(t)) for t in terms]


@pytest.mark.parametrize("window", [3, 6, 11])
def test_streamed_pieces_equal_one_pass_and_the_reference(window: int) -> None:
    r = returns(5, 90)
    whole = run(_bns_rolling_python, r, window, 3, "ratio", True)
    assert_allclose(whole, reference(r, window, 3, "ratio", True), **TOL)
    rng = np.random.default_rng(window)
    cuts = [0, *sorted(rng.choice(np.arange(1, r.size), 6, replace=False).tolist()), r.size]
    sums = np.zeros(6)
    pieces = []
    for s, e in zip(cuts[:-1], cuts[1:], strict=True):
        lo = max(0, s - window)  # the caller keeps the last `window` returns before a piece
        out = np.empty(e - s)
        _bns_rolling_python(r[lo:e], s - lo, s, window, 3, 0, True, sums, out)
        pieces.append(out)
    assert np.array_equal(np.concatenate(pieces), whole, equal_nan=True)


@pytest.mark.parametrize("window", [4, 7])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_return_is_nan_only_in_the_windows_that_hold_it(window: int, bad: float) -> None:
    r = np.random.default_rng(6).standard_normal(40) * 1e-3
    r[9] = bad  # global index 9: not a multiple of the window, so the running sums must heal by themselves
    for form in ("ratio", "linear"):
        with np.errstate(invalid="ignore"):  # the plain twin's NumPy scalars warn on inf - inf; numba does not
            got = run(_bns_rolling_python, r, window, 3, form, True)
            compiled = run(_bns_rolling, r, window, 3, form, True)
        assert np.isnan(got[9: 9 + window]).all()
        assert np.isfinite(got[9 + window:]).all()
        assert_allclose(got, reference(r, window, 3, form, True), **TOL)
        assert np.array_equal(compiled, got, equal_nan=True)


def test_the_recompute_at_each_multiple_of_the_window_clears_rounding_residue() -> None:
    # returns of 1 then of 1e-8: removing a square of ~1 from the running sum leaves a residue of ~1e-16, the
    # size of the whole sum of the small squares; the sums are exact again from the next multiple of the
    # window (global index 10 here), and from there on the statistic equals the from-scratch reference
    rng = np.random.default_rng(7)
    r = np.concatenate((rng.uniform(0.5, 1.5, 5) * rng.choice([-1, 1], 5), rng.standard_normal(60) * 1e-8))
    for form in ("ratio", "log", "linear"):
        got = run(_bns_rolling_python, r, 5, 3, form, True)
        assert_allclose(got[10:], reference(r, 5, 3, form, True)[10:], **TOL)


def test_an_overflowing_square_recomputes_until_the_return_has_left() -> None:
    # x² overflows (its products and triple products do not): RV is inf while x is in the window (ratio NaN),
    # then every value equals the reference again, without waiting for the next multiple of the window
    r = np.random.default_rng(8).standard_normal(40) * 1e-3
    r[11] = 1e170
    with np.errstate(over="ignore", invalid="ignore"):
        got = run(_bns_rolling_python, r, 6, 3, "ratio", True)
        want = reference(r, 6, 3, "ratio", True)
    assert np.isnan(got[11:17]).all() and np.isfinite(got[17:]).all()
    assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("form", ["ratio", "log", "linear"])
def test_a_triple_product_that_alone_overflows_recomputes_until_it_has_left(form: str) -> None:
    # two returns of 1e120: their squares and products (1e240) are finite, a triple product's 4/3 power (1e316)
    # is not, so only the tripower sum is infinite; the kernel must still recompute while it is (a guard that
    # looked at the squares and products alone left inf - inf = NaN in the sum when the triple left the window)
    r = np.random.default_rng(8).standard_normal(40) * 1e-3
    r[11] = r[12] = 1e120
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        got = run(_bns_rolling_python, r, 6, 3, form, True)
        compiled = run(_bns_rolling, r, 6, 3, form, True)
        want = reference(r, 6, 3, form, True)
        assert np.isfinite(r * r).all() and not np.isfinite(abs(r[13] * r[12] * r[11]) ** (4 / 3))
    assert_allclose(got, want, **TOL)
    assert np.array_equal(compiled, got, equal_nan=True)
