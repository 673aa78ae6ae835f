"""The loader's run loop (``Loader.run`` and its helpers) without a broker: the rules a user, or the no-loss
promise, would feel (scripts/mutation group ``loader-run-fast``, mutation row ``loader-run``).

- Every record is written once and committed only after its write (and after its dead letters are delivered);
  each commit sends every partition's next offset; batches are handed over at ``LOAD_BATCH_ROWS`` records, also
  over several ``consume()`` calls, or once the oldest record is ``LOAD_BATCH_SECONDS`` old; the stop writes and
  commits the batch being gathered before the consumer closes.
- Records keep their ``source`` header (``ws`` without one) and their timestamp as ``received_ns`` (the clock
  without one) on both paths (the vectorised one for the usual result, record by record otherwise); consume
  errors are skipped (a partition EOF quietly, another one logged), never counted, never crash the loop.
- Records that cannot be decoded go to ``<topic>KAFKA_DLQ_SUFFIX`` with their origin; a dead letter that cannot be
  delivered stops the commit and the run, and nothing is committed after it (not even by the revocation that
  closing the consumer brings); a failed write likewise.
- A revoked partition is written and committed before it goes, a lost one never committed again.
- A drain ends once the committed offsets reach the high watermarks taken at start (a partition emptied by
  retention counts as caught up), and not before; the counts of the summary and the statistics, the final
  statistics line of ``run_loader``.

``run`` drives test_loader_run.py's scripted consumer (``confluent_kafka.Message`` records built by hand, the
rebalance callbacks called from inside ``consume()``, the revocation from ``close()``) and journaling storage
(each row kept once by its key); ``ingest.load``'s ``Consumer``, ``Producer`` and ``ensure_topics`` are replaced by
recorders (the dead-letter producer journals its flushes beside the writes and commits, and reports failed
deliveries through the loader's own delivery callback, as librdkafka does). Where time matters the loader's clock
is injected (``ingest.load.time``), so no test sleeps for it. Every expected value is written out from the records
each test builds. The same paths on a real broker: ``test_loader_run.py``, ``test_commit_order.py``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

import ingest.load as load
from ingest.load import Loader, consumer_config, run_loader
from tests.ingest.test_loader_run import (T0_MS, _check_order, _Consumer, _Storage, check_drain_after_two_refusals,
                                          mixed_result, quote, trade)
from tests.ingest.test_loader_setup import _Clock, _Kafka, _settings

T = "setup.trades"  # test_loader_setup's settings: topics setup.trades / setup.quotes, dead letters to <topic>.dead
Q = "setup.quotes"


class _DeadLetters:
    """The run's dead-letter producer: records each record produced (topic, value, key, headers); a flush
    journals ``("flush", n)`` when records are pending and, with ``fail``, reports each as undelivered through the
    ``on_delivery`` callback of its config (as librdkafka does during ``flush``); it answers 0 left."""

    def __init__(self, config: dict[str, Any], journal: list, fail: bool) -> None:
        self.config, self.journal, self.fail = config, journal, fail
        self.produced: list[tuple[Any, ...]] = []
        self.pending: list[Message] = []
        self.flushes: list[Any] = []  # each flush's timeout

    def produce(self, topic: str, value: Any, key: Any, headers: Any = None) -> None:
        self.produced.append((topic, value, key, headers))
        self.pending.append(Message(topic=topic, value=value, key=key))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes.append(timeout)
        if self.pending:
            self.journal.append(("flush", len(self.pending)))
            report = self.config.get("on_delivery")
            for message in self.pending:
                if self.fail and report is not None:
                    report(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out (test)"), message)
            self.pending.clear()
        return 0


class _Brokerless(_Kafka):
    """test_loader_setup.py's recorders of ``Consumer`` and ``ensure_topics``, with :class:`_DeadLetters` as the
    dead-letter producer."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, consumer: Any, fail: bool = False) -> None:
        super().__init__(monkeypatch, consumer)
        self.fail = fail
        self.producers: list[_DeadLetters] = []
        monkeypatch.setattr(load, "Producer", self._producer)

    def _producer(self, config: dict[str, Any]) -> _DeadLetters:
        self.producers.append(_DeadLetters(config, self.consumer.journal, self.fail))
        return self.producers[-1]


class _Timed(_Consumer):
    """The scripted consumer on the loader's injected clock: an idle ``consume()`` blocks for its timeout, one that
    delivers records takes ``busy_s``."""

    clock: _Clock
    busy_s = 0.0

    def consume(self, num_messages: int, timeout: float) -> list:
        given = super().consume(num_messages, timeout)
        self.clock.now += self.busy_s if given else timeout
        return given


def _loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, script: list, highs: dict, *, until: Any = None,
            consumer_type: type = _Consumer, fail_delivery: bool = False, guard_s: float = 15.0, storage: Any = None,
            settings: dict[str, Any] | None = None, **kwargs: Any) -> tuple[Loader, Any, Any, list, threading.Event]:
    """A loader (``Loader(settings, storage, **kwargs)``) on ``script`` with the Kafka clients replaced; the run
    stops once the script is done and ``until()`` holds (or after ``guard_s``, noted in ``consumer.guarded``)."""
    journal: list = []
    storage = storage if storage is not None else _Storage(journal)
    journal = storage.journal
    stop = threading.Event()
    consumer = consumer_type(script, journal, highs, stop, until, guard_s)
    consumer.kafka = _Brokerless(monkeypatch, consumer, fail_delivery)
    loader = Loader(_settings(tmp_path, **(settings or {})), storage, **kwargs)
    consumer.loader = loader
    return loader, consumer, storage, journal, stop


