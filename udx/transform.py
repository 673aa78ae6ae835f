"""The incremental, restartable transform: trades → every signal → ``trading_signals`` and ``model_params``.

One call of :func:`run_transform` does, for every symbol with trades:

1. **Watermark** ``W = newest_trade_ns - transform_lateness_seconds`` (newest trade over all symbols). A bar
   is *final* when ``bar_end_ns <= W``; only final bars are written, each exactly once.
2. Load the symbol's :class:`udx.state.SymbolState` (none on the first run; from memory where the stored row is
   still the one this process wrote, :mod:`udx.state_cache`). A symbol whose next bar on its
   session grid (:func:`udx.sessions.next_bar_end_ns`) ends after ``W`` can write nothing: it is left out
   without reading its trades. Otherwise read its trades from the end of the last written bar (or from the
   beginning) up to ``W`` and hand them to
   :func:`udx.pipeline.process_symbol`: bars on the session grid of the symbol's market, Lee-Mykland
   (threshold with ``n`` = bars per session), BNS, GARCH(1,1) sigma and standardized return, trade-intensity
   z, VPIN and its CDF, ACD conditional duration and surprise, and the BUY/SELL/HOLD rule
   (:mod:`udx.signal_rule`). GARCH and ACD refit at most once per session per symbol.
   Symbols are handled in chunks of ``symbols_per_commit``; a storage with ``read_trades_many`` reads a
   chunk's trades in one query instead of one per symbol (same rows, same order).
3. **Bar liquidity** (a storage with ``read_quotes_many``): the chunk's quotes are read with its trades, and
   each symbol's new bars get their ``bar_liquidity`` row (:mod:`udx.liquidity_step`: prevailing NBBO,
   Lee-Ready, spreads, imbalances, Amihud, Roll, Kyle), its carried quote, tick and windows in the state.
4. ``storage.commit_signals(rows, states, model_params, liquidity=...)``: the rows, the fits made on the way,
   the bar liquidity and the states that follow from them in one transaction per chunk of
   ``symbols_per_commit`` symbols, so a crash leaves every symbol either before or after its chunk, never in
   between.

5. **Realized spread** (:mod:`udx.realized_step`): every bar the watermark has passed by
   ``LIQUIDITY_HORIZON_SECONDS`` gets its ``bar_realized_spread`` row, once. A symbol whose rows have caught up
   with its bars (a first run over history) gets the rows of its new bars that are due from its signals' reads,
   in its chunk's transaction. Any other symbol with due bars (the steady state: the due bars lie a horizon
   behind the new ones) has them read and written **after the pass's signal commits**, in transactions of their
   own queued behind them (:func:`_write_realized`): the signals of the bar that just closed do not wait for
   the due bars' reads. A crash between the two leaves those bars without rows, and the next pass finds them
   due (``realized_spread_due`` is relative to the newest stored row, which carries the Lee-Ready tick state),
   so each row is still written once and equals a one-pass run's. Vertica's in-database transform
   (``VerticaStorage.run_transform_in_database``) collects both kinds of commits of the UDx's one-symbol run and
   writes them in its one transaction.

**Pipeline.** A chunk is read in groups of ``_READ_SYMBOLS`` symbols (the run's first group of
``_FIRST_READ_SYMBOLS``, as nothing computes before it is in): group ``g + 1`` is read on a reader
thread while group ``g``'s symbols are computed on two threads (so even a run of one chunk reads and computes at
once), and chunk ``k - 1`` is committed on a writer thread (:mod:`udx._commit_batch`: each symbol's tables and
encoded state are built as its result comes in, so the commit only writes) while chunk ``k`` is read and
computed; a chunk's groups go into its one transaction, and on DuckDB the groups computed so far are written
into it ahead of the chunk's last group once they fill a row group (``BackgroundCommits.write_ahead``), so
the commit after the last symbol writes only the rest. The trade half of the daily metrics is read on the idle
reader thread while the last commit runs (``prepare_daily_metrics``); after it only their bar half is left.
DuckDB and the numba kernels release the GIL, so both cores of a small box work at once. The numba kernels load
from their cache on another thread at the start (:func:`udx.warm.warm_kernels`) while the first group is read. Chunks (the transactions) are not made smaller
for more overlap: a commit of fewer symbols' rows goes through DuckDB's write-ahead log instead of straight to
the file, and the log then passes DuckDB's checkpoint threshold (16 MB) and checkpoints at a commit (four
commits of 25 symbols at 2M trades: ~4 s of commits on a loaded box against ~0.1 s for one; BENCHMARKS.md).

**Exactness.** When trades are appended in time order, running the transform after every micro-batch, with
restarts in between, gives exactly the rows of one run over everything (``computed_at_ns`` and
``fitted_at_ns`` aside): bars never straddle runs and the state carries every window and running quantity as
exact doubles (:mod:`udx.pipeline`). Trades that arrive for an already written bar (later than the lateness
allows) are ignored. Trades with a non-finite or non-positive price, or a negative or non-finite size, are
skipped.

**Progress.** ``progress(done, total)`` is called after each symbol (symbols done, symbols in this run); the
returned :class:`TransformSummary` counts symbols, bars, fits and trades read, and says when the next bar can
become final (``next_bar_end_ns``), so a loop can wait for the watermark to reach it instead of polling.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from sql.backend import Storage
from sql.settings import Settings
from udx._chunk_read import (NO_TRADES, Arrays, Head, arrays_of, read_chunk, read_quotes, read_with_heads,
                              valid_prints)
from udx._commit_batch import BackgroundCommits, Batch
from udx.lee_mykland import default_window, lm_threshold
from udx.liquidity_step import LiquidityConfig, Quotes, Signing, liquidity_columns, signed_liquidity_columns
from udx.pipeline import SignalConfig, SymbolResult, process_symbol
from udx.realized_step import RealizedPlan, plan_realized
from udx.sessions import next_bar_end_ns, parse_session
from udx.signal_rule import RuleConfig
from udx.state import StateError, SymbolState
from udx.state_cache import Stored, load_states
from udx.warm import warm_kernels

__all__ = ["TransformSummary", "liquidity_config", "reset_stale_states", "run_transform", "signal_config",
           "state_at"]

_NS = 1_000_000_000
_NAMED = 10  # symbols named in the recompute line
log = logging.getLogger(__name__)
_NO_BARS = np.empty(0, np.int64)
#: Threads computing a chunk's symbols: the kernels release the GIL, so both cores of a small box compute.
_COMPUTE_THREADS = 2
_NO_QUOTES = Quotes.empty()
#: Symbols per read: a chunk of ``symbols_per_commit`` symbols is read in groups of this many, the next group
#: on the reader thread while this one computes, and still committed in one transaction. Smaller reads cost
#: DuckDB no more in all (its zone maps skip the row groups of other symbols; a filter over a column of 8M
#: interleaved symbols costs ~20 ms) and order fewer quotes at a time.
_READ_SYMBOLS = 25
#: Symbols of the run's first read: nothing computes until it is in, so it is kept small (the reads after it
#: overlap the computing of the group before).
_FIRST_READ_SYMBOLS = 5
#: How far before a realized-spread read's first print (and that print plus the horizon) its quotes are read
#: first (:func:`_read_plan`): a symbol quoted less often than this is read from the stale limit instead.
_QUOTE_LOOKBACK_NS = _NS
#: Quotes of the signals' reads kept for the realized-spread reads after the signal commits (:func:`_read_realized`:
#: the quotes a horizon after the due bars mostly lie in them); beyond this many in a pass they are read again.
_KEPT_QUOTES = 4_000_000


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
    fits
        Rows written to ``model_params`` (GARCH and ACD fits).
    trades
        Trades read.
    next_bar_end_ns
        The earliest end of a bar not written yet among the symbols with a stored state: no such symbol can
        write a bar before the watermark reaches it. ``None`` when no symbol has a state yet (a symbol without
        one may write its first bar at any watermark).
    """

    symbols: int
    bars: int
    seconds: float
    watermark_ns: int | None
    fits: int = 0
    trades: int = 0
    next_bar_end_ns: int | None = None

    def __str__(self) -> str:
        rate = self.trades / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.symbols} symbols, {self.bars} bars, {self.fits} model fits, {self.trades} trades "
                f"in {self.seconds:.2f} s ({rate:,.0f} trades/s)")


