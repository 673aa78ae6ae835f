"""Two real ``microstructure serve`` processes on a small fixture database, on loopback: one without a token and
one with ``MCP_AUTH_TOKEN`` set. Every probe of the attack suite goes to them over a real socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_for

TOKEN = "attack-suite-token-7f3a"

#: Headers of a plain JSON-RPC call the short path answers; without ``Accept`` the SDK answers it.
SHORT_PATH = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
SDK_PATH = {"Content-Type": "application/json"}

#: The one HTTP client of every probe. A new ``httpx`` client (what ``httpx.get`` and ``httpx.post`` make per call)
#: loads the CA bundle: ~150 ms of CPU at load 10, most of the suite's time when each probe made several. No
#: connection is kept alive, so every request still opens its own, as before.
http_client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))


@dataclass(frozen=True)
class Server:
    """A running ``serve`` process: its base URL, port, log file and token (or ``None``)."""

    url: str
    port: int
    log: Path
    token: str | None

    @property
    def auth(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}


#: A ``microstructure serve`` that imports its code at once but opens the database only when the file named by
#: its first argument exists (holding the database's path): the servers start while the fixture file is built.
_SERVE_WHEN_READY = """
import os, sys, time
import server.app, server.cli, server.standalone  # the start's slow part: done while the database is built
ready = sys.argv[1]
while not os.path.exists(ready):
    time.sleep(0.05)
os.environ["DUCKDB_PATH"] = open(ready).read()
sys.exit(server.cli.main(sys.argv[2:]))
"""


def _start(ready: Path, log: Path, token: str | None) -> tuple[subprocess.Popen[bytes], Server]:
    port = free_port()
    env = {**os.environ, "MCP_PORT": str(port), "MCP_AUTH_TOKEN": token or "",
           "MCP_QUERY_TIMEOUT_MS": "20000", "MCP_MAX_ROWS": "100", "SESSION_STOCKS": "00:00-24:00 UTC",
           "KAFKA_BOOTSTRAP_SERVERS": "", "PYTHONPATH": str(Path(__file__).parents[2])}  # fmt: skip
    command = [sys.executable, "-c", _SERVE_WHEN_READY, str(ready), "--log-level", "INFO", "serve"]
    process = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return process, Server(f"http://127.0.0.1:{port}", port, log, token)


@pytest.fixture(scope="session")
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """``(open, secured)`` on ``tiny_db``: both started at once, before the database is built (they
    import meanwhile), both answering ``/health``."""
    directory = tmp_path_factory.mktemp("attack")
    ready = directory / "database-ready"
    started = [_start(ready, directory / "open.log", None), _start(ready, directory / "secured.log", TOKEN)]
    processes = [p for p, _ in started]
    try:
        database: Path = request.getfixturevalue("tiny_db")[0]  # two hours of five stocks: built in seconds
        (directory / "database-path").write_text(str(database))
        (directory / "database-path").rename(ready)  # whole, at once
        for _, server in started:
            def healthy(server: Server = server) -> bool:
                try:
                    return http_client.get(f"{server.url}/health", timeout=5).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(healthy, processes, [server.log], 90, f"/health of {server.url}")
        yield started[0][1], started[1][1]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def open_server(servers: tuple[Server, Server]) -> Server:
    return servers[0]


@pytest.fixture(scope="session")
def secured_server(servers: tuple[Server, Server]) -> Server:
    return servers[1]


def raw_request(port: int, head: list[str], body: bytes = b"") -> tuple[int, bytes]:
    """Send one HTTP/1.1 request written by hand (duplicate or missing headers included); return status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join([*head, "Connection: close"]) + "\r\n\r\n").encode("latin-1") + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def tools_call(name: str, arguments: object, request_id: object = 1) -> dict[str, object]:
    """A JSON-RPC 2.0 ``tools/call`` request."""
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
