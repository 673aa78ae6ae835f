"""The REST routes in process on a small real DuckDB file: each route gives the tool function's page for the
same arguments, every bound of the routes' arguments, the error statuses (400, 404, 406, 503, 504) in the one
error shape, format negotiation and the per-tool metrics (the routes over a socket: ``test_rest.py``)."""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from conftest import small_settings
from server.app import build_app
from server.rest import _negotiate, error_body
from server.tools import market
from sql.duckdb_backend import DuckDBStorage

BAR = 60


@pytest.fixture(scope="module")
def tiny(tiny_db):
    return tiny_db


@pytest.fixture
def client(tiny):
    """A new app per test: the routes and error handlers are closures made by ``build_app``, and a mutation
    run maps each test to the functions it calls (a module-wide app would be mapped to the first test only)."""
    path, storage = tiny
    with TestClient(build_app(small_settings(path, mcp_allowed_hosts="testserver"), storage)) as connected:
        yield connected


def _same(rest: dict[str, Any], page: Any) -> None:
    expected = page.model_dump(mode="json")
    rest, expected = dict(rest), dict(expected)
    del rest["as_of"], expected["as_of"]
    assert rest == expected


def _newest_bar(storage) -> int:
    return storage.fetch_one("SELECT max(bar_end_ns) FROM trading_signals")[0]


def test_enriched_data_is_the_tools_page(client, tiny):
    _, storage = tiny
    end = _newest_bar(storage) - 600 * 10**9
    args = {"symbol": "msft", "limit": 7, "start": end - 3600 * 10**9, "end": end}
    body = client.get("/api/v1/enriched-data", params=args).json()
    _same(body, market.enriched_data(storage, bar_seconds=BAR, **args))
    assert body["count"] == 7 and all(row["ts_ns"] < end for row in body["rows"])
    after = client.get("/api/v1/enriched-data", params={**args, "cursor": body["next_cursor"]}).json()
    _same(after, market.enriched_data(storage, bar_seconds=BAR, **args, cursor=body["next_cursor"]))
    assert after["rows"][0]["ts_ns"] <= body["rows"][-1]["ts_ns"]
    # the session-wide file ends when the test session began: the window reaches one minute before its newest
    # MSFT trade, however long ago that was
    (newest,) = storage.fetch_one("SELECT max(ts_ns) FROM market_data WHERE symbol = 'MSFT'")
    hours_back = (time.time_ns() - newest + 60 * 10**9) / 3600e9
    recent = client.get("/api/v1/enriched-data", params={"symbol": "MSFT", "hours_back": hours_back,
                                                          "limit": 100}).json()  # fmt: skip
    assert 0 < recent["count"] < 100 and recent["rows"][0]["ts_ns"] == newest


VIEW_PAGE = ("SELECT * FROM enriched_market_data WHERE symbol = $symbol AND ts_ns >= $start AND ts_ns < $end "
             "AND (bar_seconds = $bar OR bar_seconds IS NULL) AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id)"
             " < ($after_ts_ns, $after_exchange, $after_trade_id)) ORDER BY ts_ns DESC, exchange DESC, trade_id DESC "
             "LIMIT $limit")


def test_enriched_data_pages_equal_the_views_rows_on_random_windows_and_limits(client, tiny):
    """The REST route's pages, followed through their cursors, are the view's rows (every field but the ISO ``ts``)."""
    _, storage = tiny
    first, last = storage.fetch_one("SELECT min(ts_ns), max(ts_ns) FROM market_data")
    symbols = [r[0] for r in storage.fetch_all("SELECT DISTINCT symbol FROM market_data ORDER BY 1")]
    columns = [r[0] for r in storage.fetch_all("SELECT column_name FROM (DESCRIBE enriched_market_data)")]
    draw = random.Random(19)
    for _ in range(12):
        symbol = draw.choice(symbols)
        start = first + int(draw.uniform(-0.1, 1.0) * (last - first))
        args = {"symbol": symbol, "limit": draw.randint(1, 60), "start": max(start, 0),
                "end": start + draw.choice([10**9, 600 * 10**9, 4 * 3600 * 10**9])}
        after = (None, None, None)
        for _ in range(3):
            body = client.get("/api/v1/enriched-data", params=args).json()
            view = storage.fetch_all(VIEW_PAGE, {"symbol": symbol, "start": args["start"], "end": args["end"],
                                                 "bar": BAR, "after_ts_ns": after[0], "after_exchange": after[1],
                                                 "after_trade_id": after[2], "limit": args["limit"] + 1})
            assert body["count"] == min(len(view), args["limit"]) and body["truncated"] == (len(view) > args["limit"])
            for row, want in zip(body["rows"], view, strict=False):
                expected = dict(zip(columns, want, strict=True))
                for field, value in row.items():
                    if field == "ts":
                        continue
                    if isinstance(value, float):
                        assert math.isclose(value, expected[field], rel_tol=1e-12), (field, args)
                    else:
                        assert value == expected[field], (field, args)
            if not body["next_cursor"]:
                break
            tail = body["rows"][-1]
            after = (tail["ts_ns"], tail["exchange"], tail["trade_id"])
            args["cursor"] = body["next_cursor"]


