"""The quote columns of ``enriched_market_data`` (bid_price, ask_price, trade_side, quote_flags,
effective_spread) on a real DuckDB file: equal to the plain reference written from the rule
(``tests/reference/quotes.py``) and to the kernels ``udx.nbbo`` + ``udx.trade_sign`` on random trades and
quotes (locked, crossed, one-sided, stale, a quote at the trade's own stamp, several quotes at one stamp,
prints that may not set the price); ``get_enriched_data``'s page (its span, then ``enriched_data_page``) gives
the same rows on random windows and limits, also when the last price change lies over 1,000 trades back, and so
do the Vertica span and page queries (run by ``VerticaStorage`` on ``tests/sql/vertica_on_duckdb.py``)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.tools import market
from server.tools.page_span import PageSpan
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage
from sql.queries import load_registry
from sql.settings import Settings
from tests.reference.quotes import BIGINT_MAX, TradeQuote, daily_spreads, trade_order, trades_against_quotes
from udx._chunk_read import arrays_of, valid_prints
from udx.nbbo import STALE, prevailing_quotes
from udx.trade_sign import TICK_ONLY, TickState, lee_ready

pytestmark = pytest.mark.duckdb

MS = 10**6
STALE_SECONDS = 0.01  # 10 ms: the random streams below cross it often
STALE_NS = 10 * MS
SYMBOLS = ("AAA", "BBB")
PRICES = [10.00, 10.01, 10.02, 10.03, 10.04]
SIDE_PRICES = PRICES + [0.0, 10.015, 10.025]  # 0: Polygon's missing side; half cents put trades at mid
_ids = itertools.count()

COLUMNS = ("bid_price", "ask_price", "trade_side", "quote_flags", "effective_spread")
VIEW_SQL = f"SELECT symbol, exchange, trade_id, {', '.join(COLUMNS)} FROM enriched_market_data"


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    path = tmp_path_factory.mktemp("enriched") / "q.duckdb"
    store = DuckDBStorage.open(Settings(duckdb_path=path, quote_stale_seconds=STALE_SECONDS))
    store.apply_schema()
    yield store
    store.close()


trade_rows = st.lists(st.tuples(
    st.sampled_from(SYMBOLS), st.integers(0, 40), st.sampled_from(PRICES), st.sampled_from([None, None, None, "12", "37"]),
    st.one_of(st.none(), st.integers(0, 5)), st.integers(1, 3)), max_size=40)
quote_rows = st.lists(st.tuples(
    st.sampled_from(SYMBOLS), st.integers(0, 40), st.sampled_from(SIDE_PRICES), st.sampled_from(SIDE_PRICES),
    st.one_of(st.none(), st.integers(0, 5))), max_size=30)


def _trades(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"market": "stocks", "symbol": s, "ts_ns": ms * MS, "price": p, "size": 100.0, "exchange": ex,
             "trade_id": f"t{next(_ids)}", "conditions": c, "tape": 3, "sequence": seq, "trf_id": None,
             "trf_ts_ns": None, "received_ns": ms * MS + 1, "source": "sim", "correction": 0}
            for s, ms, p, c, seq, ex in rows]


def _quotes(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"market": "stocks", "symbol": s, "ts_ns": ms * MS, "bid_price": b, "bid_size": 1.0, "ask_price": a,
             "ask_size": 1.0, "bid_exchange": 1, "ask_exchange": 2, "conditions": None, "sequence": seq, "tape": 3,
             "received_ns": next(_ids), "source": "sim"} for s, ms, b, a, seq in rows]


def _store(storage: DuckDBStorage, trades: list[dict[str, Any]], quotes: list[dict[str, Any]]) -> None:
    storage.execute_write("DELETE FROM market_data")
    storage.execute_write("DELETE FROM quotes")
    if trades:
        storage.append_trades(pa.Table.from_pylist(trades, schema=TRADES_SCHEMA))
    if quotes:
        storage.append_quotes(pa.Table.from_pylist(quotes, schema=QUOTES_SCHEMA))


def _view(storage: DuckDBStorage) -> dict[tuple[str, int, str], TradeQuote]:
    return {(r[0], r[1], r[2]): TradeQuote(*r[3:]) for r in storage.fetch_all(VIEW_SQL)}


def _same(a: TradeQuote, b: TradeQuote) -> bool:
    if (a.bid_price, a.ask_price, a.trade_side, a.quote_flags) != (b.bid_price, b.ask_price, b.trade_side,
                                                                   b.quote_flags):
        return False
    if a.effective_spread is None or b.effective_spread is None:
        return a.effective_spread is b.effective_spread
    return math.isclose(a.effective_spread, b.effective_spread, rel_tol=1e-12, abs_tol=1e-15)


def _kernels(trades: list[dict[str, Any]], quotes: list[dict[str, Any]]) -> dict[tuple[str, int, str], TradeQuote]:
    """The same columns from udx as the transform signs: the join over all prints, then ``lee_ready`` over the
    symbol's prints at once with the ``sets_price`` flags the transform passes (``udx._chunk_read``: Polygon's
    eligibility of each print's conditions, then ``valid_prints``, which keeps every print drawn here)."""
    out = {}
    for symbol in SYMBOLS:
        ts = sorted((t for t in trades if t["symbol"] == symbol), key=trade_order)
        qs = sorted((q for q in quotes if q["symbol"] == symbol),
                    key=lambda q: (q["ts_ns"], BIGINT_MAX if q["sequence"] is None else q["sequence"],
                                   q["received_ns"]))
        p = prevailing_quotes([t["ts_ns"] for t in ts], [q["ts_ns"] for q in qs], [q["bid_price"] for q in qs],
                              [q["ask_price"] for q in qs], STALE_NS)
        kept, px, _, sets_price, _ = valid_prints(np.arange(len(ts), dtype=np.int64), *arrays_of(
            pa.Table.from_pylist(ts, schema=TRADES_SCHEMA), "stocks")[1:])
        assert kept.size == len(ts)  # "12" and "37" count in volume: the transform drops none
        assert sets_price.tolist() == [t["conditions"] is None for t in ts]  # and they may not set the price
        signed = lee_ready(px, p.bid, p.ask, p.flags, TickState(), sets_price)
        for i, t in enumerate(ts):
            key = (symbol, t["exchange"], t["trade_id"])
            bid, ask = (None if np.isnan(x) else float(x) for x in (p.bid[i], p.ask[i]))
            usable = p.flags[i] == 0
            mid = 0.5 * (p.bid[i] + p.ask[i])
            spread = float(2.0 * abs(t["price"] - mid) / mid) if usable else None
            flags = int(signed.flags[i])
            if flags & STALE:  # the view shows a stale quote as not in force: no prices, no shape bits
                bid = ask = None
                flags = STALE | TICK_ONLY
            out[key] = TradeQuote(bid, ask, int(signed.side[i]), flags, spread)
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trade_rows, quote_rows)
def test_the_view_equals_the_reference_and_the_kernels(storage, t_rows, q_rows):
    trades, quotes = _trades(t_rows), _quotes(q_rows)
    _store(storage, trades, quotes)
    view = _view(storage)
    reference = trades_against_quotes(trades, quotes, STALE_NS)
    kernels = _kernels(trades, quotes)
    assert view.keys() == reference.keys() == kernels.keys()
    for key, row in view.items():
        assert _same(row, reference[key]), (key, row, reference[key])
        assert _same(row, kernels[key]), (key, row, kernels[key])


