"""The loader's dead-letter path in process on a real broker: a record no decoder takes goes to
``<topic>KAFKA_DLQ_SUFFIX`` with its key and value unchanged, its reason and its origin, and is counted; a
batch with dead letters is committed, and its dead letters counted, only once they are delivered; a
dead-letter topic that cannot be reached commits nothing, and a restart then loads every row once and
dead-letters every bad record once (the whole loader over many records: ``test_kafka_pipeline.py``).

The expected reasons and headers are written out by hand from the loader's contract (module docstring of
``ingest/load.py``), not computed with its functions.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future

import orjson
import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, Producer, TopicPartition

from ingest.load import Loader, _Decoded, _InFlight, _Origin, consumer_config
from ingest.produce import ensure_topics, producer_config
from sql.duckdb_backend import DuckDBStorage
from tests.ingest.test_kafka_pipeline import _committed_total, _produced, kafka_settings, stock_trade_events

pytestmark = [pytest.mark.kafka, pytest.mark.duckdb]

#: A broker address nothing listens on, and a delivery timeout that gives up on it within a second.
NOWHERE = {"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 500, "log_level": 0}


def _dead_letters(bootstrap: str, topic: str, expected: int, partitions: int = 1) -> list:
    """Every record of ``topic`` (from the start), once ``expected`` of them arrived or after 60 s, and a last
    poll that would show one too many."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: list = []
    deadline = time.monotonic() + 60
    while len(found) < expected and time.monotonic() < deadline:
        found += [m for m in consumer.consume(100, 1.0) if m.error() is None]
    found += [m for m in consumer.consume(100, 2.0) if m.error() is None]
    consumer.close()
    return found


def _done(dead_letters: int) -> Future[int]:
    future: Future[int] = Future()
    future.set_result(dead_letters)
    return future


def _loader(settings) -> Loader:  # type: ignore[no-untyped-def]
    storage = DuckDBStorage.open(settings)
    return Loader(settings, storage, topics=[settings.kafka_trades_topic])


def test_a_malformed_record_goes_to_its_dead_letter_topic_unchanged_with_its_reason_and_origin(
        kafka_bootstrap, tmp_path):
    settings = kafka_settings(kafka_bootstrap, tmp_path / "dlq.duckdb")
    topic, dlq = settings.kafka_trades_topic, settings.kafka_trades_topic + ".dlq"
    ensure_topics(kafka_bootstrap, [dlq], 1)
    loader = _loader(settings)
    loader._dlq = Producer(producer_config(kafka_bootstrap, on_delivery=loader._on_dlq_delivery))
    good = orjson.dumps(stock_trade_events(1)[0])
    records = [  # (partition, offset, timestamp ms, key, value, the reason expected; None: accepted)
        (2, 41, 1_700_000_000_123, b"k-json", b"{not json",
         "value is not valid JSON: unexpected character, expected a string key: line 1 column 2 (char 1)"),
        (0, 7, 5, b"k-list", b"[1,2]", "value is not a JSON object"),
        (1, 0, 1, b"k-none", None, "value is not a JSON object"),
        (0, 8, 6, None, b'{"ev":"ZZ","sym":"AAPL"}', "unsupported event type ev='ZZ'"),
        (0, 9, 7, b"k-field", b'{"ev":"T","sym":"AAPL"}', "T: missing field 't'"),
        (1, 3, 9, b"k-status", b'{"ev":"status","status":"connected","message":"hi"}',
         "status event is not market data"),
        (2, 42, 8, b"k-good", good, None),
    ]  # fmt: skip
    decoded = _Decoded()
    for partition, offset, ts_ms, key, value, _ in records:
        loader._decode_one(decoded, _Origin(topic, partition, offset, ts_ms, key, value), "ws", 10**18)
    assert loader._dlq.flush(30) == 0
    bad = [r for r in records if r[5] is not None]
    assert decoded.dead_letters == len(bad) == 6 and loader.stats.parse_errors == 6
    assert loader.stats.delivery_failures == 0
    accepted = decoded.frames["ws"].take().trades  # the good record is in the batch, not dead-lettered
    assert accepted.num_rows == 1 and accepted.column("received_ns").to_pylist() == [10**18]

    dead = _dead_letters(kafka_bootstrap, dlq, len(bad))
    assert [(m.key(), m.value(), m.headers()) for m in dead] == [
        (key, value, [("dlq.error", reason.encode()), ("dlq.origin.topic", topic.encode()),
                      ("dlq.origin.partition", str(partition).encode()), ("dlq.origin.offset", str(offset).encode()),
                      ("dlq.origin.timestamp", str(ts_ms).encode())])
        for partition, offset, ts_ms, key, value, reason in bad]  # fmt: skip
    loader.storage.close()


