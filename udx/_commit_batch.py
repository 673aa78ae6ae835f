"""The transform's writes: each chunk's rows, fits, profiles, bar liquidity, realized spreads and states as one
transaction, committed on a worker thread while the next chunk is computed.

:class:`Batch` collects what a chunk made, building each symbol's tables and encoded state as it comes in (on the
thread collecting the results, off the computing threads and before the commit); :class:`BackgroundCommits`
commits batches one at a time, in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from sql.backend import SignalStateRow, Storage
from sql.contract import BAR_LIQUIDITY_SCHEMA, INTRADAY_PROFILE_SCHEMA, MODEL_PARAMS_SCHEMA, SIGNALS_SCHEMA
from udx.pipeline import FitRecord, ProfileRecord, SignalConfig, SymbolResult
from udx.state import SymbolState
from udx.state_cache import remember

__all__ = ["BackgroundCommits", "Batch", "fingerprint_json"]

#: Rows a part written ahead holds at least: DuckDB's row group (122,880 rows). A transaction's insert of a full row
#: group writes it to the file as it goes (optimistic writing); rows of smaller inserts wait in the transaction's
#: local storage and are all merged at COMMIT (measured on the 2M-trade bench file: 288k signal rows in four
#: inserts took 1.0 s of inserts and 1.7 s of COMMIT, in two 0.06-0.08 s of COMMIT), which would move the tail
#: into the COMMIT instead of shortening it.
WRITE_AHEAD_ROWS = 122_880
#: The most bytes a ``string`` column's 32-bit offsets reach (:func:`_repeated`).
_OFFSETS_LIMIT = 2**31 - 1


class BackgroundCommits:
    """Commits batches one at a time, in order, on one worker thread, so that the next chunk's signals are
    computed while the previous chunk is written (DuckDB releases the GIL while it writes).

    Each batch is still one transaction of rows, fits, realized spreads and states; :meth:`submit` waits for
    the previous commit first, so at most one is in flight and a failed commit surfaces before anything else
    is written. On a storage that opens such a transaction for parts (``begin_signals``:
    :class:`sql.duckdb_backend.SignalsTransaction`), :meth:`write_ahead` writes the rows a batch holds so far
    into its chunk's open transaction while the rest of the chunk is computed, so the commit after a chunk's last
    group writes only that group's rows and the states.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transform-commit")
        self._pending: Future[None] | None = None
        self._begin = getattr(storage, "begin_signals", None)
        self._open: Any = None  # the chunk's open transaction (on the worker thread only)
        self._closed = False

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _run(self, work: Callable[[], None]) -> None:
        """Queue ``work`` on the worker after what is queued; the first failure surfaces at the next call (and
        rolls the open transaction back)."""
        before = self._pending

        def step() -> None:
            if before is not None:
                before.result()  # a failed step before: do nothing more (its error surfaces once)
            try:
                work()
            except BaseException:
                self._drop()
                raise

        self._pending = self._pool.submit(step)

    def _drop(self) -> None:
        """Roll the open transaction back (on the worker)."""
        txn, self._open = self._open, None
        if txn is not None:
            txn.rollback()

    def write_ahead(self, batch: Batch) -> None:
        """Write the rows ``batch`` holds so far into its chunk's transaction (opened by the first part), without
        committing, once they fill a row group (:data:`WRITE_AHEAD_ROWS`); nothing on a storage that commits a chunk
        only whole. Re-raises a failed write before."""
        self._raise_failed()
        if self._begin is None or batch.untaken_rows < WRITE_AHEAD_ROWS:
            return
        part = batch.take()
        if part is None:
            return
        begin = self._begin

        def write() -> None:
            if self._open is None:
                self._open = begin()
            self._open.add(**part)

        self._run(write)

    def submit(self, batch: Batch) -> None:
        """Write ``batch`` (its rows not written ahead, and the states) and commit it in one transaction with its
        parts written ahead, once the previous batch is committed (re-raising its error, if any)."""
        self._wait()
        if not batch.taken:  # nothing written ahead: one commit_signals
            self._pending = self._pool.submit(batch.commit, self._storage)
            return

        def commit() -> None:
            txn, self._open = self._open, None
            batch.commit_in(txn, self._storage)

        self._run(commit)

    def _raise_failed(self) -> None:
        """Re-raise the error of a write that failed already (it rolled its transaction back)."""
        if self._pending is not None and self._pending.done():
            self._wait()

    def close(self) -> None:
        """Wait for the last commit (re-raising its error) and stop the worker; a transaction left open (a run
        that failed before its chunk's commit) is rolled back."""
        if self._closed:
            return
        self._closed = True
        try:
            self._wait()
        finally:
            self._pool.submit(self._drop).result()
            self._pool.shutdown(wait=True)


