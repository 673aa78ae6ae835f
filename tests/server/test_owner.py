"""The runtime file of an owned database, the holder message, the role sets and the stdio bridge's errors."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from mcp import Client, StdioServerParameters

from conftest import free_port, small_settings
from server.embedded import StartupError, check_roles, default_roles
from server.owner import find_owner, holder_message, owning, runtime_path
from server.stdio_bridge import bridge_stdio
from sql.backend import DatabaseHeld

pytestmark = pytest.mark.anyio


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_the_owner_publishes_its_record_atomically_and_removes_it_on_exit(tmp_path):
    database = tmp_path / "x.duckdb"
    with owning(database, ["load", "serve"]) as publish:
        assert find_owner(database) is None  # nothing published before the server listens
        publish("http://127.0.0.1:1234")
        owner = find_owner(database)
        assert owner is not None and owner.pid == os.getpid() and owner.url == "http://127.0.0.1:1234"
        assert owner.roles == ["load", "serve"]
        assert [p.name for p in tmp_path.iterdir()] == ["x.duckdb.owner.json"]  # no temporary file left
    assert not runtime_path(database).exists()


def test_a_stale_runtime_file_is_ignored_and_replaced(tmp_path):
    database = tmp_path / "x.duckdb"
    stale = {"url": "http://127.0.0.1:1", "pid": _dead_pid(), "roles": ["serve"], "started_at": "x", "version": "0"}
    runtime_path(database).write_text(json.dumps(stale))
    assert find_owner(database) is None
    with owning(database, ["serve"]) as publish:
        publish(None)
        assert find_owner(database).pid == os.getpid()


@pytest.mark.parametrize("text", ["", "{", "[]", '{"pid": "x"}', '{"url": null}'])
def test_an_unreadable_runtime_file_means_no_owner(tmp_path, text):
    runtime_path(tmp_path / "x.duckdb").write_text(text)
    assert find_owner(tmp_path / "x.duckdb") is None


def test_the_holder_message_falls_back_to_the_pid_duckdb_named(tmp_path):
    line = holder_message(DatabaseHeld("held", path=str(tmp_path / "x.duckdb"), pid=4321))
    assert "pid 4321" in line and "\n" not in line


def test_a_file_held_by_another_process_raises_database_held_with_its_pid(tmp_path):
    import duckdb

    from sql.duckdb_backend import DuckDBStorage

    database = tmp_path / "held.duckdb"
    duckdb.connect(str(database)).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(database)!r}); "
                               "print('ok', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(DatabaseHeld) as held:
            DuckDBStorage.open(small_settings(database), read_only=True)
        assert held.value.pid == holder.pid
    finally:
        holder.stdin.close()
        holder.wait(10)


def test_roles_are_checked_against_the_settings(tmp_path):
    plain = small_settings(tmp_path / "x.duckdb")
    kafka = small_settings(tmp_path / "x.duckdb", kafka_bootstrap_servers="127.0.0.1:9092")
    assert default_roles(plain) == ("stream", "transform", "serve")
    assert default_roles(kafka) == ("stream", "load", "transform", "serve")
    assert check_roles(kafka, ["serve", "load"], simulate=False) == {"load", "serve"}
    for settings, roles, simulate, problem in [
        (plain, ["load", "serve"], False, "KAFKA_BOOTSTRAP_SERVERS"),
        (plain, ["serve", "feed"], False, "unknown role"),
        (plain, [], False, "unknown role"),
        (plain, ["transform"], True, "--simulate"),
    ]:
        with pytest.raises(StartupError, match=problem):
            check_roles(settings, roles, simulate=simulate)


async def test_the_bridge_answers_each_request_with_an_error_when_the_owner_is_gone():
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    lines = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "method": "notifications/x"},
             "not json", {"jsonrpc": "2.0", "id": "b", "method": "ping"}]  # fmt: skip
    stdin = io.BytesIO(b"".join((line if isinstance(line, str) else orjson.dumps(line).decode()).encode() + b"\n"
                                for line in lines))  # fmt: skip
    stdout = io.BytesIO()
    await asyncio.wait_for(bridge_stdio(url, token=None, timeout_s=5, stdin=stdin, stdout=stdout), 30)
    answers = [orjson.loads(line) for line in stdout.getvalue().splitlines()]
    by_id = {a["id"]: a["error"] for a in answers}
    assert set(by_id) == {1, "b", None}  # the notification gets no answer
    assert by_id[None]["code"] == -32700
    assert all(by_id[i]["code"] == -32603 and "did not answer" in by_id[i]["message"] for i in (1, "b"))


async def test_stdio_without_a_holder_serves_the_file_itself_even_beside_a_stale_runtime_file(market_db: Path):
    stale = {"url": f"http://127.0.0.1:{free_port()}", "pid": _dead_pid(), "roles": ["serve"], "started_at": "x",
             "version": "0"}  # fmt: skip
    runtime = runtime_path(market_db)
    runtime.write_text(json.dumps(stale))
    try:
        env = {**os.environ, "DUCKDB_PATH": str(market_db), "SESSION_STOCKS": "00:00-24:00 UTC"}
        parameters = StdioServerParameters(command=str(Path(sys.executable).with_name("microstructure")),
                                           args=["serve", "--transport", "stdio"], env=env)  # fmt: skip
        async with Client(parameters) as client:
            result = await client.call_tool("get_trading_signals", {"symbol": "ETH-USD", "limit": 2})
            assert not result.is_error and result.structured_content["count"] == 2
    finally:
        runtime.unlink()


def test_sql_without_a_holder_opens_the_file_read_only(market_db: Path):
    env = {**os.environ, "DUCKDB_PATH": str(market_db)}
    done = subprocess.run([str(Path(sys.executable).with_name("microstructure")), "sql",
                           "SELECT symbol, count(*) AS bars FROM trading_signals GROUP BY symbol ORDER BY symbol",
                           "--format", "json"], env=env, capture_output=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    # Plain DuckDB in a process of its own: a server of an earlier test may hold the file in this one.
    script = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); print(json.dumps("
              "con.execute('SELECT symbol, count(*) FROM trading_signals GROUP BY 1 ORDER BY 1').fetchall()))")
    reference = subprocess.run([sys.executable, "-c", script, str(market_db)], capture_output=True, text=True,
                               timeout=60, check=True)  # fmt: skip
    expected = [tuple(row) for row in json.loads(reference.stdout)]
    assert [tuple(row) for row in page["rows"]] == expected


def test_a_transform_holding_the_file_is_named_by_its_runtime_file_without_a_url(market_db: Path, tmp_path):
    import shutil
    import signal
    import time

    database = tmp_path / "copy.duckdb"
    shutil.copy(market_db, database)
    executable = str(Path(sys.executable).with_name("microstructure"))
    env = {**os.environ, "DUCKDB_PATH": str(database), "SESSION_STOCKS": "00:00-24:00 UTC"}
    holder = subprocess.Popen([executable, "transform", "--follow"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while find_owner(database) is None:
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        owner = find_owner(database)
        assert owner.pid == holder.pid and owner.url is None and owner.roles == ["transform"]
        done = subprocess.run([executable, "sql", "SELECT 1"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.strip() == (f"microstructure: {database} is held by microstructure pid {holder.pid} "
                                       "(roles transform, without an HTTP server); stop it first, or run it "
                                       "with the serve role (microstructure up)")  # fmt: skip
    finally:
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(60) == 0
    assert not runtime_path(database).exists()


async def test_the_bridge_carries_both_protocol_revisions_to_a_real_server(market_settings, market_storage):
    """One stdio session: a 2025 handshake (initialize, then the negotiated version on later requests) and a
    2026 per-request envelope (its version, method and tool name mirrored into the headers the HTTP transport
    checks)."""
    from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY
    from mcp_types.version import LATEST_MODERN_VERSION

    from conftest import serving

    call = {"name": "get_trading_signals", "arguments": {"symbol": "ETH-USD", "limit": 2}}
    envelope = {PROTOCOL_VERSION_META_KEY: LATEST_MODERN_VERSION, CLIENT_CAPABILITIES_META_KEY: {}}
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {**call, "_meta": envelope}},
    ]
    read_end, write_end = os.pipe()
    stdout = io.BytesIO()
    with serving(market_settings, market_storage) as url, os.fdopen(read_end, "rb") as stdin:
        bridge = asyncio.create_task(bridge_stdio(f"{url}/mcp", token=None, timeout_s=10, stdin=stdin,
                                                  stdout=stdout))  # fmt: skip
        for number, message in enumerate(messages, start=1):
            os.write(write_end, orjson.dumps(message) + b"\n")
            async with asyncio.timeout(30):
                while len(stdout.getvalue().splitlines()) < number:  # each answered before the next is sent
                    await asyncio.sleep(0.05)
        os.close(write_end)
        await asyncio.wait_for(bridge, 30)
    answers = {a["id"]: a for a in map(orjson.loads, stdout.getvalue().splitlines())}
    assert answers[1]["result"]["protocolVersion"] == "2025-06-18"
    for request_id in (2, 3):
        assert "result" in answers[request_id], answers[request_id]
        assert answers[request_id]["result"]["structuredContent"]["count"] == 2
