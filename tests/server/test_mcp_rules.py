"""The MCP server's registration, caps and error paths (``server/mcp.py``), fast, in process (issue 16 point 4).

Fast direct tests (milliseconds a call, no database: the mutation group ``mcp-server`` of ``scripts/mutation``).
``build_server`` is served to the official MCP client in memory over a stand-in storage, with the functions the
tools hand their work to (``server.tools.market``'s five readers, ``render_chart``, ``run_analyst_sql``,
``describe_views``) replaced by recorders. What is checked is the module's documented contract, written here by
hand: the seven tools, each read-only (``readOnlyHint``, ``idempotentHint``, not open-world) with its title;
``limit`` bounded to 1..``MCP_MAX_ROWS`` and defaulting to ``min(MCP_DEFAULT_ROWS, MCP_MAX_ROWS)``; each
argument passed on unchanged with the settings' bar grid, the rows kept in memory and the metrics' path counter;
a bad argument (``ValueError``) told to the client in its own words, a database failure only as the generic
message of ``server/errors.py`` (its text logged under the id), a time limit with its own message; every call
counted and timed under ``transport="mcp"``, a failed one counted as an error; the schema resource and the
analysis prompt.
"""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mcp import Client

import server.mcp as server_mcp
from server.metrics import ServerMetrics
from server.models import ChartInfo, Page
from server.tools import market
from server.tools.analyst_sql import SqlColumn, SqlPage, tool_description
from server.tools.chart_draw import draw_chart
from server.tools.jump_memory import JumpMemory
from server.tools.latest import LatestRows
from server.tools.signal_memory import SignalMemory
from sql.backend import QueryTimeout, StorageError
from sql.settings import Settings

pytestmark = pytest.mark.anyio

AS_OF = "2026-12-05T12:00:00Z"
SECRET = "IO Error: Could not read /srv/data/market.duckdb: table trading_signals_v2"
GENERIC = re.compile(r"the database failed \(error id ([0-9a-f]{8})\); the server log has the detail")

TITLES = {
    "get_enriched_data": "Trades enriched with signals",
    "get_trading_signals": "Per-bar trading signals",
    "get_jump_events": "Detected price jumps",
    "get_symbol_metrics": "Daily metrics per symbol",
    "get_real_time_data": "Latest state per symbol",
    "get_chart": "Chart of price, jumps, signals and VPIN",
    "query": "Read-only SQL",
}
#: the tool -> the reader in server.tools.market it hands its work to
READERS = {
    "get_enriched_data": "enriched_data",
    "get_trading_signals": "trading_signals",
    "get_jump_events": "jump_events",
    "get_symbol_metrics": "symbol_metrics",
    "get_real_time_data": "real_time_data",
}
INSTRUCTIONS = (
    "Market-microstructure analytics over Polygon trades: per-bar signals (Lee-Mykland jumps, "
    "volatility, BNS, VPIN, BUY/SELL/HOLD research signals), daily metrics and trades enriched with "
    "them. Times are UTC; lists are newest first and paged with next_cursor. Start with "
    "get_real_time_data for an overview; the resource schema://views documents the SQL views."
)


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"duckdb_path": Path("/nonexistent/market.duckdb"), "mcp_max_rows": 50,
                              "mcp_default_rows": 20, "bar_seconds": 300, "mcp_kept_bars": 7}  # fmt: skip
    values.update(overrides)
    return Settings(**values)


class Silent:
    """A storage that cannot tell of its writes (like Vertica): nothing is kept in memory beside it."""


