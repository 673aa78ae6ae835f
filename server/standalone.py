"""Single-purpose processes: ``serve`` (read-only server) and ``transform`` (signals only)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from server.owner import find_owner, owning_database
from sql.backend import open_storage
from sql.settings import Settings

__all__ = ["serve", "transform"]

log = logging.getLogger("microstructure.serve")


def serve(settings: Settings, *, transport: str) -> None:
    """Serve the MCP tools over a database that no other process holds for writing.

    With DuckDB the file is opened read-only. Over stdio, while a process that owns the file serves HTTP
    (``demo``, ``up`` with the serve role; found through its runtime file), the tools are that process's:
    stdio is bridged to its ``/mcp``. Otherwise a held file is refused with one line naming the holder.
    """
    # the HTTP and MCP stack is imported here, not with the module: ``transform --once`` would pay ~0.6-1 s of
    # imports for it before its run (BENCHMARKS.md, transform end to end, helper tspeed2)
    import uvicorn

    from server.http_server import http_config
    from server.listen import bind_listener
    from server.mcp import build_server
    from server.stdio_bridge import bridge_stdio

    if transport == "stdio" and settings.db_backend == "duckdb":
        owner = find_owner(settings.duckdb_path)
        if owner is not None and owner.url:
            log.info("%s is held by pid %d: bridging stdio to %s/mcp", settings.duckdb_path, owner.pid, owner.url)
            token = settings.mcp_auth_token.get_secret_value() if settings.mcp_auth_token else None
            asyncio.run(bridge_stdio(f"{owner.url}/mcp", token=token,
                                     timeout_s=settings.mcp_query_timeout_ms / 1000 + 30))  # fmt: skip
            return
    storage = open_storage(settings, read_only=True)
    try:
        if transport == "stdio":
            build_server(settings, storage).run("stdio")
        else:
            listener = bind_listener(settings.mcp_host, settings.mcp_port)  # a taken port: one line, no "serving"
            log.info("serving http://%s:%d/mcp", settings.mcp_host, listener.getsockname()[1])
            try:
                uvicorn.Server(http_config(settings, storage)).run(sockets=[listener])
            except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it stopped for; uvicorn.run swallows it too
                pass
    finally:
        storage.close()


def _progress_line(done: int, total: int) -> None:
    """Draw a one-line progress bar on stderr (only on a terminal: logs stay clean)."""
    if not sys.stderr.isatty() or total <= 0:
        return
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\rtransform [{'#' * filled}{'.' * (width - filled)}] {done}/{total} symbols")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def transform(settings: Settings, *, follow: bool, recompute: bool = False, symbols: Sequence[str] | None = None,
              since_ns: int | None = None) -> None:
    """Compute ``trading_signals`` for everything not yet processed; with ``follow``, keep doing it.

    A backend that can run the transform inside the database (Vertica's UDx) does so; otherwise the
    numba kernels run here. With ``recompute``, ``symbols`` (default all) are first moved back to their first
    trade, or to the session holding ``since_ns`` (:func:`udx.recompute.prepare_recompute`; a bad symbol
    raises ``ValueError`` before anything changes).
    """
    from udx.recompute import prepare_recompute
    from udx.transform import reset_stale_states, run_transform
    from udx.warm import warm_kernels

    if settings.db_backend == "duckdb":  # Vertica's storage runs the transform in the database: no kernels here
        warm_kernels()  # the cached kernels load while the file opens and its schema is checked (GIL released)
    storage = open_storage(settings)
    in_database = getattr(storage, "run_transform_in_database", None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with owning_database(settings, ["transform"]) as publish:
            publish(None)  # no server: others learn who holds the file, not where to ask
            storage.apply_schema()
            if recompute:
                prepare_recompute(storage, settings, symbols, since_ns)
            while True:
                if in_database is not None:
                    reset_stale_states(storage, settings)
                    summary = in_database(settings)
                else:
                    summary = run_transform(storage, settings, progress=_progress_line)
                log.info("transform: %s", summary)
                if not follow or stop.wait(settings.transform_interval_seconds):
                    break
    finally:
        storage.close()