FULL_SQL = "SELECT * FROM enriched_market_data"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trade_rows, quote_rows, st.integers(1, 6), st.integers(-2, 42), st.integers(1, 45))
def test_every_page_of_the_page_query_equals_the_view(storage, t_rows, q_rows, row_limit, start_ms, length_ms):
    """Span, then page, as the server reads them (``PageSpan``), walked through the keyset over a window."""
    trades, quotes = _trades(t_rows), _quotes(q_rows)
    _store(storage, trades, quotes)
    view = {(r[1], r[6], r[7]): r for r in storage.fetch_all(FULL_SQL)}
    window = {"start_ns": start_ms * MS, "end_ns": (start_ms + length_ms) * MS}
    for symbol in SYMBOLS:
        params = {"symbol": symbol, "bar_seconds": 60, **window, "after_ts_ns": None, "after_exchange": None,
                  "after_trade_id": None}
        seen = []
        while True:
            page = PageSpan(storage).query("enriched_data_page", params, row_limit)
            for r in page.rows:
                assert r[:14] == view[(r[1], r[6], r[7])][:14]  # the trade's own columns
                assert _same(TradeQuote(*r[14:19]), TradeQuote(*view[(r[1], r[6], r[7])][14:19]))
            seen += [(r[2], r[6], r[7]) for r in page.rows]
            if not page.truncated:
                break
            assert len(page.rows) == row_limit
            params.update(after_ts_ns=page.rows[-1][2], after_exchange=page.rows[-1][6],
                          after_trade_id=page.rows[-1][7])
        assert seen == sorted(((t["ts_ns"], t["exchange"], t["trade_id"]) for t in trades if t["symbol"] == symbol
                               and window["start_ns"] <= t["ts_ns"] < window["end_ns"]), reverse=True)


