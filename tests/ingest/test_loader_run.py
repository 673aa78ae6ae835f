"""The loader's run loop (``Loader.run``) with a scripted consumer: what a user would feel if a path of the loop had
a hole. Every record is written once and its offset committed only after its write; a batch is handed over at
``LOAD_BATCH_ROWS`` records or once its oldest is ``LOAD_BATCH_SECONDS`` old; the stop flushes the batch being
gathered; a revocation writes and commits what was read of the partitions given up, a loss commits nothing for
them; a failed write raises and commits nothing after it; a drain ends once the committed offsets reach the high
watermarks (a partition emptied by retention included); the counts of the summary and the statistics line.

The consumer is a stand-in that hands out ``confluent_kafka.Message`` records (built by hand, so the offsets,
partitions, headers and timestamps are known) and records each commit; the rebalance callbacks are called from
inside ``consume()``, as librdkafka does. The topics and the dead-letter producer are the real ones on the test
broker (``kafka_bootstrap``). The storage is a stand-in that keeps each row once by its key (the idempotent append
of the contract) and journals every write beside the commits, so that the order of the two is checked. The
expected rows, offsets and counts are written out from the records each test builds, not computed by the loader.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

import orjson
import pyarrow as pa
import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ingest.load import Loader, consumer_config, run_loader
from ingest.produce import ensure_topics
from tests.ingest.test_kafka_pipeline import _committed_total, kafka_settings

pytestmark = [pytest.mark.kafka]

T0_MS = 1_796_396_000_000  # 2026-12-04 14:53:20 UTC


def trade(topic: str, partition: int, offset: int, *, ts_ms: int | None = None, headers: Any = None,
          value: bytes | None = None, key: bytes | None = b"AAPL") -> Message:
    """A trades-topic record: a Polygon ``T`` event whose trade id names its partition and offset."""
    event = {"ev": "T", "sym": "AAPL", "x": 4, "i": f"{partition}-{offset}", "z": 3, "p": 100.0 + offset / 100,
             "s": 10, "t": T0_MS + 10 * offset + partition, "q": offset, "c": []}
    return Message(topic=topic, partition=partition, offset=offset, key=key,
                   value=orjson.dumps(event) if value is None else value, headers=headers,
                   timestamp=(1, T0_MS + offset if ts_ms is None else ts_ms))


def quote(topic: str, partition: int, offset: int, *, headers: Any = None, ts_ms: int | None = None) -> Message:
    """A quotes-topic record: a Polygon ``Q`` event whose sequence number names its partition and offset."""
    event = {"ev": "Q", "sym": "MSFT", "bx": 11, "ax": 12, "bp": 400.0, "bs": 2, "ap": 400.5, "as": 3,
             "t": T0_MS + offset, "q": 1000 * partition + offset, "z": 3, "c": []}
    return Message(topic=topic, partition=partition, offset=offset, key=b"MSFT", value=orjson.dumps(event),
                   headers=headers, timestamp=(1, T0_MS + offset if ts_ms is None else ts_ms))


def mixed_result(t: str, q: str) -> list[Message]:
    """A ``consume()`` result taken record by record: trades with other headers (``source`` among them, none, an empty
    one), a partition-EOF event and a transport error between them, a trade without a timestamp, quotes of topic ``q``
    (one without a timestamp)."""
    return [trade(t, 0, 0, headers=[("source", b"sim")]),
            trade(t, 0, 1, headers=[("other", b"x"), ("source", b"replay")]),
            Message(topic=t, partition=1, offset=-1001, error=KafkaError(KafkaError._PARTITION_EOF)),
            trade(t, 1, 0, headers=None, ts_ms=0),
            Message(topic=t, partition=2, error=KafkaError(KafkaError._TRANSPORT, "broker went away (test)")),
            trade(t, 2, 0, headers=[("source", b"")]),
            quote(q, 1, 0, headers=[("source", b"flat")]),
            quote(q, 1, 1, ts_ms=-1)]


class _Storage:
    """Keeps each trade once by ``(symbol, exchange, trade_id, ts_ns)`` and each quote once by
    ``(symbol, ts_ns, sequence)``; journals each write as ``("write", [(topic-or-'quote', partition, offset)])``."""

    def __init__(self, journal: list, fail_at: int = 0) -> None:
        self.journal, self.fail_at, self.calls = journal, fail_at, 0
        self.trades: dict[tuple, dict] = {}
        self.quotes: dict[tuple, dict] = {}
        self.appended = 0

    def append_trades(self, table: pa.Table) -> int:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError("disk full (test)")
        rows = table.to_pylist()
        self.appended += len(rows)
        before = len(self.trades)
        for r in rows:
            self.trades.setdefault((r["symbol"], r["exchange"], r["trade_id"], r["ts_ns"]), r)
        self.journal.append(("write", [("trade", *map(int, r["trade_id"].split("-"))) for r in rows]))
        return len(self.trades) - before

    def append_quotes(self, table: pa.Table) -> int:
        self.calls += 1
        rows = table.to_pylist()
        self.appended += len(rows)
        before = len(self.quotes)
        for r in rows:
            self.quotes.setdefault((r["symbol"], r["ts_ns"], r["sequence"]), r)
        self.journal.append(("write", [("quote", *divmod(r["sequence"], 1000)) for r in rows]))
        return len(self.quotes) - before

    def reopen(self) -> None:
        self.journal.append(("reopen",))


class _Consumer:
    """Hands out ``script`` one ``consume()`` at a time: a list of records (at most ``num_messages`` of them per
    call, the rest next time) or a callable (called with this consumer, then nothing delivered). Assigns
    ``highs``' partitions in the first call. Once the script is done, sets ``stop`` when ``until()`` holds (or
    after ``guard_s``, noting it in ``guarded``)."""

    def __init__(self, script: list, journal: list, highs: dict[tuple[str, int], tuple[int, int]],
                 stop: threading.Event, until: Any = None, guard_s: float = 15.0, more: Any = None) -> None:
        self.script, self.journal, self.highs, self.stop = list(script), journal, highs, stop
        self.more = more  # once the script is done: records of every later call (a topic still written to)
        self.metadata_errors: dict[str, Any] = {}  # topic -> its metadata error; None: the topic is missing
        self.refuse_committed = 0  # calls of committed() to fail (the coordinator not available yet)
        self.until = until or (lambda: True)
        self.guard_s = guard_s
        self.deadline = time.monotonic() + guard_s
        self.guarded = False
        self.position_of: dict[tuple[str, int], int] = {}
        self.committed_at: dict[tuple[str, int], int] = {}
        self.subscribed: list[str] = []
        self.assigned = False
        self.closed = False
        self.lags: list[int] = []
        self.loader: Loader | None = None

    def subscribe(self, topics: list[str], *, on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.subscribed = list(topics)
        self.on_assign, self.on_revoke, self.on_lost = on_assign, on_revoke, on_lost

    def consume(self, num_messages: int, timeout: float) -> list:
        if self.loader is not None:
            self.lags.append(self.loader.stats.lag)
        if not self.assigned:
            self.assigned = True
            self.deadline = time.monotonic() + self.guard_s  # from the first call: the topics may take a while
            self.on_assign(self, [TopicPartition(t, p) for t, p in self.highs])
        if time.monotonic() > self.deadline:
            self.guarded = True
            self.stop.set()
        if not self.script and self.more is not None:
            self.script.append(self.more())
        if not self.script:
            if self.until():
                self.stop.set()
            time.sleep(0.005)
            return []
        item = self.script[0]
        if callable(item):
            self.script.pop(0)
            item(self)
            return []
        given, rest = item[:num_messages], item[num_messages:]
        if rest:
            self.script[0] = rest
        else:
            self.script.pop(0)
        for m in given:
            if m.error() is None:
                self.position_of[(m.topic(), m.partition())] = m.offset() + 1
        return given

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool = True) -> list[TopicPartition]:
        assert asynchronous is False
        asked = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        self.journal.append(("commit", asked))
        self.committed_at.update(asked)
        return [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in offsets]

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        if self.refuse_committed:
            self.refuse_committed -= 1
            raise KafkaException(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, "no coordinator (test)"))
        return [TopicPartition(tp.topic, tp.partition, self.committed_at.get((tp.topic, tp.partition),
                                                                             OFFSET_INVALID)) for tp in tps]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.position_of.get((tp.topic, tp.partition),
                                                                            OFFSET_INVALID)) for tp in tps]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool = False) -> tuple[int, int]:
        return self.highs[(tp.topic, tp.partition)]

    def list_topics(self, timeout: float) -> Any:
        topics: dict[str, Any] = {}
        for t, p in self.highs:
            topics.setdefault(t, SimpleNamespace(error=None, partitions={}))
            topics[t].partitions[p] = object()
        for t, error in self.metadata_errors.items():
            if error is None:
                topics.pop(t, None)
            else:
                topics[t] = SimpleNamespace(error=error, partitions={})
        return SimpleNamespace(topics=topics)

    def close(self) -> None:
        """As the real client: the partitions still held (once subscribed) are revoked (``on_revoke``) while
        closing."""
        if self.subscribed:
            self.on_revoke(self, [TopicPartition(t, p) for t, p in self.highs])
        self.journal.append(("close",))
        self.closed = True


def _loader(bootstrap: str, tmp_path: Any, script_of: Any, *, batch_rows: int, batch_seconds: float = 3600.0,
            quotes: bool = False, drain: bool = False, partitions: int = 3, lows: dict[int, int] | None = None,
            fail_at: int = 0, reopen_rows: int | None = None, until: Any = None, guard_s: float = 15.0,
            more: Any = None) -> tuple[Loader, _Consumer, _Storage, list, Any]:
    """A loader on a stand-in consumer (``script_of(settings)`` gives its script) and a stand-in storage."""
    settings = kafka_settings(bootstrap, tmp_path / "unused.duckdb", load_batch_rows=batch_rows,
                              load_batch_seconds=batch_seconds)
    topics = [settings.kafka_trades_topic] + ([settings.kafka_quotes_topic] if quotes else [])
    journal: list = []
    storage = _Storage(journal, fail_at=fail_at)
    stop = threading.Event()
    script, highs = script_of(settings)
    consumer = _Consumer(script, journal, highs, stop, until, guard_s, more)

    class Scripted(Loader):
        def _make_consumer(self) -> Any:
            return consumer

    loader = Scripted(settings, storage, topics=topics, drain=drain,  # type: ignore[arg-type]
                      reopen_rows=reopen_rows)
    consumer.loader = loader
    loader_run = loader.run
    loader.run = lambda: loader_run(stop)  # type: ignore[method-assign]
    return loader, consumer, storage, journal, settings


def _check_order(journal: list, dead: set[tuple[str, int, int]] | None = None) -> None:
    """Each commit only of offsets whose records (all before them in their partition) were written before it,
    or dead-lettered (``dead``: trades-topic partition, offset)."""
    written: set[tuple[str, int, int]] = set(dead or ())
    for event in journal:
        if event[0] == "write":
            written.update(event[1])
        elif event[0] == "commit":
            for (topic, partition), offset in event[1].items():
                kind = "quote" if topic.endswith(".quotes") else "trade"
                missing = [o for o in range(offset) if (kind, partition, o) not in written]
                assert not missing, (topic, partition, offset, missing, journal)


def _trades_of(loader: Loader, counts: dict[int, int], *, first: dict[int, int] | None = None) -> list[Message]:
    topic = loader.settings.kafka_trades_topic
    return [trade(topic, p, o) for p, n in counts.items() for o in range((first or {}).get(p, 0), n)]


# --- batching, the stop, the counts ------------------------------------------------------------------------


def test_every_record_is_written_once_in_batches_of_the_batch_size_and_committed_after_its_write(
        kafka_bootstrap, tmp_path):
    """18 records in batches of 4: writes of 4, 4, 4, 4 and the 2 the stop flushes; a record delivered twice
    (a rebalance re-delivers) is written again and stored once; each commit after its batch's write, the last
    commit at each partition's next offset, the consumer closed after it; the storage reopened every 8 rows."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        records = [trade(t, p, o) for o in range(6) for p in range(3)]  # interleaved partitions, 18 records
        records.append(trade(t, 0, 5))  # partition 0's last record again: 19 records
        return [records], {(t, p): (0, 6) for p in range(3)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=4,
                                                           reopen_rows=8)
    summary = loader.run()
    t = settings.kafka_trades_topic
    assert not consumer.guarded and consumer.subscribed == [t]
    assert sorted(k[2] for k in storage.trades) == sorted(f"{p}-{o}" for p in range(3) for o in range(6))
    writes = [len(e[1]) for e in journal if e[0] == "write"]
    assert writes == [4, 4, 4, 4, 3] and storage.appended == 19
    _check_order(journal)
    commits = [e[1] for e in journal if e[0] == "commit"]
    assert commits[-1] == {(t, 0): 6, (t, 1): 6, (t, 2): 6}  # the stop's flush: every partition's next offset
    assert [e[0] for e in journal if e[0] != "commit"] == ["write", "write", "reopen", "write", "write", "reopen",
                                                           "write", "close"]
    assert (summary.records, summary.trades_added, summary.quotes_added) == (19, 18, 0)
    assert (summary.batches, summary.commits, summary.commit_failures, summary.dead_lettered) == (5, 5, 0, 0)
    stats = loader.stats
    assert (stats.consumed, stats.produced, stats.batches, stats.parse_errors) == (19, 18, 5, 0)


