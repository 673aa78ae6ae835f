"""The loader's offset commit (``Loader._commit``, ``_flush_and_commit``, ``_forget``) in process and without a
broker: the consumer is a stand-in that records what each commit would send and answers as
``confluent_kafka.Consumer.commit`` does (a list of partitions, each with its ``error``, or a raised
``KafkaException``). The contract (``_commit``'s docstring, ``ingest/load.py``'s module docstring): a commit is
synchronous; it sends, per assigned partition, the highest offset wanted (the ones a failed commit left to retry
with the new ones); a partition not assigned is never committed; a refused commit is counted and logged, not
fatal, and its offsets go again with the next commit; a partition the broker reports an error for is retried
alone, the others are committed; a lost or revoked partition is forgotten with its offsets. Every expected value
is written out from the offsets the test hands in. Milliseconds a test (the mutation row ``loader-commit``); the
same paths on a real broker: ``test_loader_commit.py``, ``test_commit_order.py``."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from ingest.load import Loader
from sql.settings import Settings

REFUSED = KafkaError(KafkaError.REBALANCE_IN_PROGRESS, "the group is rebalancing (test)")


class Consumer:
    """Records each commit's ``(topic, partition, offset)`` triples and whether it asked to be asynchronous; answers the
    next scripted outcome: ``None`` (the offsets back, no error), ``"raise"`` (a ``KafkaException``), ``"none"``
    (``commit`` returns ``None``) or a set of partitions the broker reports an error for."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[list[tuple[str, int, int]]] = []
        self.asynchronous: list[Any] = []

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        assert not args and set(kwargs) == {"offsets", "asynchronous"}
        offsets = kwargs["offsets"]
        self.sent.append(sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))
        self.asynchronous.append(bool(kwargs["asynchronous"]))  # confluent-kafka takes its truth value
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome == "raise":
            raise KafkaException(REFUSED)
        if outcome == "none":
            return None
        failed = outcome or set()
        # the answer's partitions as the broker reports them (``TopicPartition.error`` cannot be set from Python)
        return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=tp.offset, error=KafkaError(
            KafkaError.NOT_COORDINATOR, f"not the coordinator ({tp.partition})") if tp.partition in failed else None)
            for tp in offsets]  # fmt: skip


@pytest.fixture
def make(tmp_path):
    made: list[Loader] = []

    def make(*outcomes: Any, assigned: tuple[int, ...] = (0, 1, 2)) -> tuple[Loader, Consumer]:
        settings = Settings(duckdb_path=tmp_path / "unused.duckdb", kafka_bootstrap_servers="127.0.0.1:9")
        loader = Loader(settings, storage=None, topics=["trades"])  # type: ignore[arg-type]
        made.append(loader)
        consumer = Consumer(*outcomes)
        loader._consumer = consumer  # type: ignore[assignment]
        loader._on_assign(consumer, [TopicPartition("trades", p) for p in assigned])  # type: ignore[arg-type]
        return loader, consumer

    yield make
    for loader in made:
        loader._shutdown_writers()


def _tp(partition: int, offset: int, topic: str = "trades") -> TopicPartition:
    return TopicPartition(topic, partition, offset)


def test_a_commit_is_synchronous_and_sends_the_assigned_partitions_offsets(make):
    loader, consumer = make()
    loader._commit([_tp(0, 10), _tp(1, 20), _tp(5, 50), _tp(2, 7, topic="quotes")])
    assert consumer.sent == [[("trades", 0, 10), ("trades", 1, 20)]]  # never a partition not assigned
    assert consumer.asynchronous == [False]
    assert (loader.summary.commits, loader.summary.commit_failures, loader._retry) == (1, 0, {})
    loader._commit([_tp(1, 21)])
    assert consumer.sent[1] == [("trades", 1, 21)] and loader.summary.commits == 2


def test_nothing_to_commit_sends_nothing_and_counts_nothing(make):
    loader, consumer = make()
    loader._commit([])
    loader._commit([_tp(7, 70)])  # a partition not assigned only
    assert consumer.sent == [] and (loader.summary.commits, loader.summary.commit_failures) == (0, 0)


def test_a_commit_answered_with_none_counts_as_committed(make):
    loader, consumer = make("none")
    loader._commit([_tp(0, 3)])
    assert consumer.sent == [[("trades", 0, 3)]]
    assert (loader.summary.commits, loader.summary.commit_failures, loader._retry) == (1, 0, {})