def signal_config(settings: Settings, market: str) -> SignalConfig:
    """The :class:`udx.pipeline.SignalConfig` of ``market`` (``stocks`` or ``crypto``) from the settings."""
    spec = settings.session_for(market)
    n = math.ceil(parse_session(spec).nominal_seconds / settings.bar_seconds)
    window = settings.lm_window if settings.lm_window is not None else default_window(n)
    return SignalConfig(
        bar_seconds=settings.bar_seconds, session=spec, bars_per_session=n, lm_window=window,
        lm_threshold=lm_threshold(n, settings.lm_alpha),
        bns_window=settings.bns_window if settings.bns_window is not None else max(3, n),
        garch_window=settings.garch_window, garch_min_obs=settings.garch_min_obs,
        intensity_lookback=settings.intensity_lookback, vpin_buckets_per_day=settings.vpin_buckets_per_day,
        vpin_window=settings.vpin_window, vpin_cdf_window=settings.vpin_cdf_window,
        acd_window=settings.acd_window, acd_min_obs=settings.acd_min_obs,
        acd_bin_seconds=settings.acd_bin_seconds, seasonal_sessions=settings.seasonal_sessions,
        profile_bucket_minutes=settings.profile_bucket_minutes, profile_min_sessions=settings.profile_min_sessions,
        intensity_min_sessions=settings.intensity_min_sessions,
        rule=RuleConfig(settings.signal_vpin_cdf_hold, settings.signal_momentum_z, settings.signal_intensity_z,
                        settings.lm_alpha),
    )