def test_a_batch_is_committed_and_its_dead_letters_counted_only_once_they_are_delivered(kafka_bootstrap, tmp_path,
                                                                                       caplog):
    settings = kafka_settings(kafka_bootstrap, tmp_path / "commit.duckdb")
    topic = settings.kafka_trades_topic
    ensure_topics(kafka_bootstrap, [topic, topic + ".dlq"], 3)
    loader = _loader(settings)
    loader._consumer = Consumer(consumer_config(kafka_bootstrap, settings.kafka_group_id))
    loader._assigned = {(topic, 0), (topic, 2)}
    loader._dlq = Producer(producer_config(kafka_bootstrap, on_delivery=loader._on_dlq_delivery))
    for offset in (3, 4):
        loader._dead_letter(_Origin(topic, 0, offset, 1, b"k", b"x"), "a reason")
    # partition 1 is not assigned (revoked meanwhile): its offset is not committed
    started = time.monotonic() - 5.0  # its first record arrived 5 s ago
    loader._inflight.append(_InFlight(_done(2), {(topic, 0): 10, (topic, 1): 5, (topic, 2): 1}, started))
    loader._finish_oldest()
    assert 5.0 <= loader.stats.batch_seconds_total <= time.monotonic() - started  # first record to durable
    assert (loader.summary.dead_lettered, loader.stats.dead_lettered) == (2, 2)
    assert (loader.summary.commits, loader.summary.batches, loader.summary.commit_failures) == (1, 1, 0)
    assert _committed(settings) == [10, OFFSET_INVALID, 1]

    # the dead-letter topic cannot be reached: the batch is written but neither committed nor counted
    loader._dlq = Producer(producer_config(kafka_bootstrap, on_delivery=loader._on_dlq_delivery, **NOWHERE))
    caplog.clear()
    loader._inflight.append(_InFlight(_done(2), {(topic, 0): 20}, time.monotonic()))
    with caplog.at_level(logging.WARNING, logger="ingest.load"), \
            pytest.raises(KafkaException, match='str="dead-letter records were not delivered; not committing"'):
        for offset in (11, 12):
            loader._dead_letter(_Origin(topic, 0, offset, 1, b"k", b"x"), "a reason")
        loader._finish_oldest()
    assert loader.stats.delivery_failures == 2
    failed = ("ERROR", f"dead-letter delivery to {topic}.dlq failed: KafkaError{{code=_MSG_TIMED_OUT,val=-192,"
                       f"str=\"Local: Message timed out\"}}")  # fmt: skip
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "ingest.load"] == [
        ("WARNING", f"dead-lettered {topic}[0]@11 to {topic}.dlq: a reason"),
        ("WARNING", f"dead-lettered {topic}[0]@12 to {topic}.dlq: a reason"), failed, failed]
    assert (loader.summary.dead_lettered, loader.stats.dead_lettered) == (2, 2)
    assert (loader.summary.commits, loader.summary.batches) == (1, 1)
    assert _committed(settings) == [10, OFFSET_INVALID, 1]

    # a batch without dead letters does not wait for the dead-letter producer (still failing): committed
    loader._inflight.append(_InFlight(_done(0), {(topic, 2): 4}, time.monotonic()))
    loader._finish_oldest()
    assert (loader.summary.commits, loader.summary.batches, loader.summary.dead_lettered) == (2, 2, 2)
    assert _committed(settings) == [10, OFFSET_INVALID, 4]

    # a batch of partitions no longer assigned commits nothing (and does not try); dead letters add up
    loader._dlq = Producer(producer_config(kafka_bootstrap, on_delivery=loader._on_dlq_delivery))
    loader._dead_letter(_Origin(topic, 1, 6, 1, b"k", b"x"), "a reason")
    loader._inflight.append(_InFlight(_done(1), {(topic, 1): 7}, time.monotonic()))
    loader._finish_oldest()
    assert (loader.summary.commits, loader.summary.commit_failures, loader.summary.batches) == (2, 0, 3)
    assert (loader.summary.dead_lettered, loader.stats.dead_lettered) == (3, 3)
    assert _committed(settings) == [10, OFFSET_INVALID, 4]
    loader._consumer.close()
    loader.storage.close()


