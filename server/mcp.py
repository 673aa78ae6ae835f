"""The MCP server: tools, the schema resource and the analysis prompt.

Tools are registered as closures over the settings and the storage in :func:`build_server`, so there is no
module-level server and tests build one per configuration. Every tool is read-only (annotation and, below
it, a read-only database transaction), returns a typed result, and bounds ``limit`` by ``MCP_MAX_ROWS``.
No ``from __future__ import annotations`` here: the SDK evaluates the closures' annotations, and the
limit bound is a local type built from the settings.
"""

import base64
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ImageContent, ToolAnnotations
from pydantic import Field

from server.arguments import TICKER_PATTERN, CursorText, InstantNs, InstantText
from server.chart_pool import ChartPool
from server.errors import client_message
from server.metrics import ServerMetrics
from server.models import ChartInfo, EnrichedTrade, JumpEvent, Page, RealTimeRow, SignalRow, SymbolMetrics
from server.tools import market
from server.tools.analyst_sql import MAX_SQL_CHARS, SqlPage, run_analyst_sql, tool_description
from server.tools.chart import render_chart
from server.tools.chart_draw import draw_chart
from server.tools.jump_memory import JumpMemory
from server.tools.latest import LatestRows
from server.tools.signal_memory import SignalMemory
from server.tools.schema_doc import describe_views
from sql.backend import Storage, StorageError
from sql.settings import Settings

__all__ = ["READ_TOOL_NAMES", "TOOL_NAMES", "build_server"]

TOOL_NAMES = (
    "get_enriched_data",
    "get_trading_signals",
    "get_jump_events",
    "get_symbol_metrics",
    "get_real_time_data",
    "get_chart",
    "query",
)

#: The tools whose result is one typed page (every tool but the chart's image).
READ_TOOL_NAMES = TOOL_NAMES[:5]

P = ParamSpec("P")
R = TypeVar("R")

_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)

Symbol = Annotated[
    str, Field(description="ticker, e.g. AAPL or BTC-USD (case-insensitive)", pattern=TICKER_PATTERN)
]
OneSymbol = Annotated[
    str | None, Field(description="one ticker; omit (and omit symbols) for all", pattern=TICKER_PATTERN)
]
Symbols = Annotated[
    list[Annotated[str, Field(pattern=TICKER_PATTERN)]] | None,
    Field(min_length=1, max_length=market.MAX_SYMBOLS, description="several tickers instead of symbol"),
]
HoursBack = Annotated[
    float | None,
    Field(gt=0, le=24 * 366, description="look back this many hours from now; do not combine with start"),
]
Start = Annotated[
    InstantText | InstantNs | None,
    Field(description="window start: ISO-8601 (e.g. 2026-01-02T14:30:00Z, UTC if no offset) or ns since epoch"),
]
End = Annotated[
    InstantText | InstantNs | None, Field(description="window end (exclusive), same formats as start; default now")
]
Cursor = Annotated[
    CursorText | None, Field(description="next_cursor of a previous answer, to get the next older page")
]


def _instrumented(metrics: ServerMetrics, tool: Callable[P, R]) -> Callable[P, R]:
    """Count and time the tool; report bad arguments and database failures as an ``isError`` result.

    The SDK hides the text of any other exception (a crash, logged with its traceback). The docstring,
    which the SDK sends as the tool's description, loses its source indentation.
    """

    @functools.wraps(tool)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with metrics.observe(tool.__name__, "mcp"):
            try:
                return tool(*args, **kwargs)
            except ValueError as exc:
                raise ToolError(str(exc)) from exc
            except StorageError as exc:  # the database's own words stay in the log (server/errors.py)
                raise ToolError(client_message(exc, tool.__name__)) from exc

    call.__doc__ = inspect.cleandoc(tool.__doc__ or "")
    return call


