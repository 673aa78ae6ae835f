"""The server's page queries return exactly the rows of the views they compute for one page only.

``enriched_data_page``, ``symbol_metrics_page`` and the ``trading_signals`` pages read only what one page needs
(the newest trades first, the page's days only, keys before whole rows); the reference here is the plain query
over the view, with the filters and keyset of the tool. ``enriched_data_page`` runs as the server runs it: its
span first (``server/tools/page_span.py``), on random windows, cursors, limits and grids, and through the tool.
"""

from __future__ import annotations

import math

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.models import EnrichedTrade
from server.tools import market
from server.tools.page_span import PageSpan
from sql.queries import load_registry

QUERIES = load_registry("duckdb", "queries")

REFERENCE = {
    "enriched_data_page": """
        SELECT * FROM enriched_market_data
        WHERE symbol = $symbol AND ts_ns >= $start_ns AND ts_ns < $end_ns
          AND (bar_seconds = $bar_seconds OR bar_seconds IS NULL)
          AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id) < ($after_ts_ns, $after_exchange, $after_trade_id))
        ORDER BY ts_ns DESC, exchange DESC, trade_id DESC LIMIT $row_limit""",
    "symbol_metrics_page": """
        SELECT * FROM symbol_metrics
        WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
          AND session_date >= CAST($start_date AS DATE) AND session_date <= CAST($end_date AS DATE)
          AND bar_seconds = $bar_seconds
          AND ($after_session_date IS NULL
               OR (session_date, symbol) < (CAST($after_session_date AS DATE), $after_symbol))
        ORDER BY session_date DESC, symbol DESC LIMIT $row_limit""",
    "trading_signals_page": """
        SELECT s.*, l.n_quotes, l.quoted_spread, l.effective_spread, l.buy_volume, l.sell_volume, l.signed_volume,
               l.order_imbalance, l.depth_imbalance, l.amihud, l.roll_spread, l.kyle_lambda, l.vpin_lee_ready,
               r.horizon_seconds, r.realized_spread, r.price_impact,
               make_timestamp(bar_end_ns // 1000) AS bar_end
        FROM trading_signals AS s LEFT JOIN bar_liquidity AS l USING (symbol, bar_seconds, bar_end_ns)
        LEFT JOIN bar_realized_spread AS r USING (symbol, bar_seconds, bar_end_ns)
        WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
          AND ($signal_type IS NULL OR trading_signal = $signal_type)
          AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns AND bar_seconds = $bar_seconds
          AND ($after_bar_end_ns IS NULL OR (bar_end_ns, symbol) < ($after_bar_end_ns, $after_symbol))
        ORDER BY bar_end_ns DESC, symbol DESC LIMIT $row_limit""",
}
REFERENCE["trading_signals_symbol_page"] = REFERENCE["trading_signals_page"].replace(
    "($symbols IS NULL OR list_contains($symbols, symbol))", "symbol = $symbol"
)

ALL_TIME = {"start_ns": 0, "end_ns": 2**63 - 1}


@pytest.fixture(scope="module")
def con(market_db, market_settings):
    # The same configuration as the session's read-only storage, which DuckDB requires of a second connection.
    from sql.duckdb_backend import instance_config

    connection = duckdb.connect(str(market_db), read_only=True, config=instance_config(market_settings))
    yield connection
    connection.close()


