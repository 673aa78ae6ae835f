"""Depth imbalance (udx.liquidity), Amihud, Roll and Kyle (udx.impact) against their definitions in
tests/reference/liquidity.py, the plain twins, and incremental == one pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tests.reference import liquidity as ref
from udx import impact, liquidity
from udx.impact import amihud, kyle_bars, roll_bars
from udx.liquidity import liquidity_bars

STALE = 400


def book(seed: int):
    rng = np.random.default_rng(seed)
    nq = int(rng.integers(0, 60))
    quote_ts = np.sort(rng.integers(0, 3_000, nq))
    bid = np.round(10 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], nq)), 2)
    ask = np.round(bid + rng.choice([-0.01, 0.0, 0.01, 0.02], nq), 2)
    bid[rng.random(nq) < 0.05] = 0.0
    bid_size = rng.integers(0, 5, nq).astype(float) * 100
    ask_size = rng.integers(0, 5, nq).astype(float) * 100
    ask_size[rng.random(nq) < 0.05] = np.nan
    return quote_ts, bid, ask, bid_size, ask_size


@pytest.mark.parametrize("seed", range(20))
def test_depth_imbalance_matches_the_definition(seed):
    quote_ts, bid, ask, bs, as_ = book(seed)
    edges = np.arange(0, 3_001, 250)
    lb = liquidity_bars(edges[:-1], edges[1:], [], [], [], [], [], [], [], quote_ts, bid, ask, STALE,
                        quote_bid_size=bs, quote_ask_size=as_)
    quotes = list(zip(quote_ts.tolist(), bid.tolist(), ask.tolist(), bs.tolist(), as_.tolist(), strict=True))
    want = ref.depth_imbalance(list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)), quotes, STALE)
    assert_allclose(lb.depth_imbalance, want, rtol=1e-12, atol=1e-15, equal_nan=True)
    assert np.isfinite(lb.depth_imbalance).any() or not np.isfinite(want).any()


def test_depth_imbalance_in_pieces_carries_the_quote_in_force():
    quote_ts, bid, ask, bs, as_ = book(4)
    edges = np.arange(0, 3_001, 250)
    whole = liquidity_bars(edges[:-1], edges[1:], [], [], [], [], [], [], [], quote_ts, bid, ask, STALE,
                           quote_bid_size=bs, quote_ask_size=as_).depth_imbalance
    cut = 1_500
    k = int(np.searchsorted(quote_ts, cut))
    first = liquidity_bars(edges[:6], edges[1:7], [], [], [], [], [], [], [], quote_ts[:k], bid[:k], ask[:k], STALE,
                           quote_bid_size=bs[:k], quote_ask_size=as_[:k]).depth_imbalance
    carried = liquidity.CarriedQuote(int(quote_ts[k - 1]), float(bid[k - 1]), float(ask[k - 1]))
    second = liquidity_bars(edges[6:-1], edges[7:], [], [], [], [], [], [], [], quote_ts[k:], bid[k:], ask[k:],
                            STALE, carried, quote_bid_size=bs[k:], quote_ask_size=as_[k:],
                            carried_sizes=(float(bs[k - 1]), float(as_[k - 1]))).depth_imbalance
    assert_array_equal(whole, np.concatenate((first, second)))


def test_a_bid_heavy_book_has_positive_depth_imbalance():
    lb = liquidity_bars([0], [100], [], [], [], [], [], [], [], [0, 50], [9.99, 9.99], [10.01, 10.01], 1000,
                        quote_bid_size=[300.0, 100.0], quote_ask_size=[100.0, 100.0])
    assert lb.depth_imbalance[0] == pytest.approx((50 * 0.5 + 50 * 0.0) / 100)


def trades(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 20_000, n))
    mid = 10 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], n))
    price = np.round(mid + rng.choice([-0.01, 0.01], n), 2)  # bid-ask bounce around a walk
    size = rng.integers(1, 5, n).astype(float) * 100
    return ts, price, size


@pytest.mark.parametrize(("seed", "window"), [(0, 4), (1, 10), (2, 50), (3, 1000)])
def test_roll_matches_the_definition(seed, window):
    ts, price, _ = trades(seed)
    ends = np.arange(500, 20_001, 500)
    got, _ = roll_bars([], ts, price, ends, window)
    want = np.array(ref.roll(ends.tolist(), list(zip(ts.tolist(), price.tolist(), strict=True)), window))
    # a covariance that is 0 exactly (cent prices) comes out as +-1e-20 either way: both NaN or ~0
    noise = np.isnan(got) != np.isnan(want)
    assert (np.nan_to_num(got[noise]) < 1e-6).all() and (np.nan_to_num(want[noise]) < 1e-6).all()
    assert_allclose(got[~noise], want[~noise], rtol=1e-9, equal_nan=True)
    assert np.isfinite(got).sum() > 5


@pytest.mark.parametrize("window", [4, 30])
def test_roll_over_bars_with_zero_one_or_more_new_prices_matches_the_definition(window):
    """Bars of 20 time units over 400 trades in 20,000: most have no trade or one (the kernel repeats a bar
    without a new price), some several."""
    ts, price, _ = trades(4)
    ends = np.arange(20, 20_001, 20)
    got, _ = roll_bars([], ts, price, ends, window)
    want = np.array(ref.roll(ends.tolist(), list(zip(ts.tolist(), price.tolist(), strict=True)), window))
    noise = np.isnan(got) != np.isnan(want)  # as above; a spread below 1e-6 is a covariance of ~0 either way
    assert (np.nan_to_num(got[noise]) < 1e-6).all() and (np.nan_to_num(want[noise]) < 1e-6).all()
    assert_allclose(got[~noise], want[~noise], rtol=1e-9, atol=1e-6, equal_nan=True)
    assert np.isfinite(got).sum() > 100


@pytest.mark.parametrize("cuts", [(5_000,), (500, 9_000, 9_500), (19_999,)])
def test_roll_in_pieces_equals_one_pass(cuts):
    ts, price, _ = trades(7)
    ends = np.arange(500, 20_001, 500)
    whole, whole_tail = roll_bars([], ts, price, ends, 30)
    carried, parts = np.empty(0), []
    for lo, hi in zip((0, *cuts), (*cuts, 20_001), strict=True):
        bar_sel = (ends > lo) & (ends <= hi)
        if not bar_sel.any():
            continue
        lo_t = ends[bar_sel][0] - 500
        sel = (ts >= lo_t) & (ts < ends[bar_sel][-1])
        out, carried = roll_bars(carried, ts[sel], price[sel], ends[bar_sel], 30)
        parts.append(out)
    assert_array_equal(whole, np.concatenate(parts))
    assert_array_equal(whole_tail, carried)


def test_roll_of_a_pure_bounce_is_the_spread():
    # Roll's model: each trade at the bid 9.99 or the ask 10.01 with probability 1/2, Cov = -s^2/4, s = 0.02
    price = np.where(np.random.default_rng(3).random(40_000) < 0.5, 9.99, 10.01)
    out, _ = roll_bars([], np.arange(price.size), price, [price.size], price.size)
    assert out[0] == pytest.approx(0.02, rel=0.03)
    # strict alternation is the extreme: Cov = -s^2, twice the spread
    out, _ = roll_bars([], np.arange(400), np.tile([9.99, 10.01], 200), [400], 200)
    assert out[0] == pytest.approx(0.04 * math.sqrt((199 - 1 / 199) / 198), rel=1e-9)  # 199 pairs, mean s/199


def test_kyle_matches_the_regression_and_in_pieces_equals_one_pass():
    rng = np.random.default_rng(5)
    n = 120
    flow = rng.normal(0, 1e6, n)
    r = 2e-9 * flow + rng.normal(0, 1e-3, n)
    r[rng.random(n) < 0.1] = np.nan
    flow[5] = 0.0
    got, _, _ = kyle_bars([], [], r, flow, 20)
    assert_allclose(got, ref.kyle(r.tolist(), flow.tolist(), 20), rtol=1e-9, equal_nan=True)
    assert np.nanmedian(got) == pytest.approx(2e-9, rel=0.5)
    cr, cx, parts = np.empty(0), np.empty(0), []
    for lo, hi in ((0, 1), (1, 50), (50, 51), (51, n)):
        out, cr, cx = kyle_bars(cr, cx, r[lo:hi], flow[lo:hi], 20)
        parts.append(out)
    assert_array_equal(got, np.concatenate(parts))


def test_amihud_matches_the_definition():
    ts, price, size = trades(3)
    ends = np.arange(500, 20_001, 500)
    bars = list(zip((ends - 500).tolist(), ends.tolist(), strict=True))
    dv = np.array([float((price * size)[(ts >= s) & (ts < e)].sum()) for s, e in bars])
    r = np.random.default_rng(1).normal(0, 1e-3, ends.size)
    r[3] = np.nan
    want = ref.amihud(bars, list(zip(ts.tolist(), price.tolist(), size.tolist(), strict=True)), r.tolist())
    assert_allclose(amihud(r, dv), want, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("window", [4, 25, 250])
def test_roll_of_many_bars_is_each_bar_alone_bit_for_bit(window):
    """Bars with full windows are summed four at a time: each value is the one of summing its bar alone (same
    terms, same order), to the last bit."""
    ts, price, _ = trades(3)
    last = np.searchsorted(ts, np.sort(np.random.default_rng(4).integers(0, 20_000, 700))).astype(np.int64) - 1
    together = np.empty(last.size)
    impact._roll(price, last, window, together)
    alone = np.empty(last.size)
    for j in range(last.size):
        impact._roll(price, last[j:j + 1], window, alone[j:j + 1])
    assert_array_equal(together.view(np.int64), alone.view(np.int64))


def test_the_plain_twins_give_the_compiled_results():
    ts, price, _ = trades(2)
    last = np.searchsorted(ts, np.arange(500, 20_001, 500)).astype(np.int64) - 1
    a, b = np.empty(last.size), np.empty(last.size)
    impact._roll(price, last, 25, a)
    impact._roll_python(price, last, 25, b)
    assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    r, x = rng.normal(size=60), rng.normal(size=60)
    a, b = np.empty(50), np.empty(50)
    impact._kyle(r, x, 10, 15, a)
    impact._kyle_python(r, x, 10, 15, b)
    assert_array_equal(a, b)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: roll_bars([], [1], [1.0], [2], 3), "window must be >= 4"),
    (lambda: roll_bars([], [1, 2], [1.0], [2], 5), "one price per trade"),
    (lambda: kyle_bars([], [], [0.1], [1.0], 2), "window must be >= 3"),
    (lambda: kyle_bars([], [], [0.1], [1.0, 2.0], 5), "one signed dollar volume"),
    (lambda: amihud([0.1], [1.0, 2.0]), "one dollar volume per return"),
])
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
