"""A real ``microstructure serve`` process for the tests that look at it from outside: its descriptors
(``/proc/<pid>/fd``), its memory (``/proc/<pid>/status``) and its ``/metrics``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import DAY_SESSION, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
MICROSTRUCTURE = Path(sys.executable).with_name("microstructure")


@dataclass(frozen=True)
class ServeProcess:
    """A running server: its base URL and pid."""

    url: str
    pid: int
    port: int

    def descriptors(self) -> int:
        """Open file descriptors of the process now."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_bytes(self) -> int:
        """Resident memory of the process now."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024  # type: ignore[union-attr]

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of ``/metrics`` (0 when the sample is absent)."""
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pattern = rf"^{re.escape(name)}(\{{{re.escape(wanted)}\}})? (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
        found = re.search(pattern, text, re.M)
        return float(found.group(found.lastindex or 1)) if found else 0.0


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve_process(database: Path, workdir: Path, **settings: object) -> Iterator[ServeProcess]:
    """Run ``microstructure serve`` on ``database`` (read-only) with ``settings`` as environment variables.

    The process runs in ``workdir`` (no ``.env`` there) with this checkout's code first on ``PYTHONPATH``;
    it is stopped with SIGTERM when the block ends.
    """
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DUCKDB_PATH": str(database), "MCP_PORT": str(port),
           "SESSION_STOCKS": DAY_SESSION, **{k.upper(): str(v) for k, v in settings.items()}}  # fmt: skip
    log = workdir / f"serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(MICROSTRUCTURE), "serve"], env=env, cwd=workdir, stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url), [process], [log], 90, "a healthy server")
        yield ServeProcess(url, process.pid, port)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
