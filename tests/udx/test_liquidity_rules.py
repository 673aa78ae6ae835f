"""Each rule of udx.liquidity at its boundary, with values derived by hand from the documented definitions
(module docstring, ``sql/duckdb/schema/011_bar_liquidity.sql``), and small random books with carried quotes and
sizes against ``tests/reference/liquidity.py``. Small inputs: fast with the plain twins (``UDX_DISABLE_NUMBA=1``),
as the mutation group ``liquidity`` runs them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.reference import liquidity as ref
from udx import liquidity
from udx.liquidity import LiquidityBars, liquidity_bars
from udx.nbbo import CarriedQuote

NAN = math.nan
NO_TRADES = ([], [], [], [], [], [], [])


def _quotes_only(starts, ends, qts, bid, ask, stale, carried=None, bs=None, as_=None, carried_sizes=(NAN, NAN)):
    return liquidity_bars(starts, ends, *NO_TRADES, qts, bid, ask, stale, carried, bs, as_, carried_sizes)


def _rel(b: float, a: float) -> float:
    return (a - b) / ((a + b) / 2)


@pytest.mark.parametrize(("b", "a", "usable"), [
    (9.99, 10.01, True), (0.0, 10.0, False), (10.0, 0.0, False), (-1.0, 10.0, False), (1e-300, 10.0, True),
    (10.0, 10.0, False), (10.01, 9.99, False), (NAN, 10.0, False), (9.0, NAN, False), (math.inf, math.inf, False),
    (9.0, math.inf, False), (-math.inf, 9.0, False), (10.0, 10.000000001, True),
    (0.0001, 0.0002, True), (0.5, 0.9, True), (0.9, 1.0, True),  # sub-dollar quotes are usable
])
def test_a_quote_is_usable_when_two_sided_positive_finite_and_not_locked_or_crossed(b, a, usable):
    assert liquidity._usable_python(b, a) is usable
    lb = _quotes_only([0], [100], [0], [b], [a], 1000)
    if usable:
        assert lb.quoted_spread[0] == pytest.approx(_rel(b, a), rel=1e-12)
    else:
        assert math.isnan(lb.quoted_spread[0])


def test_the_quoted_spread_is_weighted_by_the_time_each_quote_is_in_force():
    # [0, 10) spread 0.02 at mid 10.01; [10, 40) 0.04 at mid 10.0; [40, 100) 0.01 at mid 10.005
    lb = _quotes_only([0], [100], [0, 10, 40], [10.0, 9.98, 10.0], [10.02, 10.02, 10.01], 1000)
    want = (10 * _rel(10.0, 10.02) + 30 * _rel(9.98, 10.02) + 60 * _rel(10.0, 10.01)) / 100
    assert lb.quoted_spread[0] == pytest.approx(want, rel=1e-12)


def test_unusable_and_stale_time_is_left_out_of_the_weights():
    # [0, 20) usable, [20, 50) crossed, [50, 80) zero bid, [80, 100) usable but stale after 90 (stale 10)
    lb = _quotes_only([0], [100], [0, 20, 50, 80], [10.0, 10.02, 0.0, 9.9], [10.01, 10.0, 10.0, 10.1], 10)
    # quote 0 stale after 10: [0, 10) only; quote at 80 on [80, 90)
    want = (10 * _rel(10.0, 10.01) + 10 * _rel(9.9, 10.1)) / 20
    assert lb.quoted_spread[0] == pytest.approx(want, rel=1e-12)
    lb = _quotes_only([0], [100], [0, 20, 50, 80], [10.0, 10.02, 0.0, 9.9], [10.01, 10.0, 10.0, 10.1], 1000)
    want = (20 * _rel(10.0, 10.01) + 20 * _rel(9.9, 10.1)) / 40
    assert lb.quoted_spread[0] == pytest.approx(want, rel=1e-12)


def test_a_quote_goes_stale_exactly_stale_ns_after_its_stamp():
    # quote at 0, stale 30: in force on [0, 30) of bar [0, 100); a second quote at 60 from 60 on
    lb = _quotes_only([0], [100], [0, 60], [9.99, 9.0], [10.01, 11.0], 30)
    want = (30 * _rel(9.99, 10.01) + 30 * _rel(9.0, 11.0)) / 60
    assert lb.quoted_spread[0] == pytest.approx(want, rel=1e-12)
    # stale 0: a quote is never in force
    assert math.isnan(_quotes_only([0], [100], [0, 60], [9.99, 9.0], [10.01, 11.0], 0).quoted_spread[0])


def test_the_quote_in_force_at_the_bar_start_counts_from_the_start():
    # bar [100, 200): the quote at 50 covers [100, 150), the one at 150 [150, 200); one before it at 20 never
    lb = _quotes_only([100], [200], [20, 50, 150], [1.0, 9.99, 9.0], [2.0, 10.01, 11.0], 1000)
    assert lb.quoted_spread[0] == pytest.approx((_rel(9.99, 10.01) + _rel(9.0, 11.0)) / 2, rel=1e-12)
    # a quote stamped exactly at the bar's start is in force from it
    lb = _quotes_only([100], [200], [20, 100], [1.0, 9.99], [2.0, 10.01], 1000)
    assert lb.quoted_spread[0] == pytest.approx(_rel(9.99, 10.01), rel=1e-12)
    # one stamped exactly at the bar's end is not in force in it
    lb = _quotes_only([100], [200], [20, 200], [9.99, 1.0], [10.01, 2.0], 1000)
    assert lb.quoted_spread[0] == pytest.approx(_rel(9.99, 10.01), rel=1e-12)


@pytest.mark.parametrize("carried_ts", [0, 30])
def test_a_carried_quote_is_in_force_until_the_first_quote_or_until_stale(carried_ts):
    carried = CarriedQuote(carried_ts, 9.98, 10.02)
    # bar [40, 140), first quote at 90: carried on [40, 90); stale 1000
    lb = _quotes_only([40], [140], [90], [9.99], [10.01], 1000, carried)
    assert lb.quoted_spread[0] == pytest.approx((50 * _rel(9.98, 10.02) + 50 * _rel(9.99, 10.01)) / 100, rel=1e-12)
    # stale 50: the carried quote counts on [40, carried_ts + 50)
    lb = _quotes_only([40], [140], [90], [9.99], [10.01], 50, carried)
    c = carried_ts + 50 - 40
    assert lb.quoted_spread[0] == pytest.approx((c * _rel(9.98, 10.02) + 50 * _rel(9.99, 10.01)) / (c + 50),
                                                rel=1e-12)
    # no quotes at all in the call: the carried one alone
    lb = _quotes_only([40], [140], [], [], [], 1000, carried)
    assert lb.quoted_spread[0] == pytest.approx(_rel(9.98, 10.02), rel=1e-12)


def test_no_carried_quote_and_a_bar_without_quote_give_nan():
    lb = _quotes_only([0, 100], [50, 200], [120], [9.99], [10.01], 1000)
    assert math.isnan(lb.quoted_spread[0]) and math.isnan(lb.depth_imbalance[0])
    assert lb.quoted_spread[1] == pytest.approx(_rel(9.99, 10.01), rel=1e-12)
    # CarriedQuote() (ts -1, NaN sides) counts nowhere, even with sizes
    lb = _quotes_only([0], [50], [], [], [], 1000, CarriedQuote(), carried_sizes=(100.0, 100.0))
    assert math.isnan(lb.quoted_spread[0]) and math.isnan(lb.depth_imbalance[0])


def test_quotes_in_a_gap_between_bars_are_read_before_the_next_bar():
    # bars [0, 100), [300, 400); quotes at 150 (usable) and 250 (usable, other spread) in the gap
    lb = _quotes_only([0, 300], [100, 400], [50, 150, 250], [9.0, 9.5, 9.99], [11.0, 10.5, 10.01], 1000)
    assert lb.quoted_spread[0] == pytest.approx(_rel(9.0, 11.0), rel=1e-12)
    assert lb.quoted_spread[1] == pytest.approx(_rel(9.99, 10.01), rel=1e-12)


def test_the_depth_imbalance_is_weighted_by_usable_time_with_usable_sizes():
    qts = [0, 20, 50, 70]
    bid, ask = [9.99, 9.99, 10.0, 9.99], [10.01, 10.01, 10.0, 10.01]
    # [0, 20) sizes 300/100; [20, 50) sizes 0/100 (-1, counted); [50, 70) locked (out); [70, 100) 100/300
    bs, as_ = [300.0, 0.0, 500.0, 100.0], [100.0, 100.0, 100.0, 300.0]
    lb = _quotes_only([0], [100], qts, bid, ask, 1000, bs=bs, as_=as_)
    assert lb.depth_imbalance[0] == pytest.approx((20 * 0.5 + 30 * -1.0 + 30 * -0.5) / 80, rel=1e-12)
    # bid size 100 and ask size 0 in [20, 50): +1
    lb = _quotes_only([0], [100], qts, bid, ask, 1000, bs=[300.0, 100.0, 500.0, 100.0],
                      as_=[100.0, 0.0, 100.0, 300.0])
    assert lb.depth_imbalance[0] == pytest.approx((20 * 0.5 + 30 * 1.0 + 30 * -0.5) / 80, rel=1e-12)
    # both 0 in [20, 50): that time is left out
    lb = _quotes_only([0], [100], qts, bid, ask, 1000, bs=[300.0, 0.0, 500.0, 100.0],
                      as_=[100.0, 0.0, 100.0, 300.0])
    assert lb.depth_imbalance[0] == pytest.approx((20 * 0.5 + 30 * -0.5) / 50, rel=1e-12)


@pytest.mark.parametrize(("bs", "as_"), [
    (0.0, 0.0), (-1.0, 100.0), (100.0, -1.0), (NAN, 100.0), (100.0, NAN), (math.inf, 100.0), (100.0, math.inf),
])
def test_sizes_that_are_both_zero_negative_or_not_finite_are_left_out_of_the_depth(bs, as_):
    # [0, 50) the bad sizes, [50, 100) 300/100: only the second half counts
    lb = _quotes_only([0], [100], [0, 50], [9.99, 9.99], [10.01, 10.01], 1000, bs=[bs, 300.0], as_=[as_, 100.0])
    assert lb.depth_imbalance[0] == pytest.approx(0.5, rel=1e-12)
    # the quoted spread still counts the whole bar
    assert lb.quoted_spread[0] == pytest.approx(_rel(9.99, 10.01), rel=1e-12)
    lb = _quotes_only([0], [100], [0], [9.99], [10.01], 1000, bs=[bs], as_=[as_])
    assert math.isnan(lb.depth_imbalance[0])


def test_the_carried_sizes_go_with_the_carried_quote():
    lb = _quotes_only([40], [140], [90], [9.99], [10.01], 1000, CarriedQuote(0, 9.99, 10.01), bs=[100.0],
                      as_=[300.0], carried_sizes=(300.0, 100.0))
    assert lb.depth_imbalance[0] == pytest.approx((50 * 0.5 + 50 * -0.5) / 100, abs=1e-15)
    lb = _quotes_only([40], [140], [90], [9.99], [10.01], 1000, CarriedQuote(0, 9.99, 10.01), bs=[100.0],
                      as_=[300.0], carried_sizes=(300.0, 0.0))
    assert lb.depth_imbalance[0] == pytest.approx((50 * 1.0 + 50 * -0.5) / 100, rel=1e-12)
    # no sizes given for this call's quotes: the carried quote's time alone counts
    lb = _quotes_only([40], [140], [90], [9.99], [10.01], 1000, CarriedQuote(0, 9.99, 10.01),
                      carried_sizes=(300.0, 100.0))
    assert lb.depth_imbalance[0] == pytest.approx(0.5, rel=1e-12)


def _trades(rows):
    """``rows``: ``(ts, price, size, side, bid, ask, flags)`` -> liquidity_bars' seven trade columns."""
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 7
    return [list(c) for c in cols]


