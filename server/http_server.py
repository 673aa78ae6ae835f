"""The one uvicorn configuration of every HTTP server process (``serve`` and the embedded ``up``/``demo``/``run``).

The app and the HTTP protocol share one :class:`~server.metrics.ServerMetrics`, so ``/metrics`` counts the
connections the protocol refused or closed (``server/http_limits.py``) beside the tool calls.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from server.app import build_app
from server.http_limits import ConnectionLimits, limited_protocol
from server.metrics import ServerMetrics
from sql.backend import Storage
from sql.settings import Settings

__all__ = ["http_config"]


def http_config(
    settings: Settings,
    storage: Storage,
    *,
    status: Callable[[], dict[str, Any]] | None = None,
    **options: Any,
) -> uvicorn.Config:
    """Return the uvicorn configuration serving :func:`server.app.build_app` with the connection limits, and
    set this process's GIL switch interval to ``MCP_SWITCH_INTERVAL_MS``.

    Parameters
    ----------
    settings
        ``MCP_HOST``, ``MCP_PORT``, ``MCP_MAX_CONNECTIONS``, ``MCP_KEEP_ALIVE_SECONDS``,
        ``MCP_HEADER_TIMEOUT_SECONDS``, ``MCP_BODY_TIMEOUT_SECONDS``, ``MCP_SWITCH_INTERVAL_MS`` and what the
        app reads.
    storage
        The database the app serves.
    status
        The hosting process's fields for ``/health`` (:func:`server.app.build_app`).
    **options
        Further ``uvicorn.Config`` arguments (e.g. ``lifespan="on"``).
    """
    # The event loop shares the GIL with the tool threads; each hand-over to it waits up to one interval.
    sys.setswitchinterval(settings.mcp_switch_interval_ms / 1000)
    metrics = ServerMetrics()
    limits = ConnectionLimits(
        max_connections=settings.mcp_max_connections,
        header_timeout_s=settings.mcp_header_timeout_seconds,
        body_timeout_s=settings.mcp_body_timeout_seconds,
        metrics=metrics,
    )
    return uvicorn.Config(
        build_app(settings, storage, status=status, metrics=metrics),
        host=settings.mcp_host,
        port=settings.mcp_port,
        log_level="warning",
        http=limited_protocol(limits),
        timeout_keep_alive=settings.mcp_keep_alive_seconds,  # type: ignore[arg-type]  # a float works (call_later)
        **options,
    )
