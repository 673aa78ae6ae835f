"""The embedded process (DESIGN §3): feed, loader, transform loop and HTTP server around one DuckDB file.

``demo`` backfills simulated history, starts the local Polygon-protocol simulator and ingests its live
feed through the real ``polygon-api-client``; ``run`` does the same against the real Polygon feed. The
HTTP server starts first, so ``/health`` answers (and reports the phase) while history loads.

Shutdown (Ctrl-C or SIGTERM): the feeds stop and flush what they hold, the transform finishes its pass,
the server drains, and the database is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import uvicorn

from server.app import build_app
from sql.backend import Storage, StorageError, open_storage
from sql.settings import Settings

__all__ = ["DEMO_SESSION", "run_embedded"]

log = logging.getLogger("microstructure.embedded")

#: The simulated stocks trade around the clock, so the demo shows signals at any hour.
DEMO_SESSION = "00:00-24:00 UTC"


@dataclass
class EmbeddedStatus:
    """What ``/health`` reports about the hosting process."""

    mode: str
    phase: str = "starting"
    ready: bool = False
    backfilled_trades: int = 0
    transform_passes: int = 0
    bars_written: int = 0
    transform_errors: int = 0
    started_at_ns: int = field(default_factory=time.time_ns)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields for the health document (``ready`` false answers 503)."""
        return asdict(self)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _curl_examples(settings: Settings) -> str:
    url = f"http://{settings.mcp_host}:{settings.mcp_port}/mcp"
    auth = " -H 'Authorization: Bearer $MCP_AUTH_TOKEN'" if settings.mcp_auth_token else ""
    calls = [
        ("get_enriched_data", '{"symbol":"AAPL","limit":100,"hours_back":1}'),
        ("get_trading_signals", '{"symbol":"AAPL","limit":50}'),
        ("get_jump_events", '{"hours_back":24,"limit":100}'),
    ]
    lines = [f"curl -s {url}{auth} -H 'Content-Type: application/json' \\\n  -d '{{\"method\":\"{name}\",\"params\":{params},\"id\":\"1\"}}'" for name, params in calls]
    return "\n\n".join(lines)


async def _transform_loop(
    storage: Storage, settings: Settings, status: EmbeddedStatus, first_pass: asyncio.Event
) -> None:
    """Run the incremental transform every ``TRANSFORM_INTERVAL_SECONDS``; a failed pass is logged and retried.

    ``first_pass`` is set once a pass has succeeded: from then on the signals cover the history.
    """
    from udx.transform import run_transform

    while True:
        try:
            summary = await asyncio.to_thread(run_transform, storage, settings)
        except Exception:  # noqa: BLE001 - counted, logged with traceback, retried next interval
            status.transform_errors += 1
            log.exception("transform pass failed; retrying in %.1fs", settings.transform_interval_seconds)
        else:
            status.transform_passes += 1
            status.bars_written += summary.bars
            first_pass.set()
            if summary.bars:
                log.info("transform: %d bars for %d symbols in %.2fs", summary.bars, summary.symbols, summary.seconds)
        await asyncio.sleep(settings.transform_interval_seconds)


async def _backfill(storage: Storage, settings: Settings, market: Any, status: EmbeddedStatus) -> Any:
    """Load simulated history into an empty database; return its quotes, still to be loaded."""
    if storage.newest_trade_ns() is not None:
        log.info("database %s already holds trades: no backfill", settings.duckdb_path)
        return None
    end_ns = time.time_ns()
    start_ns = end_ns - int(settings.sim_history_days * 86_400e9)
    log.info("backfilling %.1f days of simulated history", settings.sim_history_days)
    trades, quotes = await asyncio.to_thread(market.history, start_ns, end_ns)
    status.backfilled_trades = await asyncio.to_thread(storage.append_trades, trades)
    log.info("backfilled %d trades", status.backfilled_trades)
    return quotes


async def _load_quotes(storage: Storage, quotes: Any, after: asyncio.Event) -> None:
    """Quotes feed no signal yet: they load after the first transform pass, so signals come sooner."""
    await after.wait()
    added = await asyncio.to_thread(storage.append_quotes, quotes)
    log.info("backfilled %d quotes", added)


