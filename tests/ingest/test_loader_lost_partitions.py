"""A partition the loader loses (``on_lost``: its session expired, another member owns it now) or has revoked is
forgotten with the offsets it still meant to commit: a commit that the broker refused before is not sent again
for it, so the loader never overwrites the offsets its new owner commits; and a commit is synchronous, so a
refusal is seen (counted, retried) at the call. In process, with a stand-in for the consumer that records what
would reach the broker (the real broker path: ``test_loader_commit.py``, where a local broker's asynchronous
commit lands too fast to tell)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from ingest.load import Loader
from sql.settings import Settings


class _Consumer:
    """Records each commit's (partition, offset) pairs; refuses the first ``refuse`` synchronous commits. Like
    ``confluent_kafka.Consumer.commit`` (asynchronous unless told otherwise), an asynchronous commit returns
    ``None`` at once and never raises: its outcome would arrive later, in a callback."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.sent: list[list[tuple[int, int]]] = []

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool = True) -> Any:
        self.sent.append(sorted((tp.partition, tp.offset) for tp in offsets))
        if asynchronous:
            return None
        if self.refuse:
            self.refuse -= 1
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS, "the group is rebalancing (test)"))
        return [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in offsets]


def _loader(tmp_path, refuse: int) -> tuple[Loader, _Consumer]:
    settings = Settings(duckdb_path=tmp_path / "unused.duckdb", kafka_bootstrap_servers="127.0.0.1:9")
    loader = Loader(settings, storage=None, topics=["trades"])  # type: ignore[arg-type]
    consumer = _Consumer(refuse)
    loader._consumer = consumer  # type: ignore[assignment]
    loader._on_assign(consumer, [TopicPartition("trades", 0), TopicPartition("trades", 1)])  # type: ignore[arg-type]
    return loader, consumer


def test_a_lost_partition_s_refused_offsets_are_not_sent_again(tmp_path):
    loader, consumer = _loader(tmp_path, refuse=1)
    try:
        loader._commit([TopicPartition("trades", 0, 10), TopicPartition("trades", 1, 20)])  # refused: kept
        loader._on_lost(consumer, [TopicPartition("trades", 0)])  # type: ignore[arg-type]
        loader._commit([TopicPartition("trades", 1, 25)])
        loader._commit([TopicPartition("trades", 0, 30)])  # a late batch of the lost partition: not this loader's
        assert consumer.sent == [[(0, 10), (1, 20)], [(1, 25)]]
        assert loader.summary.commit_failures == 1 and loader.summary.commits == 1
    finally:
        loader._shutdown_writers()


def test_a_partition_assigned_again_after_it_was_lost_starts_without_the_old_offsets(tmp_path):
    loader, consumer = _loader(tmp_path, refuse=1)
    try:
        loader._commit([TopicPartition("trades", 0, 10), TopicPartition("trades", 1, 20)])  # refused: kept
        loader._on_lost(consumer, [TopicPartition("trades", 0), TopicPartition("trades", 1)])  # type: ignore[arg-type]
        loader._on_assign(consumer, [TopicPartition("trades", 0)])  # type: ignore[arg-type]
        loader._commit([TopicPartition("trades", 0, 4)])  # the new owner's offset, below the forgotten 10
        assert consumer.sent == [[(0, 10), (1, 20)], [(0, 4)]]
    finally:
        loader._shutdown_writers()


def test_a_lost_partition_s_offsets_in_the_batch_being_gathered_are_not_committed(tmp_path):
    """Records of both partitions gathered (nothing in them to store), partition 0 lost and then assigned to this
    loader again (its owner in between may have committed further): the batch, once written, commits partition
    1 only, so the group's offset of partition 0 is not moved back to what this loader read before the loss."""
    loader, consumer = _loader(tmp_path, refuse=0)
    try:
        loader._batch.offsets.update({("trades", 0): 11, ("trades", 1): 21})
        loader._batch.records = 2
        loader._on_lost(consumer, [TopicPartition("trades", 0)])  # type: ignore[arg-type]
        loader._on_assign(consumer, [TopicPartition("trades", 0)])  # type: ignore[arg-type]
        loader._flush_and_commit()
        assert consumer.sent == [[(1, 21)]]
        assert loader.summary.batches == 1 and loader.summary.commits == 1
    finally:
        loader._shutdown_writers()
