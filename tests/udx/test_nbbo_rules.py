"""The prevailing-quote rule of :mod:`udx.nbbo`, pinned case by case (issue 16 point 4: fast direct tests for
mutation runs): strictly before the trade at every distance the gallop and bisection cover, the last listed of
quotes sharing a stamp, a quote or carried quote at time 0, the quote carried out of a call, each flag alone and
OR-ed with STALE, the stale limit's edge, and the argument checks with their exact messages.

Expected values come from ``tests/reference/quotes.py`` (``prevailing_each``, written from the module's docstring)
or are worked out by hand in the test. Each case runs the public function and the plain-Python twin.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from tests.reference.quotes import prevailing_each
from udx import nbbo
from udx.nbbo import CROSSED, LOCKED, NO_QUOTE, ONE_SIDED, STALE, UNUSABLE, CarriedQuote, prevailing_quotes

NAN = math.nan
BIG = 10**12


def _twin(trade_ts, quote_ts, bid, ask, stale_ns, carried):
    n = len(trade_ts)
    out = (np.full(n, -7.0), np.full(n, -7.0), np.full(n, -7, np.int64), np.full(n, 255, np.uint8))
    c = carried or CarriedQuote()
    last = nbbo._prevailing_python(np.asarray(trade_ts, np.int64), np.asarray(quote_ts, np.int64),
                                   np.asarray(bid, np.float64), np.asarray(ask, np.float64), stale_ns, c.ts_ns,
                                   c.bid, c.ask, *out)
    return out, last


def check(trade_ts, quote_ts, bid, ask, stale_ns=BIG, carried=None):
    """Public function and twin against the reference; returns the public result."""
    ref_carry = None if carried is None or carried.ts_ns < 0 else (carried.ts_ns, carried.bid, carried.ask)
    rows, carry_out = prevailing_each(list(trade_ts), list(quote_ts), list(bid), list(ask), stale_ns, ref_carry)
    want = [np.array([r[k] for r in rows], dtype) for k, dtype in
            enumerate((np.float64, np.float64, np.int64, np.uint8))]
    p = prevailing_quotes(trade_ts, quote_ts, bid, ask, stale_ns, carried)
    for got, w, dtype in zip((p.bid, p.ask, p.age_ns, p.flags), want, (np.float64, np.float64, np.int64, np.uint8),
                             strict=True):
        assert got.dtype == dtype and got.shape == (len(trade_ts),)
        assert_array_equal(got, w)
    twin, last = _twin(trade_ts, quote_ts, bid, ask, stale_ns, carried)
    for got, w in zip(twin, want, strict=True):
        assert_array_equal(got, w)
    assert isinstance(p.carried, CarriedQuote)
    if carry_out is None:
        assert p.carried.ts_ns == -1 and math.isnan(p.carried.bid) and math.isnan(p.carried.ask)
    else:
        assert_array_equal([p.carried.ts_ns, p.carried.bid, p.carried.ask], list(carry_out))
        assert_array_equal([float(x) for x in last], [float(x) for x in carry_out])
    assert type(p.carried.ts_ns) is int and type(p.carried.bid) is float and type(p.carried.ask) is float
    return p


# --- which quote prevails ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_quotes", [1, 2, 3, 5, 8, 13, 33])
def test_every_trade_takes_the_quote_one_ns_before_it_never_the_one_at_its_time(n_quotes):
    """Quotes at 0, 1, ..., n-1 (bid = its time): a trade at t takes quote t-1 (age 1) whatever the distance the
    gallop and bisection cover from the start of the call."""
    qts = list(range(n_quotes))
    bid = [100.0 + k for k in qts]
    ask = [200.0 + k for k in qts]
    for t in range(n_quotes + 2):
        p = check([t], qts, bid, ask)
        if t == 0:
            assert p.flags.tolist() == [NO_QUOTE]
        else:
            k = min(t, n_quotes) - 1
            assert (p.bid[0], p.ask[0], p.age_ns[0], p.flags[0]) == (100.0 + k, 200.0 + k, t - k, 0)


@pytest.mark.parametrize("n_quotes", [2, 4, 7, 16, 40])
def test_trades_inside_a_call_walk_forward_one_ns_after_each_quote_and_at_it(n_quotes):
    """Quotes every 10 ns; trades at each quote's time and one ns after it, in one call."""
    qts = [10 * k for k in range(n_quotes)]
    bid = [1.0 + k for k in range(n_quotes)]
    ask = [1.5 + k for k in range(n_quotes)]
    trades = sorted([q for q in qts] + [q + 1 for q in qts])
    p = check(trades, qts, bid, ask)
    assert p.flags[0] == NO_QUOTE and p.bid[1] == 1.0 and p.age_ns[1] == 1
    assert p.bid[2] == 1.0 and p.age_ns[2] == 10  # at the second quote's time: still the first


