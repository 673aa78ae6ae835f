"""Ingest throughput through a real Kafka broker (issue 4), against a naive baseline in the same run.

``.venv/bin/python -m bench.bench_ingest [--trades N] [--minutes M] [--quick] [--stages a,b,c,d,f,memory]``

1. starts its own broker with ``scripts/kafka-local`` on free ports and a private data dir, warms it up (300k
   messages produced and consumed on a scratch topic, so its JVM has compiled its hot paths, as a running
   broker has), stops it at the end;
2. measures trades/s of
   a. end to end: the Polygon-protocol simulator (flood mode, serving trades prepared before the clock
      starts) → the real ``polygon-api-client`` → ``microstructure stream`` (a subprocess) → Kafka → the
      loader of ``microstructure load`` → a DuckDB file, from the first event sent to the last row written;
      once with plain WebSocket frames and once with permessage-deflate (``--sim-compression``);
   b. ``replay_file`` of a ``trades_v1`` flat file (``.csv.gz``) → Kafka, until the producer is flushed;
   c. Kafka → DuckDB: the loader draining the topic filled by (b), like ``load --drain``: its sustained rate
      from the first record consumed to exit; the start (topics, group join) and the CPU seconds of every
      loader thread and of the broker are reported beside it;
   d. the naive baseline: simulator → ``polygon-api-client`` (parsed messages) → one DuckDB ``INSERT``
      per trade from the client's callback;
   f. the floor of the Kafka hop: the same trades produced as ``stream`` produces them and consumed with the
      loader's consumer settings, nothing else done; CPU per message of the clients and the broker;
3. runs ``microstructure load`` (a subprocess) for ``--minutes`` under a steady stream of ``--memory-rate``
   trades/s and samples its RSS every ``--sample-seconds``; reports start, max, end and a least-squares slope;
4. ``append`` (not run by default): the DuckDB trades append alone, no Kafka: ``--append-batches`` batches of
   ``LOAD_BATCH_ROWS`` new trades, interleaved in time with stored ones (each batch's ``ts_ns`` range holds about
   as many stored trades), appended to a file already holding ``--append-stored`` trades, by ``append_trades`` (dedupe anti-join), by a plain Arrow insert and into
   a table with the old ``PRIMARY KEY``;
5. writes the section "## Ingest throughput (issue 4)" of ``BENCHMARKS.md`` (replacing it when present).

``--stages`` picks stages (``a,b,c,d,f,memory,append``; default all but ``append``); ``c`` needs the topic of
``b`` and runs it first, reported only when ``b`` is picked.

Timings print, never assert. The machine is shared: the ratio against the baseline of the same run is the
number to compare across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import gzip
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import report
from tests.kafka_broker import LocalBroker

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Ingest throughput (issue 4)"
TARGET = 250_000.0
#: Trades per flood step of the simulator (it serves them in frames of ``--frame-events``).
STEP_EVENTS = 5000
STAGES = ("a", "b", "c", "d", "f", "memory", "append")
DEFAULT_STAGES = ("a", "b", "c", "d", "f", "memory")


# --- data --------------------------------------------------------------------------------------------------


def stock_trades(n: int, seed: int) -> Any:
    """``n`` distinct simulated stock trades (``TRADES_SCHEMA``), from the synthetic market's history."""
    import pyarrow.compute as pc

    from ingest.synthetic_market import SyntheticMarket

    end = 1_790_000_000 * 10**9
    span = int(n / 5000 * 2e9) + 10**9
    while True:
        trades, _ = SyntheticMarket(seed, 5000.0).history(end - span, end)
        trades = trades.filter(pc.equal(trades["market"], "stocks"))
        if trades.num_rows >= n:
            return trades.sort_by("ts_ns").slice(0, n)
        span *= 2


def polygon_events(trades: Any) -> list[dict[str, Any]]:
    """The WebSocket ``T`` events of stock trades (what Polygon sends)."""
    cols = {name: trades[name].to_pylist() for name in
            ("symbol", "exchange", "trade_id", "tape", "price", "size", "conditions", "ts_ns", "sequence",
             "trf_id", "trf_ts_ns")}
    events = []
    for sym, x, i, z, p, s, c, t, q, trfi, trft in zip(*cols.values(), strict=True):
        event: dict[str, Any] = {"ev": "T", "sym": sym, "x": x, "i": i, "z": z, "p": p, "s": int(s),
                                 "t": t // 1_000_000, "q": q}
        if c:
            event["c"] = [int(v) for v in c.split(",")]
        if trft is not None:
            event["trfi"], event["trft"] = trfi, trft // 1_000_000
        events.append(event)
    return events


def write_trades_v1(path: Path, trades: Any) -> None:
    """A Polygon ``us_stocks_sip/trades_v1`` flat file (gzip CSV) of ``trades``."""
    cols = [trades[name].to_pylist() for name in ("symbol", "conditions", "exchange", "trade_id", "ts_ns",
                                                    "price", "sequence", "size", "tape", "trf_id", "trf_ts_ns")]
    with gzip.open(path, "wt", newline="", compresslevel=1) as fh:
        out = csv.writer(fh)
        out.writerow(["ticker", "conditions", "correction", "exchange", "id", "participant_timestamp", "price",
                      "sequence_number", "sip_timestamp", "size", "tape", "trf_id", "trf_timestamp"])
        for sym, c, x, i, ts, p, q, s, z, trfi, trft in zip(*cols, strict=True):
            out.writerow([sym, c or "", 0, x, i, ts - 1000, p, q, ts, int(s), z, trfi or 0, trft or 0])


class Prepared:
    """A flood-mode event source (``ingest.simulator.EventSource``) over events prepared in advance."""

    def __init__(self, events: list[dict[str, Any]], per_step: int) -> None:
        self.events, self.per_step, self.at, self.calls = events, per_step, 0, 0

    def advance(self, to_ns: int) -> list[dict[str, Any]]:
        self.calls += 1
        if self.calls == 1:  # the simulator's start positions its market
            return []
        chunk = self.events[self.at : self.at + self.per_step]
        self.at += len(chunk)
        return chunk


def _serve_flood(n: int, seed: int, frame_events: int, compression: str | None, conn: Any) -> None:
    """Child process: prepare ``n`` trades, serve them in flood mode, report port then first-send time."""
    from ingest.simulator import PolygonSimulator

    events = polygon_events(stock_trades(n, seed))

    async def serve() -> None:
        source = Prepared(events, STEP_EVENTS)
        sim = PolygonSimulator(source, flood=True, tick_seconds=1.0,  # type: ignore[arg-type]
                               max_events_per_frame=frame_events, compression=compression)
        async with sim:
            conn.send(sim.port)
            while sim.events_sent["stocks"] < n:
                await asyncio.sleep(0.05)
            conn.send(sim.first_data_ns)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop

    asyncio.run(serve())


class FloodSimulator:
    """The flood simulator in its own process (it would otherwise share a core's GIL with the client)."""

    def __init__(self, n: int, seed: int, frame_events: int, compression: str | None) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_flood, args=(n, seed, frame_events, compression, child),
                                 daemon=True)

    def __enter__(self) -> FloodSimulator:
        self._proc.start()
        self.pid = self._proc.pid
        if not self._conn.poll(600):
            raise RuntimeError("the simulator did not start")
        self.port = int(self._conn.recv())
        return self

    def first_data_ns(self, timeout: float) -> int:
        if not self._conn.poll(timeout):
            raise RuntimeError("the simulator did not send everything")
        return int(self._conn.recv())

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


