"""``microstructure serve --transport stdio`` driven by the official MCP client as a subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from server.mcp import TOOL_NAMES

pytestmark = pytest.mark.anyio


async def test_official_client_over_stdio_lists_and_calls_every_tool(market_db: Path):
    executable = Path(sys.executable).with_name("microstructure")
    env = {**os.environ, "DUCKDB_PATH": str(market_db), "SESSION_STOCKS": "00:00-24:00 UTC"}
    parameters = StdioServerParameters(command=str(executable), args=["serve", "--transport", "stdio"], env=env)
    async with Client(parameters) as client:
        assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
        for name, arguments in [
            ("get_enriched_data", {"symbol": "BTC-USD", "limit": 3}),
            ("get_trading_signals", {"symbol": "ETH-USD", "limit": 3}),
            ("get_jump_events", {"limit": 3}),
        ]:
            result = await client.call_tool(name, arguments)
            assert not result.is_error, result.content
            assert result.structured_content["count"] == 3
