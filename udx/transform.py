"""The incremental, restartable transform: trades → every signal → ``trading_signals`` and ``model_params``.

One call of :func:`run_transform` does, for every symbol with trades:

1. **Watermark** ``W = newest_trade_ns - transform_lateness_seconds`` (newest trade over all symbols). A bar
   is *final* when ``bar_end_ns <= W``; only final bars are written, each exactly once.
2. Load the symbol's :class:`udx.state.SymbolState` (none on the first run). A symbol whose next bar on its
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
   ``LIQUIDITY_HORIZON_SECONDS`` gets its ``bar_realized_spread`` row, once.

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
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.backend import SignalStateRow, Storage
from sql.conditions import print_eligibility, unknown_codes
from sql.contract import BAR_LIQUIDITY_SCHEMA, INTRADAY_PROFILE_SCHEMA, MODEL_PARAMS_SCHEMA, SIGNALS_SCHEMA
from sql.settings import Settings
from udx.lee_mykland import default_window, lm_threshold
from udx.liquidity_step import LiquidityConfig, Quotes, liquidity_columns
from udx.pipeline import FitRecord, ProfileRecord, SignalConfig, SymbolResult, process_symbol
from udx.realized_step import write_realized_spreads
from udx.sessions import next_bar_end_ns, parse_session
from udx.signal_rule import RuleConfig
from udx.state import StateError, SymbolState

__all__ = ["TransformSummary", "liquidity_config", "reset_stale_states", "run_transform", "signal_config",
           "state_at"]

_NS = 1_000_000_000
_NAMED = 10  # symbols named in the recompute line
log = logging.getLogger(__name__)
_WARNED_CODES: set[int] = set()


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
    started = time.perf_counter()
    computed_at = time.time_ns() if now_ns is None else int(now_ns)
    newest = storage.newest_trade_ns()
    if newest is None:
        return TransformSummary(0, 0, time.perf_counter() - started, None)
    watermark = int(newest) - round(settings.transform_lateness_seconds * _NS)
    states = storage.load_signal_states(settings.bar_seconds)
    configs: dict[str, SignalConfig] = {}
    n_symbols = n_bars = n_fits = n_trades = 0
    symbols = sorted(storage.trade_symbols() if symbols is None else symbols, key=lambda ms: ms[1])
    markets = dict((symbol, market) for market, symbol in symbols)
    stale: dict[str, str] = {}
    plans: list[list[tuple[str, SignalConfig, SymbolState | None, int]]] = []
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
            plan.append((symbol, cfg, state, state.last_bar_end_ns if state is not None else 0))
        plans.append(plan)
    if stale:
        _reset(storage, settings, stale)
        rewound = storage.load_signal_states(settings.bar_seconds)
        for k, plan in enumerate(plans):
            plans[k] = [e for e in (_replanned(entry, rewound, due, bar_ns) if entry[0] in stale else entry
                                    for entry in plan) if e is not None]
    done = 0
    oldest = np.iinfo(np.int64).max  # the end of the oldest bar written by this run
    # chunk k + 1 is read and chunk k - 1 written while chunk k is computed (DuckDB releases the GIL)
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transform-read")
    writer = _BackgroundCommits(storage)
    try:
        def read(plan: list[tuple[str, SignalConfig, SymbolState | None, int]]
                 ) -> tuple[dict[str, _Arrays], dict[str, Quotes]]:
            wanted = [(symbol, start) for symbol, _, _, start in plan
                      if watermark > start and due.get(symbol, start) <= watermark]  # fmt: skip
            quotes = _read_quotes(storage, wanted, watermark) if liquidity is not None else {}
            return _read_chunk(storage, wanted, watermark, markets), quotes

        next_read = reader.submit(read, plans[0]) if plans else None
        for k, plan in enumerate(plans):
            trades, quotes = next_read.result()  # type: ignore[union-attr]  # submitted for every plan
            next_read = reader.submit(read, plans[k + 1]) if k + 1 < len(plans) else None
            batch = _Batch()
            for symbol, cfg, state, _ in plan:
                if symbol in trades:
                    ts, px, sz, price_ok, volume_ok = _valid(*trades.pop(symbol))
                    n_trades += ts.size
                    result = process_symbol(ts, px, sz, cfg, state, watermark, sets_price=price_ok,
                                            counts_volume=volume_ok)
                    if result is not None:
                        if result.columns["bar_end_ns"].size:
                            oldest = min(oldest, int(result.columns["bar_end_ns"][0]))
                        liq = None if liquidity is None else liquidity_columns(
                            result.columns, bar_ns, ts, px, sz, price_ok, volume_ok,
                            quotes.get(symbol, Quotes.empty()), result.state.arrays, liquidity)
                        batch.add(symbol, settings.bar_seconds, result, computed_at, _fingerprint_json(cfg), liq)
                        due[symbol] = next_bar_end_ns(cfg.session, bar_ns, result.state.last_bar_end_ns)
                        n_symbols += 1
                        n_bars += result.state.n_returns - (state.n_returns if state is not None else 0)
                        n_fits += len(result.fits)
                done += 1
                if progress is not None:
                    progress(done, len(symbols))
            writer.submit(batch)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        writer.close()
    _write_daily_metrics(storage, settings.bar_seconds, watermark, oldest)
    write_realized_spreads(storage, settings, watermark, markets, computed_at, symbols_per_commit)
    return TransformSummary(n_symbols, n_bars, time.perf_counter() - started, watermark, n_fits, n_trades,
                            min(due.values()) if due else None)


def _write_daily_metrics(storage: Storage, bar_seconds: int, watermark: int, oldest: int) -> None:
    """Write the daily metrics of the days this run made final, on a storage that keeps them
    (``write_daily_metrics``; the first run after an upgrade backfills every final day)."""
    write = getattr(storage, "write_daily_metrics", None)
    if write is not None:
        written = write(bar_seconds, watermark, oldest if oldest < np.iinfo(np.int64).max else None)
        if written:
            log.info("daily metrics of %d final symbol day(s) written", written)


def reset_stale_states(storage: Storage, settings: Settings) -> list[str]:
    """Delete the signals of every symbol whose stored state other signal definitions or settings wrote.

    :func:`run_transform` does this on its own; a transform that runs elsewhere (Vertica's UDx sees only the
    trades after a state's last bar) calls it first. Returns the symbols reset.
    """
    states = storage.load_signal_states(settings.bar_seconds)
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


def _replanned(entry: tuple[str, SignalConfig, SymbolState | None, int], states: dict[str, SignalStateRow],
               due: dict[str, int], bar_ns: int) -> tuple[str, SignalConfig, SymbolState | None, int] | None:
    """A stale symbol's plan after :func:`_reset`: from the state it was rewound to, or from its first trade;
    ``None`` (left out of this run) when the archive left it as it was."""
    symbol, cfg, _, _ = entry
    row = states.get(symbol)
    if row is None:
        return symbol, cfg, None, 0
    state = SymbolState.from_json(row.state)
    try:
        state.check_fits(cfg.fingerprint())
    except StateError:
        return None
    due[symbol] = next_bar_end_ns(cfg.session, bar_ns, state.last_bar_end_ns)
    return symbol, cfg, state, state.last_bar_end_ns


def _day(ns: int) -> str:
    """The UTC day of a time in ns, for log lines."""
    return dt.datetime.fromtimestamp(ns // _NS, dt.UTC).date().isoformat()


def _stored_state(row: SignalStateRow | None, cfg: SignalConfig, symbol: str,
                  stale: dict[str, str]) -> SymbolState | None:
    """The state to continue from, or ``None`` (recorded in ``stale`` with the reason) when it was written by
    other signal definitions or settings and the symbol must be recomputed."""
    if row is None:
        return None
    try:
        state = SymbolState.from_json(row.state)
        state.check_fits(cfg.fingerprint())
    except StateError as exc:
        stale[symbol] = f"{symbol} (bars to {_day(row.last_bar_end_ns)}; {str(exc).split(';')[0]})"
        return None
    return state


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
        arrays = _read_chunk(storage, [(symbol, 0)], end_ns, {symbol: market})[symbol]
    else:
        arrays = _arrays(reader(symbol, 0, end_ns), market)
    ts, px, sz, price_ok, volume_ok = _valid(*arrays)
    result = process_symbol(ts, px, sz, cfg, None, end_ns, sets_price=price_ok, counts_volume=volume_ok)
    if result is not None and liquidity is not None and hasattr(storage, "read_quotes_many"):
        quotes = _read_quotes(storage, [(symbol, 0)], end_ns).get(symbol, Quotes.empty())
        liquidity_columns(result.columns, cfg.bar_seconds * _NS, ts, px, sz, price_ok, volume_ok, quotes,
                          result.state.arrays, liquidity)
    return None if result is None else result.state


#: ``ts, price, size, sets_price, counts_volume`` of one symbol.
_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _read_chunk(storage: Storage, wanted: Sequence[tuple[str, int]], end_ns: int,
                markets: dict[str, str]) -> dict[str, _Arrays]:
    """The trades of each ``(symbol, start_ns)`` in ``[start_ns, end_ns)``, time-ordered, with their eligibility.

    A storage with ``read_trades_many`` answers the chunk in one scan from the earliest start; each symbol
    then drops its trades before its own start (the rows are those of ``read_trades``, in its order).
    Eligibility is Polygon's consolidated rule of the print's conditions and correction
    (:func:`sql.conditions.print_eligibility`); crypto prints are all eligible.
    """
    many = getattr(storage, "read_trades_many", None)
    if many is None or len(wanted) < 2:
        return {symbol: _arrays(storage.read_trades(symbol, start, end_ns), markets.get(symbol, "stocks"))
                for symbol, start in wanted}
    table = many([symbol for symbol, _ in wanted], min(start for _, start in wanted), end_ns)
    ts, px, sz, price_ok, volume_ok = _arrays(table, "stocks")
    runs = pc.run_end_encode(table.column("symbol").combine_chunks() if table.num_rows else
                             pa.array([], pa.string()))
    names = runs.values.to_pylist()
    ends = runs.run_ends.to_numpy().tolist()
    starts = [0, *ends[:-1]] if ends else []  # no trades in the range: no runs (was a zip error)
    bounds = dict(zip(names, zip(starts, ends, strict=True), strict=True))
    out: dict[str, _Arrays] = {}
    empty = (np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.bool_), np.empty(0, np.bool_))
    for symbol, start in wanted:
        if symbol not in bounds:
            out[symbol] = empty
            continue
        a, b = bounds[symbol]
        a += int(np.searchsorted(ts[a:b], start, side="left"))
        if markets.get(symbol) == "crypto":
            out[symbol] = (ts[a:b], px[a:b], sz[a:b], np.ones(b - a, np.bool_), np.ones(b - a, np.bool_))
        else:
            out[symbol] = (ts[a:b], px[a:b], sz[a:b], price_ok[a:b], volume_ok[a:b])
    return out


def _arrays(trades: pa.Table, market: str) -> _Arrays:
    ts = np.ascontiguousarray(trades.column("ts_ns").to_numpy(), dtype=np.int64)
    px = np.ascontiguousarray(trades.column("price").to_numpy(), dtype=np.float64)
    sz = np.ascontiguousarray(trades.column("size").to_numpy(), dtype=np.float64)
    names = trades.column_names
    conditions = trades.column("conditions") if "conditions" in names else None
    correction = trades.column("correction") if "correction" in names else None
    if conditions is None or market == "crypto":
        ok = np.ones(ts.size, np.bool_)
        return ts, px, sz, ok, ok
    for code in unknown_codes(conditions) - _WARNED_CODES:
        _WARNED_CODES.add(code)
        log.warning("trade condition %d is not in Polygon's condition table shipped here; such prints are "
                    "treated as regular sales", code)
    price_ok, volume_ok = print_eligibility(conditions, correction, market)
    return ts, px, sz, price_ok, volume_ok


def _valid(ts: np.ndarray, px: np.ndarray, sz: np.ndarray, price_ok: np.ndarray,
           volume_ok: np.ndarray) -> _Arrays:
    """Drop trades with a non-finite or non-positive price, a negative or non-finite size, or that neither set
    the price nor count in volume (cancelled, erroneous)."""
    ok = np.isfinite(px) & (px > 0) & np.isfinite(sz) & (sz >= 0) & (price_ok | volume_ok)
    if not ok.all():
        ts, px, sz, price_ok, volume_ok = ts[ok], px[ok], sz[ok], price_ok[ok], volume_ok[ok]
    return ts, px, sz, price_ok, volume_ok


class _BackgroundCommits:
    """Commits batches one at a time, in order, on one worker thread, so that the next chunk's signals are
    computed while the previous chunk is written (DuckDB releases the GIL while it writes).

    Each batch is still one transaction of rows, fits and states; :meth:`submit` waits for the previous
    commit first, so at most one is in flight and a failed commit surfaces before anything else is written.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transform-commit")
        self._pending: Future[None] | None = None

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def submit(self, batch: _Batch) -> None:
        """Start writing ``batch`` once the previous batch is committed (re-raising its error, if any)."""
        self._wait()
        self._pending = self._pool.submit(batch.commit, self._storage)

    def close(self) -> None:
        """Wait for the last commit (re-raising its error) and stop the worker."""
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)