def _bounded(timeout: Any) -> bool:
    """A wait that gives up: a number of seconds (``None`` would wait for ever on a broker that does not answer);
    its exact value is not pinned here."""
    return isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0


def _writes(journal: list) -> list[list[tuple[str, int, int]]]:
    return [e[1] for e in journal if e[0] == "write"]


def _commits(journal: list) -> list[dict[tuple[str, int], int]]:
    return [e[1] for e in journal if e[0] == "commit"]


# --- batching, the stop, the counts ------------------------------------------------------------------------------


def test_each_record_is_written_once_in_batches_of_the_batch_size_and_committed_after_its_write(
        monkeypatch, tmp_path) -> None:
    """19 records (partition 0's last one delivered twice) in batches of 4: writes of 4, 4, 4, 4 and the 3 the stop
    writes; the twice-delivered record stored once; each batch's commit after its write with each partition's next
    offset; the storage reopened every 8 rows written; the consumer closed last; the counts."""
    records = [trade(T, p, o) for o in range(6) for p in range(3)] + [trade(T, 0, 5)]
    loader, consumer, storage, journal, stop = _loader(
        monkeypatch, tmp_path, [records], {(T, p): (0, 6) for p in range(3)}, topics=[T], reopen_rows=8,
        settings={"load_batch_rows": 4})
    summary = loader.run(stop)
    assert not consumer.guarded and consumer.subscribed == [T]
    assert sorted(k[2] for k in storage.trades) == [f"{p}-{o}" for p in range(3) for o in range(6)]
    assert [len(w) for w in _writes(journal)] == [4, 4, 4, 4, 3] and storage.appended == 19
    _check_order(journal)
    assert _commits(journal) == [{(T, 0): 2, (T, 1): 1, (T, 2): 1}, {(T, 0): 3, (T, 1): 3, (T, 2): 2},
                                 {(T, 0): 4, (T, 1): 4, (T, 2): 4}, {(T, 0): 6, (T, 1): 5, (T, 2): 5},
                                 {(T, 0): 6, (T, 1): 6, (T, 2): 6}]
    assert [e[0] for e in journal if e[0] != "commit"] == ["write", "write", "reopen", "write", "write", "reopen",
                                                           "write", "close"]
    assert journal[-2][0] == "commit"  # the stop's commit, before the consumer closes
    assert (summary.records, summary.trades_added, summary.quotes_added, summary.dead_lettered) == (19, 18, 0, 0)
    assert (summary.batches, summary.commits, summary.commit_failures) == (5, 5, 0)
    stats = loader.stats
    assert (stats.consumed, stats.produced, stats.batches, stats.parse_errors, stats.dead_lettered) == (19, 18, 5, 0, 0)


def test_a_batch_gathered_over_several_consume_calls_is_handed_over_once_it_holds_the_batch_size(
        monkeypatch, tmp_path) -> None:
    """``LOAD_BATCH_ROWS`` 1,500 and ``consume()`` hands out at most 1,000 records: the batch is handed over after
    the second call with 2,000 records; the stop writes the last 1,000."""
    script = [[trade(T, p, o) for o in range(1000)] for p in range(3)]
    loader, consumer, storage, journal, stop = _loader(
        monkeypatch, tmp_path, script, {(T, p): (0, 1000) for p in range(3)}, topics=[T],
        settings={"load_batch_rows": 1500})
    summary = loader.run(stop)
    assert [len(w) for w in _writes(journal)] == [2000, 1000]
    assert _commits(journal) == [{(T, 0): 1000, (T, 1): 1000}, {(T, 2): 1000}]
    assert summary.trades_added == len(storage.trades) == 3000 and summary.batches == 2


def test_consume_asks_for_at_most_the_batch_size_and_never_more_than_a_thousand(monkeypatch, tmp_path) -> None:
    """Batches of 3 from a list of 7 records: ``consume()`` is asked for 3 at a time (writes of 3, 3, 1); batches
    of 5,000: asked for 1,000."""
    asked: list[int] = []

    class Asked(_Consumer):
        def consume(self, num_messages: int, timeout: float) -> list:
            asked.append(num_messages)
            return super().consume(num_messages, timeout)

    for rows, expected in ((3, 3), (5000, 1000)):
        asked.clear()
        loader, _, _, journal, stop = _loader(monkeypatch, tmp_path, [[trade(T, 0, o) for o in range(7)]],
                                              {(T, 0): (0, 7)}, topics=[T], consumer_type=Asked,
                                              settings={"load_batch_rows": rows})
        loader.run(stop)
        assert set(asked) == {expected}
        assert [len(w) for w in _writes(journal)] == ([3, 3, 1] if rows == 3 else [7])