class Batch:
    """What a chunk made: per symbol its tables and its encoded state, and the realized-spread rows.

    :meth:`add` builds a symbol's tables and encodes its state (:meth:`udx.state.SymbolState.to_json`) as its
    result comes in, on the thread that collects the results while the other symbols are still computed, so the
    commit of a run of one chunk, which starts only after its last symbol, has only the writes left to do.
    """

    def __init__(self, bar_seconds: int, computed_at: int) -> None:
        self._bar_seconds = bar_seconds
        self._computed_at = computed_at
        self._signals: list[pa.Table] = []
        self._liquidity: list[pa.Table] = []
        self._fits: list[pa.Table] = []
        self._profiles: list[pa.Table] = []
        self._states: list[SignalStateRow] = []
        self._kept: list[tuple[str, SymbolState]] = []
        self._realized: list[pa.Table] = []
        self._given = 0  # signal tables handed out by take()
        self._taken = False

    def add(self, symbol: str, result: SymbolResult, cfg: SignalConfig,
            liquidity: dict[str, np.ndarray] | None = None) -> None:
        """Build a symbol's new bars, fits, profiles (and bar liquidity) as tables and encode its state, for the
        commit; ``cfg``: the definitions its fits were made with."""
        seconds, at = self._bar_seconds, self._computed_at
        self._signals.append(_signals_table(symbol, seconds, result, at))
        if liquidity is not None:
            self._liquidity.append(_liquidity_table(symbol, seconds, result.columns["bar_end_ns"], liquidity, at))
        if result.fits:
            self._fits.append(_fits_table(symbol, seconds, result.fits, at, fingerprint_json(cfg)))
        if result.profiles:
            self._profiles.append(_profiles_table(symbol, seconds, result.profiles, at))
        self._states.append(SignalStateRow(symbol, seconds, result.state.last_bar_end_ns, result.state.to_json()))
        self._kept.append((symbol, result.state))

    @property
    def untaken_rows(self) -> int:
        """Signal rows added and not handed out by :meth:`take` yet."""
        return sum(t.num_rows for t in self._signals[self._given:])

    @property
    def taken(self) -> bool:
        """Whether :meth:`take` handed out rows of this batch (they are written ahead, uncommitted)."""
        return self._taken

    def take(self) -> dict[str, pa.Table] | None:
        """Hand out the rows added since the last call as ``SignalsTransaction.add`` arguments (``None``: none);
        the states stay for the commit."""
        part = self._tables(self._signals[self._given:])
        self._given = len(self._signals)
        if part is None:
            return None
        self._taken = True
        return part

    def _tables(self, signals: list[pa.Table]) -> dict[str, pa.Table] | None:
        """The rows not handed out yet, with ``signals``, emptied here (``None``: none)."""
        if not signals and not self._realized:
            return None
        part: dict[str, pa.Table] = {"signals": pa.concat_tables(signals) if signals
                                     else SIGNALS_SCHEMA.empty_table()}
        for name, tables in (("model_params", self._fits), ("profiles", self._profiles),
                             ("liquidity", self._liquidity), ("realized", self._realized)):
            if tables:
                part[name] = pa.concat_tables(tables)
                tables.clear()
        return part

    def commit_in(self, txn: Any, storage: Storage) -> None:
        """Write the rows not written ahead and the states into ``txn`` (``storage.begin_signals()``, holding this
        batch's parts) and commit it; then keep the states as :meth:`commit` does."""
        part = self._tables(self._signals[self._given:])
        if part is not None:
            txn.add(**part)
        stamp = txn.commit(self._states)
        remember(storage, self._bar_seconds, stamp, self._kept)

    def add_realized(self, rows: pa.Table) -> None:
        """Keep ``bar_realized_spread`` rows (:mod:`udx.realized_step`) for the commit."""
        self._realized.append(rows)

    def commit(self, storage: Storage) -> None:
        """Write the tables and states in one ``commit_signals`` transaction; once committed, the states are kept
        in memory with the stamp the storage wrote them with (:func:`udx.state_cache.remember`)."""
        if not self._states and not self._realized:
            return
        extra: dict[str, pa.Table] = {}
        if self._fits:
            extra["model_params"] = pa.concat_tables(self._fits)
        if self._profiles:
            extra["profiles"] = pa.concat_tables(self._profiles)
        if self._liquidity:
            extra["liquidity"] = pa.concat_tables(self._liquidity)
        if self._realized:
            extra["realized"] = pa.concat_tables(self._realized)
        # storages written against the two-argument protocol keep working without fits and profiles
        signals = pa.concat_tables(self._signals) if self._signals else SIGNALS_SCHEMA.empty_table()
        stamp = storage.commit_signals(signals, self._states, **extra)
        remember(storage, self._bar_seconds, stamp, self._kept)


