"""The loader's setup, in process and without a broker (scripts/mutation group ``loader-setup``): what
``Loader.__init__`` takes from the settings and arguments (broker address, group id, topics, batch size and age,
the drain flag, the statistics' role, extra consumer settings, the reopen interval, the fault hook), the two
writer threads (one decoder, one appender, each alone on its named thread, gone when ``run`` returns), the
rebalance log lines, and the lag (records between each read partition's position and its cached high watermark).

``run`` is driven by test_loader_run.py's scripted consumer and journaling storage; the Kafka clients it makes
(the consumer, the dead-letter producer) and ``ensure_topics`` are replaced by recorders, so a test takes a
fraction of a second. Every expected value is written out from the settings and records the test builds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import ingest.load as load
from ingest.load import LoadSummary, Loader
from ingest.stats import PipelineStats
from sql.settings import Settings
from tests.ingest.test_loader_run import _Consumer, _Storage, trade


def _settings(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap_servers": "broker-a:9092,broker-b:9092", "kafka_group_id": "group-setup",
        "kafka_trades_topic": "setup.trades", "kafka_quotes_topic": "setup.quotes", "kafka_partitions": 5,
        "kafka_dlq_suffix": ".dead", "duckdb_path": tmp_path / "unused.duckdb", "load_batch_rows": 5000,
        "load_batch_seconds": 3600.0}
    return Settings(_env_file=None, **{**values, **changes})  # type: ignore[arg-type]


class _Producer:
    """The dead-letter producer's stand-in: no record is dead-lettered in these tests."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def flush(self, timeout: float) -> int:
        return 0