class _Batch:
    """Rows, fits and states of the symbols since the last commit."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.liquidity: list[pa.Table] = []
        self.fits: list[pa.Table] = []
        self.profiles: list[pa.Table] = []
        self.states: list[SignalStateRow] = []
        self.pending = 0

    def add(self, symbol: str, bar_seconds: int, result: SymbolResult, computed_at: int, fingerprint: str,
            liquidity: dict[str, np.ndarray] | None = None) -> None:
        self.tables.append(_signals_table(symbol, bar_seconds, result, computed_at))
        if liquidity is not None:
            self.liquidity.append(_liquidity_table(symbol, bar_seconds, result.columns["bar_end_ns"], liquidity,
                                                   computed_at))
        if result.fits:
            self.fits.append(_fits_table(symbol, bar_seconds, result.fits, computed_at, fingerprint))
        if result.profiles:
            self.profiles.append(_profiles_table(symbol, bar_seconds, result.profiles, computed_at))
        self.states.append(SignalStateRow(symbol, bar_seconds, result.state.last_bar_end_ns,
                                          result.state.to_json()))

    def commit(self, storage: Storage) -> None:
        if self.states:
            extra: dict[str, pa.Table] = {}
            if self.fits:
                extra["model_params"] = pa.concat_tables(self.fits)
            if self.profiles:
                extra["profiles"] = pa.concat_tables(self.profiles)
            if self.liquidity:
                extra["liquidity"] = pa.concat_tables(self.liquidity)
            # storages written against the two-argument protocol keep working without fits and profiles
            storage.commit_signals(pa.concat_tables(self.tables), list(self.states), **extra)
        self.tables, self.liquidity, self.fits, self.profiles, self.states, self.pending = [], [], [], [], [], 0


def _signals_table(symbol: str, bar_seconds: int, result: SymbolResult, computed_at: int) -> pa.Table:
    """Assemble ``SIGNALS_SCHEMA`` columns; NaN statistics become SQL NULL."""
    c = result.columns
    m = len(c["bar_end_ns"])
    values = dict(c)
    values["symbol"] = pa.array([symbol] * m, pa.string())
    values["bar_seconds"] = np.full(m, bar_seconds, np.int32)
    values["computed_at_ns"] = np.full(m, computed_at, np.int64)
    columns = [values[f.name] if isinstance(values[f.name], pa.Array) and values[f.name].type == f.type
               else pa.array(values[f.name], f.type, from_pandas=True) for f in SIGNALS_SCHEMA]
    return pa.Table.from_arrays(columns, schema=SIGNALS_SCHEMA)


def _liquidity_table(symbol: str, bar_seconds: int, bar_end_ns: np.ndarray, measures: dict[str, np.ndarray],
                     computed_at: int) -> pa.Table:
    """``BAR_LIQUIDITY_SCHEMA`` rows of one symbol's new bars; NaN measures become SQL NULL."""
    m = len(bar_end_ns)
    values = {"symbol": [symbol] * m, "bar_end_ns": bar_end_ns, "bar_seconds": np.full(m, bar_seconds, np.int32),
              "computed_at_ns": np.full(m, computed_at, np.int64), **measures}
    columns = [pa.array(values[f.name], f.type, from_pandas=True) for f in BAR_LIQUIDITY_SCHEMA]
    return pa.Table.from_arrays(columns, schema=BAR_LIQUIDITY_SCHEMA)