def _signals_table(symbol: str, bar_seconds: int, result: SymbolResult, computed_at: int) -> pa.Table:
    """Assemble ``SIGNALS_SCHEMA`` columns; NaN statistics become SQL NULL."""
    c = result.columns
    m = len(c["bar_end_ns"])
    values = dict(c)
    values["symbol"] = _repeated(symbol, m)
    values["bar_seconds"] = np.full(m, bar_seconds, np.int32)
    values["computed_at_ns"] = np.full(m, computed_at, np.int64)
    columns = [values[f.name] if isinstance(values[f.name], pa.Array) and values[f.name].type == f.type
               else pa.array(values[f.name], f.type, from_pandas=True) for f in SIGNALS_SCHEMA]
    return pa.Table.from_arrays(columns, schema=SIGNALS_SCHEMA)


def _liquidity_table(symbol: str, bar_seconds: int, bar_end_ns: np.ndarray, measures: dict[str, np.ndarray],
                     computed_at: int) -> pa.Table:
    """``BAR_LIQUIDITY_SCHEMA`` rows of one symbol's new bars; NaN measures become SQL NULL."""
    m = len(bar_end_ns)
    values = {"bar_end_ns": bar_end_ns, "bar_seconds": np.full(m, bar_seconds, np.int32),
              "computed_at_ns": np.full(m, computed_at, np.int64), **measures}
    columns = [_repeated(symbol, m), *(pa.array(values[f.name], f.type, from_pandas=True)
                                       for f in list(BAR_LIQUIDITY_SCHEMA)[1:])]
    return pa.Table.from_arrays(columns, schema=BAR_LIQUIDITY_SCHEMA)


def _repeated(text: str, n: int) -> pa.Array:
    """A ``string`` column of ``n`` times ``text``, built from its two buffers rather than a list of ``n`` Python
    strings (a bench symbol's two tables: ~0.09 ms each the list way)."""
    data = text.encode()
    if len(data) * n > _OFFSETS_LIMIT:  # beyond 32-bit offsets: let Arrow build it
        return pa.array([text] * n, pa.string())
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(data))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


def fingerprint_json(cfg: SignalConfig) -> str:
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
