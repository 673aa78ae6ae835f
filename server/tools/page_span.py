"""``get_enriched_data``'s page in two steps: the page's time span first, then the enriched rows of that span.

A page of ``enriched_data_page`` is the ``limit + 1`` newest trades of one symbol in the caller's window
``[start_ns, end_ns)`` before the cursor, with the columns of the view ``enriched_market_data``. The query over
the whole window is right but computes every trade of it (DuckDB: the table macro
``enriched_market_data_between``). :class:`PageSpan` first runs ``enriched_data_page_span`` with the same bound
values: a top-N over ``market_data``'s key columns giving ``[lo, hi + 1)``, the stamps of the oldest and newest of
those trades; then the page query over that span, the cursor kept. The rows are the same: every trade of the
window before the cursor and after ``lo`` is in the page, and of those at ``lo`` the query's ``ORDER BY`` and
``LIMIT`` keep the same ones. The span is bound as values, so DuckDB's zone maps and top-N prune the macro's scans
to it (they do not prune on values computed inside one query: why these are two statements). A page without
trades gets a NULL span, which selects nothing. Each step is one read of :meth:`sql.backend.Storage.query`, in
its own read transaction: a trade written between the two reads is in the page only if it falls in the span
(one newer than the span is left to no page of this walk, as a trade newer than a cursor always is).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.tools.paging import PageSource
from sql.backend import QueryResult

__all__ = ["SPAN_PARAMS", "PageSpan"]

#: The arguments of the span query (``row_limit`` is bound by the storage from ``limit``, as for the page).
SPAN_PARAMS = ("symbol", "start_ns", "end_ns", "after_ts_ns", "after_exchange", "after_trade_id")


class PageSpan:
    """A page source whose ``query`` binds the page's own span as its window first (module docstring).

    Parameters
    ----------
    storage
        What the two queries run on.
    span_query
        The named query giving one row ``(start_ns, end_ns)`` of the page's span.
    """

    def __init__(self, storage: PageSource, span_query: str = "enriched_data_page_span") -> None:
        self.storage = storage
        self.span_query = span_query

    def span(self, params: Mapping[str, Any], limit: int) -> tuple[int | None, int | None]:
        """``[start_ns, end_ns)`` of the page of ``limit + 1`` rows (NULLs: none), as the storage's query reads it."""
        rows = self.storage.query(self.span_query, {k: params[k] for k in SPAN_PARAMS}, limit).rows
        return rows[0] if rows else (None, None)

    def query(self, name: str, params: Mapping[str, Any], limit: int) -> QueryResult:
        """``storage.query(name, params, limit)`` over the span of its page."""
        start_ns, end_ns = self.span(params, limit)
        return self.storage.query(name, {**params, "start_ns": start_ns, "end_ns": end_ns}, limit)