def _read_quotes(storage: Storage, wanted: Sequence[tuple[str, int]], end_ns: int) -> dict[str, Quotes]:
    """The quotes of each ``(symbol, start_ns)`` in ``[start_ns, end_ns)``, time-ordered: one read per chunk."""
    if not wanted:
        return {}
    read = storage.read_quotes_many  # type: ignore[attr-defined]  # run_transform checked it is there
    table = read([s for s, _ in wanted], min(start for _, start in wanted), end_ns)
    if table.num_rows == 0:
        return {}
    runs = pc.run_end_encode(table.column("symbol").combine_chunks())
    ends = runs.run_ends.to_numpy().tolist()
    bounds = dict(zip(runs.values.to_pylist(), zip([0, *ends[:-1]], ends, strict=True), strict=True))
    ts = np.ascontiguousarray(table.column("ts_ns").to_numpy(), dtype=np.int64)
    cols = [np.ascontiguousarray(table.column(n).to_numpy(zero_copy_only=False), dtype=np.float64)
            for n in ("bid_price", "ask_price", "bid_size", "ask_size")]
    out = {}
    for symbol, start in wanted:
        if symbol in bounds:
            a, b = bounds[symbol]
            a += int(np.searchsorted(ts[a:b], start, side="left"))
            out[symbol] = Quotes(ts[a:b], *(c[a:b] for c in cols))
    return out


