"""One symbol's ``bar_liquidity`` rows in the transform: its quotes and trades of the bars just made final.

:func:`liquidity_columns` runs, for the bars :func:`udx.pipeline.process_symbol` has just emitted, the chain
:func:`udx.nbbo.prevailing_quotes` → :func:`udx.trade_sign.lee_ready` → :func:`udx.liquidity.liquidity_bars`,
then :mod:`udx.impact` (Amihud from the bars' return and dollar volume ``vwap · volume``, Roll over the
price-setting prints, Kyle over the bars' return and signed dollar volume) and :mod:`udx.vpin_lr` (VPIN with
the Lee-Ready sides, in the BVC VPIN's buckets: the pipeline's ``vpin_bucket`` per bar and ``VPIN_WINDOW``).

**Which prints.** Every valid print is signed (the quote rule, else the tick rule over every print in time
order); buy, sell and signed volume and the effective spread count the prints that count in volume (their size
is taken as 0 otherwise); Roll's price changes are those between price-setting prints. A symbol without quotes
gets ``n_quotes`` 0 and NaN quote measures, and volumes signed by the tick rule.

**Incremental.** Only trades and quotes stamped before the end of the last emitted bar are used; the rest is
read again with the next bars. The carried state lives in :attr:`udx.state.SymbolState.arrays` under
``liq_*`` keys (:func:`initial_arrays`): the newest quote before the cut (time, bid, ask, sizes), the last price
and non-zero tick, the Roll window's last prices, the Kyle window's last pairs and the Lee-Ready VPIN's open
bucket and rings (``liq_vlr_*``: a state written before them starts its buckets empty at the upgrade). A state
written before liquidity was wired in has none of them and starts from :func:`initial_arrays` (its earlier bars
get no rows).
So calls cut at bar ends give exactly the rows of one call (``tests/udx/test_liquidity_transform.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from udx.impact import amihud, kyle_bars, roll_bars
from udx.liquidity import liquidity_bars
from udx.nbbo import CarriedQuote, prevailing_quotes
from udx.trade_sign import TickState, lee_ready
from udx.vpin_lr import vpin_lee_ready_step

__all__ = ["LiquidityConfig", "Quotes", "initial_arrays", "liquidity_columns"]


@dataclass(frozen=True, slots=True)
class LiquidityConfig:
    """``QUOTE_STALE_SECONDS`` in ns, ``ROLL_WINDOW``, ``KYLE_WINDOW`` and ``VPIN_WINDOW``."""

    stale_ns: int
    roll_window: int
    kyle_window: int
    vpin_window: int


@dataclass(frozen=True, slots=True)
class Quotes:
    """One symbol's quotes in time order."""

    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray

    @classmethod
    def empty(cls) -> Quotes:
        """No quotes."""
        f = np.empty(0)
        return cls(np.empty(0, np.int64), f, f, f, f)

    def before(self, end_ns: int) -> Quotes:
        """The quotes stamped before ``end_ns``."""
        k = int(np.searchsorted(self.ts, end_ns, side="left"))
        return Quotes(self.ts[:k], self.bid[:k], self.ask[:k], self.bid_size[:k], self.ask_size[:k])


def initial_arrays() -> dict[str, np.ndarray]:
    """The ``liq_*`` arrays of a symbol that has seen nothing yet."""
    return {"liq_qts": np.array([-1], np.int64), "liq_q": np.full(4, np.nan),
            "liq_tick": np.array([np.nan, 0.0]), "liq_roll": np.empty(0), "liq_kyle_r": np.empty(0),
            "liq_kyle_x": np.empty(0)}


def bar_starts(bar_end_ns: np.ndarray, session_open_ns: np.ndarray, bar_ns: int) -> np.ndarray:
    """The start of each bar of the session grid (:mod:`udx.bars`): the last grid point before its end."""
    return session_open_ns + (bar_end_ns - session_open_ns - 1) // bar_ns * bar_ns