async def _start_demo_feeds(
    storage: Storage,
    settings: Settings,
    status: EmbeddedStatus,
    stack: contextlib.AsyncExitStack,
    first_pass: asyncio.Event,
) -> tuple[list[Any], list[Coroutine[Any, Any, None]]]:
    """Backfill history, start the simulator; return the feeds and the background work still to do."""
    from ingest.feed import PolygonFeed
    from ingest.simulator import PolygonSimulator
    from ingest.synthetic_market import SyntheticMarket

    market = SyntheticMarket(seed=settings.sim_seed, rate=settings.sim_rate)
    status.phase = "backfilling"
    quotes = await _backfill(storage, settings, market, status)
    simulator = PolygonSimulator(market, host=settings.sim_host, port=settings.sim_port)
    await simulator.start()
    stack.push_async_callback(simulator.stop)
    feeds = [
        PolygonFeed(api_key="demo", feed=simulator.feed, market=market_name, subscriptions=subscriptions,
                    secure=False, sink=storage, batch_rows=settings.ingest_batch_rows,
                    batch_seconds=settings.ingest_batch_seconds, source="sim")
        for market_name, subscriptions in (("stocks", ["T.*", "Q.*"]), ("crypto", ["XT.*", "XQ.*"]))
    ]  # fmt: skip
    return feeds, ([] if quotes is None else [_load_quotes(storage, quotes, first_pass)])


def _start_polygon_feed(storage: Storage, settings: Settings) -> list[Any]:
    from ingest.feed import PolygonFeed

    if settings.polygon_api_key is None:
        raise StorageError("POLYGON_API_KEY is not set: 'microstructure run' needs a Polygon key (or try 'microstructure demo')")
    return [
        PolygonFeed(api_key=settings.polygon_api_key.get_secret_value(), feed=settings.polygon_feed,
                    market=settings.polygon_market,
                    subscriptions=[s.strip() for s in settings.polygon_subscriptions.split(",") if s.strip()],
                    secure=settings.polygon_secure, sink=storage, batch_rows=settings.ingest_batch_rows,
                    batch_seconds=settings.ingest_batch_seconds, source="ws")
    ]  # fmt: skip


async def _until_any(events: tuple[asyncio.Event, ...], tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until one of ``events`` is set; a task that fails ends the wait with its exception."""
    waiters = {asyncio.create_task(event.wait()) for event in events}
    pending: set[asyncio.Task[Any]] = {*waiters, *tasks}
    try:
        while not any(event.is_set() for event in events):
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done - waiters:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_embedded(settings: Settings, *, mode: Literal["demo", "run"]) -> None:
    """Run the whole pipeline in this process until SIGINT or SIGTERM.

    Parameters
    ----------
    settings
        The process settings; ``demo`` gives the simulated stocks a 24-hour session (:data:`DEMO_SESSION`).
    mode
        ``demo`` (simulator, no key) or ``run`` (real Polygon feed).
    """
    if mode == "demo":
        settings = settings.model_copy(update={"session_stocks": DEMO_SESSION})
    storage = open_storage(settings)
    storage.apply_schema()
    status = EmbeddedStatus(mode=mode)
    server = _Server(uvicorn.Config(build_app(settings, storage, status=status.as_dict), host=settings.mcp_host,
                                    port=settings.mcp_port, log_level="warning", lifespan="on"))  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    tasks: list[asyncio.Task[Any]] = []
    first_pass = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        server_task = asyncio.create_task(server.serve(), name="http")
        while not server.started:
            if server_task.done():  # e.g. the port is taken
                raise StorageError(f"HTTP server on {settings.mcp_host}:{settings.mcp_port} did not start")
            await asyncio.sleep(0.05)
        log.info("serving http://%s:%d/mcp and /health", settings.mcp_host, settings.mcp_port)
        try:
            if mode == "demo":
                feeds, background = await _start_demo_feeds(storage, settings, status, stack, first_pass)
            else:
                feeds, background = _start_polygon_feed(storage, settings), []
            tasks.append(asyncio.create_task(_transform_loop(storage, settings, status, first_pass), name="transform"))
            tasks += [asyncio.create_task(feed.run(), name=f"feed-{feed.market}") for feed in feeds]
            tasks += [asyncio.create_task(work) for work in background]
            status.phase = "computing signals"
            await _until_any((first_pass, stop), tasks)
            if stop.is_set():
                return
            status.phase, status.ready = "running", True
            print(f"\nmicrostructure {mode} is running. Try:\n\n{_curl_examples(settings)}\n\nCtrl-C stops it.\n",
                  file=sys.stderr, flush=True)  # fmt: skip
            await _until_any((stop,), tasks)
        finally:
            status.phase = "stopping"
            log.info("stopping: flushing feeds, finishing the transform")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            server.should_exit = True
            await server_task
            storage.close()
            log.info("stopped")
