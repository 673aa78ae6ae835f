"""``microstructure demo`` as a user runs it: a real process, ``curl``, the official MCP client, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from mcp import Client

from conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SEED_CALLS = [
    ("get_enriched_data", {"symbol": "AAPL", "limit": 100, "hours_back": 1}),
    ("get_trading_signals", {"symbol": "AAPL", "limit": 50}),
    ("get_jump_events", {"hours_back": 24, "limit": 100}),
]


def _curl(url: str, body: dict) -> dict:
    if shutil.which("curl") is None:  # the same request without the curl binary
        return httpx.post(url, json=body, timeout=30).json()
    out = subprocess.run(
        ["curl", "-s", "--max-time", "30", url, "-H", "Content-Type: application/json", "-d", json.dumps(body)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {**os.environ, "DUCKDB_PATH": str(workdir / "demo.duckdb"), "MCP_PORT": str(port), "SIM_PORT": "0",
           "SIM_HISTORY_DAYS": "1", "KAFKA_BOOTSTRAP_SERVERS": ""}  # fmt: skip
    log = (workdir / "demo.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("microstructure")), "demo"], cwd=workdir, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, (workdir / "demo.log").read_text()
            assert time.monotonic() < deadline, "no healthy /health within 60 s:\n" + (workdir / "demo.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield base, process, workdir
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


def test_demo_answers_the_three_original_curl_calls_with_rows(demo):
    base, _, _ = demo
    for number, (method, params) in enumerate(SEED_CALLS, start=1):
        answer = _curl(f"{base}/mcp", {"method": method, "params": params, "id": str(number)})
        assert answer["jsonrpc"] == "2.0" and answer["id"] == str(number)
        result = answer["result"]
        assert result["isError"] is False, result
        assert result["structuredContent"]["count"] > 0, (method, result["structuredContent"])


async def test_demo_serves_the_official_mcp_client_over_http(demo):
    base, _, _ = demo
    async with Client(f"{base}/mcp") as client:
        page = (await client.call_tool("get_trading_signals", {"symbol": "BTC-USD", "limit": 5})).structured_content
        assert page["count"] == 5
        assert all(row["lee_mykland_stat"] is not None for row in page["rows"])


def test_demo_ingests_the_live_feed_through_the_client(demo):
    base, _, _ = demo
    deadline = time.monotonic() + 30
    while True:
        health = httpx.get(f"{base}/health", timeout=5).json()
        if health["newest_trade_age_seconds"] is not None and health["newest_trade_age_seconds"] < 5:
            break
        assert time.monotonic() < deadline, health
        time.sleep(0.5)
    trades = _curl(f"{base}/mcp", {"method": "get_enriched_data", "params": {"symbol": "ETH-USD", "limit": 1}, "id": 1})
    newest = trades["result"]["structuredContent"]["rows"][0]
    assert time.time_ns() - newest["ts_ns"] < 30e9


def test_ctrl_c_stops_the_demo_cleanly_and_keeps_its_data(demo):
    _, process, workdir = demo
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, (workdir / "demo.log").read_text()
    with duckdb.connect(str(workdir / "demo.duckdb"), read_only=True) as con:
        trades, live = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE received_ns > 0 AND ts_ns > (SELECT min(computed_at_ns) FROM trading_signals)) FROM market_data"
        ).fetchone()
        signals = con.execute("SELECT count(*) FROM trading_signals").fetchone()[0]
    assert trades > 0 and live > 0 and signals > 0


@pytest.mark.kafka
def test_demo_with_kafka_set_ingests_through_the_topics(kafka_bootstrap, tmp_path):
    """With KAFKA_BOOTSTRAP_SERVERS the live feed goes client -> Kafka -> loader -> DuckDB."""
    from confluent_kafka import Consumer, TopicPartition

    port = free_port()
    topics = {"KAFKA_TRADES_TOPIC": f"e2e-{port}.trades", "KAFKA_QUOTES_TOPIC": f"e2e-{port}.quotes"}
    env = {**os.environ, "DUCKDB_PATH": str(tmp_path / "k.duckdb"), "MCP_PORT": str(port), "SIM_PORT": "0",
           "SIM_HISTORY_DAYS": "0.5", "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topics}  # fmt: skip
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(Path(sys.executable).with_name("microstructure")), "demo"], cwd=tmp_path,
                                   env=env, stdout=log, stderr=log)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            try:
                health = httpx.get(f"{base}/health", timeout=2).json()
                if health.get("ready") and (health["newest_trade_age_seconds"] or 99) < 5:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"probe-{port}"})
        metadata = consumer.list_topics(timeout=10)
        produced = sum(consumer.get_watermark_offsets(TopicPartition(topics["KAFKA_TRADES_TOPIC"], p), timeout=10)[1]
                       for p in metadata.topics[topics["KAFKA_TRADES_TOPIC"]].partitions)  # fmt: skip
        consumer.close()
        assert produced > 0, "the live feed did not go through Kafka"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        with duckdb.connect(str(tmp_path / "k.duckdb"), read_only=True) as con:
            (live,) = con.execute("SELECT count(*) FROM market_data WHERE received_ns > 0 AND source = 'sim' "
                                  "AND ts_ns > (SELECT max(computed_at_ns) - 60e9 FROM trading_signals)").fetchone()  # fmt: skip
        assert live > 0
    finally:
        if process.poll() is None:
            process.kill()
