"""Realized spread and price impact (udx/realized.py) against the plain twin in tests/reference/realized.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.reference import realized as ref
from udx.realized import (
    RealizedTrades,
    _bar_means,
    _bar_means_python,
    _decompose,
    _decompose_python,
    realized_bars,
    realized_trades,
)

STALE = 1_000
H = 300


def _random_case(seed: int, n_trades: int, n_quotes: int) -> tuple[list, list, list]:
    """Trades ``(ts, price, side)``, quotes ``(ts, bid, ask)`` with locked, crossed, one-sided and stale gaps,
    stamps shared between trades and quotes, and sizes (some 0)."""
    rng = np.random.default_rng(seed)
    span = 20_000
    qts = np.sort(rng.integers(0, span, n_quotes))
    mid = 100 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], n_quotes))
    half = rng.integers(0, 4, n_quotes) * 0.005  # 0: locked
    bid, ask = mid - half, mid + half
    crossed = rng.random(n_quotes) < 0.05
    bid = np.where(crossed, ask + 0.01, bid)
    one_sided = rng.random(n_quotes) < 0.05
    bid = np.where(one_sided, 0.0, bid)
    ask = np.where(rng.random(n_quotes) < 0.03, np.nan, ask)
    tts = np.sort(np.concatenate([rng.integers(0, span + 2 * STALE, n_trades - 10), qts[:10]]))  # shared stamps
    prices = 100 + rng.integers(-30, 31, tts.size) * 0.005
    sides = rng.choice([-1, 0, 1], tts.size, p=[0.45, 0.1, 0.45])
    sizes = np.where(rng.random(tts.size) < 0.1, 0.0, rng.integers(1, 500, tts.size).astype(float))
    trades = list(zip(tts.tolist(), prices.tolist(), sides.tolist(), strict=True))
    quotes = list(zip(qts.tolist(), bid.tolist(), ask.tolist(), strict=True))
    return trades, quotes, sizes.tolist()


def _run(trades: list, quotes: list, horizon: int = H) -> RealizedTrades:
    t, p, s = (np.array(c) for c in zip(*trades, strict=True)) if trades else (np.empty(0),) * 3
    q, b, a = (np.array(c) for c in zip(*quotes, strict=True)) if quotes else (np.empty(0),) * 3
    return realized_trades(t, p, s, q, b, a, horizon, STALE)


def _as_pairs(r: RealizedTrades) -> list[tuple[float, float] | None]:
    return [None if math.isnan(x) else (x, y) for x, y in zip(r.realized_spread, r.price_impact, strict=True)]


@pytest.mark.parametrize("seed", range(6))
def test_each_trade_matches_the_definition(seed: int) -> None:
    trades, quotes, _ = _random_case(seed, 300, 400)
    got = _as_pairs(_run(trades, quotes))
    want = ref.trade_values(trades, quotes, H, STALE)
    assert [g is None for g in got] == [w is None for w in want]
    pairs = [(g, w) for g, w in zip(got, want, strict=True) if g is not None]
    assert len(pairs) > 50
    assert_allclose([g for g, _ in pairs], [w for _, w in pairs], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_bar_means_match_the_definition(seed: int) -> None:
    trades, quotes, sizes = _random_case(seed, 300, 400)
    r = _run(trades, quotes)
    bars = [(s, s + 1_000) for s in range(0, 22_000, 1_000) if s != 5_000] + [(22_000, 22_500)]
    got = realized_bars([b[0] for b in bars], [b[1] for b in bars], [t[0] for t in trades], sizes, r)
    want = ref.bar_means(bars, trades, sizes, ref.trade_values(trades, quotes, H, STALE))
    assert_allclose(np.column_stack(got), np.array(want, dtype=float), rtol=1e-12, atol=1e-15, equal_nan=True)


def test_realized_plus_impact_is_the_signed_effective_spread() -> None:
    trades, quotes, _ = _random_case(11, 400, 500)
    r = _run(trades, quotes)
    ok = ~np.isnan(r.realized_spread)
    price = np.array([t[1] for t in trades])[ok]
    side = np.array([t[2] for t in trades])[ok]
    effective = 2 * side * (price - r.mid[ok]) / r.mid[ok]
    assert_allclose(r.realized_spread[ok] + r.price_impact[ok], effective, rtol=1e-12, atol=1e-15)


def test_hand_made_cases_cover_every_quote_state() -> None:
    # quotes: 0 normal, 100 locked, 200 crossed, 300 one-sided, 400 normal, 2000 normal (stale gap before)
    quotes = [(0, 9.99, 10.01), (100, 10.0, 10.0), (200, 10.01, 10.0), (300, 0.0, 10.02), (400, 10.0, 10.02),
              (2_000, 10.02, 10.04)]
    trades = [
        (50, 10.01, 1),     # now: normal; +300 -> one-sided at 300 (strictly before 350): undefined
        (400, 10.01, 1),    # a quote at the trade's own stamp is not used: now = one-sided quote at 300
        (401, 10.02, 1),    # now: 400; +300 -> 400 still (fresh): realized = effective, impact 0
        (1_500, 10.0, -1),  # now: 400 is 1100 old: stale
        (1_800, 10.03, 0),  # later: 2000 usable, now: 400 stale: undefined anyway; side 0 too
        (2_001, 10.04, 1),  # now: 2000; later 2301: 2000 still
    ]
    got = _as_pairs(_run(trades, quotes))
    assert got[0] is None and got[1] is None and got[3] is None and got[4] is None
    assert got[2] == pytest.approx((2 * (10.02 - 10.01) / 10.01, 0.0), abs=1e-15)
    assert got[5] == pytest.approx((2 * (10.04 - 10.03) / 10.03, 0.0), abs=1e-15)
    moved = _as_pairs(_run([(401, 10.02, 1)], quotes[:5] + [(650, 10.02, 10.04)]))  # +300 = 701 sees 650
    assert moved[0] == pytest.approx((2 * (10.02 - 10.03) / 10.01, 2 * (10.03 - 10.01) / 10.01), rel=1e-12)


def test_plain_twins_give_the_compiled_kernels_values() -> None:
    trades, quotes, sizes = _random_case(3, 200, 300)
    r = _run(trades, quotes)
    price = np.array([t[1] for t in trades])
    side = np.array([t[2] for t in trades], np.int8)
    outs = [np.empty(price.size) for _ in range(4)]
    _decompose(price, side, r.mid, r.mid_later, outs[0], outs[1])
    _decompose_python(price, side, r.mid, r.mid_later, outs[2], outs[3])
    assert_allclose(outs[0], outs[2], equal_nan=True)
    assert_allclose(outs[1], outs[3], equal_nan=True)
    ts = np.array([t[0] for t in trades], np.int64)
    s, e = np.array([0, 10_000], np.int64), np.array([10_000, 25_000], np.int64)
    a = [np.empty(2), np.empty(2), np.empty(2, np.int64), np.empty(2)]
    b = [np.empty(2), np.empty(2), np.empty(2, np.int64), np.empty(2)]
    _bar_means(s, e, ts, np.array(sizes), outs[0], outs[1], *a)
    _bar_means_python(s, e, ts, np.array(sizes), outs[0], outs[1], *b)
    for x, y in zip(a, b, strict=True):
        assert_allclose(x, y, equal_nan=True)


def test_no_trades_and_no_quotes_give_empty_and_nan() -> None:
    assert _run([], [(0, 9.99, 10.01)]).realized_spread.size == 0
    r = _run([(10, 10.0, 1)], [])
    assert math.isnan(r.realized_spread[0]) and math.isnan(r.price_impact[0])
    b = realized_bars([0], [100], [10], [100.0], r)
    assert math.isnan(b.realized_spread[0]) and b.n_trades[0] == 0 and b.volume[0] == 0.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: realized_trades([1], [10.0], [1], [0], [9.9], [10.1], 0, STALE), "horizon_ns must be > 0"),
    (lambda: realized_trades([1, 2], [10.0], [1], [0], [9.9], [10.1], H, STALE), "one price and side"),
    (lambda: realized_trades([2, 1], [10.0, 10.0], [1, 1], [0], [9.9], [10.1], H, STALE), "sorted"),
    (lambda: realized_trades([1], [10.0], [1], [0], [9.9], [10.1], H, -1), "stale_ns"),
    (lambda: realized_bars([0], [0], [], [], RealizedTrades(*(np.empty(0),) * 4)), "non-empty"),
    (lambda: realized_bars([0], [10], [1], [], RealizedTrades(*(np.empty(1),) * 4)), "one size"),
])
def test_bad_input_is_a_clear_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
