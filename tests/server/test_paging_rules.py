"""``fetch_page`` on a real DuckDB file: keyset pages that tile the rows exactly, cursors bound to their tool,
time columns made ISO strings, typed rows (in process, small data: fast enough for mutation runs)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from server.arguments import decode_cursor, encode_cursor
from server.models import SignalRow
from server.tools.paging import records, construct_rows, fetch_page
from sql.backend import QueryResult
from sql.duckdb_backend import DuckDBStorage
from tests.server.tiny_market import build_tiny_market
from conftest import small_settings

NS_MAX = 2**63 - 1
KEYS = ("bar_end_ns", "symbol")


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):
    path = build_tiny_market(tmp_path_factory.mktemp("paging") / "tiny.duckdb")
    opened = DuckDBStorage.open(small_settings(path), read_only=True)
    yield opened
    opened.close()


def _page(storage, cursor: str | None, limit: int, tool: str = "get_trading_signals"):
    return fetch_page(
        storage, tool=tool, query="trading_signals_page",
        params={"symbols": None, "signal_type": None, "start_ns": 0, "end_ns": NS_MAX, "bar_seconds": 60},
        cursor=cursor, cursor_params=("after_bar_end_ns", "after_symbol"), cursor_columns=KEYS,
        cursor_keys=("ns", "text"), limit=limit, row_model=SignalRow,
    )  # fmt: skip


def test_pages_tile_every_row_once_newest_first_and_the_last_has_no_cursor(storage):
    expected = storage.fetch_all("SELECT bar_end_ns, symbol FROM trading_signals WHERE bar_seconds = 60 "
                                 "ORDER BY bar_end_ns DESC, symbol DESC")  # fmt: skip
    assert len(expected) > 100
    limit, seen, cursor, pages = 37, [], None, 0
    while True:
        page = _page(storage, cursor, limit)
        pages += 1
        seen += [(row.bar_end_ns, row.symbol) for row in page.rows]
        assert page.count == len(page.rows) and page.truncated is (page.next_cursor is not None)
        if page.next_cursor is None:
            break
        assert page.count == limit
        assert decode_cursor("get_trading_signals", page.next_cursor, ("ns", "text")) == list(seen[-1])
        cursor = page.next_cursor
    assert seen == [tuple(row) for row in expected]
    assert pages == -(-len(expected) // limit) and 0 < page.count <= limit


def test_an_exact_last_page_is_not_truncated(storage):
    (total,) = storage.fetch_one("SELECT count(*) FROM trading_signals WHERE bar_seconds = 60")
    page = _page(storage, None, total)
    assert page.count == total and page.truncated is False and page.next_cursor is None
    page = _page(storage, None, total - 1)
    assert page.count == total - 1 and page.truncated is True and page.next_cursor is not None


def test_rows_are_typed_with_iso_times_and_the_answer_is_stamped_now(storage):
    before = time.time_ns()
    page = _page(storage, None, 5)
    first = page.rows[0]
    assert isinstance(first, SignalRow) and isinstance(first.bar_end_ns, int)
    stamp = datetime.fromtimestamp(first.bar_end_ns // 1000 / 1e6, UTC)
    assert first.bar_end == stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    as_of = datetime.fromisoformat(page.as_of.replace("Z", "+00:00")).timestamp()
    assert before / 1e9 - 0.001 <= as_of <= time.time_ns() / 1e9


def test_a_cursor_of_another_tool_is_refused(storage):
    cursor = encode_cursor("get_jump_events", [NS_MAX, "AAPL"])
    with pytest.raises(ValueError, match="cursor is not one that get_trading_signals returned"):
        _page(storage, cursor, 5)


def test_only_time_columns_become_iso_text_even_when_the_first_row_has_none():
    moment = datetime(2026, 1, 2, 14, 30, 0, 125_000)
    result = QueryResult(columns=["a", "t", "d", "n"],
                         rows=[(1, None, date(2026, 1, 2), None), (2, moment, date(2026, 1, 3), None),
                               (3, None, None, "x")], truncated=False)  # fmt: skip
    assert records(result) == [
        {"a": 1, "t": None, "d": "2026-01-02", "n": None},
        {"a": 2, "t": "2026-01-02T14:30:00.125Z", "d": "2026-01-03", "n": None},
        {"a": 3, "t": None, "d": None, "n": "x"},
    ]
    plain = QueryResult(columns=["a", "b"], rows=[(1, "x"), (2, None)], truncated=True)
    assert records(plain) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    assert records(QueryResult(columns=["a"], rows=[], truncated=False)) == []


def test_constructed_rows_keep_declared_values_without_validation():
    (row,) = construct_rows(SignalRow, [{"symbol": "AAPL", "bar_end_ns": 5, "volume": "not checked"}])
    assert row.symbol == "AAPL" and row.bar_end_ns == 5 and row.volume == "not checked"
