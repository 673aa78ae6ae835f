"""A trade is in ``get_real_time_data`` as soon as its batch is committed: no transform pass, poll or cache
period in between (issue 14 point 6: the owner answers the last trade from what its writes told it).

Through the official MCP client on a writable copy of the market file: each trade batch appended as the feed
appends it (``append_trades``) is the last trade of the next answer, with its price, while the symbol's bar,
which only a transform pass moves, stays where it was.
"""

from __future__ import annotations

import numpy as np
import pytest
from mcp import Client

from conftest import trades_from_parts, writable_copy
from server.mcp import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.duckdb]

NS = 1_000_000_000


@pytest.fixture
def storage_and_settings(market_db, tmp_path):
    storage, settings = writable_copy(market_db, tmp_path)
    yield storage, settings
    storage.close()


async def _row(client: Client, symbol: str) -> dict:
    result = await client.call_tool("get_real_time_data", {"symbol": symbol})
    assert not result.is_error, result.content[0].text
    (row,) = result.structured_content["rows"]
    return row


async def test_a_committed_trade_is_the_last_trade_of_the_next_answer_without_a_transform_pass(
    storage_and_settings,
):
    storage, settings = storage_and_settings
    async with Client(build_server(settings, storage), raise_exceptions=True) as client:
        before = await _row(client, "AAPL")
        newest = storage.newest_trade_ns()
        assert newest is not None
        for k, price in enumerate((123.25, 124.5, 122.75), start=1):
            ts = np.array([newest + k * NS], np.int64)  # after every stored trade: the newest by construction
            storage.append_trades(trades_from_parts([("stocks", "AAPL", ts, np.array([price]), np.array([7.0]))]))
            row = await _row(client, "AAPL")
            assert (row["last_trade_ns"], row["last_price"], row["last_size"]) == (int(ts[0]), price, 7.0)
            assert row["bar_end_ns"] == before["bar_end_ns"]  # no pass ran: the bar is the one before
