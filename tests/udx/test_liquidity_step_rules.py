"""udx.liquidity_step on small sessions against the reference chain (tests/naive.py's prevailing quote,
tests/reference/liquidity.py's Lee-Ready, bar rows, Roll, Kyle and VPIN-LR), in one call and in calls cut at bar
ends; its helpers (``Quotes``, ``_same``, ``_equal``, ``_newest_before``, ``shared_signing``, ``initial_arrays``,
``bar_starts``) at their boundaries with values derived by hand from their docstrings. Small inputs: fast with the
plain twins (``UDX_DISABLE_NUMBA=1``), as the mutation group ``liquidity-step`` runs them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tests import naive
from tests.reference import liquidity as ref
from udx.liquidity_step import (LiquidityConfig, Quotes, Signing, _equal, _newest_before, _same, bar_starts,
                                initial_arrays, liquidity_columns, shared_signing, signed_liquidity_columns)
from udx.nbbo import CarriedQuote, Prevailing
from udx.trade_sign import Signed, TickState

NAN = math.nan
BAR = 100
BUCKET = 300.0
CFG = LiquidityConfig(stale_ns=150, roll_window=5, kyle_window=4, vpin_window=3)
# two sessions (open 1000, close 1450; open 2000), bar 1300 not emitted, 1450 the first session's short last bar
ENDS = [1100, 1200, 1400, 1450, 2100, 2200, 2300]
OPENS = [1000, 1000, 1000, 1000, 2000, 2000, 2000]
STARTS = [1000, 1100, 1300, 1400, 2000, 2100, 2200]
MEASURES = ["n_quotes", "quoted_spread", "effective_spread", "buy_volume", "sell_volume", "signed_volume",
            "order_imbalance", "depth_imbalance", "amihud", "roll_spread", "kyle_lambda", "vpin_lee_ready"]


def _market(seed: int):
    rng = np.random.default_rng(seed)
    nt, nq = 70, 50
    ts = np.sort(np.concatenate([rng.integers(950, 2400, nt - 4), [1200, 1400, 2100, 2300]])).astype(np.int64)
    px = np.round(10 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], nt)), 2)
    sz = rng.integers(1, 6, nt).astype(float) * 50
    price_ok = rng.random(nt) < 0.85
    volume_ok = rng.random(nt) < 0.85
    qts = np.sort(np.concatenate([rng.integers(900, 2400, nq - 3), [1200, 1450, 2200]])).astype(np.int64)
    mid = np.interp(qts, ts, px)
    half = rng.choice([0.005, 0.01, 0.015, 0.0, -0.01], nq, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    bid, ask = np.round(mid - half, 3), np.round(mid + half, 3)
    bid[rng.random(nq) < 0.05] = 0.0
    bs = rng.choice([0.0, 100.0, 200.0, 500.0], nq)
    as_ = rng.choice([0.0, 100.0, 300.0], nq)
    quotes = Quotes(qts, bid, ask, bs, as_)
    columns = {"bar_end_ns": np.array(ENDS, np.int64), "session_open_ns": np.array(OPENS, np.int64),
               "log_return": rng.normal(0, 1e-3, len(ENDS)), "vwap": 10 + rng.normal(0, 0.01, len(ENDS)),
               "volume": rng.integers(0, 3, len(ENDS)) * 500.0, "vpin_bucket": np.full(len(ENDS), BUCKET)}
    columns["log_return"][2] = NAN
    columns["vwap"][5] = NAN
    return ts, px, sz, price_ok, volume_ok, quotes, columns


def _reference(ts, px, sz, price_ok, volume_ok, quotes: Quotes, columns):
    """Every measure of every bar of ``columns`` from the definitions, over the whole history at once."""
    cut = ENDS[-1]
    keep = ts < cut
    ts, px, sz, price_ok, volume_ok = ts[keep], px[keep], sz[keep], price_ok[keep], volume_ok[keep]
    prevailing = naive.prevailing_quote(ts.tolist(), quotes.ts.tolist(), quotes.bid.tolist(), quotes.ask.tolist(),
                                        CFG.stale_ns)
    bids, asks = [p[0] for p in prevailing], [p[1] for p in prevailing]
    flags = [p[3] for p in prevailing]
    sides = ref.lee_ready_sides(px.tolist(), price_ok.tolist(), bids, asks, flags)
    counted = np.where(volume_ok, sz, 0.0).tolist()
    bars = list(zip(STARTS, ENDS, strict=True))
    trades = list(zip(ts.tolist(), px.tolist(), counted, sides, bids, asks, flags, strict=True))
    qrows = [row for row in zip(*(c.tolist() for c in (quotes.ts, quotes.bid, quotes.ask, quotes.bid_size,
                                                       quotes.ask_size)), strict=True) if row[0] < cut]
    rows = ref.bar_rows(bars, trades, qrows, CFG.stale_ns)
    out = {name: [r[name] for r in rows] for name in MEASURES if name in rows[0]}
    out["n_quotes"] = [sum(1 for q in qrows if s <= q[0] < e) for s, e in bars]
    r, vwap, vol = columns["log_return"], columns["vwap"], columns["volume"]
    out["amihud"] = [abs(x) / (w * v) if math.isfinite(x) and math.isfinite(w) and w * v > 0 else NAN
                     for x, w, v in zip(r.tolist(), vwap.tolist(), vol.tolist(), strict=True)]
    out["roll_spread"] = ref.roll(ENDS, [(t, p) for t, p, ok in zip(ts.tolist(), px.tolist(), price_ok.tolist(),
                                                                   strict=True) if ok], CFG.roll_window)
    out["kyle_lambda"] = ref.kyle(r.tolist(), [row["signed_dollar_volume"] for row in rows], CFG.kyle_window)
    out["vpin_lee_ready"] = ref.vpin_lr_per_bar(bars, list(zip(ts.tolist(), counted, sides, strict=True)), BUCKET,
                                                CFG.vpin_window)
    return out, sides, flags


def _check(got: dict, want: dict, bars: slice = slice(None)) -> None:
    assert sorted(got) == sorted(MEASURES)
    for name in MEASURES:
        assert_allclose(np.asarray(got[name], np.float64), np.asarray(want[name], np.float64)[bars], rtol=1e-9,
                        atol=1e-15, equal_nan=True, err_msg=name)
    assert got["n_quotes"].dtype == np.int64


def _columns_of(columns, idx):
    return {k: v[idx] for k, v in columns.items()}


@pytest.mark.parametrize("seed", range(4))
def test_one_call_gives_every_measure_of_the_definitions(seed):
    ts, px, sz, price_ok, volume_ok, quotes, columns = _market(seed)
    want, sides, flags = _reference(ts, px, sz, price_ok, volume_ok, quotes, columns)
    arrays = initial_arrays()
    got, signing = signed_liquidity_columns(columns, BAR, ts, px, sz, price_ok, volume_ok, quotes, arrays, CFG)
    _check(got, want)
    # the signing: the prints before the last bar's end, with their prevailing quotes and sides
    k = int(np.sum(ts < ENDS[-1]))
    assert_array_equal(signing.ts, ts[:k])
    assert_array_equal(signing.px, px[:k])
    assert_array_equal(signing.sets_price, price_ok[:k])
    assert signing.signed.side.tolist() == sides
    assert signing.prevailing.flags.tolist() == flags
    # what the signing started from: no carried quote, no tick state (initial_arrays)
    assert signing.carried.ts_ns == -1 and math.isnan(signing.carried.bid) and math.isnan(signing.carried.ask)
    assert math.isnan(signing.tick.last_price) and signing.tick.last_tick == 0
    assert_array_equal(signing.quotes.ts, quotes.ts[quotes.ts < ENDS[-1]])
    # liquidity_columns gives the same measures
    again = liquidity_columns(columns, BAR, ts, px, sz, price_ok, volume_ok, quotes, initial_arrays(), CFG)
    _check(again, want)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cuts", [(2, 5), (1, 4, 6), (3,)])
def test_calls_cut_at_bar_ends_give_the_rows_of_one_call(seed, cuts):
    ts, px, sz, price_ok, volume_ok, quotes, columns = _market(seed)
    want, _, _ = _reference(ts, px, sz, price_ok, volume_ok, quotes, columns)
    arrays: dict[str, np.ndarray] = {}  # a state that has none of the liq_* keys yet
    lo = 0
    prev_end = -1
    for a, b in zip((0, *cuts), (*cuts, len(ENDS)), strict=True):
        sel = ts >= prev_end  # every print read from the previous cut on, including those after this cut
        q = quotes.before(10**9)
        qk = q.ts >= prev_end
        got, signing = signed_liquidity_columns(
            _columns_of(columns, slice(a, b)), BAR, ts[sel], px[sel], sz[sel], price_ok[sel], volume_ok[sel],
            Quotes(q.ts[qk], q.bid[qk], q.ask[qk], q.bid_size[qk], q.ask_size[qk]), arrays, CFG)
        _check(got, want, slice(a, b))
        # the signing started from the newest quote and the tick state before the previous cut
        k = int(np.searchsorted(quotes.ts, prev_end, side="left")) - 1
        assert signing.carried.ts_ns == (int(quotes.ts[k]) if prev_end > 0 and k >= 0 else -1)
        if signing.carried.ts_ns >= 0:
            assert (signing.carried.bid, signing.carried.ask) == (quotes.bid[k], quotes.ask[k])
        setting = px[(ts < prev_end) & price_ok]
        if setting.size:
            assert signing.tick.last_price == setting[-1]
        else:
            assert math.isnan(signing.tick.last_price)
        prev_end = ENDS[b - 1]
        lo = b
    assert lo == len(ENDS)
    # the carried state: the newest quote before the last cut, the last price-setting price and last change
    last = int(np.searchsorted(quotes.ts, ENDS[-1], side="left")) - 1
    assert arrays["liq_qts"].tolist() == [int(quotes.ts[last])]
    assert_array_equal(arrays["liq_q"], [quotes.bid[last], quotes.ask[last], quotes.bid_size[last],
                                         quotes.ask_size[last]])
    setting = px[(ts < ENDS[-1]) & price_ok].tolist()
    changes = [np.sign(y - x) for x, y in zip(setting, setting[1:]) if y != x]
    assert arrays["liq_tick"].tolist() == [setting[-1], float(changes[-1])]


def test_a_symbol_without_quotes_has_no_quote_measures_and_tick_signed_volumes():
    ts, px, sz, price_ok, volume_ok, _, columns = _market(7)
    price_ok[:] = True
    volume_ok[:] = True
    arrays = initial_arrays()
    got = liquidity_columns(columns, BAR, ts, px, sz, price_ok, volume_ok, Quotes.empty(), arrays, CFG)
    assert got["n_quotes"].tolist() == [0] * len(ENDS)
    for name in ("quoted_spread", "effective_spread", "depth_imbalance"):
        assert np.isnan(got[name]).all(), name
    sides = ref.tick_sides(px.tolist(), [True] * px.size)
    buy = [sum(v for t, v, s in zip(ts, sz, sides, strict=True) if lo <= t < hi and s > 0)
           for lo, hi in zip(STARTS, ENDS, strict=True)]
    assert got["buy_volume"].tolist() == buy
    # no quote seen: the carried quote stays "none"
    assert arrays["liq_qts"].tolist() == [-1] and np.isnan(arrays["liq_q"]).all()


def test_quotes_empty_has_int64_stamps_and_no_rows():
    q = Quotes.empty()
    assert q.ts.dtype == np.int64 and q.ts.shape == (0,)
    for c in (q.bid, q.ask, q.bid_size, q.ask_size):
        assert c.dtype == np.float64 and c.shape == (0,)
    assert q.before(10).ts.shape == (0,)


def test_quotes_before_keeps_those_stamped_strictly_before():
    q = Quotes(np.array([5, 10, 10, 20], np.int64), np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0, 7.0, 8.0]),
               np.array([9.0, 10.0, 11.0, 12.0]), np.array([13.0, 14.0, 15.0, 16.0]))
    b = q.before(10)
    assert b.ts.tolist() == [5] and b.bid.tolist() == [1.0] and b.ask.tolist() == [5.0]
    assert b.bid_size.tolist() == [9.0] and b.ask_size.tolist() == [13.0]
    b = q.before(11)
    assert b.ts.tolist() == [5, 10, 10] and b.bid.tolist() == [1.0, 2.0, 3.0] and b.ask.tolist() == [5.0, 6.0, 7.0]
    assert b.bid_size.tolist() == [9.0, 10.0, 11.0] and b.ask_size.tolist() == [13.0, 14.0, 15.0]
    assert q.before(5).ts.size == 0 and q.before(21).ts.tolist() == [5, 10, 10, 20]


def test_quotes_followed_by_puts_the_later_quotes_after_these_field_by_field():
    # a head read's quotes (stamped before) joined to the main read's: each field in time order, none dropped,
    # the stamps int64 and the prices and sizes float64 as the liquidity step reads them
    head = Quotes(np.array([5, 10], np.int64), np.array([1.0, 2.0]), np.array([5.0, 6.0]), np.array([9.0, 10.0]),
                  np.array([13.0, 14.0]))
    main = Quotes(np.array([20], np.int64), np.array([3.0]), np.array([7.0]), np.array([11.0]), np.array([15.0]))
    q = head.followed_by(main)
    assert q.ts.tolist() == [5, 10, 20] and q.ts.dtype == np.int64
    assert q.bid.tolist() == [1.0, 2.0, 3.0] and q.ask.tolist() == [5.0, 6.0, 7.0]
    assert q.bid_size.tolist() == [9.0, 10.0, 11.0] and q.ask_size.tolist() == [13.0, 14.0, 15.0]
    for c in (q.bid, q.ask, q.bid_size, q.ask_size):
        assert c.dtype == np.float64
    e = Quotes.empty().followed_by(main)
    assert e.ts.tolist() == [20] and e.ts.dtype == np.int64 and e.ask_size.tolist() == [15.0]
    assert main.followed_by(Quotes.empty()).bid.tolist() == [3.0]


@pytest.mark.parametrize(("x", "y", "same"), [
    (1.0, 1.0, True), (NAN, NAN, True), (1.0, NAN, False), (NAN, 1.0, False), (1.0, 2.0, False),
    (0.0, -0.0, True), (math.inf, math.inf, True),
])
def test_same_is_equal_or_both_nan(x, y, same):
    assert _same(x, y) is same


def test_equal_compares_shape_dtype_and_values_with_nan_equal_to_nan():
    a = np.array([1.0, NAN, 3.0])
    assert _equal(a, a.copy()) is True
    assert _equal(a, np.array([1.0, NAN, 4.0])) is False
    assert _equal(a, a[:2]) is False
    assert _equal(a, a.astype(np.float32)) is False
    assert _equal(np.array([1, 2]), np.array([1, 2])) is True
    assert _equal(np.array([1, 2]), np.array([1, 3])) is False
    assert _equal(np.array([True, False]), np.array([True, False])) is True
    assert _equal(np.array([True, False]), np.array([True, True])) is False
    assert _equal(np.empty(0), np.empty(0)) is True
    assert _equal(np.array([1.0]), np.array([2.0])) is False  # one value each: still compared
    assert _equal(np.array([7]), np.array([7])) is True
    assert _equal(np.empty(0), np.empty(0, np.int64)) is False
    # views of the same memory are equal at once; same start but other strides are compared
    base = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert _equal(base[:3], base[:3]) is True
    assert _equal(base[:3], base[::2]) is False
    assert _equal(base[:3], base[1:4]) is False


def test_newest_before_is_the_last_quote_stamped_strictly_before_else_the_carried_one():
    q = Quotes(np.array([5, 10, 20], np.int64), np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]),
               np.ones(3), np.ones(3))
    carried = CarriedQuote(1, 7.0, 8.0)
    assert _newest_before(q, 10, carried) == (5, 1.0, 4.0)
    assert _newest_before(q, 11, carried) == (10, 2.0, 5.0)
    assert _newest_before(q, 100, carried) == (20, 3.0, 6.0)
    assert _newest_before(q, 5, carried) == (1, 7.0, 8.0)
    assert _newest_before(Quotes.empty(), 5, CarriedQuote())[0] == -1


def _signing(n: int = 4, sets_price=None) -> Signing:
    ts = np.array([10, 20, 30, 40, 50][:n], np.int64)
    px = np.array([10.0, 10.01, 10.0, 10.02, 10.02][:n])
    quotes = Quotes(np.array([5, 15, 25], np.int64), np.array([9.99, 10.0, 9.99]), np.array([10.01, 10.02, 10.01]),
                    np.ones(3), np.ones(3))
    prevailing = Prevailing(np.arange(n) + 0.5, np.arange(n) + 1.5, np.arange(n, dtype=np.int64),
                            np.arange(n, dtype=np.uint8), CarriedQuote(25, 9.99, 10.01))
    signed = Signed(np.array([1, -1, 1, 1, -1][:n], np.int8), np.arange(n, dtype=np.uint8) + 32,
                    TickState(10.02, 1))
    return Signing(ts, px, quotes, CarriedQuote(3, 9.0, 11.0), TickState(9.99, -1), prevailing, signed, sets_price)


def _realized(n: int, quotes_from: int = 0):
    s = _signing()
    q = s.quotes
    k = int(np.searchsorted(q.ts, quotes_from, side="left"))
    return s.ts[:n].copy(), s.px[:n].copy(), Quotes(q.ts[k:], q.bid[k:], q.ask[k:], q.bid_size[k:], q.ask_size[k:])


@pytest.mark.parametrize("n", [1, 3, 4])
def test_shared_signing_hands_back_the_first_n_values_of_the_signing(n):
    s = _signing()
    ts, px, q = _realized(n)
    got = shared_signing(s, ts, px, q, TickState(9.99, -1))
    assert got is not None
    p, signed = got
    assert p.bid.tolist() == s.prevailing.bid[:n].tolist() and p.ask.tolist() == s.prevailing.ask[:n].tolist()
    assert p.age_ns.tolist() == list(range(n)) and p.flags.tolist() == list(range(n))
    assert p.carried == s.prevailing.carried
    assert signed.side.tolist() == s.signed.side[:n].tolist() and signed.flags.tolist() == [32 + i for i in range(n)]
    assert signed.state == s.signed.state


def test_shared_signing_refuses_when_it_cannot_prove_the_values_are_the_same():
    s = _signing()
    tick = TickState(9.99, -1)
    ts, px, q = _realized(3)
    assert shared_signing(None, ts, px, q, tick) is None
    assert shared_signing(s, ts[:0], px[:0], q, tick) is None
    ts5, px5 = np.array([10, 20, 30, 40, 50], np.int64), np.array([10.0, 10.01, 10.0, 10.02, 10.02])
    assert shared_signing(s, ts5, px5, q, tick) is None  # more prints than signed
    assert shared_signing(s, ts, px, q, TickState(9.98, -1)) is None
    assert shared_signing(s, ts, px, q, TickState(9.99, 1)) is None
    assert shared_signing(s, ts, px, q, TickState()) is None
    other = ts.copy()
    other[2] = 31
    assert shared_signing(s, other, px, q, tick) is None
    other = px.copy()
    other[1] = 10.02
    assert shared_signing(s, ts, other, q, tick) is None
    # sets_price: both None, both the same (shared); one None or different (not)
    assert shared_signing(s, ts, px, q, tick, np.array([True, True, True])) is None
    flagged = _signing(sets_price=np.array([True, False, True, True]))
    assert shared_signing(flagged, ts, px, q, tick) is None
    assert shared_signing(flagged, ts, px, q, tick, np.array([True, True, True])) is None
    assert shared_signing(flagged, ts, px, q, tick, np.array([True, False, True])) is not None


def test_shared_signing_needs_the_same_quote_before_the_first_print_and_the_same_quotes_after():
    s = _signing()
    tick = TickState(9.99, -1)
    ts, px, q = _realized(3)
    assert shared_signing(s, ts, px, q, tick) is not None
    # the realized quotes start after the first print's quote: it would read no quote, the signing the quote at 5
    ts_, px_, late = _realized(3, quotes_from=6)
    assert shared_signing(s, ts_, px_, late, tick) is None
    # the quote before the first print differs in time, bid or ask
    for k, col in ((0, "ts"), (1, "bid"), (2, "ask")):
        cols = {c: getattr(q, c).copy() for c in ("ts", "bid", "ask", "bid_size", "ask_size")}
        cols[col][0] = {0: 4, 1: 9.98, 2: 10.03}[k]
        assert shared_signing(s, ts, px, Quotes(**cols), tick) is None, col
    # a quote between the first and the last print differs in time, bid or ask
    for col, value in (("ts", 16), ("bid", 9.98), ("ask", 10.03)):
        cols = {c: getattr(q, c).copy() for c in ("ts", "bid", "ask", "bid_size", "ask_size")}
        cols[col][1] = value
        assert shared_signing(s, ts, px, Quotes(**cols), tick) is None, col
    # sizes are not read by either signing: a different size is still shared
    cols = {c: getattr(q, c).copy() for c in ("ts", "bid", "ask", "bid_size", "ask_size")}
    cols["bid_size"][1] = 7.0
    assert shared_signing(s, ts, px, Quotes(**cols), tick) is not None
    # a quote after the last print (at 25, prints at 10, 20) does not matter: one print fewer, the quote changed
    ts2, px2, q2 = _realized(2)
    cols = {c: getattr(q2, c).copy() for c in ("ts", "bid", "ask", "bid_size", "ask_size")}
    cols["bid"][2] = 9.5
    assert shared_signing(s, ts2, px2, Quotes(**cols), tick) is not None
    # no quote before the first print in both: the carried quote of the signing is (3, 9.0, 11.0), not none
    nothing = Signing(s.ts, s.px, Quotes.empty(), CarriedQuote(), s.tick, s.prevailing, s.signed)
    assert shared_signing(nothing, ts, px, Quotes.empty(), tick) is not None
    assert shared_signing(s._replace(quotes=Quotes.empty()), ts, px, Quotes.empty(), tick) is None


def test_initial_arrays_are_a_state_that_has_seen_nothing():
    a = initial_arrays()
    assert sorted(a) == ["liq_kyle_r", "liq_kyle_x", "liq_q", "liq_qts", "liq_roll", "liq_tick"]
    assert a["liq_qts"].dtype == np.int64 and a["liq_qts"].tolist() == [CarriedQuote().ts_ns]
    assert a["liq_q"].shape == (4,) and np.isnan(a["liq_q"]).all()
    assert math.isnan(a["liq_tick"][0]) and a["liq_tick"][1] == TickState().last_tick and a["liq_tick"].size == 2
    for key in ("liq_roll", "liq_kyle_r", "liq_kyle_x"):
        assert a[key].size == 0 and a[key].dtype == np.float64, key
    assert initial_arrays()["liq_q"] is not a["liq_q"]


@pytest.mark.parametrize(("end", "open_", "start"), [
    (1100, 1000, 1000), (1200, 1000, 1100), (1150, 1000, 1100), (1101, 1000, 1100), (1001, 1000, 1000),
    (1450, 1000, 1400), (2100, 2000, 2000),
])
def test_bar_starts_are_the_last_grid_point_before_the_end(end, open_, start):
    assert bar_starts(np.array([end], np.int64), np.array([open_], np.int64), BAR).tolist() == [start]
