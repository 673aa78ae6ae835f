"""stream → Kafka → load → DuckDB against a real broker: crashes, broker restarts and bad input lose nothing
and duplicate nothing (issue 4). Unique topics and group per test; the broker is the session's
``kafka_bootstrap`` (``scripts/kafka-local``) except for the restart test, which owns one."""

from __future__ import annotations

import asyncio
import csv
import gzip
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import duckdb
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ingest.load import Loader
from ingest.produce import EventProducer, KafkaFeed, ensure_topics
from ingest.replay import replay_file
from ingest.simulator import PolygonSimulator
from ingest.stats import PipelineStats
from ingest.synthetic_market import SyntheticMarket
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.duckdb]
ROOT = Path(__file__).resolve().parents[2]


def kafka_settings(bootstrap: str, db: Path, **overrides: object) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap, "kafka_trades_topic": f"t-{tag}.trades",
        "kafka_quotes_topic": f"t-{tag}.quotes", "kafka_group_id": f"g-{tag}", "kafka_partitions": 3,
        "duckdb_path": db, "load_batch_rows": 5000, "load_batch_seconds": 0.3,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def settings_env(settings: Settings) -> dict[str, str]:
    names = ("kafka_bootstrap_servers", "kafka_trades_topic", "kafka_quotes_topic", "kafka_group_id",
             "kafka_partitions", "duckdb_path", "load_batch_rows", "load_batch_seconds", "load_reopen_rows")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DUCKDB_", "LOAD_"))}
    env.update({n.upper(): str(getattr(settings, n)) for n in names})
    return env


#: The end of the tapes the Kafka tests produce: 2026-12-04 15:00 UTC (10:00 New York, a Friday). A fixed instant,
#: not "now": the newest trades before now are a few seconds of a bursty tape whose symbols, and so partitions,
#: change with the clock (after 20:00 UTC the newest 60k held three symbols on two of three partitions).
TAPE_END_NS = 1_796_396_400 * 10**9


def stock_trade_events(n: int, seed: int = 3, end_ns: int = TAPE_END_NS) -> list[dict]:
    """``n`` distinct simulated stock trades as Polygon ``T`` events, the newest ``n`` before ``end_ns``.

    The simulated tape is U-shaped over the day and thin before the open and at night, so the window before
    ``end_ns`` is doubled until it holds ``n`` stock trades (at 12:40 UTC, before the open, 1.6 s per thousand
    held only 1139 of 1200).
    """
    end = end_ns
    span = int(n / 1000 * 1.6e9)
    while True:
        trades, _ = SyntheticMarket(seed, 2000.0).history(end - span, end)
        rows = [r for r in trades.to_pylist() if r["market"] == "stocks"]
        if len(rows) >= n or span > 7 * 86_400 * 10**9:
            break
        span *= 2
    rows = rows[-n:]
    assert len(rows) == n
    events = []
    for r in rows:
        ev = {"ev": "T", "sym": r["symbol"], "x": r["exchange"], "i": r["trade_id"], "z": r["tape"],
              "p": r["price"], "s": int(r["size"]), "t": r["ts_ns"] // 1_000_000, "q": r["sequence"],
              "c": [int(c) for c in r["conditions"].split(",")] if r["conditions"] else []}
        if r["trf_ts_ns"] is not None:
            ev["trfi"], ev["trft"] = r["trf_id"], r["trf_ts_ns"] // 1_000_000
        events.append(ev)
    return events


def produce_events(settings: Settings, events: list[dict]) -> None:
    stats = PipelineStats("test-produce")
    producer = EventProducer.from_settings(settings, stats)
    producer.send_events(events, [("source", b"sim")], [], [])
    assert producer.flush(60) == 0 and stats.delivery_failures == 0


def db_rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def load_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", "--log-level", "WARNING", "load", *extra]