def liquidity_config(settings: Settings) -> LiquidityConfig:
    """The stale limit and windows of the bar liquidity measures (:mod:`udx.liquidity_step`)."""
    return LiquidityConfig(round(settings.quote_stale_seconds * _NS), settings.roll_window, settings.kyle_window,
                           settings.vpin_window)


def run_transform(
    storage: Storage,
    settings: Settings,
    *,
    now_ns: int | None = None,
    symbols_per_commit: int = 100,
    progress: Callable[[int, int], None] | None = None,
    symbols: Sequence[tuple[str, str]] | None = None,
) -> TransformSummary:
    """Write every newly final bar of every symbol to ``trading_signals`` and advance ``signal_state``.

    Parameters
    ----------
    storage
        The database (:class:`sql.backend.Storage`); schema already applied.
    settings
        Uses ``bar_seconds``, the sessions, the signal parameters and ``transform_lateness_seconds``.
    now_ns
        Value of ``computed_at_ns`` / ``fitted_at_ns`` for the rows (default: the current time).
    symbols_per_commit
        Symbols per transaction (>= 1).
    progress
        Called as ``progress(symbols_done, symbols_total)`` after each symbol (e.g. to drive a progress bar).
    symbols
        ``(market, symbol)`` of every symbol with trades, when the caller keeps them (``storage.trade_symbols()``
        scans every trade: ~1 s on 50M trades); default: ask the storage.

    A symbol whose stored state was written by other signal definitions or settings (its fingerprint,
    :meth:`udx.pipeline.SignalConfig.fingerprint`) is recomputed from its first trade: one warning line names
    how many and why, and its rows are deleted first (``storage.reset_signals``). When retention archived its
    old days it is recomputed from where its live trades are complete instead (:mod:`udx.recompute`).
    """
    if symbols_per_commit < 1:
        raise ValueError(f"symbols_per_commit must be >= 1, got {symbols_per_commit}")
    with _old_objects_frozen(), _arrow_pool(pa.system_memory_pool()):
        return _run(storage, settings, now_ns, symbols_per_commit, progress, symbols)


@contextmanager
def _arrow_pool(pool: pa.MemoryPool) -> Iterator[None]:
    """Allocate the run's Arrow buffers from ``pool`` (``pa.set_memory_pool``), the default pool again after.

    pyarrow's default pool here is mimalloc, with which the transform's reads, joins and table building cost the
    process ~1 s more CPU of ~5 s on bench_signals' 2M-trade, 8M-quote file than with the C library's malloc or
    jemalloc (three alternating runs each; BENCHMARKS.md, transform end to end, helper wpath). A buffer is freed
    to the pool it came from, so arrays made before or after the run are unaffected; another thread's Arrow
    calls during the run use ``pool`` too.
    """
    before = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(before)


@contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """Leave the objects that exist before the run out of the garbage collector's passes while it runs
    (``gc.freeze``; ``gc.unfreeze`` after, so they are collected as before).

    Loading the cached kernels (:func:`udx.warm.warm_kernels`) allocates enough to start a full collection in a
    new process, which walks every object of the process (numba, scipy, pandas, pyarrow and DuckDB's modules)
    holding the GIL, so no other Python runs meanwhile: ~0.08 s of thread CPU at the start of each
    ``transform --once`` (BENCHMARKS.md, transform end to end, helper wpath). With the old objects frozen the
    passes during the run walk only what the run made; garbage among the old objects waits for the first
    full pass after the run (process exit, for ``--once``).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(storage: Storage, settings: Settings, now_ns: int | None, symbols_per_commit: int,
         progress: Callable[[int, int], None] | None, symbols: Sequence[tuple[str, str]] | None) -> TransformSummary:
    """:func:`run_transform` with its arguments checked."""
    started = time.perf_counter()
    warm_kernels()  # loads the cached kernels on a thread while the states and the first chunk are read
    computed_at = time.time_ns() if now_ns is None else int(now_ns)
    newest = storage.newest_trade_ns()
    if newest is None:
        return TransformSummary(0, 0, time.perf_counter() - started, None)
    watermark = int(newest) - round(settings.transform_lateness_seconds * _NS)
    states = load_states(storage, settings.bar_seconds)
    configs: dict[str, SignalConfig] = {}
    n_symbols = n_bars = n_fits = n_trades = 0
    symbols = sorted(storage.trade_symbols() if symbols is None else symbols, key=lambda ms: ms[1])
    markets = dict((symbol, market) for market, symbol in symbols)
    stale: dict[str, str] = {}
    plans: list[list[_Entry]] = []
    bar_ns = settings.bar_seconds * _NS
    liquidity = liquidity_config(settings) if hasattr(storage, "read_quotes_many") else None
    due: dict[str, int] = {}  # symbol with a state -> the end of its next bar
    for lo in range(0, len(symbols), symbols_per_commit):
        plan = []
        for market, symbol in symbols[lo:lo + symbols_per_commit]:
            if market not in configs:
                configs[market] = signal_config(settings, market)
            cfg = configs[market]
            state = _stored_state(states.get(symbol), cfg, symbol, stale)
            if state is not None:
                due[symbol] = next_bar_end_ns(cfg.session, bar_ns, state.last_bar_end_ns)
            plan.append(_Entry(symbol, cfg, state, state.last_bar_end_ns if state is not None else 0))
        plans.append(plan)
    if stale:
        _reset(storage, settings, stale)
        rewound = load_states(storage, settings.bar_seconds)
        for k, plan in enumerate(plans):
            plans[k] = [_replanned(entry, rewound, due, bar_ns) if entry.symbol in stale else entry
                        for entry in plan]
    realized = plan_realized(storage, settings, watermark, computed_at)
    done = 0
    oldest = np.iinfo(np.int64).max  # the end of the oldest bar written by this run
    # chunk k + 1 is read and chunk k - 1 written while chunk k is computed (DuckDB releases the GIL)
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transform-read")
    computer = ThreadPoolExecutor(max_workers=_COMPUTE_THREADS, thread_name_prefix="transform-compute")
    writer = BackgroundCommits(storage)
    try:
        def read(plan: list[_Entry]) -> _ChunkReads:
            return _read_plan(storage, plan, watermark, due, markets, liquidity is not None, realized)

        # each commit chunk is read in groups of _READ_SYMBOLS: the next group is read while this one computes
        groups = _read_groups(plans, _FIRST_READ_SYMBOLS, _READ_SYMBOLS)
        next_read = reader.submit(read, groups[0][1]) if groups else None
        batch = Batch(settings.bar_seconds, computed_at)
        deferred: dict[str, np.ndarray] = {}  # symbol whose realized rows wait for the signal commits -> new bars
        kept: dict[str, tuple[int, Quotes]] = {}  # deferred symbol -> its signals' quotes (from, quotes)
        budget = _KEPT_QUOTES
        for g, (k, plan) in enumerate(groups):
            chunk = next_read.result()  # type: ignore[union-attr]  # submitted for every group
            next_read = reader.submit(read, groups[g + 1][1]) if g + 1 < len(groups) else None
            work = partial(_compute_symbol, chunk=chunk, watermark=watermark, bar_ns=bar_ns, liquidity=liquidity,
                           realized=realized, markets=markets)
            deferred.update(dict.fromkeys(chunk.deferred, _NO_BARS))
            for e in plan:  # the signals' quotes of a deferred symbol, for its realized reads (budget allowing)
                held = chunk.quotes.get(e.symbol, _NO_QUOTES)
                if e.symbol in chunk.deferred and e.symbol in chunk.signals and held.ts.size <= budget:
                    kept[e.symbol] = (e.start, held)
                    budget -= held.ts.size
            for (symbol, cfg, state, _, _), out in zip(plan, computer.map(work, plan), strict=True):
                n_trades += out.trades
                if out.result is not None:
                    result = out.result
                    if result.columns["bar_end_ns"].size:
                        oldest = min(oldest, int(result.columns["bar_end_ns"][0]))
                    if symbol in deferred:  # its realized rows come after the signal commits
                        deferred[symbol] = result.columns["bar_end_ns"]
                    batch.add(symbol, result, cfg, out.liquidity)
                    due[symbol] = next_bar_end_ns(cfg.session, bar_ns, result.state.last_bar_end_ns)
                    n_symbols += 1
                    n_bars += result.state.n_returns - (state.n_returns if state is not None else 0)
                    n_fits += len(result.fits)
                if out.realized is not None:
                    batch.add_realized(out.realized)
                done += 1
                if progress is not None:
                    progress(done, len(symbols))
            if g + 1 == len(groups) or groups[g + 1][0] != k:  # the chunk's last group: one transaction
                writer.submit(batch)
                batch = Batch(settings.bar_seconds, computed_at)
            else:  # its rows go into the chunk's open transaction while the next group computes
                writer.write_ahead(batch)
        if realized is not None and deferred:  # queued behind the signal commits: the signals are visible first
            _write_realized(storage, realized, deferred, watermark, markets, reader, computer, writer,
                            symbols_per_commit, settings.bar_seconds, computed_at, kept)
        kept.clear()
        # the trade half of the daily metrics is read on the idle reader while the last commit runs
        day_trades = reader.submit(_prepare_daily_metrics, storage, settings.bar_seconds, watermark, oldest)
        writer.close()  # the last commit first: a failed one surfaces, and leaves the daily metrics unwritten
        prepared = day_trades.result()
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        computer.shutdown(wait=True, cancel_futures=True)
        writer.close()
    _write_daily_metrics(storage, settings.bar_seconds, watermark, oldest, prepared)
    return TransformSummary(n_symbols, n_bars, time.perf_counter() - started, watermark, n_fits, n_trades,
                            min(due.values()) if due else None)


def _read_groups(plans: list[list[_Entry]], first: int, size: int) -> list[tuple[int, list[_Entry]]]:
    """Each commit chunk's symbols in read groups ``(chunk, symbols)``: ``size`` symbols each, but the run's
    first group ``first`` (a group never spans two chunks)."""
    groups = []
    for k, plan in enumerate(plans):
        lo = 0
        while lo < len(plan):
            n = first if not groups else size
            groups.append((k, plan[lo:lo + n]))
            lo += n
    return groups


class _Computed(NamedTuple):
    """What one symbol of a chunk made: its new bars (``None``: none), their bar liquidity, its realized-spread
    rows (``None``: none due) and the trades its signals read."""

    result: SymbolResult | None = None
    liquidity: dict[str, np.ndarray] | None = None
    realized: pa.Table | None = None
    trades: int = 0


def _compute_symbol(entry: _Entry, *, chunk: _ChunkReads, watermark: int, bar_ns: int,
                    liquidity: LiquidityConfig | None, realized: RealizedPlan | None,
                    markets: dict[str, str]) -> _Computed:
    """One symbol's new bars, bar liquidity and realized-spread rows from its chunk's reads (on a compute
    thread: the symbols of a chunk are independent)."""
    symbol, cfg, state, start, _ = entry
    arrays = chunk.trades.get(symbol)
    if arrays is None:
        return _Computed()
    ts, px, sz, price_ok, volume_ok = valid_prints(*arrays)
    quotes = chunk.quotes.get(symbol, _NO_QUOTES)
    result = liq = rows = signing = None
    new_bars, n = _NO_BARS, 0
    if symbol in chunk.signals:
        a = int(np.searchsorted(ts, start, side="left"))
        n = ts.size - a
        result = process_symbol(ts[a:], px[a:], sz[a:], cfg, state, watermark, sets_price=price_ok[a:],
                                counts_volume=volume_ok[a:])
        if result is not None:
            new_bars = result.columns["bar_end_ns"]
            if liquidity is not None:
                liq, signing = signed_liquidity_columns(result.columns, bar_ns, ts[a:], px[a:], sz[a:], price_ok[a:],
                                                        volume_ok[a:], _since(quotes, start), result.state.arrays,
                                                        liquidity)
    if realized is not None and symbol in chunk.realized:
        rows = _realized_rows(realized, symbol, markets[symbol], new_bars, (ts, px, sz, price_ok, volume_ok), quotes,
                              signing)
    return _Computed(result, liq, rows, n)


def _realized_rows(realized: RealizedPlan, symbol: str, market: str, new_bars: np.ndarray,
                   prints: tuple[np.ndarray, ...], quotes: Quotes, signing: Signing | None = None) -> pa.Table | None:
    """A symbol's realized-spread rows from its valid ``prints`` and ``quotes`` as read (each cut to where its
    rows resume); ``None``: none due."""
    r = int(np.searchsorted(prints[0], realized.trades_from(symbol), side="left"))
    return realized.rows(symbol, market, new_bars, tuple(a[r:] for a in prints),
                         _since(quotes, realized.quotes_from(symbol)), signing)


def _write_realized(storage: Storage, realized: RealizedPlan, deferred: dict[str, np.ndarray], watermark: int,
                    markets: dict[str, str], reader: ThreadPoolExecutor, computer: ThreadPoolExecutor,
                    writer: BackgroundCommits, symbols_per_commit: int, bar_seconds: int, computed_at: int,
                    kept: dict[str, tuple[int, Quotes]] | None = None) -> None:
    """The realized-spread rows of the symbols ``deferred`` by :func:`_read_plan` (symbol -> the bars this pass
    computed for it), read, computed and queued on ``writer`` after the pass's signal commits, in transactions of
    their own of ``symbols_per_commit`` symbols; ``kept``: quotes the signals read (:func:`_read_realized`).

    A crash between a signal commit and these leaves their bars stored without rows: the next pass finds them
    due (``realized_spread_due`` is relative to the newest stored row, whose tick state it resumes from)."""
    names = sorted(deferred)
    groups = [names[lo:lo + _READ_SYMBOLS] for lo in range(0, len(names), _READ_SYMBOLS)]

    def read(group: list[str]) -> _ChunkReads:
        return _read_realized(storage, group, deferred, watermark, markets, realized, kept)

    next_read = reader.submit(read, groups[0]) if groups else None
    batch, in_batch = Batch(bar_seconds, computed_at), 0
    for g, group in enumerate(groups):
        chunk = next_read.result()  # type: ignore[union-attr]  # submitted for every group
        next_read = reader.submit(read, groups[g + 1]) if g + 1 < len(groups) else None
        work = partial(_realized_symbol, chunk=chunk, realized=realized, deferred=deferred, markets=markets)
        for rows in computer.map(work, group):
            if rows is not None:
                batch.add_realized(rows)
            in_batch += 1
            if in_batch == symbols_per_commit:
                writer.submit(batch)
                batch, in_batch = Batch(bar_seconds, computed_at), 0
    if in_batch:
        writer.submit(batch)


def _read_realized(storage: Storage, group: Sequence[str], deferred: dict[str, np.ndarray], watermark: int,
                   markets: dict[str, str], realized: RealizedPlan,
                   kept: dict[str, tuple[int, Quotes]] | None = None) -> _ChunkReads:
    """The prints and quotes the deferred realized rows of ``group`` need: prints from where each symbol's rows
    resume to its last due bar's end, quotes from the stale limit before them to that end plus the horizon; a
    symbol with a newest row has its due bars' prints and quotes read apart from the quotes a horizon later
    (:func:`udx._chunk_read.read_with_heads`), the rest of the horizon not read.

    ``kept``: symbol -> ``(from, quotes)``, every quote of the symbol from ``from`` to the watermark as its signals
    read them this pass; those quotes a horizon later are taken from them, only the ones before ``from`` read."""
    kept = kept or {}
    trade_starts: dict[str, int] = {}
    quote_starts: dict[str, int] = {}
    heads: dict[str, Head] = {}
    given: dict[str, Quotes] = {}
    gaps: dict[str, int] = {}
    for symbol in group:
        start, quotes_from = realized.trades_from(symbol), realized.quotes_from(symbol)
        new = deferred[symbol]
        new = new[:int(np.searchsorted(new, realized.until_ns, side="right"))]
        stored = realized.due.get(symbol)
        ends = [int(a[-1]) for a in (stored, new) if a is not None and a.size]
        if not ends:
            continue  # nothing due after all (its new bars end after the horizon)
        later = start + realized.horizon_ns
        split = max(later - _QUOTE_LOOKBACK_NS, quotes_from)
        if symbol in realized.resume and max(ends) < split:
            heads[symbol] = Head(start, max(ends), max(start - _QUOTE_LOOKBACK_NS, quotes_from), later, quotes_from)
            quote_starts[symbol] = split
            held = kept.get(symbol)
            if held is not None and held[0] <= split:  # all of them read by the signals
                given[symbol] = _since(held[1], split)
            elif held is not None:  # those before the signals' read, then theirs
                gaps[symbol] = split
        else:
            trade_starts[symbol] = start
            quote_starts[symbol] = quotes_from
    if gaps:
        before = read_quotes(storage, list(gaps.items()), max(kept[s][0] for s in gaps))
        for symbol in gaps:
            since, held = kept[symbol]
            given[symbol] = before.get(symbol, _NO_QUOTES).before(since).followed_by(held)
    trades, quotes = read_with_heads(storage, trade_starts, quote_starts, heads, watermark, markets, True, given)
    return _ChunkReads(trades, quotes, frozenset(), frozenset(quote_starts))


def _realized_symbol(symbol: str, *, chunk: _ChunkReads, realized: RealizedPlan, deferred: dict[str, np.ndarray],
                     markets: dict[str, str]) -> pa.Table | None:
    """One deferred symbol's realized-spread rows from its reads (:func:`_read_realized`); ``None``: none due."""
    if symbol not in chunk.realized:
        return None
    arrays = chunk.trades.get(symbol, NO_TRADES)
    return _realized_rows(realized, symbol, markets[symbol], deferred[symbol], valid_prints(*arrays),
                          chunk.quotes.get(symbol, _NO_QUOTES))


