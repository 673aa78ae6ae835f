"""A query that fails inside the database: the client gets a generic message with a short error id on every
path (REST, the official client, the short path, the SDK, the seed-style body, ``/health``), and the log has
the database's words under the same id.

The failure is real: a copy of the fixture file whose ``trading_signals`` is a view raising DuckDB's
``error()`` with a message naming a file path, as a damaged or misconfigured database would."""

from __future__ import annotations

import logging
import re
import shutil

import duckdb
import pytest
from mcp import Client

from conftest import serving, small_settings
from security.conftest import SDK_PATH, SHORT_PATH, http_client, tools_call
from sql.duckdb_backend import DuckDBStorage

pytestmark = pytest.mark.anyio

SECRET = "internal detail: /srv/secret/warehouse.duckdb"
GENERIC = re.compile(r"^(Error executing tool get_trading_signals: )?the database failed \(error id ([0-9a-f]{8})\); "
                     r"the server log has the detail$")


@pytest.fixture(scope="module")
def failing_url(tiny_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("failing") / "market.duckdb"
    shutil.copyfile(tiny_db[0], path)
    with duckdb.connect(str(path)) as connection:
        connection.execute("ALTER TABLE trading_signals RENAME TO trading_signals_kept")
        connection.execute(f"CREATE VIEW trading_signals AS SELECT * REPLACE (CAST(error('{SECRET}') AS BIGINT) "
                           "AS bar_end_ns) FROM trading_signals_kept")  # fmt: skip
    settings = small_settings(path)
    storage = DuckDBStorage.open(settings, read_only=True)
    with serving(settings, storage) as url:
        yield url
    storage.close()


def _error_ids(texts: dict[str, str]) -> dict[str, str]:
    ids = {}
    for path, text in texts.items():
        match = GENERIC.match(text)
        assert match, (path, text)
        ids[path] = match.group(2)
    return ids


async def test_a_failing_query_is_a_generic_message_with_an_error_id_whose_detail_is_logged(failing_url, caplog):
    caplog.set_level(logging.INFO)
    arguments = {"symbol": "AAPL", "limit": 3}
    texts: dict[str, str] = {}
    rest = http_client.get(f"{failing_url}/api/v1/trading-signals", params=arguments)
    assert rest.status_code == 503
    texts["rest"] = rest.json()["error"]
    for path, headers in (("short path", SHORT_PATH), ("sdk", SDK_PATH)):
        result = http_client.post(f"{failing_url}/mcp", json=tools_call("get_trading_signals", arguments), headers=headers).json()
        assert result["result"]["isError"], path
        texts[path] = result["result"]["content"][0]["text"]
    seed = http_client.post(f"{failing_url}/mcp", json={"method": "get_trading_signals", "params": arguments, "id": 1}).json()
    texts["seed body"] = seed["result"]["content"][0]["text"]
    async with Client(f"{failing_url}/mcp") as client:
        result = await client.call_tool("get_trading_signals", arguments)
    assert result.is_error
    texts["sdk client"] = result.content[0].text
    health = http_client.get(f"{failing_url}/health")
    assert health.status_code == 503
    texts["health"] = health.json()["error"]

    ids = _error_ids(texts)
    assert len(set(ids.values())) == len(ids), "one id per failure"
    for path, error_id in ids.items():
        logged = [r.getMessage() for r in caplog.records if error_id in r.getMessage() and SECRET in r.getMessage()]
        assert len(logged) == 1 and "\n" not in logged[0], (path, logged)
    assert all(SECRET not in text and "/srv/" not in text for text in texts.values())
