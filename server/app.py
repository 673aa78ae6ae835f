"""The HTTP app: MCP over Streamable HTTP at ``/mcp``, the seed-style curl body, REST ``/api/v1``,
``/health`` and ``/metrics``.

Layers, outermost first: the idle SSE stream limit (``server/stream_idle.py``) → Host/Origin guard → bearer
token (when set) → body limit (1 MiB, every route) → seed-style rewriting → the short path for stateless JSON
``tools/call`` of the read tools (``server/fast_path.py``, with the response cache) → FastAPI (own routes
first, then the MCP app mounted at the root so that its endpoint is exactly ``/mcp``).
The MCP endpoint is stateless and answers plain JSON, so ``curl`` needs no session and no SSE parsing.
``/health`` is answered on the event loop from the newest check, run on a thread of its own, right after
the Host/Origin guard (``server/health.py``). The connection cap and the header and body
deadlines live in the HTTP protocol (``server/http_limits.py``), set up by ``server/http_server.py``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from server.arguments import iso_utc
from server.asgi_body import BodyLimit
from server.auth import BearerAuth
from server.chart_pool import ChartPool
from server.errors import client_message
from server.fast_path import FastToolCalls
from server.health import HealthFirst, RecentCheck
from server.kafka_lag import KafkaLagProbe
from server.mcp import READ_TOOL_NAMES, TOOL_NAMES, build_server
from server.metrics import ServerMetrics
from server.models import SignalRow
from server.response_cache import ResponseCache
from server.rest import add_error_handlers, build_router
from server.security import HostOriginGuard, split_list
from server.seed_rpc import SeedRpcAdapter
from server.stream_idle import StreamIdleLimit
from server.tools.jump_memory import JumpMemory
from server.tools.latest import LatestRows
from server.tools.signal_memory import SignalMemory
from sql.backend import Storage, StorageError
from sql.settings import Settings

__all__ = ["build_app"]

MAX_BODY_BYTES = 1 << 20


def _database_check(storage: Storage, kafka: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
    """The blocking part of ``/health``: the newest trade and signal times, and the Kafka lag of a plain server."""
    checked = time.time_ns()
    try:
        (newest_trade, newest_signal) = storage.query("health_summary", {}, 1).rows[0]
    except StorageError as exc:
        return {"error": client_message(exc, "/health"), "checked_ns": checked}
    found: dict[str, Any] = {"newest_trade_ns": newest_trade, "newest_signal_ns": newest_signal, "checked_ns": checked}
    if kafka is not None:  # serve with KAFKA_BOOTSTRAP_SERVERS: the loader group's lag, read from the broker
        found["kafka"] = kafka()
    return found


def _age_seconds(now: int, then: int | None) -> float | None:
    return None if then is None else round((now - then) / 1e9, 3)


def _health(check: dict[str, Any], status: Callable[[], dict[str, Any]] | None) -> JSONResponse:
    """The ``/health`` answer from the newest :func:`_database_check` and the hosting process's fields now."""
    now = time.time_ns()
    if "error" in check:
        return JSONResponse({"ok": False, "status": "database unreachable", "error": check["error"], "errors": [],
                             "checked_at": iso_utc(check["checked_ns"])}, status_code=503)  # fmt: skip
    body: dict[str, Any] = {"ok": True, "status": "ok", "as_of": iso_utc(now), "database": "reachable",
                            "checked_at": iso_utc(check["checked_ns"]),
                            "newest_trade_age_seconds": _age_seconds(now, check["newest_trade_ns"]),
                            "newest_signal_age_seconds": _age_seconds(now, check["newest_signal_ns"])}  # fmt: skip
    if status is not None:
        body.update(status())
    if "kafka" in check:  # the broker's reading, as old as it is now
        kafka = check["kafka"]
        body["kafka"] = {**kafka, "age_seconds": round(kafka["age_seconds"] + (now - check["checked_ns"]) / 1e9, 3)}
    if body.get("ready") is False:  # the hosting process is still loading: not ready to answer yet
        body.update(ok=False, status="starting")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


