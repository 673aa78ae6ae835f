"""The ``bar_realized_spread`` rows of the transform: each bar once its horizon has passed, written once.

A bar's realized spread and price impact (:mod:`udx.realized`) need the midpoint ``H`` =
``LIQUIDITY_HORIZON_SECONDS`` after each of its trades, so the bar gets its row only when the transform's
watermark is at least ``H`` past its end (the quotes through ``bar_end + H`` are in). :func:`plan_realized`
runs once at the start of every transform pass and says, per symbol, which stored bars are due and where the
rows resume; :func:`udx.transform.run_transform` then computes each symbol's rows (:meth:`RealizedPlan.rows`):
a symbol whose rows have caught up with its bars (a first run) from the trades and quotes its chunk read for the
signals, in the chunk's transaction with the bars; any other (stored bars due: the steady state) from reads of
its own after the pass's signal commits, in transactions of their own, so the new signals are visible first
(a crash between leaves those bars due for the next pass). A row is inserted once and never changed
(a recompute of the symbol's signals deletes it with the bar, and a changed horizon deletes the rows of the old
one: both are written again).

**Which prints.** As :mod:`udx.liquidity_step`: every valid print is signed by Lee-Ready (quote rule, tick rule
at the midpoint and without a usable quote; only price-setting prints move the tick state) in time order; the
means weigh the prints that count in volume by their size (others weigh 0). Each row also stores the tick state
after its bar (``tick_price``, ``tick_sign``).

**Incremental.** A symbol resumes from its newest row: trades from that row's ``bar_end_ns`` on, its tick state,
and quotes from ``QUOTE_STALE_SECONDS`` before (an older quote is stale at every trade read, so no quote needs
carrying); the transform reads them after its signals' commits, the due bars' prints and quotes apart from the
quotes a horizon later (:func:`udx.transform._read_realized`). Runs cut at any watermark give the rows of one pass
(``tests/udx/test_realized_step.py``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.contract import BAR_REALIZED_SPREAD_SCHEMA
from sql.settings import Settings
from udx._read_only import read_only
from udx.liquidity_step import Quotes, Signing, bar_starts, shared_signing
from udx.nbbo import prevailing_quotes
from udx.realized import realized_bars, realized_trades
from udx.sessions import session_bounds
from udx.trade_sign import TickState, lee_ready

__all__ = ["RealizedPlan", "plan_realized", "tick_states_after"]

_NS = 1_000_000_000
log = logging.getLogger(__name__)


def tick_states_after(price: np.ndarray, before: TickState, counts: np.ndarray,
                      sets_price: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Lee-Ready tick state (:class:`udx.trade_sign.TickState`) after the first ``counts[j]`` prices: the last
    price-setting price and the last non-zero change among the price-setting prints.

    Parameters
    ----------
    price
        The prices signed, in time order.
    before
        The state before the first of them.
    counts
        How many prices each state has seen (non-decreasing, each at most ``price.size``).
    sets_price
        Per price, whether it may set the last sale (the others do not move the state); default: every one.

    Returns
    -------
    tuple of numpy.ndarray
        ``last_price`` (float64, NaN: none yet) and ``last_tick`` (int32) per count.

    Examples
    --------
    >>> p, s = tick_states_after(np.array([10.0, 10.0, 9.99, 9.99]), TickState(9.98, 1), np.array([0, 2, 4]))
    >>> p.tolist(), s.tolist()
    ([9.98, 10.0, 9.99], [1, 1, -1])
    """
    k = np.asarray(counts, np.int64)
    if sets_price is not None:  # the same over the price-setting prints alone, each count cut to those it saw
        flags = np.asarray(sets_price, np.bool_)
        price, k = price[flags], np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])[k]
    prev = np.concatenate([[before.last_price], price])
    with np.errstate(invalid="ignore"):
        tick = np.where(prev[1:] > prev[:-1], 1, np.where(prev[1:] < prev[:-1], -1, 0))  # NaN compares false
    changed = np.where(tick != 0, np.arange(price.size), -1)
    newest = np.maximum.accumulate(changed) if price.size else changed
    last_price = prev[k]
    at = newest[np.maximum(k - 1, 0)] if price.size else np.full(k.size, -1)
    last_tick = np.where((k > 0) & (at >= 0), tick[np.maximum(at, 0)] if price.size else 0, before.last_tick)
    return last_price, last_tick.astype(np.int32)


