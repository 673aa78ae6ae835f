"""``microstructure stream`` when the broker goes away (issue 15 point 3), against a real broker it stops.

The stream runs as a process on the local Polygon simulator. Broker stopped, stream stopped with SIGINT: one
line at once says what it waits for, a second SIGINT ends the wait, and the spool holds exactly the events Kafka
never got. Broker back, stream started again: the spool goes first, and the loader stores every event once;
replaying the spool, all of whose events Kafka now has, adds no row.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import wait_for
from ingest.spool import events_of_lines, read_lines

pytestmark = [pytest.mark.kafka, pytest.mark.duckdb]
ROOT = Path(__file__).resolve().parents[2]
_STOPPED = re.compile(r"stream stopped: (\d+) events produced, (\d+) confirmed by Kafka, (\d+) written to the spool")
_LAG = re.compile(r"stream: consumed=\d+ .*? produced=(\d+) .*? lag=(\d+)")


def stream_env(bootstrap: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DUCKDB_", "STREAM_", "SIM_"))}
    env.update({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TRADES_TOPIC": f"s-{tag}.trades",
                "KAFKA_QUOTES_TOPIC": f"s-{tag}.quotes", "KAFKA_GROUP_ID": f"g-{tag}", "KAFKA_PARTITIONS": "2",
                "DUCKDB_PATH": str(tmp_path / "spool.duckdb"), "STREAM_SPOOL_PATH": str(tmp_path / "spool.jsonl"),
                "STATS_INTERVAL_SECONDS": "0.5", "SIM_RATE": "400", "SIM_SEED": "5",
                "PYTHONPATH": str(ROOT), **extra})  # fmt: skip
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


STREAM = cli("stream", "--simulate")


def start_stream(env: dict[str, str], log: Path, command: list[str] = STREAM) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"))


def last_stats(log: Path) -> tuple[int, int]:
    found = _LAG.findall(log.read_text())
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)


def kafka_events(bootstrap: str, topic: str) -> list[dict]:
    """Every event in ``topic`` (all partitions, read to their ends)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    events: list[dict] = []
    done = {p: ends[p] == 0 for p in partitions}
    while not all(done.values()):
        for message in consumer.consume(10_000, 1.0):
            assert message.error() is None, message.error()
            events.append(orjson.loads(message.value()))
            if message.offset() + 1 >= ends[message.partition()]:
                done[message.partition()] = True
    consumer.close()
    return events


def key(event: dict) -> tuple:
    return event["sym"], event["x"], event["i"], event["t"]