class _Kafka:
    """Replaces ``ingest.load``'s Kafka clients: ``Consumer(config)`` returns the scripted consumer (the config
    kept), ``Producer`` is :class:`_Producer`, ``ensure_topics`` records what it was asked and answers yes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, consumer: Any) -> None:
        self.consumer = consumer
        self.config: dict[str, Any] = {}
        self.ensured: list[tuple[str, list[str], int]] = []
        monkeypatch.setattr(load, "Consumer", self._consumer)
        monkeypatch.setattr(load, "Producer", _Producer)
        monkeypatch.setattr(load, "ensure_topics", self._ensure)

    def _consumer(self, config: dict[str, Any]) -> Any:
        self.config = config
        return self.consumer

    def _ensure(self, bootstrap: str, topics: list[str], partitions: int, *, stop: Any = None) -> bool:
        self.ensured.append((bootstrap, list(topics), partitions))
        return True


def _run(monkeypatch: pytest.MonkeyPatch, settings: Settings, script: list, highs: dict, *,
         storage: Any = None, consumer_type: type = _Consumer, until: Any = None,
         **kwargs: Any) -> tuple[Loader, Any, Any, list, _Kafka]:
    """``Loader(settings, storage, **kwargs).run()`` on ``script`` (test_loader_run.py's consumer; the run stops
    once the script is done and ``until()`` holds)."""
    journal: list = []
    storage = storage if storage is not None else _Storage(journal)
    journal = getattr(storage, "journal", journal)
    stop = threading.Event()
    consumer = consumer_type(script, journal, highs, stop, until)
    kafka = _Kafka(monkeypatch, consumer)
    loader = Loader(settings, storage, **kwargs)
    consumer.loader = loader
    loader.run(stop)
    return loader, consumer, storage, journal, kafka


def test_the_loader_takes_its_settings_and_arguments_as_documented(tmp_path: Path) -> None:
    settings = _settings(tmp_path, load_batch_rows=123, load_batch_seconds=4.5)
    storage = _Storage([])
    loader = Loader(settings, storage)  # type: ignore[arg-type]
    try:
        assert loader.settings is settings and loader.storage is storage
        assert loader.bootstrap == "broker-a:9092,broker-b:9092"
        assert loader.topics == ["setup.trades", "setup.quotes"]  # default: the trades and quotes topics
        assert loader.drain is False
        assert (loader.batch_rows, loader.batch_seconds) == (123, 4.5)
        assert loader.summary == LoadSummary() and loader.summary.records == 0
        # the statistics line and the Prometheus label name the role
        assert loader.stats.role == "load" and loader.stats.line().startswith("load: consumed=0 ")
    finally:
        loader._shutdown_writers()
    stats = PipelineStats("custom")
    other = Loader(settings, storage, topics=("x.trades",), drain=True, stats=stats)  # type: ignore[arg-type]
    try:
        assert other.topics == ["x.trades"] and other.drain is True and other.stats is stats
    finally:
        other._shutdown_writers()


@pytest.mark.parametrize("address", [None, ""])
def test_a_loader_without_a_broker_address_is_refused_with_the_setting_s_name(tmp_path: Path, address: Any) -> None:
    with pytest.raises(ValueError) as refused:
        Loader(_settings(tmp_path, kafka_bootstrap_servers=address), _Storage([]))  # type: ignore[arg-type]
    assert str(refused.value) == "KAFKA_BOOTSTRAP_SERVERS is not set: 'microstructure load' reads from Kafka"


def test_the_consumer_and_the_topics_are_made_from_the_settings(monkeypatch, tmp_path: Path, caplog) -> None:
    """The consumer gets the broker address, the group id, the error callback and the extra settings (which win);
    the topics and their dead-letter topics are ensured with the settings' partitions; the given topics are the
    ones subscribed; the given statistics count the records."""
    settings = _settings(tmp_path)
    t = "mine.trades"
    stats = PipelineStats("load")
    loader, consumer, storage, journal, kafka = _run(
        monkeypatch, settings, [[trade(t, 0, 0), trade(t, 0, 1)]], {(t, 0): (0, 2)}, topics=[t], stats=stats,
        consumer_config={"session.timeout.ms": 45_000, "client.id": "mine"})
    assert kafka.config["bootstrap.servers"] == "broker-a:9092,broker-b:9092"
    assert kafka.config["group.id"] == "group-setup"
    assert kafka.config["session.timeout.ms"] == 45_000 and kafka.config["client.id"] == "mine"
    assert kafka.config["enable.auto.commit"] is False
    assert kafka.ensured == [("broker-a:9092,broker-b:9092", [t, t + ".dead"], 5)]
    assert consumer.subscribed == [t]
    assert stats.consumed == 2 and loader.summary.records == 2
    assert [e for e in journal if e[0] == "commit"][0] == ("commit", {(t, 0): 2})
    with caplog.at_level(logging.WARNING, logger="ingest.load"):
        kafka.config["error_cb"](KafkaError(KafkaError._TRANSPORT, "reset (test)"))
    assert [r.getMessage() for r in caplog.records if r.name == "ingest.load"][-1].startswith("kafka consumer: ")


def test_without_extra_settings_the_consumer_gets_the_loader_s_own(monkeypatch, tmp_path: Path) -> None:
    t = "setup.trades"
    _, _, _, _, kafka = _run(monkeypatch, _settings(tmp_path), [[trade(t, 0, 0)]], {(t, 0): (0, 1)}, topics=[t])
    assert kafka.config["session.timeout.ms"] == 10_000 and "client.id" not in kafka.config


def test_the_fault_hook_sees_each_batch_consumed_then_written(monkeypatch, tmp_path: Path) -> None:
    t = "setup.trades"
    points: list[str] = []
    loader, _, _, journal, _ = _run(monkeypatch, _settings(tmp_path, load_batch_rows=2),
                                    [[trade(t, 0, o) for o in range(6)]], {(t, 0): (0, 6)}, topics=[t],
                                    fault=points.append)
    assert Counter(points) == {"consumed": 3, "written": 3} and points[0] == "consumed"
    assert all(points[:k + 1].count("consumed") >= points[:k + 1].count("written") for k in range(len(points)))
    assert loader.summary.batches == 3


@pytest.mark.parametrize(("reopen_rows", "expected"), [
    (3, ["write", "write", "reopen", "write", "write", "reopen"]),  # counted from 0, again from 0 after a reopen
    (None, ["write"] * 4), (0, ["write"] * 4)])  # None or 0: never
def test_the_storage_is_reopened_after_reopen_rows_rows(monkeypatch, tmp_path: Path, reopen_rows: Any,
                                                        expected: list[str]) -> None:
    t = "setup.trades"
    _, _, _, journal, _ = _run(monkeypatch, _settings(tmp_path, load_batch_rows=2),
                               [[trade(t, 0, o) for o in range(8)]], {(t, 0): (0, 8)}, topics=[t],
                               reopen_rows=reopen_rows)
    assert [e[0] for e in journal if e[0] in ("write", "reopen")] == expected


def test_a_revoked_partition_is_written_and_committed_before_it_goes(monkeypatch, tmp_path: Path) -> None:
    t = "setup.trades"
    script = [[trade(t, 0, 0), trade(t, 0, 1), trade(t, 1, 0)],
              lambda c: c.on_revoke(c, [TopicPartition(t, 0)])]
    _, _, _, journal, _ = _run(monkeypatch, _settings(tmp_path), script, {(t, 0): (0, 2), (t, 1): (0, 1)},
                               topics=[t])
    commits = [e[1] for e in journal if e[0] == "commit"]
    assert commits[0] == {(t, 0): 2, (t, 1): 1}  # at the revocation, after the write
    assert [e[0] for e in journal].index("write") < [e[0] for e in journal].index("commit")


class _Threads(_Storage):
    """Records the thread of each append and how many appends overlap; the first append takes a while (0.3 s),
    so that the next batch is handed over meanwhile."""

    def __init__(self, journal: list) -> None:
        super().__init__(journal)
        self.threads: list[threading.Thread] = []
        self.active = self.most = 0
        self._lock = threading.Lock()

    def append_trades(self, table: Any) -> int:
        with self._lock:
            self.threads.append(threading.current_thread())
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            if len(self.threads) == 1:
                time.sleep(0.3)
            return super().append_trades(table)
        finally:
            with self._lock:
                self.active -= 1


def test_one_decoder_and_one_appender_each_on_its_named_thread_ended_before_the_consumer_closes(monkeypatch,
                                                                                      tmp_path: Path) -> None:
    """Batches are decoded one at a time on ``load-decoder_0`` and written one at a time, in order, on
    ``load-appender_0`` (the first decode and the first write are slow, so later batches are handed over
    meanwhile); both threads have ended before the consumer closes."""
    t = "setup.trades"
    decodes: list[threading.Thread] = []
    decoding = {"active": 0, "most": 0}
    real = load.decode_trades

    def decode(*args: Any) -> Any:
        decodes.append(threading.current_thread())
        decoding["active"] += 1
        decoding["most"] = max(decoding["most"], decoding["active"])
        try:
            if len(decodes) == 1:
                time.sleep(0.3)
            return real(*args)
        finally:
            decoding["active"] -= 1

    monkeypatch.setattr(load, "decode_trades", decode)
    storage = _Threads([])
    alive_at_close: list[bool] = []

    class Closing(_Consumer):
        def close(self) -> None:  # the writers are shut down (their threads joined) before the consumer closes
            alive_at_close.extend(th.is_alive() for th in decodes + storage.threads)
            super().close()

    _, _, _, journal, _ = _run(monkeypatch, _settings(tmp_path, load_batch_rows=2),
                               [[trade(t, 0, o) for o in range(8)]], {(t, 0): (0, 8)}, topics=[t], storage=storage,
                               consumer_type=Closing)
    assert alive_at_close and not any(alive_at_close)
    assert {th.name for th in decodes} == {"load-decoder_0"} and decoding["most"] == 1
    assert {th.name for th in storage.threads} == {"load-appender_0"} and storage.most == 1
    assert [e[1] for e in journal if e[0] == "write"] == [[("trade", 0, o), ("trade", 0, o + 1)] for o in (0, 2, 4, 6)]
    assert not any(th.is_alive() for th in decodes + storage.threads)


def test_assignments_and_revocations_are_logged_by_partition_or_as_nothing(monkeypatch, tmp_path: Path,
                                                                           caplog) -> None:
    t = "setup.trades"
    script = [lambda c: c.on_assign(c, []), lambda c: c.on_revoke(c, [])]
    caplog.set_level(logging.INFO, logger="ingest.load")
    _run(monkeypatch, _settings(tmp_path), script, {(t, 0): (0, 0), (t, 2): (0, 0)}, topics=[t])
    lines = [r.getMessage() for r in caplog.records if r.name == "ingest.load"]
    assert lines[:3] == [f"assigned {t}[0], {t}[2]", "assigned nothing", "revoked nothing: flushing and committing"]
    assert lines[-1] == f"revoked {t}[0], {t}[2]: flushing and committing"  # close()


class _LagConsumer(_Consumer):
    """Records how the high watermarks are asked for (the real client's signature: ``timeout`` optional)."""

    asked: list[Any]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float | None = None,  # type: ignore[override]
                              cached: bool = False) -> tuple[int, int]:
        self.asked.append(cached)
        return self.highs[(tp.topic, tp.partition)]