def test_a_page_after_more_than_1000_prints_at_one_price_signs_from_the_older_change(storage):
    """The page's tick state is the view's even when its last price change lies over 1,000 trades back (the page
    used to search the 1,000 trades before it only, and signed such trades 0): a zero tick after a downtick
    sells."""
    rows = [("AAA", 1, 10.02, None, None, 1), ("AAA", 2, 10.01, None, None, 1)]
    rows += [("AAA", 3, 10.01, None, i, 1) for i in range(1_100)]  # one price, one stamp
    rows += [("AAA", 4, 10.01, None, None, 2), ("AAA", 5, 10.01, "12", None, 1), ("AAA", 6, 10.01, None, None, 3)]
    trades = _trades(rows)
    _store(storage, trades, [])  # no quote: the tick rule signs every trade
    reference = trades_against_quotes(trades, [], STALE_NS)
    view = _view(storage)
    for limit, start in ((3, 0), (2, 4 * MS), (1, 6 * MS)):
        page = market.enriched_data(storage, symbol="AAA", limit=limit, bar_seconds=60, start=start)
        assert page.count == limit
        for row in page.rows:
            key = (row.symbol, row.exchange, row.trade_id)
            got = TradeQuote(row.bid_price, row.ask_price, row.trade_side, row.quote_flags, row.effective_spread)
            assert _same(got, reference[key]) and _same(got, view[key])
            assert row.trade_side == -1


def _one(storage: DuckDBStorage, trades: list[dict[str, Any]], quotes: list[dict[str, Any]]) -> list[TradeQuote]:
    _store(storage, trades, quotes)
    view = _view(storage)
    return [view[(t["symbol"], t["exchange"], t["trade_id"])] for t in trades]


def test_a_quote_at_the_trades_own_stamp_is_not_its_prevailing_quote(storage):
    trades = _trades([("AAA", 5, 10.02, None, None, 1)])
    quotes = _quotes([("AAA", 4, 10.0, 10.02, None), ("AAA", 5, 10.02, 10.03, None)])
    [row] = _one(storage, trades, quotes)
    assert (row.bid_price, row.ask_price, row.trade_side, row.quote_flags) == (10.0, 10.02, 1, 0)
    assert math.isclose(row.effective_spread, 2 * 0.01 / 10.01, rel_tol=1e-12)


def test_of_quotes_sharing_a_stamp_the_last_in_sip_order_prevails(storage):
    trades = _trades([("AAA", 5, 10.01, None, None, 1)])
    quotes = _quotes([("AAA", 3, 10.0, 10.04, 9), ("AAA", 3, 10.02, 10.03, 7), ("AAA", 3, 9.0, 11.0, None)])
    [row] = _one(storage, trades, quotes)
    assert (row.bid_price, row.ask_price) == (9.0, 11.0)  # a missing sequence sorts last, as for trades
    quotes[2]["sequence"] = 1
    [row] = _one(storage, trades, quotes)
    assert (row.bid_price, row.ask_price, row.trade_side) == (10.0, 10.04, -1)


@pytest.mark.parametrize(("bid", "ask", "flags"), [(10.0, 10.0, 8 | 64), (10.02, 10.0, 16 | 64), (0.0, 10.02, 4 | 64),
                                                   (10.0, None, 4 | 64)])
def test_locked_crossed_and_one_sided_quotes_are_flagged_and_the_tick_rule_signs(storage, bid, ask, flags):
    trades = _trades([("AAA", 1, 10.00, None, None, 1), ("AAA", 5, 10.01, None, None, 1)])
    quotes = _quotes([("AAA", 3, bid, ask, None)])
    first, second = _one(storage, trades, quotes)
    assert first.quote_flags == 1 | 64 and first.trade_side == 0 and first.bid_price is None
    assert second.quote_flags == flags and second.trade_side == 1 and second.effective_spread is None
    assert (second.bid_price, second.ask_price) == (bid or None, ask)


