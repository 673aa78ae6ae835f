"""README "Commands" promises through the real ``microstructure`` processes (issue 16, point 2), each run as the
README writes it: ``simulate`` speaks the Polygon protocol on ``SIM_HOST:SIM_PORT`` (``/stocks``), ``run`` with
a refused key is a one-line error, ``transform --follow`` repeats its pass and stops cleanly, ``replay FILE`` of
a plain ``trades_v1`` CSV adds its trades once, and ``stream --simulate`` produces Polygon event JSON keyed by
symbol into ``KAFKA_TRADES_TOPIC`` while ``METRICS_PORT`` serves its Prometheus counters.

Only what a test must own is set in the environment (free ports, a database in ``tmp_path``, topics); nothing
is faked: the simulator, the Polygon client, DuckDB and the broker of the test tooling are the real ones.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pytest
import websockets

from conftest import free_port, trades_from_parts, wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e
EXECUTABLE = str(Path(sys.executable).with_name("microstructure"))


def _env(**values: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLYGON_", "KAFKA_", "DUCKDB_", "MCP_", "METRICS_", "SIM_", "TRANSFORM_"))}
    env.update({k: str(v) for k, v in values.items()}, PYTHONPATH=str(ROOT))
    return env


@contextmanager
def _process(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A ``microstructure`` process logging to ``log``; killed if the test left it running."""
    with log.open("w") as out:
        process = subprocess.Popen([EXECUTABLE, *argv], cwd=cwd, env=env, stdout=out, stderr=out)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _stop(process: subprocess.Popen, log: Path) -> None:
    """SIGTERM, as Ctrl-C or a service manager would; the process must exit 0 without a traceback."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


async def _session(url: str, key: str, subscribe: str | None) -> list[dict]:
    """Connect, authenticate and (when ``subscribe``) read until a trade arrives; the events received."""
    events: list[dict] = []
    async with websockets.connect(url) as ws:
        events += json.loads(await asyncio.wait_for(ws.recv(), 30))
        await ws.send(json.dumps({"action": "auth", "params": key}))
        events += json.loads(await asyncio.wait_for(ws.recv(), 30))
        if subscribe is None or events[-1].get("status") != "auth_success":
            return events
        await ws.send(json.dumps({"action": "subscribe", "params": subscribe}))
        while not any(e.get("ev") == "T" for e in events):
            events += json.loads(await asyncio.wait_for(ws.recv(), 30))
    return events


def _listening(port: int) -> bool:
    try:
        with httpx.Client() as client:
            client.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


@contextmanager
def _simulator(tmp_path: Path, key: str) -> Iterator[int]:
    port = free_port()
    log = tmp_path / "simulate.log"
    with _process(["simulate"], tmp_path, _env(SIM_PORT=port, POLYGON_API_KEY=key, SIM_RATE=50), log) as sim:
        wait_for(lambda: _listening(port), [sim], [log], 60, "simulator listening")
        yield port
        _stop(sim, log)


def test_simulate_serves_the_polygon_protocol_and_refuses_other_keys(tmp_path: Path) -> None:
    with _simulator(tmp_path, "the-key") as port:
        url = f"ws://127.0.0.1:{port}/stocks"
        events = asyncio.run(_session(url, "the-key", "T.*"))
        assert events[0] == {**events[0], "ev": "status", "status": "connected"}
        assert events[1]["status"] == "auth_success"
        trade = next(e for e in events if e.get("ev") == "T")
        assert isinstance(trade["sym"], str) and trade["p"] > 0 and trade["s"] > 0 and trade["t"] > 0
        refused = asyncio.run(_session(url, "another-key", None))
        assert refused[-1]["status"] == "auth_failed"


def test_run_with_a_refused_key_is_a_one_line_error(tmp_path: Path) -> None:
    with _simulator(tmp_path, "the-key") as port:
        done = subprocess.run(
            [EXECUTABLE, "run"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
            env=_env(POLYGON_API_KEY="a-refused-key", POLYGON_FEED=f"127.0.0.1:{port}", POLYGON_SECURE="false",
                     DUCKDB_PATH=tmp_path / "run.duckdb", MCP_PORT=free_port()))
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("microstructure:")]
    assert len(errors) == 1 and "refused the API key" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def _trades_file(path: Path) -> int:
    """A DuckDB file with two days of trades of two symbols and no signals; returns the trade count."""
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings

    rng = np.random.default_rng(3)
    start = 1_712_000_000 * 10**9
    parts = []
    for symbol in ("AAPL", "MSFT"):
        ts = np.sort(rng.integers(start, start + 2 * 86_400 * 10**9, 6000))
        parts.append(("stocks", symbol, ts, 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, ts.size))),
                      rng.integers(1, 300, ts.size).astype(float)))
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    try:
        storage.apply_schema()
        storage.append_trades(trades_from_parts(parts))
    finally:
        storage.close()
    return 12_000


def test_transform_follow_repeats_its_pass_and_stops_cleanly(tmp_path: Path) -> None:
    database = tmp_path / "follow.duckdb"
    _trades_file(database)
    log = tmp_path / "transform.log"
    env = _env(DUCKDB_PATH=database, TRANSFORM_INTERVAL_SECONDS=1, SESSION_STOCKS="00:00-24:00 UTC")
    with _process(["--log-level", "INFO", "transform", "--follow"], tmp_path, env, log) as follow:
        wait_for(lambda: log.read_text().count("transform: ") >= 2, [follow], [log], 120, "a second pass")
        assert Path(f"{database}.owner.json").exists()  # it holds the file while it follows
        _stop(follow, log)
    assert not Path(f"{database}.owner.json").exists()
    with duckdb.connect(str(database), read_only=True) as con:
        symbols = con.execute("SELECT DISTINCT symbol FROM trading_signals ORDER BY symbol").fetchall()
    assert symbols == [("AAPL",), ("MSFT",)]


def test_replay_of_a_plain_csv_adds_its_trades_once(tmp_path: Path) -> None:
    from ingest.replay import COLUMNS

    flat = tmp_path / "2024-04-05.csv"
    t0 = 1_712_306_654_208_740_096
    with flat.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for k in range(25):
            row = {"ticker": "AAPL" if k % 2 else "NVDA", "conditions": "", "correction": 0, "exchange": 11,
                   "id": f"t{k}", "participant_timestamp": t0 + k * 10**6 - 300, "price": 100.0 + k / 100,
                   "sequence_number": 100 + k, "sip_timestamp": t0 + k * 10**6, "size": 10 + k, "tape": 3,
                   "trf_id": 0, "trf_timestamp": 0}
            out.writerow([row[name] for name in COLUMNS])
    database = tmp_path / "replay.duckdb"
    env = _env(DUCKDB_PATH=database)
    for _ in range(2):  # rerunning a file adds nothing
        done = subprocess.run([EXECUTABLE, "replay", str(flat)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute("SELECT symbol, count(*), sum(size), min(price), max(price) FROM market_data "
                           "GROUP BY symbol ORDER BY symbol").fetchall()
    assert rows == [("AAPL", 12, sum(10 + k for k in range(1, 25, 2)), 100.01, 100.23),
                    ("NVDA", 13, sum(10 + k for k in range(0, 25, 2)), 100.0, 100.24)]


def _metric(text: str, name: str, role: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'{name}{{role="{role}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.kafka
def test_stream_simulate_produces_polygon_events_keyed_by_symbol_and_serves_metrics(kafka_bootstrap,
                                                                                    tmp_path: Path) -> None:
    from confluent_kafka import Consumer

    tag = f"stream-{free_port()}"
    metrics = free_port()
    log = tmp_path / "stream.log"
    env = _env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, KAFKA_TRADES_TOPIC=f"{tag}.trades",
               KAFKA_QUOTES_TOPIC=f"{tag}.quotes", SIM_PORT=0, SIM_RATE=50, METRICS_PORT=metrics)

    def produced() -> float:
        try:
            text = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5).text
        except httpx.TransportError:
            return 0.0
        return _metric(text, "microstructure_produced_total", "stream")

    with _process(["stream", "--simulate"], tmp_path, env, log) as stream:
        wait_for(lambda: produced() > 0, [stream], [log], 120, "produced records in /metrics")
        _stop(stream, log)
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": tag, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    try:
        consumer.subscribe([f"{tag}.trades"])
        deadline = time.monotonic() + 60
        message = None
        while message is None or message.error():
            assert time.monotonic() < deadline, "no record on the trades topic"
            message = consumer.poll(1.0)
    finally:
        consumer.close()
    event = json.loads(message.value())
    assert event["ev"] == "T" and message.key().decode() == event["sym"], (message.key(), event)


PHASES = ["starting", "backfilling", "computing signals", "running"]


def test_health_answers_503_with_its_phase_at_once_and_200_once_signals_are_in(tmp_path: Path) -> None:
    """README "Quick start": ``/health`` answers at once with ``503 {"status": "starting", "phase": ...}`` and
    turns 200 when the first signals are in (``up --simulate``, what ``demo`` runs, with a short history)."""
    port = free_port()
    log = tmp_path / "up.log"
    env = _env(DUCKDB_PATH=tmp_path / "up.duckdb", MCP_PORT=port, SIM_PORT=0, SIM_HISTORY_DAYS=0.5)
    answers: list[tuple[int, dict]] = []

    def healthy() -> bool:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        except httpx.TransportError:
            return False
        answers.append((response.status_code, response.json()))
        return response.status_code == 200

    with _process(["up", "--simulate"], tmp_path, env, log) as up:
        wait_for(healthy, [up], [log], 240, "a healthy /health")
        answer = httpx.post(f"http://127.0.0.1:{port}/mcp", timeout=30,
                            json={"method": "get_real_time_data", "params": {"limit": 5}, "id": "1"}).json()
        _stop(up, log)
    first_status, first = answers[0]
    assert first_status == 503 and first["status"] == "starting" and first["phase"] in PHASES[:3], answers[:3]
    assert all(body["status"] == "starting" and not body["ready"] for code, body in answers[:-1] if code == 503)
    seen = [PHASES.index(body["phase"]) for _, body in answers]
    assert seen == sorted(seen), [body["phase"] for _, body in answers]  # phases only move forward
    assert answers[-1][1]["phase"] == "running" and answers[-1][1]["ready"] is True
    assert any(row.get("bar_end_ns") for row in answer["result"]["structuredContent"]["rows"])
