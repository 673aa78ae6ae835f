"""The trade ↔ quote kernels (udx.nbbo, udx.trade_sign) against their plain-Python twins and the naive rules
in tests/naive.py: hand-made locked, crossed, one-sided, stale and same-timestamp cases, seeded random series,
and incremental == one pass for any time cut (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from tests import naive
from udx import nbbo, trade_sign
from udx.nbbo import (
    CROSSED,
    LOCKED,
    NO_QUOTE,
    ONE_SIDED,
    STALE,
    CarriedQuote,
    prevailing_quotes,
)
from udx.trade_sign import AT_MIDPOINT, TICK_ONLY, TickState, lee_ready

NAN = math.nan


def run_python_twin(trade_ts, quote_ts, bid, ask, stale_ns):
    n = len(trade_ts)
    out = (np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n, np.uint8))
    nbbo._prevailing_python(np.asarray(trade_ts, np.int64), np.asarray(quote_ts, np.int64),
                            np.asarray(bid, float), np.asarray(ask, float), stale_ns, -1, NAN, NAN, *out)
    return out


def check_against_naive(trade_ts, quote_ts, bid, ask, stale_ns):
    p = prevailing_quotes(trade_ts, quote_ts, bid, ask, stale_ns)
    expected = naive.prevailing_quote(list(trade_ts), list(quote_ts), list(bid), list(ask), stale_ns)
    exp_bid, exp_ask, exp_age, exp_flags = (np.array(c) for c in zip(*expected, strict=True)) if expected \
        else (np.empty(0),) * 4
    assert_array_equal(p.bid, exp_bid.astype(float))
    assert_array_equal(p.ask, exp_ask.astype(float))
    assert_array_equal(p.age_ns, exp_age.astype(np.int64))
    assert_array_equal(p.flags, exp_flags.astype(np.uint8))
    twin = run_python_twin(trade_ts, quote_ts, bid, ask, stale_ns)
    for got, want in zip((p.bid, p.ask, p.age_ns, p.flags), twin, strict=True):
        assert_array_equal(got, want)
    return p


# --- hand-made cases -------------------------------------------------------------------------------------------


def test_a_quote_stamped_at_the_trade_time_is_not_its_prevailing_quote():
    p = check_against_naive([100, 200], [50, 100, 150], [9.0, 9.5, 9.8], [9.2, 9.7, 9.9], 10**9)
    assert p.bid.tolist() == [9.0, 9.8] and p.ask.tolist() == [9.2, 9.9]
    assert p.age_ns.tolist() == [50, 50]


def test_of_several_quotes_at_one_time_the_last_listed_prevails():
    p = check_against_naive([101], [100, 100, 100], [9.0, 9.1, 9.2], [9.5, 9.4, 9.3], 10**9)
    assert (p.bid[0], p.ask[0]) == (9.2, 9.3)


def test_trades_sharing_a_time_share_the_quote_before_it_even_with_quotes_between_them_at_that_time():
    p = check_against_naive([100, 100, 100], [90, 100], [9.0, 9.9], [9.1, 10.0], 10**9)
    assert p.bid.tolist() == [9.0, 9.0, 9.0]


def test_no_quote_yet_is_flagged_and_nan():
    p = check_against_naive([5, 10, 11], [10], [9.0], [9.1], 10**9)
    assert p.flags.tolist() == [NO_QUOTE, NO_QUOTE, 0]
    assert math.isnan(p.bid[1]) and p.age_ns.tolist()[:2] == [-1, -1]


@pytest.mark.parametrize(("bid", "ask", "flag"), [
    (10.0, 10.0, LOCKED), (10.01, 10.0, CROSSED), (0.0, 10.0, ONE_SIDED), (10.0, 0.0, ONE_SIDED),
    (NAN, 10.0, ONE_SIDED), (10.0, math.inf, ONE_SIDED), (-1.0, 10.0, ONE_SIDED), (0.0, 0.0, ONE_SIDED),
    (9.99, 10.0, 0),
])
def test_locked_crossed_and_one_sided_quotes_are_flagged(bid, ask, flag):
    p = check_against_naive([20], [10], [bid], [ask], 10**9)
    assert p.flags[0] == flag
    if flag == ONE_SIDED:
        assert math.isnan(p.bid[0]) or math.isnan(p.ask[0])


def test_a_quote_older_than_the_stale_limit_is_flagged_and_one_exactly_at_it_is_not():
    p = check_against_naive([110, 111, 200], [10, 150], [9.0, 9.0], [9.1, 8.0], 100)
    assert p.flags.tolist() == [0, STALE, CROSSED]


def test_the_kernel_matches_naive_on_seeded_random_books():
    rng = np.random.default_rng(11)
    for _ in range(30):
        nq, nt = int(rng.integers(0, 60)), int(rng.integers(0, 60))
        quote_ts = np.sort(rng.integers(0, 200, nq))
        trade_ts = np.sort(rng.integers(0, 200, nt))  # many ties between and within the two streams
        bid = np.round(rng.uniform(9.9, 10.1, nq), 2)
        ask = np.round(bid + rng.choice([-0.01, 0.0, 0.01, 0.02, 0.03], nq), 2)
        bid[rng.random(nq) < 0.1] = 0.0
        ask[rng.random(nq) < 0.05] = NAN
        check_against_naive(trade_ts, quote_ts, bid, ask, int(rng.integers(0, 80)))


@pytest.mark.parametrize(("args", "message"), [
    (([2, 1], [1], [9.0], [9.1], 10), "trade_ts must be sorted"),
    (([1, 2], [3, 1], [9.0, 9.0], [9.1, 9.1], 10), "quote_ts must be sorted"),
    (([1], [1], [9.0, 9.1], [9.1], 10), "one bid and ask per quote"),
    (([1], [1], [9.0], [9.1], -1), "stale_ns must be >= 0"),
])
def test_bad_input_is_a_clear_error(args, message):
    with pytest.raises(ValueError, match=message):
        prevailing_quotes(*args)


def test_a_batch_that_overlaps_the_carried_quote_is_refused():
    carried = CarriedQuote(100, 9.0, 9.1)
    with pytest.raises(ValueError, match="cut batches on time"):
        prevailing_quotes([100], [], [], [], 10, carried)
    with pytest.raises(ValueError, match="cut batches on time"):
        prevailing_quotes([101], [100], [9.0], [9.1], 10, carried)


# --- Lee-Ready ---------------------------------------------------------------------------------------------------


def check_signing(price, bid, ask, flags):
    s = lee_ready(price, bid, ask, flags)
    expected = naive.lee_ready(list(price), list(bid), list(ask), list(flags))
    assert s.side.tolist() == [e[0] for e in expected]
    assert s.flags.tolist() == [e[1] for e in expected]
    side, out_flags = np.empty(len(price), np.int8), np.empty(len(price), np.uint8)
    trade_sign._lee_ready_python(np.asarray(price, float), np.asarray(bid, float), np.asarray(ask, float),
                                 np.asarray(flags, np.uint8), np.ones(len(price), np.bool_), NAN, 0, side,
                                 out_flags)
    assert_array_equal(s.side, side)
    assert_array_equal(s.flags, out_flags)
    return s


def test_the_quote_rule_signs_by_the_side_of_the_midpoint():
    s = check_signing([10.02, 9.99, 10.01, 10.0], [9.99, 9.99, 9.99, 9.99], [10.02, 10.02, 10.01, 10.03],
                      [0, 0, 0, 0])
    assert s.side.tolist() == [1, -1, 1, -1]


def test_a_midpoint_trade_takes_the_tick_rule_and_the_first_trade_has_no_tick():
    s = check_signing([10.01, 10.02, 10.02, 10.01], [10.0, 10.01, 10.01, 10.0], [10.02, 10.03, 10.03, 10.02],
                      [0, 0, 0, 0])
    assert s.side.tolist() == [0, 1, 1, -1]
    assert s.flags.tolist() == [AT_MIDPOINT] * 4


@pytest.mark.parametrize("flag", [NO_QUOTE, STALE, ONE_SIDED, LOCKED, CROSSED, STALE | CROSSED])
def test_without_a_usable_quote_the_tick_rule_decides_and_says_so(flag):
    s = check_signing([10.0, 10.05, 10.05, 9.0], [10.0, 9.0, 10.2, 10.0], [10.1, 9.5, 10.3, 10.1],
                      [flag] * 4)
    assert s.side.tolist() == [0, 1, 1, -1]  # never the quote rule, whatever the quote says
    assert all(f == flag | TICK_ONLY for f in s.flags.tolist())


def test_lee_ready_matches_naive_on_seeded_random_series():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(1, 80))
        price = np.round(10.0 + np.cumsum(rng.choice([-0.01, 0.0, 0.0, 0.01], n)), 2)
        bid = np.round(price - rng.choice([0.0, 0.01, 0.02], n), 2)
        ask = np.round(bid + rng.choice([0.01, 0.02, 0.04], n), 2)
        flags = np.where(rng.random(n) < 0.2, rng.choice([NO_QUOTE, STALE, CROSSED], n), 0)
        check_signing(price, bid, ask, flags)


def test_lee_ready_refuses_bad_prices():
    with pytest.raises(ValueError, match="positive and finite"):
        lee_ready([10.0, NAN], [9.0, 9.0], [11.0, 11.0], [0, 0])
    with pytest.raises(ValueError, match="one bid, ask and flag per price"):
        lee_ready([10.0], [9.0, 9.0], [11.0], [0])


# --- incremental == one pass -------------------------------------------------------------------------------


def random_book(seed: int, nq: int, nt: int):
    rng = np.random.default_rng(seed)
    quote_ts = np.sort(rng.integers(0, 5_000, nq))
    trade_ts = np.sort(rng.integers(0, 5_000, nt))
    bid = np.round(10.0 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], nq)), 2)
    ask = np.round(bid + rng.choice([-0.01, 0.0, 0.01, 0.02], nq), 2)
    price = np.round(10.0 + np.cumsum(rng.choice([-0.01, 0.0, 0.0, 0.01], nt)), 2)
    return trade_ts, price, quote_ts, bid, ask


def join_and_sign(trade_ts, price, quote_ts, bid, ask, stale_ns, cuts):
    """Join and sign in pieces cut at the times ``cuts``; concatenated outputs."""
    carried, tick = CarriedQuote(), TickState()
    parts = []
    edges = [-1, *sorted(cuts), 10**18]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        ts_sel = (trade_ts > lo) & (trade_ts <= hi)
        q_sel = (quote_ts > lo) & (quote_ts <= hi)
        p = prevailing_quotes(trade_ts[ts_sel], quote_ts[q_sel], bid[q_sel], ask[q_sel], stale_ns, carried)
        s = lee_ready(price[ts_sel], p.bid, p.ask, p.flags, tick)
        carried, tick = p.carried, s.state
        parts.append((p.bid, p.ask, p.age_ns, s.side, s.flags))
    return [np.concatenate(c) for c in zip(*parts, strict=True)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), nq=st.integers(0, 300), nt=st.integers(0, 300),
       cuts=st.lists(st.integers(0, 5_000), max_size=6, unique=True), stale_ns=st.integers(0, 400))
def test_joining_and_signing_in_pieces_cut_on_time_equals_one_pass(seed, nq, nt, cuts, stale_ns):
    book = random_book(seed, nq, nt)
    whole = join_and_sign(*book, stale_ns, [])
    pieces = join_and_sign(*book, stale_ns, cuts)
    for a, b in zip(whole, pieces, strict=True):
        assert_array_equal(a, b)