def _prepare_daily_metrics(storage: Storage, bar_seconds: int, watermark: int, oldest: int) -> object | None:
    """The trade half of the daily metrics :func:`_write_daily_metrics` will write, read beside the last commit
    on a storage that can (``prepare_daily_metrics``); ``None``: nothing read (the write then reads it)."""
    prepare = getattr(storage, "prepare_daily_metrics", None)
    if prepare is None or not hasattr(storage, "write_daily_metrics"):
        return None
    return prepare(bar_seconds, watermark, oldest if oldest < np.iinfo(np.int64).max else None)


def _write_daily_metrics(storage: Storage, bar_seconds: int, watermark: int, oldest: int,
                         prepared: object | None = None) -> None:
    """Write the daily metrics of the days this run made final, on a storage that keeps them
    (``write_daily_metrics``; the first run after an upgrade backfills every final day); ``prepared``: what
    :func:`_prepare_daily_metrics` read."""
    write = getattr(storage, "write_daily_metrics", None)
    if write is not None:
        oldest_bar = oldest if oldest < np.iinfo(np.int64).max else None
        written = write(bar_seconds, watermark, oldest_bar) if prepared is None else write(
            bar_seconds, watermark, oldest_bar, prepared=prepared)
        if written:
            log.info("daily metrics of %d final symbol day(s) written", written)