def test_the_effective_spread_is_volume_weighted_over_trades_with_a_usable_quote():
    rows = [(10, 10.02, 100.0, 1, 9.99, 10.01, 0),   # 2 * 0.02 / 10 = 0.004
            (20, 10.00, 300.0, -1, 9.99, 10.03, 0),  # 2 * 0.01 / 10.01
            (30, 10.50, 500.0, 1, 9.99, 10.01, 2),   # stale: out
            (40, 10.50, 500.0, 1, NAN, NAN, 1),      # no quote: out
            (50, 10.50, 500.0, 1, 10.0, 10.0, 8)]    # locked: out
    lb = liquidity_bars([0], [100], *_trades(rows), [], [], [], 1000)
    want = (100 * 2 * 0.02 / 10.0 + 300 * 2 * 0.01 / 10.01) / 400
    assert lb.effective_spread[0] == pytest.approx(want, rel=1e-9)
    assert lb.buy_volume[0] == 1600.0 and lb.sell_volume[0] == 300.0
    assert lb.signed_dollar_volume[0] == pytest.approx(10.02 * 100 - 10.0 * 300 + 3 * 10.5 * 500, rel=1e-12)


@pytest.mark.parametrize("flag", [1, 2, 4, 8, 16])
def test_each_unusable_flag_leaves_the_trade_out_of_the_effective_spread(flag):
    rows = [(10, 10.02, 100.0, 1, 9.99, 10.01, 0), (20, 10.0, 300.0, 1, 9.99, 10.01, flag)]
    lb = liquidity_bars([0], [100], *_trades(rows), [], [], [], 1000)
    assert lb.effective_spread[0] == pytest.approx(2 * 0.02 / 10.0, rel=1e-9)
    lb = liquidity_bars([0], [100], *_trades(rows[1:]), [], [], [], 1000)
    assert math.isnan(lb.effective_spread[0])


