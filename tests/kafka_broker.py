"""A real single-node Kafka broker for tests and benchmarks: ``scripts/kafka-local`` on free ports, private data."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "kafka-local"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalBroker:
    """One broker started with ``scripts/kafka-local`` (jars shared in ``.kafka/libs``, state in ``workdir``)."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(_free_port()),
            "KAFKA_DATA_DIR": str(workdir / "data"),
        }
        self.bootstrap = f"127.0.0.1:{self.port}"

    def run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``scripts/kafka-local COMMAND`` for this broker; the completed process, whatever its exit code."""
        return subprocess.run([str(SCRIPT), command], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def start(self, timeout: float = 900) -> None:
        """Start (fetching the jars on first use); raise ``RuntimeError`` with the script's output on failure."""
        done = self.run("start", timeout)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/kafka-local start failed ({done.returncode}): {done.stderr[-3000:]}")

    def stop(self) -> None:
        self.run("stop", 120)

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
