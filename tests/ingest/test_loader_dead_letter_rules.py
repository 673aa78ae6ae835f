"""The loader's dead letters and the commit of a written batch (``Loader._decode_one``, ``_dead_letter``,
``_on_dlq_delivery``, ``_finish_oldest``) in process and without a broker: the dead-letter producer and the
consumer are stand-ins that record what would reach the broker. The contract (``ingest/load.py``'s module
docstring, points 3-4): a record that cannot be decoded (not JSON, not an object, unknown ``ev``, a missing or
bad field, a status event) goes to ``<topic>KAFKA_DLQ_SUFFIX`` with its key and value unchanged and the headers
``dlq.error`` (the reason), ``dlq.origin.topic``, ``dlq.origin.partition``, ``dlq.origin.offset``,
``dlq.origin.timestamp``; a full producer queue is polled until the record fits; once a batch's write returned,
the dead-letter producer is flushed and the batch is committed only if every dead letter was delivered; the
first ten dead letters and every thousandth are logged. Expected headers and reasons are written out by hand
(the reason of a JSON error is orjson's own message). Milliseconds a test (mutation row
``loader-dead-letters``); the same paths on a real broker: ``test_dead_letters.py``."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from ingest.load import Loader, _Decoded, _InFlight
from sql.settings import Settings

T0_MS = 1_764_860_400_000  # 2025-12-04 15:00 UTC
GOOD = {"ev": "T", "sym": "AAPL", "x": 4, "i": "7", "z": 3, "p": 100.5, "s": 10, "t": T0_MS, "q": 1, "c": []}


def _record(value: bytes | None, *, topic: str = "trades", partition: int = 2, offset: int = 41,
            key: bytes | None = b"AAPL", ts_ms: int = T0_MS + 5) -> Message:
    return Message(topic=topic, partition=partition, offset=offset, key=key, value=value, timestamp=(1, ts_ms))


class Producer:
    """The dead-letter producer: records each ``produce``, raises ``BufferError`` for the first ``full`` calls
    (a full local queue), records each ``poll``/``flush`` timeout; ``flush`` answers ``left`` and may report
    ``failed`` deliveries through the loader's delivery callback first."""

    def __init__(self, loader: Loader, full: int = 0, left: int = 0, failed: int = 0) -> None:
        self.loader, self.full, self.left, self.failed = loader, full, left, failed
        self.produced: list[tuple[Any, ...]] = []
        self.polls: list[float] = []
        self.flushes: list[float] = []

    def produce(self, topic: str, value: Any, key: Any, headers: Any = None) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.produced.append((topic, value, key, headers))

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes.append(timeout)
        for _ in range(self.failed):
            self.loader._on_dlq_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), _record(b"x", topic="trades.dlq"))
        return self.left


class Consumer:
    def __init__(self) -> None:
        self.sent: list[list[tuple[str, int, int]]] = []

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self.sent.append(sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))
        return offsets


@pytest.fixture
def make(tmp_path):
    made: list[Loader] = []

    def make(**producer: int) -> tuple[Loader, Producer, Consumer, list[str]]:
        faults: list[str] = []
        settings = Settings(duckdb_path=tmp_path / "unused.duckdb", kafka_bootstrap_servers="127.0.0.1:9",
                            kafka_dlq_suffix=".dead")  # fmt: skip
        loader = Loader(settings, storage=None, topics=["trades"], fault=faults.append)  # type: ignore[arg-type]
        made.append(loader)
        dlq, consumer = Producer(loader, **producer), Consumer()
        loader._dlq, loader._consumer = dlq, consumer  # type: ignore[assignment]
        loader._on_assign(consumer, [TopicPartition("trades", 0), TopicPartition("trades", 2)])  # type: ignore[arg-type]
        return loader, dlq, consumer, faults

    yield make
    for loader in made:
        loader._shutdown_writers()


def _headers(reason: str, *, topic: str = "trades", partition: int = 2, offset: int = 41,
             ts_ms: int = T0_MS + 5) -> list[tuple[str, bytes]]:
    return [("dlq.error", reason.encode()), ("dlq.origin.topic", topic.encode()),
            ("dlq.origin.partition", str(partition).encode()), ("dlq.origin.offset", str(offset).encode()),
            ("dlq.origin.timestamp", str(ts_ms).encode())]


def _bounded(timeout: Any) -> bool:
    """A flush that gives up: a number of seconds (``None`` or no argument would wait for ever on a dead-letter
    topic that cannot be reached, instead of failing the batch); its exact value is not pinned here."""
    return isinstance(timeout, (int, float)) and timeout > 0


