"""REST mirrors under /api/v1: same answers and messages as the tools, one error shape, and conformance to
their own OpenAPI document (schemathesis)."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from fastapi.testclient import TestClient

from conftest import serving, small_settings
from server.app import build_app

ROUTES = ["enriched-data?symbol=AAPL", "trading-signals", "jump-events?hours_back=48", "symbol-metrics",
          "real-time-data"]  # fmt: skip


@pytest.fixture(scope="module")
def app(market_db, market_storage):
    return build_app(small_settings(market_db, mcp_allowed_hosts="testserver,127.0.0.1:*"), market_storage)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as connected:
        yield connected


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_a_page(client, route):
    body = client.get(f"/api/v1/{route}").json()
    assert body["count"] == len(body["rows"]) > 0
    assert {"truncated", "next_cursor", "as_of"} <= set(body)


def test_repeated_symbols_filter_several_tickers(client):
    rows = client.get("/api/v1/trading-signals?symbols=aapl&symbols=BTC-USD&limit=100").json()["rows"]
    assert {r["symbol"] for r in rows} == {"AAPL", "BTC-USD"}


@pytest.mark.parametrize(
    ("query", "argument"),
    [("trading-signals?limit=0", "limit"), ("jump-events?direction=sideways", "direction"),
     ("trading-signals?symbol=AAPL&symbols=MSFT", "symbol or symbols"), ("symbol-metrics?start=noon", "start")],
)  # fmt: skip
def test_bad_arguments_get_400_in_the_one_error_shape(client, query, argument):
    response = client.get(f"/api/v1/{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False and body["status"] == 400 and argument in body["error"]
    assert isinstance(body["errors"], list)


def test_chart_route_returns_a_png(client):
    response = client.get("/api/v1/chart/AAPL.png?hours_back=12")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_metrics_count_calls_and_errors_per_tool_and_transport(client):
    client.get("/api/v1/trading-signals?limit=1")
    client.get("/api/v1/trading-signals?symbol=NOPE")
    text = client.get("/metrics").text
    assert 'microstructure_tool_requests_total{tool="get_trading_signals",transport="rest"}' in text
    assert 'microstructure_tool_errors_total{tool="get_trading_signals",transport="rest"}' in text
    assert "microstructure_tool_latency_seconds_bucket" in text


def test_rest_routes_conform_to_their_openapi_document(market_db, market_storage):
    """schemathesis generates requests from /openapi.json; every answer must match the document, never 5xx."""
    with serving(small_settings(market_db), market_storage) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8
        for operation in operations:

            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(max_examples=25, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
            def conforms(case: schemathesis.Case) -> None:
                # Cross-field rules (end after start, hours_back or start) are not expressible in OpenAPI,
                # so a schema-valid request may rightly get 400; every other check applies.
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            conforms()
