"""The embedded process (DESIGN §3): any set of roles (feed, loader, transform loop, HTTP server) around one
DuckDB file, the process that owns the file and serves everyone else (``microstructure up --roles ...``).

The owner writes the runtime file beside the database (:mod:`server.owner`) once its server listens, so
other processes find its URL; it removes the file when it stops. ``demo`` and ``run`` are presets: ``demo``
backfills simulated history, starts the local Polygon-protocol simulator and ingests its live
feed through the real ``polygon-api-client``; ``run`` does the same against the real Polygon feed. With
``KAFKA_BOOTSTRAP_SERVERS`` set, the feeds produce to Kafka and a loader thread consumes into the database. The
HTTP server starts first, so ``/health`` answers (and reports the phase) while history loads.

With Kafka the feeds' producer is ``microstructure stream``'s (:mod:`ingest.stream`): the spool
(``STREAM_SPOOL_PATH``, ``STREAM_SPOOL_MODE``) is sent first at start, and on stop what Kafka has not
confirmed within ``STREAM_STOP_WAIT_SECONDS`` goes to it (a second Ctrl-C ends the wait).

Shutdown (Ctrl-C or SIGTERM): the feeds stop and flush what they hold, the transform finishes its pass,
the server drains, and the database is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn

from server.gc_times import gc_times_from_env
from server.http_server import http_config
from server.kafka_lag import loader_lag
from server.listen import bind_listener
from server.owner import owning_database, server_url
from server.startup_error import StartupError
from server.trade_watch import TradeWatch
from sql.backend import Storage, open_storage
from sql.settings import Settings

if TYPE_CHECKING:
    from ingest.stream import StopSignals

__all__ = ["DEMO_SESSION", "ROLES", "StartupError", "check_roles", "curl_examples", "default_roles", "run_embedded"]

log = logging.getLogger("microstructure.embedded")

T = TypeVar("T")

#: The simulated stocks trade around the clock, so the demo shows signals at any hour.
DEMO_SESSION = "00:00-24:00 UTC"


#: What one process can host around one database (``microstructure up --roles``).
ROLES = ("stream", "load", "transform", "serve")


def default_roles(settings: Settings) -> tuple[str, ...]:
    """Every role, ``load`` only when Kafka is in the path (what ``demo`` and ``run`` host)."""
    return tuple(r for r in ROLES if r != "load" or settings.kafka_bootstrap_servers)


def check_roles(settings: Settings, roles: Sequence[str], *, simulate: bool) -> frozenset[str]:
    """Return ``roles`` as a set once they make a process; raise :class:`StartupError` naming the problem.

    Without ``KAFKA_BOOTSTRAP_SERVERS`` the stream role writes straight into the database, so ``load`` (which
    consumes the Kafka topics) is refused; ``--simulate`` replaces the Polygon feed of the stream role.
    """
    chosen = frozenset(roles)
    unknown = sorted(chosen - set(ROLES))
    if unknown or not chosen:
        given = ", ".join(unknown) or "(none given)"
        raise StartupError(f"unknown role(s) {given}: choose from {', '.join(ROLES)}")
    if "load" in chosen and not settings.kafka_bootstrap_servers:
        raise StartupError("the load role consumes Kafka but KAFKA_BOOTSTRAP_SERVERS is not set; without Kafka "
                           "leave load out: the stream role writes straight into the database")  # fmt: skip
    if simulate and "stream" not in chosen:
        raise StartupError("--simulate replaces the Polygon feed of the stream role; add stream to --roles")
    return chosen


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
    #: The in-process Kafka loader's statistics (``ingest.stats.PipelineStats``) when Kafka is in the path.
    loader_stats: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields for the health document (``ready`` false answers 503), with the loader's Kafka
        lag when this process hosts one."""
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "loader_stats"}
        if self.loader_stats is not None:
            body["kafka"] = loader_lag(self.loader_stats)
        return body


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def curl_examples(settings: Settings, base: str) -> str:
    """The seed-style ``curl`` calls the demo prints, ready to paste into a POSIX shell.

    With ``MCP_AUTH_TOKEN`` set, the header is in double quotes so that the shell expands
    ``$MCP_AUTH_TOKEN`` (the token itself is never printed).
    """
    url = f"{base}/mcp"
    auth = ' -H "Authorization: Bearer $MCP_AUTH_TOKEN"' if settings.mcp_auth_token else ""
    calls = [
        ("get_enriched_data", '{"symbol":"AAPL","limit":100,"hours_back":1}'),
        ("get_trading_signals", '{"symbol":"AAPL","limit":50}'),
        ("get_jump_events", '{"hours_back":24,"limit":100}'),
    ]
    lines = [f"curl -s {url}{auth} -H 'Content-Type: application/json' \\\n  -d '{{\"method\":\"{name}\",\"params\":{params},\"id\":\"1\"}}'" for name, params in calls]
    return "\n\n".join(lines)


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a worker thread; when cancelled, let it finish before re-raising.

    A thread cannot be interrupted, and the database must not close under a write that is still running:
    shutdown cancels the tasks, and each waits here for its thread's last write to complete.
    """
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait({work})
        raise


async def _transform_loop(
    storage: Storage, settings: Settings, status: EmbeddedStatus, first_pass: asyncio.Event
) -> None:
    """Run the incremental transform whenever a bar becomes final; a failed pass is logged and retried.

    After each pass the loop waits until a stored trade puts the watermark (newest trade -
    ``TRANSFORM_LATENESS_SECONDS``) at the end of the next bar of any symbol (a :class:`server.trade_watch.
    TradeWatch` told of every trade written wakes it), or at most ``TRANSFORM_INTERVAL_SECONDS`` (symbols with
    no bar yet, storages that do not tell of their writes). ``first_pass`` is set once a pass has succeeded:
    from then on the signals cover the history.
    """
    from udx.transform import run_transform

    watch = await _in_thread(TradeWatch.attach, storage)  # reads every symbol once: off the event loop
    lateness_ns = round(settings.transform_lateness_seconds * 1_000_000_000)
    try:
        while True:
            due: int | None = None
            symbols = watch.symbols() if watch is not None else None
            try:
                summary = await _in_thread(functools.partial(run_transform, storage, settings, symbols=symbols))
            except Exception:  # noqa: BLE001 - counted, logged with traceback, retried next interval
                status.transform_errors += 1
                log.exception("transform pass failed; retrying in %.1fs", settings.transform_interval_seconds)
            else:
                status.transform_passes += 1
                status.bars_written += summary.bars
                first_pass.set()
                if summary.bars:
                    log.info("transform: %d bars for %d symbols in %.2fs", summary.bars, summary.symbols,
                             summary.seconds)  # fmt: skip
                if summary.next_bar_end_ns is not None:
                    due = summary.next_bar_end_ns + lateness_ns
            await _until_due(watch, due, settings.transform_interval_seconds)
    finally:
        if watch is not None:
            watch.detach()


async def _archive_loop(storage: Storage, settings: Settings) -> None:
    """Every ``ARCHIVE_INTERVAL_SECONDS``, move what retention lets go to the Parquet archive (``sql.archive``:
    it runs here, in the process that holds the file); a failed run is logged and retried next interval."""
    from sql.archive import archive

    while True:
        await asyncio.sleep(settings.archive_interval_seconds)
        try:
            await _in_thread(archive, storage, settings)
        except Exception:  # noqa: BLE001 - logged with traceback, retried next interval; live rows stay
            log.exception("archive run failed; retrying in %.0fs", settings.archive_interval_seconds)


async def _until_due(watch: TradeWatch | None, newest_ns: int | None, timeout_s: float) -> None:
    """Wait until a trade at or after ``newest_ns`` is stored (told by ``watch``), at most ``timeout_s``."""
    wake = asyncio.Event()
    if watch is not None and newest_ns is not None:
        loop = asyncio.get_running_loop()
        watch.wake_when(newest_ns, lambda: loop.call_soon_threadsafe(wake.set))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout_s)
    finally:
        if watch is not None:
            watch.wake_when(None, None)


async def _backfill(storage: Storage, settings: Settings, market: Any, status: EmbeddedStatus) -> Any:
    """Load simulated history into an empty database; return its quotes, still to be loaded."""
    if storage.newest_trade_ns() is not None:
        log.info("database %s already holds trades: no backfill", settings.duckdb_path)
        return None
    if settings.sim_history_days == 0:
        log.info("SIM_HISTORY_DAYS=0: no backfill")
        return None
    end_ns = time.time_ns()
    start_ns = end_ns - int(settings.sim_history_days * 86_400e9)
    log.info("backfilling %.1f days of simulated history", settings.sim_history_days)
    trades, quotes = await _in_thread(market.history, start_ns, end_ns)
    status.backfilled_trades = await _in_thread(storage.append_trades, trades)
    log.info("backfilled %d trades", status.backfilled_trades)
    return quotes


async def _load_quotes(storage: Storage, quotes: Any, after: asyncio.Event) -> None:
    """Quotes feed no signal yet: they load after the first transform pass, so signals come sooner."""
    await after.wait()
    added = await _in_thread(storage.append_quotes, quotes)
    log.info("backfilled %d quotes", added)


class _FeedFactory:
    """Builds the feeds of this process: straight into the database, or through Kafka when it is set.

    With ``KAFKA_BOOTSTRAP_SERVERS`` the feeds produce to the topics and a loader thread consumes them into
    the same database (the hop a production deployment runs), so demo and run exercise Kafka end to end.
    """

    def __init__(self, storage: Storage, settings: Settings, status: EmbeddedStatus | None = None, *,
                 load: bool = True) -> None:
        self.storage = storage
        self.settings = settings
        self.status = status
        self.load = load
        self.producer: Any = None
        self.loader_stop = threading.Event()

    def background(self) -> list[Coroutine[Any, Any, Any]]:
        """The loader, when this process hosts the load role and Kafka is in the path."""
        if not (self.load and self.settings.kafka_bootstrap_servers):
            return []
        from ingest.load import Loader

        loader = Loader(self.settings, self.storage)
        if self.status is not None:
            self.status.loader_stats = loader.stats  # /health reports its lag
        return [_in_thread(loader.run, self.loader_stop)]

    async def open_kafka(self, stack: contextlib.AsyncExitStack, stop: StopSignals, source: str) -> bool:
        """The stream role's producer, as ``microstructure stream`` has it: the spool (``STREAM_SPOOL_PATH``,
        ``STREAM_SPOOL_MODE``) held until the process ends, the broker waited for, the spool sent first.

        ``stop`` learns of the producer (a stop says what it waits for; a second one ends the wait). Returns
        ``False`` when the process is stopped while waiting for the broker.
        """
        from ingest.spool import Spool
        from ingest.stats import PipelineStats, StatsReporter
        from ingest.stream import broker_ready, log_summary, resend_spool, stream_producer

        settings = self.settings
        spool = stack.enter_context(Spool(settings.spool_path()))
        stats = PipelineStats("stream")
        self.producer = producer = stream_producer(settings, stats, spool)
        stack.callback(log_summary, "feeds", producer)  # after the feeds have finished the producer
        stack.enter_context(StatsReporter(stats, settings.stats_interval_seconds, log))  # its final line first
        stop.producer = producer
        if not await broker_ready(settings, producer):
            return False
        await asyncio.to_thread(resend_spool, producer, spool, {"source": source.encode()})
        return not producer.stopping.is_set()

    def feed(self, *, api_key: str, feed: str, market: str, subscriptions: list[str], secure: bool, source: str) -> Any:
        reader = {"api_key": api_key, "feed": feed, "market": market, "subscriptions": subscriptions,
                  "secure": secure}  # fmt: skip
        settings = self.settings
        if not settings.kafka_bootstrap_servers:
            from ingest.feed import PolygonFeed

            return PolygonFeed(sink=self.storage, batch_rows=settings.ingest_batch_rows,
                               batch_seconds=settings.ingest_batch_seconds, source=source, **reader)  # fmt: skip
        from ingest.produce import KafkaFeed

        assert self.producer is not None, "open_kafka() first"
        return KafkaFeed(producer=self.producer, source=source, **reader)


async def _start_demo_feeds(
    factory: _FeedFactory,
    status: EmbeddedStatus,
    stack: contextlib.AsyncExitStack,
    first_pass: asyncio.Event,
) -> tuple[list[Any], list[Coroutine[Any, Any, Any]]]:
    """Backfill history, start the simulator (or read the one ``SIM_FEED`` names); return the feeds and the
    background work still to do."""
    from ingest.simulator import PolygonSimulator
    from ingest.synthetic_market import SyntheticMarket

    storage, settings = factory.storage, factory.settings
    market = SyntheticMarket(seed=settings.sim_seed, rate=settings.sim_rate)
    status.phase = "backfilling"
    quotes = await _backfill(storage, settings, market, status)
    feed_at = settings.sim_feed
    if not feed_at:  # SIM_FEED names a simulator in its own process; else this process runs one
        simulator = PolygonSimulator(market, host=settings.sim_host, port=settings.sim_port)
        await simulator.start()
        stack.push_async_callback(simulator.stop)
        feed_at = simulator.feed
    feeds = [
        factory.feed(api_key="demo", feed=feed_at, market=market_name, subscriptions=subscriptions,
                     secure=False, source="sim")
        for market_name, subscriptions in (("stocks", ["T.*", "Q.*"]), ("crypto", ["XT.*", "XQ.*"]))
    ]  # fmt: skip
    later = [] if quotes is None else [_load_quotes(storage, quotes, first_pass)]
    return feeds, later + factory.background()


def _start_polygon_feed(factory: _FeedFactory) -> tuple[list[Any], list[Coroutine[Any, Any, Any]]]:
    settings = factory.settings
    if settings.polygon_api_key is None:
        raise StartupError("POLYGON_API_KEY is not set: 'microstructure run' needs a Polygon key (or try 'microstructure demo')")
    feed = factory.feed(api_key=settings.polygon_api_key.get_secret_value(), feed=settings.polygon_feed,
                        market=settings.polygon_market,
                        subscriptions=[s.strip() for s in settings.polygon_subscriptions.split(",") if s.strip()],
                        secure=settings.polygon_secure, source="ws")  # fmt: skip
    return [feed], factory.background()


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


async def _start_server(
    settings: Settings, storage: Storage, status: EmbeddedStatus
) -> tuple[_Server, asyncio.Task[Any], str]:
    """Start the HTTP server; return it, its task and the URL it answers at once it listens."""
    listener = bind_listener(settings.mcp_host, settings.mcp_port)  # a taken port: one line naming MCP_PORT
    server = _Server(http_config(settings, storage, status=status.as_dict, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[listener]), name="http")
    while not server.started:
        if task.done():
            raise StartupError(f"HTTP server on {settings.mcp_host}:{settings.mcp_port} did not start")
        await asyncio.sleep(0.05)
    port = listener.getsockname()[1]  # MCP_PORT=0 binds a free port
    url = server_url(settings.mcp_host, port)
    log.info("serving %s/mcp and /health", url)
    return server, task, url


async def run_embedded(settings: Settings, *, roles: Sequence[str], simulate: bool, mode: str = "up") -> None:
    """Host ``roles`` around one database in this process until SIGINT or SIGTERM.

    Parameters
    ----------
    settings
        The process settings; with ``simulate`` the simulated stocks get a 24-hour session (:data:`DEMO_SESSION`).
    roles
        Any of :data:`ROLES`: ``stream`` (the feed: into Kafka when ``KAFKA_BOOTSTRAP_SERVERS`` is set, else
        straight into the database), ``load`` (Kafka into the database), ``transform`` (the signals loop) and
        ``serve`` (the HTTP server: MCP, REST, health).
    simulate
        Feed the stream role from the local simulator after backfilling simulated history into an empty
        database (no key needed) instead of the real Polygon feed.
    mode
        The name ``/health`` reports: ``demo`` and ``run`` are presets of ``up``.
    """
    chosen = check_roles(settings, roles, simulate=simulate)
    if simulate:
        settings = settings.model_copy(update={"session_stocks": DEMO_SESSION})
    storage = open_storage(settings)
    storage.apply_schema()
    status = EmbeddedStatus(mode=mode)
    from ingest.stream import StopSignals

    stop = asyncio.Event()
    signals = StopSignals(stop)  # with Kafka: says what the feeds' producer waits for; a second signal ends it
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signals)

    tasks: list[asyncio.Task[Any]] = []
    first_pass = asyncio.Event()
    if "transform" not in chosen:
        first_pass.set()  # no signals to wait for
    factory: _FeedFactory | None = None
    server: _Server | None = None
    server_task: asyncio.Task[Any] | None = None
    ordered = [r for r in ROLES if r in chosen]
    async with contextlib.AsyncExitStack() as stack:
        publish = stack.enter_context(owning_database(settings, ordered))
        stack.enter_context(gc_times_from_env())  # debug: MICROSTRUCTURE_GC_TIMES (server/gc_times.py)
        try:
            url = None
            if "serve" in chosen:
                server, server_task, url = await _start_server(settings, storage, status)
            publish(url)
            factory = _FeedFactory(storage, settings, status, load="load" in chosen)
            feeds: list[Any] = []
            background: list[Coroutine[Any, Any, Any]] = []
            if "stream" in chosen and settings.kafka_bootstrap_servers:
                if not await factory.open_kafka(stack, signals, "sim" if simulate else "ws"):
                    return  # stopped while waiting for the broker
            if "stream" in chosen:
                if simulate:
                    feeds, background = await _start_demo_feeds(factory, status, stack, first_pass)
                else:
                    feeds, background = _start_polygon_feed(factory)
            else:
                background = factory.background()
            if "transform" in chosen:
                tasks.append(asyncio.create_task(_transform_loop(storage, settings, status, first_pass),
                                                 name="transform"))  # fmt: skip
            if settings.archive_interval_seconds and settings.db_backend == "duckdb":
                tasks.append(asyncio.create_task(_archive_loop(storage, settings), name="archive"))
            tasks += [asyncio.create_task(feed.run(), name=f"feed-{feed.market}") for feed in feeds]
            tasks += [asyncio.create_task(work) for work in background]
            status.phase = "computing signals" if "transform" in chosen else "running"
            await _until_any((first_pass, stop), tasks)
            if stop.is_set():
                return
            status.phase, status.ready = "running", True
            where = f"Try:\n\n{curl_examples(settings, url)}\n\n" if url else "(no serve role: no HTTP server)\n"
            print(f"\nmicrostructure {mode} is running ({','.join(ordered)}). {where}Ctrl-C stops it.\n",
                  file=sys.stderr, flush=True)  # fmt: skip
            await _until_any((stop,), tasks)
        finally:
            status.phase = "stopping"
            log.info("stopping: flushing feeds, finishing the transform")
            for task in tasks:
                task.cancel()
            if factory is not None:
                factory.loader_stop.set()  # the loader thread flushes, commits and closes
            await asyncio.gather(*tasks, return_exceptions=True)
            if server is not None and server_task is not None:
                server.should_exit = True
                await server_task
            storage.close()
            log.info("stopped")