# --- settings and stages -----------------------------------------------------------------------------------


def bench_settings(bootstrap: str | None, db: Path, **extra: Any) -> Any:
    from sql.settings import Settings

    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {"duckdb_path": db, "kafka_trades_topic": f"bench-{tag}.trades",
                              "kafka_quotes_topic": f"bench-{tag}.quotes", "kafka_group_id": f"bench-{tag}",
                              "kafka_bootstrap_servers": bootstrap, "stats_interval_seconds": 3600.0}
    values.update(extra)
    return Settings(**values)


def settings_env(settings: Any) -> dict[str, str]:
    names = ("kafka_bootstrap_servers", "kafka_trades_topic", "kafka_quotes_topic", "kafka_group_id",
             "kafka_partitions", "duckdb_path", "duckdb_memory_limit", "load_batch_rows", "load_batch_seconds",
             "stats_interval_seconds")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DUCKDB_", "LOAD_", "POLYGON_"))}
    env.update({n.upper(): str(getattr(settings, n)) for n in names if getattr(settings, n) is not None})
    return env


@dataclass
class Row:
    stage: str
    trades: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.trades / self.seconds if self.seconds > 0 else float("nan")


def open_storage(settings: Any, *, loader: bool = False) -> Any:
    """The DuckDB file of ``settings``, with its schema; ``loader``: with the DuckDB memory limit
    ``microstructure load`` uses (``Settings.for_loader``)."""
    from sql.duckdb_backend import DuckDBStorage

    storage = DuckDBStorage.open(settings.for_loader() if loader else settings)
    storage.apply_schema()
    return storage


def count_rows(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        (n,) = con.execute("SELECT count(*) FROM market_data").fetchone()  # type: ignore[misc]
    return int(n)


def stage_end_to_end(bootstrap: str, work: Path, n: int, seed: int, frame_events: int,
                     compression: str | None, broker_marker: str) -> Row:
    """(a) simulator → client → stream → Kafka → loader → DuckDB; ``compression`` of the WebSocket frames.
    Beside the rate: the CPU seconds per million trades of each process on the path."""
    from ingest.load import Loader
    from ingest.produce import ensure_topics

    settings = bench_settings(bootstrap, work / f"e2e-{compression}.duckdb")
    ensure_topics(bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], settings.kafka_partitions)
    storage = open_storage(settings, loader=True)
    loader = Loader(settings, storage, reopen_rows=settings.load_reopen_rows)
    stop = threading.Event()
    thread = threading.Thread(target=loader.run, args=(stop,), name="bench-loader")
    thread.start()
    deadline = time.monotonic() + 120
    while not loader._assigned:  # the group join takes seconds; the clock starts with the first frame
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the loader got no partitions")
        time.sleep(0.05)
    stream: subprocess.Popen[bytes] | None = None
    cpu: dict[str, float] = {}
    try:
        with FloodSimulator(n, seed, frame_events, compression) as sim:
            before = {"simulator": _pid_cpu(sim.pid), "broker": _process_cpu(broker_marker),
                      "loader": _own_cpu()}
            env = settings_env(settings)
            env.update({"POLYGON_API_KEY": "bench", "POLYGON_FEED": f"127.0.0.1:{sim.port}",
                        "POLYGON_SECURE": "false", "POLYGON_MARKET": "stocks", "POLYGON_SUBSCRIPTIONS": "T.*"})
            stream = subprocess.Popen([sys.executable, "-m", "server.cli", "--log-level", "WARNING", "stream"],
                                      env=env, cwd=ROOT, stderr=subprocess.PIPE)
            deadline = time.monotonic() + max(600, n / 2000)
            # (when, CPU seconds) until the first rows are written, long after the simulator's first frame:
            # the stream's CPU counts from that frame, not from its start-up
            stream_cpu: list[tuple[int, float]] = []
            while loader.stats.produced < n:
                if not loader.stats.produced:
                    stream_cpu.append((time.time_ns(), _pid_cpu(stream.pid)))
                if time.monotonic() > deadline or not thread.is_alive() or stream.poll() is not None:
                    err = stream.stderr.read().decode()[-2000:] if stream.poll() is not None and stream.stderr else ""
                    raise RuntimeError(f"end to end stalled at {loader.stats.produced}/{n} rows {err}")
                time.sleep(0.005)
            done_ns = time.time_ns()
            after = {"simulator": _pid_cpu(sim.pid), "stream": _pid_cpu(stream.pid),
                     "broker": _process_cpu(broker_marker), "loader": _own_cpu()}
            first_ns = sim.first_data_ns(60)
            before["stream"] = max((c for t, c in stream_cpu if t <= first_ns), default=0.0)
            cpu = {name: value - before[name] for name, value in after.items()}
    finally:
        if stream is not None:
            stream.terminate()
            stream.wait(60)
        stop.set()
        thread.join(120)
        storage.close()
    rows = count_rows(settings.duckdb_path)
    frames = "permessage-deflate" if compression else "plain"
    per_million = ", ".join(f"{name} {cpu[name] / n * 1e6:.2f}" for name in ("simulator", "stream", "broker",
                                                                              "loader"))
    return Row(f"end to end, {frames} frames: simulator → polygon-api-client → stream → Kafka → load → DuckDB", n,
               (done_ns - first_ns) / 1e9,
               f"{rows:,} rows in the file; CPU s per million trades: {per_million}, "
               f"total {sum(cpu.values()) / n * 1e6:.2f}")


