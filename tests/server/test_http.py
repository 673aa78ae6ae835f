"""The HTTP app on a real socket: the official MCP client over Streamable HTTP, plain JSON-RPC and the
seed-style curl body. Host/Origin, the bearer token, body limits and malformed requests: ``tests/security/``."""

from __future__ import annotations


import httpx
import pytest
from mcp import Client

from conftest import serving, small_settings
from server.mcp import TOOL_NAMES

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def base_url(market_db, market_storage):
    with serving(small_settings(market_db), market_storage) as url:
        yield url


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_official_client_lists_and_calls_every_tool_over_streamable_http(base_url, mode):
    async with Client(f"{base_url}/mcp", mode=mode) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == set(TOOL_NAMES)
        assert all(t.output_schema and t.input_schema for t in tools)
        for name, arguments in [
            ("get_enriched_data", {"symbol": "AAPL", "limit": 5, "hours_back": 1}),
            ("get_trading_signals", {"symbol": "AAPL", "limit": 5}),
            ("get_jump_events", {"hours_back": 48, "limit": 5}),
        ]:
            result = await client.call_tool(name, arguments)
            assert not result.is_error, result.content
            assert result.structured_content["count"] == 5


def test_seed_style_body_gets_a_json_rpc_response_with_the_tool_result(base_url):
    body = {"method": "get_trading_signals", "params": {"symbol": "AAPL", "limit": 3}, "id": "2"}
    response = httpx.post(f"{base_url}/mcp", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["jsonrpc"] == "2.0" and answer["id"] == "2"
    result = answer["result"]
    assert result["isError"] is False
    assert [r["symbol"] for r in result["structuredContent"]["rows"]] == ["AAPL"] * 3


def test_seed_style_bad_argument_is_an_error_result_naming_it(base_url):
    body = {"method": "get_jump_events", "params": {"limit": 5000}, "id": 7}
    answer = httpx.post(f"{base_url}/mcp", json=body).json()
    assert answer["id"] == 7 and answer["result"]["isError"] is True
    assert "limit" in answer["result"]["content"][0]["text"]


def test_plain_json_rpc_tools_call_needs_no_session(base_url):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_jump_events", "arguments": {"limit": 2}}}  # fmt: skip
    response = httpx.post(f"{base_url}/mcp", json=body, headers={"Accept": "application/json, text/event-stream"})
    assert response.status_code == 200
    assert response.json()["result"]["structuredContent"]["count"] == 2


def test_health_reports_a_reachable_database_and_data_age(base_url):
    health = httpx.get(f"{base_url}/health").json()
    assert health["ok"] is True and health["database"] == "reachable"
    assert 0 <= health["newest_trade_age_seconds"] < 3600
    assert health["checked_at"] <= health["as_of"]  # the database part comes from the newest check
