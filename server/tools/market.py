"""The market-data tools: trades with signals, signal rows, jump events, daily metrics, the latest state.

Each function takes the storage and type-checked arguments, applies the cross-field rules (raising
``ValueError`` with a message naming the argument) and returns a typed page. They are plain functions, so
the MCP server, the REST routes, the seed-style JSON-RPC path and the tests share them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from server.arguments import TimeWindow, iso_utc, normalize_symbol, parse_window
from server.models import EnrichedTrade, JumpEvent, Page, RealTimeRow, SignalRow, SymbolMetrics
from server.tools.daily_spreads import with_daily_spreads
from server.tools.jump_memory import JumpMemory
from server.tools.latest import LatestRows
from server.tools.page_span import PageSpan
from server.tools.paging import construct_rows, fetch_page
from server.tools.recent_window import RecentWindow
from server.tools.signal_memory import KeptPage, SignalMemory
from sql.backend import Storage

__all__ = [
    "MAX_SYMBOLS",
    "UnknownSymbol",
    "Direction",
    "SignalType",
    "enriched_data",
    "jump_events",
    "real_time_data",
    "symbol_metrics",
    "symbol_list",
    "trading_signals",
]

SignalType = Literal["BUY", "SELL", "HOLD"]
Direction = Literal["up", "down"]

#: Most symbols one call may name.
MAX_SYMBOLS = 50

class UnknownSymbol(ValueError):
    """No trades are stored for a symbol the caller named (REST answers 404)."""


_BAR_CURSOR = {"cursor_params": ("after_bar_end_ns", "after_symbol"), "cursor_columns": ("bar_end_ns", "symbol"),
               "cursor_keys": ("ns", "text")}


def symbol_list(symbol: str | None, symbols: Sequence[str] | None) -> list[str] | None:
    """Merge ``symbol`` / ``symbols`` into one checked, upper-cased list; ``None`` means every symbol."""
    if symbol is not None and symbols is not None:
        raise ValueError("give symbol or symbols, not both")
    if symbol is not None:
        return [normalize_symbol(symbol)]
    if symbols is None:
        return None
    if not 1 <= len(symbols) <= MAX_SYMBOLS:
        raise ValueError(f"symbols must list 1 to {MAX_SYMBOLS} tickers, got {len(symbols)}")
    return sorted({normalize_symbol(s) for s in symbols})


def _check_known(storage: Storage, symbols: list[str] | None, page: Page) -> None:  # type: ignore[type-arg]
    """An empty answer for a symbol never stored is a mistake worth naming, not an empty page."""
    if symbols is None or page.count:
        return
    known = {row[0] for row in storage.query("known_symbols", {"symbols": symbols}, MAX_SYMBOLS).rows}
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise UnknownSymbol(f"unknown symbol{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                         "no trades are stored for it")  # fmt: skip


def _window_params(window: TimeWindow) -> dict[str, int]:
    return {"start_ns": window.start_ns, "end_ns": window.end_ns}


def enriched_data(
    storage: Storage,
    *,
    symbol: str,
    limit: int,
    bar_seconds: int,
    hours_back: float | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    cursor: str | None = None,
) -> Page[EnrichedTrade]:
    """Trades of ``symbol``, newest first, each with the signals of the last bar completed before it."""
    symbols = symbol_list(symbol, None)
    assert symbols is not None
    page = fetch_page(
        PageSpan(storage),  # the page's span first, then its rows (server/tools/page_span.py)
        tool="get_enriched_data",
        query="enriched_data_page",
        params={"symbol": symbols[0], "bar_seconds": bar_seconds, **_window_params(parse_window(hours_back, start, end))},
        cursor=cursor,
        cursor_params=("after_ts_ns", "after_exchange", "after_trade_id"),
        cursor_columns=("ts_ns", "exchange", "trade_id"),
        cursor_keys=("ns", "int32", "text"),
        limit=limit,
        row_model=EnrichedTrade,
    )
    _check_known(storage, symbols, page)
    return page


def trading_signals(
    storage: Storage,
    *,
    limit: int,
    bar_seconds: int,
    symbol: str | None = None,
    symbols: Sequence[str] | None = None,
    signal_type: SignalType | None = None,
    hours_back: float | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    cursor: str | None = None,
    on_path: Callable[[str], None] | None = None,
    latest: LatestRows | None = None,
    memory: SignalMemory | None = None,
) -> Page[SignalRow]:
    """Signal rows (one per completed bar), newest first, optionally some symbols and one signal type.

    Answered from ``memory`` (:class:`server.tools.signal_memory.SignalMemory`, the newest rows kept in
    memory) when it can (``on_path`` is told ``memory``); else read through a recent window
    (:class:`server.tools.recent_window.RecentWindow`), which reports ``narrowed`` or ``sql`` to ``on_path``;
    ``latest`` (rows kept in memory) saves it the query for the newest bar end.
    """
    wanted = symbol_list(symbol, symbols)
    # One symbol has its own query with plain key predicates (zone maps skip the other symbols' rows).
    query, chosen = (
        ("trading_signals_symbol_page", {"symbol": wanted[0]})
        if wanted is not None and len(wanted) == 1
        else ("trading_signals_page", {"symbols": wanted})
    )
    page = fetch_page(
        RecentWindow(storage, symbols=wanted, bar_seconds=bar_seconds, on_path=on_path,
                     hint=None if latest is None else latest.newest_bar_end),
        tool="get_trading_signals",
        query=query,
        params={**chosen, "signal_type": signal_type, "bar_seconds": bar_seconds,
                **_window_params(parse_window(hours_back, start, end))},  # fmt: skip
        cursor=cursor,
        limit=limit,
        row_model=SignalRow,
        kept=None if memory is None else functools.partial(_from_memory, memory, on_path),
        **_BAR_CURSOR,  # type: ignore[arg-type]
    )
    _check_known(storage, wanted, page)
    return page


def _from_memory(memory: SignalMemory, on_path: Callable[[str], None] | None, query: str,
                 params: Mapping[str, Any], limit: int) -> KeptPage | None:
    """``memory``'s answer of a page query (``None``: run the SQL), reported to ``on_path`` as ``memory``."""
    answer = memory.answer(query, params, limit)
    if answer is not None and on_path is not None:
        on_path("memory")
    return answer