def _starts(ends: np.ndarray, session: str, bar_ns: int) -> np.ndarray:
    """The start of each bar of the session grid ending at ``ends`` (:func:`udx.liquidity_step.bar_starts`)."""
    opens, _ = session_bounds(session, int(ends[0]) - 1, int(ends[-1]))
    open_ns = opens[np.maximum(np.searchsorted(opens, ends, side="left") - 1, 0)]
    return bar_starts(ends, open_ns, bar_ns)


def _symbol_rows(symbol: str, ends: np.ndarray, trades: tuple[np.ndarray, ...], quotes: Quotes,
                 tick: TickState, session: str, settings: Settings, computed_at: int,
                 signing: Signing | None = None) -> pa.Table:
    """``BAR_REALIZED_SPREAD_SCHEMA`` rows of one symbol's due bars (``ends``) from its valid prints since its
    newest row and its quotes from the stale limit before them to the last bar's end plus the horizon; each
    print's prevailing quote and side come from ``signing`` when they are provably its values there
    (:func:`udx.liquidity_step.shared_signing`), else are computed here."""
    ts, px, sz, price_ok, volume_ok = trades
    k = int(np.searchsorted(ts, ends[-1], side="left"))
    ts, px, price_ok, weight = ts[:k], px[:k], price_ok[:k], np.where(volume_ok[:k], sz[:k], 0.0)
    stale_ns = round(settings.quote_stale_seconds * _NS)
    horizon = settings.liquidity_horizon_seconds
    shared = shared_signing(signing, ts, px, quotes, tick, price_ok)
    if shared is None:
        now = prevailing_quotes(ts, quotes.ts, quotes.bid, quotes.ask, stale_ns)
        side = lee_ready(px, now.bid, now.ask, now.flags, tick, price_ok).side
    else:
        now, side = shared[0], shared[1].side
    per_trade = realized_trades(ts, px, side, quotes.ts, quotes.bid, quotes.ask, horizon * _NS, stale_ns, now=now)
    bars = realized_bars(_starts(ends, session, settings.bar_seconds * _NS), ends, ts, weight, per_trade)
    last_price, last_tick = tick_states_after(px, tick, np.searchsorted(ts, ends, side="left"), price_ok)
    m = ends.size
    values = {"symbol": [symbol] * m, "bar_end_ns": ends, "bar_seconds": np.full(m, settings.bar_seconds),
              "horizon_seconds": np.full(m, horizon), "n_trades": bars.n_trades, "matched_volume": bars.volume,
              "realized_spread": bars.realized_spread, "price_impact": bars.price_impact, "tick_price": last_price,
              "tick_sign": last_tick, "computed_at_ns": np.full(m, computed_at)}
    return pa.Table.from_arrays([pa.array(values[f.name], f.type, from_pandas=True)
                                 for f in BAR_REALIZED_SPREAD_SCHEMA], schema=BAR_REALIZED_SPREAD_SCHEMA)


def _due_by_symbol(due: pa.Table) -> dict[str, np.ndarray]:
    """``symbol -> bar_end_ns`` of the due bars (the query orders them by symbol, then time)."""
    if due.num_rows == 0:
        return {}
    runs = pc.run_end_encode(due.column("symbol").combine_chunks())
    bounds = runs.run_ends.to_numpy().tolist()
    ends = np.ascontiguousarray(due.column("bar_end_ns").to_numpy(), dtype=np.int64)
    return {name: ends[a:b] for name, a, b in zip(runs.values.to_pylist(), [0, *bounds[:-1]], bounds, strict=True)}