def _fingerprint_json(cfg: SignalConfig) -> str:
    """``model_params.fingerprint``: the definitions and settings a fit was made with, as compact JSON."""
    return json.dumps(cfg.fingerprint(), sort_keys=True, separators=(",", ":"))


def _fits_table(symbol: str, bar_seconds: int, fits: Sequence[FitRecord], computed_at: int,
                fingerprint: str) -> pa.Table:
    n = len(fits)
    values = {
        "symbol": [symbol] * n, "bar_seconds": [bar_seconds] * n, "fitted_at_ns": [computed_at] * n,
        "fingerprint": [fingerprint] * n,
        **{name: [getattr(f, name) for f in fits] for name in
           ("model", "fit_start_ns", "fit_end_ns", "n_obs", "omega", "alpha", "beta", "loglik", "converged",
            "scale")},
    }
    columns = [pa.array(values[f.name], f.type, from_pandas=True) for f in MODEL_PARAMS_SCHEMA]
    return pa.Table.from_arrays(columns, schema=MODEL_PARAMS_SCHEMA)


def _profiles_table(symbol: str, bar_seconds: int, profiles: Sequence[ProfileRecord], computed_at: int) -> pa.Table:
    """``INTRADAY_PROFILE_SCHEMA`` rows: one per time-of-day bucket of each profile estimated."""
    rows: dict[str, list[object]] = {f.name: [] for f in INTRADAY_PROFILE_SCHEMA}
    for p in profiles:
        nb = p.factor.size
        rows["symbol"] += [symbol] * nb
        rows["bar_seconds"] += [bar_seconds] * nb
        rows["session_open_ns"] += [p.session_open_ns] * nb
        rows["bucket"] += list(range(nb))
        rows["minutes_after_open"] += [k * p.bucket_seconds / 60 for k in range(nb)]
        rows["factor"] += p.factor.tolist()
        rows["n_obs"] += p.n_obs.tolist()
        rows["sessions"] += [p.sessions] * nb
        rows["fallback"] += [p.flat] * nb
        rows["computed_at_ns"] += [computed_at] * nb
    return pa.table(rows, schema=INTRADAY_PROFILE_SCHEMA)