def test_an_idle_batch_is_written_and_committed_once_its_oldest_record_is_load_batch_seconds_old(
        monkeypatch, tmp_path) -> None:
    """Three records and then nothing, far below ``LOAD_BATCH_ROWS``: handed over at the first idle poll after
    ``LOAD_BATCH_SECONDS`` (0.5 s; the poll blocks 0.2 s: at 0.6 s), written and committed without a stop; the
    batch's latency counts from its first record (at least 0.6 s of the loader's clock)."""
    clock = _Clock()
    monkeypatch.setattr(load, "time", clock)
    monkeypatch.setattr(_Timed, "clock", clock, raising=False)
    handed: list[float] = []

    def fault(point: str) -> None:
        if point == "consumed":
            handed.append(clock.now - 1000.0)

    loader, consumer, storage, journal, stop = _loader(
        monkeypatch, tmp_path, [[trade(T, 1, 0), trade(T, 1, 1), trade(T, 2, 0)]], {(T, p): (0, 2) for p in range(3)},
        topics=[T], consumer_type=_Timed, fault=fault, settings={"load_batch_seconds": 0.5},
        until=lambda: any(e[0] == "commit" for e in journal))
    summary = loader.run(stop)
    assert not consumer.guarded
    assert handed == [pytest.approx(0.6)]
    assert [e[0] for e in journal] == ["write", "commit", "close"] and _commits(journal) == [{(T, 1): 2, (T, 2): 1}]
    assert summary.batches == loader.stats.batches == 1
    assert loader.stats.batch_seconds_total >= 0.6 - 1e-9  # first record to durable


def test_the_stop_writes_and_commits_the_batch_being_gathered_before_the_consumer_closes(monkeypatch, tmp_path):
    loader, _, _, journal, stop = _loader(monkeypatch, tmp_path, [[trade(T, 0, o) for o in range(5)]],
                                          {(T, p): (0, 5) for p in range(3)}, topics=[T])
    summary = loader.run(stop)
    assert journal == [("write", [("trade", 0, o) for o in range(5)]), ("commit", {(T, 0): 5}), ("close",)]
    assert (summary.records, summary.trades_added, summary.batches, summary.commits) == (5, 5, 1, 1)


def test_quotes_over_two_batches_are_all_counted_and_a_source_header_that_is_not_utf8_stays_readable(
        monkeypatch, tmp_path) -> None:
    h = [("source", b"\xffsim")]
    loader, _, storage, journal, stop = _loader(
        monkeypatch, tmp_path, [[quote(Q, 0, o, headers=h) for o in range(4)]], {(Q, 0): (0, 4)},
        settings={"load_batch_rows": 2})
    summary = loader.run(stop)
    assert _writes(journal) == [[("quote", 0, 0), ("quote", 0, 1)], [("quote", 0, 2), ("quote", 0, 3)]]
    assert _commits(journal) == [{(Q, 0): 2}, {(Q, 0): 4}]
    assert summary.quotes_added == len(storage.quotes) == 4 and summary.trades_added == 0
    assert loader.stats.produced == 4
    assert {r["source"] for r in storage.quotes.values()} == {"\ufffdsim"}


# --- what each record keeps: source, timestamp; consume errors ---------------------------------------------------


def test_mixed_results_go_record_by_record_keeping_each_source_and_timestamp_and_skipping_consume_errors(
        monkeypatch, tmp_path, caplog) -> None:
    """A ``consume()`` result that is not all trades with one header set: each record's ``source`` (``ws`` without
    one or with an empty one), its timestamp as ``received_ns`` (the clock when it has none); a partition-EOF event
    skipped quietly, another consume error logged; neither counted as a record nor committed."""
    records = mixed_result(T, Q)  # test_loader_run.py's: sim, replay, an EOF, ws (no timestamp), an error, ws, 2 quotes
    caplog.set_level(logging.WARNING, logger="ingest.load")
    clock = _Clock()
    monkeypatch.setattr(load, "time", clock)
    monkeypatch.setattr(clock, "time_ns", lambda: 1_700_000_000_123_456_789)
    loader, _, storage, journal, stop = _loader(
        monkeypatch, tmp_path, [records], {**{(T, p): (0, 2) for p in range(3)}, **{(Q, p): (0, 2) for p in range(3)}})
    summary = loader.run(stop)
    trades = {r["trade_id"]: r for r in storage.trades.values()}
    assert {k: r["source"] for k, r in trades.items()} == {"0-0": "sim", "0-1": "replay", "1-0": "ws", "2-0": "ws"}
    assert {k: r["received_ns"] for k, r in trades.items()} == {
        "0-0": T0_MS * 10**6, "0-1": (T0_MS + 1) * 10**6, "1-0": 1_700_000_000_123_456_789, "2-0": T0_MS * 10**6}
    quotes = {r["sequence"]: r for r in storage.quotes.values()}
    assert {k: (r["source"], r["received_ns"]) for k, r in quotes.items()} == {
        1000: ("flat", T0_MS * 10**6), 1001: ("ws", 1_700_000_000_123_456_789)}
    assert (summary.records, summary.trades_added, summary.quotes_added) == (6, 4, 2)
    assert (loader.stats.consumed, loader.stats.produced) == (6, 6)
    assert _commits(journal) == [{(T, 0): 2, (T, 1): 1, (T, 2): 1, (Q, 1): 2}]
    _check_order(journal)
    logged = [r.getMessage() for r in caplog.records if r.name == "ingest.load"]
    assert logged == [f"kafka consume error: {records[4].error()}"]