def db_keys(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT symbol, exchange, trade_id, ts_ns // 1000000 FROM market_data").fetchall()
    return [tuple(r) for r in rows]


def drain(env: dict[str, str]) -> None:
    done = subprocess.run(cli("--log-level", "WARNING", "load", "--drain"), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def stream_into_an_outage(broker, tmp_path: Path, command: list[str] = STREAM, **extra: str
                          ) -> tuple[dict[str, str], Path, Path, subprocess.Popen]:
    """Start a stream (``command``) with ``extra`` settings, let it produce 1000 events, stop the broker, and
    return once 500 more wait in its queue: its environment, spool path, log and process."""
    env = stream_env(broker.bootstrap, tmp_path, **extra)
    log = tmp_path / "stream-1.log"
    stream = start_stream(env, log, command)
    try:
        wait_for(lambda: last_stats(log)[0] > 1000, [stream], [log], 120, "1000 events produced")
        broker.stop()
        produced_at_stop = last_stats(log)[0]
        # the simulator goes on: events pile up in the producer's queue, unconfirmed
        wait_for(lambda: last_stats(log)[0] > produced_at_stop + 500 and last_stats(log)[1] > 500, [stream],
                 [log], 120, "500 events queued while the broker is away")
    except BaseException:
        stream.kill()
        raise
    return env, Path(env["STREAM_SPOOL_PATH"]), log, stream


def stop_twice(process: subprocess.Popen, log: Path, broker, spool: Path) -> None:
    """SIGINT while the broker is away: the stop notice names the wait, the broker and the spool; the process
    still waits; a second SIGINT ends it (exit 0). The process is killed if it is still running after that."""
    try:
        process.send_signal(signal.SIGINT)
        notice = wait_for(lambda: re.search(r"stopping: (\d+) events not yet confirmed by Kafka; waiting up to "
                                            r"3600 s for the broker at (\S+), then they go to the spool (\S+) ",
                                            log.read_text()),
                          [process], [log], 60, "the stop notice")  # fmt: skip
        assert int(notice.group(1)) > 0 and notice.group(2) == broker.bootstrap and notice.group(3) == str(spool)
        assert process.poll() is None  # still waiting for the broker
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()


def test_a_stream_stopped_while_the_broker_is_away_spools_exactly_what_kafka_never_got(own_broker, tmp_path):
    broker = own_broker
    # A long wait: only the second SIGINT can end it within the test's patience.
    env, spool, first_log, stream = stream_into_an_outage(broker, tmp_path, STREAM_STOP_WAIT_SECONDS="3600")
    stop_twice(stream, first_log, broker, spool)
    text = first_log.read_text()
    assert len(re.findall(r"stopping: \d+ events not yet", text)) == 1  # one line, at once
    produced, confirmed, spooled = map(int, _STOPPED.search(text).groups())
    assert spooled > 0 and produced == confirmed + spooled
    assert re.search(rf"spooled={spooled} .*\(final\)", text)  # the final statistics line counts them
    spooled_events = events_of_lines(read_lines(spool)[0])
    assert len(spooled_events) == spooled
    saved = tmp_path / "spool-copy.jsonl"
    shutil.copyfile(spool, saved)

    broker.start()
    in_kafka = kafka_events(broker.bootstrap, env["KAFKA_TRADES_TOPIC"])
    assert len(in_kafka) == confirmed  # the spool holds exactly the events Kafka never got
    assert not {key(e) for e in in_kafka} & {key(e) for e in spooled_events}

    second_log = tmp_path / "stream-2.log"
    stream = start_stream(env, second_log)
    try:
        wait_for(lambda: f"Kafka confirmed the {spooled} spooled events" in second_log.read_text(), [stream],
                 [second_log], 120, "the spool sent")
        assert spool.read_bytes() == b""
        wait_for(lambda: last_stats(second_log)[0] > spooled + 300, [stream], [second_log], 120,
                 "new events streamed after the spool")
        stream.send_signal(signal.SIGTERM)
        assert stream.wait(120) == 0, second_log.read_text()[-3000:]
    finally:
        if stream.poll() is None:
            stream.kill()
    before = {key(e) for e in in_kafka}
    second = [e for e in kafka_events(broker.bootstrap, env["KAFKA_TRADES_TOPIC"]) if key(e) not in before]
    spooled_keys = [key(e) for e in spooled_events]
    for symbol in {e["sym"] for e in spooled_events}:  # per symbol (one partition): the spool first, in order
        mine = [key(e) for e in spooled_events if e["sym"] == symbol]
        assert [key(e) for e in second if e["sym"] == symbol][:len(mine)] == mine

    drain(env)
    stored = db_keys(Path(env["DUCKDB_PATH"]))
    expected = {key(e) for e in in_kafka + second}
    assert len(stored) == len(set(stored)) == len(expected)  # every event once
    assert set(stored) == expected and set(spooled_keys) <= set(stored)

    # replaying the spool (every event of it already stored) adds no row
    replay = subprocess.run(cli("replay", "--quiet", str(saved)), env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert replay.returncode == 0, replay.stderr[-3000:]
    drain(env)
    assert sorted(db_keys(Path(env["DUCKDB_PATH"]))) == sorted(stored)


def test_with_spool_mode_always_a_killed_stream_loses_nothing_and_its_segments_go_first(own_broker, tmp_path):
    broker = own_broker
    env, spool, first_log, stream = stream_into_an_outage(broker, tmp_path, STREAM_SPOOL_MODE="always")
    try:
        stream.send_signal(signal.SIGKILL)
        stream.wait(30)
        reported = last_stats(first_log)[0]  # produced by the last statistics line: accepted at least these
    finally:
        if stream.poll() is None:
            stream.kill()
    segments = sorted(spool.parent.glob(f"{spool.name}.wal.*"))
    written = [e for e in events_of_lines(line for path in segments for line in read_lines(path)[0])
               if e.get("ev") == "T"]
    assert written  # the events Kafka had not confirmed are on disk

    broker.start()
    in_kafka = kafka_events(broker.bootstrap, env["KAFKA_TRADES_TOPIC"])
    kept = {key(e) for e in in_kafka} | {key(e) for e in written}
    assert len(kept) >= reported  # nothing accepted is lost to the SIGKILL

    second_log = tmp_path / "stream-2.log"
    stream = start_stream(env, second_log)
    try:
        wait_for(lambda: "Kafka confirmed the" in second_log.read_text(), [stream], [second_log], 120,
                 "the segments sent")
        assert not any(p.exists() for p in segments) and (not spool.exists() or spool.read_bytes() == b"")
        stream.send_signal(signal.SIGTERM)
        assert stream.wait(120) == 0, second_log.read_text()[-3000:]
    finally:
        if stream.poll() is None:
            stream.kill()
    drain(env)
    stored = db_keys(Path(env["DUCKDB_PATH"]))
    assert len(stored) == len(set(stored))  # resent events Kafka already had are stored once
    assert kept <= set(stored)


def _event_id(event: dict) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def test_the_embedded_stream_role_spools_like_stream_and_sends_the_spool_first_at_its_next_start(own_broker, tmp_path):
    """``up --roles stream,serve --simulate`` (the embedded process, as ``demo`` and ``run`` host the stream role
    with Kafka; ``--roles stream`` alone is ``stream``): trades and quotes of both simulated markets through one
    producer, the same spool, stop notice, second signal and summary."""
    broker = own_broker
    up = cli("up", "--roles", "stream,serve", "--simulate")
    env, spool, first_log, process = stream_into_an_outage(broker, tmp_path, up, STREAM_STOP_WAIT_SECONDS="3600",
                                                           SIM_HISTORY_DAYS="0", SIM_PORT="0", MCP_PORT="0")  # fmt: skip
    topics = [env["KAFKA_TRADES_TOPIC"], env["KAFKA_QUOTES_TOPIC"]]
    stop_twice(process, first_log, broker, spool)
    text = first_log.read_text()
    summary = re.search(r"feeds stopped: (\d+) events produced, (\d+) confirmed by Kafka, (\d+) written to the spool",
                        text)  # fmt: skip
    assert summary, text[-3000:]
    produced, confirmed, spooled = map(int, summary.groups())
    assert spooled > 0 and produced == confirmed + spooled
    assert re.search(rf"spooled={spooled} .*\(final\)", text)
    spooled_events = events_of_lines(read_lines(spool)[0])
    assert len(spooled_events) == spooled
    assert {e["ev"] for e in spooled_events} >= {"T", "Q"}  # one producer for trades and quotes

    broker.start()
    in_kafka = [e for topic in topics for e in kafka_events(broker.bootstrap, topic)]
    assert len(in_kafka) == confirmed  # the spool holds exactly the events Kafka never got
    assert not {_event_id(e) for e in in_kafka} & {_event_id(e) for e in spooled_events}

    second_log = tmp_path / "up-2.log"
    process = start_stream(env, second_log, up)
    try:
        wait_for(lambda: f"Kafka confirmed the {spooled} spooled events" in second_log.read_text(), [process],
                 [second_log], 120, "the spool sent")  # fmt: skip
        assert spool.read_bytes() == b""
        process.send_signal(signal.SIGTERM)
        assert process.wait(120) == 0, second_log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    now_in_kafka = {_event_id(e) for topic in topics for e in kafka_events(broker.bootstrap, topic)}
    assert {_event_id(e) for e in spooled_events} <= now_in_kafka