def test_trade_flags_outside_the_unusable_ones_keep_the_trade():
    rows = [(10, 10.02, 100.0, 1, 9.99, 10.01, 32), (20, 10.02, 300.0, 1, 9.99, 10.01, 64)]
    lb = liquidity_bars([0], [100], *_trades(rows), [], [], [], 1000)
    assert lb.effective_spread[0] == pytest.approx(2 * 0.02 / 10.0, rel=1e-9)


def test_a_bar_whose_trades_have_no_volume_has_nan_effective_spread_and_imbalance():
    rows = [(10, 10.02, 0.0, 1, 9.99, 10.01, 0), (20, 10.0, 0.0, -1, 9.99, 10.01, 0)]
    lb = liquidity_bars([0], [100], *_trades(rows), [], [], [], 1000)
    assert math.isnan(lb.effective_spread[0]) and math.isnan(lb.order_imbalance[0])
    assert lb.buy_volume[0] == 0.0 and lb.sell_volume[0] == 0.0 and lb.signed_volume[0] == 0.0


def test_trades_belong_to_the_bar_s_le_t_lt_e_and_gaps_count_nowhere():
    # bars [100, 200), [200, 300), [500, 600); trades at 99 (before), 100, 199, 200, 300 (gap), 450 (gap), 599, 600
    ts = [99, 100, 199, 200, 300, 450, 599, 600]
    sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]
    rows = [(t, 10.0, v, 1, 9.99, 10.01, 0) for t, v in zip(ts, sizes, strict=True)]
    lb = liquidity_bars([100, 200, 500], [200, 300, 600], *_trades(rows), [], [], [], 1000)
    assert lb.buy_volume.tolist() == [6.0, 8.0, 64.0]
    assert lb.sell_volume.tolist() == [0.0, 0.0, 0.0]