def test_a_stale_quote_is_flagged_and_not_in_force(storage):
    trades = _trades([("AAA", 1, 10.02, None, None, 1), ("AAA", 30, 10.01, None, None, 1)])
    quotes = _quotes([("AAA", 0, 10.0, 10.04, None)])
    fresh, stale = _one(storage, trades, quotes)
    assert fresh.quote_flags == 32 and fresh.trade_side == 0  # at the midpoint, no price change yet
    assert (stale.bid_price, stale.ask_price, stale.quote_flags, stale.trade_side) == (None, None, 2 | 64, -1)
    assert stale.effective_spread is None


def test_a_print_that_may_not_set_the_price_does_not_move_the_tick_rule(storage):
    rows = [("AAA", 1, 10.00, None, None, 1), ("AAA", 2, 10.01, None, None, 1), ("AAA", 3, 10.04, "12", None, 1),
            ("AAA", 4, 10.01, None, None, 1), ("AAA", 5, 10.01, "37", None, 1)]
    sides = [row.trade_side for row in _one(storage, _trades(rows), [])]
    assert sides == [0, 1, 1, 1, 1]  # 10.04 (Form T) is an uptick of its own; the next 10.01 a zero tick


def test_replayed_flat_files_give_the_simulators_quotes_and_sides_in_the_view(tmp_path):
    from ingest.replay import replay_paths
    from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
    from tests.ingest.quote_files import quotes_rows, write_quotes_v1
    from tests.udx.test_trade_sign_truth import END, write_trades_v1

    m = SyntheticMarket(9, 6.0, DEFAULT_SYMBOLS[:2], quote_dynamics=True, record_truth=True)
    trades, quotes = m.history(END - 1800 * 10**9, END)
    quotes_file, trades_file = tmp_path / "2025-06-15-quotes.csv.gz", tmp_path / "2025-06-15-trades.csv"
    write_quotes_v1(quotes_file, quotes_rows(quotes, lots=True))
    write_trades_v1(trades_file, trades)
    settings_ = Settings(duckdb_path=tmp_path / "r.duckdb")
    replay_paths(settings_, [quotes_file, trades_file], progress=False)
    store = DuckDBStorage.open(settings_, read_only=True)
    try:
        for symbol in ("AAPL", "MSFT"):
            rows = store.fetch_all(f"{VIEW_SQL} WHERE symbol = $symbol", {"symbol": symbol})
            view = {r[2]: TradeQuote(*r[3:]) for r in rows}
            truth = m.trade_truth(symbol).to_pylist()
            assert len(truth) == len(view) > 500
            own = [t for t in truth if t["quote_ts_ns"] < t["ts_ns"]]  # its quote is stamped before it
            assert len(own) > 0.9 * len(truth)
            assert all((view[t["trade_id"]].bid_price, view[t["trade_id"]].ask_price)
                       == (t["quote_bid"], t["quote_ask"]) for t in own)
            usable = [t for t in own if t["at_quote"] and view[t["trade_id"]].quote_flags == 0]
            assert len(usable) > 0.5 * len(truth)
            assert all(view[t["trade_id"]].trade_side == t["side"] for t in usable)
            signed = [t for t in truth if t["at_quote"]]
            right = sum(view[t["trade_id"]].trade_side == t["side"] for t in signed)
            assert right >= 0.9 * len(signed)  # Lee-Ready where trades print at the quotes (issue 19: >= 0.9)
    finally:
        store.close()


def test_the_vertica_view_joins_each_quote_from_its_first_nanosecond_in_force():
    # INTERPOLATE PREVIOUS VALUE matches an equal value first (at or before); ts_ns + 1 makes it strictly before
    code = " ".join(load_registry("vertica", "views")["enriched_market_data"].text.split())
    assert "SELECT symbol, ts_ns, ts_ns + 1 AS effective_ns, bid_price, ask_price FROM quote_book" in code
    assert "e.ts_ns INTERPOLATE PREVIOUS VALUE q.effective_ns" in code
    book = " ".join(load_registry("vertica", "views")["quote_book"].text.split())
    assert "WHERE b.newest = 1" in book  # one quote per stamp: an equal match is one row
    assert "(SELECT MAX(value) AS quote_stale_ns FROM view_settings WHERE name = 'quote_stale_ns')" in code