def reset_stale_states(storage: Storage, settings: Settings) -> list[str]:
    """Delete the signals of every symbol whose stored state other signal definitions or settings wrote.

    :func:`run_transform` does this on its own; a transform that runs elsewhere (Vertica's UDx sees only the
    trades after a state's last bar) calls it first. Returns the symbols reset.
    """
    states = load_states(storage, settings.bar_seconds)
    stale: dict[str, str] = {}
    configs: dict[str, SignalConfig] = {}
    for market, symbol in storage.trade_symbols():
        if market not in configs:
            configs[market] = signal_config(settings, market)
        _stored_state(states.get(symbol), configs[market], symbol, stale)
    if stale:
        _reset(storage, settings, stale)
    return sorted(stale)


def _reset(storage: Storage, settings: Settings, stale: dict[str, str]) -> None:
    """Say in one line which symbols are recomputed, the days their bars reached and why, and move them back
    (:func:`udx.recompute.prepare_recompute`: from their first trade, or after what the archive holds)."""
    from udx.recompute import prepare_recompute  # it builds on state_at of this module

    named = ", ".join(list(stale.values())[:_NAMED])
    log.warning("signal definitions or settings changed since the stored state of %d symbol(s); recomputing "
                "their signals: %s%s", len(stale), named,
                f", and {len(stale) - _NAMED} more" if len(stale) > _NAMED else "")
    prepare_recompute(storage, settings, sorted(stale), announce=False)


