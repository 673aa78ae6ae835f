"""REST mirrors of the tools under ``/api/v1`` (FastAPI documents them at ``/openapi.json`` and ``/docs``).

Same functions, limits and messages as the MCP tools. Errors have one shape, ``{"ok": false, "error",
"errors", "status"}``: 400 for a bad argument or a refused or invalid SQL statement, 404 for an unknown
symbol, 504 when a query passes the time limit, 503 when the database fails (a generic message with an error
id, the detail in the log: ``server/errors.py``). No ``from __future__ import annotations``: FastAPI
evaluates the routes' annotations, which use local types built from the settings.
"""

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from server.arguments import TICKER_PATTERN, CursorText, InstantText
from server.chart_pool import ChartPool
from server.errors import client_message
from server.metrics import ServerMetrics
from server.models import EnrichedTrade, ErrorBody, JumpEvent, Page, RealTimeRow, SignalRow, SymbolMetrics
from server.tools import market
from server.tools.analyst_sql import MAX_SQL_CHARS, MEDIA_TYPES, Format, SqlPage, encode, run_analyst_sql
from server.tools.jump_memory import JumpMemory
from server.tools.latest import LatestRows
from server.tools.signal_memory import SignalMemory
from server.tools.chart import render_chart
from server.tools.chart_draw import draw_chart
from sql.backend import QueryTimeout, Storage, StorageError
from sql.settings import Settings

__all__ = ["add_error_handlers", "build_router", "error_body"]

T = TypeVar("T")


def error_body(status: int, error: str, errors: list[Any] | None = None) -> JSONResponse:
    """The one error shape of every HTTP route."""
    return JSONResponse({"ok": False, "error": error, "errors": errors or [], "status": status}, status_code=status)


def add_error_handlers(app: FastAPI) -> None:
    """Map validation, argument and database errors to the one error shape."""

    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"argument": ".".join(str(p) for p in e["loc"][1:]), "message": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{e['argument']}: {e['message']}" for e in errors)
        return error_body(400, f"invalid arguments: {summary}", errors)

    async def bad_argument(_: Request, exc: ValueError) -> JSONResponse:
        return error_body(404 if isinstance(exc, market.UnknownSymbol) else 400, str(exc))

    async def timeout(_: Request, exc: QueryTimeout) -> JSONResponse:
        return error_body(504, str(exc))

    async def storage_error(request: Request, exc: StorageError) -> JSONResponse:
        return error_body(503, client_message(exc, request.url.path))

    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(ValueError, bad_argument)  # type: ignore[arg-type]
    app.add_exception_handler(QueryTimeout, timeout)  # type: ignore[arg-type]
    app.add_exception_handler(StorageError, storage_error)  # type: ignore[arg-type]


