"""The newest bars of every symbol kept in memory: ``get_trading_signals`` pages without a query.

A page of ``get_trading_signals`` read through a recent window (:mod:`server.tools.recent_window`) still costs
~4 ms of DuckDB on the 50M-trade bench file, and ~2 ms more to type and serialize its rows. The newest bars
are what clients ask for, and the process owning a DuckDB file is told of every commit (as
:mod:`server.tools.latest` and :mod:`server.tools.jump_memory` are), so :class:`SignalMemory` keeps, per
symbol, the newest ``kept`` rows of the page query itself (``trading_signals_symbol_page``: every column it
returns, whatever they are), each typed once and serialized once (:class:`server.row_wire.RowWire`):

- when attached (under the write lock) it lists the symbols with bars (``signal_symbols``) and reads each
  one's newest ``kept`` rows with the page query (through a recent window); a symbol with fewer bars is held
  *complete*, else every bar at or after its oldest kept one is held;
- a commit of signals reads the committed bars back with ``trading_signals_page`` (the page query computes
  their columns) over the commit's symbols and time range, replaces the rows of the same bars, adds the new
  ones and trims each symbol to its newest ``kept``; ``bar_realized_spread`` rows written later for bars
  (``realized_written``) have their bars read back the same way; a reset holds its symbols complete and empty (their bars
  are deleted); a failed listener call, a rewind or an archive move forgets everything (the next call loads);
- :meth:`SignalMemory.answer` answers both page queries for any arguments (one, several or all symbols,
  ``signal_type``, window, cursor, limit) with the rows and order of the SQL, when it can prove them: a row
  is given only if it is not older than the oldest kept bar of any wanted symbol not held complete (every row
  not kept is older than that), and an answer that runs out of rows is given only if the window starts at or
  after that bar. Otherwise it answers ``None`` and the caller runs the SQL (``/metrics`` tells which).

A read-only ``serve`` has no writer beside it (DuckDB's lock keeps writers out while it holds the file), so
what it loaded stays true. Storages without write listeners (Vertica: other processes write) keep nothing.
``tests/server/test_signal_memory.py`` compares the answers with the SQL row for row over random arguments,
between random writes and while paging across new bars.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from server.row_wire import RowWire
from server.tools.kept import KeptRows
from server.tools.paging import RowMaker
from server.tools.recent_window import RecentWindow
from sql.backend import QueryResult, SignalStateRow, Storage

__all__ = ["KeptBar", "KeptPage", "SignalMemory"]

log = logging.getLogger("microstructure.server")

#: The page queries answered, and the one read per symbol when loading.
PAGE_QUERIES = ("trading_signals_symbol_page", "trading_signals_page")
_ALL_TIME = {"start_ns": -(2**62), "end_ns": 2**62}
#: The floor of a symbol held incomplete without rows: above every bar end, so nothing of it is answered.
_NOTHING_SURE = 2**63


class KeptBar(RowWire):
    """One row of the page query: its values as the SQL returned them; typed and serialized when first asked.

    One object per row with slots, typed only once a page holds it (typing 51,200 rows took longer than
    reading them), the typed rows sharing one set of field names.
    """

    __slots__ = ("bar_end_ns", "symbol", "signal", "values", "_maker")

    def __init__(self, bar_end_ns: int, symbol: str, signal: str | None, values: tuple[Any, ...],
                 maker: RowMaker[Any]) -> None:
        super().__init__(None)
        self.bar_end_ns, self.symbol, self.signal, self.values = bar_end_ns, symbol, signal, values
        self._maker = maker

    @property
    def model(self) -> BaseModel:
        """The typed row (made once; two threads making it at once make equal rows)."""
        if self._model is None:
            self._model = self._maker.make(self.values)
        return self._model


def _newest_first(row: KeptBar) -> int:
    return -row.bar_end_ns


def _page_order(row: KeptBar) -> tuple[int, str]:
    return row.bar_end_ns, row.symbol


@dataclass(frozen=True, slots=True)
class _Bars:
    """A symbol's kept rows, newest first; ``complete``: every bar of the symbol (else every one at or after
    the oldest kept). Replaced whole on a write, so that a reader may use it outside the lock."""

    rows: tuple[KeptBar, ...]
    complete: bool

    def floor(self) -> int | None:
        """The oldest bar end below which rows may exist that are not kept (``None``: none; no rows held of
        a symbol not complete: any row may be missing)."""
        if self.complete:
            return None
        return self.rows[-1].bar_end_ns if self.rows else _NOTHING_SURE


@dataclass(frozen=True, slots=True)
class KeptPage:
    """An answer from memory: the page's rows and whether more rows match."""

    rows: list[KeptBar]
    truncated: bool
    columns: list[str]

    def result(self) -> QueryResult:
        """The answer as the SQL's :class:`sql.backend.QueryResult`."""
        rows = [row.values for row in self.rows]
        return QueryResult(columns=list(self.columns), rows=rows, truncated=self.truncated)


