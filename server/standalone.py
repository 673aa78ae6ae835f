"""Single-purpose processes: ``serve`` (read-only server) and ``transform`` (signals only)."""

from __future__ import annotations

import logging
import signal
import threading

import uvicorn

from server.app import build_app
from server.mcp import build_server
from sql.backend import open_storage
from sql.settings import Settings

__all__ = ["serve", "transform"]

log = logging.getLogger("microstructure.serve")


def serve(settings: Settings, *, transport: str) -> None:
    """Serve the MCP tools over a database that no other process holds for writing.

    With DuckDB the file is opened read-only; while a demo or loader process holds it, DuckDB refuses and
    the error says so (use that process's own server instead).
    """
    storage = open_storage(settings, read_only=True)
    try:
        if transport == "stdio":
            build_server(settings, storage).run("stdio")
        else:
            log.info("serving http://%s:%d/mcp", settings.mcp_host, settings.mcp_port)
            uvicorn.run(
                build_app(settings, storage), host=settings.mcp_host, port=settings.mcp_port, log_level="warning"
            )
    finally:
        storage.close()


def transform(settings: Settings, *, follow: bool) -> None:
    """Compute ``trading_signals`` for everything not yet processed; with ``follow``, keep doing it."""
    from udx.transform import run_transform

    storage = open_storage(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        storage.apply_schema()
        while True:
            summary = run_transform(storage, settings)
            log.info("transform: %s", summary)
            if not follow or stop.wait(settings.transform_interval_seconds):
                break
    finally:
        storage.close()
