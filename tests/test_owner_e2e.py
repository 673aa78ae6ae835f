"""One process owns the DuckDB file; everyone else goes through it (issue 14).

A real ``microstructure up --simulate`` holds a real file for the whole module (with ``MCP_AUTH_TOKEN`` set, so
every client must carry the token); second processes are started as a user would start them.
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
from mcp import Client, StdioServerParameters

from conftest import wait_for
from server.mcp import TOOL_NAMES
from tests.readme_recipes import readme_block, recipe_commands

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TOKEN = "owner-roles-test-token"
EXECUTABLE = str(Path(sys.executable).with_name("microstructure"))


def _env(database: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DUCKDB_PATH": str(database), "MCP_AUTH_TOKEN": TOKEN, "KAFKA_BOOTSTRAP_SERVERS": "",
            "SESSION_STOCKS": "00:00-24:00 UTC", **extra}  # fmt: skip


@pytest.fixture(scope="module")
def owner(tmp_path_factory):
    """A running ``up --simulate --roles stream,transform,serve``: (process, database, runtime record, log)."""
    workdir = tmp_path_factory.mktemp("owner")
    database = workdir / "owned.duckdb"
    env = _env(database, MCP_PORT="0", SIM_PORT="0", SIM_HISTORY_DAYS="0.5")
    log_path = workdir / "up.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([EXECUTABLE, "up", "--simulate", "--roles", "stream,transform,serve"], cwd=workdir,
                                   env=env, stdout=log, stderr=log)  # fmt: skip
    runtime = Path(f"{database}.owner.json")

    def healthy_owner() -> dict | None:
        if not runtime.exists():
            return None
        record = json.loads(runtime.read_text())
        try:
            return record if httpx.get(f"{record['url']}/health", timeout=2).status_code == 200 else None
        except httpx.TransportError:
            return None

    try:
        record = wait_for(healthy_owner, [process], [log_path], 120, "healthy owner")
        yield process, database, record, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_the_runtime_file_names_the_owner_its_url_and_roles_and_no_secret(owner):
    process, database, record, _ = owner
    assert record["pid"] == process.pid
    assert record["roles"] == ["stream", "transform", "serve"]
    assert record["url"].startswith("http://127.0.0.1:")
    assert TOKEN not in Path(f"{database}.owner.json").read_text()
    answer = httpx.get(f"{record['url']}/api/v1/real-time-data", params={"limit": 1},
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200 and answer.json()["count"] == 1


def test_the_owner_serves_through_the_connection_limits(owner):
    """``up`` builds its server with the same configuration as ``serve`` (server/http_server.py): its
    connections pass through the limited protocol, which counts them."""
    _, _, record, _ = owner
    text = httpx.get(f"{record['url']}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    open_now = [line for line in text.splitlines() if line.startswith("microstructure_http_connections ")]
    assert open_now and float(open_now[0].split()[1]) >= 1  # at least this request's connection


@pytest.mark.parametrize(
    "argv, extra",
    [
        (["transform"], {}),
        (["up", "--roles", "transform"], {}),
        (["load", "--drain"], {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}),
        (["serve"], {}),
        (["demo"], {"MCP_PORT": "0", "SIM_PORT": "0"}),
        (["replay", "trades.csv"], {}),
    ],
    ids=["transform", "up-transform", "load", "serve-http", "demo", "replay"],
)
def test_a_second_process_asking_for_the_file_gets_one_line_naming_the_holder(owner, argv, extra, tmp_path):
    process, database, record, _ = owner
    (tmp_path / "trades.csv").write_text("ticker,conditions,correction,exchange,id,participant_timestamp,price,"
                                         "sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp\n")  # fmt: skip
    done = subprocess.run([EXECUTABLE, *argv], env=_env(database, **extra), capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"pid {process.pid}" in lines[0] and record["url"] in lines[0] and str(database) in lines[0]
    assert "Traceback" not in done.stderr


async def test_stdio_is_bridged_to_the_owner_for_the_official_client(owner):
    _, database, _, _ = owner
    parameters = StdioServerParameters(command=EXECUTABLE, args=["serve", "--transport", "stdio"], env=_env(database))
    async with Client(parameters) as client:
        assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
        result = await client.call_tool("get_trading_signals", {"symbol": "BTC-USD", "limit": 3})
        assert not result.is_error, result.content
        assert result.structured_content["count"] == 3


async def test_the_bridge_without_the_token_answers_an_error_naming_it(owner):
    _, database, _, _ = owner
    env = {k: v for k, v in _env(database).items() if k != "MCP_AUTH_TOKEN"}
    parameters = StdioServerParameters(command=EXECUTABLE, args=["serve", "--transport", "stdio"], env=env)
    with pytest.raises(BaseExceptionGroup) as failure:
        async with Client(parameters) as client:
            await client.list_tools()
    assert failure.group_contains(Exception, match="refused the token: set MCP_AUTH_TOKEN", depth=None), failure


def _sql(database: Path, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([EXECUTABLE, "sql", *argv], env=_env(database), capture_output=True, timeout=60,
                          input=None if stdin is None else stdin.encode())  # fmt: skip


STATEMENT = "SELECT symbol, close, trading_signal, bar_end_ns FROM latest_signals ORDER BY symbol"


def test_sql_answers_through_the_owner_in_every_format(owner, tmp_path):
    _, database, record, _ = owner
    direct = httpx.post(f"{record['url']}/api/v1/sql", json={"sql": STATEMENT, "limit": 100},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()  # fmt: skip
    symbols = [row[0] for row in direct["rows"]]
    assert len(symbols) >= 4

    as_json = _sql(database, STATEMENT, "--format", "json", "--limit", "100")
    assert as_json.returncode == 0, as_json.stderr
    page = json.loads(as_json.stdout)
    assert [c["name"] for c in page["columns"]] == ["symbol", "close", "trading_signal", "bar_end_ns"]
    assert [row[0] for row in page["rows"]] == symbols and page["truncated"] is False

    table = _sql(database, STATEMENT, "--limit", "100")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.decode().splitlines()
    assert lines[0].split() == ["symbol", "close", "trading_signal", "bar_end_ns"]
    assert [line.split()[0] for line in lines[2:-1]] == symbols and lines[-1] == f"({len(symbols)} rows)"

    as_csv = _sql(database, STATEMENT, "--format", "csv", "--limit", "2")
    assert as_csv.stdout.decode().splitlines()[0] == "symbol,close,trading_signal,bar_end_ns"
    assert [line.split(",")[0] for line in as_csv.stdout.decode().splitlines()[1:]] == symbols[:2]

    import pyarrow.parquet as pq

    target = tmp_path / "latest.parquet"
    as_parquet = _sql(database, STATEMENT, "--format", "parquet", "--output", str(target), "--limit", "100")
    assert as_parquet.returncode == 0, as_parquet.stderr
    assert pq.read_table(target).column("symbol").to_pylist() == symbols


def test_sql_refuses_a_write_through_the_owner_with_one_line(owner):
    _, database, _, _ = owner
    done = _sql(database, "DELETE FROM market_data")
    assert done.returncode == 1 and done.stdout == b""
    assert len(done.stderr.decode().strip().splitlines()) == 1 and "DELETE" in done.stderr.decode()


def test_the_sql_shell_runs_multi_line_statements_through_the_owner(owner, tmp_path):
    _, database, _, _ = owner
    script = "SELECT count(*) AS n\nFROM latest_signals;\nSELECT nope FROM latest_signals;\n.limit 1\n" \
             "SELECT symbol FROM latest_signals ORDER BY symbol;\n.quit\nSELECT 1;\n"
    done = subprocess.run([EXECUTABLE, "sql"], env={**_env(database), "XDG_STATE_HOME": str(tmp_path)},
                          input=script.encode(), capture_output=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode().splitlines()
    assert out[0] == "n" and int(out[2]) >= 4 and out[3] == "(1 row)"
    assert out[4] == "symbol" and out[7].startswith("(1 row; truncated")
    assert len(out) == 8  # nothing after .quit
    errors = done.stderr.decode().strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error:") and "nope" in errors[0]


def test_the_readme_sql_recipes_answer_through_the_owner(owner):
    _, database, _, _ = owner
    commands = recipe_commands(readme_block("## SQL views"))
    assert [argv[:2] for argv, _ in commands] == [["microstructure", "sql"]] * 3
    for argv, _ in commands:
        shell = len(argv) == 2
        done = _sql(database, *argv[2:], stdin="SELECT count(*) AS n FROM latest_signals;\n" if shell else None)
        assert done.returncode == 0 and done.stderr == b"", (argv, done.stderr)
        out = done.stdout.decode().splitlines()
        if "--format" in argv:  # csv: the header, then one row per symbol
            assert out[0] == "symbol,bar_end,close,vpin_cdf,trading_signal" and len(out) >= 5, out
        else:  # a table: header, rule, rows, footer
            assert set(out[1]) <= {"-", " "} and out[-1].startswith("(") and len(out) >= 4, out


def test_sigterm_stops_the_owner_and_removes_the_runtime_file(owner):
    process, database, _, log_path = owner
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    assert not Path(f"{database}.owner.json").exists()
