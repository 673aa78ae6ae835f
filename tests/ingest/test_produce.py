"""The idempotent producer's guarantees against a real broker: a full local queue blocks the caller and
drops nothing, keys keep their order, and failed deliveries are counted and logged."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid

import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from ingest.produce import EventProducer, ensure_topics
from ingest.stats import PipelineStats

pytestmark = [pytest.mark.kafka]
SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "SPY", "AMZN", "GOOGL"]


def read_all(bootstrap: str, topic: str, partitions: int, expected: int) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    messages: list = []
    for _ in range(120):
        messages += [m for m in consumer.consume(10_000, 0.5) if m.error() is None]
        if len(messages) >= expected:
            break
    consumer.close()
    return messages


def test_a_full_local_queue_blocks_the_producer_and_loses_nothing(kafka_bootstrap):
    tag = uuid.uuid4().hex[:8]
    trades, quotes = f"p-{tag}.trades", f"p-{tag}.quotes"
    ensure_topics(kafka_bootstrap, [trades, quotes], 3)
    stats = PipelineStats("test-produce")
    # A queue of 200 messages: both paths hit BufferError again and again and must wait, not drop.
    producer = EventProducer(kafka_bootstrap, trades, quotes, stats, **{"queue.buffering.max.messages": 200})
    n = 12_000
    keys = [SYMBOLS[k % len(SYMBOLS)] for k in range(n)]
    values = [orjson.dumps({"ev": "T", "sym": keys[k], "i": str(k), "q": k}) for k in range(n)]
    producer.send_many(trades, keys, values, {"source": b"replay"})
    events = [{"ev": "Q" if k % 3 else "T", "sym": SYMBOLS[k % len(SYMBOLS)], "i": f"e{k}", "q": n + k}
              for k in range(6000)]
    statuses: list = []
    rejects: list = []
    sent = producer.send_events(events, {"source": b"sim"}, statuses, rejects)
    assert producer.flush(60) == 0
    assert sent == (2000, 4000) and not statuses and not rejects
    assert stats.produced == n + 6000 and stats.delivery_failures == 0

    got = read_all(kafka_bootstrap, trades, 3, n + 2000)
    assert len(got) == n + 2000  # nothing lost; the idempotent producer duplicates nothing
    by_key: dict[str, list[tuple[int, int, int]]] = {}
    for m in got:
        event = orjson.loads(m.value())
        assert m.key().decode() == event["sym"]
        assert dict(m.headers()) == {"source": b"replay" if event["q"] < n else b"sim"}
        by_key.setdefault(event["sym"], []).append((m.partition(), m.offset(), event["q"]))
    assert sorted(q for rows in by_key.values() for _, _, q in rows) == sorted(
        [*range(n), *(n + k for k in range(6000) if k % 3 == 0)])
    for rows in by_key.values():  # one partition per key, produced order kept
        assert len({p for p, _, _ in rows}) == 1
        assert [q for _, _, q in sorted(rows)] == sorted(q for _, _, q in rows)
    assert len(read_all(kafka_bootstrap, quotes, 3, 4000)) == 4000


def test_failed_deliveries_are_counted_and_logged(caplog):
    stats = PipelineStats("test-produce")
    producer = EventProducer("127.0.0.1:1", "nowhere.trades", "nowhere.quotes", stats,
                             **{"message.timeout.ms": 300, "socket.connection.setup.timeout.ms": 1000})
    with caplog.at_level(logging.ERROR, logger="ingest.produce"):
        producer.send_many("nowhere.trades", ["AAPL"] * 25, [b'{"ev":"T"}'] * 25, {"source": b"replay"})
        left = producer.flush(10)
    assert left == 0 and stats.produced == 25
    assert stats.delivery_failures == 25
    assert sum("kafka delivery failed" in r.getMessage() for r in caplog.records) == 10  # first 10, then every 1000th


def _dead_bootstrap() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def test_ensure_topics_waits_for_a_broker_then_gives_up_or_stops() -> None:
    started = time.monotonic()
    with pytest.raises(KafkaException):
        ensure_topics(_dead_bootstrap(), ["t"], 1, timeout_s=0.3, wait_s=1.5)
    assert time.monotonic() - started >= 1.0  # it retried before giving up
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    assert ensure_topics(_dead_bootstrap(), ["t"], 1, timeout_s=0.3, wait_s=600, stop=stop) is False
    assert time.monotonic() - started < 30


def test_ensure_topics_creates_what_is_missing_once(kafka_bootstrap: str) -> None:
    topic = f"ensure-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(kafka_bootstrap, [topic, topic], 2) is True
    assert ensure_topics(kafka_bootstrap, [topic], 2) is True  # existing: nothing to do
    meta = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(topic, timeout=30)
    assert len(meta.topics[topic].partitions) == 2