def test_trades_of_two_header_sets_or_with_a_consume_error_are_taken_record_by_record(monkeypatch, tmp_path):
    """All from the trades topic, but two header sets (each record keeps its own source), then a partition-EOF
    event after a record (its offset is not the partition's); a record stamped at 1 ms keeps that time."""
    script = [[trade(T, 0, 0, headers=[("source", b"sim")], ts_ms=1), trade(T, 0, 1, headers=[("source", b"ws2")])],
              [trade(T, 1, 0), Message(topic=T, partition=1, offset=-1001, error=KafkaError(KafkaError._PARTITION_EOF))],
              [trade(T, 2, 0, ts_ms=1), trade(T, 2, 1)]]
    loader, _, storage, journal, stop = _loader(monkeypatch, tmp_path, script, {(T, p): (0, 2) for p in range(3)},
                                                topics=[T])
    summary = loader.run(stop)
    trades = {r["trade_id"]: r for r in storage.trades.values()}
    assert {k: r["source"] for k, r in trades.items()} == {"0-0": "sim", "0-1": "ws2", "1-0": "ws", "2-0": "ws",
                                                           "2-1": "ws"}
    assert trades["0-0"]["received_ns"] == trades["2-0"]["received_ns"] == 1_000_000
    assert trades["2-1"]["received_ns"] == (T0_MS + 1) * 10**6
    assert _commits(journal) == [{(T, 0): 2, (T, 1): 1, (T, 2): 2}]
    assert summary.records == 5


def test_the_usual_result_keeps_timestamps_and_source_and_dead_letters_a_bad_record_from_its_own_origin(
        monkeypatch, tmp_path) -> None:
    """All trades with one header set (the vectorised path): a record without a timestamp gets the clock; a record
    that is not JSON goes to the dead-letter topic from its own partition and offset, with its key and value, and
    is delivered before the batch is committed; a record in JSON with spaces (handed back by the fast decoder) is
    accepted with its source and timestamp."""
    h = [("source", b"sim")]
    spaced = json.dumps(orjson.loads(trade(T, 1, 1).value())).encode()
    records = [trade(T, 0, 0, headers=h), trade(T, 2, 0, headers=h, ts_ms=0),
               trade(T, 2, 1, headers=h, value=b"{not json", key=b"bad", ts_ms=T0_MS + 77),
               trade(T, 1, 0, headers=h), trade(T, 0, 1, headers=h),
               trade(T, 1, 1, headers=h, value=spaced, ts_ms=T0_MS + 55)]
    clock = _Clock()
    monkeypatch.setattr(load, "time", clock)
    monkeypatch.setattr(clock, "time_ns", lambda: 1_700_000_000_000_000_007)
    loader, consumer, storage, journal, stop = _loader(monkeypatch, tmp_path, [records],
                                                       {(T, p): (0, 2) for p in range(3)}, topics=[T])
    summary = loader.run(stop)
    trades = {r["trade_id"]: r for r in storage.trades.values()}
    assert {k: (r["source"], r["received_ns"]) for k, r in trades.items()} == {
        "0-0": ("sim", T0_MS * 10**6), "0-1": ("sim", (T0_MS + 1) * 10**6), "1-0": ("sim", T0_MS * 10**6),
        "1-1": ("sim", (T0_MS + 55) * 10**6), "2-0": ("sim", 1_700_000_000_000_000_007)}
    (producer,) = consumer.kafka.producers
    (dead,) = producer.produced
    topic, value, key, headers = dead
    assert (topic, value, key) == (T + ".dead", b"{not json", b"bad")
    assert dict(headers)["dlq.error"].startswith(b"value is not valid JSON: ")
    assert headers[1:] == [("dlq.origin.topic", T.encode()), ("dlq.origin.partition", b"2"),
                           ("dlq.origin.offset", b"1"), ("dlq.origin.timestamp", str(T0_MS + 77).encode())]
    assert [e[0] for e in journal] == ["write", "flush", "commit", "close"]  # delivered, then committed
    assert _commits(journal) == [{(T, 0): 2, (T, 1): 2, (T, 2): 2}]
    assert (summary.records, summary.trades_added, summary.dead_lettered) == (6, 5, 1)
    assert (loader.stats.parse_errors, loader.stats.dead_lettered, loader.stats.delivery_failures) == (1, 1, 0)


# --- failures: nothing committed after them ----------------------------------------------------------------------


def test_a_dead_letter_that_cannot_be_delivered_stops_the_commit_and_the_run(monkeypatch, tmp_path) -> None:
    """The run's own dead-letter producer (made with its delivery callback) reports the bad record undelivered: the
    run raises, the failure is counted, and its batch is not committed; the batch still gathered after it is neither
    written nor committed, not even by the revocation that closing the consumer brings."""
    script = [[trade(T, 0, 0), trade(T, 0, 1, value=b"{not json")], [trade(T, 0, 2)]]
    loader, consumer, _, journal, stop = _loader(monkeypatch, tmp_path, script, {(T, p): (0, 3) for p in range(3)},
                                                 topics=[T], fail_delivery=True, until=lambda: False,
                                                 settings={"load_batch_rows": 2})
    with pytest.raises(KafkaException, match="dead-letter records were not delivered; not committing"):
        loader.run(stop)
    (producer,) = consumer.kafka.producers
    assert producer.config["on_delivery"] == loader._on_dlq_delivery
    assert producer.config["bootstrap.servers"] == "broker-a:9092,broker-b:9092"  # the settings' broker
    assert producer.flushes and all(map(_bounded, producer.flushes))  # a silent broker does not hang the stop
    assert loader.stats.delivery_failures == 1 and loader.summary.dead_lettered == 0
    assert loader.stats.dead_lettered == 0 and loader.summary.commits == 0
    assert journal == [("write", [("trade", 0, 0)]), ("flush", 1), ("close",)]
    assert consumer.closed and not consumer.guarded


