"""``server/tools/market.py`` called directly on ``tests/server/tiny_market.py``'s file against plain SQL over the
documented tables and views (``trading_signals``, ``jump_events``, ``symbol_metrics``, ``enriched_market_data``,
``market_data``): which rows each tool returns, in which order, how its cursor resumes (the cursor read back with
``base64``/``json``), the argument rules with their messages, the unknown-symbol rule, and which path answered.

No server and no MCP client: milliseconds a call after the file is built once per session (the ``market-tools``
mutation group).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from server.models import SignalRow
from server.tools import market
from server.tools.jump_memory import JumpMemory
from server.tools.latest import LatestRows
from server.tools.market import (
    MAX_SYMBOLS,
    UnknownSymbol,
    enriched_data,
    jump_events,
    real_time_data,
    symbol_list,
    symbol_metrics,
    trading_signals,
)
from server.tools.signal_memory import SignalMemory

BAR = 60
SYMBOLS = ["AAPL", "MSFT", "NVDA", "SPY", "TSLA"]
FAR = 2**63 - 1


@pytest.fixture(scope="module")
def storage(tiny_db):
    return tiny_db[1]


def _sql(storage, sql: str, *params) -> list[tuple]:
    return storage._cursor().execute(sql, list(params)).fetchall()


def _iso(ns: int) -> str:
    """ISO-8601 UTC with milliseconds, truncated (the models' time strings), from integer arithmetic."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _cursor(cursor: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def _pages(call, limit: int, **arguments):
    """Every page of a tool from the first, following next_cursor; the pages and the rows in order."""
    pages = [call(limit=limit, **arguments)]
    while pages[-1].next_cursor is not None:
        assert pages[-1].truncated and pages[-1].count == limit
        pages.append(call(limit=limit, cursor=pages[-1].next_cursor, **arguments))
        assert len(pages) < 200
    assert not pages[-1].truncated
    return pages, [row for page in pages for row in page.rows]


# ---- symbol and symbols ----------------------------------------------------------------------------------------


def test_symbol_list_merges_and_checks_symbol_and_symbols():
    assert MAX_SYMBOLS == 50
    assert symbol_list(None, None) is None
    assert symbol_list(" aapl ", None) == ["AAPL"]
    assert symbol_list(None, ["msft", "AAPL", "Msft"]) == ["AAPL", "MSFT"]
    many = [f"S{i:02d}" for i in range(50)]
    assert symbol_list(None, list(reversed(many))) == many
    with pytest.raises(ValueError, match="^give symbol or symbols, not both$"):
        symbol_list("AAPL", ["MSFT"])
    for wrong in ([], [*many, "S50"]):
        with pytest.raises(ValueError, match=rf"^symbols must list 1 to 50 tickers, got {len(wrong)}$"):
            symbol_list(None, wrong)
    with pytest.raises(ValueError, match="is not a ticker"):
        symbol_list(None, ["AAPL", "no spaces"])


# ---- trading signals -------------------------------------------------------------------------------------------


def _signals(storage, symbols=None, signal_type=None, start=0, end=FAR):
    rows = _sql(storage, "SELECT bar_end_ns, symbol, trading_signal FROM trading_signals WHERE bar_seconds = ? "
                "AND bar_end_ns >= ? AND bar_end_ns < ? AND (? IS NULL OR trading_signal = ?) "
                "ORDER BY bar_end_ns DESC, symbol DESC", BAR, start, end, signal_type, signal_type)  # fmt: skip
    return [r for r in rows if symbols is None or r[1] in symbols]


@pytest.mark.parametrize(("symbol", "symbols", "signal_type"), [
    ("aapl", None, None), (None, ["TSLA", "msft"], None), (None, None, "BUY"), ("NVDA", None, "SELL"),
    (None, ["SPY"], None),
])  # fmt: skip
def test_trading_signals_are_the_tables_rows_newest_first_over_every_page(storage, symbol, symbols, signal_type):
    expected = _signals(storage, symbol_list(symbol, symbols), signal_type)
    assert len(expected) >= 2  # the tape ends when the file is built: some filters match only a few bars
    limit = max(1, len(expected) // 4)  # four pages or five
    seen: list[str] = []
    pages, rows = _pages(lambda **a: trading_signals(storage, bar_seconds=BAR, symbol=symbol, symbols=symbols,
                                                     signal_type=signal_type, on_path=seen.append, **a), limit)
    assert [(r.bar_end_ns, r.symbol, r.trading_signal) for r in rows] == expected
    assert all(isinstance(r, SignalRow) and r.bar_end == _iso(r.bar_end_ns) for r in rows)
    for page in pages[:-1]:  # the cursor resumes this tool after the page's last row
        assert _cursor(page.next_cursor) == {"t": "get_trading_signals",
                                             "k": [page.rows[-1].bar_end_ns, page.rows[-1].symbol]}
    assert set(seen) <= {"narrowed", "sql"} and len(seen) == len(pages)


def test_trading_signals_keep_to_the_window(storage):
    ends = sorted({r[0] for r in _signals(storage)})
    start, end = ends[len(ends) // 4], ends[len(ends) * 3 // 4]  # a thin night tape has fewer bars than a day's
    page = trading_signals(storage, limit=1000, bar_seconds=BAR, symbols=["AAPL", "MSFT"], start=start, end=end)
    assert [(r.bar_end_ns, r.symbol) for r in page.rows] == [r[:2] for r in _signals(storage, ["AAPL", "MSFT"],
                                                                                      start=start, end=end)]
    assert page.rows[-1].bar_end_ns == start and max(r.bar_end_ns for r in page.rows) < end
    recent = trading_signals(storage, limit=100, bar_seconds=BAR, symbol="AAPL", hours_back=1000)
    aapl = _signals(storage, ["AAPL"])
    assert recent.count == min(100, len(aapl)) and recent.rows[0].bar_end_ns == aapl[0][0]


def test_trading_signals_from_memory_are_the_sqls_and_say_so(storage):
    memory = SignalMemory(storage, BAR, row_model=SignalRow, kept=500)
    for arguments in ({"symbol": "AAPL"}, {"symbols": ["AAPL", "SPY"]}, {}):
        told: list[str] = []
        kept = trading_signals(storage, limit=30, bar_seconds=BAR, memory=memory, on_path=told.append,
                               latest=LatestRows(storage, BAR), **arguments)
        plain = trading_signals(storage, limit=30, bar_seconds=BAR, **arguments)
        assert told == ["memory"]
        assert kept.model_dump() == plain.model_dump() | {"as_of": kept.as_of}
    assert trading_signals(storage, limit=5, bar_seconds=BAR, symbol="AAPL", memory=memory).count == 5  # no on_path
    told = []  # a memory of another grid cannot answer: the SQL does, and says so
    other = SignalMemory(storage, 300, row_model=SignalRow, kept=500)
    page = trading_signals(storage, limit=5, bar_seconds=BAR, symbol="AAPL", memory=other, on_path=told.append)
    assert page.count == 5 and told and "memory" not in told


def test_an_unknown_symbol_is_named_and_a_known_one_without_rows_is_an_empty_page(storage):
    with pytest.raises(UnknownSymbol, match="^unknown symbol 'ZZZZ': no trades are stored for it$"):
        trading_signals(storage, limit=5, bar_seconds=BAR, symbol="zzzz")
    with pytest.raises(UnknownSymbol, match="^unknown symbols 'YYYY', 'ZZZZ': no trades are stored for it$"):
        trading_signals(storage, limit=5, bar_seconds=BAR, symbols=["ZZZZ", "YYYY", "AAPL"], start=1, end=2)
    with pytest.raises(UnknownSymbol, match="^unknown symbol 'ZZZZ': "):
        trading_signals(storage, limit=5, bar_seconds=BAR, symbols=["ZZZZ", "AAPL"], start=1, end=2)
    assert issubclass(UnknownSymbol, ValueError)
    empty = trading_signals(storage, limit=5, bar_seconds=BAR, symbol="AAPL", start=1, end=2)
    assert (empty.count, empty.rows, empty.truncated) == (0, [], False)
    assert trading_signals(storage, limit=5, bar_seconds=BAR, start=1, end=2).count == 0  # every symbol: no check
    mixed = trading_signals(storage, limit=5, bar_seconds=BAR, symbols=["ZZZZ", "AAPL"])  # rows: no check
    assert mixed.count == 5 and {r.symbol for r in mixed.rows} == {"AAPL"}


# ---- jump events -----------------------------------------------------------------------------------------------


def _jumps(storage, symbols=None, direction=None, min_abs=None, start=0, end=FAR):
    rows = _sql(storage, "SELECT bar_end_ns, symbol, direction, lee_mykland_stat FROM jump_events WHERE bar_seconds = ? "
                "AND bar_end_ns >= ? AND bar_end_ns < ? ORDER BY bar_end_ns DESC, symbol DESC", BAR, start, end)  # fmt: skip
    return [r for r in rows if (symbols is None or r[1] in symbols) and direction in (None, r[2])
            and (min_abs is None or abs(r[3]) >= min_abs)]  # fmt: skip


@pytest.mark.parametrize(("symbols", "direction", "min_abs"), [
    (None, None, None), (["AAPL", "MSFT"], None, None), (None, "up", None), (None, "down", 8.0), (None, None, 9.0),
])  # fmt: skip
@pytest.mark.parametrize("kept", [False, True])
def test_jump_events_are_the_views_rows_newest_first_over_every_page(storage, symbols, direction, min_abs, kept):
    expected = _jumps(storage, symbols, direction, min_abs)
    assert len(expected) >= 2
    limit = max(1, len(expected) // 3)
    told: list[str] = []
    jumps = JumpMemory(storage, BAR) if kept else None
    pages, rows = _pages(lambda **a: jump_events(storage, bar_seconds=BAR, symbols=symbols, direction=direction,
                                                 min_abs_stat=min_abs, jumps=jumps, on_path=told.append, **a), limit)
    assert [(r.bar_end_ns, r.symbol, r.direction, r.lee_mykland_stat) for r in rows] == expected
    for page in pages[:-1]:
        assert _cursor(page.next_cursor) == {"t": "get_jump_events", "k": [page.rows[-1].bar_end_ns, page.rows[-1].symbol]}
    assert told == ["memory" if kept else "sql"] * len(pages)


def test_jump_events_keep_to_the_window_and_need_no_on_path(storage):
    ends = sorted({r[0] for r in _jumps(storage)})
    start, end = ends[2], ends[-2]
    assert _jumps(storage, start=start, end=end) != _jumps(storage)  # the window leaves rows out at both ends
    for jumps in (None, JumpMemory(storage, BAR)):
        for symbols in (["MSFT"], None):
            page = jump_events(storage, limit=100, bar_seconds=BAR, symbols=symbols, start=start, end=end, jumps=jumps)
            assert [(r.bar_end_ns, r.symbol) for r in page.rows] == [r[:2] for r in _jumps(storage, symbols, start=start,
                                                                                             end=end)]
    with pytest.raises(UnknownSymbol, match="^unknown symbol 'QQQQ'"):
        jump_events(storage, limit=5, bar_seconds=BAR, symbol="QQQQ")


# ---- daily metrics ---------------------------------------------------------------------------------------------


def _days(storage, symbols=None, first="0001-01-01", last="9999-12-31"):
    rows = _sql(storage, "SELECT CAST(session_date AS VARCHAR), symbol FROM symbol_metrics WHERE bar_seconds = ? "
                "AND session_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) ORDER BY session_date DESC, symbol DESC",
                BAR, first, last)  # fmt: skip
    return [r for r in rows if symbols is None or r[1] in symbols]


def _midnight_ns(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 10**9


def test_symbol_metrics_are_the_days_of_the_window_over_every_page(storage):
    expected = _days(storage)
    assert len(expected) >= 5
    pages, rows = _pages(lambda **a: symbol_metrics(storage, bar_seconds=BAR, **a), 2)
    assert [(r.session_date, r.symbol) for r in rows] == expected
    for page in pages[:-1]:
        assert _cursor(page.next_cursor) == {"t": "get_symbol_metrics",
                                             "k": [page.rows[-1].session_date, page.rows[-1].symbol]}
    some = symbol_metrics(storage, limit=50, bar_seconds=BAR, symbols=["SPY", "aapl"])
    assert [(r.session_date, r.symbol) for r in some.rows] == _days(storage, ["SPY", "AAPL"])
    with pytest.raises(UnknownSymbol, match="^unknown symbol 'QQQQ'"):
        symbol_metrics(storage, limit=5, bar_seconds=BAR, symbol="QQQQ")


def test_a_day_is_in_when_the_window_overlaps_it_in_utc(storage, monkeypatch):
    newest = _days(storage)[0][0]
    midnight = _midnight_ns(newest)
    day_ns = 86_400 * 10**9
    cases = [  # (start, end) -> the days whose [midnight, next midnight) overlaps [start, end)
        ((midnight, midnight + 1), newest, newest),
        ((midnight - day_ns, midnight), "0001-01-01", (datetime.fromisoformat(newest) - timedelta(days=1)).date().isoformat()),
        ((midnight + day_ns - 1, midnight + day_ns), newest, newest),
        ((midnight + day_ns, midnight + 2 * day_ns), "9999-12-30", "9999-12-31"),
    ]  # fmt: skip
    monkeypatch.setenv("TZ", "America/Los_Angeles")  # the server's own zone changes nothing: days are UTC dates
    time.tzset()
    try:
        for (start, end), first, last in cases:
            page = symbol_metrics(storage, limit=50, bar_seconds=BAR, start=start, end=end)
            expected = [r for r in _days(storage) if first <= r[0] <= last] if first <= newest else []
            assert [(r.session_date, r.symbol) for r in page.rows] == expected, (start, end)
        everything = symbol_metrics(storage, limit=50, bar_seconds=BAR, start=midnight)
        assert [(r.session_date, r.symbol) for r in everything.rows] == _days(storage, first=newest)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert market._date(midnight - 1) < newest == market._date(midnight) == market._date(midnight + day_ns - 1)


# ---- enriched trades -------------------------------------------------------------------------------------------


def _trades(storage, symbol, start=0, end=FAR):
    return _sql(storage, "SELECT ts_ns, exchange, trade_id, signal_bar_end_ns FROM enriched_market_data "
                "WHERE symbol = ? AND (bar_seconds = ? OR bar_seconds IS NULL) AND ts_ns >= ? AND ts_ns < ? "
                "ORDER BY ts_ns DESC, exchange DESC, trade_id DESC", symbol, BAR, start, end)  # fmt: skip


def test_enriched_trades_are_the_views_rows_newest_first_over_every_page(storage):
    all_trades = _trades(storage, "MSFT")
    start, end = all_trades[len(all_trades) * 3 // 4][0], all_trades[len(all_trades) // 10][0]
    expected = _trades(storage, "MSFT", start, end)
    assert 10 < len(expected) < len(all_trades)
    pages, rows = _pages(lambda **a: enriched_data(storage, symbol="msft", bar_seconds=BAR, start=start, end=end, **a),
                         len(expected) // 4)
    assert [(r.ts_ns, r.exchange, r.trade_id, r.signal_bar_end_ns) for r in rows] == expected
    assert all(r.symbol == "MSFT" and r.bar_seconds in (BAR, None) and r.ts == _iso(r.ts_ns) for r in rows)
    for page in pages[:-1]:
        last = page.rows[-1]
        assert _cursor(page.next_cursor) == {"t": "get_enriched_data", "k": [last.ts_ns, last.exchange, last.trade_id]}
    with pytest.raises(UnknownSymbol, match="^unknown symbol 'QQQQ'"):
        enriched_data(storage, symbol="QQQQ", limit=5, bar_seconds=BAR)
    assert enriched_data(storage, symbol="MSFT", limit=5, bar_seconds=BAR, start=1, end=2).count == 0
    newest = enriched_data(storage, symbol="MSFT", limit=3, bar_seconds=BAR, hours_back=1000)
    assert [r.ts_ns for r in newest.rows] == [t[0] for t in all_trades[:3]]


def test_a_cursor_resumes_only_its_own_tool(storage):
    cursor = trading_signals(storage, limit=2, bar_seconds=BAR, symbol="AAPL").next_cursor
    with pytest.raises(ValueError):
        jump_events(storage, limit=2, bar_seconds=BAR, cursor=cursor)
    with pytest.raises(ValueError):
        enriched_data(storage, symbol="AAPL", limit=2, bar_seconds=BAR, cursor=cursor)
    with pytest.raises(ValueError):
        symbol_metrics(storage, limit=2, bar_seconds=BAR, cursor=cursor)


# ---- the latest state ------------------------------------------------------------------------------------------


def _latest(storage):
    """Per symbol (alphabetical) its newest bar end and its last trade's instant (plain SQL)."""
    bars = dict(_sql(storage, "SELECT symbol, max(bar_end_ns) FROM trading_signals WHERE bar_seconds = ? GROUP BY 1",
                     BAR))  # fmt: skip
    trades = dict(_sql(storage, "SELECT symbol, max(ts_ns) FROM market_data GROUP BY 1"))
    reach = min(bars.values()) - BAR * 10**9  # the query looks back one bar from the oldest newest bar
    return [(s, bars[s], trades[s] if trades[s] >= reach else None) for s in sorted(bars)]


@pytest.mark.parametrize("kept", [False, True])
def test_real_time_data_is_each_symbols_newest_bar_and_last_trade(storage, kept):
    expected = _latest(storage)
    assert [e[0] for e in expected] == SYMBOLS
    assert any(e[2] is not None for e in expected)
    now_ns = max(e[1] for e in expected) + 5 * 10**9 + 123_456_789
    told: list[str] = []
    latest = LatestRows(storage, BAR) if kept else None
    page = real_time_data(storage, limit=10, bar_seconds=BAR, latest=latest, on_path=told.append, now_ns=now_ns)
    assert told == ["memory" if kept else "sql"]
    assert [(r.symbol, r.bar_end_ns, r.last_trade_ns) for r in page.rows] == expected
    for row in page.rows:
        assert (row.bar_end, row.last_trade) == (_iso(row.bar_end_ns),
                                                 None if row.last_trade_ns is None else _iso(row.last_trade_ns))
        assert row.signal_age_seconds == pytest.approx((now_ns - row.bar_end_ns) / 1e9)
    assert (page.count, page.truncated, page.next_cursor, page.as_of) == (5, False, None, _iso(now_ns))
    two = real_time_data(storage, limit=2, bar_seconds=BAR, symbols=["tsla", "AAPL", "SPY"], latest=latest)
    assert [r.symbol for r in two.rows] == ["AAPL", "SPY"] and (two.count, two.truncated) == (2, True)
    with pytest.raises(UnknownSymbol, match="^unknown symbol 'QQQQ'"):
        real_time_data(storage, limit=5, bar_seconds=BAR, symbol="QQQQ", latest=latest)


def test_real_time_data_stamps_now_and_a_missing_trade_is_null(storage):
    before = time.time_ns()
    page = real_time_data(storage, limit=10, bar_seconds=BAR, symbol="SPY")
    after = time.time_ns()
    assert _iso(before) <= page.as_of <= _iso(after)

    class NoTrade:  # kept rows whose symbol has no trade in reach of its bar
        def __init__(self) -> None:
            self.calls: list[tuple] = []

        def records(self, symbols, limit, now_ns):
            self.calls.append((symbols, limit, now_ns))
            row = SignalRow.model_construct(**{n: None for n in SignalRow.model_fields}).model_dump()
            row.update(symbol="SPY", bar_end_ns=1_000_000_000_123_000_000, bar_seconds=BAR, n_trades=0, volume=0.0, close=1.0,
                       jump_detected=False, last_price=None, last_size=None, last_trade_ns=None,
                       trade_age_seconds=None, signal_age_seconds=1.0)  # fmt: skip
            return [row], True

    latest = NoTrade()
    page = real_time_data(storage, limit=7, bar_seconds=BAR, symbol="spy", latest=latest, now_ns=5 * 10**18)
    assert latest.calls == [(["SPY"], 7, 5 * 10**18)]
    (row,) = page.rows
    assert (row.last_trade, row.last_trade_ns, row.bar_end) == (None, None, "2001-09-09T01:46:40.123Z")
    assert (page.count, page.truncated, page.as_of) == (1, True, _iso(5 * 10**18))


# ---- the named queries' parameters -----------------------------------------------------------------------------


def _declared(name: str) -> set[str]:
    """The parameters a named query declares in its header (``-- params: a, b``), as the backends bind them."""
    from pathlib import Path

    header = (Path(__file__).resolve().parents[2] / "sql" / "duckdb" / "queries" / f"{name}.sql").read_text()
    line = next(line for line in header.splitlines() if line.startswith("-- params:"))
    return {p.strip() for p in line.removeprefix("-- params:").split(",")} - {"row_limit", "none", ""}


class DeclaredParams:
    """The storage, checking that every named query gets each parameter it declares under its exact name (DuckDB
    binds ``$name`` ignoring case; the Vertica backend picks the declared names out of the dict)."""

    def __init__(self, storage) -> None:
        self._storage = storage
        self.names: list[str] = []

    def query(self, name, params, limit):
        missing = _declared(name) - set(params)
        assert not missing, f"{name} misses {sorted(missing)} (given {sorted(params)})"
        self.names.append(name)
        return self._storage.query(name, params, limit)

    def __getattr__(self, attribute):
        return getattr(self._storage, attribute)


def test_each_tool_passes_its_query_the_declared_parameters(storage):
    checked = DeclaredParams(storage)
    calls = [
        (enriched_data, {"symbol": "AAPL", "hours_back": 1000}, "enriched_data_page"),
        (trading_signals, {"symbol": "AAPL"}, "trading_signals_symbol_page"),
        (trading_signals, {"symbols": ["AAPL", "SPY"], "signal_type": "BUY"}, "trading_signals_page"),
        (jump_events, {"direction": "up", "min_abs_stat": 1.0}, "jump_events_page"),
        (symbol_metrics, {"symbols": ["AAPL", "SPY"]}, "symbol_metrics_page"),
    ]  # fmt: skip
    for tool, arguments, query in calls:
        first = tool(checked, limit=2, bar_seconds=BAR, **arguments)
        second = tool(checked, limit=2, bar_seconds=BAR, cursor=first.next_cursor, **arguments)
        assert checked.names.count(query) >= 2, (query, checked.names)
        plain = tool(storage, limit=2, bar_seconds=BAR, cursor=first.next_cursor, **arguments)
        assert second.model_dump() == plain.model_dump() | {"as_of": second.as_of}
    now_ns = time.time_ns()
    assert (real_time_data(checked, limit=3, bar_seconds=BAR, now_ns=now_ns).model_dump()
            == real_time_data(storage, limit=3, bar_seconds=BAR, now_ns=now_ns).model_dump())
    assert "real_time_data" in checked.names
    with pytest.raises(UnknownSymbol):
        trading_signals(checked, limit=2, bar_seconds=BAR, symbol="QQQQ")
    assert checked.names[-1] == "known_symbols"


@pytest.mark.parametrize("tool", [enriched_data, trading_signals, jump_events, symbol_metrics])
def test_hours_back_and_start_together_are_refused_by_every_windowed_tool(storage, tool):
    with pytest.raises(ValueError, match="^give either hours_back or start"):
        tool(storage, symbol="AAPL", limit=2, bar_seconds=BAR, hours_back=1.0, start=1)


def test_hours_back_keeps_the_trades_of_the_last_hours(storage):
    before = time.time_ns()
    _, rows = _pages(lambda **a: enriched_data(storage, symbol="SPY", bar_seconds=BAR, hours_back=0.5, **a), 500)
    after = time.time_ns()
    trades = _trades(storage, "SPY")
    surely_in = [t[0] for t in trades if t[0] >= after - 1800 * 10**9]
    assert 0 < len(surely_in) < len(trades)
    assert all(r.ts_ns >= before - 1800 * 10**9 for r in rows)
    assert [r.ts_ns for r in rows][: len(surely_in)] == surely_in
