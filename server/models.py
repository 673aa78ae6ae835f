"""Typed results of the MCP tools: their fields become the tools' output schemas.

Every list result carries ``rows``, ``count``, ``truncated``, ``next_cursor`` and ``as_of`` (DESIGN §6).
Times come twice: as ``*_ns`` integers (exact, for programs) and as ISO-8601 UTC strings with millisecond
precision (for people and models, who misread long fractional seconds).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EnrichedTrade", "JumpEvent", "Page", "SignalRow"]

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
