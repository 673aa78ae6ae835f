"""The market-data tools: trades with signals, signal rows and jump events.

Each function takes the storage and already type-checked arguments, applies the cross-field rules and
returns a typed page. They are plain functions so the MCP server, the seed-style JSON-RPC path and tests
share them.
"""

from __future__ import annotations

from typing import Literal

from server.arguments import normalize_symbol, parse_window
from server.models import EnrichedTrade, JumpEvent, Page, SignalRow
from server.tools.paging import fetch_page
from sql.backend import Storage

__all__ = ["SignalType", "enriched_data", "jump_events", "trading_signals"]

SignalType = Literal["BUY", "SELL", "HOLD"]

_BAR_CURSOR = {"cursor_params": ("after_bar_end_ns", "after_symbol"), "cursor_columns": ("bar_end_ns", "symbol")}


def _check_known(storage: Storage, symbol: str | None, page: Page) -> None:  # type: ignore[type-arg]
    """An empty page for a symbol never stored is a mistake worth naming, not an empty answer."""
    if symbol is None or page.count:
        return
    if not storage.query("known_symbol", {"symbol": symbol}, 1).rows:
        raise ValueError(f"unknown symbol {symbol!r}: no trades are stored for it")


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
    symbol = normalize_symbol(symbol)
    window = parse_window(hours_back, start, end)
    page = fetch_page(
        storage,
        tool="get_enriched_data",
        query="enriched_data_page",
        params={"symbol": symbol, "start_ns": window.start_ns, "end_ns": window.end_ns, "bar_seconds": bar_seconds},
        cursor=cursor,
        cursor_params=("after_ts_ns", "after_exchange", "after_trade_id"),
        cursor_columns=("ts_ns", "exchange", "trade_id"),
        limit=limit,
        row_model=EnrichedTrade,
    )
    _check_known(storage, symbol, page)
    return page


def trading_signals(
    storage: Storage,
    *,
    symbol: str | None,
    limit: int,
    bar_seconds: int,
    signal_type: SignalType | None = None,
    hours_back: float | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    cursor: str | None = None,
) -> Page[SignalRow]:
    """Signal rows (one per completed bar), newest first, optionally one symbol and one signal type."""
    symbol = normalize_symbol(symbol) if symbol else None
    window = parse_window(hours_back, start, end)
    page = fetch_page(
        storage,
        tool="get_trading_signals",
        query="trading_signals_page",
        params={
            "symbol": symbol,
            "signal_type": signal_type,
            "start_ns": window.start_ns,
            "end_ns": window.end_ns,
            "bar_seconds": bar_seconds,
        },
        cursor=cursor,
        limit=limit,
        row_model=SignalRow,
        **_BAR_CURSOR,  # type: ignore[arg-type]
    )
    _check_known(storage, symbol, page)
    return page


def jump_events(
    storage: Storage,
    *,
    symbol: str | None,
    limit: int,
    bar_seconds: int,
    hours_back: float | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    cursor: str | None = None,
) -> Page[JumpEvent]:
    """Bars where the Lee-Mykland test found a jump, newest first."""
    symbol = normalize_symbol(symbol) if symbol else None
    window = parse_window(hours_back, start, end)
    page = fetch_page(
        storage,
        tool="get_jump_events",
        query="jump_events_page",
        params={"symbol": symbol, "start_ns": window.start_ns, "end_ns": window.end_ns, "bar_seconds": bar_seconds},
        cursor=cursor,
        limit=limit,
        row_model=JumpEvent,
        **_BAR_CURSOR,  # type: ignore[arg-type]
    )
    _check_known(storage, symbol, page)
    return page
