"""Safety limits seen from the tools: the query time limit, read-only access and secrets kept out of logs."""

from __future__ import annotations

import logging

import httpx
import pytest
from mcp import Client

from conftest import serving, small_settings
from server.mcp import build_server
from sql.duckdb_backend import DuckDBStorage

pytestmark = pytest.mark.anyio


async def test_a_query_past_the_time_limit_is_an_error_naming_the_setting(market_db, monkeypatch):
    from sql.queries import NamedQuery

    settings = small_settings(market_db, mcp_query_timeout_ms=200)
    storage = DuckDBStorage.open(settings, read_only=True)
    # The tool's own query with the same parameters, made slow for certain by a huge cross join, so the
    # interrupt (not scheduling luck) decides the outcome.
    real = storage._queries["symbol_metrics_page"]
    slow_text = real.text.replace("FROM page\n", "FROM page, (SELECT count(*) FROM range(100000000000)) AS slow\n", 1)
    assert slow_text != real.text
    monkeypatch.setitem(storage._queries._queries, "symbol_metrics_page", NamedQuery(real.name, real.params, real.returns, slow_text))
    try:
        async with Client(build_server(settings, storage)) as client:
            result = await client.call_tool("get_symbol_metrics", {"limit": 100})
        assert result.is_error
        assert "MCP_QUERY_TIMEOUT_MS=200" in result.content[0].text
    finally:
        storage.close()


def test_the_server_connection_cannot_write(market_storage):
    cursor = market_storage._cursor()
    with pytest.raises(Exception, match="read-only"):
        cursor.execute("DELETE FROM trading_signals")


def test_secrets_never_appear_in_settings_reprs():
    settings = small_settings("x.duckdb", mcp_auth_token="tok-123456", polygon_api_key="key-987654",
                              vertica_pass="pw-24680")  # fmt: skip
    text = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("tok-123456", "key-987654", "pw-24680"):
        assert secret not in text


def test_the_bearer_token_never_reaches_the_logs(market_db, market_storage, caplog):
    caplog.set_level(logging.DEBUG)
    settings = small_settings(market_db, mcp_auth_token="very-secret-token-42")
    with serving(settings, market_storage) as url:
        headers = {"Authorization": "Bearer very-secret-token-42"}
        assert httpx.post(f"{url}/mcp", json={"method": "get_jump_events", "id": 1}, headers=headers).status_code == 200
        bad = {"Authorization": "Bearer wrong-token-0000"}
        assert httpx.post(f"{url}/mcp", json={"method": "get_jump_events", "id": 1}, headers=bad).status_code == 401
    assert "very-secret-token-42" not in caplog.text and "wrong-token-0000" not in caplog.text
    assert caplog.records, "the server logged nothing at all: the test would prove nothing"