DAY = 86_400 * 10**9
SPREADS = load_registry("duckdb", "queries")["symbol_daily_spreads"].text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trade_rows, quote_rows, st.integers(0, 40))
def test_daily_spreads_equal_the_reference_across_a_midnight(storage, t_rows, q_rows, midnight_ms):
    # the stamps run from just before to just after a UTC midnight; the window starts at the first day
    day0 = 20_000 * DAY - midnight_ms * MS
    trades, quotes = _trades(t_rows), _quotes(q_rows)
    for row in trades + quotes:
        row["ts_ns"] += day0
    for row in trades:
        row["conditions"] = {"37": "15"}.get(row["conditions"], row["conditions"])  # 15 does not count in volume
    _store(storage, trades, quotes)
    start, end = (day0 // DAY) * DAY, (day0 // DAY + 2) * DAY
    got = {(s, d.toordinal()): (q, e) for s, d, q, e in
           storage.fetch_all(SPREADS, {"symbols": list(SYMBOLS), "start_ns": start, "end_ns": end})}
    want = daily_spreads(trades, quotes, STALE_NS, start, end)
    epoch = 719_163  # date(1970, 1, 1).toordinal()
    assert {(s, d - epoch) for s, d in got} == set(want)
    for (symbol, day), (quoted, effective) in got.items():
        ref_q, ref_e = want[(symbol, day - epoch)]
        for a, b in ((quoted, ref_q), (effective, ref_e)):
            assert (a is None) == (b is None) and (a is None or math.isclose(a, b, rel_tol=1e-9)), (symbol, a, b)


def test_a_quote_standing_over_midnight_counts_in_its_own_day_until_midnight(storage):
    midnight = 20_000 * DAY
    quotes = _quotes([("AAA", 0, 10.00, 10.02, None), ("AAA", 3, 10.00, 10.04, None), ("AAA", 13, 10.00, 10.01, None)])
    for q, at in zip(quotes, (midnight - 8 * MS, midnight - 5 * MS, midnight + 5 * MS)):
        q["ts_ns"] = at
    _store(storage, [], quotes)
    rows = storage.fetch_all(SPREADS, {"symbols": ["AAA"], "start_ns": midnight - DAY, "end_ns": midnight + DAY})
    z, x, y = 0.02 / 10.01, 0.04 / 10.02, 0.01 / 10.005
    assert [r[0] for r in rows] == ["AAA", "AAA"]
    assert math.isclose(rows[0][2], (3 * z + 5 * x) / 8, rel_tol=1e-12)  # x stands 5 ms to midnight, not 10
    assert math.isclose(rows[1][2], y, rel_tol=1e-12) and rows[0][3] is None


@pytest.fixture(scope="module")
def on_vertica():
    """A VerticaStorage over the DuckDB stand-in (its views are DuckDB's twins: this checks the Vertica span and
    page queries, not Vertica's view)."""
    from sql.vertica_backend import VerticaStorage
    from tests.sql.vertica_on_duckdb import VerticaOnDuckDB

    db = VerticaOnDuckDB()
    store = VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60, pool_size=1)
    yield db, store
    store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trade_rows, quote_rows, st.integers(1, 6), st.integers(0, 42), st.integers(1, 45))  # the tool takes start >= 0
def test_the_vertica_span_and_page_walk_the_views_rows(on_vertica, t_rows, q_rows, limit, start_ms, length_ms):
    db, vertica = on_vertica
    trades, quotes = _trades(t_rows), _quotes(q_rows)
    db.con.execute("DELETE FROM market_data")
    db.con.execute("DELETE FROM quotes")
    if trades:
        vertica.append_trades(pa.Table.from_pylist(trades, schema=TRADES_SCHEMA))
    if quotes:
        vertica.append_quotes(pa.Table.from_pylist(quotes, schema=QUOTES_SCHEMA))
    window = {"start": start_ms * MS, "end": (start_ms + length_ms) * MS}
    columns = "ts_ns, exchange, trade_id, price, sets_price, bid_price, ask_price, trade_side, quote_flags"
    for symbol in SYMBOLS:
        walked, cursor = [], None
        while symbol in {t["symbol"] for t in trades}:  # an unknown symbol is an error, not an empty page
            page = market.enriched_data(vertica, symbol=symbol, limit=limit, bar_seconds=60, cursor=cursor,
                                        **window)  # type: ignore[arg-type]
            walked += [tuple(getattr(row, c) for c in columns.split(", ")) for row in page.rows]
            if page.next_cursor is None:
                break
            assert page.count == limit
            cursor = page.next_cursor
        view = db.rows(f"SELECT {columns} FROM enriched_market_data WHERE symbol = '{symbol}' "
                       f"AND ts_ns >= {window['start']} AND ts_ns < {window['end']} "
                       "AND (bar_seconds = 60 OR bar_seconds IS NULL) ORDER BY ts_ns DESC, exchange DESC, trade_id DESC")
        assert walked == view
