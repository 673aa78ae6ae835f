"""README command promises through the real ``microstructure`` processes (issue 16, point 2): ``run`` without a
key is a one-line error; ``serve --transport http`` answers ``/health`` on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


def _env(**values: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLYGON_", "KAFKA_", "DUCKDB_", "MCP_", "METRICS_", "SIM_"))}
    env.update({k: str(v) for k, v in values.items()}, PYTHONPATH=str(ROOT))
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", "--log-level", "WARNING", *args]


def test_run_without_a_key_is_a_one_line_error(tmp_path: Path) -> None:
    # cwd: a folder without .env, so only the environment speaks
    done = subprocess.run(_cli("run"), cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                          env=_env(DUCKDB_PATH=tmp_path / "run.duckdb", MCP_PORT=free_port()))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("microstructure:")]
    assert len(errors) == 1 and "POLYGON_API_KEY is not set" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_serve_over_http_answers_health_on_loopback(market_db: Path, tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(_cli("serve", "--transport", "http"), cwd=tmp_path, stderr=subprocess.PIPE,
                              text=True, env=_env(DUCKDB_PATH=market_db, MCP_PORT=port))
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, server.stderr.read() if server.poll() is not None and server.stderr else status
        rows = httpx.get(f"http://127.0.0.1:{port}/api/v1/trading-signals?symbol=AAPL&limit=3", timeout=30).json()
        assert rows["count"] == 3
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    assert server.returncode == 0
