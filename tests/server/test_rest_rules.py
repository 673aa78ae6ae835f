"""The REST routes' own rules, in process and without a database: ``build_router``'s routes mounted on a bare
FastAPI app with ``add_error_handlers``, the tool functions replaced by recorders. Each route hands the tool
function its arguments (the default page: the smaller of ``MCP_DEFAULT_ROWS`` and ``MCP_MAX_ROWS``), counts the
call under the tool's name on the ``rest`` transport, keeps the documented bounds of its arguments (400 naming
the argument), maps the tool's errors to the one error shape (400, 404, 503, 504), negotiates the SQL answer's
format (406) and is documented under the tool's name (README "REST", the module's docstring). Milliseconds a
test: the mutation group ``rest`` runs this file per mutant; the routes against the tool functions on a real
DuckDB file are ``test_rest_in_process.py``."""

from __future__ import annotations

import contextlib
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import small_settings
from server import rest
from server.models import Page
from server.tools import market
from server.tools.chart_draw import draw_chart
from sql.backend import QueryTimeout, StorageError

STORAGE = object()  # the tool functions are recorders: the storage is only handed on
LATEST, JUMPS, SIGNALS = object(), object(), object()
TOOLS = ("enriched_data", "trading_signals", "jump_events", "symbol_metrics", "real_time_data")


class Metrics:
    """Records ``observe(tool, transport)`` (with the exception that ended the call, if any) and ``count_path``."""

    def __init__(self) -> None:
        self.observed: list[tuple[str, str, str | None]] = []
        self.paths: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def observe(self, tool: str, transport: str):
        try:
            yield
        except BaseException as exc:
            self.observed.append((tool, transport, type(exc).__name__))
            raise
        self.observed.append((tool, transport, None))

    def count_path(self, tool: str, path: str) -> None:
        self.paths.append((tool, path))