def warm_up(bootstrap: str, n: int = 300_000) -> float:
    """Produce and consume ``n`` small messages on a scratch topic, so the stages meet a broker whose JVM has
    compiled its hot paths (a long-running broker's state), not a cold one; return the seconds it took."""
    from confluent_kafka import Consumer

    from ingest.load import consumer_config
    from ingest.produce import EventProducer, ensure_topics
    from ingest.stats import PipelineStats

    started = time.perf_counter()
    topic = f"bench-warm-up-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], 4)
    producer = EventProducer(bootstrap, topic, topic, PipelineStats("bench-warm-up"))
    value = b'{"ev":"T","sym":"WARM","x":4,"i":"1","z":3,"p":1.5,"s":100,"c":[12],"t":1700000000000,"q":1}'
    producer.send_many(topic, [f"WARM{k % 64}" for k in range(n)], [value] * n, {})
    producer.flush(120)
    consumer = Consumer(consumer_config(bootstrap, topic))
    consumer.subscribe([topic])
    seen, deadline = 0, time.monotonic() + 120
    while seen < n and time.monotonic() < deadline:
        seen += len(consumer.consume(10_000, 1.0))
    consumer.close()
    return time.perf_counter() - started


def stage_replay(bootstrap: str, work: Path, trades: Any) -> tuple[Row, Any]:
    """(b) a trades_v1 flat file → Kafka."""
    from ingest.produce import EventProducer, ensure_topics
    from ingest.replay import replay_file
    from ingest.stats import PipelineStats

    flat = work / "trades_v1.csv.gz"
    write_trades_v1(flat, trades)
    settings = bench_settings(bootstrap, work / "drain.duckdb")
    ensure_topics(bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], settings.kafka_partitions)
    producer = EventProducer.from_settings(settings, PipelineStats("bench-replay"))
    started = time.perf_counter()
    summary = replay_file(flat, producer=producer, progress=False)
    seconds = time.perf_counter() - started
    if summary.sent != trades.num_rows or producer.stats.delivery_failures:
        raise RuntimeError(f"replay sent {summary.sent}, {producer.stats.delivery_failures} failures")
    size = flat.stat().st_size / 2**20
    return Row("replay: trades_v1 .csv.gz → Kafka", summary.sent, seconds, f"{size:.0f} MiB file"), settings


def stage_floor(bootstrap: str, trades: Any, broker_marker: str) -> list[Row]:
    """(f) the Kafka clients and the broker alone: the trades' Polygon events produced as ``stream`` produces
    them (key, ``source`` header, the producer's settings) and consumed with the loader's consumer settings,
    nothing done with them; the CPU seconds per million messages of this process and of the broker. No path
    through Kafka can cost less per trade."""
    import orjson
    from confluent_kafka import Consumer

    from ingest.load import consumer_config
    from ingest.produce import EventProducer, ensure_topics
    from ingest.stats import PipelineStats

    n = trades.num_rows
    events = polygon_events(trades)
    keys, values = [e["sym"] for e in events], [orjson.dumps(e) for e in events]
    del events
    topic = f"bench-floor-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], int(os.environ["KAFKA_PARTITIONS"]))
    producer = EventProducer(bootstrap, topic, topic, PipelineStats("bench-floor"))
    clock, started = _ClientClock(broker_marker), time.perf_counter()
    producer.send_many(topic, keys, values, {"source": b"ws"})
    if producer.flush(120) or producer.stats.delivery_failures:
        raise RuntimeError("the floor's messages were not all delivered")
    produced = time.perf_counter() - started, clock.read()
    del keys, values, producer
    consumer = Consumer(consumer_config(bootstrap, topic))
    consumer.subscribe([topic])
    seen = len(consumer.consume(1, 60.0))  # the group join, not counted
    clock, started = _ClientClock(broker_marker), time.perf_counter()
    deadline = time.monotonic() + 300
    while seen < n and time.monotonic() < deadline:
        seen += len(consumer.consume(1000, 1.0))
    consumed = time.perf_counter() - started, clock.read()
    consumer.close()
    if seen != n:
        raise RuntimeError(f"the floor consumed {seen} of {n}")
    total = float(produced[1].sum() + consumed[1].sum())

    def per_message(what: str, cpu: np.ndarray) -> str:  # CPU s per million = µs per message
        calling, librdkafka, broker = (f"{value / n * 1e6:.2f}" for value in cpu)
        return f"CPU s per million messages: {what} {calling}, librdkafka threads {librdkafka}, broker {broker}"

    return [
        Row("floor: produce() only, as `stream` produces", n, produced[0], per_message("produce()", produced[1])),
        Row("floor: consume() only, as `load` consumes", n, consumed[0],
            f"{per_message('consume()', consumed[1])}; with the produce row {total / n * 1e6:.2f} CPU s per "
            f"million trades through Kafka, doing nothing else: at most {2 / total * n:,.0f} trades/s on 2 "
            "cores"),
    ]