def test_a_batch_is_handed_over_once_its_oldest_record_is_load_batch_seconds_old(kafka_bootstrap, tmp_path):
    """Three records and then nothing, far below ``LOAD_BATCH_ROWS``: written and committed after
    ``LOAD_BATCH_SECONDS`` without a stop, and the batch's latency counts from its first record."""
    written: list[float] = []

    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [[trade(t, 1, 0), trade(t, 1, 1), trade(t, 2, 0)]], {(t, p): (0, 2) for p in range(3)}

    def committed() -> bool:
        if any(e[0] == "commit" for e in journal) and not written:
            written.append(time.monotonic())
        return bool(written)

    started = time.monotonic()
    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000,
                                                           batch_seconds=0.4, until=committed, guard_s=10)
    summary = loader.run()
    t = settings.kafka_trades_topic
    assert not consumer.guarded  # committed on time, not by the stop after the guard
    assert [e for e in journal if e[0] == "commit"] == [("commit", {(t, 1): 2, (t, 2): 1})]
    assert [e[0] for e in journal] == ["write", "commit", "close"]
    assert written[0] - started >= 0.4
    assert summary.batches == loader.stats.batches == 1
    assert 0.4 <= loader.stats.batch_seconds_total <= written[0] - started  # first record to durable


def test_the_stop_writes_and_commits_the_batch_being_gathered_before_the_consumer_closes(kafka_bootstrap,
                                                                                         tmp_path):
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [[trade(t, 0, o) for o in range(5)]], {(t, p): (0, 5) for p in range(3)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000)
    summary = loader.run()
    t = settings.kafka_trades_topic
    assert journal == [("write", [("trade", 0, o) for o in range(5)]), ("commit", {(t, 0): 5}), ("close",)]
    assert (summary.records, summary.trades_added, summary.batches, summary.commits) == (5, 5, 1, 1)