def jump_events(
    storage: Storage,
    *,
    limit: int,
    bar_seconds: int,
    symbol: str | None = None,
    symbols: Sequence[str] | None = None,
    direction: Direction | None = None,
    min_abs_stat: float | None = None,
    hours_back: float | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    cursor: str | None = None,
    jumps: JumpMemory | None = None,
    on_path: Callable[[str], None] | None = None,
) -> Page[JumpEvent]:
    """Bars where the Lee-Mykland test found a jump, newest first, optionally one direction and a minimum |L|.

    Answered from ``jumps`` (:class:`server.tools.jump_memory.JumpMemory`, the same rows kept in memory) when
    it can, else by the SQL; ``on_path`` is told which (``memory`` or ``sql``).
    """
    wanted = symbol_list(symbol, symbols)
    source = storage if jumps is None else jumps.source(on_path)
    if jumps is None and on_path is not None:
        on_path("sql")
    page = fetch_page(
        source,
        tool="get_jump_events",
        query="jump_events_page",
        params={"symbols": wanted, "direction": direction, "min_abs_stat": min_abs_stat, "bar_seconds": bar_seconds,
                **_window_params(parse_window(hours_back, start, end))},  # fmt: skip
        cursor=cursor,
        limit=limit,
        row_model=JumpEvent,
        **_BAR_CURSOR,  # type: ignore[arg-type]
    )
    _check_known(storage, wanted, page)
    return page


def _date(ns: int) -> str:
    """The UTC date of the instant ``ns`` (whole seconds: ``ns / 1e9`` rounded the last nanosecond before a
    midnight up to it, so a window ending at midnight also took the day after)."""
    return datetime.fromtimestamp(ns // 10**9, tz=UTC).date().isoformat()


def symbol_metrics(
    storage: Storage,
    *,
    limit: int,
    bar_seconds: int,
    symbol: str | None = None,
    symbols: Sequence[str] | None = None,
    hours_back: float | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    cursor: str | None = None,
) -> Page[SymbolMetrics]:
    """Daily metrics per symbol (newest day first): the days that overlap the time window, with the daily
    spreads (:func:`server.tools.daily_spreads.with_daily_spreads`)."""
    wanted = symbol_list(symbol, symbols)
    window = parse_window(hours_back, start, end)
    end_date = "9999-12-31" if window.end_ns >= 2**62 else _date(window.end_ns - 1)
    page = fetch_page(
        storage,
        tool="get_symbol_metrics",
        query="symbol_metrics_page",
        params={"symbols": wanted, "start_date": _date(window.start_ns), "end_date": end_date,
                "bar_seconds": bar_seconds},  # fmt: skip
        cursor=cursor,
        cursor_params=("after_session_date", "after_symbol"),
        cursor_columns=("session_date", "symbol"),
        cursor_keys=("date", "text"),
        limit=limit,
        row_model=SymbolMetrics,
    )
    _check_known(storage, wanted, page)
    return with_daily_spreads(storage, page)


def real_time_data(
    storage: Storage,
    *,
    limit: int,
    bar_seconds: int,
    symbol: str | None = None,
    symbols: Sequence[str] | None = None,
    latest: LatestRows | None = None,
    on_path: Callable[[str], None] | None = None,
    now_ns: int | None = None,
) -> Page[RealTimeRow]:
    """Per symbol: the newest bar's signals, the last trade and how old both are (alphabetical).

    Answered from ``latest`` (:class:`server.tools.latest.LatestRows`, the same rows kept in memory) when it
    can, else by the SQL; ``on_path`` is told which (``memory`` or ``sql``). ``now_ns`` (default: the clock)
    is the instant the ages are measured from.
    """
    wanted = symbol_list(symbol, symbols)
    now_ns = time.time_ns() if now_ns is None else now_ns
    kept = None if latest is None else latest.records(wanted, limit, now_ns)
    if kept is not None:
        records, truncated = kept
    else:
        result = storage.query("real_time_data", {"symbols": wanted, "bar_seconds": bar_seconds, "now_ns": now_ns},
                               limit)  # fmt: skip
        records, truncated = [dict(zip(result.columns, row, strict=True)) for row in result.rows], result.truncated
    if on_path is not None:
        on_path("sql" if kept is None else "memory")
    for record in records:
        record["bar_end"] = iso_utc(record["bar_end_ns"])
        record["last_trade"] = None if record["last_trade_ns"] is None else iso_utc(record["last_trade_ns"])
    page = Page[RealTimeRow].model_construct(
        rows=construct_rows(RealTimeRow, records),
        count=len(records),
        truncated=truncated,
        next_cursor=None,
        as_of=iso_utc(now_ns),
    )
    _check_known(storage, wanted, page)
    return page