def test_the_first_ten_dead_letters_and_every_thousandth_are_logged(kafka_bootstrap, tmp_path, caplog):
    settings = kafka_settings(kafka_bootstrap, tmp_path / "logged.duckdb")
    topic = settings.kafka_trades_topic
    loader = _loader(settings)
    loader._dlq = Producer(producer_config(kafka_bootstrap, on_delivery=loader._on_dlq_delivery, **NOWHERE))
    with caplog.at_level(logging.WARNING, logger="ingest.load"):
        for offset in range(2001):
            loader._dead_letter(_Origin(topic, 1, offset, 1, None, b"x"), "why")
    logged = [r.getMessage() for r in caplog.records if r.name == "ingest.load"]
    assert logged == [f"dead-lettered {topic}[1]@{offset} to {topic}.dlq: why" for offset in [*range(10), 999, 1999]]
    assert loader.stats.parse_errors == 2001
    loader._dlq.purge()
    loader.storage.close()


def _committed(settings) -> list[int]:  # type: ignore[no-untyped-def]
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": settings.kafka_group_id,
                         "enable.auto.commit": False})  # fmt: skip
    try:
        tps = consumer.committed([TopicPartition(settings.kafka_trades_topic, p) for p in range(3)], timeout=30)
    finally:
        consumer.close()
    return [tp.offset for tp in tps]


BAD = [(b"bad-0", b"{not json"), (b"bad-1", b"[1,2]"), (b"bad-2", b'{"ev":"ZZ"}'), (b"bad-3", b'"text"')]


def test_an_unreachable_dead_letter_topic_loses_and_duplicates_nothing_after_a_restart(kafka_bootstrap, tmp_path):
    settings, events = _produced(kafka_bootstrap, tmp_path / "restart.duckdb", 1500, seed=31, batch_rows=500)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for key, value in BAD:
        producer.produce(settings.kafka_trades_topic, value, key)
    assert producer.flush(60) == 0
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    first = Loader(settings, storage, topics=[settings.kafka_trades_topic], drain=True)

    swapped: list[Producer] = []

    def swap(point: str) -> None:
        """From the first batch on, the dead letters go to a producer whose broker never answers."""
        if point == "consumed" and not swapped:
            swapped.append(Producer(producer_config(kafka_bootstrap, on_delivery=first._on_dlq_delivery, **NOWHERE)))
            first._dlq = swapped[0]

    first._fault = swap
    with pytest.raises(KafkaException, match="not committing"):
        first.run()
    assert first.summary.dead_lettered == 0 and first.stats.delivery_failures >= 1
    assert _committed_total(settings) < len(events) + len(BAD)

    second = Loader(settings, storage, topics=[settings.kafka_trades_topic], drain=True).run()
    stored = storage.fetch_one("SELECT count(*), count(DISTINCT (symbol, exchange, trade_id, ts_ns)) "
                               "FROM market_data")  # fmt: skip
    storage.close()
    assert stored == (len(events), len(events))
    assert second.dead_lettered == len(BAD)
    assert _committed_total(settings) == len(events) + len(BAD)
    dead = _dead_letters(kafka_bootstrap, settings.kafka_trades_topic + ".dlq", len(BAD), partitions=3)
    assert sorted((m.key(), m.value()) for m in dead) == sorted(BAD)
