"""Kafka → database: the consumer-group loader behind ``microstructure load``.

At-least-once delivery plus an idempotent sink gives exactly-once rows: every record is decoded into the
storage contract (:class:`ingest.normalize.FrameBatch`), a batch is written with ``append_trades`` /
``append_quotes`` (which skip rows whose dedupe key ``market, symbol, exchange, trade_id, ts_ns`` is already
stored) and only **after** the write returned are the batch's offsets committed. A crash anywhere before the
commit re-delivers records the database already holds; the dedupe key drops them.

The loop (style guide, "ingest load loop"; quix-streams' checkpoint order):

1. ``consume()`` up to ``LOAD_BATCH_ROWS`` records and collect them: value, ``source`` header → the
   ``source`` column, the record's timestamp → ``received_ns`` (for the usual result, all trades with the same
   headers, without a Python loop per record);
2. when the batch holds ``LOAD_BATCH_ROWS`` records or its oldest is ``LOAD_BATCH_SECONDS`` old, hand it to
   the writer threads: a decoder thread decodes it while an appender thread writes the batch before it to
   the database and the main thread consumes the next one. Records of the trades topic are decoded together
   in one vectorised pass
   (:mod:`ingest.arrow_decode`); what it cannot vouch for, and every other record, goes through the
   per-record decoder :class:`ingest.normalize.FrameBatch`, which alone decides rejects and their reasons;
3. a record that cannot be decoded (not JSON, not an object, unknown ``ev``, missing or bad field) goes to
   ``<topic>KAFKA_DLQ_SUFFIX`` with its key and value unchanged and headers ``dlq.error`` (the reason),
   ``dlq.origin.topic``, ``dlq.origin.partition``, ``dlq.origin.offset``, ``dlq.origin.timestamp``;
4. once the write returned (at the next hand-over, or as soon as the main thread sees it done): flush the
   dead-letter producer → commit that batch's next offsets synchronously. At most two batches are uncommitted
   (one decoding, one appending); one appender writes them in order and the main thread commits them in
   that order, each only after it is durable.

Consumer settings: ``enable.auto.commit=false``, ``enable.auto.offset.store=false``, cooperative-sticky
assignment, ``auto.offset.reset=earliest``. On partition revocation the batch is flushed and committed (the
new owner starts where this one ended): the writes in flight are awaited and committed, then the batch
being collected is written and committed. On partition loss nothing is committed for the lost partitions (their
rows may still be written: harmless, they are idempotent). SIGINT/SIGTERM set a stop flag: flush, commit,
close. A failed database write raises in the main thread and commits nothing.

``drain=True`` (``load --drain``) reads the high watermark of every partition at start and returns once the
group's committed offsets reached all of them (a committed offset below a partition's low watermark counts as the
low watermark: retention deleted the records after it, nothing is left there to commit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ingest.arrow_decode import decode_trades
from ingest.normalize import FrameBatch
from ingest.produce import ensure_topics, producer_config
from ingest.stats import PipelineStats

if TYPE_CHECKING:
    from sql.backend import Storage
    from sql.settings import Settings

__all__ = ["FAULT_POINTS", "LoadSummary", "Loader", "consumer_config"]

log = logging.getLogger(__name__)

_NS_PER_MS = 1_000_000
_LAG_EVERY_S = 5.0
#: Records per ``consume()`` call. The call holds the GIL while it builds its ``Message`` objects (~1 µs
#: each) and the maps over them run in C without a switch point, so this bounds how long the writer threads
#: wait for the GIL between their Arrow and DuckDB calls: at 10,000 their decode took 3-5x its CPU time and
#: the loader ran 15-30 % slower than at 1,000.
_CONSUME_AT_ONCE = 1000
#: Batches handed to the writer threads and not committed yet: one being decoded while the one before it is
#: appended.
_MAX_IN_FLIGHT = 2
#: The points at which :class:`Loader` calls its ``fault`` hook, in the order a batch passes them.
FAULT_POINTS = ("consumed", "written")


@dataclass
class LoadSummary:
    """What one :meth:`Loader.run` did."""

    records: int = 0
    trades_added: int = 0
    quotes_added: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    commit_failures: int = 0


@dataclass
class _Batch:
    """Records consumed since the last hand-over to the writer: raw values until the writer decodes them."""

    #: Trades-topic records for the vectorised decoder: values, ``received_ns``, ``source``; and for the few it
    #: hands back (dead letters), their origin: partition, offset, timestamp (ms), key. Not the ``Message``
    #: objects: with the header lists they cache they cost ~5x the memory.
    values: list[bytes] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets_of: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    #: Every other record: (message, source, received_ns) for the per-record decoder.
    others: list[tuple[Any, str, int]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    records: int = 0
    first_at: float | None = None


@dataclass
class _Decoded:
    """One batch decoded by the writer: per-record decoder accumulators and the vectorised tables."""

    frames: dict[str, FrameBatch] = field(default_factory=dict)
    tables: list[pa.Table] = field(default_factory=list)
    #: Records of the batch produced to a dead-letter topic (made durable before the batch is committed).
    dead_letters: int = 0

    def add(self, source: str, event: Any, received_ns: int) -> str | None:
        """Add one decoded event; return the reject reason, or ``None`` when it was accepted."""
        batch = self.frames.get(source)
        if batch is None:
            batch = self.frames[source] = FrameBatch(source)
        batch.add_event(event, received_ns)
        if batch.rejects:
            reason = batch.rejects[0].reason
            batch.rejects.clear()
            return reason
        if batch.statuses:
            batch.statuses.clear()
            return "status event is not market data"
        return None


@dataclass
class _InFlight:
    """A batch handed to the writer threads: its write (which returns the batch's dead letters), its offsets,
    when its first record arrived."""

    future: Future[int]
    offsets: dict[tuple[str, int], int]
    started: float


def consumer_config(bootstrap: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings of the loader's consumer: manual commits, large prefetch (overrides win)."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        "queued.max.messages.kbytes": 128 * 1024,
        # Prefetch up to queued.max.messages.kbytes: at the default (100,000 records) the fetches
        # stalled, and consume() alone delivered ~180k records/s here; with this, ~370k.
        "queued.min.messages": 1_000_000,
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "enable.partition.eof": False,
    }
    config.update(overrides)
    return config


class Loader:
    """Consume the trades and quotes topics into a :class:`sql.backend.Storage`.

    Parameters
    ----------
    settings
        ``kafka_*``, ``load_batch_*`` and ``stats_interval_seconds``.
    storage
        The database; its appends must be idempotent (the dedupe key).
    topics
        Topics to consume; default the trades and quotes topics of the settings.
    drain
        Stop once every partition is consumed up to its high watermark at start (``load --drain``).
    consumer_config
        Extra librdkafka consumer settings.
    reopen_rows
        Reopen the storage (:meth:`sql.backend.Storage.reopen`) after writing this many rows; ``None`` never
        (a storage shared with other users, as in ``demo``).
    fault
        Test hook for fault injection, called with the name of each point the loop passes:
        :data:`FAULT_POINTS` ``"consumed"`` (a batch taken off the consumer, not handed to the writer yet, on
        the main thread) and ``"written"`` (a batch's write returned, its offsets not committed yet, on the main
        thread). A point inside a write is the storage's: a test wraps the storage. The no-loss test stops the
        process there and kills it (``tests/ingest/test_fault_points.py``); ``None`` in production.
    """

    def __init__(self, settings: Settings, storage: Storage, *, topics: Sequence[str] | None = None,
                 drain: bool = False, stats: PipelineStats | None = None,
                 consumer_config: dict[str, Any] | None = None, reopen_rows: int | None = None,
                 fault: Callable[[str], None] | None = None) -> None:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set: 'microstructure load' reads from Kafka")
        self.settings = settings
        self.storage = storage
        self.bootstrap = settings.kafka_bootstrap_servers
        self.topics = list(topics or (settings.kafka_trades_topic, settings.kafka_quotes_topic))
        self.drain = drain
        self.batch_rows = settings.load_batch_rows
        self.batch_seconds = settings.load_batch_seconds
        self.stats = stats or PipelineStats("load")
        self.summary = LoadSummary()
        self._consumer_config = consumer_config or {}
        self._batch = _Batch()
        self._consumer: Consumer | None = None
        self._dlq: Producer | None = None
        self._lag_at = 0.0
        self._assigned: set[tuple[str, int]] = set()
        self._failed = False
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-decoder")
        self._appender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-appender")
        self._inflight: deque[_InFlight] = deque()
        self._retry: dict[tuple[str, int], int] = {}  # offsets of written batches whose commit failed
        self._write_failed = False
        self._reopen_rows = reopen_rows or None
        self._written_since_reopen = 0
        self._fault = fault or _no_fault

    # --- kafka clients -----------------------------------------------------------------------------------

    def _make_consumer(self) -> Consumer:
        overrides = {"error_cb": self._on_error, **self._consumer_config}
        return Consumer(consumer_config(self.bootstrap, self.settings.kafka_group_id, **overrides))

    def _on_error(self, err: KafkaError) -> None:
        level = logging.ERROR if err.fatal() else logging.WARNING
        log.log(level, "kafka consumer: %s", err)

    # --- rebalance callbacks (run inside consume()) ------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.update((p.topic, p.partition) for p in partitions)
        log.info("assigned %s", _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s: flushing and committing", _names(partitions))
        if not self._failed:
            self._flush_and_commit()
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s: nothing is committed for them", _names(partitions))
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            self._assigned.discard((p.topic, p.partition))
            self._batch.offsets.pop((p.topic, p.partition), None)
            self._retry.pop((p.topic, p.partition), None)

    # --- the loop ----------------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> LoadSummary:
        """Consume until ``stop`` is set (or, with ``drain``, until caught up); flush, commit, close."""
        stop = stop or threading.Event()
        dlq_topics = [t + self.settings.kafka_dlq_suffix for t in self.topics]
        topics = [*self.topics, *dlq_topics]
        if not ensure_topics(self.bootstrap, topics, self.settings.kafka_partitions, stop=stop):
            self._shutdown_writers()
            return self.summary
        consumer = self._consumer = self._make_consumer()
        self._dlq = Producer(producer_config(self.bootstrap, on_delivery=self._on_dlq_delivery))
        try:
            # inside the try: a drain whose watermarks cannot be read still closes the consumer and the writers
            targets = self._high_watermarks(consumer) if self.drain else None
            consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                               on_lost=self._on_lost)
            checked_at = time.monotonic()
            while not stop.is_set():
                messages = consumer.consume(num_messages=min(self.batch_rows, _CONSUME_AT_ONCE), timeout=0.2)
                self._take_many(messages)
                idle_drain = targets is not None and not messages
                if idle_drain:
                    self._flush_and_commit()
                elif self._due():
                    self._hand_over()
                elif self._inflight and self._inflight[0].future.done():
                    self._finish_oldest()
                self._update_lag(consumer)
                if targets is not None and (idle_drain or time.monotonic() - checked_at > 1.0):
                    checked_at = time.monotonic()
                    maybe_done = idle_drain or not self._behind(consumer, targets)
                    if maybe_done and self._caught_up(consumer, targets):
                        break
            self._flush_and_commit()
        except BaseException:
            self._failed = True
            raise
        finally:
            while self._inflight:  # only after a failure: wait for the writes, commit nothing
                self._inflight.popleft().future.exception()
            self._shutdown_writers()
            consumer.close()  # auto-commit is off: close() commits nothing
            if self._dlq is not None:
                self._dlq.flush(30)
        return self.summary

    def _take_many(self, messages: list[Any]) -> None:
        """Collect one ``consume()`` result into the batch; the decoder thread decodes it (:meth:`_decode`).

        The usual result (no error, all from the trades topic, the same headers) is taken without a Python
        loop per record: each accessor is mapped over the list in C. Anything else goes record by record.
        """
        n = len(messages)
        if n == 0:
            return
        trades_topic = self.settings.kafka_trades_topic
        topics = list(map(Message.topic, messages))
        headers = list(map(Message.headers, messages))
        # any(): a KafkaError compared with None raises inside list.count (confluent-kafka 2.16: SystemError), so an
        # error event is found by its truth value (a KafkaError is true, None false)
        if any(map(Message.error, messages)) or topics.count(trades_topic) != n or headers.count(headers[0]) != n:
            self._take_each(messages)
            return
        batch = self._batch
        partitions = list(map(Message.partition, messages))
        offsets = list(map(Message.offset, messages))
        for partition, offset in dict(zip(partitions, offsets, strict=True)).items():
            batch.offsets[(trades_topic, partition)] = offset + 1
        ts_ms = np.fromiter(map(_SECOND, map(Message.timestamp, messages)), np.int64, n)
        batch.received.extend(np.where(ts_ms > 0, ts_ms * _NS_PER_MS, time.time_ns()).tolist())
        batch.values.extend(map(Message.value, messages))
        batch.sources.extend([_source(headers[0])] * n)
        batch.partitions.extend(partitions)
        batch.offsets_of.extend(offsets)
        batch.timestamps.extend(ts_ms.tolist())
        batch.keys.extend(map(Message.key, messages))
        self._taken(n)

    def _take_each(self, messages: list[Any]) -> None:
        """:meth:`_take_many` one record at a time: consume errors, quotes, mixed headers."""
        batch = self._batch
        offsets = batch.offsets
        trades_topic = self.settings.kafka_trades_topic
        taken = 0
        for message in messages:
            err = message.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka consume error: %s", err)
                continue
            taken += 1
            topic = message.topic()
            offsets[(topic, message.partition())] = message.offset() + 1
            source = _source(message.headers())
            ts_ms = message.timestamp()[1]
            received_ns = ts_ms * _NS_PER_MS if ts_ms > 0 else time.time_ns()
            if topic == trades_topic:
                batch.values.append(message.value())
                batch.received.append(received_ns)
                batch.sources.append(source)
                batch.partitions.append(message.partition())
                batch.offsets_of.append(message.offset())
                batch.timestamps.append(ts_ms)
                batch.keys.append(message.key())
            else:
                batch.others.append((message, source, received_ns))
        self._taken(taken)

    def _taken(self, taken: int) -> None:
        if not taken:
            return
        batch = self._batch
        if batch.first_at is None:
            batch.first_at = time.monotonic()
        self.stats.consumed += taken
        self.summary.records += taken
        batch.records += taken

    def _decode(self, batch: _Batch) -> _Decoded:
        """Trades-topic records through the vectorised fast path, what it hands back and every other record
        through :meth:`_decode_one`."""
        decoded = _Decoded()
        if batch.values:
            fast = decode_trades(batch.values, batch.received, batch.sources)
            if fast.trades.num_rows:
                decoded.tables.append(fast.trades)
            for k in fast.rest:
                origin = _Origin(self.settings.kafka_trades_topic, batch.partitions[k], batch.offsets_of[k],
                                 batch.timestamps[k], batch.keys[k], batch.values[k])
                self._decode_one(decoded, origin, batch.sources[k], batch.received[k])
        for message, source, received_ns in batch.others:
            self._decode_one(decoded, message, source, received_ns)
        return decoded

    def _decode_one(self, decoded: _Decoded, message: Any, source: str, received_ns: int) -> None:
        """The reference decoder for one record: into the batch, or to the dead-letter topic."""
        value = message.value()
        try:
            event = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError as exc:
            reason: str | None = f"value is not valid JSON: {exc}"
        else:
            reason = "value is not a JSON object" if not isinstance(event, dict) else decoded.add(
                source, event, received_ns)
        if reason is not None:
            self._dead_letter(message, reason)
            decoded.dead_letters += 1

    def _dead_letter(self, message: Any, reason: str) -> None:
        assert self._dlq is not None
        self.stats.parse_errors += 1
        headers = [("dlq.error", reason.encode()), ("dlq.origin.topic", message.topic().encode()),
                   ("dlq.origin.partition", str(message.partition()).encode()),
                   ("dlq.origin.offset", str(message.offset()).encode()),
                   ("dlq.origin.timestamp", str(message.timestamp()[1]).encode())]
        topic = message.topic() + self.settings.kafka_dlq_suffix
        while True:
            try:
                self._dlq.produce(topic, message.value(), message.key(), headers=headers)
                break
            except BufferError:
                self._dlq.poll(0.05)
        if self.stats.parse_errors <= 10 or self.stats.parse_errors % 1000 == 0:
            log.warning("dead-lettered %s[%d]@%d to %s: %s", message.topic(), message.partition(),
                        message.offset(), topic, reason)

    def _on_dlq_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.stats.delivery_failures += 1
            log.error("dead-letter delivery to %s failed: %s", msg.topic(), err)

    def _due(self) -> bool:
        batch = self._batch
        if batch.records >= self.batch_rows:
            return True
        return batch.first_at is not None and time.monotonic() - batch.first_at >= self.batch_seconds

    # --- write, then commit ------------------------------------------------------------------------------

    def _append(self, decoding: Future[_Decoded]) -> int:
        """The appender thread's job: write a batch once the decoder thread has decoded it (its dead letters
        produced); return its dead letters. One appender, so batches are written in the order handed over."""
        if self._write_failed:  # the main thread re-raises the first failure; write nothing after it
            raise RuntimeError("not written: the write of an earlier batch failed")
        try:
            return self._append_decoded(decoding.result())
        except BaseException:
            self._write_failed = True
            raise

    def _append_decoded(self, decoded: _Decoded) -> int:
        normalized = [b.take() for b in decoded.frames.values()]
        trade_tables = decoded.tables + [n.trades for n in normalized if n.trades.num_rows]
        quote_tables = [n.quotes for n in normalized if n.quotes.num_rows]
        if trade_tables:
            added = self.storage.append_trades(_concat(trade_tables))
            self.summary.trades_added += added
            self.stats.produced += added
        if quote_tables:
            added = self.storage.append_quotes(_concat(quote_tables))
            self.summary.quotes_added += added
            self.stats.produced += added
        self._written_since_reopen += sum(t.num_rows for t in trade_tables + quote_tables)
        if self._reopen_rows is not None and self._written_since_reopen >= self._reopen_rows:
            self.storage.reopen()  # between writes, on the only thread that writes
            self._written_since_reopen = 0
        return decoded.dead_letters

    def _hand_over(self) -> None:
        """Hand the batch to the writer threads: the decoder decodes it while the appender writes the batch
        before it, and consuming goes on meanwhile. With :data:`_MAX_IN_FLIGHT` batches uncommitted, the
        oldest is waited for and committed first: commits stay in order, each after its batch's write."""
        while len(self._inflight) >= _MAX_IN_FLIGHT:
            self._finish_oldest()
        batch, self._batch = self._batch, _Batch()
        if batch.records == 0:
            return
        self._fault("consumed")
        started = batch.first_at or time.monotonic()
        decoding = self._decoder.submit(self._decode, batch)
        writing = self._appender.submit(self._append, decoding)
        self._inflight.append(_InFlight(writing, batch.offsets, started))

    def _finish_inflight(self) -> None:
        """Wait for every batch handed over and commit each in turn."""
        while self._inflight:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        """Wait for the oldest write (re-raising its error), make its dead letters durable, commit it."""
        inflight = self._inflight.popleft()
        dead_letters = inflight.future.result()
        self._fault("written")
        if dead_letters:
            assert self._dlq is not None
            failures = self.stats.delivery_failures
            left = self._dlq.flush(60)
            if left or self.stats.delivery_failures > failures:
                raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT,
                                                "dead-letter records were not delivered; not committing"))
            self.stats.dead_lettered += dead_letters
            self.summary.dead_lettered += dead_letters
        offsets = [TopicPartition(t, p, o) for (t, p), o in inflight.offsets.items() if (t, p) in self._assigned]
        if offsets and self._consumer is not None:
            self._commit(offsets)
        self.summary.batches += 1
        self.stats.add_batch(time.monotonic() - inflight.started)

    def _flush_and_commit(self) -> None:
        """Write the batch and commit it now, after the writes in flight (revocation, stop, drain)."""
        self._hand_over()
        self._finish_inflight()
        if self._retry and self._consumer is not None:  # a drain waits for these: nothing else commits them
            self._commit([])

    def _shutdown_writers(self) -> None:
        self._decoder.shutdown(wait=True)
        self._appender.shutdown(wait=True)

    def _commit(self, offsets: list[TopicPartition]) -> None:
        """Commit synchronously. A failed commit is logged, not fatal: the rows are durable already, so the
        records are merely re-delivered (after a rebalance or restart) and deduplicated by the database. Its
        offsets go again with the next commit (a drain's last batch: with the next idle poll), so that a drain
        still ends once every partition's offsets are committed."""
        assert self._consumer is not None
        wanted = dict(self._retry)
        for tp in offsets:
            wanted[(tp.topic, tp.partition)] = max(tp.offset, wanted.get((tp.topic, tp.partition), tp.offset))
        self._retry = {}
        offsets = [TopicPartition(t, p, o) for (t, p), o in wanted.items() if (t, p) in self._assigned]
        if not offsets:
            return
        try:
            results = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as exc:
            self.summary.commit_failures += 1
            self._retry = {(tp.topic, tp.partition): tp.offset for tp in offsets}
            log.warning("offset commit failed (records will be re-delivered and deduplicated): %s", exc)
            return
        errors = [tp for tp in results if tp.error is not None]
        if errors:
            self.summary.commit_failures += 1
            self._retry = {(tp.topic, tp.partition): wanted[(tp.topic, tp.partition)] for tp in errors}
            log.warning("offset commit failed for %s: %s", _names(errors), errors[0].error)
        else:
            self.summary.commits += 1

    # --- lag and drain -----------------------------------------------------------------------------------

    def _partitions(self, consumer: Consumer) -> list[TopicPartition]:
        metadata = consumer.list_topics(timeout=30)
        out = []
        for topic in self.topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                raise KafkaException(meta.error if meta is not None else
                                     KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"no topic {topic}"))
            out += [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        return out

    def _high_watermarks(self, consumer: Consumer) -> dict[tuple[str, int], tuple[int, int]]:
        targets = {}
        for tp in self._partitions(consumer):
            low, high = consumer.get_watermark_offsets(tp, timeout=30)
            targets[(tp.topic, tp.partition)] = (low, high)
        log.info("drain: %d records up to the high watermarks",
                 sum(h - lo for lo, h in targets.values()))
        return targets

    def _behind(self, consumer: Consumer, targets: dict[tuple[str, int], tuple[int, int]]) -> bool:
        """Whether this consumer has yet to read up to the target of a partition it holds: a local answer,
        where :meth:`_caught_up` asks the group coordinator (a round trip that stalls the loop ~0.1 s)."""
        held = [TopicPartition(t, p) for t, p in self._assigned if (t, p) in targets]
        for tp in consumer.position(held):
            low, high = targets[(tp.topic, tp.partition)]
            if max(tp.offset, low) < high:
                return True
        return False

    def _caught_up(self, consumer: Consumer, targets: dict[tuple[str, int], tuple[int, int]]) -> bool:
        tps = [TopicPartition(t, p) for t, p in targets]
        try:
            committed = consumer.committed(tps, timeout=30)
        except KafkaException as exc:
            log.warning("drain: committed offsets not available yet: %s", exc)
            return False
        for tp in committed:
            low, high = targets[(tp.topic, tp.partition)]
            # no commit yet (OFFSET_INVALID, negative), or one below the low watermark (retention deleted every
            # record after it: nothing is left there to read or commit): the partition starts at its low watermark
            position = max(tp.offset, low)
            if position < high:
                return False
        return True

    def _update_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._lag_at < _LAG_EVERY_S or not self._assigned:
            return
        self._lag_at = now
        lag = 0
        try:
            tps = [TopicPartition(t, p) for t, p in self._assigned]
            for tp in consumer.position(tps):
                # cached: the high watermark of the last fetch response; asking the broker costs a round
                # trip per partition that queues behind the fetch requests (~0.3 s each under load).
                _low, high = consumer.get_watermark_offsets(tp, timeout=5, cached=True)
                if tp.offset >= 0 and high >= 0:
                    lag += max(0, high - tp.offset)
        except KafkaException as exc:
            log.debug("lag not available: %s", exc)
            return
        self.stats.lag = lag


_SECOND = itemgetter(1)


@dataclass(frozen=True, slots=True)
class _Origin:
    """What the per-record decoder and the dead-letter topic need of a record, with ``Message``'s accessors."""

    topic_: str
    partition_: int
    offset_: int
    timestamp_ms: int
    key_: bytes | None
    value_: bytes | None

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def timestamp(self) -> tuple[int, int]:
        return (1, self.timestamp_ms)  # TIMESTAMP_CREATE_TIME; only [1] is read

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_


def _no_fault(point: str) -> None:
    """The production ``fault`` hook: nothing."""


def _source(headers: list[tuple[str, bytes]] | None) -> str:
    """The ``source`` header of a record (``ws`` without one)."""
    source = "ws"
    if headers:
        for name, raw in headers:
            if name == "source" and raw:
                source = raw.decode("utf-8", "replace")
    return source


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"


def run_loader(settings: Settings, storage: Storage, *, drain: bool = False,
               install_signals: Callable[[threading.Event], None] | None = None) -> LoadSummary:
    """Run a :class:`Loader` with its statistics line; ``install_signals`` wires SIGINT/SIGTERM to stop.

    ``storage`` is this process's own: it is reopened every ``LOAD_REOPEN_ROWS`` rows written."""
    from ingest.stats import StatsReporter

    stop = threading.Event()
    if install_signals is not None:
        install_signals(stop)
    loader = Loader(settings, storage, drain=drain, reopen_rows=settings.load_reopen_rows)
    with StatsReporter(loader.stats, settings.stats_interval_seconds, log):
        return loader.run(stop)