def test_trading_signals_are_the_tools_page(client, tiny):
    _, storage = tiny
    end = _newest_bar(storage)
    for args in ({"symbols": ["SPY", "aapl"], "limit": 9, "signal_type": "BUY", "start": 0, "end": end},
                 {"symbol": "TSLA", "limit": 5, "signal_type": "SELL", "start": end - 7200 * 10**9},
                 {"limit": 4}):  # fmt: skip
        body = client.get("/api/v1/trading-signals", params=args).json()
        _same(body, market.trading_signals(storage, bar_seconds=BAR, **args))
        assert body["count"] > 0
    body = client.get("/api/v1/trading-signals", params={"limit": 4, "hours_back": 1}).json()
    assert body["count"] == 4 and body["rows"][0]["bar_end_ns"] == end
    nxt = client.get("/api/v1/trading-signals", params={"limit": 4, "cursor": body["next_cursor"]}).json()
    assert nxt["rows"][0]["bar_end_ns"] <= body["rows"][-1]["bar_end_ns"] and nxt["rows"] != body["rows"]


def test_jump_events_are_the_tools_page(client, tiny):
    _, storage = tiny
    for args in ({"symbols": ["SPY", "AAPL", "TSLA"], "limit": 5, "direction": "up", "min_abs_stat": 9.0},
                 {"symbol": "MSFT", "limit": 3, "direction": "down", "start": 1, "end": _newest_bar(storage)},
                 {"limit": 6, "hours_back": 2}):  # fmt: skip
        body = client.get("/api/v1/jump-events", params=args).json()
        _same(body, market.jump_events(storage, bar_seconds=BAR, **args))
        assert body["count"] > 0
    body = client.get("/api/v1/jump-events", params={"limit": 2}).json()
    nxt = client.get("/api/v1/jump-events", params={"limit": 2, "cursor": body["next_cursor"]}).json()
    _same(nxt, market.jump_events(storage, bar_seconds=BAR, limit=2, cursor=body["next_cursor"]))


def test_symbol_metrics_and_real_time_data_are_the_tools_pages(client, tiny):
    _, storage = tiny
    args = {"symbols": ["SPY", "MSFT"], "limit": 1, "start": 0, "end": _newest_bar(storage)}
    body = client.get("/api/v1/symbol-metrics", params=args).json()
    _same(body, market.symbol_metrics(storage, bar_seconds=BAR, **args))
    nxt = client.get("/api/v1/symbol-metrics", params={**args, "cursor": body["next_cursor"]}).json()
    _same(nxt, market.symbol_metrics(storage, bar_seconds=BAR, **args, cursor=body["next_cursor"]))
    assert client.get("/api/v1/symbol-metrics", params={"hours_back": 1}).json()["count"] > 0
    live = client.get("/api/v1/real-time-data", params={"symbols": ["spy", "MSFT"], "limit": 1}).json()
    assert [row["symbol"] for row in live["rows"]] == [market.real_time_data(
        storage, symbols=["SPY", "MSFT"], limit=1, bar_seconds=BAR).rows[0].symbol] and live["truncated"] is True
    one = client.get("/api/v1/real-time-data", params={"symbol": "aapl"}).json()
    assert [row["symbol"] for row in one["rows"]] == ["AAPL"]


def test_the_default_page_is_the_smaller_of_the_default_and_the_cap(client):
    for route in ("trading-signals", "jump-events", "enriched-data?symbol=AAPL"):
        assert client.get(f"/api/v1/{route}").json()["count"] == 20
    assert client.get("/api/v1/trading-signals?limit=100").json()["count"] == 100