def _same(left: list[tuple], right: list[tuple]) -> bool:
    """Row-equal; floats to 1e-12 relative (sums over days may add in another order)."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-300):
                    return False
            elif x != y:
                return False
    return True


def _both(con, name: str, params: dict) -> tuple[list[tuple], list[tuple]]:
    ours = con.execute(QUERIES[name].text, params).fetchall()
    reference = con.execute(REFERENCE[name], params).fetchall()
    return ours, reference


def _symbols(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT symbol FROM trading_signals ORDER BY 1").fetchall()]


def _enriched(con, storage, params: dict, limit: int) -> tuple[tuple[list[tuple], bool], tuple[list[tuple], bool]]:
    """(rows, truncated) of the page as the server reads it (span, then page) and of the plain query on the view."""
    ours = PageSpan(storage).query("enriched_data_page", params, limit)
    reference = con.execute(REFERENCE["enriched_data_page"], {**params, "row_limit": limit + 1}).fetchall()
    return (ours.rows, ours.truncated), (reference[:limit], len(reference) > limit)


def test_enriched_data_page_equals_the_view_on_every_page_and_window(con, market_storage):
    newest = con.execute("SELECT max(ts_ns) FROM market_data").fetchone()[0]
    for symbol in _symbols(con)[:3] + ["NOPE"]:
        for window in (ALL_TIME, {"start_ns": newest - 3_600 * 10**9, "end_ns": newest - 600 * 10**9}):
            params = {"symbol": symbol, "bar_seconds": 60, **window, "after_ts_ns": None, "after_exchange": None,
                      "after_trade_id": None}  # fmt: skip
            for _ in range(3):  # three pages through the keyset
                (ours, more), (reference, more_in_view) = _enriched(con, market_storage, params, 7)
                assert _same(ours, reference) and more == more_in_view, (symbol, window, params)
                if not ours:
                    break
                last = ours[-1]
                params.update(after_ts_ns=last[2], after_exchange=last[6], after_trade_id=last[7])


def test_enriched_data_page_covers_trades_before_the_first_bar_and_other_grids(con, market_storage):
    first_bar = con.execute("SELECT min(bar_end_ns) FROM trading_signals").fetchone()[0]
    symbol = _symbols(con)[0]
    for bar_seconds in (60, 300):  # 300: a grid without bars has no enriched rows, as in the view
        params = {"symbol": symbol, "bar_seconds": bar_seconds, "start_ns": 0, "end_ns": first_bar + 10**9,
                  "after_ts_ns": None, "after_exchange": None, "after_trade_id": None}  # fmt: skip
        (ours, more), (reference, more_in_view) = _enriched(con, market_storage, params, 50)
        assert _same(ours, reference) and more == more_in_view


def _tool_rows(page) -> list[tuple]:
    """The tool's rows as the view's columns (``ts`` aside: the tool writes it as text)."""
    fields = [f for f in EnrichedTrade.model_fields if f != "ts"]
    return [tuple(getattr(row, f) for f in fields) for row in page.rows]


def _view_rows(con, rows: list[tuple]) -> list[tuple]:
    columns = [d[0] for d in con.execute(REFERENCE["enriched_data_page"], {
        "symbol": "", "start_ns": 0, "end_ns": 0, "bar_seconds": 60, "after_ts_ns": None, "after_exchange": None,
        "after_trade_id": None, "row_limit": 0}).description]  # fmt: skip
    at = [columns.index(f) for f in EnrichedTrade.model_fields if f != "ts"]
    return [tuple(row[i] for i in at) for row in rows]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(symbol_at=st.integers(0, 40), start_at=st.floats(-0.1, 1.1), minutes=st.sampled_from([0, 1, 10, 120, 10**7]),
       cursor_at=st.one_of(st.none(), st.floats(0, 1)), limit=st.integers(1, 120),
       bar_seconds=st.sampled_from([60, 60, 60, 300]))  # fmt: skip
def test_enriched_data_page_equals_the_view_on_random_windows_cursors_and_limits(
        con, market_storage, symbol_at, start_at, minutes, cursor_at, limit, bar_seconds):
    first, last = con.execute("SELECT min(ts_ns), max(ts_ns) FROM market_data").fetchone()
    symbols = _symbols(con) + ["NOPE"]
    symbol = symbols[symbol_at % len(symbols)]
    start = max(0, int(first + start_at * (last - first)))
    window = {"start_ns": start, "end_ns": start + minutes * 60 * 10**9 + 1}
    after = (None, None, None)
    if cursor_at is not None:  # a trade of the symbol (of any time: before, in or after the window)
        (n,) = con.execute("SELECT count(*) FROM market_data WHERE symbol = $s", {"s": symbol}).fetchone()
        if n:
            after = con.execute("SELECT ts_ns, exchange, trade_id FROM market_data WHERE symbol = $s "
                                "ORDER BY ts_ns, exchange, trade_id LIMIT 1 OFFSET $k",
                                {"s": symbol, "k": int(cursor_at * (n - 1))}).fetchone()  # fmt: skip
    params = {"symbol": symbol, "bar_seconds": bar_seconds, **window, "after_ts_ns": after[0],
              "after_exchange": after[1], "after_trade_id": after[2]}  # fmt: skip
    (ours, more), (reference, more_in_view) = _enriched(con, market_storage, params, limit)
    assert _same(ours, reference) and more == more_in_view, params
    if symbol == "NOPE" or cursor_at is not None:
        return
    # the tool (window as integer nanoseconds) and its next page through its own cursor
    page = market.enriched_data(market_storage, symbol=symbol, limit=limit, bar_seconds=bar_seconds,
                                start=window["start_ns"], end=window["end_ns"])
    assert _same(_tool_rows(page), _view_rows(con, reference)) and page.truncated == more_in_view
    if page.next_cursor is None:
        return
    tail = reference[-1]
    following = con.execute(REFERENCE["enriched_data_page"], {**params, "after_ts_ns": tail[2],
                            "after_exchange": tail[6], "after_trade_id": tail[7], "row_limit": limit}).fetchall()
    page = market.enriched_data(market_storage, symbol=symbol, limit=limit, bar_seconds=bar_seconds,
                                start=window["start_ns"], end=window["end_ns"], cursor=page.next_cursor)
    assert following and _same(_tool_rows(page), _view_rows(con, following))


def test_symbol_metrics_page_equals_the_view_for_one_several_and_all_symbols(con):
    symbols = _symbols(con)
    days = [str(r[0]) for r in con.execute("SELECT DISTINCT session_date FROM symbol_metrics ORDER BY 1").fetchall()]
    for wanted in ([symbols[0]], symbols[1:4], None):
        for start_date, end_date in (("1970-01-01", "9999-12-31"), (days[-1], days[-1]), (days[0], days[0])):
            params = {"symbols": wanted, "start_date": start_date, "end_date": end_date, "bar_seconds": 60,
                      "after_session_date": None, "after_symbol": None, "row_limit": 4}  # fmt: skip
            for _ in range(3):
                ours, reference = _both(con, "symbol_metrics_page", params)
                assert _same(ours, reference), (wanted, start_date, end_date, params)
                if not ours:
                    break
                params.update(after_session_date=str(ours[-1][1]), after_symbol=ours[-1][0])


@pytest.mark.parametrize("name", ["trading_signals_page", "trading_signals_symbol_page"])
def test_trading_signals_pages_equal_the_plain_query(con, name):
    symbols = _symbols(con)
    newest = con.execute("SELECT max(bar_end_ns) FROM trading_signals").fetchone()[0]
    choices = [{"symbol": s} for s in symbols[:2]] if name.endswith("symbol_page") else [
        {"symbols": None}, {"symbols": symbols[:3]}]  # fmt: skip
    for chosen in choices:
        for signal_type in (None, "HOLD", "BUY"):
            for window in (ALL_TIME, {"start_ns": newest - 7_200 * 10**9, "end_ns": newest}):
                params = {**chosen, "signal_type": signal_type, "bar_seconds": 60, **window,
                          "after_bar_end_ns": None, "after_symbol": None, "row_limit": 9}  # fmt: skip
                for _ in range(3):
                    ours, reference = _both(con, name, params)
                    assert _same(ours, reference), params
                    if not ours:
                        break
                    params.update(after_bar_end_ns=ours[-1][1], after_symbol=ours[-1][0])