def test_unsigned_trades_count_in_neither_side_and_the_signs_make_the_imbalance():
    rows = [(10, 10.0, 100.0, 1, 9.99, 10.01, 0), (20, 10.0, 300.0, -1, 9.99, 10.01, 0),
            (30, 10.0, 700.0, 0, 9.99, 10.01, 0), (40, 12.0, 50.0, 1, 9.99, 10.01, 0)]
    lb = liquidity_bars([0], [100], *_trades(rows), [], [], [], 1000)
    assert (lb.buy_volume[0], lb.sell_volume[0], lb.signed_volume[0]) == (150.0, 300.0, -150.0)
    assert lb.order_imbalance[0] == pytest.approx(-150.0 / 450.0, rel=1e-15)
    assert lb.signed_dollar_volume[0] == pytest.approx(1000.0 - 3000.0 + 600.0, rel=1e-15)
    # only sells: -1; only the unsigned: NaN
    lb = liquidity_bars([0], [100], *_trades(rows[1:3]), [], [], [], 1000)
    assert lb.order_imbalance[0] == -1.0
    lb = liquidity_bars([0], [100], *_trades(rows[2:3]), [], [], [], 1000)
    assert math.isnan(lb.order_imbalance[0]) and lb.signed_dollar_volume[0] == 0.0