@pytest.mark.parametrize("gap", [1, 2, 3, 4, 5, 6, 7, 9, 17, 31])
def test_one_trade_after_a_run_of_quotes_sharing_a_stamp_takes_the_last_listed(gap):
    qts = [5] * gap + [9] * gap
    bid = [float(k + 1) for k in range(2 * gap)]
    ask = [float(k + 100) for k in range(2 * gap)]
    p = check([6, 9, 10], qts, bid, ask)
    assert p.bid.tolist() == [float(gap), float(gap), float(2 * gap)]


def test_random_books_with_ties_and_skips_match_the_reference():
    rng = np.random.default_rng(1604)
    for _ in range(120):
        nq, nt = int(rng.integers(0, 30)), int(rng.integers(0, 30))
        span = int(rng.integers(1, 60))
        qts = np.sort(rng.integers(0, span, nq)).tolist()
        tts = np.sort(rng.integers(0, span + 3, nt)).tolist()
        bid = np.round(rng.uniform(9.9, 10.1, nq), 2)
        ask = np.round(bid + rng.choice([-0.01, 0.0, 0.01, 0.02], nq), 2)
        bid[rng.random(nq) < 0.1] = rng.choice([0.0, -1.0, NAN, math.inf])
        ask[rng.random(nq) < 0.1] = rng.choice([0.0, -1.0, NAN, math.inf])
        check(tts, qts, bid.tolist(), ask.tolist(), int(rng.integers(0, 20)))


# --- the carried quote ------------------------------------------------------------------------------------------


def test_a_quote_at_time_zero_is_a_quote():
    p = check([1, 2], [0], [9.0], [9.5], 5)
    assert p.flags.tolist() == [0, 0] and p.age_ns.tolist() == [1, 2]
    assert (p.carried.ts_ns, p.carried.bid, p.carried.ask) == (0, 9.0, 9.5)


def test_a_carried_quote_at_time_zero_prevails_until_the_first_quote_of_the_call():
    carried = CarriedQuote(0, 9.0, 9.5)
    p = check([1, 4, 5, 7], [5, 6], [8.0, 7.0], [8.5, 7.5], 3, carried)
    assert p.bid.tolist() == [9.0, 9.0, 9.0, 7.0]
    assert p.age_ns.tolist() == [1, 4, 5, 1] and p.flags.tolist() == [0, STALE, STALE, 0]


def test_the_quote_carried_out_is_the_calls_last_quote_even_after_the_last_trade():
    p = check([3], [1, 2, 5, 8], [1.0, 2.0, 5.0, 8.0], [1.5, 2.5, 5.5, 8.5])
    assert p.bid.tolist() == [2.0]
    assert (p.carried.ts_ns, p.carried.bid, p.carried.ask) == (8, 8.0, 8.5)


def test_without_quotes_the_carried_quote_is_used_and_carried_on_unchanged():
    carried = CarriedQuote(10, 9.0, 9.25)
    p = check([11, 30], [], [], [], 15, carried)
    assert p.bid.tolist() == [9.0, 9.0] and p.ask.tolist() == [9.25, 9.25]
    assert p.age_ns.tolist() == [1, 20] and p.flags.tolist() == [0, STALE]
    assert p.carried == carried


def test_with_nothing_carried_and_no_quotes_nothing_is_carried_out():
    p = check([1, 2], [], [], [], 5)
    assert p.flags.tolist() == [NO_QUOTE, NO_QUOTE] and p.age_ns.tolist() == [-1, -1]
    assert np.isnan(p.bid).all() and np.isnan(p.ask).all()
    p = check([], [], [], [], 5)
    assert p.bid.size == 0 and p.carried.ts_ns == -1


