"""Analysts' SQL on the process that owns the database: REST ``POST /api/v1/sql`` in four formats and the MCP
tool ``query`` through the official client, over a real socket, on a writable DuckDB file as the demo holds
it. Forbidden statements are refused and change nothing; caps, the time limit and the server's health hold."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from conftest import serving, small_settings
from server.tools.analyst_sql import run_analyst_sql
from sql.backend import StatementError
from sql.duckdb_backend import DuckDBStorage
from tests.server.test_sql_guard import FORBIDDEN

#: Statements aimed at the test's own directory, so that a write would show up in its file list.
TARGETED = [
    "COPY market_data TO '{d}/leak.csv'", "COPY (SELECT 1) TO '{d}/leak.parquet' (FORMAT parquet)",
    "ATTACH '{d}/other.duckdb' AS other", "EXPORT DATABASE '{d}/export'", "SELECT * FROM read_csv('{d}/probe.csv')",
    "SELECT * FROM '{d}/probe.csv'", "SELECT * FROM glob('{d}/*')",
]  # fmt: skip

VIEW_SQL = "SELECT symbol, bar_end_ns, bar_end, close, trading_signal FROM latest_signals ORDER BY symbol"


@pytest.fixture(scope="module")
def owner(market_db, tmp_path_factory):
    """A writable copy of the market file, opened as the demo's owning process opens it."""
    directory = tmp_path_factory.mktemp("owner")
    path = directory / "owned.duckdb"
    shutil.copy(market_db, path)
    (directory / "probe.csv").write_text("a,b\n1,2\n")
    config = small_settings(path, mcp_max_rows=50, mcp_sql_max_bytes=64 * 1024, mcp_query_timeout_ms=1000)
    storage = DuckDBStorage.open(config)
    yield config, storage, directory
    storage.close()


@pytest.fixture(scope="module")
def url(owner):
    config, storage, _ = owner
    with serving(config, storage) as base:
        yield base


#: The tables of the contract (the views are computed from them).
TABLES = ("market_data", "quotes", "trading_signals", "model_params", "signal_state", "intraday_profile",
          "trade_conditions", "trade_corrections")  # fmt: skip


def _state(storage: DuckDBStorage, directory) -> tuple[object, ...]:
    """Row counts of every table, the attached databases and the files of the directory."""
    cursor = storage._cursor()
    counts = tuple(cursor.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES)
    databases = tuple(r[0] for r in cursor.execute("SELECT database_name FROM duckdb_databases() ORDER BY 1").fetchall())
    files = tuple(sorted(p.name for p in directory.rglob("*")))
    return counts, databases, files


