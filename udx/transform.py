"""The incremental, restartable transform: trades → bars → Lee-Mykland → ``trading_signals``.

One call of :func:`run_transform` does, for every symbol with trades:

1. **Watermark** ``W = newest_trade_ns - transform_lateness_seconds`` (newest trade over all symbols). A bar
   is *final* when ``bar_end_ns <= W``; only final bars are written, each exactly once.
2. Load the symbol's :class:`udx.state.SymbolState` (none on the first run), read its trades from the end of
   the last written bar (or from the beginning) up to ``W``, and build the final bars on the session grid of
   the symbol's market (:mod:`udx.bars`, :mod:`udx.sessions`), resuming the grid from the state.
3. Lee-Mykland statistic with the carried tail of returns (windows span earlier sessions, never an
   overnight return), threshold with ``n`` = bars per session (nominal session length / ``bar_seconds``,
   rounded up), jump flag, and the preliminary rule of :mod:`udx.signal_rule`.
4. Columns later stages will compute (``garch_sigma``, ``standardized_return``, ``bns_stat``,
   ``trade_intensity_zscore``, ``conditional_duration``, ``acd_surprise``, ``vpin``, ``vpin_cdf``) are null.
5. ``storage.commit_signals(rows, states)``: the rows and the states that follow from them in one
   transaction per chunk of ``symbols_per_commit`` symbols, so a crash leaves every symbol either before or
   after its chunk, never in between.

**Exactness.** When trades are appended in time order, running the transform after every micro-batch gives
exactly the rows of one run over everything (``computed_at_ns`` aside): bars never straddle runs, the state
holds the last close and the LM tail as exact doubles, and the LM sums are recomputed in the same order.
Trades that arrive for an already written bar (later than the lateness allows) are ignored.

Trades with a non-finite or non-positive price, or a negative or non-finite size, are skipped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sql.backend import SignalStateRow, Storage
from sql.contract import SIGNALS_SCHEMA
from sql.settings import Settings
from udx.bars import Bars, bars
from udx.lee_mykland import default_window, jump_flags, lee_mykland_stat, lm_threshold
from udx.sessions import Session, parse_session, session_bounds
from udx.signal_rule import decide_all
from udx.state import SymbolState

__all__ = ["TransformSummary", "run_transform"]

_NS = 1_000_000_000
_NULL_COLUMNS = frozenset(
    {"garch_sigma", "standardized_return", "bns_stat", "trade_intensity_zscore", "conditional_duration",
     "acd_surprise", "vpin", "vpin_cdf"}
)


@dataclass(frozen=True, slots=True)
class TransformSummary:
    """What one :func:`run_transform` call did.

    Attributes
    ----------
    symbols
        Symbols that got at least one new bar.
    bars
        Rows written to ``trading_signals``.
    seconds
        Wall-clock duration of the run.
    watermark_ns
        Bars ending at or before this time are final; ``None`` when there are no trades.
    """

    symbols: int
    bars: int
    seconds: float
    watermark_ns: int | None


@dataclass(frozen=True, slots=True)
class _Grid:
    """Per-market parameters derived from the settings."""

    spec: str
    session: Session
    bar_ns: int
    bars_per_session: int
    window: int
    threshold: float


def _grid(settings: Settings, market: str) -> _Grid:
    spec = settings.session_for(market)
    session = parse_session(spec)
    n = math.ceil(session.nominal_seconds / settings.bar_seconds)
    window = settings.lm_window if settings.lm_window is not None else default_window(n)
    return _Grid(spec, session, settings.bar_seconds * _NS, n, window, lm_threshold(n, settings.lm_alpha))


def run_transform(
    storage: Storage, settings: Settings, *, now_ns: int | None = None, symbols_per_commit: int = 100
) -> TransformSummary:
    """Write every newly final bar of every symbol to ``trading_signals`` and advance ``signal_state``.

    Parameters
    ----------
    storage
        The database (:class:`sql.backend.Storage`); schema already applied.
    settings
        Uses ``bar_seconds``, ``session_stocks``/``session_crypto``, ``lm_alpha``, ``lm_window`` and
        ``transform_lateness_seconds``.
    now_ns
        Value of ``computed_at_ns`` for the rows (default: the current time).
    symbols_per_commit
        Symbols per transaction (>= 1).

    Raises
    ------
    udx.state.StateError
        When a stored state was computed with another window or session (see :mod:`udx.state`).
    """
    if symbols_per_commit < 1:
        raise ValueError(f"symbols_per_commit must be >= 1, got {symbols_per_commit}")
    started = time.perf_counter()
    computed_at = time.time_ns() if now_ns is None else int(now_ns)
    newest = storage.newest_trade_ns()
    if newest is None:
        return TransformSummary(0, 0, time.perf_counter() - started, None)
    watermark = int(newest) - round(settings.transform_lateness_seconds * _NS)
    states = storage.load_signal_states(settings.bar_seconds)
    grids: dict[str, _Grid] = {}
    n_symbols = n_bars = 0
    tables: list[pa.Table] = []
    new_states: list[SignalStateRow] = []
    pending = 0
    for market, symbol in sorted(storage.trade_symbols(), key=lambda ms: ms[1]):
        if market not in grids:
            grids[market] = _grid(settings, market)
        grid = grids[market]
        row = states.get(symbol)
        state = SymbolState.from_json(row.state) if row is not None else None
        if state is not None:
            state.check_fits(bar_seconds=settings.bar_seconds, window=grid.window, session=grid.spec)
        result = _symbol_signals(storage, settings, grid, symbol, state, watermark, computed_at)
        pending += 1
        if result is not None:
            table, new_state = result
            tables.append(table)
            new_states.append(SignalStateRow(symbol, settings.bar_seconds, new_state.last_bar_end_ns,
                                             new_state.to_json()))
            n_symbols += 1
            n_bars += table.num_rows
        if pending >= symbols_per_commit:
            _commit(storage, tables, new_states)
            tables, new_states, pending = [], [], 0
    _commit(storage, tables, new_states)
    return TransformSummary(n_symbols, n_bars, time.perf_counter() - started, watermark)


def _commit(storage: Storage, tables: list[pa.Table], states: Sequence[SignalStateRow]) -> None:
    if states:
        storage.commit_signals(pa.concat_tables(tables), list(states))


def _symbol_signals(
    storage: Storage,
    settings: Settings,
    grid: _Grid,
    symbol: str,
    state: SymbolState | None,
    watermark: int,
    computed_at: int,
) -> tuple[pa.Table, SymbolState] | None:
    """Compute the newly final bars of one symbol; ``None`` when there are none."""
    start = state.last_bar_end_ns if state is not None else 0
    if watermark <= start:
        return None
    trades = storage.read_trades(symbol, start, watermark)
    ts = np.ascontiguousarray(trades.column("ts_ns").to_numpy(), dtype=np.int64)
    px = np.ascontiguousarray(trades.column("price").to_numpy(), dtype=np.float64)
    sz = np.ascontiguousarray(trades.column("size").to_numpy(), dtype=np.float64)
    ok = np.isfinite(px) & (px > 0) & np.isfinite(sz) & (sz >= 0)
    if not ok.all():
        ts, px, sz = ts[ok], px[ok], sz[ok]
    if state is None and ts.size == 0:
        return None
    lo = state.last_bar_end_ns if state is not None else int(ts[0])
    s_open, s_close = session_bounds(grid.session, lo, watermark)
    b = bars(ts, px, sz, s_open, s_close, grid.bar_ns, final_before_ns=watermark,
             resume_end_ns=None if state is None else state.last_bar_end_ns,
             resume_close=None if state is None else state.last_close)
    m = b.bar_end_ns.size
    if m == 0:
        return None
    tail = state.returns_tail if state is not None else ()
    n_before = state.n_returns if state is not None else 0
    stat = lee_mykland_stat(b.log_return, grid.window, tail=tail, n_before=n_before)
    threshold = np.full(m, grid.threshold)
    flags = jump_flags(stat, threshold)
    signals, reasons = decide_all(stat.tolist(), threshold.tolist(), alpha=settings.lm_alpha,
                                  first_index=n_before, window=grid.window)
    table = _table(symbol, settings.bar_seconds, b, stat, threshold, flags, signals, reasons, computed_at)
    keep = grid.window - 1
    new_tail = (tuple(tail) + tuple(b.log_return.tolist()))[-keep:]
    new_state = SymbolState(
        bar_seconds=settings.bar_seconds,
        window=grid.window,
        session=grid.spec,
        last_bar_end_ns=int(b.bar_end_ns[-1]),
        last_close=float(b.close[-1]),
        last_session_open_ns=int(b.session_open_ns[-1]),
        returns_tail=new_tail,
        n_returns=n_before + m,
    )
    return table, new_state


def _table(
    symbol: str,
    bar_seconds: int,
    b: Bars,
    stat: np.ndarray,
    threshold: np.ndarray,
    flags: np.ndarray,
    signals: list[str],
    reasons: list[str],
    computed_at: int,
) -> pa.Table:
    """Assemble ``SIGNALS_SCHEMA`` columns; NaN statistics become SQL NULL."""
    m = b.bar_end_ns.size
    values = {
        "symbol": pa.array([symbol] * m, pa.string()),
        "bar_end_ns": pa.array(b.bar_end_ns, pa.int64()),
        "bar_seconds": pa.array(np.full(m, bar_seconds, np.int32), pa.int32()),
        "n_trades": pa.array(b.n_trades, pa.int64()),
        "volume": pa.array(b.volume, pa.float64()),
        "vwap": pa.array(b.vwap, pa.float64(), from_pandas=True),
        "close": pa.array(b.close, pa.float64()),
        "log_return": pa.array(b.log_return, pa.float64(), from_pandas=True),
        "lee_mykland_stat": pa.array(stat, pa.float64(), from_pandas=True),
        "jump_threshold": pa.array(threshold, pa.float64(), from_pandas=True),
        "jump_detected": pa.array(flags, pa.bool_()),
        "trading_signal": pa.array(signals, pa.string()),
        "signal_reason": pa.array(reasons, pa.string()),
        "computed_at_ns": pa.array(np.full(m, computed_at, np.int64), pa.int64()),
    }
    columns = [
        pa.nulls(m, field.type) if field.name in _NULL_COLUMNS else values[field.name]
        for field in SIGNALS_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=SIGNALS_SCHEMA)