def build_router(
    settings: Settings, storage: Storage, metrics: ServerMetrics, latest: LatestRows | None = None,
    jumps: JumpMemory | None = None, signals: SignalMemory | None = None, charts: ChartPool | None = None,
) -> APIRouter:
    """Build the ``/api/v1`` routes over ``storage`` (``latest``, ``jumps``, ``signals``: rows kept in
    memory, if any; ``charts``: the chart worker processes, else charts are drawn in this process)."""
    router = APIRouter(
        prefix="/api/v1",
        tags=["tools"],
        responses={
            400: {"model": ErrorBody, "description": "an argument is invalid; the message names it"},
            404: {"model": ErrorBody, "description": "no trades are stored for a symbol named"},
            503: {"model": ErrorBody, "description": "the database failed"},
            504: {"model": ErrorBody, "description": "the query passed MCP_QUERY_TIMEOUT_MS"},
        },
    )
    bar_seconds = settings.bar_seconds
    Limit = Annotated[int, Query(ge=1, le=settings.mcp_max_rows, description="rows per page")]
    default_limit = min(settings.mcp_default_rows, settings.mcp_max_rows)
    OneSymbol = Annotated[str | None, Query(pattern=TICKER_PATTERN, description="one ticker")]
    Symbols = Annotated[
        list[Annotated[str, Query(pattern=TICKER_PATTERN)]] | None,
        Query(max_length=market.MAX_SYMBOLS, description="several tickers (repeat the parameter)"),
    ]
    HoursBack = Annotated[float | None, Query(gt=0, le=24 * 366)]
    When = Annotated[InstantText | None, Query(description="ISO-8601 or ns since the epoch")]
    Cursor = Annotated[CursorText | None, Query()]

    def observed(tool: str, call: Callable[[], T]) -> T:
        with metrics.observe(tool, "rest"):
            return call()

    @router.get("/enriched-data", response_model=Page[EnrichedTrade], summary="get_enriched_data")
    def enriched_data(
        symbol: Annotated[str, Query(pattern=TICKER_PATTERN)], limit: Limit = default_limit, hours_back: HoursBack = None,
        start: When = None, end: When = None, cursor: Cursor = None,
    ) -> Page[EnrichedTrade]:  # fmt: skip
        return observed("get_enriched_data", lambda: market.enriched_data(
            storage, symbol=symbol, limit=limit, bar_seconds=bar_seconds, hours_back=hours_back, start=start,
            end=end, cursor=cursor))  # fmt: skip

    @router.get("/trading-signals", response_model=Page[SignalRow], summary="get_trading_signals")
    def trading_signals(
        symbol: OneSymbol = None, symbols: Symbols = None, limit: Limit = default_limit,
        signal_type: market.SignalType | None = None, hours_back: HoursBack = None, start: When = None,
        end: When = None, cursor: Cursor = None,
    ) -> Page[SignalRow]:  # fmt: skip
        return observed("get_trading_signals", lambda: market.trading_signals(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds,
            signal_type=signal_type, hours_back=hours_back, start=start, end=end, cursor=cursor,
            on_path=functools.partial(metrics.count_path, "get_trading_signals"), latest=latest,
            memory=signals))  # fmt: skip

    @router.get("/jump-events", response_model=Page[JumpEvent], summary="get_jump_events")
    def jump_events(
        symbol: OneSymbol = None, symbols: Symbols = None, limit: Limit = default_limit,
        direction: market.Direction | None = None, min_abs_stat: Annotated[float | None, Query(ge=0, le=1e6)] = None,
        hours_back: HoursBack = None, start: When = None, end: When = None, cursor: Cursor = None,
    ) -> Page[JumpEvent]:  # fmt: skip
        return observed("get_jump_events", lambda: market.jump_events(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds, direction=direction,
            min_abs_stat=min_abs_stat, hours_back=hours_back, start=start, end=end, cursor=cursor, jumps=jumps,
            on_path=functools.partial(metrics.count_path, "get_jump_events")))  # fmt: skip

    @router.get("/symbol-metrics", response_model=Page[SymbolMetrics], summary="get_symbol_metrics")
    def symbol_metrics(
        symbol: OneSymbol = None, symbols: Symbols = None, limit: Limit = default_limit,
        hours_back: HoursBack = None, start: When = None, end: When = None, cursor: Cursor = None,
    ) -> Page[SymbolMetrics]:  # fmt: skip
        return observed("get_symbol_metrics", lambda: market.symbol_metrics(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds, hours_back=hours_back,
            start=start, end=end, cursor=cursor))  # fmt: skip

    @router.get("/real-time-data", response_model=Page[RealTimeRow], summary="get_real_time_data")
    def real_time_data(
        symbol: OneSymbol = None, symbols: Symbols = None, limit: Limit = default_limit
    ) -> Page[RealTimeRow]:
        return observed("get_real_time_data", lambda: market.real_time_data(
            storage, symbol=symbol, symbols=symbols, limit=limit, bar_seconds=bar_seconds, latest=latest,
            on_path=functools.partial(metrics.count_path, "get_real_time_data")))  # fmt: skip

    @router.get(
        "/chart/{symbol}.png", summary="get_chart", response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "PNG chart"}},
    )  # fmt: skip
    def chart(
        symbol: Annotated[str, Path(pattern=TICKER_PATTERN)], hours_back: HoursBack = None, start: When = None, end: When = None,
        max_bars: Annotated[int, Query(ge=10, le=5000)] = 600,
    ) -> Response:  # fmt: skip
        png, _ = observed("get_chart", lambda: render_chart(
            storage, symbol=symbol, bar_seconds=bar_seconds, max_bars=max_bars, hours_back=hours_back,
            start=start, end=end, draw=draw_chart if charts is None else charts.draw))  # fmt: skip
        return Response(png, media_type="image/png")

    class SqlRequest(BaseModel):
        sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS, description="one SELECT (or WITH ... SELECT)")
        limit: int | None = Field(None, ge=1, le=settings.mcp_max_rows, description="rows wanted (default "
                                  f"{default_limit})")  # fmt: skip
        format: Format | None = Field(None, description="answer format; default from Accept, else json")

    binary = {"schema": {"type": "string", "format": "binary"}}

    @router.post(
        "/sql", summary="query: one read-only SQL statement over the documented tables and views",
        response_model=SqlPage,
        responses={
            200: {"content": {MEDIA_TYPES["csv"]: {"schema": {"type": "string"}}, MEDIA_TYPES["arrow"]: binary,
                              MEDIA_TYPES["parquet"]: binary},
                  "description": "rows as JSON (the MCP tool's result), CSV, Arrow IPC stream or Parquet; "
                                 "X-Row-Count and X-Truncated headers on every format"},
            406: {"model": ErrorBody, "description": "Accept names no format offered"},
        },
    )  # fmt: skip
    def sql(
        request: Annotated[SqlRequest, Body()], accept: Annotated[str | None, Header()] = None
    ) -> Response:
        """The MCP tool `query` over HTTP: same check, limits and result; the format from `format` or `Accept`."""
        fmt = request.format or _negotiate(accept)
        if fmt is None:
            return error_body(406, f"Accept {accept!r} names no offered format: {', '.join(MEDIA_TYPES.values())}")
        answer = observed("query", lambda: run_analyst_sql(storage, settings, request.sql, request.limit))
        headers = {"X-Row-Count": str(answer.page.count), "X-Truncated": str(answer.page.truncated).lower()}
        return Response(encode(answer, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)

    return router


def _negotiate(accept: str | None) -> Format | None:
    """The first format ``Accept`` names (JSON for none, ``*/*`` or ``application/*``); ``None`` for none offered."""
    if not accept:
        return "json"
    by_type = {media: fmt for fmt, media in MEDIA_TYPES.items()}
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in by_type:
            return by_type[media]
        if media in ("*/*", "application/*"):
            return "json"
    return None