def _post(url: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/sql", json=body, headers=headers, timeout=30)


def test_rest_answers_the_rows_of_a_view_identically_in_all_four_formats(url, owner):
    _, storage, _ = owner
    expected = storage._cursor().execute(VIEW_SQL).fetchall()
    assert expected
    as_json = _post(url, {"sql": VIEW_SQL})
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    page = as_json.json()
    assert [c["name"] for c in page["columns"]] == ["symbol", "bar_end_ns", "bar_end", "close", "trading_signal"]
    assert [c["type"] for c in page["columns"]][:3] == ["VARCHAR", "BIGINT", "TIMESTAMP"]
    assert page["count"] == len(expected) and page["truncated"] is False and page["truncated_by"] is None
    assert [(r[0], r[1], r[3], r[4]) for r in page["rows"]] == [(r[0], r[1], r[3], r[4]) for r in expected]
    assert page["rows"][0][2] == expected[0][2].isoformat()

    csv = _post(url, {"sql": VIEW_SQL, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.headers["x-row-count"] == str(len(expected))
    arrow = _post(url, {"sql": VIEW_SQL}, accept="application/vnd.apache.arrow.stream")
    parquet = _post(url, {"sql": VIEW_SQL}, accept="text/html;q=0.1, application/vnd.apache.parquet")
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    tables = [pacsv.read_csv(io.BytesIO(csv.content)), pa.ipc.open_stream(arrow.content).read_all(),
              pq.read_table(io.BytesIO(parquet.content))]  # fmt: skip
    for table in tables:
        assert table.column("symbol").to_pylist() == [r[0] for r in expected]
        assert table.column("bar_end_ns").to_pylist() == [r[1] for r in expected]
        assert table.column("close").to_pylist() == [r[3] for r in expected]
    assert tables[1].schema.field("bar_end").type == pa.timestamp("us")


@pytest.mark.anyio
async def test_mcp_query_tool_returns_typed_rows_through_the_official_client(url, owner):
    _, storage, _ = owner
    sql = "SELECT symbol, count(*) AS bars, max(bar_end_ns) AS newest FROM trading_signals GROUP BY symbol ORDER BY symbol"
    expected = storage._cursor().execute(sql).fetchall()
    async with Client(f"{url}/mcp") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["query"].annotations.read_only_hint is True
        assert "schema://views" in tools["query"].description and "DuckDB" in tools["query"].description
        result = await client.call_tool("query", {"sql": sql, "limit": 50})
        assert not result.is_error, result.content
        page = result.structured_content
        assert page["columns"] == [{"name": "symbol", "type": "VARCHAR"}, {"name": "bars", "type": "BIGINT"},
                                   {"name": "newest", "type": "BIGINT"}]  # fmt: skip
        assert [tuple(r) for r in page["rows"]] == expected
        refused = await client.call_tool("query", {"sql": "DELETE FROM trading_signals"})
        assert refused.is_error and "DELETE" in refused.content[0].text


def test_seed_style_body_runs_the_query_tool(url):
    body = {"method": "query", "params": {"sql": "SELECT count(*) AS n FROM latest_signals"}, "id": 3}
    answer = httpx.post(f"{url}/mcp", json=body, timeout=30).json()
    assert answer["result"]["structuredContent"]["rows"][0][0] > 0


@pytest.mark.parametrize(("sql", "reason"), FORBIDDEN + [(s, "") for s in TARGETED], ids=lambda v: str(v)[:40])
def test_forbidden_statement_gets_a_clear_400_and_changes_nothing(url, owner, sql, reason):
    _, storage, directory = owner
    before = _state(storage, directory)
    response = _post(url, {"sql": sql.replace("{d}", str(directory))})
    if sql == "":
        assert response.status_code == 400 and "sql" in response.json()["error"]
        return
    body = response.json()
    assert response.status_code == 400, body
    assert body["ok"] is False and body["status"] == 400 and reason.lower() in body["error"].lower()
    assert _state(storage, directory) == before


@pytest.mark.parametrize("sql", [s for s, _ in FORBIDDEN[:12] if "/tmp" not in s] + TARGETED)
def test_the_database_itself_refuses_what_would_slip_past_the_parser(owner, sql):
    """Second barrier: the statement run without the parser check, in the owner's read-only transaction on an
    instance without external access, fails and changes nothing."""
    _, storage, directory = owner
    before = _state(storage, directory)
    with pytest.raises(StatementError):
        storage.run_sql(sql.replace("{d}", str(directory)), 10)
    assert _state(storage, directory) == before


def test_the_owner_runs_without_external_access_and_with_its_configuration_locked(owner):
    _, storage, _ = owner
    cursor = storage._cursor()
    assert cursor.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
    assert cursor.execute("SELECT current_setting('lock_configuration')").fetchone()[0] is True


def test_row_cap_sets_truncated(url):
    page = _post(url, {"sql": "SELECT * FROM range(1000)", "limit": 7}).json()
    assert page["count"] == 7 and page["truncated"] is True and page["truncated_by"] == "rows"
    assert [r[0] for r in page["rows"]] == list(range(7))
    assert _post(url, {"sql": "SELECT 1", "limit": 51}).status_code == 400  # above MCP_MAX_ROWS


def test_byte_cap_cuts_rows_and_a_first_row_above_it_is_a_400(url, owner):
    config, _, _ = owner
    page = _post(url, {"sql": "SELECT repeat('x', 5000) AS wide FROM range(40)", "limit": 40}).json()
    assert page["truncated"] is True and page["truncated_by"] == "bytes"
    assert 0 < page["count"] < 40 and page["bytes"] <= config.mcp_sql_max_bytes
    too_wide = _post(url, {"sql": "SELECT repeat('x', 100000) AS wide"})
    assert too_wide.status_code == 400 and "MCP_SQL_MAX_BYTES" in too_wide.json()["error"]


def test_slow_query_gets_504_and_the_server_answers_afterwards(url):
    response = _post(url, {"sql": "SELECT count(*) FROM range(100000000000) a, range(1000) b"})
    assert response.status_code == 504 and "MCP_QUERY_TIMEOUT_MS" in response.json()["error"]
    assert _post(url, {"sql": "SELECT 42 AS answer"}).json()["rows"] == [[42]]
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_a_statement_error_is_a_400_about_the_statement_without_internals(url):
    body = _post(url, {"sql": "SELECT no_such_column FROM market_data"}).json()
    assert body["status"] == 400 and "no_such_column" in body["error"]
    assert "Traceback" not in body["error"] and "/work" not in body["error"]


def test_run_analyst_sql_is_callable_without_a_server(owner):
    config, storage, _ = owner
    answer = run_analyst_sql(storage, config, "SELECT symbol FROM latest_signals ORDER BY symbol", 2)
    assert answer.page.count == answer.table.num_rows == 2


_PIECES = [
    "SELECT", "*", "count(*)", "FROM", "market_data", "latest_signals", "trading_signals", "range(100000000)",
    "read_csv('{d}/probe.csv')", "'{d}/probe.csv'", ";", "INSERT INTO quotes", "DELETE FROM", "VALUES (1)",
    "COPY", "TO '{d}/w.csv'", "ATTACH '{d}/a.duckdb'", "WITH a AS (SELECT 1)", "a", "UNION ALL", "(", ")", ",",
    "CROSS JOIN", "WHERE", "1=1", "LIMIT 5", "--", "DROP TABLE quotes", "information_schema.tables",
    "getenv('HOME')", "repeat('y', 3000)", "SET threads=1",
]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=10) | st.text(max_size=60).map(lambda t: [t]),
       limit=st.integers(1, 50))  # fmt: skip
def test_generated_statements_never_write_never_exceed_the_cap_never_5xx(url, owner, parts, limit):
    _, storage, directory = owner
    before = _state(storage, directory)
    response = _post(url, {"sql": " ".join(parts).replace("{d}", str(directory)) or " ", "limit": limit})
    assert response.status_code in (200, 400, 504), response.text
    if response.status_code == 200:
        page = response.json()
        assert page["count"] == len(page["rows"]) <= limit
    assert _state(storage, directory) == before


def test_readme_recipe_runs_as_written(owner, tmp_path):
    """The curl commands of README.md's "Analyst SQL" section, against the owner (default row cap) instead of
    port 8080."""
    config, storage, _ = owner
    with serving(small_settings(config.duckdb_path, mcp_max_rows=1000), storage) as url:
        outputs = _run_recipe(url, tmp_path)
    page = json.loads(outputs[0])
    assert page["count"] > 0 and [c["name"] for c in page["columns"]][0] == "symbol"
    assert outputs[1].splitlines()[0] == "symbol,jumps" and len(outputs[1].splitlines()) > 1
    signals = pq.read_table(tmp_path / "signals.parquet")
    assert signals.num_rows > 0 and set(signals.column("symbol").to_pylist()) == {"AAPL"}


def _run_recipe(url: str, cwd: Path) -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Analyst SQL", 1)[1]
    script = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("http://127.0.0.1:8080", url)
    commands = script.replace("\\\n", " ").strip().splitlines()
    assert len(commands) == 3
    return [subprocess.run(["bash", "-c", c], cwd=cwd, capture_output=True, text=True, timeout=60, check=True).stdout
            for c in commands]  # fmt: skip
