"""The loader's offset commit (``Loader._commit``) on a real broker: a commit is synchronous (the offsets are
stored at the broker when it returns), a refused commit or a partition the broker reports an error for is
counted and logged, never fatal, and the records it did not commit are read again by the next run and
deduplicated (every row stored once). The consumer is the real one; only its ``commit`` is wrapped to refuse."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ingest.load import Loader
from sql.duckdb_backend import DuckDBStorage
from tests.ingest.test_kafka_pipeline import _committed_total, _produced
from tests.ingest.test_kafka_pipeline import committed_offsets as _committed

pytestmark = [pytest.mark.kafka, pytest.mark.duckdb]

N = 1500
ROWS = 500


@dataclass
class _Refused:
    """What the wrapped commit reports for a partition it did not commit (``topic``, ``partition``, ``error``)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError


class _Commits:
    """The loader's real consumer with ``commit`` wrapped: ``refuse`` commits that raise, then ``fail_one`` that
    leave their first partition uncommitted and report it with an error; every other call is the real one.
    After each real commit the committed offsets are read back by another consumer (``seen``)."""

    def __init__(self, inner: Consumer, settings: Any, *, refuse: int = 0, fail_one: int = 0) -> None:
        self.inner, self.settings = inner, settings
        self.refuse, self.fail_one = refuse, fail_one
        self.calls: list[list[tuple[int, int]]] = []
        self.seen: list[tuple[dict[int, int], dict[int, int]]] = []  # (offsets asked, committed read back)

    def commit(self, *, offsets: list[TopicPartition], **kwargs: Any) -> Any:
        self.calls.append([(tp.partition, tp.offset) for tp in offsets])
        if self.refuse:
            self.refuse -= 1
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS, "the group is rebalancing (test)"))
        if self.fail_one:
            self.fail_one -= 1
            first, rest = offsets[0], offsets[1:]
            results = list(self.inner.commit(offsets=rest, **kwargs) or []) if rest else []
            error = KafkaError(KafkaError.ILLEGAL_GENERATION, "stale generation (test)")
            return [_Refused(first.topic, first.partition, first.offset, error), *results]
        results = self.inner.commit(offsets=offsets, **kwargs)
        self.seen.append(({tp.partition: tp.offset for tp in offsets}, _committed(self.settings)))
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _loader(settings: Any, storage: DuckDBStorage, **wrap: int) -> tuple[Loader, list[_Commits]]:
    made: list[_Commits] = []

    class Wrapped(Loader):
        def _make_consumer(self) -> Any:
            consumer = _Commits(super()._make_consumer(), settings, **wrap)
            made.append(consumer)
            return consumer

    return Wrapped(settings, storage, topics=[settings.kafka_trades_topic], drain=True), made


def _run(loader: Loader, guard_s: float = 90.0) -> Any:
    """``loader.run()`` stopped after ``guard_s`` at the latest (a drain that never ends fails its test's
    assertions instead of hanging)."""
    stop = threading.Event()
    timer = threading.Timer(guard_s, stop.set)
    timer.start()
    try:
        return loader.run(stop)
    finally:
        timer.cancel()


def _stored(storage: DuckDBStorage) -> tuple[int, int]:
    return storage.fetch_one("SELECT count(*), count(DISTINCT (symbol, exchange, trade_id, ts_ns)) FROM market_data")


def _set_up(bootstrap: str, path: Any, *, seed: int, batch_rows: int,
            **wrap: int) -> tuple[Any, list[dict], DuckDBStorage, Loader, list[_Commits]]:
    """``N`` trades produced to a new topic (``_produced``), a new DuckDB file at ``path`` with the schema, and a
    draining loader on it whose consumer's commit is wrapped (``_loader``)."""
    settings, events = _produced(bootstrap, path, N, seed=seed, batch_rows=batch_rows)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    loader, made = _loader(settings, storage, **wrap)
    return settings, events, storage, loader, made


def _drained_again(settings: Any, storage: DuckDBStorage) -> tuple[Any, tuple[int, int]]:
    """A plain draining loader of the same group run after the first (what the next run reads), and the rows
    stored after it."""
    again = _run(Loader(settings, storage, topics=[settings.kafka_trades_topic], drain=True))
    return again, _stored(storage)


def test_a_commit_is_stored_at_the_broker_when_it_returns(kafka_bootstrap, tmp_path):
    settings, events, storage, loader, made = _set_up(kafka_bootstrap, tmp_path / "sync.duckdb", seed=31,
                                                      batch_rows=ROWS)
    try:
        summary = _run(loader)
        stored = _stored(storage)
    finally:
        storage.close()
    assert stored == (len(events), len(events))
    (consumer,) = made
    assert consumer.seen and len(consumer.seen) == summary.commits == summary.batches
    for asked, committed in consumer.seen:  # read back right after the call: nothing still in flight
        assert {p: committed.get(p) for p in asked} == asked
    assert _committed_total(settings) == len(events) and summary.commit_failures == 0


def test_refused_commits_are_counted_logged_and_the_rows_stay(kafka_bootstrap, tmp_path, caplog):
    settings, events, storage, loader, made = _set_up(kafka_bootstrap, tmp_path / "refused.duckdb", seed=32,
                                                      batch_rows=ROWS, refuse=2)
    caplog.set_level(logging.WARNING, logger="ingest.load")
    try:
        summary = _run(loader)  # not fatal: the loader goes on, and its drain ends
        stored = _stored(storage)
        committed = _committed_total(settings)
        again, after = _drained_again(settings, storage)
    finally:
        storage.close()
    (consumer,) = made
    assert stored == after == (len(events), len(events))  # a re-read record is deduplicated
    assert committed == len(events)  # the refused offsets were committed again with a later commit
    assert summary.commit_failures == 2 and summary.commits == len(consumer.calls) - 2 >= summary.batches - 2
    refusals = [r.getMessage() for r in caplog.records
                if r.getMessage().startswith("offset commit failed (records will be re-delivered and deduplicated): ")]
    assert len(refusals) == 2 and all("the group is rebalancing (test)" in m for m in refusals)
    assert all(r.levelno == logging.WARNING for r in caplog.records if "offset commit failed" in r.getMessage())
    assert again.records == again.trades_added == again.commit_failures == 0


def test_a_partition_the_broker_did_not_commit_is_committed_again_and_named(kafka_bootstrap, tmp_path, caplog):
    """A drain whose last commit left a partition uncommitted commits it again and ends (it waited for ever for
    committed offsets nothing would commit again, before: found by this test's first version)."""
    # the first commit, then its retry, leave a partition out
    settings, events, storage, loader, made = _set_up(kafka_bootstrap, tmp_path / "partial.duckdb", seed=33,
                                                      batch_rows=N, fail_one=2)
    caplog.set_level(logging.WARNING, logger="ingest.load")
    try:
        summary = _run(loader)
        committed = _committed(settings)
        again, after = _drained_again(settings, storage)
    finally:
        storage.close()
    (consumer,) = made
    (first_partition, first_offset), *_ = consumer.calls[0]
    assert after == (len(events), len(events))
    assert summary.commit_failures == 2 and summary.commits == len(consumer.calls) - 2 >= 1
    assert all((first_partition, first_offset) in call for call in consumer.calls[1:3])  # went again, twice
    assert committed.get(first_partition) == first_offset and sum(committed.values()) == len(events)
    assert again.records == 0
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("offset commit failed for ")]
    assert failed == [f"offset commit failed for {settings.kafka_trades_topic}[{first_partition}]: "
                      f"{KafkaError(KafkaError.ILLEGAL_GENERATION, 'stale generation (test)')}"] * 2
