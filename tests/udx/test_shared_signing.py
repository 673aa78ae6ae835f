"""The realized step reuses the bar liquidity's NBBO join and Lee-Ready signs only where they are its own values.

:func:`udx.liquidity_step.shared_signing` hands the realized step the prevailing quotes and sides that the bar
liquidity computed for the same prints. Each case builds the liquidity's signing from one view of a symbol's
history (its trades from some print, its quotes from some time, a carried quote and tick state) and asks for the
realized step's view (its trades, quotes and tick state); whatever comes back must be what the definitions give
for the realized view (``tests/naive.py``: the newest quote strictly before each print among the realized
quotes, Lee-Ready with the tick rule over the prices before it), and the cases where the views agree must share.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import naive
from udx.liquidity_step import Quotes, Signing, shared_signing
from udx.nbbo import CarriedQuote, prevailing_quotes
from udx.trade_sign import TickState, lee_ready

STALE = 50


def _history(seed: int) -> tuple[np.ndarray, np.ndarray, Quotes]:
    """200 prints and 300 quotes on one clock (shared stamps, locked, crossed and one-sided quotes, cent prices
    at the bid, the ask, the midpoint and inside, gaps longer than the stale limit)."""
    rng = np.random.default_rng(seed)
    qts = np.sort(rng.integers(0, 2000, 300)).astype(np.int64)
    mid = 100 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], 300))
    half = rng.choice([0.005, 0.01, 0.02, 0.0, -0.01], 300, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    bid, ask = np.round(mid - half, 3), np.round(mid + half, 3)
    bid[rng.random(300) < 0.03] = 0.0  # one-sided, as Polygon writes it
    ts = np.sort(np.concatenate([rng.choice(qts, 60), rng.integers(0, 2600, 140)])).astype(np.int64)
    k = np.clip(np.searchsorted(qts, ts) - 1, 0, 299)
    px = np.round(mid[k] + rng.choice([-0.01, -0.005, 0.0, 0.005, 0.01], ts.size), 3)
    return ts, px, Quotes(qts, bid, ask, np.ones(300), np.ones(300))


def _from(quotes: Quotes, t: int) -> Quotes:
    k = int(np.searchsorted(quotes.ts, t, side="left"))
    return Quotes(quotes.ts[k:], quotes.bid[k:], quotes.ask[k:], quotes.bid_size[k:], quotes.ask_size[k:])


def _carried(quotes: Quotes, t0: int) -> CarriedQuote:
    """The newest quote stamped strictly before ``t0`` as a carried quote (none when there is none)."""
    k = int(np.searchsorted(quotes.ts, t0, side="left"))
    return CarriedQuote() if k == 0 else CarriedQuote(int(quotes.ts[k - 1]), float(quotes.bid[k - 1]),
                                                      float(quotes.ask[k - 1]))


def _truth(px: np.ndarray, i: int) -> TickState:
    """The tick state before print ``i`` from the definition: the last price and the sign of the change from
    the most recent different earlier price."""
    if i == 0:
        return TickState()
    last = float(px[i - 1])
    for j in range(i - 2, -1, -1):
        if px[j] != last:
            return TickState(last, 1 if last > px[j] else -1)
    return TickState(last, 0)


def _signing(ts, px, quotes: Quotes, a: int, b: int, quotes_from: int, carried: CarriedQuote,
             tick: TickState) -> Signing:
    """The bar liquidity's signing of prints ``a:b`` against the quotes from ``quotes_from`` with ``carried``."""
    q = _from(quotes, quotes_from)
    p = prevailing_quotes(ts[a:b], q.ts, q.bid, q.ask, STALE, carried)
    return Signing(ts[a:b], px[a:b], q, carried, tick, p, lee_ready(px[a:b], p.bid, p.ask, p.flags, tick))


def _expected(ts, px, q: Quotes, tick: TickState) -> tuple[list, list]:
    """``(bid, ask, flags)`` and sides of the realized view by the definitions (tests/naive.py); the tick state
    enters as the prices before the view that make it."""
    before = [] if math.isnan(tick.last_price) else (
        [tick.last_price] if tick.last_tick == 0 else [tick.last_price - 0.01 * tick.last_tick, tick.last_price])
    quotes = naive.prevailing_quote(ts.tolist(), q.ts.tolist(), q.bid.tolist(), q.ask.tolist(), STALE)
    flags = [f for _, _, _, f in quotes]
    sides = naive.lee_ready(before + px.tolist(), [math.nan] * len(before) + [b for b, _, _, _ in quotes],
                            [math.nan] * len(before) + [a for _, a, _, _ in quotes], [1] * len(before) + flags)
    return [(b, a, f) for b, a, _, f in quotes], [s for s, _ in sides[len(before):]]


