"""The stream's spool (issue 15 point 3): what a SIGKILL of ``stream`` loses, and what ``STREAM_SPOOL_MODE=always``
costs, against a real Kafka broker.

``.venv/bin/python -m bench.bench_spool [--rate R] [--seconds S] [--down-seconds D] [--events N] [--no-write]``

1. **SIGKILL loss.** A child process runs the stream's path (the producer ``ingest.stream`` builds, with the
   settings of ``producer_config``: ``linger.ms`` 100, ``batch.num.messages`` 10,000, ``batch.size`` 1 MB,
   ``queue.buffering.max.messages`` 500,000, ``queue.buffering.max.kbytes`` 512 MiB; ``KafkaFeed`` on the Polygon
   simulator at ``--rate`` trades/s) and, after every chunk it hands to Kafka, writes how many events
   ``produce()`` has accepted to a shared file. The parent kills it with SIGKILL after ``--seconds`` with the
   broker up, or after stopping the broker and waiting ``--down-seconds``; then, broker up, it counts the
   distinct events in the topic and in the spool files (what the next ``stream`` start sends first).
   ``lost = accepted - |in Kafka or in the spool|`` (accepted is read at the last chunk boundary, so a kill in
   the middle of a chunk undercounts it by at most one chunk). Both spool modes.
2. **Cost of ``always``.** Events/s of ``KafkaFeed._produce`` (parse the frames, produce each event, and in
   ``always`` write and fsync the chunk first) over ``--events`` events in frames of 20 events, chunks of 1, 25
   and 500 frames, until Kafka has confirmed every event; ``on-failure`` is the baseline, same process,
   alternated, best of ``--repeat``.
3. writes the section "## Stream spool (issue 15)" of ``BENCHMARKS.md``.

Timings print, never assert.
"""

from __future__ import annotations

import argparse
import asyncio
import mmap
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench import report
from tests.kafka_broker import LocalBroker

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Stream spool (issue 15)"
FRAME_EVENTS = 20


def _settings(bootstrap: str, topic: str, spool: Path, mode: str) -> Any:
    from sql.settings import Settings

    return Settings(kafka_bootstrap_servers=bootstrap, kafka_trades_topic=topic, kafka_quotes_topic=f"{topic}.q",
                    stream_spool_path=spool, stream_spool_mode=mode, stream_stop_wait_seconds=600)  # type: ignore[call-arg]


def _producer(settings: Any, spool: Any) -> Any:
    from ingest.stats import PipelineStats
    from ingest.stream import stream_producer

    return stream_producer(settings, PipelineStats("bench-spool"), spool)


def child(bootstrap: str, topic: str, spool_path: Path, mode: str, rate: float, counter_path: Path) -> None:
    """The killed process: the stream's producer path on the simulator, counting accepted events."""
    from ingest.produce import KafkaFeed
    from ingest.simulator import PolygonSimulator
    from ingest.spool import Spool
    from ingest.synthetic_market import SyntheticMarket

    fd = os.open(counter_path, os.O_RDWR)
    counter = mmap.mmap(fd, 8)
    settings = _settings(bootstrap, topic, spool_path, mode)
    spool = Spool(spool_path)
    producer = _producer(settings, spool)

    class CountingFeed(KafkaFeed):
        def _produce(self, chunk: Any) -> Any:
            out = super()._produce(chunk)
            struct.pack_into("<q", counter, 0, self.producer.stats.produced)
            return out

    async def run() -> None:
        async with PolygonSimulator(SyntheticMarket(seed=17, rate=rate)) as sim:
            feed = CountingFeed(producer=producer, source="sim", api_key="k", feed=sim.feed, market="stocks",
                                subscriptions=["T.*"], secure=False)
            print("ready", flush=True)
            await feed.run()

    asyncio.run(run())


def _key(event: dict[str, Any]) -> tuple[Any, ...]:
    return event.get("sym"), event.get("x"), event.get("i"), event.get("t")