def _json_error(value: bytes) -> str:
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return str(exc)
    raise AssertionError("valid JSON")


def test_an_undecodable_record_goes_to_its_dead_letter_topic_unchanged_with_its_reason_and_origin(make):
    loader, dlq, _, _ = make()
    bad = [
        (_record(b"{not json", key=b"K1"), f"value is not valid JSON: {_json_error(b'{not json')}"),
        (_record(b"[1, 2]", partition=0, offset=0, key=None, ts_ms=1), "value is not a JSON object"),
        (_record(b"null", topic="quotes", offset=7), "value is not a JSON object"),
        (_record(None, offset=8), "value is not a JSON object"),
        (_record(orjson.dumps({"ev": "status", "status": "connected"}), offset=9), "status event is not market data"),
    ]  # fmt: skip
    decoded = _Decoded()
    for message, _ in bad:
        loader._decode_one(decoded, message, "polygon", 123)
    assert decoded.dead_letters == 5 and loader.stats.parse_errors == 5
    assert dlq.produced == [
        ("trades.dead", b"{not json", b"K1", _headers(bad[0][1])),
        ("trades.dead", b"[1, 2]", None, _headers("value is not a JSON object", partition=0, offset=0, ts_ms=1)),
        ("quotes.dead", b"null", b"AAPL", _headers("value is not a JSON object", topic="quotes", offset=7)),
        ("trades.dead", None, b"AAPL", _headers("value is not a JSON object", offset=8)),
        ("trades.dead", bad[4][0].value(), b"AAPL", _headers("status event is not market data", offset=9)),
    ]  # fmt: skip
    assert decoded.frames["polygon"].n_trades == 0  # nothing of them in the batch


def test_a_decodable_record_goes_to_the_batch_and_nothing_to_the_dead_letters(make):
    loader, dlq, _, _ = make()
    decoded = _Decoded()
    loader._decode_one(decoded, _record(orjson.dumps(GOOD)), "polygon", 123)
    missing = {key: value for key, value in GOOD.items() if key != "p"}
    loader._decode_one(decoded, _record(orjson.dumps(missing), offset=42), "polygon", 124)
    assert decoded.dead_letters == 1 and loader.stats.parse_errors == 1
    trades = decoded.frames["polygon"].take().trades  # the good record, stamped with its receive time
    assert trades.num_rows == 1 and trades.column("received_ns").to_pylist() == [123]
    assert trades.column("source").to_pylist() == ["polygon"]
    ((topic, value, key, headers),) = dlq.produced
    assert (topic, value, key) == ("trades.dead", orjson.dumps(missing), b"AAPL")
    assert headers[1:] == _headers("", offset=42)[1:]
    assert headers[0][0] == "dlq.error" and b"p" in headers[0][1]  # the reason names the field


def test_a_full_producer_queue_is_polled_until_the_dead_letter_fits(make):
    loader, dlq, _, _ = make(full=3)
    loader._dead_letter(_record(b"x"), "why")
    # polled once per refusal (its timeout only bounds the wait for a delivery event: not pinned here)
    assert len(dlq.polls) == 3 and dlq.produced == [("trades.dead", b"x", b"AAPL", _headers("why"))]


def test_the_first_ten_dead_letters_and_every_thousandth_are_logged(make, caplog):
    loader, _, _, _ = make()
    with caplog.at_level(logging.WARNING, logger="ingest.load"):
        for offset in range(2001):
            loader._dead_letter(_record(b"x", offset=offset), f"r{offset}")
    logged = [r.getMessage() for r in caplog.records]
    offsets = [*range(10), 999, 1999]
    assert logged == [f"dead-lettered trades[2]@{o} to trades.dead: r{o}" for o in offsets]
    assert loader.stats.parse_errors == 2001


def test_a_failed_dead_letter_delivery_is_counted_and_logged_a_delivered_one_is_not(make, caplog):
    loader, _, _, _ = make()
    with caplog.at_level(logging.ERROR, logger="ingest.load"):
        loader._on_dlq_delivery(None, _record(b"x", topic="trades.dead"))
        assert loader.stats.delivery_failures == 0 and caplog.records == []
        error = KafkaError(KafkaError._MSG_TIMED_OUT, "timed out (test)")
        loader._on_dlq_delivery(error, _record(b"x", topic="trades.dead"))
        loader._on_dlq_delivery(error, _record(b"y", topic="quotes.dead"))
    assert loader.stats.delivery_failures == 2
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, f"dead-letter delivery to trades.dead failed: {error}"),
        (logging.ERROR, f"dead-letter delivery to quotes.dead failed: {error}")]