def _replanned(entry: _Entry, states: dict[str, Stored], due: dict[str, int], bar_ns: int) -> _Entry:
    """A stale symbol's plan after :func:`_reset`: from the state it was rewound to, or from its first trade;
    computing nothing (its realized spreads aside) when the archive left it as it was."""
    stored = states.get(entry.symbol)
    if stored is None:
        return entry._replace(state=None, start=0)
    if stored.state is None:
        raise stored.error  # type: ignore[misc]  # a state that cannot be read carries its error
    state = stored.state
    try:
        state.check_fits(entry.cfg.fingerprint())
    except StateError:
        return entry._replace(computes=False)
    due[entry.symbol] = next_bar_end_ns(entry.cfg.session, bar_ns, state.last_bar_end_ns)
    return entry._replace(state=state, start=state.last_bar_end_ns)


class _Entry(NamedTuple):
    """One symbol of a chunk: its signal definitions, the state it continues from (``None``: its first trade) and
    where its trades start; ``computes=False``: no new bars this pass."""

    symbol: str
    cfg: SignalConfig
    state: SymbolState | None
    start: int
    computes: bool = True


class _ChunkReads(NamedTuple):
    """A chunk's reads: trades and quotes per symbol read, which of them compute signals and which write
    realized spreads (their reads start early enough for both); ``deferred``: the symbols whose realized spreads
    are read and written after the pass's signal commits (:func:`_write_realized`)."""

    trades: dict[str, Arrays]
    quotes: dict[str, Quotes]
    signals: frozenset[str]
    realized: frozenset[str]
    deferred: frozenset[str] = frozenset()


