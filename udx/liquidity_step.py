"""One symbol's ``bar_liquidity`` rows in the transform: its quotes and trades of the bars just made final.

:func:`liquidity_columns` runs, for the bars :func:`udx.pipeline.process_symbol` has just emitted, the chain
:func:`udx.nbbo.prevailing_quotes` → :func:`udx.trade_sign.lee_ready` → :func:`udx.liquidity.liquidity_bars`,
then :mod:`udx.impact` (Amihud from the bars' return and dollar volume ``vwap · volume``, Roll over the
price-setting prints, Kyle over the bars' return and signed dollar volume) and :mod:`udx.vpin_lr` (VPIN with
the Lee-Ready sides, in the BVC VPIN's buckets: the pipeline's ``vpin_bucket`` per bar and ``VPIN_WINDOW``).

**Which prints.** Every valid print is signed (the quote rule, else the tick rule, whose state only the
price-setting prints move, :mod:`udx.trade_sign`); buy, sell and signed volume and the effective spread count
the prints that count in volume (their size is taken as 0 otherwise); Roll's price changes are those between
price-setting prints. A symbol without quotes gets ``n_quotes`` 0 and NaN quote measures, and volumes signed by
the tick rule.

**Incremental.** Only trades and quotes stamped before the end of the last emitted bar are used; the rest is
read again with the next bars. The carried state lives in :attr:`udx.state.SymbolState.arrays` under
``liq_*`` keys (:func:`initial_arrays`): the newest quote before the cut (time, bid, ask, sizes), the last price
and non-zero tick, the Roll window's last prices, the Kyle window's last pairs and the Lee-Ready VPIN's open
bucket and rings (``liq_vlr_*``: a state written before them starts its buckets empty at the upgrade). A state
written before liquidity was wired in has none of them and starts from :func:`initial_arrays` (its earlier bars
get no rows).
So calls cut at bar ends give exactly the rows of one call (``tests/udx/test_liquidity_transform.py``).

**Shared signing.** :func:`signed_liquidity_columns` also hands back the prints it signed with their prevailing
quotes and sides (:class:`Signing`); :mod:`udx.realized_step` takes its own prints' values from them
(:func:`shared_signing`) when they are provably the same: its prints are the first of those signed, its tick
state before them is the same, and every quote the two signings can read for them is the same record. So the
NBBO join and Lee-Ready run once per print where both steps start together (a symbol's first pass, e.g.
``transform --once`` on a new database), and the rows stay bit for bit those of two separate signings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from udx._read_only import read_only
from udx.impact import amihud, kyle_bars, roll_bars
from udx.liquidity import liquidity_bars
from udx.nbbo import CarriedQuote, Prevailing, prevailing_quotes
from udx.trade_sign import Signed, TickState, lee_ready
from udx.vpin_lr import vpin_lee_ready_step

__all__ = ["LiquidityConfig", "Quotes", "Signing", "initial_arrays", "liquidity_columns", "shared_signing",
           "signed_liquidity_columns"]


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
        """No quotes (read-only arrays, as read ones: :mod:`udx._read_only`)."""
        (f,) = read_only(np.empty(0))
        return cls(*read_only(np.empty(0, np.int64)), f, f, f, f)

    def before(self, end_ns: int) -> Quotes:
        """The quotes stamped before ``end_ns``."""
        k = int(np.searchsorted(self.ts, end_ns, side="left"))
        return Quotes(self.ts[:k], self.bid[:k], self.ask[:k], self.bid_size[:k], self.ask_size[:k])

    def followed_by(self, later: Quotes) -> Quotes:
        """These quotes, then ``later``'s (stamped after them), in new read-only arrays (:mod:`udx._read_only`)."""
        return Quotes(*read_only(*(np.concatenate([getattr(self, f.name), getattr(later, f.name)])
                                   for f in fields(Quotes))))


class Signing(NamedTuple):
    """The prints a :func:`signed_liquidity_columns` call signed (``ts``, ``px``), what the signing started from
    (the quotes it read, the carried quote and tick state) and each print's prevailing quote and side."""

    ts: np.ndarray
    px: np.ndarray
    quotes: Quotes
    carried: CarriedQuote
    tick: TickState
    prevailing: Prevailing
    signed: Signed
    sets_price: np.ndarray | None = None


def _same(x: float, y: float) -> bool:
    """Equal, or both NaN."""
    return x == y or (math.isnan(x) and math.isnan(y))


def _equal(x: np.ndarray, y: np.ndarray) -> bool:
    """The same values (NaN equal to NaN): at once when both are views of the same memory (the transform hands
    both steps slices of one read), else compared."""
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    if x.size == 0 or (x.strides == y.strides
                       and x.__array_interface__["data"][0] == y.__array_interface__["data"][0]):
        return True
    return bool(np.array_equal(x, y, equal_nan=x.dtype.kind == "f"))