def test_quotes_mixed_headers_timestamps_and_consume_errors_go_record_by_record(kafka_bootstrap, tmp_path,
                                                                                caplog):
    """A ``consume()`` result that is not all trades with one header set: each record's ``source`` header
    (``ws`` without one or with an empty one), its timestamp as ``received_ns`` (the clock when it has none), a
    partition-EOF event skipped quietly and another consume error logged; neither is counted as a record."""
    def script(settings: Any) -> Any:
        t, q = settings.kafka_trades_topic, settings.kafka_quotes_topic
        return [mixed_result(t, q)], {**{(t, p): (0, 2) for p in range(3)}, **{(q, p): (0, 2) for p in range(3)}}

    caplog.set_level(logging.WARNING, logger="ingest.load")
    before = time.time_ns()
    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000,
                                                           quotes=True)
    summary = loader.run()
    after = time.time_ns()
    t, q = settings.kafka_trades_topic, settings.kafka_quotes_topic
    trades = {r["trade_id"]: r for r in storage.trades.values()}
    assert {k: r["source"] for k, r in trades.items()} == {"0-0": "sim", "0-1": "replay", "1-0": "ws", "2-0": "ws"}
    assert trades["0-0"]["received_ns"] == T0_MS * 1_000_000 and trades["0-1"]["received_ns"] == (T0_MS + 1) * 10**6
    assert before <= trades["1-0"]["received_ns"] <= after
    quotes = {r["sequence"]: r for r in storage.quotes.values()}
    assert {k: r["source"] for k, r in quotes.items()} == {1000: "flat", 1001: "ws"}
    assert quotes[1000]["received_ns"] == T0_MS * 10**6 and before <= quotes[1001]["received_ns"] <= after
    assert (summary.records, summary.trades_added, summary.quotes_added) == (6, 4, 2) == (
        loader.stats.consumed, 4, loader.stats.produced - 4)
    assert [e for e in journal if e[0] == "commit"] == [("commit", {(t, 0): 2, (t, 1): 1, (t, 2): 1, (q, 1): 2})]
    _check_order(journal)
    consume_errors = [r.getMessage() for r in caplog.records if r.getMessage().startswith("kafka consume error")]
    assert len(consume_errors) == 1 and "broker went away (test)" in consume_errors[0]