def drain(settings: Settings, timeout: float = 120) -> None:
    done = subprocess.run(load_cmd("--drain"), env=settings_env(settings), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_loader_killed_repeatedly_loads_every_trade_exactly_once(kafka_bootstrap, tmp_path):
    # the database is reopened every 4 batches too, so kills also land around a reopen
    settings = kafka_settings(kafka_bootstrap, tmp_path / "kill.duckdb", load_reopen_rows=20_000)
    ensure_topics(kafka_bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    events = stock_trade_events(200_000)
    produce_events(settings, events)
    rng = random.Random(4)
    kills = 0
    while kills < 6:
        loader = subprocess.Popen(load_cmd(), env=settings_env(settings), cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.5, 4.0))  # start-up is ~1 s: most kills land while batches are in flight
        assert loader.poll() is None, loader.stderr.read().decode()[-3000:] if loader.stderr else ""
        loader.send_signal(signal.SIGKILL)
        loader.wait(30)
        kills += 1
    drain(settings)
    expected = {(e["sym"], e["x"], e["i"], e["t"] * 1_000_000) for e in events}
    rows = db_rows(settings.duckdb_path, "SELECT symbol, exchange, trade_id, ts_ns FROM market_data")
    assert len(rows) == len(expected)  # no duplicate (market_data declares no key: this counts them) and no loss
    assert set(rows) == expected


def test_one_percent_malformed_records_are_dead_lettered_with_reason_and_origin(kafka_bootstrap, tmp_path):
    settings = kafka_settings(kafka_bootstrap, tmp_path / "dlq.duckdb")
    topic = settings.kafka_trades_topic
    ensure_topics(kafka_bootstrap, [topic, settings.kafka_quotes_topic], 3)
    good = stock_trade_events(19_800, seed=5)
    bad_values = [b"{not json", b"[1,2]", b'{"ev":"T","sym":"AAPL"}', b'"just a string"',
                  b'{"ev":"ZZ","sym":"AAPL"}', orjson.dumps({**good[0], "p": -1.0, "i": "neg"})]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    bad_keys = set()
    for k, event in enumerate(good):
        producer.produce(topic, orjson.dumps(event), event["sym"])
        if k % 99 == 0:  # 200 bad records among 20,000
            key = f"bad-{k}"
            bad_keys.add(key)
            producer.produce(topic, bad_values[(k // 99) % len(bad_values)], key)
        if k % 5000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    assert len(bad_keys) == 200

    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    summary = Loader(settings, storage, drain=True).run()
    storage.close()
    assert summary.trades_added == len(good) and summary.dead_lettered == 200

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.kafka_trades_topic + settings.kafka_dlq_suffix])
    dead = []
    deadline = time.monotonic() + 60
    while len(dead) < 200 and time.monotonic() < deadline:
        dead += [m for m in consumer.consume(500, 1.0) if m.error() is None]
    consumer.close()
    origin = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"o-{uuid.uuid4().hex}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    origin.assign([TopicPartition(topic, p, 0) for p in range(3)])
    originals: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    deadline = time.monotonic() + 60
    while len(originals) < len(good) + 200 and time.monotonic() < deadline:
        for m in origin.consume(5000, 1.0):
            if m.error() is None:
                originals[(m.partition(), m.offset())] = (m.key(), m.value())
    origin.close()
    for m in dead:
        headers = dict(m.headers())
        assert headers["dlq.error"] and headers["dlq.origin.topic"] == topic.encode()
        where = (int(headers["dlq.origin.partition"]), int(headers["dlq.origin.offset"]))
        assert originals[where] == (m.key(), m.value())
    assert len(dead) == 200 and {m.key().decode() for m in dead} == bad_keys
    reasons = {dict(m.headers())["dlq.error"].decode() for m in dead}
    assert any("not valid JSON" in r for r in reasons) and any("non-positive price" in r for r in reasons)
    assert any("unsupported event type" in r for r in reasons) and any("missing field" in r for r in reasons)
    (count,), = db_rows(settings.duckdb_path, "SELECT count(*) FROM market_data")
    assert count == len(good)


def write_trades_v1(path: Path, n: int) -> None:
    """A ``trades_v1`` flat file of ``n`` simulated trades (ns timestamps) plus two rows that are not trades;
    the tape ends at :data:`TAPE_END_NS` (the window holds ``n`` stock trades there: the caller counts them)."""
    end = TAPE_END_NS
    trades, _ = SyntheticMarket(9, 2000.0).history(end - int(n / 1000 * 1.6e9), end)
    rows = [r for r in trades.to_pylist() if r["market"] == "stocks"][:n]
    with gzip.open(path, "wt", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["ticker", "conditions", "correction", "exchange", "id", "participant_timestamp", "price",
                      "sequence_number", "sip_timestamp", "size", "tape", "trf_id", "trf_timestamp"])
        for k, r in enumerate(rows):
            sip = r["ts_ns"] + k % 997  # sub-millisecond digits the WebSocket format would lose
            trf = r["trf_ts_ns"] + 123 if r["trf_ts_ns"] else 0
            out.writerow([r["symbol"], r["conditions"] or "", 0, r["exchange"], r["trade_id"], sip - 500,
                          r["price"], r["sequence"], sip, int(r["size"]), r["tape"], r["trf_id"] or 0, trf])
        out.writerow(["AAPL", "", 0, 4, "x1", 1, -5.0, 1, 1712306654208740096, 5, 1, 0, 0])
        out.writerow(["", "", 0, 4, "x2", 1, 5.0, 1, 1712306654208740096, 5, 1, 0, 0])


def replay_through_kafka(flat: Path, settings: Settings):
    """Replay ``flat`` into the settings' topics, then drain them into its DuckDB file with the loader;
    returns the replay's summary, the producer's delivery failures and the loader's summary."""
    ensure_topics(settings.kafka_bootstrap_servers, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    producer = EventProducer.from_settings(settings, PipelineStats("replay-test"))
    sent = replay_file(flat, producer=producer, progress=False)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    summary = Loader(settings, storage, drain=True).run()
    storage.close()
    return sent, producer.stats.delivery_failures, summary


def test_replay_through_kafka_equals_replay_straight_into_the_database(kafka_bootstrap, tmp_path):
    flat = tmp_path / "2024-04-05.csv.gz"
    write_trades_v1(flat, 30_000)
    columns = "market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, " \
              "trf_id, trf_ts_ns, source, correction"

    direct = Settings(duckdb_path=tmp_path / "direct.duckdb")
    storage = DuckDBStorage.open(direct)
    storage.apply_schema()
    first = replay_file(flat, storage=storage, progress=False)
    again = replay_file(flat, storage=storage, progress=False)
    storage.close()
    assert (first.rows, first.added, first.skipped) == (30_002, 30_000, 2)
    assert again.added == 0  # a rerun adds nothing

    settings = kafka_settings(kafka_bootstrap, tmp_path / "via-kafka.duckdb")
    sent, failures, summary = replay_through_kafka(flat, settings)
    assert sent.sent == 30_002 and failures == 0
    assert summary.trades_added == 30_000 and summary.dead_lettered == 2

    query = f"SELECT {columns} FROM market_data ORDER BY symbol, exchange, trade_id, ts_ns"
    via_kafka = db_rows(settings.duckdb_path, query)
    assert via_kafka == db_rows(direct.duckdb_path, query)
    assert sum(ts % 1_000_000 != 0 for _, _, ts, *_ in via_kafka) > 20_000  # ns precision kept


def write_corrected_trades_v1(path: Path, n: int) -> dict[str, str]:
    """A ``trades_v1`` file of ``n`` trades, a tenth of them corrected, plus rows whose correction is malformed;
    returns the malformed cells by trade id."""
    rng = random.Random(17)
    malformed = {"bad-x": "x", "bad-float": "1.5", "bad-int32": "2147483648", "bad-huge": "99999999999999999999"}
    t0 = 1_712_306_654_208_740_096
    with gzip.open(path, "wt", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["ticker", "conditions", "correction", "exchange", "id", "participant_timestamp", "price",
                      "sequence_number", "sip_timestamp", "size", "tape", "trf_id", "trf_timestamp"])
        for k in range(n):
            sip = t0 + k * 1_234_567
            trf = rng.random() < 0.3
            correction = rng.choice(["1", "7", "8", "10", "11", "12"]) if rng.random() < 0.1 else "0"
            out.writerow([rng.choice(["AAPL", "MSFT", "SPY"]), "12,37" if k % 3 else "", correction,
                          rng.randrange(1, 21), str(10**12 + k), sip - 300, round(rng.uniform(10, 500), 2), k, sip,
                          rng.randrange(1, 500), rng.randrange(1, 4), 202 if trf else 0, sip - 999 if trf else 0])
        for k, (trade_id, cell) in enumerate(malformed.items()):
            out.writerow(["AAPL", "", cell, 4, trade_id, t0, 5.0, k, t0, 5, 1, 0, 0])
    return malformed


def test_replayed_corrections_arrive_through_kafka_as_stored_straight_and_malformed_ones_are_dead_lettered(
        kafka_bootstrap, tmp_path):
    flat = tmp_path / "2024-04-05.csv.gz"
    malformed = write_corrected_trades_v1(flat, 5_000)
    direct = Settings(duckdb_path=tmp_path / "direct.duckdb")
    storage = DuckDBStorage.open(direct)
    storage.apply_schema()
    straight = replay_file(flat, storage=storage, progress=False)
    storage.close()
    assert (straight.added, straight.skipped) == (5_000, len(malformed))

    settings = kafka_settings(kafka_bootstrap, tmp_path / "via-kafka.duckdb")
    sent, _, summary = replay_through_kafka(flat, settings)
    assert sent.sent == 5_000 + len(malformed)
    assert summary.trades_added == 5_000 and summary.dead_lettered == len(malformed)

    query = "SELECT symbol, exchange, trade_id, ts_ns, correction FROM market_data ORDER BY trade_id"
    via_kafka = db_rows(settings.duckdb_path, query)
    assert via_kafka == db_rows(direct.duckdb_path, query)
    corrections = [row[-1] for row in via_kafka]
    assert None not in corrections and 300 < sum(c != 0 for c in corrections) < 700
    assert set(corrections) == {0, 1, 7, 8, 10, 11, 12}

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.kafka_trades_topic + settings.kafka_dlq_suffix])
    dead: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(dead) < len(malformed) and time.monotonic() < deadline:
        for m in consumer.consume(100, 1.0):
            if m.error() is None:
                dead[orjson.loads(m.value())["i"]] = dict(m.headers())["dlq.error"].decode()
    consumer.close()
    assert set(dead) == set(malformed)
    assert dead["bad-x"] == "T: field '_corr' must be an integer, got str 'x'"
    assert dead["bad-float"] == "T: field '_corr' must be an integer, got str '1.5'"
    assert dead["bad-int32"] == "T: field '_corr' is out of the 32-bit range, got 2147483648"
    assert dead["bad-huge"] == "T: field '_corr' must be an integer, got str '99999999999999999999'"


def test_broker_restart_mid_stream_loses_nothing(own_broker, tmp_path):
    _restart_scenario(own_broker, tmp_path)


def _restart_scenario(broker, tmp_path: Path) -> None:
    settings = kafka_settings(broker.bootstrap, tmp_path / "restart.duckdb", load_batch_rows=2000)
    ensure_topics(broker.bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    log_file = (tmp_path / "loader.log").open("w")
    loader = subprocess.Popen(load_cmd(), env=settings_env(settings), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log_file)
    stats = PipelineStats("stream-test")
    producer = EventProducer.from_settings(settings, stats, **{"message.timeout.ms": 120_000})

    async def stream() -> KafkaFeed:
        async with PolygonSimulator(SyntheticMarket(seed=21, rate=1500.0)) as sim:
            feed = KafkaFeed(producer=producer, source="sim", api_key="k", feed=sim.feed, market="stocks",
                             subscriptions=["T.*"], secure=False)
            task = asyncio.create_task(feed.run())
            await asyncio.sleep(3)
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(3)  # the simulator keeps streaming into the producer's queue
            await asyncio.to_thread(broker.start)
            await asyncio.sleep(4)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            return feed

    feed = asyncio.run(stream())
    # The feed flushed for 60 s on its way out. Once, on a loaded CI box, the restarted broker took longer
    # than that to take the idempotent producer's messages again; what this test holds is that none is lost.
    left = producer.flush(240)
    assert left == 0, f"{left} produced messages were still undelivered 5 min after the broker restart"
    assert feed.stats.dropped_frames == 0 and stats.delivery_failures == 0 and feed.stats.rejects == 0
    assert stats.produced == feed.stats.trades > 5_000
    assert loader.poll() is None, "the loader died during the broker restart"
    loader.send_signal(signal.SIGTERM)
    try:
        code = loader.wait(60)
    except subprocess.TimeoutExpired:
        dump = subprocess.run([str(Path(sys.executable).parent / "py-spy"), "dump", "--pid", str(loader.pid)],
                              capture_output=True, text=True, check=False).stdout
        loader.kill()
        raise AssertionError(f"loader ignored SIGTERM:\n{dump}") from None
    assert code == 0
    drain(settings)
    (count, keys), = db_rows(settings.duckdb_path,
                             "SELECT count(*), count(DISTINCT (symbol, exchange, trade_id, ts_ns)) FROM market_data")
    assert count == keys == stats.produced


def test_sigterm_flushes_and_commits(kafka_bootstrap, tmp_path):
    """A loader stopped by SIGTERM writes what it holds and commits: a second drain finds nothing to do."""
    settings = kafka_settings(kafka_bootstrap, tmp_path / "term.duckdb", load_batch_rows=10**6,
                              load_batch_seconds=3600, stats_interval_seconds=0.2)
    ensure_topics(kafka_bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    produce_events(settings, stock_trade_events(5000, seed=8))
    log_path = tmp_path / "loader.log"
    with log_path.open("w") as log_file:
        loader = subprocess.Popen([*load_cmd()[:4], "INFO", *load_cmd()[5:]], env=settings_env(settings),
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file)
    # Wait until the loader has read all 5000 records (its statistics line says so). The batch never
    # reaches its size or age limit, so only the SIGTERM flush can write them.
    deadline = time.monotonic() + 90
    while "consumed=5000 " not in log_path.read_text():
        assert loader.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.1)
    loader.send_signal(signal.SIGTERM)
    try:
        code = loader.wait(60)
    except subprocess.TimeoutExpired:
        loader.kill()
        raise AssertionError(log_path.read_text()[-3000:]) from None
    assert code == 0, log_path.read_text()[-3000:]
    (count,), = db_rows(settings.duckdb_path, "SELECT count(*) FROM market_data")
    assert count == 5000
    storage = DuckDBStorage.open(settings)
    summary = Loader(settings, storage, drain=True).run(threading.Event())
    storage.close()
    assert summary.records == 0  # everything was committed


class _FailingStorage:
    """A storage whose trades append fails from the ``fail_at``-th call on (the database went away)."""

    def __init__(self, inner: DuckDBStorage, fail_at: int) -> None:
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def append_trades(self, batch):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls >= self.fail_at:
            raise OSError("disk full")
        return self.inner.append_trades(batch)

    def append_quotes(self, batch):  # type: ignore[no-untyped-def]
        return self.inner.append_quotes(batch)


def committed_offsets(settings: Settings) -> dict[int, int]:
    """Partition -> committed offset of the trades topic, read by another consumer of the group."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": settings.kafka_group_id,
                         "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(settings.kafka_trades_topic, p) for p in range(3)], timeout=30)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}


def _committed_total(settings: Settings) -> int:
    return sum(committed_offsets(settings).values())


def _produced(bootstrap, path, n_events, *, seed, batch_rows):  # type: ignore[no-untyped-def]
    """Settings for a loader on ``path`` that flushes by size only, and ``n_events`` trades produced to 3
    partitions of its topic."""
    settings = kafka_settings(bootstrap, path, load_batch_rows=batch_rows, load_batch_seconds=3600)
    ensure_topics(bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    events = stock_trade_events(n_events, seed=seed)
    produce_events(settings, events)
    return settings, events


def test_a_failed_write_commits_nothing_while_the_written_batches_are_committed(kafka_bootstrap, tmp_path):
    """The writer thread writes batch k while batch k+1 is consumed: a write that fails is re-raised by the
    loader and its offsets (and every later batch's) stay uncommitted; what was committed is in the database."""
    settings, events = _produced(kafka_bootstrap, tmp_path / "fail.duckdb", 6000, seed=12, batch_rows=1000)
    inner = DuckDBStorage.open(settings)
    inner.apply_schema()
    storage = _FailingStorage(inner, fail_at=3)
    with pytest.raises(OSError, match="disk full"):
        Loader(settings, storage, drain=True).run()  # type: ignore[arg-type]
    (stored,), = inner._cursor().execute("SELECT count(*) FROM market_data").fetchall()
    inner.close()
    assert storage.calls == 3 and 0 < stored < len(events)
    assert _committed_total(settings) == stored  # the two written batches, nothing of the failed one

    drain(settings)  # a restart loads the rest exactly once
    (count, keys), = db_rows(settings.duckdb_path,
                             "SELECT count(*), count(DISTINCT (symbol, exchange, trade_id, ts_ns)) FROM market_data")
    assert count == keys == len(events)
    assert _committed_total(settings) == len(events)


class _SlowStorage:
    """A storage whose appends take at least ``seconds`` each."""

    def __init__(self, inner: DuckDBStorage, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def append_trades(self, batch):  # type: ignore[no-untyped-def]
        time.sleep(self.seconds)
        return self.inner.append_trades(batch)

    def append_quotes(self, batch):  # type: ignore[no-untyped-def]
        return self.inner.append_quotes(batch)


def test_revoked_partitions_are_flushed_and_committed_so_the_new_owner_reads_nothing_twice(kafka_bootstrap, tmp_path):
    """A second loader joins the group while the first holds a batch and a write in flight: the first writes and
    commits what it read of the partitions it gives up, so the two together read every record exactly once."""
    # A fixed mid-morning tape (TAPE_END_NS, 10:00 New York): the newest 60k trades before "now" held only SPY,
    # AMZN and GOOGL after 20:00 UTC, keyed onto two of the three partitions, and the second loader got the empty one
    settings = kafka_settings(kafka_bootstrap, tmp_path / "rebalance.duckdb", load_batch_rows=2000,
                              load_batch_seconds=3600)
    ensure_topics(kafka_bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    events = stock_trade_events(60_000, seed=13)
    produce_events(settings, events)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    slow = _SlowStorage(storage, 0.05)  # ~40k records/s: the second joins long before the end
    topics = [settings.kafka_trades_topic]  # (with the quotes topic too the newcomer may get only quotes)
    first = Loader(settings, slow, topics=topics)  # type: ignore[arg-type]
    second = Loader(settings, slow, topics=topics)  # type: ignore[arg-type]
    stop_first, stop_second = threading.Event(), threading.Event()
    threads = [threading.Thread(target=first.run, args=(stop_first,)),
               threading.Thread(target=second.run, args=(stop_second,))]
    threads[0].start()
    deadline = time.monotonic() + 60
    while first.summary.commits < 2:  # mid-stream: batches written, more held
        assert time.monotonic() < deadline and threads[0].is_alive()
        time.sleep(0.01)
    threads[1].start()
    deadline = time.monotonic() + 120
    while first.summary.records + second.summary.records < len(events) or not second._assigned:
        assert time.monotonic() < deadline, (first.summary, second.summary)
        time.sleep(0.05)
    stop_first.set()
    stop_second.set()
    for thread in threads:
        thread.join(60)
    (count, keys), = storage._cursor().execute(
        "SELECT count(*), count(DISTINCT (symbol, exchange, trade_id, ts_ns)) FROM market_data").fetchall()
    storage.close()
    assert second.summary.records > 0  # the second got partitions from the first
    assert first.summary.records + second.summary.records == len(events)  # nothing read twice
    assert count == keys == len(events)
    assert _committed_total(settings) == len(events)
