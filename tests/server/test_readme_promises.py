"""README promises that had no test of their own (issue 16, point 2): REST 404 for an unknown symbol and 504
past the time limit, 127.0.0.1 by default, ``.env`` under the environment, the response cache
(``MCP_RESPONSE_CACHE_MS``: an answer at most that much behind a change, its ``as_of`` kept; 0 = off)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import small_settings, trades_from_parts, writable_copy
from server.app import build_app
from sql.settings import Settings


@pytest.fixture(scope="module")
def client(market_db, market_storage):
    app = build_app(small_settings(market_db, mcp_allowed_hosts="testserver", mcp_query_timeout_ms=300),
                    market_storage)
    with TestClient(app) as connected:
        yield connected


def _error_shape(body: dict, status: int) -> None:
    assert body["ok"] is False and body["status"] == status and body["error"] and isinstance(body["errors"], list)


@pytest.mark.parametrize("route", ["trading-signals?symbol=NOPE", "jump-events?symbols=NOPE",
                                   "enriched-data?symbol=NOPE", "chart/NOPE.png"])
def test_rest_answers_404_for_an_unknown_symbol(client, route):
    response = client.get(f"/api/v1/{route}")
    assert response.status_code == 404
    body = response.json()
    _error_shape(body, 404)
    assert "unknown symbol" in body["error"] and "'NOPE'" in body["error"]


def test_rest_answers_504_when_a_query_passes_the_time_limit(client, market_storage, monkeypatch):
    registry = market_storage._queries._queries
    pages = [name for name in registry if name.startswith("trading_signals") and name.endswith("page")]
    assert pages
    for name in pages:  # the same statements and parameters, made slow: they can only end by the time limit
        page = registry[name]
        slow_text = (f"SELECT * FROM ({page.text.strip().rstrip(';')}) "
                     "WHERE (SELECT count(*) FROM range(100000000000)) > 0")
        monkeypatch.setitem(registry, name, dataclasses.replace(page, text=slow_text))
    # a window that ends before the bars kept in memory: only the (slow) SQL can answer it
    response = client.get("/api/v1/trading-signals?symbol=AAPL&end=2000-01-01T00:00:00Z")
    assert response.status_code == 504
    body = response.json()
    _error_shape(body, 504)
    assert "MCP_QUERY_TIMEOUT_MS" in body["error"]


def test_servers_bind_to_loopback_unless_told_otherwise(monkeypatch, tmp_path):
    for name in ("MCP_HOST", "METRICS_HOST", "SIM_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=tmp_path / "missing.env")  # type: ignore[call-arg]
    assert settings.mcp_host == settings.metrics_host == settings.sim_host == "127.0.0.1"


def test_the_environment_wins_over_dot_env_which_wins_over_defaults(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MCP_PORT=9101\nMCP_MAX_ROWS=77\n")
    monkeypatch.setenv("MCP_PORT", "9202")
    monkeypatch.delenv("MCP_MAX_ROWS", raising=False)
    monkeypatch.delenv("MCP_DEFAULT_ROWS", raising=False)
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.mcp_port == 9202  # environment over .env
    assert settings.mcp_max_rows == 77  # .env over the default
    assert settings.mcp_default_rows == Settings.model_fields["mcp_default_rows"].default  # default


# --- the response cache (README "REST and operations": MCP_RESPONSE_CACHE_MS) ---------------------------

def _newest_trades(client) -> dict:
    """The short-form ``tools/call`` of the README's curl examples: the newest AAPL trades."""
    response = client.post("/mcp", json={"method": "get_enriched_data", "params": {"symbol": "AAPL", "limit": 3},
                                         "id": "1"})
    assert response.status_code == 200, response.text
    return response.json()["result"]["structuredContent"]


@pytest.fixture
def writable(market_db, tmp_path):
    storage, settings = writable_copy(market_db, tmp_path)
    yield storage, settings.duckdb_path
    storage.close()


def _add_trade(storage) -> float:
    """Store one AAPL trade a second after the newest one; return its price (unlike any stored one)."""
    newest = storage.newest_trade_ns()
    assert newest is not None
    price = 4321.5
    storage.append_trades(trades_from_parts([("stocks", "AAPL", np.array([newest + 10**9]), np.array([price]),
                                              np.array([7.0]))]))
    return price


def _client(writable, cache_ms: int) -> TestClient:
    storage, path = writable
    settings = small_settings(path, mcp_allowed_hosts="testserver", mcp_response_cache_ms=cache_ms)
    return TestClient(build_app(settings, storage))


def test_a_cached_answer_is_served_unchanged_until_the_data_version_is_checked_again(writable):
    with _client(writable, 600_000) as client:  # checked again only after ten minutes
        first = _newest_trades(client)
        price = _add_trade(writable[0])
        again = _newest_trades(client)
    assert again == first  # the same answer, its as_of included: at most MCP_RESPONSE_CACHE_MS behind
    assert all(row["price"] != price for row in again["rows"])


def test_with_the_cache_off_every_answer_sees_the_data(writable):
    with _client(writable, 0) as client:
        first = _newest_trades(client)
        price = _add_trade(writable[0])
        after = _newest_trades(client)
    assert first["rows"][0]["price"] != price and after["rows"][0]["price"] == price
    assert after["as_of"] >= first["as_of"]


def test_the_cache_refreshes_when_the_data_change(writable):
    with _client(writable, 100) as client:
        first = _newest_trades(client)
        assert _newest_trades(client) == first  # served from the cache while the data are unchanged
        price = _add_trade(writable[0])
        deadline = time.monotonic() + 30  # a bound on the wait, not a timing assertion
        while (after := _newest_trades(client))["rows"][0]["price"] != price:
            assert time.monotonic() < deadline, "the cache never noticed the new trade"
            time.sleep(0.05)
    assert after["as_of"] > first["as_of"]