def test_a_call_with_quotes_and_no_trades_carries_its_last_quote():
    p = check([], [3, 4], [1.0, 2.0], [1.25, 2.25], 5, CarriedQuote(1, 0.5, 0.75))
    assert (p.carried.ts_ns, p.carried.bid, p.carried.ask) == (4, 2.0, 2.25)


def test_calls_cut_on_time_give_one_passs_answer_and_carry():
    rng = np.random.default_rng(7)
    for _ in range(40):
        qts = np.sort(rng.integers(0, 80, int(rng.integers(0, 25))))
        tts = np.sort(rng.integers(0, 90, int(rng.integers(0, 25))))
        bid = np.round(rng.uniform(9.9, 10.1, qts.size), 2)
        ask = np.round(bid + rng.choice([-0.01, 0.0, 0.01], qts.size), 2)
        whole = check(tts.tolist(), qts.tolist(), bid.tolist(), ask.tolist(), 12)
        cut = int(rng.integers(0, 90))
        a_t, a_q = tts <= cut, qts <= cut
        first = check(tts[a_t].tolist(), qts[a_q].tolist(), bid[a_q].tolist(), ask[a_q].tolist(), 12)
        second = check(tts[~a_t].tolist(), qts[~a_q].tolist(), bid[~a_q].tolist(), ask[~a_q].tolist(), 12,
                       first.carried)
        for name in ("bid", "ask", "age_ns", "flags"):
            assert_array_equal(np.concatenate([getattr(first, name), getattr(second, name)]), getattr(whole, name))
        assert second.carried == whole.carried or (whole.carried.ts_ns == -1 and second.carried.ts_ns == -1)


# --- flags ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bid", "ask", "shape"), [
    (9.99, 10.0, 0), (10.0, 10.0, LOCKED), (10.01, 10.0, CROSSED),
    (0.0, 10.0, ONE_SIDED), (10.0, 0.0, ONE_SIDED), (-0.01, 10.0, ONE_SIDED), (10.0, -0.01, ONE_SIDED),
    (NAN, 10.0, ONE_SIDED), (10.0, NAN, ONE_SIDED), (math.inf, 10.0, ONE_SIDED), (10.0, math.inf, ONE_SIDED),
    (-math.inf, 10.0, ONE_SIDED), (10.0, -math.inf, ONE_SIDED), (NAN, NAN, ONE_SIDED), (0.0, 0.0, ONE_SIDED),
    (5e-324, 10.0, 0), (10.0, 1e308, 0),
    (0.0001, 0.0002, 0), (0.5, 0.5, LOCKED), (0.75, 0.5, CROSSED), (0.0, 0.5, ONE_SIDED),  # sub-dollar quotes
])
@pytest.mark.parametrize("stale", [False, True])
def test_each_shape_flag_alone_and_with_stale(bid, ask, shape, stale):
    p = check([100], [40 if stale else 41], [bid], [ask], 59)
    assert p.age_ns[0] == (60 if stale else 59)
    assert p.flags[0] == shape | (STALE if stale else 0)
    want_bid = bid if 0 < bid < math.inf else NAN
    want_ask = ask if 0 < ask < math.inf else NAN
    assert_array_equal([p.bid[0], p.ask[0]], [want_bid, want_ask])  # a stale quote keeps its prices
    assert bool(p.flags[0] & UNUSABLE) == (shape != 0 or stale)


def test_a_zero_stale_limit_flags_every_quote_but_none_is_at_age_zero():
    p = check([1, 2, 2], [0, 1], [9.0, 9.0], [9.5, 9.5], 0)
    assert p.flags.tolist() == [STALE, STALE, STALE] and p.age_ns.tolist() == [1, 1, 1]


