r"""Trade signing by Lee and Ready (1991): the quote rule, the tick rule at the midpoint and without a quote.

For each trade with price :math:`p`, in time order:

* **tick rule.** Only the prints that may set the last sale (``sets_price``, :mod:`sql.conditions`) move the
  tick state: the last price-setting price :math:`p_-` and the sign of the last non-zero change among
  price-setting prints. A price-setting print at :math:`p` is an uptick (:math:`p > p_-`, a buy, +1) or a
  downtick (a sell, -1) and moves the state; at :math:`p = p_-` it takes the last non-zero tick. A print that
  may not set the price (an odd lot, an average-price print, ...) is compared with :math:`p_-` the same way
  and leaves the state as it is. 0 (unknown) while no change has been seen; with no :math:`p_-` yet, the last
  non-zero tick. This is the view ``enriched_market_data``'s rule
  (``sql/duckdb/views/010_enriched_market_data.sql``).
* **quote rule.** With a usable prevailing quote (:mod:`udx.nbbo`: present, fresh, two-sided, neither locked nor
  crossed) and midpoint :math:`m = (b + a)/2`: :math:`p > m` is a buy, :math:`p < m` a sell. A trade at the
  midpoint (:math:`|2p - b - a| \le 10^{-9} p`, a tolerance far below any tick, so the float sum of two
  cent prices does not decide it) takes the tick rule and the flag :data:`AT_MIDPOINT`.
* **without a usable quote** the tick rule decides and the trade gets the flag :data:`TICK_ONLY` (its
  :mod:`udx.nbbo` flags say why).

Sides are ``int8`` +1 / -1 / 0. **Incremental:** the last price-setting price and the last non-zero change
among price-setting prints are carried (:class:`TickState`), so signing a series in pieces equals signing it
at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from udx._jit import jit
from udx._typing import BoolArray1D, Float64Array1D
from udx.nbbo import UNUSABLE

__all__ = ["AT_MIDPOINT", "TICK_ONLY", "Signed", "TickState", "lee_ready"]

#: The quote was usable but the price sat at its midpoint: signed by the tick rule.
AT_MIDPOINT = 32
#: No usable quote: signed by the tick rule alone.
TICK_ONLY = 64
_MID_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class TickState:
    """The last price-setting print's price (NaN: none yet) and the sign of the last non-zero change among
    price-setting prints (0: none yet)."""

    last_price: float = math.nan
    last_tick: int = 0


@dataclass(frozen=True, slots=True)
class Signed:
    """Per trade: ``side`` (+1 buy, -1 sell, 0 unknown) and ``flags`` (the input flags OR :data:`AT_MIDPOINT` /
    :data:`TICK_ONLY`); and the tick state to carry into the next call."""

    side: np.ndarray
    flags: np.ndarray
    state: TickState


def _lee_ready_python(
    price: Float64Array1D, bid: Float64Array1D, ask: Float64Array1D, quote_flags: np.ndarray,
    sets_price: BoolArray1D, last_price: float, last_tick: int, out_side: np.ndarray, out_flags: np.ndarray,
) -> tuple[float, int]:
    """Fill ``out_side``/``out_flags``; return the carried ``(last_price, last_tick)``."""
    for i in range(price.shape[0]):
        p = price[i]
        if sets_price[i]:
            if p > last_price:  # NaN (no price yet) compares false
                last_tick = 1
            elif p < last_price:
                last_tick = -1
            last_price = p
            tick = last_tick
        elif p > last_price:  # compared with the last price-setting price; the state stays
            tick = 1
        elif p < last_price:
            tick = -1
        else:
            tick = last_tick
        flags = quote_flags[i]
        if flags & UNUSABLE:
            out_side[i] = tick
            out_flags[i] = flags | TICK_ONLY
            continue
        d = 2.0 * p - bid[i] - ask[i]
        if d > _MID_TOL * p:
            out_side[i] = 1
            out_flags[i] = flags
        elif d < -_MID_TOL * p:
            out_side[i] = -1
            out_flags[i] = flags
        else:
            out_side[i] = tick
            out_flags[i] = flags | AT_MIDPOINT
    return last_price, last_tick


_lee_ready = jit(_lee_ready_python, nogil=True)


def lee_ready(price: object, bid: object, ask: object, quote_flags: object,
              state: TickState | None = None, sets_price: object = None) -> Signed:
    """Sign trades by Lee-Ready against their prevailing quotes (:func:`udx.nbbo.prevailing_quotes`).

    Parameters
    ----------
    price
        Trade prices, in time order, positive and finite.
    bid, ask, quote_flags
        Each trade's prevailing quote and its flags, as :func:`udx.nbbo.prevailing_quotes` returns them.
    state
        The tick state carried from the previous call.
    sets_price
        Per trade, whether it may set the last sale (only those move the tick state); default: every trade.

    Raises
    ------
    ValueError
        Unequal lengths, or a price that is not positive and finite.

    Examples
    --------
    >>> s = lee_ready([10.01, 10.0, 10.0, 10.005], [9.99, 9.99, 9.99, 10.0], [10.01, 10.01, 10.01, 10.01],
    ...               [0, 0, 1, 0])
    >>> s.side.tolist(), s.flags.tolist()
    ([1, -1, -1, 1], [0, 32, 65, 32])

    The odd lot at 10.02 (it may not set the price) is an uptick against 10.01 and leaves the state there, so
    the next print at 10.01 is a zero tick (the last change, up), not a downtick from 10.02:

    >>> nan = [float("nan")] * 4
    >>> lee_ready([10.0, 10.01, 10.02, 10.01], nan, nan, [1] * 4, sets_price=[True, True, False, True]).side.tolist()
    [0, 1, 1, 1]
    """
    p = np.ascontiguousarray(price, dtype=np.float64)
    b = np.ascontiguousarray(bid, dtype=np.float64)
    a = np.ascontiguousarray(ask, dtype=np.float64)
    f = np.ascontiguousarray(quote_flags, dtype=np.uint8)
    sp = np.ones(p.shape, np.bool_) if sets_price is None else np.ascontiguousarray(sets_price, dtype=np.bool_)
    if p.ndim != 1 or b.shape != p.shape or a.shape != p.shape or f.shape != p.shape or sp.shape != p.shape:
        raise ValueError(f"need one bid, ask and flag per price (and sets_price flag), got price {p.shape}, "
                         f"bid {b.shape}, ask {a.shape}, quote_flags {f.shape}, sets_price {sp.shape}")
    if not bool(np.all(np.isfinite(p) & (p > 0))):
        raise ValueError("prices must be positive and finite")
    s = state or TickState()
    side, flags = np.empty(p.size, np.int8), np.empty(p.size, np.uint8)
    last_price, last_tick = _lee_ready(p, b, a, f, sp, float(s.last_price), int(s.last_tick), side, flags)
    return Signed(side, flags, TickState(float(last_price), int(last_tick)))