@dataclass(frozen=True, slots=True)
class RealizedPlan:
    """Which bars get their ``bar_realized_spread`` row in this transform pass, and where each symbol resumes.

    Attributes
    ----------
    due
        ``symbol -> bar_end_ns`` of the stored bars that are due (after the symbol's newest row, ending at or
        before :attr:`until_ns`), in time order.
    resume
        ``symbol ->`` its newest row (``bar_end_ns``, ``tick_price``, ``tick_sign``).
    until_ns
        The watermark minus the horizon: bars ending at or before it are due.
    settings
        ``bar_seconds``, ``liquidity_horizon_seconds``, ``quote_stale_seconds`` and the sessions.
    computed_at
        ``computed_at_ns`` of the rows.
    """

    due: dict[str, np.ndarray]
    resume: dict[str, dict[str, Any]]
    until_ns: int
    settings: Settings
    computed_at: int

    def trades_from(self, symbol: str) -> int:
        """Where the symbol's prints for its next rows start: its newest row's bar end (0: no row yet)."""
        row = self.resume.get(symbol)
        return 0 if row is None else int(row["bar_end_ns"])

    def quotes_from(self, symbol: str) -> int:
        """Where its quotes start: ``QUOTE_STALE_SECONDS`` before its prints (an older quote is stale at each)."""
        return max(self.trades_from(symbol) - round(self.settings.quote_stale_seconds * _NS), 0)

    @property
    def horizon_ns(self) -> int:
        """``LIQUIDITY_HORIZON_SECONDS`` in ns."""
        return self.settings.liquidity_horizon_seconds * _NS

    def wants(self, symbol: str, next_bar_end_ns: int | None) -> bool:
        """Whether the symbol may get rows in this pass: stored bars are due, or its next bar (``None``: not
        known, no state yet) would be due once computed."""
        return symbol in self.due or next_bar_end_ns is None or next_bar_end_ns <= self.until_ns

    def rows(self, symbol: str, market: str, new_bar_ends: np.ndarray, trades: tuple[np.ndarray, ...],
             quotes: Quotes, signing: Signing | None = None) -> pa.Table | None:
        """The rows of the symbol's due bars: its stored ones and those of ``new_bar_ends`` (bars this pass just
        computed) ending at or before :attr:`until_ns`; ``None`` when none is due.

        ``trades`` are its valid prints (``ts, price, size, sets_price, counts_volume``) from
        :meth:`trades_from` on and ``quotes`` its quotes from :meth:`quotes_from` on, both in time order, at
        least through the last due bar's end (trades) and that end plus the horizon (quotes). ``signing``: the
        bar liquidity's signing of the symbol's prints in this pass, reused where it provably holds the same
        values (:func:`udx.liquidity_step.shared_signing`).
        """
        new = np.asarray(new_bar_ends, np.int64)
        new = new[:int(np.searchsorted(new, self.until_ns, side="right"))]
        stored = self.due.get(symbol)
        ends = new if stored is None else np.concatenate([stored, new]) if new.size else stored
        (ends,) = read_only(ends)  # stored, new or both: one writability for the kernels (udx._read_only)
        if ends.size == 0:
            return None
        row = self.resume.get(symbol)
        tick = TickState() if row is None else TickState(
            math.nan if row["tick_price"] is None else float(row["tick_price"]), int(row["tick_sign"]))
        return _symbol_rows(symbol, ends, trades, quotes, tick, self.settings.session_for(market), self.settings,
                            self.computed_at, signing)


def plan_realized(storage: object, settings: Settings, watermark_ns: int, computed_at: int) -> RealizedPlan | None:
    """The :class:`RealizedPlan` of a transform pass at ``watermark_ns``; ``None`` on a storage without
    ``realized_spread_due`` or ``read_quotes_many`` (it keeps no realized spreads).

    Rows of another horizon than ``LIQUIDITY_HORIZON_SECONDS`` are deleted first (``realized_spread_due``), so
    their bars are due again. Call it after any reset or rewind of the pass, before its first chunk is read.
    """
    due_of = getattr(storage, "realized_spread_due", None)
    if due_of is None or not hasattr(storage, "read_quotes_many"):
        return None
    until = watermark_ns - settings.liquidity_horizon_seconds * _NS
    due, resume = due_of(settings.bar_seconds, settings.liquidity_horizon_seconds, until)
    return RealizedPlan(_due_by_symbol(due), {r["symbol"]: r for r in resume.to_pylist()}, until, settings,
                        computed_at)