def test_a_refused_commit_is_counted_logged_and_its_offsets_go_with_the_next(make, caplog):
    loader, consumer = make("raise", "raise", None)
    with caplog.at_level(logging.WARNING, logger="ingest.load"):
        loader._commit([_tp(0, 10), _tp(1, 20)])
    assert (loader.summary.commits, loader.summary.commit_failures) == (0, 1)
    assert loader._retry == {("trades", 0): 10, ("trades", 1): 20}
    assert [r.getMessage() for r in caplog.records] == [
        f"offset commit failed (records will be re-delivered and deduplicated): {KafkaException(REFUSED)}"]
    assert caplog.records[0].levelno == logging.WARNING
    loader._commit([_tp(1, 25), _tp(2, 30)])  # refused again: the newest of each partition is kept
    assert consumer.sent[1] == [("trades", 0, 10), ("trades", 1, 25), ("trades", 2, 30)]
    assert loader._retry == {("trades", 0): 10, ("trades", 1): 25, ("trades", 2): 30}
    assert (loader.summary.commits, loader.summary.commit_failures) == (0, 2)
    loader._commit([_tp(2, 31)])
    assert consumer.sent[2] == [("trades", 0, 10), ("trades", 1, 25), ("trades", 2, 31)]
    assert (loader.summary.commits, loader.summary.commit_failures, loader._retry) == (1, 2, {})
    assert consumer.asynchronous == [False] * 3


def test_a_partition_the_broker_reports_an_error_for_is_retried_alone_and_named(make, caplog):
    loader, consumer = make({1, 2}, {0}, None)
    with caplog.at_level(logging.WARNING, logger="ingest.load"):
        loader._commit([_tp(0, 10), _tp(1, 20), _tp(2, 30)])
    assert (loader.summary.commits, loader.summary.commit_failures) == (0, 1)
    assert loader._retry == {("trades", 1): 20, ("trades", 2): 30}
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    error = KafkaError(KafkaError.NOT_COORDINATOR, "not the coordinator (1)")
    assert record.getMessage() == f"offset commit failed for trades[1], trades[2]: {error}"
    loader._commit([_tp(0, 11)])  # partition 0 refused now: retried alone, counted again
    assert consumer.sent[1] == [("trades", 0, 11), ("trades", 1, 20), ("trades", 2, 30)]
    assert (loader.summary.commits, loader.summary.commit_failures) == (0, 2)
    assert loader._retry == {("trades", 0): 11}
    loader._commit([])
    assert consumer.sent[2] == [("trades", 0, 11)]
    assert (loader.summary.commits, loader.summary.commit_failures, loader._retry) == (1, 2, {})


def test_a_retried_offset_is_dropped_once_its_partition_is_not_assigned(make):
    loader, consumer = make("raise", None)
    loader._commit([_tp(0, 10), _tp(1, 20)])
    loader._assigned.discard(("trades", 0))  # not through _forget: _commit itself keeps to the assigned ones
    loader._commit([_tp(1, 21)])
    assert consumer.sent[1] == [("trades", 1, 21)] and loader._retry == {}


def test_forget_drops_only_the_given_partitions_assignment_batch_offsets_and_retries(make):
    loader, consumer = make("raise")
    loader._commit([_tp(0, 10), _tp(1, 20), _tp(2, 30)])
    loader._batch.offsets.update({("trades", 0): 11, ("trades", 1): 21, ("trades", 2): 31})
    loader._forget([_tp(0, 0), _tp(2, 0), _tp(9, 0)])
    assert loader._assigned == {("trades", 1)}
    assert loader._batch.offsets == {("trades", 1): 21}
    assert loader._retry == {("trades", 1): 20}
    loader._on_revoke(consumer, [_tp(1, 0)])  # type: ignore[arg-type]  # a revocation forgets too
    assert (loader._assigned, loader._batch.offsets, loader._retry) == (set(), {}, {})


def test_flush_and_commit_commits_the_retries_when_nothing_else_would(make):
    loader, consumer = make("raise", None)
    loader._commit([_tp(0, 10)])
    loader._flush_and_commit()  # nothing gathered, nothing in flight: the retry alone
    assert consumer.sent == [[("trades", 0, 10)], [("trades", 0, 10)]]
    assert (loader.summary.commits, loader._retry, loader.summary.batches) == (1, {}, 0)
    loader._flush_and_commit()  # nothing to retry: no commit at all
    assert len(consumer.sent) == 2


def test_flush_and_commit_writes_the_gathered_batch_then_commits_it_with_the_retries(make):
    loader, consumer = make("raise", None)
    loader._commit([_tp(1, 20)])
    loader._batch.offsets.update({("trades", 0): 12, ("trades", 1): 22})  # nothing in it to store
    loader._batch.records = 2
    loader._flush_and_commit()
    assert consumer.sent[1] == [("trades", 0, 12), ("trades", 1, 22)]
    assert (loader.summary.batches, loader.summary.commits, loader._retry) == (1, 1, {})
    assert loader._batch.records == 0 and not loader._inflight