# --- arguments --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "ts", "row"), [
    ("trade_ts", [5, 4], 1), ("trade_ts", [1, 1, 3, 2], 3), ("trade_ts", [1, 2, 2, 0, 5], 3),
    ("quote_ts", [5, 4], 1), ("quote_ts", [1, 3, 2, 4], 2),
])
def test_unsorted_times_name_the_first_row_out_of_order(name, ts, row):
    args = {"trade_ts": [1], "quote_ts": [0], "bid": [9.0], "ask": [9.5]}
    args[name] = ts
    if name == "quote_ts":
        args["bid"], args["ask"] = [9.0] * len(ts), [9.5] * len(ts)
    message = f"{name} must be sorted by time (non-decreasing); row {row} is earlier than row {row - 1}"
    with pytest.raises(ValueError) as err:
        prevailing_quotes(args["trade_ts"], args["quote_ts"], args["bid"], args["ask"], 10)
    assert str(err.value) == message


def test_the_unsorted_scan_returns_the_first_row_and_minus_one_when_sorted():
    assert nbbo._unsorted_at_python(np.array([3, 2, 1], np.int64)) == 1
    assert nbbo._unsorted_at_python(np.array([1, 1, 2, 2, 1, 0], np.int64)) == 4
    assert nbbo._unsorted_at_python(np.array([1, 1, 1], np.int64)) == -1
    assert nbbo._unsorted_at_python(np.array([7], np.int64)) == -1
    assert nbbo._unsorted_at_python(np.array([], np.int64)) == -1


def test_equal_times_and_a_zero_stale_limit_are_accepted():
    p = prevailing_quotes([3, 3, 3], [1, 1, 2, 2], [1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5], 0)
    assert p.bid.tolist() == [3.0 + 1.0] * 3


@pytest.mark.parametrize("args", [
    ([[1, 2]], [0], [9.0], [9.5]),  # two-dimensional trades
    ([1], [[0]], [[9.0]], [[9.5]]),  # two-dimensional quotes
    ([1], [0], [9.0, 9.1], [9.5]),  # one bid too many
    ([1], [0], [9.0], [9.5, 9.6]),  # one ask too many
    ([1], [0, 1], [9.0, 9.1], [9.5]),  # an ask missing
    ([1], [0, 1], [9.0], [9.5, 9.6]),  # a bid missing
])
def test_shapes_that_do_not_fit_are_refused(args):
    with pytest.raises(ValueError, match="need one-dimensional arrays and one bid and ask per quote, got trade_ts"):
        prevailing_quotes(*args, 10)


@pytest.mark.parametrize("stale_ns", [-1, -(10**9)])
def test_a_negative_stale_limit_is_refused(stale_ns):
    with pytest.raises(ValueError) as err:
        prevailing_quotes([1], [0], [9.0], [9.5], stale_ns)
    assert str(err.value) == f"stale_ns must be >= 0, got {stale_ns}"


@pytest.mark.parametrize(("carried_ts", "trade_ts", "quote_ts"), [
    (0, [0], []), (0, [], [0]), (0, [0], [1]), (0, [1], [0]),
    (50, [50], []), (50, [], [50]), (50, [49], [51]), (50, [51], [50]), (50, [10, 60], [70]),
])
def test_a_batch_at_or_before_the_carried_quotes_time_is_refused(carried_ts, trade_ts, quote_ts):
    with pytest.raises(ValueError) as err:
        prevailing_quotes(trade_ts, quote_ts, [9.0] * len(quote_ts), [9.5] * len(quote_ts), 10,
                          CarriedQuote(carried_ts, 9.0, 9.5))
    assert str(err.value) == (f"this batch starts at or before the carried quote's time {carried_ts}: "
                              "cut batches on time")


@pytest.mark.parametrize(("carried_ts", "trade_ts", "quote_ts"), [
    (0, [1], []), (0, [], [1]), (0, [], []), (50, [51], [51]), (50, [51, 52], []), (50, [], [51, 51]),
])
def test_a_batch_after_the_carried_quote_is_accepted(carried_ts, trade_ts, quote_ts):
    carried = CarriedQuote(carried_ts, 9.0, 9.5)
    p = check(trade_ts, quote_ts, [9.25] * len(quote_ts), [9.75] * len(quote_ts), 10, carried)
    if trade_ts:
        assert p.bid[0] == 9.0  # the carried quote: every quote of the batch is at or after the first trade


def test_nothing_carried_accepts_any_first_time():
    p = check([0, 1], [0], [9.0], [9.5], 10, CarriedQuote())
    assert p.flags.tolist() == [NO_QUOTE, 0]