def _read_plan(storage: Storage, plan: Sequence[_Entry], watermark: int, due: dict[str, int],
               markets: dict[str, str], with_quotes: bool, realized: RealizedPlan | None) -> _ChunkReads:
    """Read a chunk's trades up to the watermark (and quotes, ``with_quotes``) for its signals: a symbol that may
    write a bar from its start.

    A symbol that may write realized spreads gets them from these reads when its rows resume at or after its
    signals' start (no stored bar is due: a first run, or rows caught up with the bars; its quotes are then read
    from the stale limit before); any other (stored bars due, the steady state once the watermark runs
    ``LIQUIDITY_HORIZON_SECONDS`` ahead of them) is ``deferred``: its due bars' prints and quotes are read and
    its rows written after the pass's signal commits (:func:`_write_realized`), so the signals do not wait for
    them."""
    signals = {e.symbol: e.start for e in plan
               if e.computes and watermark > e.start and due.get(e.symbol, e.start) <= watermark}
    trade_starts, quote_starts = dict(signals), dict(signals)
    wants: set[str] = set()
    deferred: set[str] = set()
    if realized is not None:
        never = np.iinfo(np.int64).max  # a symbol computing nothing gets no new bar
        for e in plan:
            next_end = due.get(e.symbol) if e.symbol in signals else never
            if not realized.wants(e.symbol, next_end):
                continue
            start = realized.trades_from(e.symbol)
            if e.symbol not in signals or start < signals[e.symbol]:
                deferred.add(e.symbol)
                continue
            wants.add(e.symbol)
            quote_starts[e.symbol] = min(quote_starts[e.symbol], realized.quotes_from(e.symbol))
    trades, quotes = read_with_heads(storage, trade_starts, quote_starts, {}, watermark, markets, with_quotes)
    return _ChunkReads(trades, quotes, frozenset(signals), frozenset(wants), frozenset(deferred))


def _since(quotes: Quotes, start_ns: int) -> Quotes:
    """The quotes stamped at or after ``start_ns``."""
    k = int(np.searchsorted(quotes.ts, start_ns, side="left"))
    return quotes if k == 0 else Quotes(quotes.ts[k:], quotes.bid[k:], quotes.ask[k:], quotes.bid_size[k:],
                                        quotes.ask_size[k:])


def _day(ns: int) -> str:
    """The UTC day of a time in ns, for log lines."""
    return dt.datetime.fromtimestamp(ns // _NS, dt.UTC).date().isoformat()


def _stored_state(stored: Stored | None, cfg: SignalConfig, symbol: str,
                  stale: dict[str, str]) -> SymbolState | None:
    """The state to continue from, or ``None`` (recorded in ``stale`` with the reason) when it cannot be read or
    was written by other signal definitions or settings and the symbol must be recomputed."""
    if stored is None:
        return None
    try:
        if stored.state is None:
            raise stored.error  # type: ignore[misc]  # a state that cannot be read carries its error
        stored.state.check_fits(cfg.fingerprint())
    except StateError as exc:
        stale[symbol] = f"{symbol} (bars to {_day(stored.last_bar_end_ns)}; {str(exc).split(';')[0]})"
        return None
    return stored.state


def state_at(storage: Storage, symbol: str, market: str, cfg: SignalConfig, end_ns: int,
             liquidity: LiquidityConfig | None = None) -> SymbolState | None:
    """The state a run from ``symbol``'s first trade reaches with the bars ending at or before ``end_ns``
    final (nothing is written); ``None`` when it has no such bar. ``transform --recompute --since`` rewinds
    to it (:mod:`udx.recompute`); with ``liquidity`` (and a storage with quotes) the state carries the bar
    liquidity's quote, tick and windows too. The trades are read live and archived
    (``read_trades_with_archive``) where the storage keeps an archive, so the state is the one-pass state even
    after retention moved old days (archived quotes are not read back: the liquidity state then starts from
    the live quotes)."""
    reader = getattr(storage, "read_trades_with_archive", None)
    if reader is None:
        arrays = read_chunk(storage, [(symbol, 0)], end_ns, {symbol: market})[symbol]
    else:
        arrays = arrays_of(reader(symbol, 0, end_ns), market)
    ts, px, sz, price_ok, volume_ok = valid_prints(*arrays)
    result = process_symbol(ts, px, sz, cfg, None, end_ns, sets_price=price_ok, counts_volume=volume_ok)
    if result is not None and liquidity is not None and hasattr(storage, "read_quotes_many"):
        quotes = read_quotes(storage, [(symbol, 0)], end_ns).get(symbol, Quotes.empty())
        liquidity_columns(result.columns, cfg.bar_seconds * _NS, ts, px, sz, price_ok, volume_ok, quotes,
                          result.state.arrays, liquidity)
    return None if result is None else result.state
