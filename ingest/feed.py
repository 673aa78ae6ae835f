"""The Polygon WebSocket ingester: socket → queue → normalize → batch → storage (or → Kafka).

Design (polygon notes §1.5, §2): Polygon drops consumers that do not read fast enough (``slow_consumer``), and
``polygon-api-client`` calls its ``processor`` inline in the socket loop. So the work is split in two tasks:

* the **reader** runs ``polygon.WebSocketClient(raw=True).connect(processor)``; the processor only puts
  ``(frame, receive time)`` on an :class:`asyncio.Queue`: no parsing, no I/O. A full queue drops the frame
  and counts it (``stats.dropped_frames``) rather than stall the socket;
* the **drain** task takes frames off the queue (those already waiting directly, after yielding once to the
  loop; it waits on a getter only when the queue is empty), normalizes them into one growing
  :class:`ingest.frame_decode.FastFrameBatch` (one typed decode per frame; a frame it cannot take whole goes
  to the reference :class:`ingest.normalize.FrameBatch`, which decides rejects and statuses), and flushes
  the batch to the sink when it holds ``batch_rows`` rows or its oldest frame is ``batch_seconds`` old. The
  batch's tables are built and the sink's blocking ``append_trades``/``append_quotes`` run on one dedicated
  writer thread (always the same thread, one call at a time), so the event loop keeps reading while the tables
  are built and the database writes; a batch that falls due during a write is written when that write ends,
  with everything that arrived meanwhile (group commit: at high rates the batches grow with the write time).
  Trades first: the writer builds the batch's trades table and commits it while the quotes table is built on a
  second thread (``FastFrameBatch.take_trades_first``; Python per event, while DuckDB writes without the GIL),
  then writes the quotes; a trade is visible without waiting for its batch's quotes, and the writes keep their
  order (a batch's trades, its quotes, the next batch).

:class:`PolygonReader` is the shared part (client, reconnects, queue, status handling); it leaves the drain
to subclasses: :class:`PolygonFeed` (this module) normalizes into a database, ``ingest.produce.KafkaFeed``
produces each event to Kafka.

Rejects are counted and logged one line each. Status events
act on the feed: ``auth_failed`` ends it with :class:`PolygonAuthError` (the client raises ``AuthError``
itself during the handshake; both surface as that one clear error); ``max_connections``,
``force_disconnect`` and ``slow_consumer`` are logged as warnings. The client reconnects and resubscribes on
abnormal closes by itself; when the server closes normally (``connect`` returns) the feed reconnects with a
fresh client after an exponential backoff.

Delivery is at-most-once from the socket (a crash loses the unflushed batch) and the storage deduplicates on
(market, symbol, exchange, trade_id, ts_ns), so re-delivered events are harmless. :meth:`PolygonFeed.run`
runs until cancelled and, on cancellation or error, flushes what it holds before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from polygon import WebSocketClient
from polygon.exceptions import AuthError
from websockets.exceptions import ConnectionClosed

from ingest.frame_decode import FastFrameBatch
from ingest.normalize import FrameBatch, Normalized, Reject, StatusEvent
from sql import write_timeline

if TYPE_CHECKING:
    import pyarrow as pa

    from sql.settings import Settings

__all__ = ["FeedStats", "MAX_BATCH_FACTOR", "PolygonAuthError", "PolygonFeed", "PolygonReader", "TradeSink"]

log = logging.getLogger(__name__)

#: A batch that reaches this many times ``batch_rows`` while a write is in flight waits for that write.
MAX_BATCH_FACTOR = 20
#: Frames the drain takes off the queue per wake-up before it looks at its batch again.
_FRAMES_PER_WAKE = 64
_DISCONNECT_STATUSES = frozenset({"max_connections", "force_disconnect", "slow_consumer"})
_STOP = None


class PolygonAuthError(RuntimeError):
    """Polygon (or the simulator) refused the API key."""


class TradeSink(Protocol):
    """What the feed writes to: the two append methods of :class:`sql.backend.Storage`."""

    def append_trades(self, batch: pa.Table) -> int:
        """Append trades (``TRADES_SCHEMA``); return rows added."""

    def append_quotes(self, batch: pa.Table) -> int:
        """Append quotes (``QUOTES_SCHEMA``); return rows added."""


@dataclass(slots=True)
class FeedStats:
    """Counters of one feed since it started."""

    frames: int = 0
    dropped_frames: int = 0
    trades: int = 0
    quotes: int = 0
    rejects: int = 0
    statuses: int = 0
    batches: int = 0
    rows_added: int = 0
    connections: int = 0
    #: Seconds from the receipt of a batch's first frame to the end of its write.
    last_batch_latency_s: float | None = None
    #: Seconds the sink took to write the last batch.
    last_write_s: float | None = None


async def _cancel_until_done(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it, cancelling again while it keeps running.

    polygon-api-client reads with ``asyncio.wait_for(recv(), timeout=1)``; on Python 3.11 ``wait_for``
    swallows a cancellation that arrives just as ``recv()`` completes (CPython gh-86296, fixed in 3.12), so
    under a busy feed a single ``cancel()`` is sometimes lost and the reader runs on.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled():
        task.exception()  # retrieved here; run() surfaces it


class PolygonReader:
    """The socket side of a feed: one Polygon market read into a frame queue, drained by a subclass.

    Parameters
    ----------
    api_key
        Polygon API key (never logged).
    feed
        Feed host, e.g. ``"socket.polygon.io"`` or ``"127.0.0.1:8765"`` for the simulator.
    market
        ``"stocks"`` or ``"crypto"``.
    subscriptions
        Topics such as ``"T.*"``, ``"Q.AAPL"``, ``"XT.BTC-USD"``.
    secure
        ``wss://`` when true, ``ws://`` otherwise (the simulator).
    max_queued_frames
        Frames the reader may queue ahead of the drain before it starts dropping them.
    max_reconnects
        Passed to the client: abnormal closes tolerated in a row before ``connect`` gives up.
    stats_interval_s
        A statistics line is logged at most this often (DESIGN §3).

    Subclasses implement ``async _drain()``: take ``(frame, received_ns)`` items off ``self._queue`` until
    the ``None`` sentinel, then flush what they hold and return. Blocking work goes to ``self._writer``.
    """

    def __init__(
        self,
        *,
        api_key: str,
        feed: str,
        market: str,
        subscriptions: Sequence[str],
        secure: bool = True,
        max_queued_frames: int = 100_000,
        max_reconnects: int | None = 5,
        stats_interval_s: float = 30.0,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty: set POLYGON_API_KEY")
        if market not in ("stocks", "crypto"):
            raise ValueError(f"market must be 'stocks' or 'crypto', got {market!r}")
        if not subscriptions:
            raise ValueError("subscriptions is empty: set POLYGON_SUBSCRIPTIONS, e.g. 'T.*'")
        self._api_key = api_key
        self.feed = feed
        self.market = market
        self.subscriptions = [s.strip() for s in subscriptions if s.strip()]
        self.secure = secure
        self.max_reconnects = max_reconnects
        self.stats_interval_s = stats_interval_s
        self.stats = FeedStats()
        self._queue: asyncio.Queue[tuple[bytes | str, int] | None] = asyncio.Queue(max_queued_frames)
        self._writer: ThreadPoolExecutor | None = None
        self._last_stats_log = time.monotonic()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(feed={self.feed!r}, market={self.market!r}, subs={self.subscriptions!r})"

    # --- running -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read, normalize and store until cancelled; flush what is held before returning.

        Raises
        ------
        PolygonAuthError
            The server answered ``auth_failed``.
        """
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"polygon-feed-writer-{self.market}")
        reader = asyncio.create_task(self._read_forever(), name=f"polygon-feed-reader-{self.market}")
        drain = asyncio.create_task(self._drain(), name=f"polygon-feed-drain-{self.market}")
        try:
            await asyncio.wait({reader, drain}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel_until_done(reader)
            if not drain.done():
                await self._queue.put(_STOP)  # the drain empties the queue up to here, then flushes
                await asyncio.shield(drain)
            self._writer.shutdown(wait=False)
        for task in (reader, drain):  # one of them ended: surface why
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc

    async def _enqueue(self, frame: bytes | str) -> None:
        """The client's processor: stamp and enqueue, nothing else."""
        try:
            self._queue.put_nowait((frame, time.time_ns()))
        except asyncio.QueueFull:
            self.stats.dropped_frames += 1

    async def _read_forever(self) -> None:
        backoff = 0.5
        while True:
            client = WebSocketClient(
                api_key=self._api_key, feed=self.feed, market=self.market, raw=True, secure=self.secure,
                subscriptions=list(self.subscriptions), max_reconnects=self.max_reconnects,
            )
            self.stats.connections += 1
            started = time.monotonic()
            try:
                await client.connect(self._enqueue)
            except AuthError as exc:
                raise PolygonAuthError(f"Polygon refused the API key (auth_failed): {exc}") from None
            except (OSError, ConnectionClosed) as exc:  # e.g. the client gave up after max_reconnects
                log.warning("feed %s/%s: connection lost (%s)", self.feed, self.market, exc)
            finally:
                if client.websocket is not None:
                    with contextlib.suppress(Exception):
                        await client.close()
            backoff = 0.5 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)
            log.warning("feed %s/%s: server closed the connection; reconnecting in %.1f s",
                        self.feed, self.market, backoff)
            await asyncio.sleep(backoff)

    async def _drain(self) -> None:
        raise NotImplementedError

    def _note_statuses(self, statuses: list[StatusEvent]) -> None:
        for status in statuses:
            self.stats.statuses += 1
            if status.status == "auth_failed":
                log.error("feed %s: Polygon refused the API key (auth_failed): %s", self.market,
                          status.message)
            elif status.status in _DISCONNECT_STATUSES:
                log.warning("feed %s: server status %s: %s", self.market, status.status, status.message)
            else:
                log.debug("feed %s: status %s: %s", self.market, status.status, status.message)

    def _note_rejects(self, rejects: list[Reject]) -> None:
        for reject in rejects:
            self.stats.rejects += 1
            log.warning("feed %s: rejected (%s): %s", self.market, reject.reason, reject.raw[:300])


