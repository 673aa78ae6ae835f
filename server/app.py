"""The HTTP app: MCP over Streamable HTTP at ``/mcp``, the seed-style curl body, REST ``/api/v1``,
``/health`` and ``/metrics``.

Layers, outermost first: the idle SSE stream limit (``server/stream_idle.py``) → Host/Origin guard → bearer
token (when set) → body limit (1 MiB, every route) → seed-style rewriting → the short path for stateless JSON
``tools/call`` of the read tools (``server/fast_path.py``, with the response cache) → FastAPI (own routes
first, then the MCP app mounted at the root so that its endpoint is exactly ``/mcp``).
The MCP endpoint is stateless and answers plain JSON, so ``curl`` needs no session and no SSE parsing.
``/health`` runs on a thread of its own (``server/health.py``). The connection cap and the header and body
deadlines live in the HTTP protocol (``server/http_limits.py``), set up by ``server/http_server.py``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from server.arguments import iso_utc
from server.asgi_body import BodyLimit
from server.auth import BearerAuth
from server.errors import client_message
from server.fast_path import FastToolCalls
from server.health import OwnThread
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


def _health(
    storage: Storage,
    status: Callable[[], dict[str, Any]] | None,
    kafka: Callable[[], dict[str, Any]] | None = None,
) -> JSONResponse:
    now = time.time_ns()
    body: dict[str, Any] = {"ok": True, "status": "ok", "as_of": iso_utc(now)}
    try:
        (newest_trade, newest_signal) = storage.query("health_summary", {}, 1).rows[0]
    except StorageError as exc:
        return JSONResponse({"ok": False, "status": "database unreachable", "error": client_message(exc, "/health"),
                             "errors": []}, status_code=503)  # fmt: skip
    body["database"] = "reachable"
    body["newest_trade_age_seconds"] = None if newest_trade is None else round((now - newest_trade) / 1e9, 3)
    body["newest_signal_age_seconds"] = None if newest_signal is None else round((now - newest_signal) / 1e9, 3)
    if status is not None:
        body.update(status())
    if kafka is not None:  # serve with KAFKA_BOOTSTRAP_SERVERS: the loader group's lag, read from the broker
        body["kafka"] = kafka()
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
    mcp = build_server(settings, storage, metrics, latest, jumps, signals)
    # A hosting process with a loader reports its lag through status; a plain server asks the broker.
    kafka = KafkaLagProbe(settings) if status is None and settings.kafka_bootstrap_servers else None
    health_check = OwnThread(lambda: _health(storage, status, kafka))
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
        try:
            async with mcp.session_manager.run():
                yield
        finally:  # the storage may outlive this app (tests, a second app on the same file)
            for kept in (latest, jumps, signals):
                if kept is not None:
                    kept.detach()
            health_check.close()

    api = FastAPI(
        title="microstructure",
        version="0.1.0",
        description="Market-microstructure signals over Polygon trades. The MCP endpoint is /mcp; these REST "
        "routes mirror its tools.",
        lifespan=lifespan,
    )
    add_error_handlers(api)
    api.include_router(build_router(settings, storage, metrics, latest, jumps, signals))

    @api.get("/health", summary="Liveness and data freshness (503 while starting or when the database fails)")
    async def health() -> JSONResponse:
        return await health_check()

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
    app = HostOriginGuard(app, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins)
    return StreamIdleLimit(app, idle_s=settings.mcp_stream_idle_seconds, metrics=metrics)
