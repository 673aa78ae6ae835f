"""Per-bar liquidity (udx.liquidity) against the brute-force definitions in tests/naive.py and its plain twins,
incremental == one pass at bar cuts, and the effective spread against the simulator's truth."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.compute as pc
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from tests import naive
from udx import liquidity
from udx.liquidity import liquidity_bars
from udx.nbbo import CarriedQuote, prevailing_quotes
from udx.trade_sign import TickState, lee_ready

STALE = 400


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    nq, nt, nb = int(rng.integers(0, 80)), int(rng.integers(0, 80)), int(rng.integers(1, 8))
    edges = np.sort(rng.choice(np.arange(0, 3_000, 50), nb + 1, replace=False))
    bars = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if rng.random() < 0.8]
    quote_ts = np.sort(rng.integers(0, 3_000, nq))
    bid = np.round(10 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], nq)), 2)
    ask = np.round(bid + rng.choice([-0.01, 0.0, 0.01, 0.02, 0.03], nq), 2)
    bid[rng.random(nq) < 0.05] = 0.0
    trade_ts = np.sort(rng.integers(0, 3_000, nt))
    price = np.round(10 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], nt)), 2)
    size = rng.integers(1, 500, nt).astype(float)
    return bars, trade_ts, price, size, quote_ts, bid, ask


def measures(bars, trade_ts, price, size, quote_ts, bid, ask, carried=None, tick=None, stale=STALE):
    p = prevailing_quotes(trade_ts, quote_ts, bid, ask, stale, carried)
    s = lee_ready(price, p.bid, p.ask, p.flags, tick)
    starts = np.array([b[0] for b in bars], np.int64)
    ends = np.array([b[1] for b in bars], np.int64)
    lb = liquidity_bars(starts, ends, trade_ts, price, size, s.side, p.bid, p.ask, p.flags, quote_ts, bid, ask,
                        stale, carried)
    return lb, p, s


@pytest.mark.parametrize("seed", range(25))
def test_liquidity_matches_the_definitions_on_random_books(seed):
    bars, trade_ts, price, size, quote_ts, bid, ask = random_case(seed)
    lb, p, s = measures(bars, trade_ts, price, size, quote_ts, bid, ask)
    trades = list(zip(trade_ts.tolist(), price.tolist(), size.tolist(), s.side.tolist(), p.bid.tolist(),
                      p.ask.tolist(), p.flags.tolist(), strict=True))
    quotes = list(zip(quote_ts.tolist(), bid.tolist(), ask.tolist(), strict=True))
    expected = naive.liquidity_bars(bars, trades, quotes, None, STALE)
    for k, name in enumerate(("quoted_spread", "effective_spread", "buy_volume", "sell_volume")):
        assert_allclose(getattr(lb, name), [e[k] for e in expected], rtol=1e-12, atol=0, equal_nan=True,
                        err_msg=name)
    assert_array_equal(lb.signed_volume, lb.buy_volume - lb.sell_volume)


def test_the_plain_twins_give_the_compiled_results():
    bars, trade_ts, price, size, quote_ts, bid, ask = random_case(3)
    lb, p, s = measures(bars, trade_ts, price, size, quote_ts, bid, ask)
    starts = np.array([b[0] for b in bars], np.int64)
    ends = np.array([b[1] for b in bars], np.int64)
    qs, depth = np.empty(len(bars)), np.empty(len(bars))
    sizes = np.full(quote_ts.size, np.nan)
    liquidity._quoted_python(starts, ends, quote_ts, bid, ask, sizes, sizes, -1, math.nan, math.nan, math.nan,
                             math.nan, STALE, qs, depth)
    eff, buy, sell, sdv = (np.empty(len(bars)) for _ in range(4))
    liquidity._trade_measures_python(starts, ends, trade_ts, price, size, s.side, p.bid, p.ask, p.flags,
                                     eff, buy, sell, sdv)
    for got, want in ((lb.quoted_spread, qs), (lb.effective_spread, eff), (lb.buy_volume, buy),
                      (lb.sell_volume, sell), (lb.depth_imbalance, depth), (lb.signed_dollar_volume, sdv)):
        assert_array_equal(got, want)


def test_a_quote_in_force_from_before_the_bar_counts_until_it_goes_stale():
    # one quote at 0, bar [100, 200), stale after 150: in force on [100, 150) only
    lb = liquidity_bars([100], [200], [], [], [], [], [], [], [], [0], [9.99], [10.01], 150)
    assert lb.quoted_spread[0] == pytest.approx(0.002)
    lb = liquidity_bars([100], [200], [], [], [], [], [], [], [], [0], [9.99], [10.01], 99)
    assert math.isnan(lb.quoted_spread[0]) and math.isnan(lb.order_imbalance[0])


def test_locked_and_crossed_time_does_not_count():
    lb = liquidity_bars([0], [100], [], [], [], [], [], [], [], [0, 25, 50], [10.0, 10.0, 9.99], [10.02, 10.0, 10.01],
                        1000)
    # [0,25) spread 0.02/10.01, [25,50) locked: out, [50,100) 0.02/10: weights 25 and 50
    assert lb.quoted_spread[0] == pytest.approx((25 * 0.02 / 10.01 + 50 * 0.002) / 75)


@pytest.mark.parametrize(("args", "message"), [
    (([0, 10], [10, 5]), "non-empty, in time order"),
    (([0, 5], [10, 20]), "not overlapping"),
])
def test_bad_bars_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        liquidity_bars(*args, [], [], [], [], [], [], [], [], [], [], 10)


def test_in_pieces_cut_at_bar_boundaries_equals_one_pass():
    rng = np.random.default_rng(8)
    edges = np.arange(0, 10_001, 500)
    bars = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
    quote_ts = np.sort(rng.integers(0, 10_000, 400))
    bid = np.round(10 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], 400)), 2)
    ask = np.round(bid + rng.choice([0.0, 0.01, 0.02], 400), 2)
    trade_ts = np.sort(rng.integers(0, 10_000, 300))
    price = np.round(10 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], 300)), 2)
    size = rng.integers(1, 500, 300).astype(float)
    whole, _, _ = measures(bars, trade_ts, price, size, quote_ts, bid, ask)
    carried, tick, parts = CarriedQuote(), TickState(), []
    for lo, hi in ((0, 3_000), (3_000, 3_500), (3_500, 10_000)):
        sel_t, sel_q = (trade_ts >= lo) & (trade_ts < hi), (quote_ts >= lo) & (quote_ts < hi)
        piece = [b for b in bars if lo <= b[0] < hi]
        lb, p, s = measures(piece, trade_ts[sel_t], price[sel_t], size[sel_t], quote_ts[sel_q], bid[sel_q],
                            ask[sel_q], carried, tick)
        carried, tick = p.carried, s.state
        parts.append(lb)
    for k in range(len(whole)):
        assert_array_equal(whole[k], np.concatenate([part[k] for part in parts]))


def test_effective_spread_of_simulated_bars_is_the_true_one_within_two_percent():
    m = SyntheticMarket(13, 30.0, DEFAULT_SYMBOLS[:2], quote_dynamics=True, record_truth=True)
    end = 1_750_000_000 * 10**9
    trades, quotes = m.history(end - 2 * 3600 * 10**9, end)
    for symbol in ("AAPL", "MSFT"):
        t = trades.filter(pc.equal(trades["symbol"], symbol))
        q = quotes.filter(pc.equal(quotes["symbol"], symbol))
        truth = m.trade_truth(symbol)
        bar = 60 * 10**9
        starts = np.arange(end - 2 * 3600 * 10**9, end, bar)
        lb, p, _ = measures(list(zip(starts.tolist(), (starts + bar).tolist(), strict=True)), t["ts_ns"].to_numpy(),
                            t["price"].to_numpy(), t["size"].to_numpy(), q["ts_ns"].to_numpy(),
                            q["bid_price"].to_numpy(), q["ask_price"].to_numpy(), stale=300 * 10**9)
        # measured over the session: volume-weighted mean of the bars' effective spreads
        vol = np.array([t["size"].to_numpy()[(t["ts_ns"].to_numpy() >= s) & (t["ts_ns"].to_numpy() < s + bar)
                                             & ((p.flags & 31) == 0)].sum() for s in starts])
        ok = vol > 0
        measured = float((lb.effective_spread[ok] * vol[ok]).sum() / vol[ok].sum())
        book_mid = (truth["book_bid"].to_numpy() + truth["book_ask"].to_numpy()) / 2
        price, size = t["price"].to_numpy(), t["size"].to_numpy()
        true = float((size * 2 * np.abs(price - book_mid) / book_mid).sum() / size.sum())
        assert measured == pytest.approx(true, rel=0.02)