class Telling:
    """A storage that tells of its writes: records the listeners added (without loading them)."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add_write_listener(self, listener: Any) -> None:
        self.added.append(listener)


class Readers:
    """Stand-ins for the functions the tools call: record each call, answer or raise as told."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.raises: BaseException | None = None
        for name in READERS.values():
            monkeypatch.setattr(market, name, self._reader(name))
        monkeypatch.setattr(server_mcp, "render_chart", self._chart)
        monkeypatch.setattr(server_mcp, "run_analyst_sql", self._sql)
        monkeypatch.setattr(server_mcp, "describe_views", self._views)
        self.png = b"\x89PNG\r\n\x1a\n fake"
        self.info = ChartInfo(symbol="NVDA", bars=12, start=None, end=AS_OF, jumps=1, signals={"BUY": 12},
                              width=800, height=600)  # fmt: skip
        self.sql_page = SqlPage(columns=[SqlColumn(name="n", type="BIGINT")], rows=[[1]], count=1, truncated=False,
                                truncated_by=None, bytes=8, as_of=AS_OF)  # fmt: skip

    def _record(self, name: str, args: tuple, kwargs: dict) -> None:
        self.calls.append((name, args, kwargs))
        if self.raises is not None:
            raise self.raises

    def _reader(self, name: str):
        def read(*args: Any, **kwargs: Any) -> Page:
            self._record(name, args, kwargs)
            return Page(rows=[], count=0, truncated=False, next_cursor=None, as_of=AS_OF)

        return read

    def _chart(self, *args: Any, **kwargs: Any):
        self._record("render_chart", args, kwargs)
        return self.png, self.info

    def _sql(self, *args: Any, **kwargs: Any):
        self._record("run_analyst_sql", args, kwargs)
        return SimpleNamespace(page=self.sql_page)

    def _views(self, *args: Any, **kwargs: Any) -> str:
        self._record("describe_views", args, kwargs)
        return "## market_data\n- `ts_ns` BIGINT"


@pytest.fixture
def readers(monkeypatch):
    return Readers(monkeypatch)


async def test_the_server_names_itself_and_its_instructions(readers):
    async with Client(server_mcp.build_server(_settings(), Silent())) as client:
        assert client.server_info.name == "microstructure" and client.server_info.version == "0.1.0"
        assert client.instructions == INSTRUCTIONS


async def test_seven_read_only_tools_with_their_titles_and_the_limit_cap(readers):
    settings = _settings()
    async with Client(server_mcp.build_server(settings, Silent())) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == set(TITLES) == set(server_mcp.TOOL_NAMES)
    for name, tool in tools.items():
        assert tool.title == TITLES[name]
        a = tool.annotations
        assert (a.read_only_hint, a.open_world_hint, a.idempotent_hint, a.destructive_hint) == (True, False, True, None)
        assert tool.description and not tool.description.startswith(" ") and "\n        " not in tool.description
        if name == "get_chart":
            assert "limit" not in tool.input_schema["properties"]
            continue
        limit = tool.input_schema["properties"]["limit"]
        assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == ("integer", 1, 50, 20)
        assert limit["description"] == "rows per page, 1-50"
        assert "limit" not in tool.input_schema.get("required", [])
    assert tools["query"].description == tool_description(settings)
    assert tools["get_enriched_data"].description.startswith("Individual trades of one symbol, newest first")
    assert "\nwhether Polygon's" in tools["get_enriched_data"].description  # the docstring's lines, dedented


@pytest.mark.parametrize(("max_rows", "default_rows", "default"), [(50, 20, 20), (10, 20, 10), (7, 7, 7)])
async def test_the_default_limit_is_the_default_rows_within_the_cap(readers, max_rows, default_rows, default):
    settings = _settings(mcp_max_rows=max_rows, mcp_default_rows=default_rows)
    async with Client(server_mcp.build_server(settings, Silent())) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert tools["get_symbol_metrics"].input_schema["properties"]["limit"]["default"] == default
        assert tools["query"].input_schema["properties"]["limit"]["maximum"] == max_rows
        for tool in ("get_real_time_data", "query"):
            result = await client.call_tool(tool, {"sql": "SELECT 1"} if tool == "query" else {})
            assert not result.is_error, result.content
    assert readers.calls[0][2]["limit"] == default
    assert readers.calls[1][1][3] == default


async def test_a_limit_outside_1_to_the_cap_is_refused_before_any_read(readers):
    async with Client(server_mcp.build_server(_settings(), Silent())) as client:
        for limit in (0, -1, 51, 1000):
            for tool in READERS:
                arguments = {"limit": limit, **({"symbol": "AAPL"} if tool == "get_enriched_data" else {})}
                result = await client.call_tool(tool, arguments)
                assert result.is_error and "limit" in result.content[0].text
        for limit in (1, 50):
            assert not (await client.call_tool("get_symbol_metrics", {"limit": limit})).is_error
    assert [call[2]["limit"] for call in readers.calls] == [1, 50]


