"""udx.impact's edges against tests/reference/liquidity.py (Amihud, Roll, Kyle written from the papers), small
inputs, the plain twins under ``UDX_DISABLE_NUMBA=1`` (the mutation group ``impact``): volumes at and below one
dollar, bars that repeat the last price, the carried tail (the last ``window + 1`` prices before the last bar's
end, never a price after it), a call without bars, Kyle's regression on flows of small scale or with a large
mean next to their spread, flows that do not vary, and the exact argument messages.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tests.reference import liquidity as ref
from udx.impact import amihud, kyle_bars, roll_bars

# --- Amihud ----------------------------------------------------------------------------------------------------


def test_amihud_at_and_below_one_dollar_and_without_volume() -> None:
    r = [0.01, -0.02, 0.03, 0.01, -0.01, np.nan]
    dv = [0.5, 1.0, 0.0, -3.0, np.nan, 2.0]
    got = amihud(r, dv)
    assert_allclose(got, [0.02, 0.02, np.nan, np.nan, np.nan, np.nan], rtol=1e-15, equal_nan=True)


def test_amihud_of_infinite_values_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = amihud([np.inf, 0.01, np.inf], [np.inf, np.inf, 1e6])
    assert math.isnan(got[0]) and got[1] == 0.0 and got[2] == np.inf


def test_amihud_refuses_two_dimensional_input() -> None:
    with pytest.raises(ValueError, match=r"^need one dollar volume per return, got \(1, 2\) and \(1, 2\)$"):
        amihud([[0.1, 0.2]], [[1.0, 2.0]])


# --- Roll ------------------------------------------------------------------------------------------------------

BOUNCE = [10.00, 10.02, 10.01, 10.03, 10.00, 10.02, 10.01, 10.04, 10.01, 10.03, 10.00, 10.03]


def _roll_want(ends: list[int], ts: list[int], price: list[float], window: int) -> np.ndarray:
    return np.array(ref.roll(ends, list(zip(ts, price, strict=True)), window))


@pytest.mark.parametrize("ends", [[6, 13, 13], [8, 12, 12, 12], [13, 13, 13], [5, 9, 9, 13, 13]])
def test_roll_of_bars_that_repeat_the_last_price_is_the_definition(ends: list[int]) -> None:
    ts = list(range(1, 13))
    got, _ = roll_bars([], ts, BOUNCE, ends, 6)
    want = _roll_want(ends, ts, BOUNCE, 6)
    assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert np.isfinite(want[-1])


@pytest.mark.parametrize("window", [4, 5, 9])
def test_the_carried_tail_is_the_last_window_plus_one_prices_before_the_last_bars_end(window: int) -> None:
    ts = np.arange(1, 13)
    _, tail = roll_bars([], ts, BOUNCE, [4, 11], window)  # prices at 1..10 are before the end 11
    assert tail.tolist() == BOUNCE[:10][-(window + 1):]
    _, tail = roll_bars([9.0, 9.5], ts[:3], BOUNCE[:3], [3], window)  # fewer: all of them
    assert tail.tolist() == [9.0, 9.5, *BOUNCE[:2]][-(window + 1):]


def test_a_call_without_bars_carries_every_price() -> None:
    out, tail = roll_bars([9.9, 10.0], [1, 2, 3, 4, 5], BOUNCE[:5], [], 4)
    assert out.size == 0 and tail.tolist() == BOUNCE[:5]
    out, tail = roll_bars([9.9, 10.0], [1, 2], BOUNCE[:2], np.empty(0, np.int64), 4)
    assert tail.tolist() == [9.9, 10.0, *BOUNCE[:2]]


@pytest.mark.parametrize("window", [4, 6])
def test_calls_that_also_see_prints_after_their_last_bar_equal_one_pass(window: int) -> None:
    """Each call gets every print up to a bar past its own last one (the next call reads them again): the prints
    after the last bar's end are not carried, and a bar with one or no new price still has its window."""
    rng = np.random.default_rng(11)
    ts = np.sort(rng.choice(np.arange(1, 400), 60, replace=False))
    price = 10 + rng.choice([-0.01, 0.01], 60) + np.cumsum(rng.normal(0, 0.01, 60))  # no covariance exactly 0
    ends = np.arange(10, 401, 10)
    whole, whole_tail = roll_bars([], ts, price, ends, window)
    want = _roll_want(ends.tolist(), ts.tolist(), price.tolist(), window)
    assert_allclose(whole, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    carried, parts, done = np.empty(0), [], 0
    for k in range(0, ends.size, 3):
        bars = ends[k:k + 3]
        sel = (ts >= done) & (ts < bars[-1] + 10)  # one bar's prints more than the call's bars read
        out, carried = roll_bars(carried, ts[sel], price[sel], bars, window)
        parts.append(out)
        done = int(bars[-1])
    assert_array_equal(np.concatenate(parts), whole)
    assert_array_equal(carried, whole_tail)


def test_roll_with_the_smallest_window() -> None:
    ts = list(range(1, 13))
    ends = list(range(2, 14))
    got, _ = roll_bars([], ts, BOUNCE, ends, 4)
    assert_allclose(got, _roll_want(ends, ts, BOUNCE, 4), rtol=1e-12, equal_nan=True)
    assert np.isnan(got[:4]).all() and np.isfinite(got[4:]).any()  # 3 pairs need 5 prices


# --- Kyle ------------------------------------------------------------------------------------------------------


def _kyle_want(r: np.ndarray, x: np.ndarray, window: int) -> np.ndarray:
    return np.array(ref.kyle(r.tolist(), x.tolist(), window))


@pytest.mark.parametrize(("scale", "mean", "intercept"),
                         [(0.05, 0.0, 0.3), (1.0, 0.0, 0.3), (1e3, 5e6, 0.3), (3.0, 2e4, 0.3), (1e3, 5e6, 1e4)])
def test_kyle_on_flows_of_small_scale_or_a_large_mean_is_the_regression(scale: float, mean: float,
                                                                        intercept: float) -> None:
    """The slope depends neither on the flows' units and mean nor on the regression's intercept: small flows
    (sums of squares below one), flows far from zero next to their spread (a sum of (x + mean) (x - mean) is not
    one of squares there), and returns far from zero (the mean of the returns must be taken out)."""
    rng = np.random.default_rng(int(scale * 7 + mean % 97 + intercept))
    n = 40
    x = mean + rng.normal(0, scale, n)
    r = intercept + 2e-3 / scale * (x - mean) + rng.normal(0, 1e-3, n)
    got, _, _ = kyle_bars([], [], r, x, 7)
    want = _kyle_want(r, x, 7)
    assert_allclose(got, want, rtol=1e-7, equal_nan=True)
    assert np.isfinite(got[2:]).all()


def test_kyle_with_the_smallest_window_and_flows_that_do_not_vary() -> None:
    x = np.array([1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 0.5, 1.5])
    r = np.array([0.001, 0.003, 0.002, -0.001, 0.004, 0.0, 0.002, -0.002])
    got, cr, cx = kyle_bars([], [], r, x, 3)
    want = _kyle_want(r, x, 3)
    assert_allclose(got, want, rtol=1e-12, atol=1e-15, equal_nan=True)
    assert np.isnan(got[4]) and np.isnan(got[5]) and np.isfinite(got[6])  # 4, 4, 4: no slope
    assert cr.tolist() == r[-3:].tolist() and cx.tolist() == x[-3:].tolist()


def test_kyle_of_flows_that_do_not_vary_is_nan_without_a_division_by_zero() -> None:
    """A window of equal flows has no slope: NaN, not a 0 / 0 (which the compiled kernel would raise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, _, _ = kyle_bars([], [], [0.001, 0.002, -0.001, 0.003], [2.0, 2.0, 2.0, 2.0], 3)
    assert np.isnan(got).all()


def test_kyle_carries_the_last_window_finite_pairs() -> None:
    r = np.array([0.1, np.nan, 0.2, 0.3, 0.4, 0.5])
    x = np.array([1.0, 2.0, np.inf, 3.0, 4.0, 6.0])
    _, cr, cx = kyle_bars([0.05], [0.5], r, x, 4)
    assert cr.tolist() == [0.1, 0.3, 0.4, 0.5] and cx.tolist() == [1.0, 3.0, 4.0, 6.0]
    _, cr, cx = kyle_bars([], [], r[:1], x[:1], 4)
    assert cr.tolist() == [0.1] and cx.tolist() == [1.0]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: kyle_bars([0.1], [], [0.1], [1.0], 5),
     r"^need one signed dollar volume per return \(and per carried return\)$"),
    (lambda: kyle_bars([], [], [0.1, 0.2], [1.0], 5),
     r"^need one signed dollar volume per return \(and per carried return\)$"),
    (lambda: kyle_bars([], [], [[0.1]], [[1.0]], 5),
     r"^need one signed dollar volume per return \(and per carried return\)$"),
    (lambda: kyle_bars([], [], [0.1], [1.0], 2), r"^window must be >= 3 bars, got 2$"),
    (lambda: roll_bars([], [1], [1.0], [2], 3), r"^window must be >= 4 price changes, got 3$"),
    (lambda: roll_bars([], [1, 2], [1.0], [2], 5), r"^need one price per trade time, got \(2,\) and \(1,\)$"),
    (lambda: roll_bars([], [[1]], [[1.0]], [2], 5), r"^need one price per trade time, got \(1, 1\) and \(1, 1\)$"),
])
def test_bad_arguments_are_refused_with_their_exact_message(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()