def test_the_usual_result_keeps_each_record_s_timestamp_source_and_dead_letter_origin(kafka_bootstrap, tmp_path):
    """All trades with one header set (the vectorised path): a record without a timestamp gets the clock, and a
    record the fast decoder hands back goes to the dead-letter topic from its own partition and offset."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        h = [("source", b"sim")]
        records = [trade(t, 0, 0, headers=h), trade(t, 2, 0, headers=h, ts_ms=0),
                   trade(t, 2, 1, headers=h, value=b"{not json", key=b"bad", ts_ms=T0_MS + 77),
                   trade(t, 1, 0, headers=h), trade(t, 0, 1, headers=h)]
        # JSON with spaces: not compact, so handed back by the fast decoder and accepted by the reference one
        spaced = json.dumps(orjson.loads(trade(t, 1, 1).value())).encode()
        records.append(trade(t, 1, 1, headers=h, value=spaced, ts_ms=T0_MS + 55))
        return [records], {(t, p): (0, 2) for p in range(3)}

    before = time.time_ns()
    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000)
    summary = loader.run()
    after = time.time_ns()
    t = settings.kafka_trades_topic
    trades = {r["trade_id"]: r for r in storage.trades.values()}
    assert sorted(trades) == ["0-0", "0-1", "1-0", "1-1", "2-0"] and {r["source"] for r in trades.values()} == {"sim"}
    assert trades["1-0"]["received_ns"] == T0_MS * 10**6 and trades["0-1"]["received_ns"] == (T0_MS + 1) * 10**6
    assert trades["1-1"]["received_ns"] == (T0_MS + 55) * 10**6
    assert before <= trades["2-0"]["received_ns"] <= after
    assert [e for e in journal if e[0] == "commit"] == [("commit", {(t, 0): 2, (t, 1): 2, (t, 2): 2})]
    _check_order(journal, dead={("trade", 2, 1)})
    assert (summary.records, summary.trades_added, summary.dead_lettered) == (6, 5, 1)
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"check-{settings.kafka_group_id}"})
    reader.assign([TopicPartition(t + ".dlq", p, 0) for p in range(3)])
    found: list = []
    deadline = time.monotonic() + 30
    while not found and time.monotonic() < deadline:
        found += [m for m in reader.consume(10, 0.5) if m.error() is None]
    reader.close()
    (dead,) = found
    headers = dict(dead.headers())
    assert (dead.key(), dead.value()) == (b"bad", b"{not json")
    assert (headers["dlq.origin.topic"], headers["dlq.origin.partition"], headers["dlq.origin.offset"],
            headers["dlq.origin.timestamp"]) == (t.encode(), b"2", b"1", str(T0_MS + 77).encode())


# --- rebalances, failures, drain, lag ----------------------------------------------------------------------


def test_a_revoked_partition_is_written_and_committed_before_it_goes_and_a_lost_one_is_never_committed(
        kafka_bootstrap, tmp_path, caplog):
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic

        def revoke(consumer: _Consumer) -> None:
            consumer.on_revoke(consumer, [TopicPartition(t, 1)])
            consumer.journal.append(("revoked",))

        def lose(consumer: _Consumer) -> None:
            consumer.on_lost(consumer, [TopicPartition(t, 2)])
            consumer.journal.append(("lost",))

        return ([[trade(t, 0, 0), trade(t, 1, 0), trade(t, 1, 1)], revoke,
                  [trade(t, 0, 1), trade(t, 2, 0)], lose, [trade(t, 0, 2)]],
                {(t, p): (0, 3) for p in range(3)})

    caplog.set_level(logging.INFO, logger="ingest.load")
    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000)
    summary = loader.run()
    t = settings.kafka_trades_topic
    assert journal == [
        ("write", [("trade", 0, 0), ("trade", 1, 0), ("trade", 1, 1)]), ("commit", {(t, 0): 1, (t, 1): 2}),
        ("revoked",), ("lost",),
        ("write", [("trade", 0, 1), ("trade", 2, 0), ("trade", 0, 2)]), ("commit", {(t, 0): 3}), ("close",)]
    assert summary.trades_added == 6 and summary.commits == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "ingest.load"]
    assert f"revoked {t}[1]: flushing and committing" in messages
    assert f"lost {t}[2]: nothing is committed for them" in messages
    assert f"assigned {t}[0], {t}[1], {t}[2]" in messages


def test_a_failed_write_raises_commits_nothing_after_it_and_writes_no_later_batch(kafka_bootstrap, tmp_path):
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [[trade(t, 0, o) for o in range(16)]], {(t, p): (0, 16) for p in range(3)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=4,
                                                           fail_at=2)
    with pytest.raises(OSError, match="disk full"):
        loader.run()
    t = settings.kafka_trades_topic
    assert journal == [("write", [("trade", 0, o) for o in range(4)]), ("commit", {(t, 0): 4}), ("close",)]
    assert storage.calls == 2 and loader.summary.commits == 1 and consumer.closed


def test_a_drain_ends_once_the_committed_offsets_reach_the_high_watermarks(kafka_bootstrap, tmp_path, caplog):
    """Partition 2 was emptied by retention (low = high = 3, nothing to read, nothing committed): caught up.
    Partition 1 starts at 2 (retention). The first two reads of the committed offsets fail: logged, and the
    drain goes on until it can read them."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return ([[trade(t, 0, o) for o in range(3)], [trade(t, 1, o) for o in range(2, 6)]],
                {(t, 0): (0, 3), (t, 1): (2, 6), (t, 2): (3, 3)})

    caplog.set_level(logging.INFO, logger="ingest.load")
    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000,
                                                           drain=True, until=lambda: False, guard_s=10)
    consumer.refuse_committed = 2
    summary = loader.run()
    t = settings.kafka_trades_topic
    assert not consumer.guarded  # ended by itself
    check_drain_after_two_refusals(caplog, consumer, storage, journal, summary, t)