class PolygonFeed(PolygonReader):
    """Stream one Polygon market into a sink, in batches.

    Parameters
    ----------
    sink
        Object with blocking ``append_trades`` / ``append_quotes`` (a :class:`sql.backend.Storage`).
    batch_rows, batch_seconds
        Flush when the batch holds this many rows (trades + quotes) or its first frame is this old.
    source
        ``source`` column of the rows: ``"ws"`` for Polygon, ``"sim"`` for the simulator.
    **reader
        The socket parameters of :class:`PolygonReader` (``api_key``, ``feed``, ``market``, ...).
    """

    def __init__(
        self,
        *,
        sink: TradeSink,
        batch_rows: int = 5000,
        batch_seconds: float = 0.5,
        source: str = "ws",
        **reader: Any,
    ) -> None:
        super().__init__(**reader)
        if batch_rows < 1 or batch_seconds <= 0:
            raise ValueError(
                f"batch_rows must be >= 1 and batch_seconds > 0, got {batch_rows}, {batch_seconds}"
            )
        self.sink = sink
        self._quote_builder: ThreadPoolExecutor | None = None  # builds a batch's quotes while its trades are written
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.source = source

    @classmethod
    def from_settings(cls, settings: Settings, sink: TradeSink, *, source: str = "ws") -> PolygonFeed:
        """Build a feed from ``polygon_*`` and ``ingest_batch_*`` settings."""
        key = settings.polygon_api_key
        if key is None:
            raise ValueError("POLYGON_API_KEY is not set")
        return cls(
            api_key=key.get_secret_value(),
            feed=settings.polygon_feed,
            market=settings.polygon_market,
            subscriptions=settings.polygon_subscriptions.split(","),
            sink=sink,
            secure=settings.polygon_secure,
            batch_rows=settings.ingest_batch_rows,
            batch_seconds=settings.ingest_batch_seconds,
            source=source,
        )

    async def _drain(self) -> None:
        """Normalize frames into a batch and write it when due, with at most one write in flight.

        A batch is due when it holds ``batch_rows`` rows or its first frame is ``batch_seconds`` old. While a
        write runs the drain keeps reading into the next batch, which is written as soon as that write ends if
        it is due by then (group commit): at a high rate each write takes what arrived during the previous one,
        so the per-write cost of the database is paid once per write instead of once per ``batch_rows``. Only a
        batch of :data:`MAX_BATCH_FACTOR` × ``batch_rows`` rows waits for the write in flight before reading on.
        """
        loop = asyncio.get_running_loop()
        self._quote_builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"polygon-feed-writer-quotes-{self.market}")
        batch = FastFrameBatch(self.source)
        first_ns: int | None = None
        deadline: float | None = None
        getter: asyncio.Future[tuple[bytes | str, int] | None] | None = None
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                due = batch.n_rows >= self.batch_rows or (deadline is not None and loop.time() >= deadline)
                if due and writing is None:  # the full batch's tables are built on the writer thread
                    writing = asyncio.ensure_future(self._flush(batch, first_ns))
                    batch, first_ns, deadline = FastFrameBatch(self.source), None, None
                    continue
                if writing is not None and batch.n_rows >= self.batch_rows * MAX_BATCH_FACTOR:
                    await writing  # back-pressure: the frame queue absorbs the wait
                    writing = None
                    continue
                items: list[tuple[bytes | str, int] | None] = []
                if getter is None and not self._queue.empty():
                    # frames are waiting: yield once (the socket and the server run between), then take them
                    # without a getter task and a wait, which cost about as much as decoding a frame
                    await asyncio.sleep(0)
                    while len(items) < _FRAMES_PER_WAKE and not self._queue.empty():
                        items.append(self._queue.get_nowait())
                else:
                    if getter is None:
                        getter = asyncio.ensure_future(self._queue.get())
                    waits: set[asyncio.Future[Any]] = {getter} if writing is None else {getter, writing}
                    timeout = None if deadline is None or writing is not None else max(0.0, deadline - loop.time())
                    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        items.append(getter.result())
                        getter = None
                        while len(items) < _FRAMES_PER_WAKE and not self._queue.empty():
                            items.append(self._queue.get_nowait())
                if writing is not None and writing.done():
                    writing, done = None, writing
                    done.result()  # a failed write ends the drain (run() surfaces it)
                for item in items:
                    if item is _STOP:
                        if writing is not None:
                            await writing
                            writing = None
                        await self._flush(batch, first_ns)
                        return
                    frame, received_ns = item
                    self.stats.frames += 1
                    batch.add_frame(frame, received_ns)
                    self._after_frame(batch)
                    if first_ns is None and batch.n_rows:
                        first_ns, deadline = received_ns, loop.time() + self.batch_seconds
        finally:
            if getter is not None:
                getter.cancel()
            if writing is not None and not writing.done():
                await asyncio.wait({writing})  # never leave a write running under a closing database
            self._quote_builder.shutdown(wait=False)

    def _after_frame(self, batch: FrameBatch) -> None:
        self._note_rejects(batch.rejects)
        batch.rejects.clear()
        self._note_statuses(batch.statuses)
        batch.statuses.clear()

    async def _flush(self, batch: FrameBatch, first_ns: int | None) -> None:
        """Build the tables of ``batch`` and write them, both on the writer thread. Building them is Python per
        event (``FastFrameBatch.take``: about twice the frame decode's cost), a tenth of a second and more for the
        batches of a high rate, which on the event loop would hold up the socket and every HTTP answer."""
        if batch.n_rows == 0:
            return
        started = time.monotonic()
        steps: dict[str, Any] | None = None
        if write_timeline.enabled():  # debug: MICROSTRUCTURE_WRITE_TIMELINE (sql/write_timeline.py)
            steps = {"kind": "batch", "market": self.market, "first": (first_ns or 0) / 1e9, "due": time.time()}
        normalized, added = await asyncio.get_running_loop().run_in_executor(self._writer, self._write, batch, steps)
        if steps is not None:
            steps.update(done=time.time(), trades=normalized.trades.num_rows, quotes=normalized.quotes.num_rows)
            write_timeline.record(steps)
        self.stats.last_write_s = time.monotonic() - started
        self.stats.batches += 1
        self.stats.trades += normalized.trades.num_rows
        self.stats.quotes += normalized.quotes.num_rows
        self.stats.rows_added += added
        if first_ns is not None:
            self.stats.last_batch_latency_s = (time.time_ns() - first_ns) / 1e9
        now = time.monotonic()
        if now - self._last_stats_log >= self.stats_interval_s:
            self._last_stats_log = now
            s = self.stats
            log.info("feed %s: frames=%d trades=%d quotes=%d rejects=%d dropped=%d batches=%d "
                     "last_batch_latency=%.3fs last_write=%.3fs", self.market, s.frames, s.trades, s.quotes,
                     s.rejects, s.dropped_frames, s.batches, s.last_batch_latency_s or 0.0, s.last_write_s)

    def _write(self, batch: FrameBatch, steps: dict[str, Any] | None = None) -> tuple[Normalized, int]:
        """Build and write a batch on the writer thread: its trades first, so that they are committed (and
        visible) without waiting for the quotes; the quotes' table is built on the quotes thread meanwhile
        (Python per event, while DuckDB writes the trades without the GIL), then written. The order of the
        writes is kept: trades, then quotes, of one batch, then the next batch. ``steps`` (the debug timeline of
        :mod:`sql.write_timeline`) gets when the thread took the batch, asked to write its trades and had them
        committed."""
        added = 0
        if steps is not None:
            steps["taken"] = time.time()
        if isinstance(batch, FastFrameBatch) and self._quote_builder is not None:
            normalized, build_quotes = batch.take_trades_first()
            quotes = self._quote_builder.submit(build_quotes)
            try:
                if normalized.trades.num_rows:
                    if steps is not None:
                        steps["trades_asked"] = time.time()
                    added += self.sink.append_trades(normalized.trades)
            finally:
                normalized.quotes = quotes.result()
        else:
            normalized = batch.take()
            if normalized.trades.num_rows:
                if steps is not None:
                    steps["trades_asked"] = time.time()
                added += self.sink.append_trades(normalized.trades)
        if steps is not None:
            steps["trades_committed"] = time.time()
        if normalized.quotes.num_rows:
            added += self.sink.append_quotes(normalized.quotes)
        return normalized, added
