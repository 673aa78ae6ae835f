"""Typed results of the MCP tools: their fields become the tools' output schemas.

Every list result carries ``rows``, ``count``, ``truncated``, ``next_cursor`` and ``as_of`` (DESIGN §6).
Times come twice: as ``*_ns`` integers (exact, for programs) and as ISO-8601 UTC strings with millisecond
precision (for people and models, who misread long fractional seconds).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

__all__ = ["ChartInfo", "EnrichedTrade", "ErrorBody", "JumpEvent", "Page", "RealTimeRow", "SignalRow", "SymbolMetrics"]

Row = TypeVar("Row", bound=BaseModel)


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SignalRow(_Row):
    """One completed bar of one symbol with its microstructure signals."""

    symbol: str
    bar_end: str = Field(description="end of the bar, ISO-8601 UTC")
    bar_end_ns: int = Field(description="end of the bar [end - bar_seconds, end), ns since the epoch")
    bar_seconds: int
    n_trades: int
    volume: float
    vwap: float | None
    close: float = Field(description="previous-tick price at the bar's end")
    log_return: float | None
    garch_sigma: float | None
    standardized_return: float | None
    lee_mykland_stat: float | None = Field(description="Lee-Mykland jump statistic, N(0,1) without jumps")
    jump_threshold: float | None
    jump_detected: bool
    bns_stat: float | None
    trade_intensity_zscore: float | None
    conditional_duration: float | None = Field(description="ACD expected time between trades, seconds")
    acd_surprise: float | None
    vpin: float | None
    vpin_cdf: float | None
    trading_signal: str = Field(description="BUY, SELL or HOLD: a research signal, not advice")
    signal_reason: str
    n_quotes: int | None = Field(None, description="quotes in the bar (bar_liquidity; null: bar written before)")
    quoted_spread: float | None = Field(None, description="time-weighted (ask - bid) / mid of the usable NBBO")
    effective_spread: float | None = Field(None, description="volume-weighted 2|price - mid| / mid of the trades")
    buy_volume: float | None = Field(None, description="volume of trades signed buy by Lee-Ready")
    sell_volume: float | None = Field(None, description="volume of trades signed sell by Lee-Ready")
    signed_volume: float | None = Field(None, description="buy_volume - sell_volume")
    order_imbalance: float | None = Field(None, description="(buy - sell) / (buy + sell) volume")
    depth_imbalance: float | None = Field(
        None, description="time-weighted (bid_size - ask_size) / (bid_size + ask_size) of the NBBO")
    amihud: float | None = Field(None, description="Amihud illiquidity: |log_return| / dollar volume")
    roll_spread: float | None = Field(None, description="Roll's spread over ROLL_WINDOW trades, price units")
    kyle_lambda: float | None = Field(
        None, description="Kyle's lambda: bar return per signed dollar, over KYLE_WINDOW bars")
    vpin_lee_ready: float | None = Field(
        None, description="VPIN with each trade's volume on its Lee-Ready side (beside vpin, by BVC)")
    horizon_seconds: int | None = Field(
        None, description="horizon H of realized_spread and price_impact (LIQUIDITY_HORIZON_SECONDS); null until "
        "the bar's horizon has passed")
    realized_spread: float | None = Field(
        None, description="size-weighted realized spread 2q(p - m[t+H])/m[t] of the bar's trades (bar_realized_spread); "
        "null until the transform's watermark is H past the bar's end, then written once")
    price_impact: float | None = Field(
        None, description="size-weighted price impact 2q(m[t+H] - m[t])/m[t] of the same trades (null as "
        "realized_spread); realized_spread + price_impact = their signed effective spread")


class JumpEvent(_Row):
    """A bar whose Lee-Mykland statistic crossed its threshold."""

    symbol: str
    bar_end: str
    bar_end_ns: int
    bar_seconds: int
    direction: str = Field(description="up or down")
    log_return: float | None
    lee_mykland_stat: float | None
    jump_threshold: float | None
    threshold_ratio: float | None = Field(description="|statistic| / threshold; above 1 is a jump")
    close: float
    n_trades: int
    volume: float
    garch_sigma: float | None
    bns_stat: float | None
    vpin: float | None
    trading_signal: str
    signal_reason: str


class EnrichedTrade(_Row):
    """One trade with the signals of the last bar completed before it."""

    market: str
    symbol: str
    ts: str = Field(description="trade time, ISO-8601 UTC")
    ts_ns: int
    price: float
    size: float
    exchange: int
    trade_id: str
    conditions: str | None
    correction: int | None = Field(description="flat-file correction code (NULL: none, e.g. WebSocket)")
    sets_price: bool = Field(description="Polygon's rules let this print set the last-sale price (bar closes, returns)")
    counts_volume: bool = Field(description="Polygon's rules count this print in volume")
    bid_price: float | None = Field(description="prevailing NBBO bid: the newest quote stamped strictly before the "
                                    "trade (null: no quote or no bid)")
    ask_price: float | None = Field(description="prevailing NBBO ask (null: no quote or no ask)")
    trade_side: int = Field(description="Lee-Ready side: 1 buy, -1 sell, 0 unknown (quote rule against the "
                            "midpoint; tick rule at the midpoint or without a usable quote)")
    quote_flags: int = Field(description="bits: 1 no quote, 2 stale (older than QUOTE_STALE_SECONDS), 4 one-sided, "
                             "8 locked, 16 crossed, 32 at the midpoint, 64 signed by the tick rule alone")
    effective_spread: float | None = Field(description="2|price - mid|/mid against a usable quote (null otherwise)")
    bar_seconds: int | None
    signal_bar_end_ns: int | None = Field(description="end of the bar whose signals this row carries")
    bar_close: float | None
    bar_vwap: float | None
    log_return: float | None
    garch_sigma: float | None
    lee_mykland_stat: float | None
    jump_threshold: float | None
    jump_detected: bool | None
    vpin: float | None
    trading_signal: str | None
    signal_reason: str | None


class Page(BaseModel, Generic[Row]):
    """A page of rows, newest first."""

    rows: list[Row]
    count: int = Field(description="number of rows in this page")
    truncated: bool = Field(description="true when more rows match; pass next_cursor to get them")
    next_cursor: str | None = Field(description="opaque cursor for the next (older) page, or null")
    as_of: str = Field(description="when this answer was computed, ISO-8601 UTC")
    #: the rows serialized once (:class:`server.row_wire.RowWire`), when they were kept in memory; not a field
    _wire: list[Any] | None = PrivateAttr(default=None)


class SymbolMetrics(_Row):
    """One symbol on one session day (UTC date of the bars' ends)."""

    symbol: str
    session_date: str = Field(description="YYYY-MM-DD")
    bar_seconds: int
    trades: int | None
    volume: float | None
    vwap: float | None
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    n_returns: int = Field(description="bar returns of the day")
    realized_variance: float | None = Field(description="sum of squared bar returns")
    bipower_variation: float | None = Field(description="(pi/2) sum |r_j||r_j-1|")
    bns_stat: float | None = Field(description="BNS ratio jump statistic (max-adjusted, tripower); > 2.33 ~ jump at 1%")
    jump_count: int = Field(description="bars with a Lee-Mykland jump")
    mean_vpin: float | None
    max_vpin: float | None
    last_signal: str | None
    last_signal_reason: str | None
    quoted_spread: float | None = Field(None, description="time-weighted relative quoted spread (ask - bid) / mid "
                                        "of the day's usable quotes")
    effective_spread: float | None = Field(None, description="volume-weighted effective spread 2|price - mid|/mid "
                                           "of the day's prints against their prevailing quote (both spreads null "
                                           "without quotes, or when computing them exceeded the query time limit)")
    realized_spread: float | None = Field(None, description="size-weighted realized spread 2q(p - m[t+H])/m[t] at "
                                          "the horizon LIQUIDITY_HORIZON_SECONDS of the day's bar_realized_spread rows "
                                          "(null until the watermark is the horizon past a bar of the day)")
    price_impact: float | None = Field(None, description="size-weighted price impact 2q(m[t+H] - m[t])/m[t] of the "
                                       "same trades; realized_spread + price_impact = their signed effective spread")


class RealTimeRow(SignalRow):
    """The newest bar's signals of one symbol, its last trade, and how old both are."""

    last_price: float | None
    last_size: float | None
    last_trade_ns: int | None
    last_trade: str | None = Field(description="time of the last trade, ISO-8601 UTC")
    trade_age_seconds: float | None = Field(description="seconds since the last trade")
    signal_age_seconds: float = Field(description="seconds since the newest bar ended")


class ChartInfo(BaseModel):
    """What the chart shows (the PNG itself is in the result's content)."""

    symbol: str
    bars: int = Field(description="bars drawn")
    start: str | None
    end: str | None
    jumps: int = Field(description="jumps marked")
    signals: dict[str, int] = Field(description="bars per signal (BUY, SELL, HOLD)")
    quoted_bars: int = Field(0, description="bars with a usable NBBO at their end, drawn as a bid-ask band")
    width: int
    height: int


class ErrorBody(BaseModel):
    """The one error shape of every HTTP route."""

    ok: bool = Field(description="always false")
    error: str = Field(description="what went wrong, naming the argument when one is at fault")
    errors: list[dict[str, str]] = Field(description="one entry per invalid argument: argument, message")
    status: int