async def test_each_tool_passes_its_arguments_on_with_the_grid_the_memories_and_the_path_counter(readers):
    storage = Silent()
    metrics = ServerMetrics()
    latest, jumps, signals = object(), object(), object()
    server = server_mcp.build_server(_settings(), storage, metrics=metrics, latest=latest, jumps=jumps,
                                     signals=signals)  # fmt: skip
    window = {"hours_back": 2.5, "start": "2026-12-01T00:00:00Z", "end": 1_765_000_000_000_000_000, "cursor": "abc"}
    async with Client(server) as client:
        calls = [
            ("get_enriched_data", {"symbol": "aapl", "limit": 3, **window}),
            ("get_trading_signals", {"symbol": "AAPL", "limit": 4, "signal_type": "BUY", **window}),
            ("get_trading_signals", {"symbols": ["MSFT", "NVDA"]}),
            ("get_jump_events", {"symbols": ["MSFT"], "limit": 5, "direction": "down", "min_abs_stat": 4.5, **window}),
            ("get_symbol_metrics", {"symbol": "TSLA", "limit": 6, **window}),
            ("get_real_time_data", {"symbols": ["A", "B"], "limit": 7}),
        ]
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content
            assert result.structured_content == {"rows": [], "count": 0, "truncated": False, "next_cursor": None,
                                                 "as_of": AS_OF}  # fmt: skip
    none = {"hours_back": None, "start": None, "end": None, "cursor": None}
    signals_path = {"on_path": ("get_trading_signals",), "latest": latest, "memory": signals}
    expected = [
        ("enriched_data", dict(symbol="aapl", limit=3, bar_seconds=300, **window)),
        ("trading_signals", dict(symbol="AAPL", symbols=None, limit=4, bar_seconds=300, signal_type="BUY", **window,
                                 **signals_path)),
        ("trading_signals", dict(symbol=None, symbols=["MSFT", "NVDA"], limit=20, bar_seconds=300, signal_type=None,
                                 **none, **signals_path)),
        ("jump_events", dict(symbol=None, symbols=["MSFT"], limit=5, bar_seconds=300, direction="down",
                             min_abs_stat=4.5, **window, jumps=jumps, on_path=("get_jump_events",))),
        ("symbol_metrics", dict(symbol="TSLA", symbols=None, limit=6, bar_seconds=300, **window)),
        ("real_time_data", dict(symbol=None, symbols=["A", "B"], limit=7, bar_seconds=300, latest=latest,
                                on_path=("get_real_time_data",))),
    ]  # fmt: skip
    assert len(readers.calls) == len(expected)
    for (name, args, kwargs), (want_name, want) in zip(readers.calls, expected, strict=True):
        assert (name, args[0] if args else kwargs.pop("storage", None)) == (want_name, storage)
        assert args[1:] == ()
        on_path = kwargs.pop("on_path", None)
        if "on_path" in want:
            assert on_path.func == metrics.count_path and on_path.args == want.pop("on_path") and not on_path.keywords
        else:
            assert on_path is None
        assert kwargs == want


async def test_the_memories_are_attached_to_a_storage_that_tells_of_its_writes(readers):
    storage = Telling()
    async with Client(server_mcp.build_server(_settings(), storage)) as client:
        for tool in ("get_trading_signals", "get_jump_events", "get_real_time_data"):
            assert not (await client.call_tool(tool, {})).is_error
    latest, jumps, signals = (readers.calls[i][2][key] for i, key in ((0, "latest"), (1, "jumps"), (2, "latest")))
    memory = readers.calls[0][2]["memory"]
    assert type(latest) is LatestRows and type(jumps) is JumpMemory and type(memory) is SignalMemory
    assert signals is latest
    assert storage.added == [latest, jumps, memory]
    assert latest._bar_seconds == jumps._bar_seconds == memory._bar_seconds == 300
    assert memory._kept == 7 and memory._row_model is server_mcp.SignalRow
    assert jumps._max_rows == 500_000


async def test_no_memory_beside_a_storage_that_cannot_tell_or_with_no_kept_bars(readers):
    for storage, settings in ((Silent(), _settings()), (Telling(), _settings(mcp_kept_bars=0))):
        readers.calls.clear()
        async with Client(server_mcp.build_server(settings, storage)) as client:
            assert not (await client.call_tool("get_trading_signals", {})).is_error
        kwargs = readers.calls[0][2]
        assert kwargs["memory"] is None
        assert (kwargs["latest"] is None) == isinstance(storage, Silent)