def topic_keys(bootstrap: str, topic: str) -> set[tuple[Any, ...]]:
    """Distinct trade keys in ``topic``, read to the end of every partition."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    meta = consumer.list_topics(topic, timeout=30).topics[topic]
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in meta.partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
    keys: set[tuple[Any, ...]] = set()
    done = {p: end == 0 for p, end in ends.items()}
    while not all(done.values()):
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                keys.add(_key(orjson.loads(message.value())))
                done[message.partition()] = message.offset() + 1 >= ends[message.partition()]
    consumer.close()
    return keys


def spool_keys(spool_path: Path) -> set[tuple[Any, ...]]:
    from ingest.spool import events_of_lines, read_lines

    files = sorted(spool_path.parent.glob(f"{spool_path.name}*"))
    lines = [line for path in files if not path.name.endswith((".lock", ".tmp"))
             for line in read_lines(path)[0]]
    return {_key(e) for e in events_of_lines(lines) if isinstance(e, dict) and e.get("ev") == "T"}


def kill_run(broker: LocalBroker, work: Path, mode: str, rate: float, seconds: float,
             down_seconds: float | None) -> dict[str, Any]:
    """One SIGKILL: ``down_seconds`` None = broker up; else the broker is stopped that long before the kill."""
    from ingest.produce import ensure_topics

    topic = f"kill-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, [topic, f"{topic}.q"], 2)
    run_dir = work / topic
    run_dir.mkdir()
    spool_path = run_dir / "spool.jsonl"
    counter_path = run_dir / "counter"
    counter_path.write_bytes(b"\0" * 8)
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_spool", "--child", broker.bootstrap, topic,
                             str(spool_path), mode, str(rate), str(counter_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(seconds)
    if down_seconds is not None:
        broker.stop()
        time.sleep(down_seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    accepted = struct.unpack("<q", counter_path.read_bytes())[0]
    if down_seconds is not None:
        broker.start()
    in_kafka = topic_keys(broker.bootstrap, topic)
    in_spool = spool_keys(spool_path)
    kept = len(in_kafka | in_spool)
    return {"mode": mode, "broker": "up" if down_seconds is None else f"down {down_seconds:.0f} s",
            "accepted": accepted, "kafka": len(in_kafka), "spool": len(in_spool),
            "lost": max(0, accepted - kept)}


def _frames(n: int) -> list[tuple[bytes, int]]:
    from ingest.synthetic_market import SyntheticMarket

    end = time.time_ns()
    trades, _ = SyntheticMarket(3, 5000.0).history(end - int(n / 5000 * 1.3e9), end)
    rows = [r for r in trades.to_pylist() if r["market"] == "stocks"][:n]
    events = [{"ev": "T", "sym": r["symbol"], "x": r["exchange"], "i": r["trade_id"], "z": r["tape"],
               "p": r["price"], "s": int(r["size"]), "t": r["ts_ns"] // 1_000_000, "q": r["sequence"], "c": []}
              for r in rows]
    now = time.time_ns()
    return [(orjson.dumps(events[k:k + FRAME_EVENTS]), now) for k in range(0, len(events), FRAME_EVENTS)]


def cost_run(bootstrap: str, work: Path, mode: str, frames: list[tuple[bytes, int]], chunk_frames: int) -> float:
    """Events/s of the stream's produce path in ``mode``, until Kafka confirmed every event."""
    from ingest.produce import KafkaFeed, ensure_topics
    from ingest.spool import Spool

    topic = f"cost-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic, f"{topic}.q"], 2)
    spool_dir = work / topic
    spool_dir.mkdir()
    with Spool(spool_dir / "spool.jsonl") as spool:
        producer = _producer(_settings(bootstrap, topic, spool.path, mode), spool)
        feed = KafkaFeed(producer=producer, source="sim", api_key="k", feed="unused", market="stocks",
                         subscriptions=["T.*"], secure=False)
        started = time.perf_counter()
        for k in range(0, len(frames), chunk_frames):
            feed._produce(frames[k:k + chunk_frames])
        producer.finish()
        seconds = time.perf_counter() - started
        assert producer.stats.spooled == 0 and not spool.segments(), "undelivered events in a cost run"
    return producer.stats.produced / seconds


def fsync_ms(work: Path, size: int = 200_000, n: int = 50) -> float:
    """Milliseconds per append of ``size`` bytes plus ``fsync`` in ``work`` (a chunk of 500 frames of 20 trades)."""
    path = work / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        started = time.perf_counter()
        for _ in range(n):
            os.write(fd, b"x" * size)
            os.fsync(fd)
        return (time.perf_counter() - started) / n * 1e3
    finally:
        os.close(fd)
        path.unlink()