def test_the_columns_come_in_the_documented_order():
    assert LiquidityBars._fields == ("quoted_spread", "effective_spread", "buy_volume", "sell_volume",
                                     "signed_volume", "order_imbalance", "depth_imbalance", "signed_dollar_volume")
    lb = liquidity_bars([0], [100], *_trades([(10, 10.0, 100.0, -1, 9.98, 10.02, 0)]), [0], [9.98], [10.02], 1000,
                        None, [100.0], [300.0])
    assert lb.sell_volume[0] == 100.0 and lb.signed_volume[0] == -100.0 and lb.buy_volume[0] == 0.0
    assert lb.depth_imbalance[0] == pytest.approx(-0.5) and lb.order_imbalance[0] == -1.0
    assert lb.signed_dollar_volume[0] == -1000.0
    assert lb.effective_spread[0] == 0.0 and lb.quoted_spread[0] == pytest.approx(_rel(9.98, 10.02))


def test_no_bars_give_empty_columns():
    lb = liquidity_bars([], [], *_trades([(10, 10.0, 100.0, 1, 9.99, 10.01, 0)]), [5], [9.99], [10.01], 1000)
    assert all(c.shape == (0,) for c in lb)


LENGTHS = (r"^need one end per bar start, one value per trade in every trade column and one bid and ask "
           r"\(and size, when given\) per quote$")
BARS = r"^bars must be non-empty, in time order and not overlapping$"


@pytest.mark.parametrize("which", range(13))
def test_a_column_of_the_wrong_length_is_refused(which):
    args = [[0], [100], [10], [10.0], [1.0], [1], [9.99], [10.01], [0], [5], [9.99], [10.01]]
    sizes = [[1.0], [1.0]]
    if which < 12:
        args[which] = args[which] * 2
    else:
        sizes[0] = [1.0, 2.0]
    with pytest.raises(ValueError, match=LENGTHS):
        liquidity_bars(*args, 1000, None, *sizes)
    if which == 12:
        sizes = [[1.0], [1.0, 2.0]]
        with pytest.raises(ValueError, match=LENGTHS):
            liquidity_bars(*args, 1000, None, *sizes)


def test_bars_that_touch_are_accepted_and_empty_or_overlapping_ones_refused():
    liquidity_bars([0, 100], [100, 200], *NO_TRADES, [], [], [], 10)  # adjacent: fine
    liquidity_bars([0, 100, 300], [100, 200, 400], *NO_TRADES, [], [], [], 10)  # with a gap: fine
    with pytest.raises(ValueError, match=BARS):
        liquidity_bars([0], [0], *NO_TRADES, [], [], [], 10)
    with pytest.raises(ValueError, match=BARS):
        liquidity_bars([0, 99], [100, 200], *NO_TRADES, [], [], [], 10)
    with pytest.raises(ValueError, match=BARS):
        liquidity_bars([100, 0], [200, 50], *NO_TRADES, [], [], [], 10)
    # an overlap between later bars is refused too (not only with the first bar)
    with pytest.raises(ValueError, match=BARS):
        liquidity_bars([0, 100, 150], [100, 200, 300], *NO_TRADES, [], [], [], 10)
    with pytest.raises(ValueError, match=BARS):
        liquidity_bars([0, 100, 200, 250], [100, 200, 300, 400], *NO_TRADES, [], [], [], 10)


def test_a_negative_stale_limit_is_refused_and_zero_accepted():
    with pytest.raises(ValueError, match="stale_ns must be >= 0, got -1"):
        liquidity_bars([0], [100], *NO_TRADES, [], [], [], -1)
    assert math.isnan(liquidity_bars([0], [100], *NO_TRADES, [0], [9.99], [10.01], 0).quoted_spread[0])


