"""Realized spread and price impact (udx.realized): edges a caller feels, against tests/reference/realized.py.

A bar whose first trade is the very first print, fractional sizes (crypto) whose weight sums below one, the
shortest horizon, the argument checks with their exact messages (one length off, overlapping bars) and the
integer trade counts.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.reference import realized as ref
from udx.nbbo import prevailing_quotes
from udx.realized import RealizedTrades, realized_bars, realized_trades

STALE = 1_000
QUOTES = [(0, 99.99, 100.01), (50, 100.00, 100.02), (120, 100.02, 100.04), (400, 99.98, 100.00)]


def _columns(rows: list[tuple[int, float, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))


def _quote_columns() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.array([q[0] for q in QUOTES]), np.array([q[1] for q in QUOTES]), np.array([q[2] for q in QUOTES]))


@pytest.mark.parametrize("sizes", [[300.0, 100.0, 200.0, 50.0], [0.3, 0.1, 0.2, 0.05]])
def test_bar_means_count_the_first_trade_and_weights_below_one(sizes: list[float]) -> None:
    trades = [(10, 100.02, 1), (60, 99.99, -1), (130, 100.05, 1), (150, 100.01, -1)]
    horizon = 100
    values = realized_trades(*_columns(trades), *_quote_columns(), horizon, STALE)
    bars = [(0, 100), (100, 200)]
    got = realized_bars([0, 100], [100, 200], [t[0] for t in trades], sizes, values)
    want = ref.bar_means(bars, trades, sizes, ref.trade_values(trades, QUOTES, horizon, STALE))
    assert_allclose(np.column_stack(got), np.array(want, dtype=float), rtol=1e-12, atol=1e-15)
    assert np.isfinite(got.realized_spread).all()  # every bar has weight, below one share in the crypto case
    assert got.n_trades.dtype == np.int64 and got.n_trades.tolist() == [2, 2]


def test_the_shortest_horizon_one_nanosecond_is_accepted() -> None:
    trades = [(50, 100.03, 1), (120, 99.99, -1)]  # a quote stamped at t is the one prevailing at t + 1 ns
    got = realized_trades(*_columns(trades), *_quote_columns(), 1, STALE)
    want = ref.trade_values(trades, QUOTES, 1, STALE)
    assert_allclose(np.column_stack([got.realized_spread, got.price_impact]), np.array(want), rtol=1e-12)
    assert got.price_impact[0] != 0.0


def test_a_prevailing_quote_given_per_trade_is_used_and_must_have_one_per_trade() -> None:
    """The bar liquidity's trade-quote join handed over (``now=``, one prevailing quote per trade) gives the
    definitions' values; one of another length is refused with its exact message."""
    trades = [(60, 100.03, 1), (130, 100.01, -1), (410, 99.97, -1)]
    t = _columns(trades)[0]
    now = prevailing_quotes(t, *_quote_columns(), STALE)
    got = realized_trades(*_columns(trades), *_quote_columns(), 100, STALE, now=now)
    want = ref.trade_values(trades, QUOTES, 100, STALE)
    assert all(w is not None for w in want)  # every trade has both midpoints here
    assert_allclose(np.column_stack([got.realized_spread, got.price_impact]), np.array(want), rtol=1e-12)
    shorter = prevailing_quotes(t[:2], *_quote_columns(), STALE)
    with pytest.raises(ValueError, match=r"^need one prevailing quote per trade, got \(2,\) for \(3,\)$"):
        realized_trades(*_columns(trades), *_quote_columns(), 100, STALE, now=shorter)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: realized_trades([1, 2], [10.0], [1, 1], [0], [9.9], [10.1], 5, STALE),
     r"^need one price and side per trade, got trade_ts \(2,\), price \(1,\), side \(2,\)$"),
    (lambda: realized_trades([1, 2], [10.0, 10.0], [1], [0], [9.9], [10.1], 5, STALE),
     r"^need one price and side per trade, got trade_ts \(2,\), price \(2,\), side \(1,\)$"),
    (lambda: realized_trades([1], [10.0], [1], [0], [9.9], [10.1], -5, STALE), r"^horizon_ns must be > 0, got -5$"),
    (lambda: realized_bars([0, 100, 150], [100, 200, 300], [], [], RealizedTrades(*(np.empty(0),) * 4)),
     r"^bars must be non-empty, in time order and not overlapping$"),
    (lambda: realized_bars([0, 50], [100, 150], [], [], RealizedTrades(*(np.empty(0),) * 4)),
     r"^bars must be non-empty, in time order and not overlapping$"),
    (lambda: realized_bars([0], [10], [1], [], RealizedTrades(*(np.empty(1),) * 4)),
     r"^need one end per bar start and one size and value per trade$"),
])
def test_bad_input_is_refused_with_its_exact_message(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()