def check_drain_after_two_refusals(caplog: Any, consumer: _Consumer, storage: _Storage, journal: list, summary: Any,
                                   t: str) -> None:
    """The drain of partition 0 (3 records), 1 (offsets 2-5 after retention) and 2 (emptied by retention), whose first
    two reads of the committed offsets failed: both refusals logged, every record written once, each partition
    committed at its high watermark (none for the emptied one), the consumer closed last."""
    messages = [r.getMessage() for r in caplog.records if r.name == "ingest.load"]
    assert "drain: 7 records up to the high watermarks" in messages
    refused = KafkaException(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, "no coordinator (test)"))
    assert messages.count(f"drain: committed offsets not available yet: {refused}") == 2
    assert consumer.refuse_committed == 0
    assert consumer.committed_at == {(t, 0): 3, (t, 1): 6}
    assert len(storage.trades) == summary.trades_added == 7 and journal[-1] == ("close",)
    _check_order(journal, dead={("trade", 1, 0), ("trade", 1, 1)})  # offsets 0 and 1 deleted by retention


def test_a_drain_does_not_end_while_a_partition_is_short_of_its_high_watermark(kafka_bootstrap, tmp_path):
    """The high watermark of partition 1 is 5 but only 4 records come: the drain waits (stopped by the test)."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [[trade(t, 0, o) for o in range(3)], [trade(t, 1, o) for o in range(4)]], {(t, 0): (0, 3),
                                                                                             (t, 1): (0, 5)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000,
                                                           drain=True, until=lambda: False, guard_s=1.2)
    loader.run()
    t = settings.kafka_trades_topic
    assert consumer.guarded and consumer.committed_at == {(t, 0): 3, (t, 1): 4}


def test_the_lag_is_the_records_between_each_read_partition_s_position_and_its_high_watermark(kafka_bootstrap,
                                                                                               tmp_path):
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return ([[trade(t, 0, o) for o in range(4)] + [trade(t, 2, 0), trade(t, 2, 1)]],
                {(t, 0): (0, 10), (t, 1): (0, 7), (t, 2): (0, 5)})  # partition 1 not read: no position

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000)
    loader.run()
    assert consumer.lags[0] == 0 and consumer.lags[1] == (10 - 4) + (5 - 2)


def test_kafka_errors_are_logged_at_their_severity_and_the_consumer_settings_are_the_documented_ones(
        kafka_bootstrap, tmp_path, caplog):
    settings = kafka_settings(kafka_bootstrap, tmp_path / "unused.duckdb")
    loader = Loader(settings, storage=None)  # type: ignore[arg-type]
    try:
        caplog.set_level(logging.DEBUG, logger="ingest.load")
        loader._on_error(KafkaError(KafkaError._TRANSPORT, "connection reset (test)"))
        loader._on_error(KafkaError(KafkaError._FATAL, "fenced (test)", fatal=True))
        logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "ingest.load"]
        assert [level for level, _ in logged] == [logging.WARNING, logging.ERROR]
        assert "connection reset (test)" in logged[0][1] and logged[0][1].startswith("kafka consumer: ")
        assert loader.topics == [settings.kafka_trades_topic, settings.kafka_quotes_topic]
    finally:
        loader._shutdown_writers()
    config = consumer_config("host:1", "group-a", **{"session.timeout.ms": 30_000})
    # module docstring of ingest/load.py: manual commits, no automatic offset store, cooperative-sticky, earliest
    assert {k: config[k] for k in ("bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store",
                                   "auto.offset.reset", "partition.assignment.strategy", "session.timeout.ms")} == {
        "bootstrap.servers": "host:1", "group.id": "group-a", "enable.auto.commit": False,
        "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": 30_000}


def test_a_loader_without_a_broker_address_is_refused_naming_the_setting(tmp_path):
    settings = kafka_settings("", tmp_path / "unused.duckdb")
    with pytest.raises(ValueError, match="^KAFKA_BOOTSTRAP_SERVERS is not set: 'microstructure load' reads from"):
        Loader(settings, storage=None)  # type: ignore[arg-type]


def test_a_drain_ends_while_records_beyond_the_high_watermarks_keep_coming(kafka_bootstrap, tmp_path):
    """Never an idle poll (new records arrive all the time): the drain checks its positions (every second)
    and ends once they and the committed offsets reach the targets taken at start; partition 2 is empty after
    retention (low = high = 3) and has no position."""
    later = itertools.count(2)

    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return ([[trade(t, 0, o) for o in range(3)] + [trade(t, 1, 0), trade(t, 1, 1)]],
                {(t, 0): (0, 3), (t, 1): (0, 1000), (t, 2): (3, 3)})

    def more() -> list:  # ~500 records a second: partition 1 is still behind at the first check, after 1 s
        time.sleep(0.002)
        return [trade(settings.kafka_trades_topic, 1, next(later))]

    loader, consumer, storage, journal, settings = _loader(
        kafka_bootstrap, tmp_path, script, batch_rows=1000, batch_seconds=0.2, drain=True, until=lambda: False,
        guard_s=12, more=more)
    summary = loader.run()
    t = settings.kafka_trades_topic
    assert not consumer.guarded  # ended by itself
    assert consumer.committed_at[(t, 0)] == 3 and consumer.committed_at[(t, 1)] >= 1000
    assert summary.trades_added == len(storage.trades) == summary.records > 5
    _check_order(journal)


def test_a_drain_of_a_missing_or_broken_topic_fails_naming_it(kafka_bootstrap, tmp_path):
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [], {(t, 0): (0, 1), (settings.kafka_quotes_topic, 0): (0, 1)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=10,
                                                           quotes=True)
    try:
        t, q = settings.kafka_trades_topic, settings.kafka_quotes_topic
        assert loader._partitions(consumer) == [TopicPartition(t, 0), TopicPartition(q, 0)]  # type: ignore[arg-type]
        consumer.metadata_errors = {q: None}
        with pytest.raises(KafkaException) as missing:
            loader._partitions(consumer)  # type: ignore[arg-type]
        assert missing.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        assert missing.value.args[0].str() == f"no topic {q}"
        broken = KafkaError(KafkaError.LEADER_NOT_AVAILABLE, "no leader (test)")
        consumer.metadata_errors = {t: broken}
        with pytest.raises(KafkaException) as failed:
            loader._partitions(consumer)  # type: ignore[arg-type]
        assert failed.value.args[0] == broken
    finally:
        loader._shutdown_writers()


def test_the_extra_consumer_settings_reach_the_client_and_its_errors_are_logged(tmp_path, caplog):
    """An unknown extra setting is refused by librdkafka (so the extras are passed on), and a client that cannot
    reach its broker reports it through the loader's error callback (a warning: not fatal)."""
    settings = kafka_settings("127.0.0.1:9", tmp_path / "unused.duckdb")
    refused = Loader(settings, storage=None, consumer_config={"no.such.property": 1})  # type: ignore[arg-type]
    try:
        with pytest.raises(KafkaException, match="no.such.property"):
            refused._make_consumer()
    finally:
        refused._shutdown_writers()
    loader = Loader(settings, storage=None, consumer_config={"reconnect.backoff.ms": 10})  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="ingest.load")
    consumer = loader._make_consumer()
    try:
        consumer.subscribe(["nowhere"])
        deadline = time.monotonic() + 20
        while not any(r.getMessage().startswith("kafka consumer: ") for r in caplog.records):
            assert time.monotonic() < deadline, "no error reported for an unreachable broker"
            consumer.poll(0.2)
    finally:
        consumer.close()
        loader._shutdown_writers()
    reported = [r for r in caplog.records if r.getMessage().startswith("kafka consumer: ")]
    assert reported[0].levelno == logging.WARNING