@pytest.mark.parametrize(
    ("query", "argument"),
    [("trading-signals?limit=0", "limit"), ("trading-signals?limit=101", "limit"), ("enriched-data", "symbol"),
     ("enriched-data?symbol=-X", "symbol"), ("jump-events?symbol=A%20B", "symbol"),
     ("symbol-metrics?symbols=AAPL&symbols=x%3By", "symbols.1"), ("jump-events?min_abs_stat=-0.1", "min_abs_stat"),
     ("jump-events?min_abs_stat=1000000.5", "min_abs_stat"), ("trading-signals?hours_back=0", "hours_back"),
     ("symbol-metrics?hours_back=8784.01", "hours_back"), ("trading-signals?signal_type=buy", "signal_type"),
     ("jump-events?direction=sideways", "direction"), ("symbol-metrics?start=" + "1" * 41, "start"),
     ("trading-signals?end=" + "1" * 41, "end"), ("trading-signals?cursor=" + "a" * 513, "cursor"),
     ("real-time-data?limit=0", "limit"), ("chart/AAPL.png?max_bars=9", "max_bars"),
     ("chart/AAPL.png?max_bars=5001", "max_bars"), ("chart/A%20B.png", "symbol"),
     ("trading-signals?" + "&".join(["symbols=A"] * 51), "symbols")],
)  # fmt: skip
def test_each_argument_bound_is_a_400_naming_the_argument(client, query, argument):
    response = client.get(f"/api/v1/{query}")
    body = response.json()
    assert response.status_code == 400 and body["ok"] is False and body["status"] == 400
    assert [e["argument"] for e in body["errors"]] == [argument]
    assert body["error"] == f"invalid arguments: {argument}: {body['errors'][0]['message']}"


@pytest.mark.parametrize(
    "query",
    ["symbol-metrics?hours_back=8784", "jump-events?min_abs_stat=1000000", "jump-events?min_abs_stat=0",
     "trading-signals?" + "&".join(["symbols=AAPL"] * 50), "trading-signals?limit=1&start=" + "%20" * 39 + "0"],
)  # fmt: skip
def test_the_bounds_themselves_are_accepted(client, query):
    assert client.get(f"/api/v1/{query}").status_code == 200


def test_the_chart_is_a_png_and_its_bars_are_bounded_both_ways(client):
    for max_bars in (10, 5000):
        response = client.get(f"/api/v1/chart/aapl.png?hours_back=2&max_bars={max_bars}")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    wide = client.get("/api/v1/chart/AAPL.png?start=0").content
    assert wide == client.get("/api/v1/chart/AAPL.png?start=0&max_bars=600").content
    assert wide != client.get("/api/v1/chart/AAPL.png?start=0&max_bars=10").content


def test_argument_and_symbol_errors_are_400_and_404_in_the_one_shape(client):
    both = client.get("/api/v1/trading-signals?symbol=AAPL&symbols=MSFT")
    assert both.status_code == 400 and both.json() == {
        "ok": False, "error": "give symbol or symbols, not both", "errors": [], "status": 400}
    unknown = client.get("/api/v1/jump-events?symbol=NOPE")
    assert unknown.status_code == 404 and unknown.json() == {
        "ok": False, "error": "unknown symbol 'NOPE': no trades are stored for it", "errors": [], "status": 404}
    window = client.get("/api/v1/symbol-metrics?start=5&end=4")
    assert window.status_code == 400 and window.json()["error"].startswith("end (1970-01-01T00:00:00.000Z) must be")


def test_the_error_body_is_the_one_shape():
    response = error_body(418, "short and stout")
    assert response.status_code == 418
    assert response.body == b'{"ok":false,"error":"short and stout","errors":[],"status":418}'
    assert error_body(400, "x", [{"argument": "a"}]).body.endswith(b'"errors":[{"argument":"a"}],"status":400}')


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [(None, "json"), ("", "json"), ("*/*", "json"), ("application/*", "json"), ("application/json", "json"),
     ("text/csv", "csv"), ("TEXT/CSV; q=0.9", "csv"), ("image/png, text/csv", "csv"),
     (" application/vnd.apache.arrow.stream ", "arrow"), ("application/vnd.apache.parquet", "parquet"),
     ("text/csv, application/json", "csv"), ("image/png", None), ("text/*", None), ("image/png;q=1, */*", "json")],
)  # fmt: skip
def test_accept_chooses_the_first_offered_format(accept, fmt):
    assert _negotiate(accept) == fmt