def test_a_failed_write_raises_commits_nothing_after_it_and_writes_no_later_batch(monkeypatch, tmp_path) -> None:
    journal: list = []
    storage = _Storage(journal, fail_at=2)
    loader, consumer, _, journal, stop = _loader(monkeypatch, tmp_path, [[trade(T, 0, o) for o in range(16)]],
                                                 {(T, p): (0, 16) for p in range(3)}, topics=[T], storage=storage,
                                                 settings={"load_batch_rows": 4})
    with pytest.raises(OSError, match="disk full"):
        loader.run(stop)
    assert journal == [("write", [("trade", 0, o) for o in range(4)]), ("commit", {(T, 0): 4}), ("close",)]
    assert storage.calls == 2 and loader.summary.commits == 1 and consumer.closed
    assert loader.summary.batches == 1 and loader.summary.trades_added == 4


# --- rebalances ---------------------------------------------------------------------------------------------------


def test_a_revoked_partition_is_written_and_committed_before_it_goes_and_a_lost_one_is_never_committed(
        monkeypatch, tmp_path, caplog) -> None:
    def revoke(consumer: _Consumer) -> None:
        consumer.on_revoke(consumer, [TopicPartition(T, 1)])
        consumer.journal.append(("revoked",))

    def lose(consumer: _Consumer) -> None:
        consumer.on_lost(consumer, [TopicPartition(T, 2)])
        consumer.journal.append(("lost",))

    script = [[trade(T, 0, 0), trade(T, 1, 0), trade(T, 1, 1)], revoke, [trade(T, 0, 1), trade(T, 2, 0)], lose,
              [trade(T, 0, 2)]]
    caplog.set_level(logging.INFO, logger="ingest.load")
    loader, _, _, journal, stop = _loader(monkeypatch, tmp_path, script, {(T, p): (0, 3) for p in range(3)},
                                          topics=[T])
    summary = loader.run(stop)
    assert journal == [
        ("write", [("trade", 0, 0), ("trade", 1, 0), ("trade", 1, 1)]), ("commit", {(T, 0): 1, (T, 1): 2}),
        ("revoked",), ("lost",),
        ("write", [("trade", 0, 1), ("trade", 2, 0), ("trade", 0, 2)]), ("commit", {(T, 0): 3}), ("close",)]
    assert summary.trades_added == 6 and summary.commits == 2 and summary.batches == 2
    logged = [r.getMessage() for r in caplog.records if r.name == "ingest.load"]
    assert f"revoked {T}[1]: flushing and committing" in logged
    assert f"lost {T}[2]: nothing is committed for them" in logged


# --- the drain ----------------------------------------------------------------------------------------------------


def _stopped_by_test(calls: int) -> tuple[Any, list[int]]:
    """An ``until`` that stops the run at the ``calls``-th idle ``consume()`` (so a drain that does not end by
    itself still ends); the list counts the calls."""
    seen = [0]

    def until() -> bool:
        seen[0] += 1
        return seen[0] >= calls

    return until, seen


def test_a_drain_ends_once_the_committed_offsets_reach_the_high_watermarks(monkeypatch, tmp_path, caplog) -> None:
    """Partition 2 was emptied by retention (low = high = 3: nothing to read or commit): caught up. Partition 1
    starts at 2 (retention). The first two reads of the committed offsets fail: logged, and the drain goes on until
    it can read them."""
    script = [[trade(T, 0, o) for o in range(3)], [trade(T, 1, o) for o in range(2, 6)]]
    until, seen = _stopped_by_test(50)
    caplog.set_level(logging.INFO, logger="ingest.load")
    loader, consumer, storage, journal, stop = _loader(
        monkeypatch, tmp_path, script, {(T, 0): (0, 3), (T, 1): (2, 6), (T, 2): (3, 3)}, topics=[T], drain=True,
        until=until)
    consumer.refuse_committed = 2
    summary = loader.run(stop)
    assert seen[0] < 50  # ended by itself
    check_drain_after_two_refusals(caplog, consumer, storage, journal, summary, T)  # test_loader_run.py's rule


def test_a_drain_whose_watermarks_cannot_be_read_fails_and_still_closes_the_consumer_and_the_writers(
        monkeypatch, tmp_path) -> None:
    """The high watermarks are read before the first consume: when that read fails the run raises it, and the
    consumer, the writer threads and the dead-letter producer are closed as after any other failure."""
    refused = KafkaException(KafkaError(KafkaError._TIMED_OUT, "no watermarks (test)"))
    loader, consumer, storage, journal, stop = _loader(monkeypatch, tmp_path, [], {(T, 0): (0, 3)}, topics=[T],
                                                       drain=True)

    def no_watermarks(tp: TopicPartition, timeout: float, cached: bool = False) -> tuple[int, int]:
        raise refused

    consumer.get_watermark_offsets = no_watermarks
    with pytest.raises(KafkaException, match="no watermarks"):
        loader.run(stop)
    assert consumer.closed and journal == [("close",)] and not consumer.subscribed
    with pytest.raises(RuntimeError):  # the writer threads were shut down
        loader._decoder.submit(int)
    assert consumer.kafka.producers[0].flushes == [30]