def _written(loader: Loader, dead_letters: int, offsets: dict[tuple[str, int], int], started: float = 0.0
             ) -> None:
    future: Future[int] = Future()
    future.set_result(dead_letters)
    loader._inflight.append(_InFlight(future, offsets, started))


def test_a_written_batch_with_dead_letters_is_committed_once_they_are_delivered(make):
    loader, dlq, consumer, faults = make()
    _written(loader, 3, {("trades", 0): 5, ("trades", 2): 9, ("trades", 1): 4})  # partition 1 not assigned
    _written(loader, 0, {("trades", 0): 7})
    _written(loader, 2, {("trades", 2): 10})
    loader._finish_oldest()
    assert faults == ["written"] and len(dlq.flushes) == 1 and _bounded(dlq.flushes[0])
    assert consumer.sent == [[("trades", 0, 5), ("trades", 2, 9)]]
    assert (loader.stats.dead_lettered, loader.summary.dead_lettered, loader.summary.batches) == (3, 3, 1)
    assert loader.stats.batches == 1 and len(loader._inflight) == 2
    loader._finish_oldest()  # no dead letters: no flush
    assert faults == ["written"] * 2 and len(dlq.flushes) == 1
    assert consumer.sent[1] == [("trades", 0, 7)] and loader.summary.batches == 2
    assert (loader.stats.dead_lettered, loader.summary.dead_lettered) == (3, 3)
    loader._finish_oldest()  # dead letters again: added to the counts
    assert len(dlq.flushes) == 2 and consumer.sent[2] == [("trades", 2, 10)]
    assert (loader.stats.dead_lettered, loader.summary.dead_lettered, loader.summary.batches) == (5, 5, 3)


@pytest.mark.parametrize("producer", [{"left": 1}, {"failed": 1}, {"left": 2, "failed": 1}])
def test_undelivered_dead_letters_commit_nothing_and_raise(make, producer):
    loader, dlq, consumer, faults = make(**producer)
    _written(loader, 2, {("trades", 0): 5})
    with pytest.raises(KafkaException) as raised:
        loader._finish_oldest()
    assert raised.value.args[0].code() == KafkaError._MSG_TIMED_OUT
    assert raised.value.args[0].str() == "dead-letter records were not delivered; not committing"
    assert consumer.sent == [] and faults == ["written"] and len(dlq.flushes) == 1 and _bounded(dlq.flushes[0])
    assert (loader.stats.dead_lettered, loader.summary.dead_lettered, loader.summary.batches) == (0, 0, 0)


def test_earlier_delivery_failures_do_not_stop_a_later_batch(make):
    loader, dlq, consumer, _ = make()
    loader.stats.delivery_failures = 4  # counted before this batch's flush
    _written(loader, 1, {("trades", 2): 3})
    loader._finish_oldest()
    assert consumer.sent == [[("trades", 2, 3)]] and loader.summary.dead_lettered == 1


def test_a_failed_write_raises_before_anything_is_flushed_or_committed(make):
    loader, dlq, consumer, faults = make()
    future: Future[int] = Future()
    future.set_exception(RuntimeError("disk full (test)"))
    loader._inflight.append(_InFlight(future, {("trades", 0): 5}, 0.0))
    with pytest.raises(RuntimeError, match="disk full"):
        loader._finish_oldest()
    assert (consumer.sent, faults, dlq.flushes, loader.summary.batches) == ([], [], [], 0)


def test_a_batch_without_offsets_of_assigned_partitions_commits_nothing_and_still_counts(make):
    loader, _, consumer, _ = make()
    _written(loader, 0, {("trades", 1): 5})
    loader._finish_oldest()
    assert consumer.sent == [] and loader.summary.batches == 1 and loader.summary.commits == 0
    loader._retry = {("trades", 0): 4}  # a refused commit's offsets wait for the next batch's commit
    _written(loader, 0, {("trades", 1): 6})
    loader._finish_oldest()
    assert consumer.sent == [] and loader.summary.batches == 2 and loader._retry == {("trades", 0): 4}
    _written(loader, 0, {("trades", 2): 8})
    loader._finish_oldest()
    assert consumer.sent == [[("trades", 0, 4), ("trades", 2, 8)]] and loader.summary.commits == 1


def test_a_batch_s_latency_runs_from_its_first_record_to_durable(make, monkeypatch):
    loader, _, _, _ = make()
    monkeypatch.setattr("ingest.load.time.monotonic", lambda: 100.0)
    _written(loader, 0, {("trades", 0): 1}, started=97.5)
    loader._finish_oldest()
    assert loader.stats.batches == 1 and loader.stats.batch_seconds_total == 2.5