def test_the_consumer_prefetches_more_than_librdkafka_s_defaults_in_whole_numbers():
    """"Large prefetch" (``consumer_config``): each fetch and queue bound above librdkafka's default
    (CONFIGURATION.md: fetch.max.bytes 52428800, max.partition.fetch.bytes 1048576, queued.max.messages.kbytes
    65536, queued.min.messages 100000), an integer as librdkafka takes it, and no partition-EOF events."""
    config = consumer_config("host:1", "group-a")
    defaults = {"fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 1_048_576,
                "queued.max.messages.kbytes": 65_536, "queued.min.messages": 100_000}
    for name, default in defaults.items():
        assert type(config[name]) is int and config[name] > default, name
    assert config["enable.partition.eof"] is False
    assert 3 * config["heartbeat.interval.ms"] <= config["session.timeout.ms"]  # Kafka's rule of thumb


def test_run_loader_drains_on_the_real_consumer_reopens_the_storage_and_logs_the_final_counts(
        kafka_bootstrap, tmp_path, caplog):
    settings = kafka_settings(kafka_bootstrap, tmp_path / "unused.duckdb", load_batch_rows=4,
                              load_batch_seconds=3600, load_reopen_rows=6, stats_interval_seconds=3600)
    t = settings.kafka_trades_topic
    ensure_topics(kafka_bootstrap, [t, settings.kafka_quotes_topic], 3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for p, n in ((0, 5), (1, 3), (2, 2)):
        for o in range(n):
            producer.produce(t, trade(t, p, o).value(), b"k", partition=p, headers=[("source", b"sim")])
    assert producer.flush(30) == 0
    journal: list = []
    storage = _Storage(journal)
    stops: list[threading.Event] = []

    def install(stop: threading.Event) -> None:  # stands in for SIGINT/SIGTERM: a guard against a drain that hangs
        stops.append(stop)
        guard = threading.Timer(60, stop.set)
        guard.daemon = True
        guard.start()

    caplog.set_level(logging.INFO, logger="ingest.load")
    summary = run_loader(settings, storage, drain=True, install_signals=install)  # type: ignore[arg-type]
    stops[0].set()
    assert sorted(k[2] for k in storage.trades) == sorted(f"{p}-{o}" for p, n in ((0, 5), (1, 3), (2, 2))
                                                          for o in range(n))
    assert (summary.records, summary.trades_added) == (10, 10)
    assert _committed_total(settings) == 10
    writes = [len(e[1]) for e in journal if e[0] == "write"]
    reopened = [i for i, e in enumerate(e for e in journal if e[0] in ("write", "reopen")) if e[0] == "reopen"]
    assert sum(writes) == 10 and reopened  # reopened once 6 rows were written since the last time
    finals = [r.getMessage() for r in caplog.records if r.getMessage().endswith("(final)")]
    assert len(finals) == 1 and finals[0].startswith("load: consumed=10 (")
    assert " produced=10 " in finals[0] and f" batches={summary.batches} " in finals[0]


def test_a_drain_ends_when_retention_deleted_every_record_after_a_partition_s_committed_offset(kafka_bootstrap,
                                                                                             tmp_path):
    """The group committed offset 1 of partition 2 in an earlier run; records 1 and 2 came later and were deleted
    by retention (low = high = 3): nothing is left to read or commit there, so the drain must not wait for a
    commit of it (it did for ever before: the committed offset was compared with the high watermark alone)."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [[trade(t, 0, o) for o in range(3)]], {(t, 0): (0, 3), (t, 1): (0, 0), (t, 2): (3, 3)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000,
                                                           drain=True, until=lambda: False, guard_s=5)
    t = settings.kafka_trades_topic
    consumer.committed_at[(t, 2)] = 1
    summary = loader.run()
    assert not consumer.guarded  # ended by itself
    assert consumer.committed_at == {(t, 0): 3, (t, 2): 1} and summary.trades_added == 3


def test_a_drain_is_behind_while_a_held_partition_s_position_is_short_of_its_target(kafka_bootstrap, tmp_path):
    """``_behind``, the local check that spares the coordinator a round trip while records are still to read."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [], {(t, 0): (0, 5), (t, 1): (4, 4), (t, 2): (0, 2)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=10)
    try:
        t = settings.kafka_trades_topic
        targets = {(t, 0): (0, 5), (t, 1): (4, 4)}  # partition 2 held but not a target (it joined later)
        loader._assigned = {(t, 0), (t, 1), (t, 2)}
        consumer.position_of = {(t, 0): 4}  # partition 1: no position, emptied by retention (low = high)
        assert loader._behind(consumer, targets) is True  # type: ignore[arg-type]
        consumer.position_of = {(t, 0): 5, (t, 2): 0}
        assert loader._behind(consumer, targets) is False  # type: ignore[arg-type]
        loader._assigned = {(t, 1), (t, 2)}  # partition 0 went to another member: not this loader's to read
        consumer.position_of = {}
        assert loader._behind(consumer, targets) is False  # type: ignore[arg-type]
    finally:
        loader._shutdown_writers()


def test_run_loader_without_drain_runs_until_its_stop_is_set_logging_statistics_lines(kafka_bootstrap, tmp_path,
                                                                                      caplog):
    settings = kafka_settings(kafka_bootstrap, tmp_path / "unused.duckdb", stats_interval_seconds=0.1)
    stops: list[threading.Event] = []
    returned: list[Any] = []

    def install(stop: threading.Event) -> None:  # stands in for SIGTERM after 1.5 s
        stops.append(stop)
        timer = threading.Timer(1.5, stop.set)
        timer.daemon = True
        timer.start()

    def run() -> None:
        returned.append(run_loader(settings, _Storage([]), install_signals=install))  # type: ignore[arg-type]
        returned.append(stops[0].is_set())

    caplog.set_level(logging.INFO, logger="ingest.load")
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the stop did not end the loader"
    assert returned[1] is True  # it ran until the stop (an empty topic ends a drain at once)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("load: consumed=")]
    assert len(lines) >= 3 and lines[-1].endswith("(final)") and not lines[0].endswith("(final)")


def test_a_batch_of_more_records_than_one_consume_returns_is_handed_over_once_it_holds_the_batch_size(
        kafka_bootstrap, tmp_path):
    """``LOAD_BATCH_ROWS`` 1,500 and ``consume()`` returns at most 1,000 records: the batch is handed over after
    the second call, with 2,000 records, and the stop flushes the last 1,000."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [[trade(t, p, o) for o in range(1000)] for p in range(3)], {(t, p): (0, 1000) for p in range(3)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1500)
    summary = loader.run()
    t = settings.kafka_trades_topic
    assert [len(e[1]) for e in journal if e[0] == "write"] == [2000, 1000]
    assert [e[1] for e in journal if e[0] == "commit"] == [{(t, 0): 1000, (t, 1): 1000}, {(t, 2): 1000}]
    assert summary.trades_added == len(storage.trades) == 3000 and summary.batches == 2


def test_quotes_over_several_batches_are_all_counted_and_a_bad_source_header_is_kept_readable(kafka_bootstrap,
                                                                                              tmp_path):
    """Two batches of quotes: ``quotes_added`` is their sum; a ``source`` header that is not UTF-8 is stored with
    the replacement character, not refused."""
    def script(settings: Any) -> Any:
        q = settings.kafka_quotes_topic
        h = [("source", b"\xffsim")]
        return ([[quote(q, 0, o, headers=h) for o in range(4)]],
                {**{(settings.kafka_trades_topic, p): (0, 0) for p in range(3)}, (q, 0): (0, 4)})

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=2,
                                                           quotes=True)
    summary = loader.run()
    assert [len(e[1]) for e in journal if e[0] == "write"] == [2, 2]
    assert summary.quotes_added == len(storage.quotes) == 4 and summary.trades_added == 0
    assert {r["source"] for r in storage.quotes.values()} == {"\ufffdsim"}


def test_the_storage_is_reopened_after_each_load_reopen_rows_rows_counted_from_the_last_reopen(kafka_bootstrap,
                                                                                             tmp_path):
    """Writes of 4, 4, 4 rows with a reopen every 5: after the second write (8) only; the third adds 4 < 5."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return [[trade(t, 0, o) for o in range(12)]], {(t, p): (0, 12) for p in range(3)}

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=4,
                                                           reopen_rows=5)
    loader.run()
    assert [e[0] for e in journal if e[0] in ("write", "reopen")] == ["write", "write", "reopen", "write"]