async def test_a_bad_argument_is_told_in_its_own_words_and_counted_as_an_error(readers, caplog):
    caplog.set_level(logging.DEBUG)
    metrics = ServerMetrics()
    readers.raises = market.UnknownSymbol("unknown symbol 'NOPE'")
    async with Client(server_mcp.build_server(_settings(), Silent(), metrics=metrics)) as client:
        for tool in READERS:
            result = await client.call_tool(tool, {"symbol": "NOPE"})
            assert result.is_error and result.content[0].text == f"{_told(tool)}unknown symbol 'NOPE'"
        readers.raises = ValueError("start must be before end")
        result = await client.call_tool("query", {"sql": "SELECT 1"})
        assert result.is_error and result.content[0].text == f"{_told('query')}start must be before end"
    for tool in (*READERS, "query"):
        assert _sample(metrics, "microstructure_tool_requests_total", tool) == 1
        assert _sample(metrics, "microstructure_tool_errors_total", tool) == 1
        assert _sample(metrics, "microstructure_tool_latency_seconds_count", tool) == 1
    assert not [r for r in caplog.records if r.name.startswith("microstructure") and r.levelno >= logging.ERROR]


async def test_a_database_failure_is_only_the_generic_message_and_its_text_is_logged(readers, caplog):
    caplog.set_level(logging.DEBUG)
    readers.raises = StorageError(SECRET)
    async with Client(server_mcp.build_server(_settings(), Silent())) as client:
        texts = {}
        for tool, arguments in (("get_trading_signals", {}), ("get_chart", {"symbol": "NVDA"}),
                                ("query", {"sql": "SELECT 1"})):  # fmt: skip
            result = await client.call_tool(tool, arguments)
            assert result.is_error
            texts[tool] = result.content[0].text
    logged = [r.getMessage() for r in caplog.records if r.name == "microstructure.server"]
    assert len(logged) == 3
    for (tool, text), line in zip(texts.items(), logged, strict=True):
        error_id = GENERIC.fullmatch(text.removeprefix(_told(tool))).group(1)
        assert line == f"database error {error_id} in {tool}: {SECRET!r}"


async def test_a_time_limit_keeps_its_message(readers):
    readers.raises = QueryTimeout("query ran past MCP_QUERY_TIMEOUT_MS=2000")
    async with Client(server_mcp.build_server(_settings(), Silent())) as client:
        result = await client.call_tool("get_jump_events", {})
    assert result.is_error
    assert result.content[0].text == f"{_told('get_jump_events')}query ran past MCP_QUERY_TIMEOUT_MS=2000"


async def test_a_crash_is_counted_as_an_error_and_its_text_is_not_told(readers):
    metrics = ServerMetrics()
    readers.raises = KeyError(SECRET)
    async with Client(server_mcp.build_server(_settings(), Silent(), metrics=metrics)) as client:
        result = await client.call_tool("get_symbol_metrics", {})
    assert result.is_error and "/srv/data" not in result.content[0].text
    assert _sample(metrics, "microstructure_tool_errors_total", "get_symbol_metrics") == 1


async def test_calls_are_counted_without_errors_and_a_server_without_metrics_still_answers(readers):
    metrics = ServerMetrics()
    async with Client(server_mcp.build_server(_settings(), Silent(), metrics=metrics)) as client:
        for _ in range(3):
            assert not (await client.call_tool("get_real_time_data", {})).is_error
    assert _sample(metrics, "microstructure_tool_requests_total", "get_real_time_data") == 3
    assert _sample(metrics, "microstructure_tool_errors_total", "get_real_time_data") in (None, 0)
    assert _sample(metrics, "microstructure_tool_latency_seconds_count", "get_real_time_data") == 3
    async with Client(server_mcp.build_server(_settings(), Silent())) as client:
        assert not (await client.call_tool("get_real_time_data", {})).is_error


async def test_the_chart_is_a_png_image_with_what_it_shows(readers):
    storage = Silent()
    charts = SimpleNamespace(draw=object())
    for pool, draw in ((None, draw_chart), (charts, charts.draw)):
        readers.calls.clear()
        async with Client(server_mcp.build_server(_settings(), storage, charts=pool)) as client:
            result = await client.call_tool("get_chart", {"symbol": "NVDA", "hours_back": 3, "max_bars": 10})
        assert not result.is_error, result.content
        (image,) = result.content
        assert (image.type, image.mime_type) == ("image", "image/png")
        assert base64.b64decode(image.data) == readers.png
        assert result.structured_content == readers.info.model_dump()
        ((name, args, kwargs),) = readers.calls
        assert name == "render_chart" and args == (storage,)
        assert kwargs == {"symbol": "NVDA", "bar_seconds": 300, "max_bars": 10, "hours_back": 3, "start": None,
                          "end": None, "draw": draw}  # fmt: skip


