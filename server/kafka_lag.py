"""Kafka lag for ``/health``: how many records of the input topics the loader group has not committed yet.

A process that hosts the loader (``demo``/``run`` with ``KAFKA_BOOTSTRAP_SERVERS``) reports the loader's own
statistics. A ``serve`` process has no loader; with ``KAFKA_BOOTSTRAP_SERVERS`` set it asks the broker:
the committed offsets of ``KAFKA_GROUP_ID`` on the trades and quotes topics against their high watermarks,
read at most every :data:`CACHE_SECONDS` (a health check must not queue requests at the broker).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sql.settings import Settings

__all__ = ["CACHE_SECONDS", "KafkaLagProbe", "loader_lag"]

#: How long one reading of the broker is reused.
CACHE_SECONDS = 5.0

_TIMEOUT_S = 2.0


def loader_lag(stats: Any) -> dict[str, Any]:
    """The ``kafka`` field of ``/health`` from an in-process loader's ``PipelineStats``."""
    return {
        "source": "loader",
        "lag": int(stats.lag),
        "consumed": int(stats.consumed),
        "dead_lettered": int(stats.dead_lettered),
        "parse_errors": int(stats.parse_errors),
    }


class KafkaLagProbe:
    """Reads the consumer group's lag from the broker, cached for :data:`CACHE_SECONDS`."""

    def __init__(self, settings: Settings) -> None:
        assert settings.kafka_bootstrap_servers
        self._bootstrap = settings.kafka_bootstrap_servers
        self._group = settings.kafka_group_id
        self._topics = [settings.kafka_trades_topic, settings.kafka_quotes_topic]
        self._lock = threading.Lock()
        self._value: dict[str, Any] | None = None
        self._read_at = 0.0

    def __call__(self) -> dict[str, Any]:
        """The ``kafka`` field of ``/health``: total and per-topic lag, or the error that prevented reading it."""
        with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._read_at >= CACHE_SECONDS:
                self._value, self._read_at = self._read(), now
            return {**self._value, "age_seconds": round(now - self._read_at, 3)}

    def _read(self) -> dict[str, Any]:
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        config = {
            "bootstrap.servers": self._bootstrap,
            "group.id": self._group,
            "enable.auto.commit": False,
            "socket.timeout.ms": int(_TIMEOUT_S * 1000),
        }
        base: dict[str, Any] = {"source": "broker", "group": self._group}
        consumer = Consumer(config)  # never subscribes: it only reads offsets of the group
        try:
            metadata = consumer.list_topics(timeout=_TIMEOUT_S)
            partitions = [
                TopicPartition(topic, p)
                for topic in self._topics
                if topic in metadata.topics and metadata.topics[topic].error is None
                for p in sorted(metadata.topics[topic].partitions)
            ]
            committed = consumer.committed(partitions, timeout=_TIMEOUT_S) if partitions else []
            per_topic: dict[str, int] = {}
            for tp in committed:
                low, high = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S)
                position = tp.offset if tp.offset >= 0 else low  # nothing committed: all retained is lag
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(0, high - position)
            missing = [t for t in self._topics if t not in metadata.topics]
            return {**base, "lag": sum(per_topic.values()), "topics": per_topic, "missing_topics": missing}
        except KafkaException as exc:
            return {**base, "lag": None, "error": str(exc.args[0] if exc.args else exc)}
        finally:
            consumer.close()