def test_a_dead_letter_the_loader_s_own_producer_cannot_deliver_stops_the_commit(kafka_bootstrap, tmp_path,
                                                                                  monkeypatch):
    """The run's dead-letter producer (made by ``run``, with its delivery callback) points at a broker that never
    answers: the bad record's delivery fails, is counted, and its batch is not committed (a commit would lose it)."""
    from ingest import load

    real = load.producer_config
    monkeypatch.setattr(load, "producer_config", lambda bootstrap, **kw: real(
        "127.0.0.1:9", **kw, **{"message.timeout.ms": 500, "log_level": 0}))

    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return ([[trade(t, 0, 0), trade(t, 0, 1, value=b"{not json")], [trade(t, 0, 2)]],
                {(t, p): (0, 3) for p in range(3)})

    # the second batch (one record, not due) is still gathered when the first fails: not written or committed
    # after the failure, not even by the revocation that closing the consumer brings
    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=2,
                                                           until=lambda: False)
    with pytest.raises(KafkaException, match="dead-letter records were not delivered; not committing"):
        loader.run()
    assert loader.stats.delivery_failures == 1 and loader.summary.dead_lettered == 0
    assert journal == [("write", [("trade", 0, 0)]), ("close",)]  # written (idempotent), not committed
    assert not consumer.guarded