async def test_the_chart_draws_600_bars_by_default_and_10_to_5000(readers):
    async with Client(server_mcp.build_server(_settings(), Silent())) as client:
        assert not (await client.call_tool("get_chart", {"symbol": "NVDA"})).is_error
        for bars in (9, 5001):
            assert (await client.call_tool("get_chart", {"symbol": "NVDA", "max_bars": bars})).is_error
    assert [call[2]["max_bars"] for call in readers.calls] == [600]


async def test_query_runs_the_statement_with_the_settings_and_the_limit(readers):
    storage, settings = Silent(), _settings()
    async with Client(server_mcp.build_server(settings, storage)) as client:
        result = await client.call_tool("query", {"sql": "SELECT 1 AS n", "limit": 9})
    assert not result.is_error and result.structured_content == readers.sql_page.model_dump()
    assert readers.calls == [("run_analyst_sql", (storage, settings, "SELECT 1 AS n", 9), {})]


async def test_the_views_resource_is_the_schema_of_the_storage(readers):
    storage = Silent()
    async with Client(server_mcp.build_server(_settings(), storage)) as client:
        (resource,) = (await client.list_resources()).resources
        text = (await client.read_resource("schema://views")).contents[0].text
    assert (str(resource.uri), resource.name, resource.title, resource.mime_type) == (
        "schema://views", "views", "Tables and views for SQL", "text/markdown")
    assert resource.description == ("Every table and view with its columns, types and meaning: what you need to "
                                    "write SQL.")  # fmt: skip
    assert text == "## market_data\n- `ts_ns` BIGINT"
    assert readers.calls == [("describe_views", (storage,), {})]


async def test_the_analysis_prompt_names_the_ticker_in_capitals_in_each_step(readers):
    async with Client(server_mcp.build_server(_settings(), Silent())) as client:
        (prompt,) = (await client.list_prompts()).prompts
        text = (await client.get_prompt("analyse_symbol", {"symbol": "tsla"})).messages[0].content.text
    assert (prompt.name, prompt.title) == ("analyse_symbol", "Analyse a symbol")
    assert prompt.description == "Study one symbol's recent microstructure with the tools and summarise what stands out."
    assert text == (
        "Analyse the recent market microstructure of TSLA.\n"
        "1. Call get_real_time_data with symbol=TSLA for the current state and data age.\n"
        "2. Call get_trading_signals with symbol=TSLA, hours_back=6 and look at volatility (garch_sigma), "
        "trade intensity z-scores, VPIN and its CDF.\n"
        "3. Call get_jump_events with symbol=TSLA, hours_back=72: when, which direction, how large.\n"
        "4. Call get_symbol_metrics with symbol=TSLA to compare today with previous days (realized "
        "variance, BNS statistic, jump count).\n"
        "Then summarise in a few sentences: the volatility regime, jumps and whether they cluster, signs of "
        "toxic order flow (VPIN CDF above 0.9), and the latest signal with its reason. Cite the numbers and "
        "times (UTC). These are research signals, not investment advice."
    )


def _told(tool: str) -> str:
    """The SDK's prefix of a ``ToolError``'s text in the result the client gets."""
    return f"Error executing tool {tool}: "


def _sample(metrics: ServerMetrics, name: str, tool: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"tool": tool, "transport": "mcp"})


def test_an_instrumented_tool_keeps_its_name_and_its_docstring_dedented_or_none():
    def documented(symbol: str) -> str:
        """First line.

            Indented under it."""
        return symbol

    def bare(symbol: str) -> str:
        return symbol

    metrics = ServerMetrics()
    wrapped = server_mcp._instrumented(metrics, documented)
    assert wrapped.__name__ == "documented" and wrapped.__doc__ == "First line.\n\nIndented under it."
    assert wrapped("AAPL") == "AAPL"
    assert server_mcp._instrumented(metrics, bare).__doc__ == ""
    assert metrics.registry.get_sample_value("microstructure_tool_requests_total",
                                             {"tool": "documented", "transport": "mcp"}) == 1  # fmt: skip
