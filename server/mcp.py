"""The MCP server: tool registration, descriptions and argument bounds.

Tools are registered as closures over the settings and the storage in :func:`build_server`, so there is no
module-level server and tests build one per configuration. Every tool is read-only (annotation and, below
it, a read-only database transaction), returns a typed page, and bounds ``limit`` by ``MCP_MAX_ROWS``.
No ``from __future__ import annotations`` here: the SDK evaluates the closures' annotations, and the
limit bound is a local type built from the settings.
"""


import functools
import inspect
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from server.models import EnrichedTrade, JumpEvent, Page, SignalRow
from server.tools import market
from sql.backend import Storage, StorageError
from sql.settings import Settings

__all__ = ["TOOL_NAMES", "build_server"]

TOOL_NAMES = ("get_enriched_data", "get_trading_signals", "get_jump_events")

P = ParamSpec("P")
R = TypeVar("R")


def _anticipated(tool: Callable[P, R]) -> Callable[P, R]:
    """Report bad arguments and database refusals to the model as an ``isError`` result with the message.

    The SDK hides the text of any other exception (it is a crash, logged with its traceback). The
    docstring, which the SDK sends as the tool's description, loses its source indentation.
    """

    @functools.wraps(tool)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return tool(*args, **kwargs)
        except (ValueError, StorageError) as exc:
            raise ToolError(str(exc)) from exc

    call.__doc__ = inspect.cleandoc(tool.__doc__ or "")
    return call


_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)

Symbol = Annotated[str, Field(description="ticker, e.g. AAPL or BTC-USD (case-insensitive)", max_length=32)]
HoursBack = Annotated[
    float | None,
    Field(gt=0, le=24 * 366, description="look back this many hours from now; do not combine with start"),
]
Start = Annotated[
    str | int | None,
    Field(description="window start: ISO-8601 (e.g. 2026-01-02T14:30:00Z, UTC if no offset) or ns since epoch"),
]
End = Annotated[str | int | None, Field(description="window end (exclusive), same formats as start; default now")]
Cursor = Annotated[
    str | None, Field(max_length=512, description="next_cursor of a previous answer, to get the next older page")
]


def build_server(settings: Settings, storage: Storage) -> MCPServer:
    """Build the MCP server over ``storage``.

    Parameters
    ----------
    settings
        Supplies the row limits and the bar grid.
    storage
        Where the tools read; every read runs in a read-only, time-limited transaction.
    """
    mcp = MCPServer(
        "microstructure",
        version="0.1.0",
        instructions=(
            "Market-microstructure analytics over Polygon trades: per-bar signals (Lee-Mykland jumps, "
            "volatility, VPIN, BUY/SELL/HOLD research signals) and trades enriched with them. Times are "
            "UTC; lists are newest first and paged with next_cursor."
        ),
    )
    Limit = Annotated[
        int,
        Field(ge=1, le=settings.mcp_max_rows, description=f"rows per page, 1-{settings.mcp_max_rows}"),
    ]
    default_limit = min(settings.mcp_default_rows, settings.mcp_max_rows)
    bar_seconds = settings.bar_seconds

    @mcp.tool(title="Trades enriched with signals", annotations=_READ_ONLY)
    @_anticipated
    def get_enriched_data(
        symbol: Symbol,
        limit: Limit = default_limit,
        hours_back: HoursBack = None,
        start: Start = None,
        end: End = None,
        cursor: Cursor = None,
    ) -> Page[EnrichedTrade]:
        """Individual trades of one symbol, newest first, each with the signals of the last completed bar
        before it (volatility, Lee-Mykland jump statistic and flag, VPIN, BUY/SELL/HOLD with its reason).
        Use it to see what happened trade by trade; use get_trading_signals for one row per bar."""
        return market.enriched_data(
            storage, symbol=symbol, limit=limit, bar_seconds=bar_seconds,
            hours_back=hours_back, start=start, end=end, cursor=cursor,
        )  # fmt: skip

    @mcp.tool(title="Per-bar trading signals", annotations=_READ_ONLY)
    @_anticipated
    def get_trading_signals(
        symbol: Annotated[str | None, Field(description="ticker; omit for all symbols", max_length=32)] = None,
        limit: Limit = default_limit,
        signal_type: Annotated[
            market.SignalType | None, Field(description="only bars with this signal: BUY, SELL or HOLD")
        ] = None,
        hours_back: HoursBack = None,
        start: Start = None,
        end: End = None,
        cursor: Cursor = None,
    ) -> Page[SignalRow]:
        """Microstructure signals per completed bar (default 60 s), newest first: bar close, VWAP, volume,
        log return, Lee-Mykland jump statistic/threshold/flag, volatility, VPIN and a BUY/SELL/HOLD research
        signal with the reason in words. Filter by symbol, signal_type and time window."""
        return market.trading_signals(
            storage, symbol=symbol, limit=limit, bar_seconds=bar_seconds, signal_type=signal_type,
            hours_back=hours_back, start=start, end=end, cursor=cursor,
        )  # fmt: skip

    @mcp.tool(title="Detected price jumps", annotations=_READ_ONLY)
    @_anticipated
    def get_jump_events(
        symbol: Annotated[str | None, Field(description="ticker; omit for all symbols", max_length=32)] = None,
        limit: Limit = default_limit,
        hours_back: HoursBack = None,
        start: Start = None,
        end: End = None,
        cursor: Cursor = None,
    ) -> Page[JumpEvent]:
        """Bars where the Lee-Mykland test detected a price jump (|statistic| above its threshold at the
        configured significance), newest first, with direction (up/down), size of the return and how far the
        statistic exceeded the threshold. Omit symbol to scan every symbol."""
        return market.jump_events(
            storage, symbol=symbol, limit=limit, bar_seconds=bar_seconds,
            hours_back=hours_back, start=start, end=end, cursor=cursor,
        )  # fmt: skip

    return mcp
