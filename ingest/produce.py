"""Polygon events → Kafka: the idempotent producer behind ``microstructure stream`` and ``replay``.

Topics and messages (DESIGN §2): trades (``T``, ``XT``) go to ``KAFKA_TRADES_TOPIC``, quotes (``Q``,
``XQ``) to ``KAFKA_QUOTES_TOPIC``; one Polygon event per message, key = the symbol (``sym`` or ``pair``),
value = the event's JSON exactly as Polygon names its fields, header ``source`` = ``ws``, ``sim`` or
``replay`` (the ``source`` column the loader writes). Keying by symbol keeps each symbol's events in order
within one partition.

Guarantees: the producer is idempotent (``enable.idempotence``: ``acks=all``, unlimited retries, no
duplicates or reordering from retries within a producer session). A full local queue raises ``BufferError``
in ``produce()``; :meth:`EventProducer.send` then serves delivery reports (``poll``) and retries, blocking
the caller: backpressure, never a drop. librdkafka retries a broker outage for ``delivery.timeout.ms``
(5 minutes); a message that fails for good is counted (``delivery_failures``) and logged, with only failures
reported (``delivery.report.only.error``), so the happy path costs no Python callback per message. With a spool
(``microstructure stream``, :mod:`ingest.stream`), failed messages and, at stop, those Kafka has not confirmed
(purged from the queue) are written to it instead of being lost (:meth:`EventProducer.finish`).

:class:`KafkaFeed` is the Polygon socket reader of :mod:`ingest.feed` with a Kafka drain: frames are taken
off the reader's queue in chunks and produced on the feed's writer thread, so a blocked producer never
stalls the socket loop (the reader's bounded queue absorbs the wait, and counts what it cannot hold).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from ingest.feed import PolygonReader
from ingest.normalize import MAX_RAW_CHARS, Reject, StatusEvent
from ingest.spool import Spool, WriteAhead
from ingest.stats import PipelineStats

if TYPE_CHECKING:
    from sql.settings import Settings

__all__ = ["EventProducer", "KafkaFeed", "ensure_topics", "producer_config"]

log = logging.getLogger(__name__)

_TRADES = frozenset({"T", "XT"})
_QUOTES = frozenset({"Q", "XQ"})
#: Frames handed to the producer thread at once (everything queued, up to this many).
_CHUNK_FRAMES = 500
#: Delivery reports are served after this many produced messages.
_POLL_EVERY = 10_000
#: ``produce()``'s partition argument for "the partitioner picks" (``RD_KAFKA_PARTITION_UA``). Messages are
#: produced with positional arguments: parsing keyword arguments costs ~15 % of a ``produce()`` call.
_ANY_PARTITION = -1
#: Delivery-report errors of messages :meth:`EventProducer.finish` purged (queued, in flight).
_PURGED = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings of the idempotent, batching producer (overrides win)."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        # A stream of ~50k msgs/s: the broker spends ~1 µs per message with 100 ms batches, 2.5-3 µs with
        # 20 ms ones (it shares the box's two cores). The loader batches by the second anyway. A replay
        # (~70k msgs/s per partition) fills batch.size, ~6000 trades, within that time anyway.
        "linger.ms": 100,
        "batch.num.messages": 10_000,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        "delivery.report.only.error": True,
        # Bound every wait on a broker well below the minute the stream gives its final flush: a request
        # the broker never answers (one it accepted while stopping or starting) holds the idempotent
        # producer's partitions in their drain until it times out, 60 s by default.
        "reconnect.backoff.max.ms": 2000,
        "socket.timeout.ms": 10_000,
        "socket.connection.setup.timeout.ms": 10_000,
    }
    config.update(overrides)
    return config


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int, timeout_s: float = 30.0, *,
                  wait_s: float = 120.0, stop: threading.Event | None = None) -> bool:
    """Create the topics that do not exist yet (replication factor 1 for a single broker, else 3 max).

    While the broker is not ready (down, starting, fenced by its controller) this retries with backoff for up
    to ``wait_s`` seconds, then raises the last ``KafkaException``: a process started during a broker restart
    waits for it. Returns ``False`` when ``stop`` is set while waiting, ``True`` once the topics exist.
    """
    wanted = list(dict.fromkeys(topics))
    stopped = stop if stop is not None else threading.Event()
    deadline = time.monotonic() + wait_s
    delay = 0.5
    while True:
        try:
            _create_missing(bootstrap, wanted, partitions, timeout_s)
            return True
        except KafkaException as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("topics not ready (%s); retrying in %.1f s", exc, delay)
        if stopped.wait(delay):
            return False
        delay = min(2 * delay, 5.0)


def _create_missing(bootstrap: str, topics: list[str], partitions: int, timeout_s: float) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=timeout_s)
    missing = [t for t in topics if t not in metadata.topics]
    if not missing:
        return
    replication = min(3, len(metadata.brokers)) or 1
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=replication)
                                   for t in missing], operation_timeout=timeout_s, request_timeout=timeout_s)
    for topic, future in futures.items():
        try:
            future.result()
            log.info("created topic %s (%d partitions)", topic, partitions)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


class EventProducer:
    """Polygon events → trades/quotes topics, idempotent, with blocking backpressure.

    Parameters
    ----------
    bootstrap
        ``KAFKA_BOOTSTRAP_SERVERS``.
    trades_topic, quotes_topic
        Destination topics.
    stats
        Counters to update (``produced``, ``parse_errors``, ``delivery_failures``, ``lag``).
    config
        Extra librdkafka settings.
    """

    def __init__(self, bootstrap: str, trades_topic: str, quotes_topic: str, stats: PipelineStats,
                 **config: Any) -> None:
        self.trades_topic = trades_topic
        self.quotes_topic = quotes_topic
        self.stats = stats
        self.bootstrap = bootstrap
        self._producer = Producer(producer_config(bootstrap, on_delivery=self.report_undelivered,
                                                  error_cb=self._on_error, **config))
        self._unserved = 0
        #: Where undelivered events go (``stream``); without one they are counted and logged only.
        self.spool: Spool | None = None
        #: ``STREAM_SPOOL_MODE=always``: frames are written ahead of producing them (:class:`KafkaFeed`).
        self.write_ahead: WriteAhead | None = None
        #: Keep the value of every event Kafka did not take (purged or failed) in :attr:`undelivered`.
        self.keep_undelivered = False
        self.undelivered: list[bytes] = []
        #: Events Kafka did not take (purged, failed, or refused by a full queue while stopping).
        self.undelivered_total = 0
        #: Events that could be neither delivered nor spooled.
        self.lost = 0
        #: Set when the process stops: a full queue then spools an event instead of waiting for room.
        self.stopping = threading.Event()
        #: Set by a second stop signal: :meth:`finish` stops waiting for the broker at once.
        self.abandon = threading.Event()
        self._finishing = threading.Lock()
        #: Seconds :meth:`finish` waits for Kafka to confirm what is queued.
        self.stop_wait_s = 60.0

    @classmethod
    def from_settings(cls, settings: Settings, stats: PipelineStats, **config: Any) -> EventProducer:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
        return cls(settings.kafka_bootstrap_servers, settings.kafka_trades_topic, settings.kafka_quotes_topic,
                   stats, **config)

    def report_undelivered(self, err: KafkaError | None, msg: Any) -> None:
        """Delivery-report callback: count a failed message (a purged one is not a failure) and keep its
        value for the spool; a success (reported only in ``always`` mode) is nothing to do."""
        if err is None:
            return
        if err.code() not in _PURGED:  # purged at stop: spooled, not a failure
            self.stats.delivery_failures += 1
            n = self.stats.delivery_failures
            if n <= 10 or n % 1000 == 0:
                log.error("kafka delivery failed (%d so far) to %s: %s", n, msg.topic(), err)
        self.undelivered_total += 1
        if self.keep_undelivered:
            self.undelivered.append(msg.value())

    def spool_undelivered(self) -> int:
        """Append the undelivered events collected so far to the spool (fsynced); return how many.

        Without a spool, or when the write fails (logged), they are counted in :attr:`lost`."""
        values, self.undelivered = self.undelivered, []
        if not values:
            return 0
        if self.spool is None:
            self.lost += len(values)
            return 0
        try:
            self.spool.append(values)
        except OSError as exc:
            self.lost += len(values)
            log.error("could not write %d undelivered events to the spool %s: %s", len(values), self.spool.path,
                      exc)
            return 0
        self.stats.spooled += len(values)
        return len(values)

    def _on_error(self, err: KafkaError) -> None:
        level = logging.ERROR if err.fatal() else logging.WARNING
        log.log(level, "kafka producer: %s", err)

    def topic_for(self, ev: Any) -> str | None:
        """The topic of a Polygon ``ev`` code, ``None`` for anything that is not a trade or quote."""
        if ev in _TRADES:
            return self.trades_topic
        if ev in _QUOTES:
            return self.quotes_topic
        return None

    def send(self, topic: str, key: bytes | str, value: bytes,
             headers: list[tuple[str, bytes]] | dict[str, bytes]) -> None:
        """Produce one message; on a full local queue serve callbacks and retry (never drops)."""
        self._produce_blocking(topic, key, value, headers)
        self.stats.produced += 1
        self._served(1)

    def send_many(self, topic: str, keys: list[str], values: list[bytes],
                  headers: list[tuple[str, bytes]] | dict[str, bytes]) -> None:
        """Produce ``values[k]`` with key ``keys[k]`` for every ``k``, in order; block on a full queue.

        The replay's loop: one ``produce()`` per message and nothing else per message in Python; delivery
        reports are served every ``_POLL_EVERY`` messages, as in :meth:`send_events`.
        """
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        produce = self._producer.produce
        for start in range(0, len(values), _POLL_EVERY):
            end = start + _POLL_EVERY
            for key, value in zip(keys[start:end], values[start:end]):
                try:  # positional: (topic, value, key, partition, callback, on_delivery, timestamp, headers)
                    produce(topic, value, key, _ANY_PARTITION, None, None, 0, headers)
                except BufferError:
                    self._produce_blocking(topic, key, value, headers)
            self.stats.produced += len(values[start:end])
            self._served(len(values[start:end]))

    def _produce_blocking(self, topic: str, key: bytes | str, value: bytes,
                          headers: list[tuple[str, bytes]] | dict[str, bytes], on_delivery: Any = None) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, _ANY_PARTITION, on_delivery, None, 0, headers)
                return
            except BufferError:  # the local queue is full: serve it until this message fits
                if self.stopping.is_set() and self.keep_undelivered:  # stopping: to the spool instead
                    self.undelivered_total += 1
                    self.undelivered.append(value)
                    if on_delivery is not None:
                        on_delivery(None, None)  # answered for: it is in the spool, not in Kafka
                    return
                self._producer.poll(0.05)

    def _served(self, n: int) -> None:
        """Serve delivery reports every ``_POLL_EVERY`` produced messages (cheap: only errors are reported)."""
        self._unserved += n
        if self._unserved >= _POLL_EVERY:
            self._producer.poll(0)
            self._unserved = 0

    def send_events(self, events: Iterable[Any], headers: list[tuple[str, bytes]] | dict[str, bytes],
                    statuses: list[StatusEvent], rejects: list[Reject], on_delivery: Any = None
                    ) -> tuple[int, int]:
        """Produce decoded Polygon events; status events and unroutable events are returned in the lists.

        ``on_delivery`` is the delivery-report callback of each message (default: the producer's).

        Returns
        -------
        tuple of int
            Trades and quotes produced.
        """
        produce = self._producer.produce
        dumps = orjson.dumps
        trades_topic, quotes_topic = self.trades_topic, self.quotes_topic
        consumed = trades = quotes = 0
        for event in events:
            consumed += 1
            if type(event) is not dict:
                rejects.append(Reject(repr(event)[:MAX_RAW_CHARS], "event is not a JSON object"))
                continue
            ev = event.get("ev")
            if ev == "T" or ev == "Q":
                key = event.get("sym")
            elif ev == "XT" or ev == "XQ":
                key = event.get("pair")
            else:
                if ev == "status" and isinstance(event.get("status"), str):
                    consumed -= 1  # not data
                    statuses.append(StatusEvent(event["status"], str(event.get("message", ""))))
                else:
                    rejects.append(Reject(dumps(event).decode()[:MAX_RAW_CHARS],
                                          f"unsupported event type ev={ev!r}"))
                continue
            if type(key) is not str or not key:
                rejects.append(Reject(dumps(event).decode()[:MAX_RAW_CHARS], "event has no symbol"))
                continue
            is_trade = ev in _TRADES
            topic = trades_topic if is_trade else quotes_topic
            value = dumps(event)
            try:
                produce(topic, value, key, _ANY_PARTITION, on_delivery, None, 0, headers)
            except BufferError:
                self._produce_blocking(topic, key, value, headers, on_delivery)
            if is_trade:
                trades += 1
            else:
                quotes += 1
        self.stats.consumed += consumed
        self.stats.produced += trades + quotes
        self._served(trades + quotes)
        return trades, quotes

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports, spool the undelivered; update the queued-messages gauge."""
        self._producer.poll(timeout)
        self.stats.lag = len(self._producer)
        if self.undelivered and self.spool is not None:
            self.spool_undelivered()
        if self.write_ahead is not None and not self.lost:
            self.write_ahead.collect()

    def __len__(self) -> int:
        """Messages queued or in flight (not yet confirmed by Kafka)."""
        return len(self._producer)

    def stop_notice(self) -> str:
        """The line ``stream`` prints the moment it is asked to stop."""
        queued = len(self._producer)
        if not queued:
            return "stopping: every event produced so far is confirmed by Kafka"
        where = f"the spool {self.spool.path}" if self.spool is not None else "nowhere (no spool): they are lost"
        return (f"stopping: {queued} events not yet confirmed by Kafka; waiting up to {self.stop_wait_s:.0f} s "
                f"for the broker at {self.bootstrap}, then they go to {where} (stop again to skip the wait)")

    def wait_confirmed(self) -> None:
        """Serve delivery reports until Kafka has answered for every queued message. Once :attr:`stopping`
        is set, wait at most :attr:`stop_wait_s` more (none once :attr:`abandon` is set), then purge what is
        left: its delivery reports (``_PURGE_QUEUE``, ``_PURGE_INFLIGHT``) put it in :attr:`undelivered`."""
        deadline: float | None = None
        while len(self._producer) and not self.abandon.is_set():
            if self.stopping.is_set():
                deadline = deadline or time.monotonic() + self.stop_wait_s
                if time.monotonic() >= deadline:
                    break
            self._producer.flush(0.2)
        if len(self._producer):
            self._producer.purge(in_queue=True, in_flight=True, blocking=True)
            self._producer.flush(5.0)  # serves the purged messages' delivery reports
        self.stats.lag = len(self._producer)

    def finish(self) -> None:
        """Stop: wait up to :attr:`stop_wait_s` (or until :attr:`abandon`) for Kafka to confirm what is
        queued, then spool the rest. Without a spool this is :meth:`flush`. Feeds sharing the producer (the
        embedded demo's two markets) each call it from their own thread: one at a time."""
        self.stopping.set()
        with self._finishing:
            if self.spool is None:
                self.flush(self.stop_wait_s)
                return
            self.wait_confirmed()
            self.spool_undelivered()
            if self.write_ahead is not None and not self.lost:
                self.write_ahead.collect(final=True)

    def flush(self, timeout_s: float = 60.0) -> int:
        """Wait until every queued message is delivered or failed; return how many are still queued."""
        left = int(self._producer.flush(timeout_s))
        self.stats.lag = left
        if left:
            log.error("kafka producer: %d messages still undelivered after %.0f s", left, timeout_s)
        return left


def _one_line(frame: bytes | str) -> bytes:
    """A frame as one spool line: a newline can only be whitespace between JSON tokens, so a space does."""
    raw = frame.encode() if isinstance(frame, str) else frame
    return raw.replace(b"\n", b" ") if b"\n" in raw else raw


class KafkaFeed(PolygonReader):
    """A Polygon feed whose drain produces every event to Kafka (``microstructure stream``).

    Parameters
    ----------
    producer
        Where events go.
    source
        ``source`` header of the messages (``ws`` or ``sim``).
    **reader
        The socket parameters of :class:`ingest.feed.PolygonReader`.
    """

    def __init__(self, *, producer: EventProducer, source: str = "ws", **reader: Any) -> None:
        super().__init__(**reader)
        self.producer = producer
        self.source = source
        self._headers = {"source": source.encode()}

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self._queue.get()
            chunk: list[tuple[bytes | str, int]] = []
            stop = item is None
            if item is not None:
                chunk.append(item)
            while not stop and len(chunk) < _CHUNK_FRAMES and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                else:
                    chunk.append(nxt)
            if chunk:
                statuses, rejects = await loop.run_in_executor(self._writer, self._produce, chunk)
                self._note_statuses(statuses)
                self._note_rejects(rejects)
            if stop:
                await loop.run_in_executor(self._writer, self.producer.finish)
                return

    def _produce(self, chunk: list[tuple[bytes | str, int]]) -> tuple[list[StatusEvent], list[Reject]]:
        statuses: list[StatusEvent] = []
        rejects: list[Reject] = []
        first_ns = chunk[0][1]
        on_delivery = None
        segment = None
        if self.producer.write_ahead is not None:  # always mode: the frames are on disk before Kafka sees them
            segment = self.producer.write_ahead.write([_one_line(frame) for frame, _ in chunk])
            on_delivery = segment.ack
        for frame, _received_ns in chunk:
            self.stats.frames += 1
            try:
                events = orjson.loads(frame)
            except orjson.JSONDecodeError as exc:
                rejects.append(Reject(str(frame[:MAX_RAW_CHARS]), f"frame is not valid JSON: {exc}"))
                continue
            if not isinstance(events, list):
                rejects.append(Reject(str(frame[:MAX_RAW_CHARS]), "frame is not a JSON array of events"))
                continue
            trades, quotes = self.producer.send_events(events, self._headers, statuses, rejects, on_delivery)
            if segment is not None:
                segment.produced += trades + quotes
            self.stats.trades += trades
            self.stats.quotes += quotes
            self.stats.rows_added += trades + quotes
        self.producer.poll(0)
        self.producer.stats.parse_errors += len(rejects)
        self.stats.batches += 1
        latency = (time.time_ns() - first_ns) / 1e9
        self.stats.last_batch_latency_s = latency
        self.producer.stats.add_batch(latency)
        return statuses, rejects