def test_sql_answers_in_the_chosen_format_with_row_headers(client):
    body = {"sql": "SELECT symbol FROM trading_signals ORDER BY bar_end_ns, symbol", "limit": 3}
    plain = client.post("/api/v1/sql", json=body)
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    assert plain.json()["count"] == 3 and plain.json()["truncated"] is True
    assert (plain.headers["x-row-count"], plain.headers["x-truncated"]) == ("3", "true")
    csv = client.post("/api/v1/sql", json=body, headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[0] == "symbol"
    assert len(csv.text.splitlines()) == 4
    chosen = client.post("/api/v1/sql", json={**body, "format": "arrow"}, headers={"Accept": "text/csv"})
    assert chosen.headers["content-type"] == "application/vnd.apache.arrow.stream"
    whole = client.post("/api/v1/sql", json={"sql": "SELECT 1 AS one"})
    assert (whole.headers["x-row-count"], whole.headers["x-truncated"]) == ("1", "false")
    default = client.post("/api/v1/sql", json={"sql": "SELECT * FROM trading_signals"}).json()
    assert default["count"] == 20


def test_sql_refuses_what_no_format_or_bound_allows(client):
    refused = client.post("/api/v1/sql", json={"sql": "SELECT 1"}, headers={"Accept": "image/png"})
    assert refused.status_code == 406 and refused.json() == {
        "ok": False, "status": 406, "errors": [],
        "error": "Accept 'image/png' names no offered format: application/json, text/csv, "
                 "application/vnd.apache.arrow.stream, application/vnd.apache.parquet"}  # fmt: skip
    for bad, argument in (({"sql": ""}, "sql"), ({"sql": "x" * 100_001}, "sql"), ({"sql": "SELECT 1", "limit": 0},
                          "limit"), ({"sql": "SELECT 1", "limit": 101}, "limit"),
                          ({"sql": "SELECT 1", "format": "xml"}, "format")):  # fmt: skip
        response = client.post("/api/v1/sql", json=bad)
        assert response.status_code == 400 and response.json()["errors"][0]["argument"] == argument
    assert client.post("/api/v1/sql", json={"sql": "SELECT 1", "limit": 100}).status_code == 200
    assert client.post("/api/v1/sql", json={"sql": "SELECT 1", "limit": 1}).json()["count"] == 1
    one = client.post("/api/v1/sql", json={"sql": "x"})  # one character passes the bound; the SQL check refuses it
    assert one.status_code == 400 and one.json()["errors"] == [] and "invalid arguments" not in one.json()["error"]
    assert client.post("/api/v1/sql", json={"sql": "DELETE FROM trading_signals"}).status_code == 400


def test_every_route_counts_its_calls_under_its_tool_name(client):
    for route in ("enriched-data?symbol=AAPL&limit=1", "trading-signals?limit=1", "jump-events?limit=1",
                  "symbol-metrics?limit=1", "real-time-data?limit=1", "chart/AAPL.png?hours_back=1"):
        assert client.get(f"/api/v1/{route}").status_code == 200
    assert client.post("/api/v1/sql", json={"sql": "SELECT 1"}).status_code == 200
    client.get("/api/v1/trading-signals?symbol=NOPE")
    text = client.get("/metrics").text
    for tool in ("get_enriched_data", "get_trading_signals", "get_jump_events", "get_symbol_metrics",
                 "get_real_time_data", "get_chart", "query"):
        assert f'microstructure_tool_requests_total{{tool="{tool}",transport="rest"}}' in text, tool
    assert 'microstructure_tool_errors_total{tool="get_trading_signals",transport="rest"}' in text
    paths = {line.split("{")[1].split("}")[0] for line in text.splitlines()
             if line.startswith("microstructure_read_path_total")}  # fmt: skip
    assert {p.split(",")[1] for p in paths} >= {'tool="get_trading_signals"', 'tool="get_jump_events"',
                                                 'tool="get_real_time_data"'}  # fmt: skip


def test_the_routes_are_documented_under_their_tool_names_with_their_error_statuses(client):
    document = client.get("/openapi.json").json()
    summaries = {path: next(iter(item.values()))["summary"] for path, item in document["paths"].items()
                 if path.startswith("/api/v1/")}  # fmt: skip
    assert summaries == {
        "/api/v1/enriched-data": "get_enriched_data", "/api/v1/trading-signals": "get_trading_signals",
        "/api/v1/jump-events": "get_jump_events", "/api/v1/symbol-metrics": "get_symbol_metrics",
        "/api/v1/real-time-data": "get_real_time_data", "/api/v1/chart/{symbol}.png": "get_chart",
        "/api/v1/sql": "query: one read-only SQL statement over the documented tables and views"}  # fmt: skip
    for path in summaries:
        (operation,) = document["paths"][path].values()
        assert {"400", "404", "503", "504"} <= set(operation["responses"]), path
        assert operation["tags"] == ["tools"]
        assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"}
    assert set(document["paths"]["/api/v1/sql"]["post"]["responses"]["200"]["content"]) == {
        "application/json", "text/csv", "application/vnd.apache.arrow.stream", "application/vnd.apache.parquet"}
    chart = document["paths"]["/api/v1/chart/{symbol}.png"]["get"]["responses"]["200"]["content"]
    assert "image/png" in chart


def test_a_query_past_the_time_limit_is_504(tiny):
    path, storage = tiny
    settings = small_settings(path, mcp_allowed_hosts="testserver", mcp_query_timeout_ms=300)
    slow = DuckDBStorage.open(settings, read_only=True)
    try:
        with TestClient(build_app(settings, slow)) as client:
            response = client.post("/api/v1/sql", json={"sql": "SELECT count(*) FROM range(100000000000)"})
    finally:
        slow.close()
    assert response.status_code == 504 and response.json() == {
        "ok": False, "error": "the statement exceeded MCP_QUERY_TIMEOUT_MS=300", "errors": [], "status": 504}


def test_a_failing_database_is_503_with_an_error_id_only(tiny, tmp_path, caplog):
    path = tmp_path / "failing.duckdb"
    shutil.copyfile(tiny[0], path)
    with duckdb.connect(str(path)) as connection:
        # a view, not a table: a reader stands in an empty table for a schema table it does not find
        connection.execute("ALTER VIEW jump_events RENAME TO kept")
        connection.execute("CREATE VIEW jump_events AS SELECT * REPLACE (CAST(error('secret /srv/x') AS BIGINT) "
                           "AS bar_end_ns) FROM kept")  # fmt: skip
    settings = small_settings(path, mcp_allowed_hosts="testserver")
    failing = DuckDBStorage.open(settings, read_only=True)
    try:
        with TestClient(build_app(settings, failing)) as client, \
                caplog.at_level(logging.ERROR, logger="microstructure.server"):
            response = client.get("/api/v1/jump-events?symbol=AAPL")
    finally:
        failing.close()
    body = response.json()
    assert response.status_code == 503 and body["status"] == 503 and body["errors"] == []
    assert body["error"].startswith("the database failed (error id ") and "secret" not in body["error"]
    error_id = body["error"].removeprefix("the database failed (error id ")[:8]
    (logged,) = [m for r in caplog.records if (m := r.getMessage()).startswith("database error")]
    assert logged == (f"database error {error_id} in /api/v1/jump-events: \"query 'jump_events_page' failed: "
                      "Invalid Input Error: secret /srv/x\"")  # the detail in the log only


def test_every_invalid_argument_is_named_in_order_in_one_message(client):
    response = client.get("/api/v1/trading-signals?limit=0&hours_back=0&signal_type=HOLDX")
    assert response.status_code == 400
    errors = [{"argument": "limit", "message": "Input should be greater than or equal to 1"},
              {"argument": "signal_type", "message": "Input should be 'BUY', 'SELL' or 'HOLD'"},
              {"argument": "hours_back", "message": "Input should be greater than 0"}]  # fmt: skip
    assert response.json() == {
        "ok": False, "status": 400, "errors": errors,
        "error": "invalid arguments: limit: Input should be greater than or equal to 1; signal_type: Input should "
                 "be 'BUY', 'SELL' or 'HOLD'; hours_back: Input should be greater than 0"}  # fmt: skip


def test_the_documented_error_statuses_and_arguments_say_what_they_mean(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/trading-signals"]["get"]
    assert {status: answer["description"] for status, answer in operation["responses"].items()
            if status != "200"} == {
        "400": "an argument is invalid; the message names it",
        "404": "no trades are stored for a symbol named",
        "422": "Validation Error",
        "503": "the database failed",
        "504": "the query passed MCP_QUERY_TIMEOUT_MS"}  # fmt: skip
    described = {p["name"]: p.get("description") for p in operation["parameters"]}
    assert (described["limit"], described["symbol"], described["symbols"], described["start"]) == (
        "rows per page", "one ticker", "several tickers (repeat the parameter)", "ISO-8601 or ns since the epoch")
    request = document["components"]["schemas"]["SqlRequest"]
    assert {name: field["description"] for name, field in request["properties"].items()} == {
        "sql": "one SELECT (or WITH ... SELECT)", "limit": "rows wanted (default 20)",
        "format": "answer format; default from Accept, else json"}  # fmt: skip
    assert request["required"] == ["sql"]
    sql = document["paths"]["/api/v1/sql"]["post"]["responses"]
    assert sql["406"]["description"] == "Accept names no format offered"
    assert sql["200"]["content"]["application/vnd.apache.parquet"]["schema"] == {"type": "string",
                                                                                  "format": "binary"}