def test_a_drain_ends_when_retention_deleted_every_record_after_a_partition_s_committed_offset(
        monkeypatch, tmp_path) -> None:
    """Partition 2's committed offset is 1 (an earlier run) and retention deleted records 1 and 2 (low = high = 3):
    nothing there to read or commit, so the drain does not wait for it."""
    until, seen = _stopped_by_test(50)
    loader, consumer, _, _, stop = _loader(
        monkeypatch, tmp_path, [[trade(T, 0, o) for o in range(3)]], {(T, 0): (0, 3), (T, 1): (0, 0), (T, 2): (3, 3)},
        topics=[T], drain=True, until=until)
    consumer.committed_at[(T, 2)] = 1
    summary = loader.run(stop)
    assert seen[0] < 50
    assert consumer.committed_at == {(T, 0): 3, (T, 2): 1} and summary.trades_added == 3


@pytest.mark.parametrize(("got", "highs"), [
    (4, {(T, 0): (0, 3), (T, 1): (0, 5)}),  # partition 1: 4 records of 5 read and committed
    (5, {(T, 0): (0, 3), (T, 1): (0, 5), (T, 2): (2, 4)}),  # partition 2: nothing committed, 2 records not read
])
def test_a_drain_does_not_end_while_a_partition_is_short_of_its_high_watermark(monkeypatch, tmp_path, got: int,
                                                                              highs: dict) -> None:
    until, seen = _stopped_by_test(30)
    loader, consumer, _, _, stop = _loader(
        monkeypatch, tmp_path, [[trade(T, 0, o) for o in range(3)], [trade(T, 1, o) for o in range(min(got, 4))]],
        highs, topics=[T], drain=True, until=until)
    if got == 5:
        consumer.script.append([trade(T, 1, 4)])
    loader.run(stop)
    assert seen[0] == 30  # stopped by the test, not by the drain
    assert consumer.committed_at == {(T, 0): 3, (T, 1): got}


def test_a_drain_of_a_missing_or_broken_topic_fails_naming_it(monkeypatch, tmp_path) -> None:
    loader, consumer, _, _, stop = _loader(monkeypatch, tmp_path, [], {(T, 0): (0, 1), (Q, 1): (0, 1), (Q, 0): (0, 1)},
                                           drain=True)
    try:
        assert loader._partitions(consumer) == [TopicPartition(T, 0), TopicPartition(Q, 0), TopicPartition(Q, 1)]
        consumer.metadata_errors = {Q: None}
        with pytest.raises(KafkaException) as missing:
            loader.run(stop)
        assert missing.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        assert missing.value.args[0].str() == f"no topic {Q}"
        broken = KafkaError(KafkaError.LEADER_NOT_AVAILABLE, "no leader (test)")
        consumer.metadata_errors = {T: broken}
        with pytest.raises(KafkaException) as failed:
            loader._partitions(consumer)
        assert failed.value.args[0] == broken
    finally:
        loader._shutdown_writers()


def test_a_drain_is_behind_while_a_held_partition_s_position_is_short_of_its_target(monkeypatch, tmp_path) -> None:
    """``_behind``, the local check that spares the coordinator a round trip while records are still to read."""
    loader, consumer, _, _, _ = _loader(monkeypatch, tmp_path, [], {(T, 0): (0, 5), (T, 1): (4, 4), (T, 2): (0, 2)})
    try:
        targets = {(T, 0): (0, 5), (T, 1): (4, 4)}  # partition 2 held but not a target (it joined later)
        loader._assigned = {(T, 0), (T, 1), (T, 2)}
        consumer.position_of = {(T, 0): 4}  # partition 1: no position, emptied by retention (low = high)
        assert loader._behind(consumer, targets) is True
        consumer.position_of = {(T, 0): 5, (T, 2): 0}
        assert loader._behind(consumer, targets) is False
        loader._assigned = {(T, 1), (T, 2)}  # partition 0 went to another member: not this loader's to read
        consumer.position_of = {}
        assert loader._behind(consumer, targets) is False
    finally:
        loader._shutdown_writers()