def _newest_before(quotes: Quotes, t: int, carried: CarriedQuote) -> tuple[int, float, float]:
    """The quote a trade at ``t`` would read if no quote came between it and ``t`` (``carried`` when ``quotes``
    has none before ``t``; ``ts`` -1: none)."""
    k = int(np.searchsorted(quotes.ts, t, side="left"))
    if k:
        return int(quotes.ts[k - 1]), float(quotes.bid[k - 1]), float(quotes.ask[k - 1])
    return carried.ts_ns, carried.bid, carried.ask


def shared_signing(signing: Signing | None, ts: np.ndarray, px: np.ndarray, quotes: Quotes,
                   tick: TickState, sets_price: np.ndarray | None = None) -> tuple[Prevailing, Signed] | None:
    """``prevailing_quotes(ts, quotes...)`` (no carried quote) and ``lee_ready(px, ..., tick)`` of these prints,
    taken from ``signing`` when they are provably the same values; ``None`` when they may not be.

    They are when the prints are the first ``ts.size`` of those signed (same times, prices and ``sets_price``
    flags; ``None``: every print sets the price), the tick state before them is the same, the quote each
    signing would use for a trade with no quote since the first print is the same (time, bid, ask), and both
    quote lists hold the same quotes from the first print to the last (same order): then every print reads the
    same quote and has the same tick state in both. The arrays returned are views of ``signing``'s (their
    ``carried`` / ``state`` describe ``signing``'s last print).
    """
    n = ts.size
    if signing is None or n == 0 or n > signing.ts.size:
        return None
    if not (_same(tick.last_price, signing.tick.last_price) and tick.last_tick == signing.tick.last_tick):
        return None
    if not (_equal(ts, signing.ts[:n]) and _equal(px, signing.px[:n])):
        return None
    mine_set, their_set = sets_price, signing.sets_price
    if (mine_set is None) != (their_set is None) or (mine_set is not None and not _equal(mine_set, their_set[:n])):
        return None
    first, last = int(ts[0]), int(ts[-1])
    mine = _newest_before(quotes, first, CarriedQuote())
    theirs = _newest_before(signing.quotes, first, signing.carried)
    if mine[0] != theirs[0] or not (_same(mine[1], theirs[1]) and _same(mine[2], theirs[2])):
        return None
    a, b = np.searchsorted(quotes.ts, [first, last], side="left")
    c, d = np.searchsorted(signing.quotes.ts, [first, last], side="left")
    q, r = signing.quotes, quotes
    if not (_equal(r.ts[a:b], q.ts[c:d]) and _equal(r.bid[a:b], q.bid[c:d]) and _equal(r.ask[a:b], q.ask[c:d])):
        return None
    p, s = signing.prevailing, signing.signed
    return (Prevailing(p.bid[:n], p.ask[:n], p.age_ns[:n], p.flags[:n], p.carried),
            Signed(s.side[:n], s.flags[:n], s.state))


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
    """The ``bar_liquidity`` measures of the emitted bars (:func:`signed_liquidity_columns` without the
    signing)."""
    return signed_liquidity_columns(columns, bar_ns, ts, px, sz, price_ok, volume_ok, quotes, arrays, cfg)[0]


def signed_liquidity_columns(
    columns: dict[str, np.ndarray], bar_ns: int, ts: np.ndarray, px: np.ndarray, sz: np.ndarray,
    price_ok: np.ndarray, volume_ok: np.ndarray, quotes: Quotes, arrays: dict[str, np.ndarray],
    cfg: LiquidityConfig,
) -> tuple[dict[str, np.ndarray], Signing]:
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
    Signing
        The prints signed (those before the last bar's end) with their prevailing quotes and sides.
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
    signed = lee_ready(px, prevailing.bid, prevailing.ask, prevailing.flags, tick, price_ok)
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
    signing = Signing(ts, px, q, carried, tick, prevailing, signed, price_ok)
    return {"n_quotes": n_quotes.astype(np.int64), "quoted_spread": lb.quoted_spread,
            "effective_spread": lb.effective_spread, "buy_volume": lb.buy_volume, "sell_volume": lb.sell_volume,
            "signed_volume": lb.signed_volume, "order_imbalance": lb.order_imbalance,
            "depth_imbalance": lb.depth_imbalance, "amihud": amihud(r, dollar_volume), "roll_spread": roll,
            "kyle_lambda": kyle, "vpin_lee_ready": vpin_lr}, signing