class Recorder:
    """Stands in for the tool functions: records each call, answers an empty page or raises ``error``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.error: BaseException | None = None

    def tool(self, name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if self.error is not None:
                raise self.error
            if name == "render_chart":
                return b"\x89PNG-" + kwargs["symbol"].encode(), None
            if name == "run_analyst_sql":
                page = SimpleNamespace(count=3, truncated=args[3] == 3)
                return SimpleNamespace(page=page)
            return Page(rows=[], count=0, truncated=False, next_cursor=None, as_of="2026-12-05T00:00:00Z")

        return call

    def only(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        (call,) = self.calls
        return call


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    for name in TOOLS:
        monkeypatch.setattr(market, name, recorder.tool(name))
    monkeypatch.setattr(rest, "render_chart", recorder.tool("render_chart"))
    monkeypatch.setattr(rest, "run_analyst_sql", recorder.tool("run_analyst_sql"))
    monkeypatch.setattr(rest, "encode", lambda answer, fmt: f"{fmt}:{answer.page.count}".encode())
    return recorder


def _client(settings, metrics: Metrics | None = None, **memories: Any) -> TestClient:
    app = FastAPI()
    rest.add_error_handlers(app)
    app.include_router(rest.build_router(settings, STORAGE, metrics or Metrics(), **memories))
    return TestClient(app)


@pytest.fixture
def settings(tmp_path):
    return small_settings(tmp_path / "none.duckdb", bar_seconds=300)  # default page 20, cap 100


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def client(settings, metrics, recorder):
    return _client(settings, metrics, latest=LATEST, jumps=JUMPS, signals=SIGNALS)


WINDOW = {"hours_back": None, "start": None, "end": None, "cursor": None}


def test_each_route_hands_the_tool_its_arguments_and_the_default_page(client, recorder, metrics):
    """No argument: the default page (20), the settings' bar, the memories; the tool's name on ``rest``."""
    expected = {
        "enriched-data?symbol=aapl": ("enriched_data", {"symbol": "aapl", "limit": 20, "bar_seconds": 300, **WINDOW}),
        "trading-signals": ("trading_signals", {"symbol": None, "symbols": None, "limit": 20, "bar_seconds": 300,
                                                "signal_type": None, **WINDOW, "latest": LATEST, "memory": SIGNALS}),
        "jump-events": ("jump_events", {"symbol": None, "symbols": None, "limit": 20, "bar_seconds": 300,
                                        "direction": None, "min_abs_stat": None, **WINDOW, "jumps": JUMPS}),
        "symbol-metrics": ("symbol_metrics", {"symbol": None, "symbols": None, "limit": 20, "bar_seconds": 300,
                                              **WINDOW}),
        "real-time-data": ("real_time_data", {"symbol": None, "symbols": None, "limit": 20, "bar_seconds": 300,
                                              "latest": LATEST}),
    }  # fmt: skip
    for route, (tool, kwargs) in expected.items():
        recorder.calls.clear()
        response = client.get(f"/api/v1/{route}")
        assert response.status_code == 200, route
        assert response.json() == {"rows": [], "count": 0, "truncated": False, "next_cursor": None,
                                   "as_of": "2026-12-05T00:00:00Z"}  # fmt: skip
        name, args, got = recorder.only()
        on_path = got.pop("on_path", None)
        assert (name, args, got) == (tool, (STORAGE,), kwargs), route
        if tool in ("trading_signals", "jump_events", "real_time_data"):
            on_path("memory")
            assert metrics.paths[-1] == (f"get_{tool}", "memory")
        else:
            assert on_path is None
    assert metrics.observed == [(f"get_{tool}", "rest", None) for tool in TOOLS]


def test_each_route_hands_on_every_argument_given(client, recorder):
    window = {"hours_back": "2.5", "start": "2026-12-04T14:00:00Z", "end": "1764860000000000000", "cursor": "abc"}
    handed = {"hours_back": 2.5, "start": "2026-12-04T14:00:00Z", "end": "1764860000000000000", "cursor": "abc"}
    calls = [
        ("enriched-data", {"symbol": "MSFT", "limit": 7, **window}, {"symbol": "MSFT", "limit": 7, **handed}),
        ("trading-signals", {"symbols": ["SPY", "aapl"], "limit": 100, "signal_type": "SELL", **window},
         {"symbol": None, "symbols": ["SPY", "aapl"], "limit": 100, "signal_type": "SELL", **handed}),
        ("trading-signals", {"symbol": "TSLA", "limit": 1}, {"symbol": "TSLA", "symbols": None, "limit": 1}),
        ("jump-events", {"symbol": "BRK.B", "limit": 3, "direction": "down", "min_abs_stat": "4.5", **window},
         {"symbol": "BRK.B", "symbols": None, "limit": 3, "direction": "down", "min_abs_stat": 4.5, **handed}),
        ("symbol-metrics", {"symbols": ["A", "B"], "limit": 2, **window},
         {"symbol": None, "symbols": ["A", "B"], "limit": 2, **handed}),
        ("real-time-data", {"symbol": "spy", "limit": 5}, {"symbol": "spy", "symbols": None, "limit": 5}),
        ("real-time-data", {"symbols": ["X"]}, {"symbol": None, "symbols": ["X"], "limit": 20}),
    ]  # fmt: skip
    for route, params, want in calls:
        recorder.calls.clear()
        assert client.get(f"/api/v1/{route}", params=params).status_code == 200, (route, params)
        _, _, got = recorder.only()
        assert {key: got[key] for key in want} == want, (route, params)


@pytest.mark.parametrize(("default", "cap", "page"), [(20, 100, 20), (150, 100, 100), (7, 7, 7)])
def test_the_default_page_is_the_smaller_of_the_default_and_the_cap(tmp_path, recorder, default, cap, page):
    client = _client(small_settings(tmp_path / "x.duckdb", mcp_default_rows=default, mcp_max_rows=cap))
    for route in ("trading-signals", "jump-events", "symbol-metrics", "real-time-data", "enriched-data?symbol=A"):
        recorder.calls.clear()
        assert client.get(f"/api/v1/{route}").status_code == 200
        assert recorder.only()[2]["limit"] == page, route
    recorder.calls.clear()
    assert client.get(f"/api/v1/trading-signals?limit={cap}").status_code == 200
    assert client.get(f"/api/v1/trading-signals?limit={cap + 1}").status_code == 400
    assert client.post("/api/v1/sql", json={"sql": "SELECT 1"}).status_code == 200
    assert client.post("/api/v1/sql", json={"sql": "SELECT 1", "limit": cap}).status_code == 200
    assert client.post("/api/v1/sql", json={"sql": "SELECT 1", "limit": cap + 1}).status_code == 400
    assert [call[1][3] for call in recorder.calls if call[0] == "run_analyst_sql"] == [None, cap]


BAD = [
    ("trading-signals?limit=0", "limit"), ("trading-signals?limit=101", "limit"), ("real-time-data?limit=0", "limit"),
    ("real-time-data?limit=101", "limit"), ("jump-events?limit=101", "limit"), ("symbol-metrics?limit=0", "limit"),
    ("enriched-data?symbol=A&limit=101", "limit"), ("enriched-data", "symbol"), ("enriched-data?symbol=-X", "symbol"),
    ("jump-events?symbol=A%20B", "symbol"), ("trading-signals?symbol=" + "A" * 33, "symbol"),
    ("symbol-metrics?symbols=AAPL&symbols=x%3By", "symbols.1"), ("real-time-data?symbol=%2BX", "symbol"),
    ("jump-events?min_abs_stat=-0.1", "min_abs_stat"), ("jump-events?min_abs_stat=1000000.5", "min_abs_stat"),
    ("trading-signals?hours_back=0", "hours_back"), ("symbol-metrics?hours_back=8784.01", "hours_back"),
    ("jump-events?hours_back=-1", "hours_back"), ("enriched-data?symbol=A&hours_back=8785", "hours_back"),
    ("trading-signals?signal_type=buy", "signal_type"), ("jump-events?direction=sideways", "direction"),
    ("symbol-metrics?start=" + "1" * 41, "start"), ("trading-signals?end=" + "1" * 41, "end"),
    ("trading-signals?cursor=" + "a" * 513, "cursor"), ("jump-events?cursor=" + "a" * 513, "cursor"),
    ("chart/AAPL.png?max_bars=9", "max_bars"), ("chart/AAPL.png?max_bars=5001", "max_bars"),
    ("chart/A%20B.png", "symbol"), ("chart/AAPL.png?hours_back=0", "hours_back"),
    ("chart/AAPL.png?start=" + "1" * 41, "start"), ("chart/AAPL.png?end=" + "1" * 41, "end"),
    ("trading-signals?" + "&".join(["symbols=A"] * 51), "symbols"),
    ("jump-events?" + "&".join(["symbols=A"] * 51), "symbols"),
    ("symbol-metrics?" + "&".join(["symbols=A"] * 51), "symbols"),
    ("real-time-data?" + "&".join(["symbols=A"] * 51), "symbols"),
]  # fmt: skip


def test_each_argument_bound_is_a_400_naming_the_argument(client, recorder):
    for query, argument in BAD:  # one app for all (a loop, not parameters: a mutant's run builds it once)
        response = client.get(f"/api/v1/{query}")
        body = response.json()
        assert response.status_code == 400 and body["ok"] is False and body["status"] == 400, query
        assert [e["argument"] for e in body["errors"]] == [argument], query
        assert body["error"] == f"invalid arguments: {argument}: {body['errors'][0]['message']}"
    assert recorder.calls == []  # refused before the tool


GOOD = [
    "symbol-metrics?hours_back=8784", "trading-signals?hours_back=0.001", "jump-events?min_abs_stat=1000000",
    "jump-events?min_abs_stat=0", "trading-signals?" + "&".join(["symbols=AAPL"] * 50), "trading-signals?limit=1",
    "trading-signals?start=" + "1" * 40, "jump-events?cursor=" + "a" * 512, "real-time-data?limit=100",
    "trading-signals?symbol=" + "A" * 32, "jump-events?symbol=BRK.B", "symbol-metrics?symbols=a:b&symbols=c/d-e",
    "chart/AAPL.png?max_bars=10", "chart/AAPL.png?max_bars=5000", "chart/BRK.B.png?hours_back=8784",
]  # fmt: skip


def test_the_bounds_themselves_are_accepted(client, recorder):
    for query in GOOD:
        assert client.get(f"/api/v1/{query}").status_code == 200, query
    assert len(recorder.calls) == len(GOOD)


def test_the_chart_is_the_drawn_png_with_its_arguments(settings, recorder, metrics):
    client = _client(settings, metrics)
    response = client.get("/api/v1/chart/aapl.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == b"\x89PNG-aapl"
    name, args, kwargs = recorder.only()
    assert (name, args, kwargs) == ("render_chart", (STORAGE,), {
        "symbol": "aapl", "bar_seconds": 300, "max_bars": 600, "hours_back": None, "start": None, "end": None,
        "draw": draw_chart})  # fmt: skip
    pool = SimpleNamespace(draw=object())
    recorder.calls.clear()
    pooled = _client(settings, metrics, charts=pool)
    assert pooled.get("/api/v1/chart/MSFT.png?max_bars=10&hours_back=2&start=5&end=6").content == b"\x89PNG-MSFT"
    assert recorder.only()[2] == {"symbol": "MSFT", "bar_seconds": 300, "max_bars": 10, "hours_back": 2.0,
                                  "start": "5", "end": "6", "draw": pool.draw}  # fmt: skip
    assert metrics.observed == [("get_chart", "rest", None)] * 2


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [(ValueError("give symbol or symbols, not both"), 400, "give symbol or symbols, not both"),
     (market.UnknownSymbol("unknown symbol 'NOPE'"), 404, "unknown symbol 'NOPE'"),
     (QueryTimeout("the statement exceeded MCP_QUERY_TIMEOUT_MS=300"), 504,
      "the statement exceeded MCP_QUERY_TIMEOUT_MS=300")],
)  # fmt: skip
def test_the_tools_errors_are_their_statuses_in_the_one_shape(client, recorder, metrics, error, status, message):
    recorder.error = error
    for route in ("trading-signals", "jump-events", "enriched-data?symbol=A", "chart/A.png"):
        response = client.get(f"/api/v1/{route}")
        assert response.status_code == status, route
        assert response.json() == {"ok": False, "error": message, "errors": [], "status": status}
    response = client.post("/api/v1/sql", json={"sql": "SELECT 1"})
    assert response.status_code == status and response.json()["error"] == message
    assert {entry[1:] for entry in metrics.observed} == {("rest", type(error).__name__)}


def test_a_failing_database_is_503_with_an_error_id_and_the_detail_logged(client, recorder, caplog):
    recorder.error = StorageError("query 'x' failed: secret /srv/x")
    with caplog.at_level(logging.ERROR, logger="microstructure.server"):
        response = client.get("/api/v1/symbol-metrics")
    body = response.json()
    assert response.status_code == 503 and body["status"] == 503 and body["errors"] == [] and body["ok"] is False
    assert body["error"].startswith("the database failed (error id ") and "secret" not in body["error"]
    error_id = body["error"].removeprefix("the database failed (error id ")[:8]
    (logged,) = [m for r in caplog.records if (m := r.getMessage()).startswith("database error")]
    assert logged == f"database error {error_id} in /api/v1/symbol-metrics: \"query 'x' failed: secret /srv/x\""


def test_every_invalid_argument_is_named_in_order_in_one_message(client):
    response = client.get("/api/v1/trading-signals?limit=0&symbols=A&symbols=x%3By&signal_type=HOLDX")
    assert response.status_code == 400
    errors = [{"argument": "symbols.1", "message": "String should match pattern '^[A-Za-z0-9][A-Za-z0-9.:/-]{0,31}$'"},
              {"argument": "limit", "message": "Input should be greater than or equal to 1"},
              {"argument": "signal_type", "message": "Input should be 'BUY', 'SELL' or 'HOLD'"}]  # fmt: skip
    summary = "; ".join(f"{e['argument']}: {e['message']}" for e in errors)
    assert response.json() == {"ok": False, "status": 400, "errors": errors, "error": f"invalid arguments: {summary}"}


def test_the_error_body_is_the_one_shape():
    response = rest.error_body(418, "short and stout")
    assert response.status_code == 418
    assert response.body == b'{"ok":false,"error":"short and stout","errors":[],"status":418}'
    assert rest.error_body(400, "x", [{"argument": "a"}]).body == (
        b'{"ok":false,"error":"x","errors":[{"argument":"a"}],"status":400}')


def test_sql_hands_on_the_statement_and_answers_the_format_with_row_headers(client, recorder, settings, metrics):
    plain = client.post("/api/v1/sql", json={"sql": "SELECT 1", "limit": 3})
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    assert plain.content == b"json:3"
    assert (plain.headers["x-row-count"], plain.headers["x-truncated"]) == ("3", "true")
    assert recorder.only() == ("run_analyst_sql", (STORAGE, settings, "SELECT 1", 3), {})
    csv = client.post("/api/v1/sql", json={"sql": "SELECT 2"}, headers={"Accept": "text/csv; q=0.9"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.content == b"csv:3"
    assert (csv.headers["x-row-count"], csv.headers["x-truncated"]) == ("3", "false")
    assert recorder.calls[-1][1] == (STORAGE, settings, "SELECT 2", None)
    chosen = client.post("/api/v1/sql", json={"sql": "x", "format": "parquet"}, headers={"Accept": "text/csv"})
    assert chosen.headers["content-type"] == "application/vnd.apache.parquet" and chosen.content == b"parquet:3"
    arrow = client.post("/api/v1/sql", json={"sql": "x"}, headers={"Accept": "application/vnd.apache.arrow.stream"})
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream" and arrow.content == b"arrow:3"
    assert metrics.observed == [("query", "rest", None)] * 4


def test_sql_refuses_what_no_format_or_bound_allows(client, recorder):
    refused = client.post("/api/v1/sql", json={"sql": "SELECT 1"}, headers={"Accept": "image/png"})
    assert refused.status_code == 406 and refused.json() == {
        "ok": False, "status": 406, "errors": [],
        "error": "Accept 'image/png' names no offered format: application/json, text/csv, "
                 "application/vnd.apache.arrow.stream, application/vnd.apache.parquet"}  # fmt: skip
    for bad, argument in (({"sql": ""}, "sql"), ({"sql": "x" * 100_001}, "sql"), ({"sql": "SELECT 1", "limit": 0},
                          "limit"), ({"sql": "SELECT 1", "limit": 101}, "limit"),
                          ({"sql": "SELECT 1", "format": "xml"}, "format"), ({}, "sql")):  # fmt: skip
        response = client.post("/api/v1/sql", json=bad)
        assert response.status_code == 400 and [e["argument"] for e in response.json()["errors"]] == [argument]
    assert recorder.calls == []
    for good in ({"sql": "x"}, {"sql": "x" * 100_000}, {"sql": "x", "limit": 1}, {"sql": "x", "limit": 100}):
        assert client.post("/api/v1/sql", json=good).status_code == 200
    assert [call[1][2:] for call in recorder.calls] == [("x", None), ("x" * 100_000, None), ("x", 1), ("x", 100)]


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [(None, "json"), ("", "json"), ("*/*", "json"), ("application/*", "json"), ("application/json", "json"),
     ("text/csv", "csv"), ("TEXT/CSV; q=0.9", "csv"), ("image/png, text/csv", "csv"),
     (" application/vnd.apache.arrow.stream ", "arrow"), ("application/vnd.apache.parquet", "parquet"),
     ("text/csv, application/json", "csv"), ("image/png", None), ("text/*", None), ("image/png;q=1, */*", "json"),
     ("image/png,application/*;q=0.1", "json"), ("text/csv;charset=utf-8", "csv")],
)  # fmt: skip
def test_accept_chooses_the_first_offered_format(accept, fmt):
    assert rest._negotiate(accept) == fmt


def test_the_routes_are_documented_under_their_tool_names_with_their_error_statuses(client):
    document = client.get("/openapi.json").json()
    summaries = {path: next(iter(item.values()))["summary"] for path, item in document["paths"].items()}
    assert summaries == {
        "/api/v1/enriched-data": "get_enriched_data", "/api/v1/trading-signals": "get_trading_signals",
        "/api/v1/jump-events": "get_jump_events", "/api/v1/symbol-metrics": "get_symbol_metrics",
        "/api/v1/real-time-data": "get_real_time_data", "/api/v1/chart/{symbol}.png": "get_chart",
        "/api/v1/sql": "query: one read-only SQL statement over the documented tables and views"}  # fmt: skip
    errors = {"400": "an argument is invalid; the message names it", "404": "no trades are stored for a symbol named",
              "503": "the database failed", "504": "the query passed MCP_QUERY_TIMEOUT_MS"}  # fmt: skip
    for path in summaries:
        (operation,) = document["paths"][path].values()
        assert operation["tags"] == ["tools"], path
        for status, description in errors.items():
            assert operation["responses"][status]["description"] == description, (path, status)
            assert operation["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"}, (path, status)
    sql = document["paths"]["/api/v1/sql"]["post"]["responses"]
    assert sql["406"]["description"] == "Accept names no format offered"
    assert sql["406"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert sql["200"]["description"] == ("rows as JSON (the MCP tool's result), CSV, Arrow IPC stream or Parquet; "
                                         "X-Row-Count and X-Truncated headers on every format")  # fmt: skip
    content = sql["200"]["content"]
    assert set(content) == {"application/json", "text/csv", "application/vnd.apache.arrow.stream",
                            "application/vnd.apache.parquet"}  # fmt: skip
    assert content["text/csv"]["schema"] == {"type": "string"}
    for media in ("application/vnd.apache.arrow.stream", "application/vnd.apache.parquet"):
        assert content[media]["schema"] == {"type": "string", "format": "binary"}
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/SqlPage"}
    chart = document["paths"]["/api/v1/chart/{symbol}.png"]["get"]["responses"]["200"]
    assert chart["description"] == "PNG chart" and "image/png" in chart["content"]


def test_the_documented_arguments_say_what_they_mean(client):
    document = client.get("/openapi.json").json()
    for path in ("trading-signals", "jump-events", "symbol-metrics"):
        operation = document["paths"][f"/api/v1/{path}"]["get"]
        described = {p["name"]: p.get("description") for p in operation["parameters"]}
        assert (described["limit"], described["symbol"], described["symbols"], described["start"],
                described["end"], described["hours_back"], described["cursor"]) == (
            "rows per page", "one ticker", "several tickers (repeat the parameter)",
            "ISO-8601 or ns since the epoch", "ISO-8601 or ns since the epoch", None, None), path  # fmt: skip
    request = document["components"]["schemas"]["SqlRequest"]
    assert {name: field["description"] for name, field in request["properties"].items()} == {
        "sql": "one SELECT (or WITH ... SELECT)", "limit": "rows wanted (default 20)",
        "format": "answer format; default from Accept, else json"}  # fmt: skip
    assert request["required"] == ["sql"]
