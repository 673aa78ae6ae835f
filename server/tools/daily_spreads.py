"""The daily spreads of ``get_symbol_metrics``: the named query ``symbol_daily_spreads`` run for the symbols and
days of one page of daily metrics, merged into its rows by (symbol, day).

The spreads come from a query of their own, not from ``symbol_metrics``: they read quotes and trades (the
daily metrics read bars), and a page needs them only for the days it shows. They scan every trade and quote of
those days, so on a large page they may exceed ``MCP_QUERY_TIMEOUT_MS``: then the page is returned without them
(null, logged) rather than failing the daily metrics, which are read from the bars. The realized spread and
price impact are the day's ``bar_realized_spread`` rows (``symbol_daily_realized``), weighted by their matched
volume.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from server.models import Page, SymbolMetrics
from sql.backend import QueryTimeout, Storage

__all__ = ["with_daily_spreads"]

_NS_PER_DAY = 86_400 * 10**9
log = logging.getLogger(__name__)


def _day_ns(day: str) -> int:
    return (date.fromisoformat(day) - date(1970, 1, 1)).days * _NS_PER_DAY


def with_daily_spreads(storage: Storage, page: Page[SymbolMetrics]) -> Page[SymbolMetrics]:
    """Return ``page`` with ``quoted_spread``, ``effective_spread`` (``symbol_daily_spreads``) and
    ``realized_spread``, ``price_impact`` (``symbol_daily_realized``, from ``bar_realized_spread``) filled in on
    every row that has them (a query that exceeds the time limit leaves its two null).

    Parameters
    ----------
    storage
        Where the queries run.
    page
        A page of ``get_symbol_metrics`` rows (``session_date`` is a UTC day, ``YYYY-MM-DD``).
    """
    if not page.rows:
        return page
    symbols = sorted({row.symbol for row in page.rows})
    days = sorted({row.session_date for row in page.rows})
    start_ns, end_ns = _day_ns(days[0]), _day_ns(days[-1]) + _NS_PER_DAY
    n_days = (date.fromisoformat(days[-1]) - date.fromisoformat(days[0]) + timedelta(days=1)).days
    params = {"symbols": symbols, "start_ns": start_ns, "end_ns": end_ns}
    spreads = _by_day(storage, "symbol_daily_spreads", params, len(symbols) * n_days)
    bar_seconds = page.rows[0].bar_seconds
    realized = _by_day(storage, "symbol_daily_realized", {**params, "bar_seconds": bar_seconds},
                       len(symbols) * n_days)
    rows = []
    for row in page.rows:
        quoted, effective = spreads.get((row.symbol, row.session_date), (None, None))
        kept, impact = realized.get((row.symbol, row.session_date), (None, None))
        rows.append(row.model_copy(update={"quoted_spread": quoted, "effective_spread": effective,
                                           "realized_spread": kept, "price_impact": impact}))
    return page.model_copy(update={"rows": rows})


def _by_day(storage: Storage, query: str, params: dict[str, object], limit: int) -> dict[tuple[str, str], tuple]:
    """``(symbol, day) -> the two values`` of a per-day query; empty (logged) when it exceeds the time limit."""
    try:
        result = storage.query(query, params, limit)
    except QueryTimeout as exc:
        log.warning("get_symbol_metrics: %s left out: %s", query, exc)
        return {}
    return {(symbol, str(day)): (a, b) for symbol, day, a, b in result.rows}