class _ClientClock:
    """CPU seconds since it started of the calling thread, of this process's librdkafka threads and of the
    broker (a thread that ended meanwhile is not counted)."""

    def __init__(self, broker_marker: str) -> None:
        self.broker_marker = broker_marker
        self.threads, self.broker = _thread_cpu(), _process_cpu(broker_marker)

    def read(self) -> np.ndarray:
        spent = _thread_spent(self.threads, _thread_cpu())
        librdkafka = sum(seconds for name, seconds in spent.values() if name.startswith("rdk:"))
        return np.array([spent[threading.get_native_id()][1], librdkafka,
                         _process_cpu(self.broker_marker) - self.broker])


def _stat_cpu(stat: Path) -> float:
    """User + system CPU seconds of a ``/proc/.../stat`` file (raises ``OSError`` once its task ended)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every thread of this process: native id → (name, seconds)."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            out[int(task.name)] = (names.get(int(task.name), (task / "comm").read_text().strip()),
                                   _stat_cpu(task / "stat"))
        except OSError:  # ended meanwhile
            continue
    return out


def _thread_spent(before: dict[int, tuple[str, float]],
                  after: dict[int, tuple[str, float]]) -> dict[int, tuple[str, float]]:
    """CPU seconds each thread of ``after`` (a :func:`_thread_cpu` reading) spent since ``before``: thread id →
    (name, seconds); a thread that started in between counts whole, one that ended is not in ``after``."""
    return {tid: (name, seconds - before.get(tid, (name, 0.0))[1]) for tid, (name, seconds) in after.items()}


def _pid_cpu(pid: int) -> float:
    """CPU seconds of process ``pid``, all its threads."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def _process_cpu(marker: str) -> float:
    """CPU seconds of the processes whose command line holds ``marker`` (the broker: its state dir's name)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text(errors="replace"):
                total += _stat_cpu(entry / "stat")
        except OSError:
            continue
    return total


_OTHERS = "DuckDB workers and others"


def _thread_group(name: str) -> str:
    for prefix, group in (("loader-main", "main (consume, collect)"), ("load-decoder", "decoder"),
                          ("load-appender", "appender (DuckDB statement)"), ("rdk:", "librdkafka")):
        if name.startswith(prefix):
            return group
    return _OTHERS


def _own_cpu() -> float:
    """CPU seconds of this process, ended threads included."""
    times = os.times()
    return times.user + times.system


def stage_drain(settings: Any, n: int, broker_marker: str) -> Row:
    """(c) the loader draining the replayed topic into a fresh DuckDB file: sustained rate from its first
    record; its start and the CPU seconds per million records of each of its threads and of the broker."""
    from ingest.load import Loader

    storage = open_storage(settings, loader=True)
    loader = Loader(settings, storage, drain=True, reopen_rows=settings.load_reopen_rows)
    ended: list[dict[int, tuple[str, float]]] = []
    shutdown = loader._shutdown_writers
    loader._shutdown_writers = lambda: (ended.append(_thread_cpu()), shutdown())  # type: ignore[method-assign]
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(loader.run()), name="loader-main")
    before, broker_before, process_before = _thread_cpu(), _process_cpu(broker_marker), _own_cpu()
    started = time.perf_counter()
    thread.start()
    while loader.stats.consumed == 0 and thread.is_alive():
        time.sleep(0.001)
    first = time.perf_counter()
    thread.join()
    seconds = time.perf_counter() - first
    process = _own_cpu() - process_before
    broker = _process_cpu(broker_marker) - broker_before
    storage.close()
    if not done or done[0].trades_added != n:
        raise RuntimeError(f"drain added {done[0].trades_added if done else 0} of {n}")
    cpu: dict[str, float] = {}
    for name, seconds in _thread_spent(before, ended[0] if ended else {}).values():
        group = _thread_group(name)
        if group != _OTHERS:
            cpu[group] = cpu.get(group, 0.0) + seconds
    cpu[_OTHERS] = process - sum(cpu.values())  # threads that ended too: DuckDB's are renewed by reopen
    cpu["broker"] = broker
    per_million = ", ".join(f"{group} {value / n * 1e6:.2f}" for group, value in cpu.items())
    return Row("Kafka → DuckDB: load --drain of that topic, sustained", n, seconds,
               f"{done[0].batches} batches; {first - started:.1f} s before the first record (topics, group "
               f"join); CPU s per million records: {per_million}")


#: Row by row, no dedupe (the baseline's trades are distinct; ``market_data`` declares no key for OR IGNORE).
_NAIVE_INSERT = "INSERT INTO market_data VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def stage_naive(work: Path, n: int, seed: int, frame_events: int) -> Row:
    """(d) simulator → polygon-api-client (parsed) → one DuckDB INSERT per trade in the callback."""
    import duckdb
    from polygon import WebSocketClient

    db = work / "naive.duckdb"
    open_storage(bench_settings(None, db)).close()  # the same schema
    con = duckdb.connect(str(db))
    inserted = 0
    done = asyncio.Event()

    async def handle(msgs: list[Any]) -> None:
        nonlocal inserted
        now = time.time_ns()
        for m in msgs:
            if getattr(m, "event_type", None) != "T":
                continue
            conditions = ",".join(map(str, m.conditions)) if m.conditions else None
            con.execute(_NAIVE_INSERT, ["stocks", m.symbol, m.timestamp * 1_000_000, m.price, float(m.size),
                                        m.exchange, m.id, conditions, m.tape, m.sequence_number, m.trf_id,
                                        m.trf_timestamp * 1_000_000 if m.trf_timestamp else None, now, "sim"])
            inserted += 1
        if inserted >= n:
            done.set()

    async def run(port: int) -> None:
        client = WebSocketClient(api_key="bench", feed=f"127.0.0.1:{port}", market="stocks", secure=False,
                                 subscriptions=["T.*"])
        task = asyncio.create_task(client.connect(handle))
        waiter = asyncio.create_task(done.wait())
        await asyncio.wait({task, waiter}, timeout=max(120, n / 20), return_when=asyncio.FIRST_COMPLETED)
        if not done.is_set():
            waiter.cancel()
            raise RuntimeError(f"naive baseline stopped at {inserted}/{n}: "
                               f"{task.exception() if task.done() else 'timeout'}")
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    with FloodSimulator(n, seed + 1, frame_events, None) as sim:
        asyncio.run(run(sim.port))
        done_ns = time.time_ns()
        first_ns = sim.first_data_ns(60)
    con.close()
    return Row("naive baseline: simulator → polygon-api-client → INSERT per trade from the callback", n,
               (done_ns - first_ns) / 1e9, f"{count_rows(db):,} rows in the file")


_FILL_STORED = """INSERT INTO market_data
SELECT 'stocks', 'S' || lpad((i % 200)::VARCHAR, 3, '0'), $t0 + i * 1000000, 100 + (i % 100) / 100, 100, 4,
       i::VARCHAR, '12,37', 3, i, NULL, NULL, $t0 + i * 1000000 + 1000, 'sim', NULL
