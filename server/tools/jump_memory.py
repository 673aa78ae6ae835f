"""Every jump event kept in memory: ``get_jump_events`` pages without a scan of ``trading_signals``.

Jumps are rare (25,015 of 4.2M bars in the 50M-trade bench file), but a page of one symbol's jumps reads them
from all over the symbol's bars: ~6 ms of DuckDB decompressing the 17 columns of every vector that holds one.
They fit in memory many times over, so, like :mod:`server.tools.latest` and on the same terms (a DuckDB file
has one writer, which tells its listeners of every commit), :class:`JumpMemory` keeps the rows of the
``jump_events`` view as the SQL returns them:

- when attached (under the write lock) it loads them with ``jump_events_page`` itself (every symbol, the
  whole time range); more than ``max_rows`` and nothing is kept (every call runs the SQL);
- a commit of signals forgets the stored jumps of the bars it rewrote and reads the jumps among its bars back
  with ``jump_events_page`` (the view computes their columns; only the commit's symbols and time range);
  a reset forgets its symbols; a failed listener call forgets everything (the next call loads again);
- :meth:`JumpMemory.answer` (through :meth:`JumpMemory.source`) answers ``jump_events_page`` for any
  arguments (symbols, direction, minimum statistic, window, cursor, limit) with the rows the SQL would
  return, in its order, so the page code above it is the same for both paths.
  ``tests/server/test_jump_memory.py`` compares the two over random arguments and writes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from server.tools.kept import KeptRows
from sql.backend import QueryResult, SignalStateRow, Storage

__all__ = ["JumpMemory"]

log = logging.getLogger("microstructure.server")

_QUERY = "jump_events_page"


class JumpMemory(KeptRows):
    """The ``jump_events`` rows of one grid, per symbol newest first, current with the writes.

    Parameters
    ----------
    storage
        Where the rows are loaded from and every unanswerable call goes.
    bar_seconds
        The grid kept.
    max_rows
        Keep nothing when there are more jumps than this.
    """

    def __init__(self, storage: Storage, bar_seconds: int, *, max_rows: int = 500_000) -> None:
        super().__init__(storage, bar_seconds)
        self._max_rows = max_rows
        self._held: dict[str, list[tuple[Any, ...]]] | None = None  # symbol -> rows, newest first
        self._columns: list[str] = []
        self._too_many = False

    def source(self, on_path: Callable[[str], None] | None = None) -> _Source:
        """A page source (``query``) answering ``jump_events_page`` from memory, else by the SQL."""
        return _Source(self, on_path)

    # --- the answer --------------------------------------------------------------------------------------
    def answer(self, params: Mapping[str, Any], limit: int) -> QueryResult | None:
        """The SQL's result of ``jump_events_page`` for ``params``, or ``None`` (run the SQL)."""
        if params["bar_seconds"] != self._bar_seconds or self._too_many:
            return None
        if self._held is None and not self._load():
            return None
        with self._lock:
            if self._held is None:
                return None
            symbols = sorted(self._held) if params["symbols"] is None else sorted(set(params["symbols"]))
            lists = [self._held.get(symbol, []) for symbol in symbols]
        index = {c: i for i, c in enumerate(self._columns)}
        rows = list(itertools.islice(self._matching(lists, params, index), limit + 1))
        return QueryResult(columns=list(self._columns), rows=rows[:limit], truncated=len(rows) > limit)

    @staticmethod
    def _matching(lists: list[list[tuple[Any, ...]]], params: Mapping[str, Any],
                  index: dict[str, int]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``lists`` passing the query's filters, in its order (bar_end_ns DESC, symbol DESC)."""
        end_i, sym_i, dir_i, stat_i = index["bar_end_ns"], index["symbol"], index["direction"], index["lee_mykland_stat"]
        start, end = params["start_ns"], params["end_ns"]
        after, after_symbol = params["after_bar_end_ns"], params["after_symbol"]
        direction, min_abs = params["direction"], params["min_abs_stat"]
        merged = heapq.merge(*lists, key=lambda row: (row[end_i], row[sym_i]), reverse=True)
        for row in merged:
            bar_end = row[end_i]
            if bar_end >= end:
                continue
            if bar_end < start:
                return
            if after is not None and (bar_end, row[sym_i]) >= (after, after_symbol):
                continue
            if direction is not None and row[dir_i] != direction:
                continue
            if min_abs is not None and (row[stat_i] is None or abs(row[stat_i]) < min_abs):
                continue
            yield row

    def _select(self, symbols: list[str] | None, start_ns: int, end_ns: int) -> QueryResult:
        params = {"symbols": symbols, "direction": None, "min_abs_stat": None, "start_ns": start_ns,
                  "end_ns": end_ns, "bar_seconds": self._bar_seconds, "after_bar_end_ns": None, "after_symbol": None}
        return self._storage.query(_QUERY, params, self._max_rows)

    def _load(self) -> bool:
        """Read every jump with the SQL; ``False`` when a write came in meanwhile or there are too many."""
        with self._lock:
            writes = self._writes
        result = self._select(None, -(2**62), 2**62)
        if result.truncated:
            log.info("more than %d jump events: get_jump_events runs its SQL", self._max_rows)
            self._too_many = True
            return False
        rows: dict[str, list[tuple[Any, ...]]] = {}
        symbol_i = result.columns.index("symbol")
        for row in result.rows:  # newest first, as the query orders them
            rows.setdefault(row[symbol_i], []).append(row)
        with self._lock:
            if writes != self._writes:
                return False
            self._held, self._columns = rows, list(result.columns)
        return True

    # --- sql.backend.WriteListener -------------------------------------------------------------------------
    def signals_written(self, signals: pa.Table, states: Sequence[SignalStateRow]) -> None:
        """Forget the jumps of the rewritten bars, then read the commit's jumps back through the view."""
        if not self._told() or signals.num_rows == 0:
            return
        with self._lock:
            if self._held is None:
                return
            newest = max((rows[0][self._columns.index("bar_end_ns")] for rows in self._held.values() if rows),
                         default=None)
        mine = signals.filter(pc.equal(signals["bar_seconds"], self._bar_seconds))
        if mine.num_rows == 0:
            return
        # bars at or before the newest jump held may replace one of them (a recomputed bar): forget those keys
        old = mine.filter(pc.less_equal(mine["bar_end_ns"], -1 if newest is None else newest))
        rewritten = set(zip(old["symbol"].to_pylist(), old["bar_end_ns"].to_pylist(), strict=True))
        jumps = mine.filter(pc.equal(mine["jump_detected"], True))
        fresh = None
        if jumps.num_rows:
            symbols = sorted(set(jumps["symbol"].to_pylist()))
            first, last = pc.min_max(jumps["bar_end_ns"]).values()
            fresh = self._select(symbols, first.as_py(), last.as_py() + 1)
        with self._lock:
            if self._held is None:
                return
            end_i, sym_i = self._columns.index("bar_end_ns"), self._columns.index("symbol")
            if rewritten:
                for symbol in {s for s, _ in rewritten}:
                    if symbol in self._held:
                        self._held[symbol] = [r for r in self._held[symbol] if (symbol, r[end_i]) not in rewritten]
            if fresh is not None:
                if fresh.truncated:
                    self._held = None
                    return
                by_symbol: dict[str, dict[int, tuple[Any, ...]]] = {}
                for row in fresh.rows:
                    by_symbol.setdefault(row[sym_i], {})[row[end_i]] = row
                for symbol, new in by_symbol.items():
                    keep = [r for r in self._held.get(symbol, []) if r[end_i] not in new] + list(new.values())
                    self._held[symbol] = sorted(keep, key=lambda r: r[end_i], reverse=True)


class _Source:
    """``jump_events_page`` from a :class:`JumpMemory`, other queries (and unanswerable calls) by the SQL."""

    def __init__(self, memory: JumpMemory, on_path: Callable[[str], None] | None) -> None:
        self._memory = memory
        self._on_path = on_path

    def query(self, name: str, params: Mapping[str, Any], limit: int) -> QueryResult:
        result = self._memory.answer(params, limit) if name == _QUERY else None
        if self._on_path is not None:
            self._on_path("sql" if result is None else "memory")
        return self._memory._storage.query(name, params, limit) if result is None else result