def build_server(
    settings: Settings,
    storage: Storage,
    metrics: ServerMetrics | None = None,
    latest: LatestRows | None = None,
    jumps: JumpMemory | None = None,
    signals: SignalMemory | None = None,
    charts: ChartPool | None = None,
) -> MCPServer:
    """Build the MCP server over ``storage``.

    Parameters
    ----------
    settings
        Supplies the row limits and the bar grid.
    storage
        Where the tools read; every read runs in a read-only, time-limited transaction.
    metrics
        Where calls are counted and timed (a fresh registry when omitted).
    latest, jumps, signals
        The newest rows kept in memory for ``get_real_time_data``, the jump events for
        ``get_jump_events`` and the newest bars per symbol for ``get_trading_signals``; when omitted,
        attached to ``storage`` here (none for storages that do not tell of their writes).
    charts
        The chart worker processes ``get_chart`` draws in; without it, charts are drawn in this process.
    """
    metrics = metrics or ServerMetrics()
    latest = latest or LatestRows.attach(storage, settings.bar_seconds)
    jumps = jumps or JumpMemory.attach(storage, settings.bar_seconds)
    signals = signals or SignalMemory.attach_kept(storage, settings.bar_seconds, row_model=SignalRow,
                                                  kept=settings.mcp_kept_bars)
    mcp = MCPServer(
        "microstructure",
        version="0.1.0",
        instructions=(
            "Market-microstructure analytics over Polygon trades: per-bar signals (Lee-Mykland jumps, "
            "volatility, BNS, VPIN, BUY/SELL/HOLD research signals), daily metrics and trades enriched with "
            "them. Times are UTC; lists are newest first and paged with next_cursor. Start with "
            "get_real_time_data for an overview; the resource schema://views documents the SQL views."
        ),
    )
    Limit = Annotated[
        int, Field(ge=1, le=settings.mcp_max_rows, description=f"rows per page, 1-{settings.mcp_max_rows}")
    ]
    default_limit = min(settings.mcp_default_rows, settings.mcp_max_rows)
    bar_seconds = settings.bar_seconds

    def tool(title: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        def register(fn: Callable[P, R]) -> Callable[P, R]:
            return mcp.tool(title=title, annotations=_READ_ONLY)(_instrumented(metrics, fn))

        return register

    @tool("Trades enriched with signals")
    def get_enriched_data(
        symbol: Symbol,
        limit: Limit = default_limit,
        hours_back: HoursBack = None,
        start: Start = None,
        end: End = None,
        cursor: Cursor = None,
    ) -> Page[EnrichedTrade]:
        """Individual trades of one symbol, newest first, each with the signals of the last completed bar
        before it (volatility, Lee-Mykland jump statistic and flag, VPIN, BUY/SELL/HOLD with its reason), and
        whether Polygon's sale-condition rules let the print set the price (sets_price) and count in volume
        (counts_volume): odd lots, average-price and out-of-sequence prints never set a bar's close.
        Use it to see what happened trade by trade; use get_trading_signals for one row per bar."""
        return market.enriched_data(
            storage, symbol=symbol, limit=limit, bar_seconds=bar_seconds,
            hours_back=hours_back, start=start, end=end, cursor=cursor,
        )  # fmt: skip

    @tool("Per-bar trading signals")
    def get_trading_signals(
        symbol: OneSymbol = None,
        symbols: Symbols = None,
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
        log return, GARCH volatility and standardized return, Lee-Mykland jump statistic/threshold/flag,
        BNS statistic, trade-intensity z-score, ACD duration, VPIN and its CDF, and a BUY/SELL/HOLD research
        signal with the reason in words; the bar's quote measures (quoted, effective spread, Lee-Ready volumes,
        imbalances, VPIN by Lee-Ready) and its realized_spread and price_impact at horizon_seconds, which stay
        null until the bar's horizon has passed. Filter by symbol(s), signal_type and time window."""
        return market.trading_signals(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds,
            signal_type=signal_type, hours_back=hours_back, start=start, end=end, cursor=cursor,
            on_path=functools.partial(metrics.count_path, "get_trading_signals"), latest=latest,
            memory=signals,
        )  # fmt: skip

    @tool("Detected price jumps")
    def get_jump_events(
        symbol: OneSymbol = None,
        symbols: Symbols = None,
        limit: Limit = default_limit,
        direction: Annotated[market.Direction | None, Field(description="only up or only down jumps")] = None,
        min_abs_stat: Annotated[
            float | None, Field(ge=0, le=1e6, description="only jumps with |Lee-Mykland statistic| at least this")
        ] = None,
        hours_back: HoursBack = None,
        start: Start = None,
        end: End = None,
        cursor: Cursor = None,
    ) -> Page[JumpEvent]:
        """Bars where the Lee-Mykland test detected a price jump (|statistic| above its threshold at the
        configured significance), newest first, with direction (up/down), the bar's return and how far the
        statistic exceeded the threshold. Omit symbol to scan every symbol."""
        return market.jump_events(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds, direction=direction,
            min_abs_stat=min_abs_stat, hours_back=hours_back, start=start, end=end, cursor=cursor, jumps=jumps,
            on_path=functools.partial(metrics.count_path, "get_jump_events"),
        )  # fmt: skip

    @tool("Daily metrics per symbol")
    def get_symbol_metrics(
        symbol: OneSymbol = None,
        symbols: Symbols = None,
        limit: Limit = default_limit,
        hours_back: HoursBack = None,
        start: Start = None,
        end: End = None,
        cursor: Cursor = None,
    ) -> Page[SymbolMetrics]:
        """One row per symbol per day (UTC date), newest day first: trades, volume, VWAP, open/high/low/close,
        realized variance, bipower variation, the daily BNS jump statistic, the number of Lee-Mykland jumps,
        mean and max VPIN, the last signal and the day's quoted and effective spreads. Use it to compare days or
        symbols."""
        return market.symbol_metrics(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds,
            hours_back=hours_back, start=start, end=end, cursor=cursor,
        )  # fmt: skip

    @tool("Latest state per symbol")
    def get_real_time_data(
        symbol: OneSymbol = None,
        symbols: Symbols = None,
        limit: Limit = default_limit,
    ) -> Page[RealTimeRow]:
        """The current picture per symbol: the newest completed bar with all its signals, the last trade
        (price, size, time) and how many seconds old the trade and the bar are. Omit symbol for every symbol
        (alphabetical). Start here for an overview. The bar's realized_spread and price_impact are null until
        its horizon (horizon_seconds) has passed, so a live symbol's newest bar has none yet."""
        return market.real_time_data(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds, latest=latest,
            on_path=functools.partial(metrics.count_path, "get_real_time_data"),
        )  # fmt: skip

    @tool("Chart of price, jumps, signals and VPIN")
    def get_chart(
        symbol: Symbol,
        hours_back: HoursBack = None,
        start: Start = None,
        end: End = None,
        max_bars: Annotated[int, Field(ge=10, le=5000, description="newest bars to draw")] = 600,
    ) -> Annotated[CallToolResult, ChartInfo]:
        """A PNG chart of one symbol: bar close price with detected jumps circled and BUY/SELL signals marked,
        and VPIN underneath. For clients that display images; the structured result says what is drawn."""
        png, info = render_chart(
            storage, symbol=symbol, bar_seconds=bar_seconds, max_bars=max_bars,
            hours_back=hours_back, start=start, end=end, draw=draw_chart if charts is None else charts.draw,
        )  # fmt: skip
        image = ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png")
        return CallToolResult(content=[image], structured_content=info.model_dump())

    def query(
        sql: Annotated[
            str, Field(min_length=1, max_length=MAX_SQL_CHARS, description="one SELECT (or WITH ... SELECT)")
        ],
        limit: Limit = default_limit,
    ) -> SqlPage:
        return run_analyst_sql(storage, settings, sql, limit).page

    mcp.tool(title="Read-only SQL", description=tool_description(settings), annotations=_READ_ONLY)(
        _instrumented(metrics, query)
    )

    @mcp.resource(
        "schema://views",
        name="views",
        title="Tables and views for SQL",
        description="Every table and view with its columns, types and meaning: what you need to write SQL.",
        mime_type="text/markdown",
    )
    def views() -> str:
        return describe_views(storage)

    @mcp.prompt(name="analyse_symbol", title="Analyse a symbol")
    def analyse_symbol(symbol: Annotated[str, Field(description="ticker, e.g. AAPL", pattern=TICKER_PATTERN)]) -> str:
        """Study one symbol's recent microstructure with the tools and summarise what stands out."""
        ticker = symbol.strip().upper()
        return (
            f"Analyse the recent market microstructure of {ticker}.\n"
            f"1. Call get_real_time_data with symbol={ticker} for the current state and data age.\n"
            f"2. Call get_trading_signals with symbol={ticker}, hours_back=6 and look at volatility (garch_sigma), "
            "trade intensity z-scores, VPIN and its CDF.\n"
            f"3. Call get_jump_events with symbol={ticker}, hours_back=72: when, which direction, how large.\n"
            f"4. Call get_symbol_metrics with symbol={ticker} to compare today with previous days (realized "
            "variance, BNS statistic, jump count).\n"
            "Then summarise in a few sentences: the volatility regime, jumps and whether they cluster, signs of "
            "toxic order flow (VPIN CDF above 0.9), and the latest signal with its reason. Cite the numbers and "
            "times (UTC). These are research signals, not investment advice."
        )

    return mcp