FROM range($n) AS r(i)"""


def _new_trades(stored: int, k: int, rows: int, t0: int) -> Any:
    """Batch ``k`` of new trades: ids after the stored ones, times between those of stored trades (1 ms apart)."""
    import pyarrow as pa

    from sql.contract import TRADES_SCHEMA

    i = np.arange(rows, dtype=np.int64) + k * rows
    ts = t0 + (max(stored - 100 * rows, 0) + i) * 1_000_000 + 500_000
    return pa.table({
        "market": pa.array(["stocks"] * rows), "symbol": pa.array([f"S{j % 200:03d}" for j in range(rows)]),
        "ts_ns": ts, "price": 100 + (i % 100) / 100, "size": np.full(rows, 100.0),
        "exchange": pa.array(np.full(rows, 4, np.int32)), "trade_id": pa.array((i + stored).astype(str)),
        "conditions": pa.array(["12,37"] * rows), "tape": pa.array(np.full(rows, 3, np.int32)), "sequence": i,
        "trf_id": pa.nulls(rows, pa.int32()), "trf_ts_ns": pa.nulls(rows, pa.int64()), "received_ns": ts + 1000,
        "source": pa.array(["sim"] * rows), "correction": pa.array(np.zeros(rows, np.int32))},
        schema=TRADES_SCHEMA)


def stage_append(work: Path, stored: int, batches: int, rows: int) -> list[Row]:
    """``append``: the DuckDB trades append alone, into a file already holding ``stored`` trades."""
    import shutil

    import duckdb

    from sql.queries import load_registry

    t0 = 1_700_000_000 * 10**9
    base = work / "append-base.duckdb"
    settings = bench_settings(None, base)
    open_storage(settings).close()
    with duckdb.connect(str(base)) as con:
        con.execute(_FILL_STORED, {"t0": t0, "n": stored})
        con.execute("CHECKPOINT")
    data = [_new_trades(stored, k, rows, t0) for k in range(batches)]
    out = []
    for label in ("append_trades (dedupe key kept by the anti-join)", "plain Arrow insert (no dedupe)",
                  "plain Arrow insert into the old PRIMARY KEY table"):
        db = work / "append.duckdb"
        if "PRIMARY KEY" in label:
            db.unlink(missing_ok=True)
            ddl = load_registry("duckdb", "schema")["market_data"].text.replace(
                "source      VARCHAR NOT NULL             -- ws | replay | sim",
                "source      VARCHAR NOT NULL, PRIMARY KEY (market, symbol, exchange, trade_id, ts_ns)")
            with duckdb.connect(str(db)) as con:
                con.execute(ddl)
                con.execute(_FILL_STORED, {"t0": t0, "n": stored})
                con.execute("CHECKPOINT")
        else:
            shutil.copy(base, db)
        storage = open_storage(bench_settings(None, db))
        cursor = storage._cursor()
        started = time.perf_counter()
        for batch in data:
            if label.startswith("append_trades"):
                if storage.append_trades(batch) != rows:
                    raise RuntimeError("append_trades skipped new trades")
            else:
                cursor.from_arrow(batch).insert_into("market_data")
        seconds = time.perf_counter() - started
        note = f"{batches} batches of {rows:,} into {stored:,} stored trades"
        if label.startswith("append_trades"):
            again = time.perf_counter()
            if storage.append_trades(data[-1]) != 0:
                raise RuntimeError("append_trades added a stored trade again")
            note += f"; the last batch again adds 0 rows in {time.perf_counter() - again:.3f} s"
        storage.close()
        out.append(Row(f"append: {label}", batches * rows, seconds, note))
    return out


# --- memory ------------------------------------------------------------------------------------------------


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Memory:
    minutes: float
    rate: float
    samples: list[tuple[float, float]]
    rows: int
    #: The DuckDB memory limit the loader ran with (``Settings.loader_memory_limit``).
    duckdb_limit: str = ""

    @property
    def slope_mib_per_min(self) -> float:
        t = np.array([s[0] for s in self.samples]) / 60
        m = np.array([s[1] for s in self.samples])
        return float(np.polyfit(t, m, 1)[0]) if len(t) > 1 else float("nan")

    def fit_after(self, fraction: float) -> tuple[float, float]:
        """Least-squares slope (MiB/min) of the samples after the first ``fraction`` of the run, and its
        standard error: RSS moves within a band as DuckDB reopens, so a slope alone over-reads that noise."""
        cut = self.samples[int(len(self.samples) * fraction):]
        t, m = np.array([s[0] for s in cut]) / 60, np.array([s[1] for s in cut])
        if len(t) < 3:
            return float("nan"), float("nan")
        slope, intercept = np.polyfit(t, m, 1)
        residuals = m - (slope * t + intercept)
        error = residuals.std(ddof=2) / np.sqrt(((t - t.mean()) ** 2).sum())
        return float(slope), float(error)


def steady_stream(settings: Any, rate: float, stop: threading.Event, sent: list[int]) -> None:
    """Produce ``rate`` distinct stock trades per second through :class:`EventProducer` until ``stop``."""
    from ingest.produce import EventProducer
    from ingest.stats import PipelineStats

    producer = EventProducer.from_settings(settings, PipelineStats("bench-steady"))
    symbols = ["AAPL", "MSFT", "NVDA", "TSLA", "SPY", "AMZN", "GOOGL"]
    tick = 0.05
    per_tick = max(1, int(rate * tick))
    next_id = 0
    started = time.monotonic()
    k = 0
    while not stop.is_set():
        t_ms = time.time_ns() // 1_000_000
        events = [{"ev": "T", "sym": symbols[(next_id + j) % 7], "x": 4, "i": str(next_id + j), "z": 3,
                   "p": 100.0 + (j % 100) / 100, "s": 100, "t": t_ms, "q": next_id + j} for j in range(per_tick)]
        producer.send_events(events, [("source", b"sim")], [], [])
        next_id += per_tick
        k += 1
        time.sleep(max(0.0, started + k * tick - time.monotonic()))
    producer.flush(60)
    sent.append(next_id)


def memory_run(bootstrap: str, work: Path, minutes: float, rate: float, every: float,
               memory_limit: str | None, cache_limit: str | None = None) -> Memory:
    """``microstructure load`` (subprocess, ``DUCKDB_MEMORY_LIMIT=memory_limit``, ``LOAD_DUCKDB_MEMORY_LIMIT=
    cache_limit`` or the setting's default) under a steady stream; its RSS every ``every`` seconds."""
    from ingest.produce import ensure_topics

    extra = {"load_duckdb_memory_limit": cache_limit} if cache_limit else {}
    settings = bench_settings(bootstrap, work / "memory.duckdb", duckdb_memory_limit=memory_limit or None, **extra)
    env = settings_env(settings)
    env["LOAD_DUCKDB_MEMORY_LIMIT"] = settings.load_duckdb_memory_limit
    ensure_topics(bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], settings.kafka_partitions)
    log_path = work / "memory-loader.log"
    with log_path.open("w") as log_file:
        loader = subprocess.Popen([sys.executable, "-m", "server.cli", "--log-level", "WARNING", "load"],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file)
    stop = threading.Event()
    sent: list[int] = []
    producer = threading.Thread(target=steady_stream, args=(settings, rate, stop, sent), name="bench-steady")
    samples: list[tuple[float, float]] = []
    try:
        time.sleep(2.0)  # imports and group join
        producer.start()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < minutes * 60:
            if loader.poll() is not None:
                raise RuntimeError(f"the loader exited: {log_path.read_text()[-2000:]}")
            samples.append((elapsed, _rss_mib(loader.pid)))
            print(f"\r  memory run: {elapsed / 60:4.1f}/{minutes} min, loader RSS {samples[-1][1]:.0f} MiB",
                  end="", file=sys.stderr, flush=True)
            time.sleep(every)
        print(file=sys.stderr)
    finally:
        stop.set()
        producer.join(120)
        time.sleep(3.0)  # the last batch
        loader.terminate()
        loader.wait(120)
    return Memory(minutes, rate, samples, count_rows(settings.duckdb_path), settings.loader_memory_limit())