def build_app(
    settings: Settings,
    storage: Storage,
    *,
    status: Callable[[], dict[str, Any]] | None = None,
    fast_path: bool = True,
    metrics: ServerMetrics | None = None,
) -> ASGIApp:
    """Build the ASGI app serving ``storage``.

    Parameters
    ----------
    settings
        Host/Origin allow-lists, auth token, limits.
    storage
        Read through named, read-only, time-limited queries.
    status
        Extra fields for ``/health`` from the hosting process (e.g. the demo's phase and counters, and the
        Kafka lag of its loader). Without it and with ``KAFKA_BOOTSTRAP_SERVERS`` set, ``/health`` reads the
        lag of ``KAFKA_GROUP_ID`` from the broker (cached a few seconds).
    fast_path
        Answer stateless JSON ``tools/call`` of the read tools without the SDK's transport (same bytes);
        ``False`` leaves every request to the SDK (for comparisons).
    metrics
        Where the app counts (shared with the HTTP protocol's limits by ``server.http_server``); a new
        registry when not given.
    """
    metrics = metrics or ServerMetrics()
    latest = LatestRows.attach(storage, settings.bar_seconds)  # one copy of each for MCP and REST
    jumps = JumpMemory.attach(storage, settings.bar_seconds)
    signals = SignalMemory.attach_kept(storage, settings.bar_seconds, row_model=SignalRow,
                                       kept=settings.mcp_kept_bars)
    charts = ChartPool(workers=settings.mcp_chart_workers, timeout_ms=settings.mcp_chart_timeout_ms)
    mcp = build_server(settings, storage, metrics, latest, jumps, signals, charts)
    # A hosting process with a loader reports its lag through status; a plain server asks the broker.
    kafka = KafkaLagProbe(settings) if status is None and settings.kafka_bootstrap_servers else None
    health_check = RecentCheck(lambda: _database_check(storage, kafka), max_age_s=settings.mcp_health_max_age_ms / 1000,
                               grace_s=settings.mcp_query_timeout_ms / 1000)  # fmt: skip
    allowed_hosts = split_list(settings.mcp_allowed_hosts)
    allowed_origins = split_list(settings.mcp_allowed_origins)
    mcp_app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        max_request_body_size=MAX_BODY_BYTES,
        transport_security=TransportSecuritySettings(allowed_hosts=allowed_hosts, allowed_origins=allowed_origins),
        host=settings.mcp_host,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A mounted app's own lifespan never runs: the session manager is entered here.
        # Calls beyond MCP_WORKER_THREADS wait on the loop for a thread: fewer threads contend for the GIL
        # (and keep a DuckDB cursor each), so the loop, and /health with it, keeps answering under load.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.mcp_worker_threads
        try:
            async with mcp.session_manager.run():
                yield
        finally:  # the storage may outlive this app (tests, a second app on the same file)
            for kept in (latest, jumps, signals):
                if kept is not None:
                    kept.detach()
            health_check.close()
            charts.close()

    api = FastAPI(
        title="microstructure",
        version="0.1.0",
        description="Market-microstructure signals over Polygon trades. The MCP endpoint is /mcp; these REST "
        "routes mirror its tools.",
        lifespan=lifespan,
    )
    add_error_handlers(api)
    api.include_router(build_router(settings, storage, metrics, latest, jumps, signals, charts))

    @api.get("/health", summary="Liveness and data freshness (503 while starting or when the database fails)")
    async def health() -> JSONResponse:  # answered by HealthFirst below; the route describes it in OpenAPI
        return _health(await health_check(), status)

    @api.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics() -> Response:  # no I/O: on the event loop, never behind the tool calls
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    api.mount("/", mcp_app)

    cache = None
    if settings.mcp_response_cache_ms > 0:
        cache = ResponseCache(storage, check_ms=settings.mcp_response_cache_ms,
                              max_bytes=settings.mcp_response_cache_bytes)  # fmt: skip
        metrics.cache_bytes.set_function(lambda: cache.bytes)
        metrics.cache_entries.set_function(lambda: len(cache))
    app: ASGIApp = api
    if fast_path:
        app = FastToolCalls(
            api, mcp=mcp, tools=READ_TOOL_NAMES, metrics=metrics, cache=cache, max_body_bytes=MAX_BODY_BYTES
        )
    app = SeedRpcAdapter(app, path="/mcp", tool_names=TOOL_NAMES, max_body_bytes=MAX_BODY_BYTES)
    app = BodyLimit(app, max_bytes=MAX_BODY_BYTES)  # every route, REST bodies included
    if settings.mcp_auth_token is not None:
        app = BearerAuth(app, token=settings.mcp_auth_token.get_secret_value(), open_paths=frozenset({"/health"}))
    app = HealthFirst(app, answer=health)  # open to all, before any other work; Host and Origin still checked
    app = HostOriginGuard(app, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins)
    return StreamIdleLimit(app, idle_s=settings.mcp_stream_idle_seconds, metrics=metrics)