def _check(got, ts, px, q: Quotes, tick: TickState) -> None:
    quotes, sides = _expected(ts, px, q, tick)
    now, signed = got
    np.testing.assert_array_equal(now.bid, [b for b, _, _ in quotes])  # NaN where NaN, else the same double
    np.testing.assert_array_equal(now.ask, [a for _, a, _ in quotes])
    assert now.flags.tolist() == [f for _, _, f in quotes]
    assert signed.side.tolist() == sides


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("start", [0, 37, 120])
def test_both_steps_from_the_same_print_with_the_true_states_share_the_definitions_values(seed, start):
    ts, px, quotes = _history(seed)
    t0 = int(ts[start])
    carried = _carried(quotes, t0)
    tick = _truth(px, start)
    signing = _signing(ts, px, quotes, start, ts.size, t0, carried, tick)
    for stop in (start + 1, start + 50, ts.size):
        q = _from(quotes, max(t0 - STALE, 0))
        got = shared_signing(signing, ts[start:stop], px[start:stop], q, tick)
        assert got is not None  # the views agree: shared
        _check(got, ts[start:stop], px[start:stop], q, tick)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_liquidity_state_without_the_quote_before_is_not_shared(seed):
    """An old state carried no quote: the realized view reads a fresh quote before its first print, which the
    signing never saw (so its values differ from the definitions' there)."""
    ts, px, quotes = _history(seed)
    start = next(i for i in range(20, ts.size) if np.any((quotes.ts < ts[i]) & (quotes.ts > ts[i] - STALE)))
    t0 = int(ts[start])
    tick = _truth(px, start)
    signing = _signing(ts, px, quotes, start, ts.size, t0, CarriedQuote(), tick)
    q = _from(quotes, t0 - STALE)
    assert _expected(ts[start:start + 1], px[start:start + 1], q, tick)[0][0][2] != int(signing.prevailing.flags[0])
    assert shared_signing(signing, ts[start:], px[start:], q, tick) is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_another_tick_state_is_not_shared(seed):
    ts, px, quotes = _history(seed)
    start = 40
    t0 = int(ts[start])
    carried = _carried(quotes, t0)
    tick = _truth(px, start)
    signing = _signing(ts, px, quotes, start, ts.size, t0, carried, TickState())  # a state from before ticks
    assert shared_signing(signing, ts[start:], px[start:], _from(quotes, t0 - STALE), tick) is None


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("shift", [-1, 1])
def test_other_prints_are_not_shared(seed, shift):
    """The realized view starts one print earlier or later than the signing."""
    ts, px, quotes = _history(seed)
    start = 60
    t0 = int(ts[start])
    carried = _carried(quotes, t0)
    signing = _signing(ts, px, quotes, start, ts.size, t0, carried, _truth(px, start))
    r = start + shift
    q = _from(quotes, min(t0, int(ts[r])) - STALE)
    for tick in (_truth(px, r), signing.tick):  # its own tick state, or the signing's
        got = shared_signing(signing, ts[r:], px[r:], q, tick)
        if got is not None:  # only when the prints happen to be equal in time and price
            _check(got, ts[r:], px[r:], q, tick)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_quote_missing_from_the_signing_is_not_shared(seed):
    """The signing's quotes lack one the realized view reads (a quote between two of its prints)."""
    ts, px, quotes = _history(seed)
    start = 30
    t0 = int(ts[start])
    carried = _carried(quotes, t0)
    drop = int(np.searchsorted(quotes.ts, int(ts[start + 20]), side="left")) - 1  # read by print start + 20
    keep = np.arange(quotes.ts.size) != drop
    fewer = Quotes(*(c[keep] for c in (quotes.ts, quotes.bid, quotes.ask, quotes.bid_size, quotes.ask_size)))
    tick = _truth(px, start)
    signing = _signing(ts, px, fewer, start, ts.size, t0, carried, tick)
    assert shared_signing(signing, ts[start:], px[start:], _from(quotes, t0 - STALE), tick) is None