def render(kills: list[dict[str, Any]], costs: list[tuple[int, float, float]], args: argparse.Namespace,
           load: str, fsync: float) -> str:
    lines = [
        f"Machine: {report.machine()}; {report.versions('confluent-kafka')}; run {report.now_utc()}, "
        f"load average at start {load}. Broker: `scripts/kafka-local` (Kafka 3.9.1, KRaft) on the same box.",
        "Command: `.venv/bin/python -m bench.bench_spool"
        f" --rate {args.rate:g} --seconds {args.seconds:g} --down-seconds {args.down_seconds:g}"
        f" --events {args.events}`.",
        "",
        "**What a SIGKILL of `stream` loses** (events accepted by `produce()` that are neither in Kafka nor in",
        f"the spool; simulator at {args.rate:g} trades/s, producer settings of `producer_config`: linger.ms 100,",
        "batch.num.messages 10,000, queue.buffering.max.messages 500,000, queue.buffering.max.kbytes 512 MiB,",
        "idempotent, acks=all). Accepted is read at the last chunk boundary before the kill.",
        "",
        "| STREAM_SPOOL_MODE | broker at the kill | accepted | in Kafka | in the spool | lost |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for k in kills:
        lines.append(f"| {k['mode']} | {k['broker']} | {k['accepted']:,} | {k['kafka']:,} | {k['spool']:,} | "
                     f"{k['lost']:,} |")
    lines += [
        "",
        f"**Cost of `always`**: the stream's produce path (`KafkaFeed._produce`: parse the frames, produce each "
        f"event; in `always` first append the chunk's frames to a segment and fsync it) over {args.events:,} "
        f"trades in frames of {FRAME_EVENTS}, until Kafka confirmed all; best of {args.repeat}, modes alternated.",
        "",
        "| frames per chunk (fsyncs) | on-failure events/s | always events/s | always / on-failure |",
        "|---:|---:|---:|---:|",
    ]
    for chunk, base, always in costs:
        fsyncs = -(-args.events // (chunk * FRAME_EVENTS))
        lines.append(f"| {chunk} ({fsyncs:,}) | {base:,.0f} | {always:,.0f} | {always / base:.2f} |")
    lines += [
        "",
        f"`always` pays one append + fsync per chunk ({fsync:.1f} ms for 200 kB on this disk, measured in the same "
        "run) and one Python delivery callback per event (a segment is deleted once Kafka has confirmed each of "
        "its events, so success reports are on, where `on-failure` asks librdkafka for failures only). The "
        "stream's drain takes every frame queued (up to 500) as one chunk, so under load chunks grow and the "
        "fsyncs per second stay bounded; the last row is the cost at full speed. Hence `on-failure` is the "
        "default and `always` an opt-in for when a `kill -9` must not lose the last second of events.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--child", nargs=6, metavar=("BOOTSTRAP", "TOPIC", "SPOOL", "MODE", "RATE", "COUNTER"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=5000.0, help="simulated trades/s of the SIGKILL runs")
    parser.add_argument("--seconds", type=float, default=4.0, help="streaming before the kill (or the stop)")
    parser.add_argument("--down-seconds", type=float, default=4.0, help="broker stopped this long before the kill")
    parser.add_argument("--events", type=int, default=200_000, help="trades per cost run")
    parser.add_argument("--repeat", type=int, default=2, help="cost runs per mode and chunk size")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if args.child:
        bootstrap, topic, spool, mode, rate, counter = args.child
        child(bootstrap, topic, Path(spool), mode, float(rate), Path(counter))
        return 0
    load = report.load_average()
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as tmp:
        work = Path(tmp)
        broker = LocalBroker(work / "broker")
        broker.start()
        try:
            kills = []
            for mode in ("on-failure", "always"):
                for down in (None, args.down_seconds):
                    kills.append(kill_run(broker, work, mode, args.rate, args.seconds, down))
                    print(kills[-1], flush=True)
            fsync = fsync_ms(work)
            frames = _frames(args.events)
            costs = []
            for chunk in (1, 25, 500):
                best = {"on-failure": 0.0, "always": 0.0}
                for _ in range(args.repeat):
                    for mode in best:
                        best[mode] = max(best[mode], cost_run(broker.bootstrap, work, mode, frames, chunk))
                costs.append((chunk, best["on-failure"], best["always"]))
                print(f"chunk {chunk}: {best}", flush=True)
        finally:
            broker.stop()
    report.publish(TITLE, render(kills, costs, args, load, fsync), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