def liquidity_columns(
    columns: dict[str, np.ndarray], bar_ns: int, ts: np.ndarray, px: np.ndarray, sz: np.ndarray,
    price_ok: np.ndarray, volume_ok: np.ndarray, quotes: Quotes, arrays: dict[str, np.ndarray],
    cfg: LiquidityConfig,
) -> dict[str, np.ndarray]:
    """The ``bar_liquidity`` measures of the emitted bars; updates the ``liq_*`` entries of ``arrays``.

    Parameters
    ----------
    columns
        :attr:`udx.pipeline.SymbolResult.columns` (``bar_end_ns``, ``session_open_ns``, ``log_return``,
        ``vwap``, ``volume``) of the bars just emitted, at least one.
    bar_ns
        The grid's bar length.
    ts, px, sz, price_ok, volume_ok
        The symbol's valid prints read for these bars (from the previous state's last bar end), in time order.
    quotes
        The symbol's quotes from the same start.
    arrays
        The state's arrays (:func:`initial_arrays` keys are added when missing); changed in place.
    cfg
        Stale limit and windows.

    Returns
    -------
    dict
        ``n_quotes`` and the measure columns of ``BAR_LIQUIDITY_SCHEMA``, one value per bar.
    """
    for key, value in initial_arrays().items():
        arrays.setdefault(key, value)
    ends = np.asarray(columns["bar_end_ns"], np.int64)
    starts = bar_starts(ends, np.asarray(columns["session_open_ns"], np.int64), bar_ns)
    cut = int(ends[-1])
    k = int(np.searchsorted(ts, cut, side="left"))
    ts, px, sz, price_ok, volume_ok = ts[:k], px[:k], sz[:k], price_ok[:k], volume_ok[:k]
    q = quotes.before(cut)
    carried = CarriedQuote(int(arrays["liq_qts"][0]), float(arrays["liq_q"][0]), float(arrays["liq_q"][1]))
    tick = TickState(float(arrays["liq_tick"][0]), int(arrays["liq_tick"][1]))
    prevailing = prevailing_quotes(ts, q.ts, q.bid, q.ask, cfg.stale_ns, carried)
    signed = lee_ready(px, prevailing.bid, prevailing.ask, prevailing.flags, tick)
    counted = np.where(volume_ok, sz, 0.0)  # the size each print counts with (0: not in volume)
    lb = liquidity_bars(starts, ends, ts, px, counted, signed.side, prevailing.bid,
                        prevailing.ask, prevailing.flags, q.ts, q.bid, q.ask, cfg.stale_ns, carried,
                        q.bid_size, q.ask_size, (float(arrays["liq_q"][2]), float(arrays["liq_q"][3])))
    r = np.asarray(columns["log_return"], np.float64)
    roll, arrays["liq_roll"] = roll_bars(arrays["liq_roll"], ts[price_ok], px[price_ok], ends, cfg.roll_window)
    kyle, arrays["liq_kyle_r"], arrays["liq_kyle_x"] = kyle_bars(arrays["liq_kyle_r"], arrays["liq_kyle_x"], r,
                                                                 lb.signed_dollar_volume, cfg.kyle_window)
    vpin_lr = vpin_lee_ready_step(arrays, starts, ends, ts, signed.side, counted,
                                  columns["vpin_bucket"], cfg.vpin_window)
    dollar_volume = np.nan_to_num(np.asarray(columns["vwap"], np.float64)) * np.asarray(columns["volume"])
    if q.ts.size:
        arrays["liq_qts"] = q.ts[-1:].copy()
        arrays["liq_q"] = np.array([q.bid[-1], q.ask[-1], q.bid_size[-1], q.ask_size[-1]], np.float64)
    arrays["liq_tick"] = np.array([signed.state.last_price, float(signed.state.last_tick)])
    n_quotes = np.searchsorted(q.ts, ends, side="left") - np.searchsorted(q.ts, starts, side="left")
    return {"n_quotes": n_quotes.astype(np.int64), "quoted_spread": lb.quoted_spread,
            "effective_spread": lb.effective_spread, "buy_volume": lb.buy_volume, "sell_volume": lb.sell_volume,
            "signed_volume": lb.signed_volume, "order_imbalance": lb.order_imbalance,
            "depth_imbalance": lb.depth_imbalance, "amihud": amihud(r, dollar_volume), "roll_spread": roll,
            "kyle_lambda": kyle, "vpin_lee_ready": vpin_lr}