class SignalMemory(KeptRows):
    """The newest ``kept`` rows of ``trading_signals_symbol_page`` per symbol of one grid, kept current.

    Parameters
    ----------
    storage
        Where the rows are loaded from.
    bar_seconds
        The grid kept.
    row_model
        The typed row each kept row becomes (:class:`server.models.SignalRow`).
    kept
        Rows kept per symbol (``MCP_KEPT_BARS``); 0 keeps nothing.
    """

    def __init__(self, storage: Storage, bar_seconds: int, *, row_model: type[BaseModel], kept: int) -> None:
        super().__init__(storage, bar_seconds)
        self._row_model = row_model
        self._kept = kept
        self._held: dict[str, _Bars] | None = None
        self._columns: list[str] = []

    @classmethod
    def attach_kept(cls, storage: Storage, bar_seconds: int, *, row_model: type[BaseModel],
                    kept: int) -> SignalMemory | None:
        """An instance told of the writes of ``storage``; ``None`` when it cannot tell or ``kept`` is 0."""
        return cls.attach(storage, bar_seconds, row_model=row_model, kept=kept) if kept > 0 else None

    # --- the answer --------------------------------------------------------------------------------------
    def answer(self, name: str, params: Mapping[str, Any], limit: int) -> KeptPage | None:
        """The SQL's answer of the page query ``name`` for ``params``, or ``None`` (run the SQL)."""
        if name not in PAGE_QUERIES or params["bar_seconds"] != self._bar_seconds:
            return None
        if self._held is None and not self._load():
            return None
        with self._lock:
            held = self._held
            if held is None:
                return None
            if "symbol" in params:
                wanted: Sequence[str] = [params["symbol"]]
            else:
                wanted = sorted(held) if params["symbols"] is None else sorted(set(params["symbols"]))
            bars = [held[s] for s in wanted if s in held]  # a symbol not held has no bars: complete and empty
            columns = self._columns
        floors = [f for f in (b.floor() for b in bars) if f is not None]
        lowest_sure = max(floors, default=None)  # rows at or after it are all kept
        start, end = params["start_ns"], params["end_ns"]
        after = params["after_bar_end_ns"]
        anchor = end - 1 if after is None else min(end - 1, after)  # no row of the page ends after this
        if lowest_sure is not None and anchor < lowest_sure:
            return None
        rows: list[KeptBar] = []
        for row in self._matching(bars, params, anchor):
            if lowest_sure is not None and row.bar_end_ns < lowest_sure:
                return None
            rows.append(row)
            if len(rows) > limit:
                return KeptPage(rows[:limit], True, columns)
        if lowest_sure is not None and start < lowest_sure:  # rows not kept may match further down
            return None
        return KeptPage(rows, False, columns)

    @staticmethod
    def _matching(bars: list[_Bars], params: Mapping[str, Any], anchor: int) -> Iterator[KeptBar]:
        """The kept rows passing the query's filters, in its order (bar_end_ns DESC, symbol DESC)."""
        start, signal = params["start_ns"], params["signal_type"]
        after, after_symbol = params["after_bar_end_ns"], params["after_symbol"]
        # each list from its first row at or before the anchor (rows are newest first)
        lists = [b.rows if not b.rows or b.rows[0].bar_end_ns <= anchor
                 else itertools.islice(b.rows, bisect.bisect_left(b.rows, -anchor, key=_newest_first), None)
                 for b in bars]
        merged = lists[0] if len(lists) == 1 else heapq.merge(*lists, key=_page_order, reverse=True)
        for row in merged:
            if row.bar_end_ns < start:
                return
            if after is not None and (row.bar_end_ns, row.symbol) >= (after, after_symbol):
                continue
            if signal is not None and row.signal != signal:
                continue
            yield row

    # --- loading -----------------------------------------------------------------------------------------
    def _kept_rows(self, result: QueryResult) -> dict[str, list[KeptBar]]:
        """The rows of a page query's result per symbol, in its order."""
        index = {c: i for i, c in enumerate(result.columns)}
        end_i, symbol_i, signal_i = index["bar_end_ns"], index["symbol"], index["trading_signal"]
        maker = RowMaker(result, self._row_model)
        out: dict[str, list[KeptBar]] = {}
        for values in result.rows:
            out.setdefault(values[symbol_i], []).append(
                KeptBar(values[end_i], values[symbol_i], values[signal_i], values, maker))
        return out

    def _symbol_page(self, symbol: str) -> QueryResult:
        params = {"symbol": symbol, "signal_type": None, "bar_seconds": self._bar_seconds, **_ALL_TIME,
                  "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
        window = RecentWindow(self._storage, symbols=[symbol], bar_seconds=self._bar_seconds)
        return window.query(PAGE_QUERIES[0], params, self._kept)

    def _load(self) -> bool:
        """Read every symbol's newest rows with the SQL; ``False`` when a write came in meanwhile.

        One page query a symbol (through a recent window): the zone maps of ``symbol`` skip the other symbols'
        rows however the bars were written, where one query over a recent time window of every symbol reads
        every row group of a file written symbol by symbol (the bench file: over 5 s).
        """
        with self._lock:
            writes = self._writes
        symbols = [row[0] for row in
                   self._storage.query("signal_symbols", {"bar_seconds": self._bar_seconds}, 10**9).rows]
        held: dict[str, _Bars] = {}
        columns: list[str] = []
        for symbol in symbols:
            result = self._symbol_page(symbol)
            columns = list(result.columns)
            held[symbol] = _Bars(tuple(self._kept_rows(result).get(symbol, [])), not result.truncated)
        with self._lock:
            if writes != self._writes:
                return False
            self._held = held
            self._columns = columns or self._columns
        return True

    # --- sql.backend.WriteListener -------------------------------------------------------------------------
    def signals_written(self, signals: pa.Table, states: Sequence[SignalStateRow]) -> None:
        """Read the committed bars that can be kept back through the page query and merge them in."""
        if self._told():
            self._read_back(signals)

    def realized_written(self, rows: pa.Table) -> None:
        """The bars of new ``bar_realized_spread`` rows are served with them: read those kept back the same way."""
        if self._told():
            self._read_back(rows)

    def _read_back(self, signals: pa.Table) -> None:
        """Read the bars of ``signals`` (a table with the bar key) that can be kept back through the page query
        and merge them in."""
        if signals.num_rows == 0:
            return
        mine = signals.filter(pc.equal(signals["bar_seconds"], self._bar_seconds))
        if mine.num_rows == 0:
            return
        ends: dict[str, list[int]] = {}
        for symbol, end in zip(mine["symbol"].to_pylist(), mine["bar_end_ns"].to_pylist(), strict=True):
            ends.setdefault(symbol, []).append(end)
        with self._lock:
            if self._held is None:
                return
            floors = {s: None if (b := self._held.get(s)) is None else b.floor() for s in ends}
        start = min(self._oldest_kept(floors[s], ends[s]) for s in ends)
        params = {"symbols": sorted(ends), "signal_type": None, "bar_seconds": self._bar_seconds,
                  "start_ns": start, "end_ns": max(max(e) for e in ends.values()) + 1,
                  "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
        fresh = self._storage.query(PAGE_QUERIES[1], params, max(mine.num_rows, self._kept * len(ends)) * 4)
        if fresh.truncated:  # far more stored rows in the range than committed: read everything again now
            log.info("a commit of %d bars spans more stored bars than expected: reloading", mine.num_rows)
            with self._lock:
                self._held = None
            self._load()  # under the storage's write lock: no write can discard it
            return
        by_symbol = self._kept_rows(fresh)
        with self._lock:
            if self._held is None:
                return
            self._columns = list(fresh.columns) if fresh.columns else self._columns
            for symbol in ends:
                cut = min(ends[symbol]) < start  # committed bars too old to be kept were not read
                self._held[symbol] = self._merged(self._held.get(symbol), by_symbol.get(symbol, []), cut)

    def _oldest_kept(self, floor: int | None, ends: list[int]) -> int:
        """The oldest committed bar end of a symbol that may be kept: none older than its floor (held
        incomplete), none older than its ``kept``-th newest committed one."""
        newest = sorted(ends, reverse=True)
        kth = newest[self._kept - 1] if len(newest) >= self._kept else None
        bounds = [b for b in (floor, kth) if b is not None]
        return max(bounds, default=newest[-1])

    def _merged(self, held: _Bars | None, new: list[KeptBar], cut: bool) -> _Bars:
        """``held`` with ``new`` (the SQL's rows of some of its bars) in place of the same bars, trimmed to
        the newest ``kept``; ``cut``: older committed bars were left out (the symbol is no longer complete)."""
        old = () if held is None else held.rows
        floor = None if held is None else held.floor()
        replaced = {row.bar_end_ns for row in new}
        keep = [row for row in old if row.bar_end_ns not in replaced]
        keep += [row for row in new if floor is None or row.bar_end_ns >= floor]
        keep.sort(key=lambda r: r.bar_end_ns, reverse=True)
        complete = (held is None or held.complete) and len(keep) <= self._kept and not cut
        return _Bars(tuple(keep[: self._kept]), complete)

    def signals_reset(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """The bars of ``symbols`` were deleted: they are held complete and empty."""
        with self._lock:
            self._writes += 1
            if self._held is not None and bar_seconds == self._bar_seconds:
                for symbol in symbols:
                    self._held[symbol] = _Bars((), True)
