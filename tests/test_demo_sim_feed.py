"""``SIM_FEED``: the demo reads a simulator running in its own process (``microstructure simulate``) instead of
starting one inside itself, as ``bench/bench_freshness.py`` runs it to tell the simulator's cost from the demo's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from conftest import free_port, wait_for
from sql.settings import Settings

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent
MICROSTRUCTURE = str(Path(sys.executable).with_name("microstructure"))


@pytest.mark.parametrize("value", ["nonsense", "127.0.0.1", "ws://127.0.0.1:8765", "127.0.0.1:87a", "h:1 x"])
def test_a_sim_feed_that_is_not_host_port_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValidationError, match="sim_feed"):
        Settings(sim_feed=value)  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["", "127.0.0.1:8765", "localhost:1", "[::1]:8765"])
def test_host_port_and_empty_sim_feeds_are_taken(value: str) -> None:
    assert Settings(sim_feed=value).sim_feed == value  # type: ignore[call-arg]


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([MICROSTRUCTURE, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _newest_trade_ns(base: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_real_time_data", "arguments": {"limit": 100}}}  # fmt: skip
    answer = httpx.post(f"{base}/mcp", json=body, timeout=30,
                        headers={"Accept": "application/json, text/event-stream"}).json()  # fmt: skip
    return max((row["last_trade_ns"] or 0) for row in answer["result"]["structuredContent"]["rows"])


def test_the_demo_reads_the_simulator_that_sim_feed_names(tmp_path: Path) -> None:
    """Live trades (newer than the backfill) arrive while the demo logs no simulator of its own."""
    sim_port, http_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": "", "SIM_RATE": "300"}
    env.pop("POLYGON_API_KEY", None)
    env.pop("MCP_AUTH_TOKEN", None)
    demo_log, sim_log = tmp_path / "demo.log", tmp_path / "sim.log"
    with _process(["simulate"], {**env, "SIM_PORT": str(sim_port)}, sim_log) as sim, \
            _process(["demo"], {**env, "SIM_FEED": f"127.0.0.1:{sim_port}", "SIM_PORT": "0", "SIM_HISTORY_DAYS": "0.01",
                                "DUCKDB_PATH": str(tmp_path / "d.duckdb"), "MCP_PORT": str(http_port)},
                     demo_log) as demo:  # fmt: skip
        base = f"http://127.0.0.1:{http_port}"
        running, logs = [sim, demo], [demo_log, sim_log]
        wait_for(lambda: _healthy(base), running, logs, 120, "healthy demo")
        ready_ns = time.time_ns()
        wait_for(lambda: _newest_trade_ns(base) > ready_ns, running, logs, 60, "live trade stamped after ready")
    assert "Polygon simulator on" not in demo_log.read_text()  # the in-process simulator logs this line