def test_trades_with_mixed_headers_or_a_consume_error_are_taken_record_by_record(kafka_bootstrap, tmp_path):
    """All from the trades topic, but two header sets (each record keeps its own source), then a consume error
    after a record (its offset is not the partition's); a record stamped at 1 ms keeps that time."""
    def script(settings: Any) -> Any:
        t = settings.kafka_trades_topic
        return ([[trade(t, 0, 0, headers=[("source", b"sim")], ts_ms=1), trade(t, 0, 1, headers=[("source", b"ws2")])],
                 [trade(t, 1, 0), Message(topic=t, partition=1, offset=-1001, error=KafkaError(KafkaError._PARTITION_EOF))],
                 [trade(t, 2, 0, ts_ms=1), trade(t, 2, 1)]],
                {(t, p): (0, 2) for p in range(3)})

    loader, consumer, storage, journal, settings = _loader(kafka_bootstrap, tmp_path, script, batch_rows=1000)
    loader.run()
    t = settings.kafka_trades_topic
    trades = {r["trade_id"]: r for r in storage.trades.values()}
    assert {k: r["source"] for k, r in trades.items()} == {"0-0": "sim", "0-1": "ws2", "1-0": "ws", "2-0": "ws",
                                                           "2-1": "ws"}
    assert trades["0-0"]["received_ns"] == trades["2-0"]["received_ns"] == 1_000_000
    assert [e[1] for e in journal if e[0] == "commit"] == [{(t, 0): 2, (t, 1): 1, (t, 2): 2}]