# --- report ------------------------------------------------------------------------------------------------


def versions() -> str:
    import confluent_kafka

    kafka_jar = next((p.name for p in (ROOT / ".kafka" / "libs").glob("kafka_*.jar")), "kafka jar ?")
    return (report.versions("confluent-kafka", "duckdb", "pyarrow", "orjson", "polygon-api-client", "websockets")
            + f"; librdkafka {confluent_kafka.libversion()[0]}; broker {kafka_jar}")


def loader_settings() -> Any:
    """The settings the loader stages ran with (the environment's, as the bench's loaders read them)."""
    from sql.settings import Settings

    return Settings()


def render(rows: list[Row], naive: Row | None, memory: Memory | None, args: argparse.Namespace, load_avg: str,
           started: dt.datetime, appends: list[Row] | None = None, floor: list[Row] | None = None) -> str:
    stages = "" if args.stages == ",".join(DEFAULT_STAGES) else f" --stages {args.stages}"
    loader = loader_settings()
    lines = [
        f"`.venv/bin/python -m bench.bench_ingest --trades {args.trades} --minutes {args.minutes:g}"
        f"{' --quick' if args.quick else ''}{stages}` (bench/bench_ingest.py), {started:%Y-%m-%d %H:%M} UTC.", "",
        f"- Machine: {report.machine()}; load average at the end {load_avg} (other work shared the box)",
        f"- {versions()}",
        "- Broker: one KRaft node from `scripts/kafka-local` on free ports, private data dir; topics with "
        f"{args.partitions} partitions; loader `LOAD_BATCH_ROWS={args.batch_rows}`, "
        f"`LOAD_BATCH_SECONDS={args.batch_seconds:g}`, its DuckDB opened and reopened every "
        f"{loader.load_reopen_rows:,} rows as `microstructure load` does (limit "
        f"{loader.loader_memory_limit()}); broker warmed up with 300k messages first; simulator "
        f"frames of {args.frame_events} events",
        "- Trades: distinct simulated stock trades (`T` events; a `trades_v1` file for the replay); every "
        "stage ends with exactly that many rows in the database (or messages in Kafka)",
        "",
        "| stage | trades | seconds | trades/s | vs naive | ≥ 250k/s |",
        "|---|---|---|---|---|---|",
    ]
    for row in [*rows, *([naive] if naive is not None else []), *(appends or [])]:
        met = "yes" if row.rate >= TARGET else "no"
        ratio = f"{row.rate / naive.rate:.1f}x" if naive is not None else "—"
        lines.append(f"| {row.stage} ({row.note}) | {row.trades:,} | {row.seconds:.2f} | {row.rate:,.0f} | "
                     f"{ratio} | {met if row is not naive and row.stage in [r.stage for r in rows] else '—'} |")
    lines.append("")
    if floor:
        lines += ["Floor (f), the Kafka hop alone, no work done with the messages, in the same run:", ""]
        lines += [f"- {row.stage}: {row.rate:,.0f} messages/s; {row.note}." for row in floor]
        lines.append("")
    if memory is not None and memory.samples:
        rss = [m for _, m in memory.samples]
        settled = rss[int(len(rss) * 0.3):]
        slope, (late, error) = memory.slope_mib_per_min, memory.fit_after(0.3)
        thirds = ", ".join(f"{float(np.median(part)):.0f}" for part in np.array_split(np.array(settled), 3))
        lines += [
            f"Loader memory: `microstructure load` (subprocess, `DUCKDB_MEMORY_LIMIT="
            f"{args.loader_memory_limit or '(unset)'}`, the loader's DuckDB limit {memory.duckdb_limit}) for "
            f"{memory.minutes:g} min under a steady "
            f"{memory.rate:,.0f} trades/s, RSS sampled every {args.sample_seconds:g} s "
            f"({len(rss)} samples, {memory.rows:,} rows loaded): start {rss[0]:.0f} MiB, max {max(rss):.0f} MiB, "
            f"end {rss[-1]:.0f} MiB; least-squares slope {slope:+.2f} MiB/min over the run, "
            f"{late:+.2f} ± {error:.2f} (standard error) MiB/min after the first 30 %; after the first 30 % RSS "
            f"stays within {min(settled):.0f}-{max(settled):.0f} MiB (median {float(np.median(settled)):.0f}; "
            f"medians of its thirds {thirds}).",
        ]
    met = [row.stage.split(":")[0] for row in rows if row.rate >= TARGET]
    lines += ["", f"Targets: ≥ 250k trades/s per stage: {'met by ' + ', '.join(met) if met else 'not met by any stage'}."
              if rows else "Targets: no Kafka stage run."]
    if memory is not None and len(memory.samples) > 1:
        late = memory.fit_after(0.3)[0]
        rss = [m for _, m in memory.samples]
        per_million = (rss[-1] - rss[0]) / max(memory.rows, 1) * 1e6
        flat = abs(late) <= 1.0
        lines[-1] += (f" Loader memory flat (|slope| ≤ 1 MiB/min after the warm-up): {'yes' if flat else 'no'}"
                      f" ({late:+.2f} MiB/min; {per_million:.0f} MiB per million rows loaded).")
    lines += [
        "",
        "Where the time goes (measured apart on this box, 2026-11-21; the drain row above has this run's CPU per "
        "loader thread). (1) DuckDB append: the old `PRIMARY KEY (market, symbol, exchange, trade_id, ts_ns)` was "
        "its cost: into 10M stored trades, 250k-row batches (`--stages append`), 194k rows/s with the key, 389k "
        "for `append_trades` (no declared key; one statement keeps it: an anti-join restricted to the batch's "
        "`ts_ns` range, and the first of duplicates inside the batch), 595k for a plain insert. Batches of at "
        "least one row group (122,880 rows) go straight to the file, not the WAL: `LOAD_BATCH_ROWS=250000`. "
        "(2) Kafka → DuckDB: the loader's main thread consumes, 1,000 records per `consume()` (a `Message` object "
        "and ~9 accessor calls per record, ~3 µs with `consume()` itself: the largest piece, and the thread "
        "that holds the GIL most); a decoder thread reads the values with a compiled reader "
        "(`ingest/trade_json.py`, ~0.5 µs a record with the table built; `pyarrow.json` and its checks took "
        "~2.3 µs); an appender thread runs the DuckDB statement (~1-1.5 µs). Limits found on the way: librdkafka's "
        "prefetch (`queued.min.messages`): `consume()` alone delivered ~180k records/s at the default, ~370k "
        "with it; `consume(10,000)` held the GIL ~10 ms at a time, so the decoder waited 3-5x its CPU time for "
        "it; the drain's check of the group's committed offsets every second cost ~9 %. The loader's DuckDB "
        "cache: a 64MB cap drained ~20 % slower than an unlimited one (203k and 205k against 249k and 257k "
        "records/s), as the anti-join reads evicted blocks back from the file: the default cap is 256MB. (3) "
        "Replay → Kafka: one `produce()` per message on the main thread (~2 µs with its `source` header), "
        "librdkafka's batching and lz4 (~1 µs), the broker (~1 µs); the CSV read (~1.1 µs) and the JSON events "
        "(~0.5 µs: a compiled writer; Arrow string joins took 1.1-2 µs) on a worker thread. (4) End to end: each "
        "trade crosses four processes on these two cores, and the end-to-end rows give each one's CPU per trade "
        "(`/proc`): the flood simulator (encoding and sending; more with permessage-deflate), the `stream` "
        "process (websockets and polygon-api-client per frame, `orjson` and one `produce()` per event), the "
        "broker (each trade produced and fetched) and the loader as in (2). 250k trades/s on two cores leaves 8 "
        "CPU µs per trade for all of them together; the floor (f) is what the Kafka hop alone costs, before "
        "anything is done with a trade. "
        "(5) Memory: DuckDB keeps every block it "
        "appended cached until its cache nears ~70 % of `memory_limit` (~7.3 MiB per million rows; with 256MB it "
        "levels off near 180 MiB after ~25M rows, ~21 min at 20k trades/s), and keeps ~1 MiB per million rows "
        "of bookkeeping of the row groups a process wrote, outside `memory_limit`, released only when the "
        "database is closed (`duckdb_memory()`, DuckDB's jemalloc and glibc's `mallinfo2` sampled in a loader "
        "and in an append loop; pyarrow's pool stays under 1 MiB). `microstructure load` therefore reopens the "
        "database every `LOAD_REOPEN_ROWS` (1M) rows written, which releases both (an append loop of 20k-row "
        "batches, 128MB, reopening every 1M rows: RSS 215-260 MiB over 24M rows). A reopen takes 60-470 ms on "
        "the appender thread, which has the slack: the main thread is the loader's bottleneck. The loader's "
        "RSS then moves in a band with the reopens (every ~50 s at 20k trades/s): ~60 MiB lower just after "
        "one, back within ~10 s. A slope fitted over a few minutes of that band moves by 1-2 MiB/min from run "
        "to run (10-minute runs of the same code: +1.2, +1.4, +1.5, +2.4; -1.5 over the first 11 minutes of a "
        "30-minute run whose slope after its first 30 % was +0.5 ± 0.2), so the report gives the slope's "
        "standard error and the medians of the thirds of the run beside it. Trimming glibc's heap "
        "(`malloc_trim`) after each reopen changed nothing (side by side: +1.5 ± 0.9 and +2.9 ± 1.0 MiB/min, "
        "the same band). What stays after a reopen grows with the table, slowly: an append loop reopening every "
        "1M rows is at 177 MiB just after its first reopen and at 180-186 MiB after those past 25M rows stored "
        "(~0.15 MiB per million rows stored: DuckDB's metadata of the table).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trades", type=int, default=2_000_000, help="trades per stage (a, b, c, f)")
    parser.add_argument("--naive-trades", type=int, default=3000,
                        help="trades of the naive baseline (~150/s: each INSERT is its own transaction)")
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="length of the loader memory run (0 = skip); 30 by default: over 10 minutes the slope "
                        "of RSS moving in its band with DuckDB's reopens varies by 1-2 MiB/min from run to run")
    parser.add_argument("--memory-rate", type=float, default=20_000.0, help="trades/s of the memory run")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling period")
    parser.add_argument("--loader-memory-limit", default="256MB",
                        help="DUCKDB_MEMORY_LIMIT of the memory run's loader ('' = DuckDB's default, 80%% of RAM)")
    parser.add_argument("--loader-cache-limit", default=None,
                        help="LOAD_DUCKDB_MEMORY_LIMIT of the memory run's loader (default: the setting's, 256MB;"
                        " the loader uses the lower of it and --loader-memory-limit)")
    parser.add_argument("--batch-rows", type=int, default=None, help="LOAD_BATCH_ROWS (default: the setting's)")
    parser.add_argument("--batch-seconds", type=float, default=None, help="LOAD_BATCH_SECONDS")
    parser.add_argument("--partitions", type=int, default=None, help="KAFKA_PARTITIONS")
    parser.add_argument("--frame-events", type=int, default=100, help="events per simulator frame")
    parser.add_argument("--sim-compression", default="plain,deflate",
                        help="WebSocket frames of the end-to-end stage, one run each: plain, deflate or both")
    parser.add_argument("--quick", action="store_true", help="200k trades, 1000 naive, a 1-minute memory run")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    parser.add_argument("--stages", default=",".join(DEFAULT_STAGES),
                        help=f"comma-separated stages of {','.join(STAGES)} (default {','.join(DEFAULT_STAGES)})")
    parser.add_argument("--append-stored", type=int, default=10_000_000, help="stored trades of the append stage")
    parser.add_argument("--append-batches", type=int, default=20, help="batches of the append stage")
    args = parser.parse_args(argv)
    unknown = set(args.stages.split(",")) - set(STAGES)
    if set(args.sim_compression.split(",")) - {"plain", "deflate"}:
        parser.error("--sim-compression takes plain, deflate or plain,deflate")
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; stages are {','.join(STAGES)}")
    if args.quick:
        args.trades, args.naive_trades = min(args.trades, 200_000), min(args.naive_trades, 1000)
        args.minutes = min(args.minutes, 1.0)
    from sql.settings import Settings

    defaults = Settings()
    args.batch_rows = args.batch_rows or defaults.load_batch_rows
    args.batch_seconds = args.batch_seconds or defaults.load_batch_seconds
    args.partitions = args.partitions or defaults.kafka_partitions
    os.environ.update({"LOAD_BATCH_ROWS": str(args.batch_rows), "LOAD_BATCH_SECONDS": str(args.batch_seconds),
                       "KAFKA_PARTITIONS": str(args.partitions)})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the broker, remove the files
    started = dt.datetime.now(dt.UTC)
    step: Callable[[str], None] = lambda what: print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr)
    stages = set(args.stages.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        rows: list[Row] = []
        naive: Row | None = None
        memory = None
        appends: list[Row] = []
        floor: list[Row] = []
        if stages & {"a", "b", "c", "d", "f", "memory"}:
            step("starting the broker")
            with LocalBroker(work / "kafka") as broker:
                step(f"warming the broker up: {warm_up(broker.bootstrap):.1f} s")
                if stages & {"b", "c", "f"}:
                    step(f"preparing {args.trades:,} trades")
                    trades = stock_trades(args.trades, args.seed)
                if stages & {"b", "c"}:
                    step("(b) replay → Kafka")
                    replay, drain_settings = stage_replay(broker.bootstrap, work, trades)
                    if "c" in stages:
                        step("(c) Kafka → DuckDB")
                        rows.append(stage_drain(drain_settings, args.trades, f"broker-{broker.port}"))
                    if "b" in stages:
                        rows.insert(0, replay)
                if "f" in stages:
                    step("(f) floor: the Kafka clients alone")
                    floor = stage_floor(broker.bootstrap, trades, f"broker-{broker.port}")
                if "a" in stages:
                    for k, frames in enumerate(reversed(args.sim_compression.split(","))):
                        step(f"(a) end to end, {frames} frames")
                        compression = None if frames == "plain" else frames
                        rows.insert(0, stage_end_to_end(broker.bootstrap, work, args.trades, args.seed + 7 + k,
                                                        args.frame_events, compression, f"broker-{broker.port}"))
                if "d" in stages:
                    step(f"(d) naive baseline, {args.naive_trades:,} trades")
                    naive = stage_naive(work, args.naive_trades, args.seed + 11, args.frame_events)
                if "memory" in stages and args.minutes > 0:
                    step(f"memory run, {args.minutes:g} min at {args.memory_rate:,.0f} trades/s")
                    memory = memory_run(broker.bootstrap, work, args.minutes, args.memory_rate,
                                        args.sample_seconds, args.loader_memory_limit, args.loader_cache_limit)
                step("stopping the broker")
        if "append" in stages:
            step(f"append: {args.append_batches} batches into {args.append_stored:,} stored trades")
            appends = stage_append(work, args.append_stored, args.append_batches, args.batch_rows)
    load_avg = report.load_average()
    text = render(rows, naive, memory, args, load_avg, started, appends, floor)
    print(text)
    if not args.no_write:
        report.replace_section(TITLE, text)
        print("wrote the section to BENCHMARKS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
