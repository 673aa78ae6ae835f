"""Lee-Ready in :mod:`udx.trade_sign`, pinned case by case (issue 16 point 4: fast direct tests for mutation
runs): the midpoint test exactly at its tolerance on both sides and one ulp past it, the tick rule's zero ticks
after an up and a down, prints that may not set the price, the tick state carried into and out of a call, each
usable-quote flag, flags OR-ed (not toggled) into the input flags, and the argument checks.

Expected values come from ``tests/reference/quotes.py`` (``lee_ready_each``, written from the module docstring)
or are worked out by hand in the test. Each case runs the public function and the plain-Python twin.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from tests.reference.quotes import lee_ready_each
from udx import trade_sign
from udx.nbbo import CROSSED, LOCKED, NO_QUOTE, ONE_SIDED, STALE
from udx.trade_sign import AT_MIDPOINT, TICK_ONLY, TickState, lee_ready

NAN = math.nan


def check(price, bid, ask, flags, sets_price=None, state=None):
    """Public function and twin against the reference; returns the public result."""
    s0 = state or TickState()
    ref_last = None if math.isnan(s0.last_price) else s0.last_price
    rows, (last_price, last_tick) = lee_ready_each(list(price), list(bid), list(ask), list(flags),
                                                   None if sets_price is None else list(sets_price), ref_last,
                                                   s0.last_tick)
    s = lee_ready(price, bid, ask, flags, state, sets_price)
    assert s.side.dtype == np.int8 and s.flags.dtype == np.uint8
    assert s.side.tolist() == [r[0] for r in rows]
    assert s.flags.tolist() == [r[1] for r in rows]
    n = len(price)
    side, out_flags = np.full(n, 99, np.int8), np.full(n, 255, np.uint8)
    sp = np.ones(n, np.bool_) if sets_price is None else np.asarray(sets_price, np.bool_)
    twin = trade_sign._lee_ready_python(np.asarray(price, np.float64), np.asarray(bid, np.float64),
                                        np.asarray(ask, np.float64), np.asarray(flags, np.uint8), sp,
                                        s0.last_price, s0.last_tick, side, out_flags)
    assert side.tolist() == s.side.tolist() and out_flags.tolist() == s.flags.tolist()
    assert isinstance(s.state, TickState)
    assert type(s.state.last_price) is float and type(s.state.last_tick) is int
    if last_price is None:
        assert math.isnan(s.state.last_price) and math.isnan(twin[0])
    else:
        assert s.state.last_price == last_price and twin[0] == last_price
    assert s.state.last_tick == last_tick and twin[1] == last_tick
    return s


# --- the midpoint test ------------------------------------------------------------------------------------------


def _price_on_the_grid() -> float:
    """A price p with 1e-9 * p == 2**-30 exactly, so |2p - b - a| can equal the tolerance to the bit."""
    p = 2.0**-30 / 1e-9
    for _ in range(16):
        if 1e-9 * p == 2.0**-30:
            return p
        p = float(np.nextafter(p, math.inf if 1e-9 * p < 2.0**-30 else -math.inf))
    raise AssertionError("no price on the grid")


def test_a_price_exactly_the_tolerance_above_or_below_the_midpoint_is_at_the_midpoint():
    p = _price_on_the_grid()
    b = p - 2.0**-10
    a_above = p + 2.0**-10 - 2.0**-30  # 2p - b - a == +2**-30 == 1e-9 p
    a_below = p + 2.0**-10 + 2.0**-30  # == -1e-9 p
    assert 2.0 * p - b - a_above == 1e-9 * p and 2.0 * p - b - a_below == -1e-9 * p
    # a down tick first (p + 0.01 -> p) so that the tick rule's answer (-1) differs from both quote-rule answers
    s = check([p + 0.01, p, p], [b - 1.0, b, b], [a_above + 1.0, a_above, a_below], [0, 0, 0])
    assert s.side.tolist() == [1, -1, -1]  # the first: above the wide quote's midpoint
    assert s.flags.tolist() == [0, AT_MIDPOINT, AT_MIDPOINT]


def test_one_ulp_past_the_tolerance_the_quote_rule_decides():
    p = _price_on_the_grid()
    b = p - 2.0**-10
    a_above = float(np.nextafter(p + 2.0**-10 - 2.0**-30, -math.inf))
    a_below = float(np.nextafter(p + 2.0**-10 + 2.0**-30, math.inf))
    assert 2.0 * p - b - a_above > 1e-9 * p and 2.0 * p - b - a_below < -1e-9 * p
    s = check([p - 0.01, p, p + 0.01, p], [b, b, b, b], [a_above, a_above, a_below, a_below], [0] * 4)
    assert s.side.tolist() == [-1, 1, 1, -1]  # ticks are up, up, up, down: the quote rule overrides two of them
    assert s.flags.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(("price", "side"), [(10.02, 1), (10.03, 1), (9.98, -1), (9.99, -1), (9.97, -1)])
def test_away_from_the_midpoint_the_side_of_it_decides_against_the_tick(price, side):
    prev = price + 0.05 * side  # the tick says the opposite side
    s = check([prev, price], [9.99, 9.99], [10.02, 10.02], [0, 0])
    assert s.side.tolist()[1] == side and s.flags.tolist()[1] == 0


# --- the tick rule ----------------------------------------------------------------------------------------------

NO_Q = [NO_QUOTE]


@pytest.mark.parametrize(("prices", "sides"), [
    ([10.0], [0]),
    ([10.0, 10.0, 10.0], [0, 0, 0]),
    ([10.0, 10.01, 10.01, 10.01], [0, 1, 1, 1]),
    ([10.0, 9.99, 9.99, 9.99], [0, -1, -1, -1]),
    ([10.0, 10.01, 10.0, 10.0, 10.01, 10.01], [0, 1, -1, -1, 1, 1]),
])
def test_zero_ticks_take_the_last_change(prices, sides):
    n = len(prices)
    s = check(prices, [NAN] * n, [NAN] * n, NO_Q * n)
    assert s.side.tolist() == sides and s.flags.tolist() == [NO_QUOTE | TICK_ONLY] * n


def test_prints_that_may_not_set_the_price_are_compared_with_the_last_that_did_and_move_nothing():
    prices = [10.0, 10.02, 10.01, 9.98, 10.01, 10.0, 10.0, 10.02, 10.0]
    sets = [True, False, True, False, True, True, False, False, True]
    # by hand: 10.0 first (0); odd lot 10.02 > 10.0 (+1, state stays 0 change); 10.01 up (+1); 9.98 < 10.01 (-1);
    # 10.01 equal to the last setting price (the last change, +1); 10.0 down (-1); 10.0 odd lot equal (-1);
    # 10.02 odd lot above 10.0 (+1); 10.0 equal to the last setting price: the last change (-1), not the odd lot's
    n = len(prices)
    s = check(prices, [NAN] * n, [NAN] * n, NO_Q * n, sets)
    assert s.side.tolist() == [0, 1, 1, -1, 1, -1, -1, 1, -1]
    assert (s.state.last_price, s.state.last_tick) == (10.0, -1)


def test_a_print_that_may_not_set_the_price_before_any_that_did_takes_the_carried_tick():
    s = check([10.0, 10.5], [NAN] * 2, [NAN] * 2, NO_Q * 2, [False, False], TickState(NAN, -1))
    assert s.side.tolist() == [-1, -1]
    assert math.isnan(s.state.last_price) and s.state.last_tick == -1


def test_sets_price_defaults_to_every_print():
    prices = [10.0, 10.02, 10.01]
    s = check(prices, [NAN] * 3, [NAN] * 3, NO_Q * 3)
    assert s.side.tolist() == [0, 1, -1]  # 10.02 moved the state: 10.01 is a down tick
    assert (s.state.last_price, s.state.last_tick) == (10.01, -1)


# --- the tick state across calls --------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "prices", "sides", "out"), [
    (TickState(10.0, -1), [10.0, 10.0], [-1, -1], (10.0, -1)),
    (TickState(10.0, 1), [10.0], [1], (10.0, 1)),
    (TickState(10.0, 1), [9.99], [-1], (9.99, -1)),
    (TickState(10.0, -1), [10.01], [1], (10.01, 1)),
    (TickState(NAN, 1), [10.0, 10.0], [1, 1], (10.0, 1)),
    (TickState(NAN, -1), [10.0, 10.01], [-1, 1], (10.01, 1)),
    (TickState(10.0, 0), [10.0], [0], (10.0, 0)),
    (None, [7.5], [0], (7.5, 0)),
])
def test_the_carried_state_decides_the_first_prints_of_a_call_and_comes_out_updated(state, prices, sides, out):
    n = len(prices)
    s = check(prices, [NAN] * n, [NAN] * n, NO_Q * n, None, state)
    assert s.side.tolist() == sides
    assert (s.state.last_price, s.state.last_tick) == out


def test_an_empty_call_carries_the_state_through():
    s = check([], [], [], [], None, TickState(10.0, -1))
    assert s.side.size == 0 and s.state == TickState(10.0, -1)
    s = check([], [], [], [])
    assert math.isnan(s.state.last_price) and s.state.last_tick == 0


def test_random_series_in_pieces_match_the_reference_and_one_pass():
    rng = np.random.default_rng(164)
    for _ in range(60):
        n = int(rng.integers(1, 40))
        price = np.round(10.0 + np.cumsum(rng.choice([-0.01, 0.0, 0.0, 0.01], n)), 2)
        mid = price + rng.choice([-0.005, 0.0, 0.0, 0.005, 0.01], n)
        half = rng.choice([0.005, 0.01, 0.02], n)
        bid, ask = mid - half, mid + half
        flags = np.where(rng.random(n) < 0.3, rng.choice([NO_QUOTE, STALE, ONE_SIDED, LOCKED, CROSSED], n), 0)
        sets = rng.random(n) < 0.7
        whole = check(price, bid, ask, flags, sets)
        cut = int(rng.integers(0, n + 1))
        first = check(price[:cut], bid[:cut], ask[:cut], flags[:cut], sets[:cut])
        second = check(price[cut:], bid[cut:], ask[cut:], flags[cut:], sets[cut:], first.state)
        assert_array_equal(np.concatenate([first.side, second.side]), whole.side)
        assert_array_equal(np.concatenate([first.flags, second.flags]), whole.flags)


# --- flags ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [NO_QUOTE, STALE, ONE_SIDED, LOCKED, CROSSED, STALE | LOCKED, 31])
def test_each_unusable_flag_sends_the_trade_to_the_tick_rule(flag):
    # the quote says buy (far above its midpoint); the tick says sell
    s = check([10.05, 10.0], [9.0, 9.0], [9.5, 9.5], [flag, flag])
    assert s.side.tolist() == [0, -1] and s.flags.tolist() == [flag | TICK_ONLY] * 2


def test_signing_again_with_the_output_flags_gives_the_same_sides_and_flags():
    """The flags out are the flags in OR-ed with AT_MIDPOINT / TICK_ONLY: OR-ing again changes nothing (bits 32
    and 64 are not usable-quote flags, so a usable quote stays usable)."""
    price, bid, ask = [10.0, 10.01, 10.01, 10.03], [9.99, 10.0, 10.0, 9.0], [10.01, 10.02, 10.02, 9.5]
    flags = [0, 0, STALE, 0]
    once = check(price, bid, ask, flags)
    assert once.flags.tolist() == [AT_MIDPOINT, AT_MIDPOINT, STALE | TICK_ONLY, 0]
    again = check(price, bid, ask, once.flags)
    assert again.side.tolist() == once.side.tolist() and again.flags.tolist() == once.flags.tolist()
    assert check([10.0], [9.0], [9.5], [TICK_ONLY]).flags.tolist() == [TICK_ONLY]  # usable quote, buy
    assert check([10.0], [9.0], [9.5], [TICK_ONLY]).side.tolist() == [1]


# --- arguments --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, -1.0, NAN, math.inf, -math.inf])
def test_a_price_that_is_not_positive_and_finite_is_refused(bad):
    with pytest.raises(ValueError) as err:
        lee_ready([10.0, bad], [9.0, 9.0], [11.0, 11.0], [0, 0])
    assert str(err.value) == "prices must be positive and finite"


def test_the_smallest_positive_price_is_accepted():
    s = check([5e-324, 1e-300], [NAN] * 2, [NAN] * 2, [NO_QUOTE] * 2)
    assert s.side.tolist() == [0, 1]


@pytest.mark.parametrize("args", [
    ([[10.0]], [[9.0]], [[11.0]], [[0]], None),  # two-dimensional
    ([10.0], [9.0, 9.0], [11.0], [0], None),
    ([10.0], [9.0], [11.0, 11.0], [0], None),
    ([10.0], [9.0], [11.0], [0, 0], None),
    ([10.0], [9.0], [11.0], [0], [True, True]),
    ([10.0, 10.0], [9.0] * 2, [11.0] * 2, [0] * 2, [True]),
])
def test_shapes_that_do_not_fit_are_refused(args):
    price, bid, ask, flags, sets = args
    with pytest.raises(ValueError, match=r"need one bid, ask and flag per price \(and sets_price flag\), got price"):
        lee_ready(price, bid, ask, flags, sets_price=sets)