def test_run_loader_drains_reopens_the_storage_every_load_reopen_rows_and_logs_the_final_counts(
        monkeypatch, tmp_path, caplog) -> None:
    """``run_loader`` (``microstructure load --drain``): the loader of the settings (batches of 4, a reopen after 6
    rows) drains the 10 records, and the statistics line ends with ``(final)`` and the final counts."""
    settings = _settings(tmp_path, load_batch_rows=4, load_reopen_rows=6, stats_interval_seconds=3600)
    script = [[trade(T, p, o, headers=[("source", b"sim")]) for p, n in ((0, 5), (1, 3), (2, 2)) for o in range(n)]]
    journal: list = []
    storage = _Storage(journal)
    consumer = _Consumer(script, journal, {(T, 0): (0, 5), (T, 1): (0, 3), (T, 2): (0, 2), (Q, 0): (0, 0)},
                         threading.Event(), lambda: False, 5.0)
    _Brokerless(monkeypatch, consumer)
    stops: list[threading.Event] = []

    def install(stop: threading.Event) -> None:  # stands in for SIGINT/SIGTERM: the test's guard shares the stop
        stops.append(stop)
        consumer.stop = stop

    caplog.set_level(logging.INFO, logger="ingest.load")
    summary = run_loader(settings, storage, drain=True, install_signals=install)  # type: ignore[arg-type]
    assert len(stops) == 1 and not consumer.guarded
    assert (summary.records, summary.trades_added, summary.batches) == (10, 10, 3)
    assert consumer.committed_at == {(T, 0): 5, (T, 1): 3, (T, 2): 2}
    assert [e[0] for e in journal if e[0] in ("write", "reopen")] == ["write", "write", "reopen", "write"]
    finals = [r.getMessage() for r in caplog.records if r.getMessage().endswith("(final)")]
    assert len(finals) == 1 and finals[0].startswith("load: consumed=10 (")
    assert " produced=10 " in finals[0] and " batches=3 " in finals[0]


# --- the consumer's settings and errors ----------------------------------------------------------------------------


def test_the_consumer_commits_by_hand_and_prefetches_more_than_librdkafka_s_defaults() -> None:
    """``consumer_config``: manual commits, no automatic offset store, cooperative-sticky, earliest (the module
    docstring); each fetch and queue bound an integer above librdkafka's default (CONFIGURATION.md); no
    partition-EOF events; overrides win."""
    config = consumer_config("host:1", "group-a", **{"session.timeout.ms": 30_000})
    assert {k: config[k] for k in ("bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store",
                                   "auto.offset.reset", "partition.assignment.strategy", "session.timeout.ms",
                                   "enable.partition.eof")} == {
        "bootstrap.servers": "host:1", "group.id": "group-a", "enable.auto.commit": False,
        "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": 30_000,
        "enable.partition.eof": False}
    defaults = {"fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 1_048_576,
                "queued.max.messages.kbytes": 65_536, "queued.min.messages": 100_000}
    for name, default in defaults.items():
        assert type(config[name]) is int and config[name] > default, name
    own = consumer_config("host:1", "group-a")
    assert own["session.timeout.ms"] == 10_000 and 3 * own["heartbeat.interval.ms"] <= own["session.timeout.ms"]


def test_kafka_errors_are_logged_at_their_severity(tmp_path, caplog) -> None:
    loader = Loader(_settings(tmp_path), storage=None)  # type: ignore[arg-type]
    try:
        caplog.set_level(logging.DEBUG, logger="ingest.load")
        loader._on_error(KafkaError(KafkaError._TRANSPORT, "connection reset (test)"))
        loader._on_error(KafkaError(KafkaError._FATAL, "fenced (test)", fatal=True))
    finally:
        loader._shutdown_writers()
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "ingest.load"]
    assert [level for level, _ in logged] == [logging.WARNING, logging.ERROR]
    assert logged[0][1].startswith("kafka consumer: ") and "connection reset (test)" in logged[0][1]
    assert logged[1][1].startswith("kafka consumer: ") and "fenced (test)" in logged[1][1]


# --- added after the first mutation run (each a rule of the module docstring) ------------------------------------


def test_records_taken_one_by_one_are_dead_lettered_from_their_own_topic_partition_offset_timestamp_and_key(
        monkeypatch, tmp_path) -> None:
    """A result of two header sets and quotes (record by record): a trade that is not an object goes to the trades'
    dead-letter topic, a quote that is not JSON to the quotes', each with its own key, value and origin."""
    records = [trade(T, 0, 0, headers=[("source", b"sim")]),
               trade(T, 1, 4, headers=[("source", b"ws2")], value=b"[1]", key=b"k1", ts_ms=T0_MS + 9),
               Message(topic=Q, partition=2, offset=7, key=b"k2", value=b"{no", timestamp=(1, T0_MS + 3)),
               quote(Q, 0, 0)]
    loader, consumer, storage, journal, stop = _loader(monkeypatch, tmp_path, [records],
                                                       {(T, 0): (0, 1), (T, 1): (0, 5), (Q, 0): (0, 1), (Q, 2): (0, 8)})
    summary = loader.run(stop)
    (trade_dead, quote_dead) = consumer.kafka.producers[0].produced
    assert trade_dead == (T + ".dead", b"[1]", b"k1", [
        ("dlq.error", b"value is not a JSON object"), ("dlq.origin.topic", T.encode()), ("dlq.origin.partition", b"1"),
        ("dlq.origin.offset", b"4"), ("dlq.origin.timestamp", str(T0_MS + 9).encode())])
    assert quote_dead[:3] == (Q + ".dead", b"{no", b"k2")
    assert quote_dead[3][0][1].startswith(b"value is not valid JSON: ")
    assert quote_dead[3][1:] == [("dlq.origin.topic", Q.encode()), ("dlq.origin.partition", b"2"),
                                 ("dlq.origin.offset", b"7"), ("dlq.origin.timestamp", str(T0_MS + 3).encode())]
    assert [k[2] for k in storage.trades] == ["0-0"] and len(storage.quotes) == 1
    assert _commits(journal) == [{(T, 0): 1, (T, 1): 5, (Q, 2): 8, (Q, 0): 1}]
    assert (summary.records, summary.dead_lettered) == (4, 2)


