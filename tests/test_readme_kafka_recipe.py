"""The README's "Kafka locally" recipe, run as written against the real broker of the test tooling.

The recipe's commands are read from the README's code block and run as processes; only what the test must
own is set in the environment: the broker (``KAFKA_BOOTSTRAP_SERVERS`` from the fixture instead of
``scripts/kafka-local start``), a database in ``tmp_path``, free ports, per-test topics, and bars of a few
seconds with the simulated stocks trading around the clock so that signals come within the test's patience.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_for
from tests.readme_recipes import readme_block, recipe_commands

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def test_the_kafka_recipe_as_written_brings_trades_to_signals(kafka_bootstrap, tmp_path):
    lines = readme_block("## Kafka locally")
    assert "scripts/kafka-local start" in lines and any(l.startswith("export KAFKA_BOOTSTRAP_SERVERS=") for l in lines)
    commands = recipe_commands(lines)
    assert [argv[:2] for argv, _ in commands] == [["microstructure", "stream"], ["microstructure", "up"]]
    tag = f"recipe-{free_port()}"
    database = tmp_path / "recipe.duckdb"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DUCKDB_PATH": str(database),
           "MCP_PORT": "0", "SIM_PORT": "0", "KAFKA_TRADES_TOPIC": f"{tag}.trades",
           "KAFKA_QUOTES_TOPIC": f"{tag}.quotes", "KAFKA_GROUP_ID": tag, "BAR_SECONDS": "2",
           "TRANSFORM_LATENESS_SECONDS": "1", "SIM_RATE": "40", "SESSION_STOCKS": "00:00-24:00 UTC"}  # fmt: skip
    executable = Path(sys.executable).with_name("microstructure")
    processes = []
    logs = []
    try:
        for number, (argv, _) in enumerate(commands):
            log = (tmp_path / f"{number}-{argv[1]}.log").open("w")
            logs.append(log)
            processes.append(subprocess.Popen([str(executable), *argv[1:]], cwd=tmp_path, env=env, stdout=log,
                                              stderr=log))  # fmt: skip

        runtime = Path(f"{database}.owner.json")

        def signals_served() -> bool:
            if not runtime.exists():
                return False
            url = json.loads(runtime.read_text())["url"]
            try:  # a busy box can hold one answer past 10 s while `up` starts: asked again until the deadline
                answer = httpx.post(f"{url}/mcp", json={"method": "get_real_time_data", "params": {"limit": 50},
                                                         "id": "1"}, timeout=10).json()  # fmt: skip
            except httpx.TimeoutException:
                return False
            rows = answer["result"]["structuredContent"]["rows"] if "result" in answer else []
            return any(row.get("bar_end_ns") for row in rows)

        logs_paths = sorted(tmp_path.glob("*.log"))
        wait_for(signals_served, processes, logs_paths, 180, "signals served")
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=60) for p in processes] == [0, 0], [p.read_text()[-2000:] for p in logs_paths]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for log in logs:
            log.close()
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        trades, signals = con.execute("SELECT (SELECT count(*) FROM market_data WHERE source = 'sim'), "
                                      "(SELECT count(*) FROM trading_signals)").fetchone()  # fmt: skip
    assert trades > 0 and signals > 0
