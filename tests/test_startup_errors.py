"""Operators' mistakes at start-up through the real ``microstructure`` command (issue 15, point 4): a
``DUCKDB_PATH`` that is a CSV file, a directory, an empty, random or truncated file, and an ``MCP_PORT`` in
use are each one line naming the cause and the setting, exit status 1, no traceback; nothing claims to be
serving before the port is bound. The processes run side by side to keep the wall time short."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]  # eleven processes share the cores

BAD_FILES = {
    "csv": "is not a DuckDB database file",
    "directory": "is a directory, not a DuckDB database file",
    "empty": "is an empty file",
    "random bytes": "is not a DuckDB database file",
    "truncated": "is truncated or damaged",
}
COMMANDS = {
    "serve": ["serve"],
    "sql": ["sql", "SELECT 1"],
    "transform": ["transform"],
    "up": ["up", "--roles", "transform,serve"],
    "demo": ["demo"],
}
CASES = [(command, bad) for bad in BAD_FILES for command in (["serve"] if bad != "csv" else COMMANDS)]


def _bad_file(kind: str, directory: Path, market_db: Path) -> Path:
    path = directory / f"{kind.replace(' ', '-')}.duckdb"
    if kind == "csv":
        path = directory / "trades.csv"
        path.write_text("symbol,price\nAAPL,1.0\n")
    elif kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "random bytes":
        path.write_bytes(os.urandom(8192))
    else:
        path.write_bytes(market_db.read_bytes()[: market_db.stat().st_size // 2])
    return path


def _env(**values: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POLYGON_", "KAFKA_", "DUCKDB_", "MCP_", "METRICS_", "SIM_"))}  # fmt: skip
    env.update({k: str(v) for k, v in values.items()}, PYTHONPATH=str(ROOT), SIM_PORT="0")
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", "--log-level", "INFO", *args]


@pytest.fixture(scope="module")
def outcomes(market_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every case started at once; ``{case: (exit status, stderr)}``."""
    directory = tmp_path_factory.mktemp("startup")
    files = {kind: _bad_file(kind, directory, market_db) for kind in BAD_FILES}
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    running = {}
    for command, bad in CASES:
        env = _env(DUCKDB_PATH=files[bad], MCP_PORT=free_port())
        running[(command, bad)] = subprocess.Popen(_cli(*COMMANDS[command]), cwd=directory, env=env, text=True,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    for command in ("serve", "demo"):
        env = _env(DUCKDB_PATH=directory / f"{command}-port.duckdb" if command == "demo" else market_db, MCP_PORT=port,
                   SIM_HISTORY_DAYS=1)  # fmt: skip
        running[(command, "port in use")] = subprocess.Popen(_cli(command), cwd=directory, env=env, text=True,
                                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 240
    try:
        yield {case: (*_finish(process, deadline), port) for case, process in running.items()}
    finally:
        taken.close()
        for process in running.values():
            if process.poll() is None:
                process.kill()


def _finish(process: subprocess.Popen[str], deadline: float) -> tuple[int | None, str]:
    """Exit status and stderr; a process still running at ``deadline`` is killed and reported with status None."""
    try:
        return process.wait(max(0.0, deadline - time.monotonic())), process.communicate()[1]
    except subprocess.TimeoutExpired:
        process.kill()
        return None, process.communicate()[1]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("microstructure:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(("command", "bad"), CASES)
def test_a_duckdb_path_that_is_no_database_is_one_line_naming_the_cause(outcomes, command, bad):
    status, stderr, _ = outcomes[(command, bad)]
    line = _one_error_line(stderr)
    assert status == 1, stderr
    assert "DUCKDB_PATH" in line and BAD_FILES[bad] in line, line
    assert "one writing process" not in line


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_line_naming_mcp_port_and_nothing_claims_to_serve(outcomes, command):
    status, stderr, port = outcomes[(command, "port in use")]
    line = _one_error_line(stderr)
    assert status == 1, stderr
    assert f"cannot listen on 127.0.0.1:{port}" in line and "MCP_PORT" in line and "in use" in line, line
    assert "serving" not in stderr, stderr