def test_at_most_two_batches_are_handed_over_and_not_yet_committed(monkeypatch, tmp_path) -> None:
    """One batch decoding while the one before it is written (module docstring, point 4): with the first write held
    (until a third batch is handed over, or 0.5 s), the third hand-over waits for the first batch's commit."""
    third = threading.Event()

    class Held(_Storage):
        def append_trades(self, table: Any) -> int:
            if self.calls == 0:
                third.wait(0.5)
            return super().append_trades(table)

    journal: list = []

    def fault(point: str) -> None:
        if point == "consumed":
            journal.append(("handed",))
            if journal.count(("handed",)) == 3:
                third.set()

    loader, _, _, journal, stop = _loader(monkeypatch, tmp_path, [[trade(T, 0, o) for o in range(5)]],
                                          {(T, 0): (0, 5)}, topics=[T], storage=Held(journal), fault=fault,
                                          settings={"load_batch_rows": 1})
    loader.run(stop)
    kinds = [e[0] for e in journal]
    assert kinds[:kinds.index("commit")].count("handed") == 2
    assert kinds.count("handed") == 5 and _commits(journal)[-1] == {(T, 0): 5}
    _check_order(journal)


def test_a_busy_drain_still_behind_at_its_first_check_checks_again_a_second_later_and_ends(monkeypatch,
                                                                                          tmp_path) -> None:
    """A drain of a topic still written to (one record at every ``consume()``, 0.3 s of the loader's clock each; one
    record a batch): at the first check (1.2 s, 4 records read) it is behind its target (high watermark 6); at the
    next, a second later (2.4 s, 8 read), the batches committed reach 6 and the drain ends."""
    clock = _Clock()
    monkeypatch.setattr(load, "time", clock)
    offsets = iter(range(10_000))

    class Busy(_Timed):
        busy_s = 0.3

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.clock = clock
            self.more = lambda: [trade(T, 0, next(offsets))]

    loader, consumer, _, journal, stop = _loader(monkeypatch, tmp_path, [], {(T, 0): (0, 6)}, topics=[T], drain=True,
                                                 consumer_type=Busy, settings={"load_batch_rows": 1})
    summary = loader.run(stop)
    assert not consumer.guarded
    assert summary.records == 8 and consumer.committed_at == {(T, 0): 8}
    _check_order(journal)


def test_the_drain_s_questions_to_the_broker_give_up_after_a_while(monkeypatch, tmp_path) -> None:
    """The topic metadata, the watermarks and the committed offsets are asked with a timeout (a broker that does not
    answer fails the drain instead of hanging it)."""
    class Timeouts(_Consumer):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.asked: list[tuple[str, Any]] = []

        def list_topics(self, timeout: float) -> Any:
            self.asked.append(("list_topics", timeout))
            return super().list_topics(timeout)

        def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool = False) -> tuple[int, int]:
            if not cached:  # a cached read (the lag's) sends no request: its timeout is never waited
                self.asked.append(("get_watermark_offsets", timeout))
            return super().get_watermark_offsets(tp, timeout, cached)

        def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
            self.asked.append(("committed", timeout))
            return super().committed(tps, timeout)

    loader, consumer, _, _, stop = _loader(monkeypatch, tmp_path, [[trade(T, 0, 0)]], {(T, 0): (0, 1)}, topics=[T],
                                           drain=True, consumer_type=Timeouts)
    loader.run(stop)
    assert {name for name, _ in consumer.asked} == {"list_topics", "get_watermark_offsets", "committed"}
    assert all(_bounded(timeout) for _, timeout in consumer.asked), consumer.asked


def test_run_loader_without_drain_runs_until_its_stop_logging_statistics_lines_meanwhile(monkeypatch, tmp_path,
                                                                                        caplog) -> None:
    """``microstructure load`` (no ``--drain``): caught up, it goes on until the stop that ``install_signals`` wires
    to SIGINT/SIGTERM is set, logging a statistics line every ``STATS_INTERVAL_SECONDS`` (0.05 s) meanwhile and a
    ``(final)`` one at the end."""
    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("load: consumed=")]

    class Once(_Consumer):
        def consume(self, num_messages: int, timeout: float) -> list:
            if self.stop.is_set():
                raise AssertionError("consumed after the stop was set: it is not the run's stop")
            return super().consume(num_messages, timeout)

    settings = _settings(tmp_path, stats_interval_seconds=0.05)
    journal: list = []
    consumer = Once([[trade(T, 0, 0), trade(T, 0, 1)]], journal, {(T, 0): (0, 2), (Q, 0): (0, 0)},
                    threading.Event(), lambda: len(lines()) >= 2, 5.0)
    _Brokerless(monkeypatch, consumer)
    stops: list[threading.Event] = []

    def install(stop: threading.Event) -> None:  # stands in for the signal handlers
        stops.append(stop)
        consumer.stop = stop

    caplog.set_level(logging.INFO, logger="ingest.load")
    summary = run_loader(settings, _Storage(journal), install_signals=install)  # type: ignore[arg-type]
    assert stops[0].is_set() and not consumer.guarded  # ended by its stop, not by catching up
    assert summary.records == 2 and _commits(journal) == [{(T, 0): 2}]
    assert len(lines()) >= 3 and lines()[-1].endswith("(final)") and not lines()[0].endswith("(final)")