def _random_book(seed: int):
    rng = np.random.default_rng(seed)
    nq, nt = int(rng.integers(0, 25)), int(rng.integers(0, 25))
    edges = np.sort(rng.choice(np.arange(100, 1_100, 20), 7, replace=False))
    bars = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if rng.random() < 0.7]
    qts = np.sort(rng.integers(100, 1_100, nq))
    bid = np.round(10 + rng.choice([-0.02, -0.01, 0.0, 0.01], nq), 2)
    ask = np.round(bid + rng.choice([-0.01, 0.0, 0.01, 0.02, 0.03], nq), 2)
    bid[rng.random(nq) < 0.1] = 0.0
    bs = rng.choice([0.0, 100.0, 200.0, 500.0, -1.0, np.nan, np.inf], nq, p=[0.15, 0.3, 0.2, 0.2, 0.05, 0.05, 0.05])
    as_ = rng.choice([0.0, 100.0, 300.0, np.nan], nq, p=[0.2, 0.4, 0.3, 0.1])
    tts = np.sort(rng.integers(50, 1_150, nt))
    price = np.round(10 + rng.choice([-0.03, -0.01, 0.0, 0.01, 0.02], nt), 2)
    size = rng.choice([0.0, 100.0, 200.0, 50.0], nt)
    side = rng.choice([-1, 0, 1], nt)
    tb = np.round(10 + rng.choice([-0.02, -0.01, 0.0], nt), 2)
    ta = np.round(tb + rng.choice([0.01, 0.02], nt), 2)
    flags = rng.choice([0, 0, 0, 1, 2, 4, 8, 16, 32], nt)
    carried = None
    if rng.random() < 0.7:
        # from the previous call: stamped before this call's bars and quotes (which start at 100)
        carried = (int(rng.integers(0, 100)), 9.99, float(rng.choice([9.98, 10.0, 10.01, 10.02])),
                   float(rng.choice([0.0, 100.0, 300.0])), float(rng.choice([0.0, 100.0, 200.0])))
    stale = int(rng.choice([0, 30, 150, 2_000]))
    return bars, (tts, price, size, side, tb, ta, flags), (qts, bid, ask, bs, as_), carried, stale


@pytest.mark.parametrize("seed", range(60))
def test_small_random_books_with_carried_quotes_and_sizes_match_the_reference(seed):
    bars, trades, quotes, carried, stale = _random_book(seed)
    starts = [b[0] for b in bars]
    ends = [b[1] for b in bars]
    c = None if carried is None else CarriedQuote(*carried[:3])
    sizes = (NAN, NAN) if carried is None else carried[3:]
    lb = liquidity_bars(starts, ends, *trades, *quotes[:3], stale, c, quotes[3], quotes[4], sizes)
    want = ref.bar_rows(bars, list(zip(*(x.tolist() for x in trades), strict=True)),
                        list(zip(*(x.tolist() for x in quotes), strict=True)), stale, carried)
    for name in LiquidityBars._fields:
        assert_allclose(getattr(lb, name), [w[name] for w in want], rtol=1e-12, atol=1e-15, equal_nan=True,
                        err_msg=name)


@pytest.mark.parametrize(("bs", "as_", "want"), [(1.0, 0.0, 1.0), (0.0, 1.0, -1.0), (0.3, 0.1, 0.5),
                                                   (0.25, 0.75, -0.5)])
def test_small_and_fractional_sizes_count_in_the_depth(bs, as_, want):
    lb = _quotes_only([0], [100], [0], [9.99], [10.01], 1000, bs=[bs], as_=[as_])
    assert lb.depth_imbalance[0] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("size", [1.0, 0.5, 0.001])
def test_a_bar_of_one_small_trade_has_its_spread_and_imbalance(size):
    """One share, or a fraction of a coin: the weights are the sizes, however small."""
    lb = liquidity_bars([0], [100], *_trades([(10, 10.02, size, 1, 9.99, 10.01, 0)]), [], [], [], 1000)
    assert lb.effective_spread[0] == pytest.approx(2 * 0.02 / 10.0, rel=1e-9)
    assert lb.order_imbalance[0] == 1.0
    lb = liquidity_bars([0], [100], *_trades([(10, 10.02, size, 1, 9.99, 10.01, 0),
                                              (20, 9.98, size / 2, -1, 9.99, 10.01, 0)]), [], [], [], 1000)
    assert lb.order_imbalance[0] == pytest.approx(1 / 3, rel=1e-12)
    assert lb.effective_spread[0] == pytest.approx(2 * 0.02 / 10.0, rel=1e-9)
