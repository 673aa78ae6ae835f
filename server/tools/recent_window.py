"""Newest-first pages of bars read through a recent time window first, the whole window only when needed.

A page of ``trading_signals`` is the ``limit + 1`` newest rows (``bar_end_ns DESC, symbol DESC``) in the
caller's window ``[start_ns, end_ns)``, after the cursor. Reading the whole window costs a scan of every row
of the symbol (DuckDB: a top-N over ~20,000 bars a symbol in the 50M-trade bench, ~9 ms; with bars written
interleaved by a live transform, every row group). But the newest bars lie in a short recent stretch, and a
narrower window ``[lo, end_ns)`` with ``lo > start_ns`` gives the same page whenever it holds at least
``limit + 1`` rows: every row it leaves out ends before ``lo``, so after every row it holds. Zone maps of
``bar_end_ns`` (and of ``symbol``) then skip all but the newest row groups.

:class:`RecentWindow` wraps a storage for :func:`server.tools.paging.fetch_page`: it reads the newest bar end
of the wanted symbols from ``signal_state`` (one row per symbol; the hint never changes the answer, only
where to look), tries up to :data:`MAX_PROBES` windows reaching back ``2 x (limit + 1)`` bars per symbol,
then ``GROWTH`` times more, and falls back to the plain query over the caller's window. Each answer reports
its path (``narrowed`` or ``sql``) to ``on_path`` (the server counts them in ``/metrics``). Every argument
shape goes through it (cursor, windows, several or all symbols, ``signal_type``): the narrowed and the plain
query are the same named SQL with a different ``start_ns``; ``tests/server/test_recent_window.py`` compares
them row for row over random arguments.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sql.backend import QueryResult, Storage

__all__ = ["GROWTH", "MAX_PROBES", "RecentWindow"]

log = logging.getLogger("microstructure.server")

#: Narrowed windows tried before the plain query.
MAX_PROBES = 2
#: How much longer each next window reaches back.
GROWTH = 16
#: Bars per row of the page the first window reaches back (a margin for gaps and filtered rows).
MARGIN = 2
_NS = 1_000_000_000


class RecentWindow:
    """A storage whose ``query`` answers newest-first bar pages through narrowed windows (module docstring).

    Parameters
    ----------
    storage
        The storage the queries run on.
    symbols
        The symbols of the page (``None``: all), for the newest-bar hint.
    bar_seconds
        The grid of the page.
    on_path
        Called with ``"narrowed"`` or ``"sql"`` once per answer.
    hint
        The newest bar end and symbol count without a query (e.g. from
        :meth:`server.tools.latest.LatestRows.newest_bar_end`), or ``None`` to ask the storage.
    """

    def __init__(self, storage: Storage, *, symbols: Sequence[str] | None, bar_seconds: int,
                 on_path: Callable[[str], None] | None = None,
                 hint: Callable[[Sequence[str] | None], tuple[int | None, int] | None] | None = None) -> None:
        self.storage = storage
        self.symbols = None if symbols is None else list(symbols)
        self.bar_seconds = bar_seconds
        self.on_path = on_path
        self.hint = hint

    def windows(self, params: Mapping[str, Any], limit: int) -> list[int]:
        """The ``start_ns`` of the narrowed windows to try, narrowest first (none: use the plain query)."""
        known = None if self.hint is None else self.hint(self.symbols)
        if known is None:
            rows = self.storage.query("newest_bar_end", {"symbols": self.symbols, "bar_seconds": self.bar_seconds}, 1).rows
            known = rows[0] if rows else (None, 0)
        newest, symbols = known
        if newest is None:
            return []
        start, end = int(params["start_ns"]), int(params["end_ns"])
        after = params.get("after_bar_end_ns")
        # no row of the page ends after the cursor's bar, nor at or after end_ns
        anchor = min(int(newest), end - 1, int(after) if after is not None else end - 1)
        span = MARGIN * math.ceil((limit + 1) / max(int(symbols), 1)) * self.bar_seconds * _NS
        lows = []
        for _ in range(MAX_PROBES):
            low = anchor - span
            if low <= start:
                break
            lows.append(low)
            span *= GROWTH
        return lows

    def query(self, name: str, params: Mapping[str, Any], limit: int) -> QueryResult:
        """``storage.query(name, params, limit)``, answered from the narrowest window that holds the page."""
        for low in self.windows(params, limit):
            result = self.storage.query(name, {**params, "start_ns": low}, limit)
            if result.truncated:  # limit + 1 rows at or after low: every row left out comes after them
                self._report("narrowed")
                return result
        self._report("sql")
        return self.storage.query(name, params, limit)

    def _report(self, path: str) -> None:
        log.debug("newest-first page answered by the %s path", path)
        if self.on_path is not None:
            self.on_path(path)
