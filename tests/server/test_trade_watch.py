"""The transform loop's watch of the trades (``server/trade_watch.py``) and write listeners that go away.

A :class:`TradeWatch` on a real DuckDB file must know what ``trade_symbols`` and ``newest_trade_ns`` answer after
every write, and wake its waiter exactly once, when a stored trade reaches the time asked for. Listeners added
by ``build_app`` / ``build_server`` must stop being told of writes once the app shuts down or the server is
dropped (issue 14 follow-up: they were never removed).
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from conftest import small_settings, trades_from_parts
from server.app import build_app
from server.mcp import build_server
from server.trade_watch import TradeWatch
from sql.duckdb_backend import DuckDBStorage

pytestmark = pytest.mark.duckdb

NS = 1_000_000_000
T0 = 1_710_000_000 * NS


def _batch(market: str, symbol: str, seconds: list[float]):
    ts = np.array([T0 + round(s * NS) for s in seconds], np.int64)
    return trades_from_parts([(market, symbol, ts, np.full(ts.size, 10.0), np.ones(ts.size))])


@pytest.fixture
def storage(tmp_path: Path):
    storage = DuckDBStorage.open(small_settings(tmp_path / "watch.duckdb"))
    storage.apply_schema()
    storage.append_trades(_batch("stocks", "AAPL", [0, 1, 2]))
    yield storage
    storage.close()


def test_the_watch_knows_what_the_sql_answers_after_every_write(storage) -> None:
    watch = TradeWatch.attach(storage)
    assert watch is not None
    for batch in (_batch("crypto", "X:BTCUSD", [1.5, 3]), _batch("stocks", "AAPL", [2.5]),
                  _batch("stocks", "MSFT", [0.5]), _batch("crypto", "X:BTCUSD", [3])):  # an older and a duplicate
        storage.append_trades(batch)
        assert sorted(watch.symbols() or []) == sorted(storage.trade_symbols())
        assert watch.newest_ns == storage.newest_trade_ns()


def test_the_waiter_is_woken_once_when_a_stored_trade_reaches_its_time(storage) -> None:
    watch = TradeWatch.attach(storage)
    assert watch is not None
    woken: list[int] = []
    watch.wake_when(T0 + 5 * NS, lambda: woken.append(watch.newest_ns or 0))
    storage.append_trades(_batch("stocks", "AAPL", [3, 4.9]))
    assert woken == []
    storage.append_trades(_batch("stocks", "AAPL", [4, 5]))  # reaches it exactly
    storage.append_trades(_batch("stocks", "AAPL", [7]))
    assert woken == [T0 + 5 * NS]
    watch.wake_when(T0 + 1 * NS, lambda: woken.append(-1))  # already reached: at once
    assert woken[-1] == -1
    watch.wake_when(T0 + 9 * NS, lambda: woken.append(-2))
    watch.wake_when(None, None)  # removed: never called
    storage.append_trades(_batch("stocks", "AAPL", [10]))
    assert woken[-1] == -1
    watch.detach()
    assert watch not in storage.write_listeners
    storage.append_trades(_batch("crypto", "X:ETHUSD", [11]))
    assert ("crypto", "X:ETHUSD") not in (watch.symbols() or [])


def test_the_app_stops_listening_when_it_shuts_down(storage, tmp_path: Path) -> None:
    settings = small_settings(tmp_path / "watch.duckdb")
    app = build_app(settings, storage)
    assert len(storage.write_listeners) == 3  # the newest rows, the jump events and the kept signal bars
    with TestClient(app) as client:
        assert client.get("/health", headers={"Host": f"127.0.0.1:{settings.mcp_port}"}).status_code == 200
    assert storage.write_listeners == ()
    del app


def test_a_dropped_server_stops_listening(storage, tmp_path: Path) -> None:
    server = build_server(small_settings(tmp_path / "watch.duckdb"), storage)
    assert len(storage.write_listeners) == 3
    del server
    gc.collect()
    assert storage.write_listeners == ()
    storage.append_trades(_batch("stocks", "AAPL", [12]))  # nobody left to tell: the write stands
    assert storage.newest_trade_ns() == T0 + 12 * NS