def test_the_lag_counts_each_partition_with_a_position_from_its_cached_high_watermark(monkeypatch,
                                                                                     tmp_path: Path) -> None:
    """Partition 0 read to 4 of 10 (6 behind), 1 at position 0 of 7 (7), 2 without a position (not counted), 3 at
    4 with a cached high watermark of 2 (older than the position: 0, not -2), 4 read to its end (0): 13."""
    t = "setup.trades"
    highs = {(t, 0): (0, 10), (t, 1): (0, 7), (t, 2): (0, 5), (t, 3): (0, 2), (t, 4): (0, 3)}

    class Consumer(_LagConsumer):
        asked: list[Any] = []

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.position_of.update({(t, 1): 0, (t, 3): 4})

    script = [[trade(t, 0, o) for o in range(4)] + [trade(t, 4, o) for o in range(3)], lambda c: None]
    loader, consumer, _, _, _ = _run(monkeypatch, _settings(tmp_path), script, highs, topics=[t],
                                     consumer_type=Consumer)
    assert consumer.lags[:2] == [0, 13]  # before the first consume() and after it
    assert loader.stats.lag == 13  # the next read is due 5 s later
    assert consumer.asked and set(consumer.asked) == {True}  # from the last fetch: no round trip to the broker


def test_a_lag_that_cannot_be_read_is_logged_and_the_last_one_kept(monkeypatch, tmp_path: Path, caplog) -> None:
    t = "setup.trades"
    error = KafkaException(KafkaError(KafkaError._TIMED_OUT, "no position (test)"))

    class Consumer(_Consumer):
        def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
            raise error

    caplog.set_level(logging.DEBUG, logger="ingest.load")
    loader, _, _, _, _ = _run(monkeypatch, _settings(tmp_path), [[trade(t, 0, 0)]], {(t, 0): (0, 1)}, topics=[t],
                              consumer_type=Consumer)
    assert f"lag not available: {error}" in [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert loader.stats.lag == 0


# --- run: a stop while the broker is unreachable, the batch age on an idle topic ---------------------------------

def test_a_stop_while_the_broker_is_unreachable_ends_the_run_without_a_retry(monkeypatch, tmp_path: Path) -> None:
    """The real ``ensure_topics`` with the broker down (every attempt fails): a stop set meanwhile ends the run at
    once (``run`` hands its stop to the retry loop), before any consumer is made; without it the loop would retry
    for up to two minutes (the second attempt fails the test instead)."""
    import ingest.produce as produce

    stop = threading.Event()
    attempts: list[str] = []

    def unreachable(bootstrap: str, topics: list[str], partitions: int, timeout_s: float) -> None:
        attempts.append(bootstrap)
        assert len(attempts) == 1, "retried after the stop"
        stop.set()  # the stop arrives while the broker is down
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down (test)"))

    def no_consumer(config: dict[str, Any]) -> Any:
        raise AssertionError("a consumer was made after the stop")

    monkeypatch.setattr(produce, "_create_missing", unreachable)
    monkeypatch.setattr(load, "Consumer", no_consumer)
    loader = Loader(_settings(tmp_path), _Storage([]))  # type: ignore[arg-type]
    assert loader.run(stop) == LoadSummary()
    assert attempts == ["broker-a:9092,broker-b:9092"]


class _Clock:
    """``ingest.load``'s clock: ``monotonic()`` is the time the scripted consumer has spent waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time_ns() -> int:
        return time.time_ns()


def test_on_an_idle_topic_a_batch_is_handed_over_within_one_idle_poll_of_load_batch_seconds(monkeypatch,
                                                                                             tmp_path: Path) -> None:
    """An idle ``consume()`` blocks for its timeout (the consumer advances the loader's clock by it): a batch whose
    oldest record is ``LOAD_BATCH_SECONDS`` (0.5 s) old is handed over at the first poll after that, 0.6 s, not a
    second later."""
    t = "setup.trades"
    clock = _Clock()
    monkeypatch.setattr(load, "time", clock)
    handed: list[float] = []

    class Idle(_Consumer):
        def consume(self, num_messages: int, timeout: float) -> list:
            given = super().consume(num_messages, timeout)
            if not given:
                clock.now += timeout
            return given

    def fault(point: str) -> None:
        if point == "consumed":
            handed.append(clock.now - 1000.0)

    loader, consumer, *_ = _run(monkeypatch, _settings(tmp_path, load_batch_seconds=0.5), [[trade(t, 0, 0)]],
                                {(t, 0): (0, 1)}, topics=[t], fault=fault, consumer_type=Idle,
                                until=lambda: bool(handed))
    assert handed and handed[0] == pytest.approx(0.6)


def test_a_busy_drain_checks_once_a_second_of_consuming_whether_it_is_done(monkeypatch, tmp_path: Path) -> None:
    """A drain of a topic still written to (one more record at every ``consume()``, each call taking 0.3 s of the
    loader's clock; one record a batch, so each hand-over commits the batch two before it): the target (high
    watermark 1) is committed at the third call, and the drain checks at the first call more than a second after
    its start, the fourth, and ends there; checking every two seconds would read three records more."""
    t = "setup.trades"
    clock = _Clock()
    monkeypatch.setattr(load, "time", clock)
    offsets = iter(range(10_000))

    class Busy(_Consumer):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.more = lambda: [trade(t, 0, next(offsets))]

        def consume(self, num_messages: int, timeout: float) -> list:
            given = super().consume(num_messages, timeout)
            clock.now += 0.3 if given else timeout
            return given

    loader, consumer, _, journal, _ = _run(monkeypatch, _settings(tmp_path, load_batch_rows=1), [], {(t, 0): (0, 1)},
                                           topics=[t], drain=True, consumer_type=Busy)
    assert not consumer.guarded  # the drain ended by itself
    assert loader.summary.records == 4
    assert [e[1] for e in journal if e[0] == "commit"][:2] == [{(t, 0): 1}, {(t, 0): 2}]
