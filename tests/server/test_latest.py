"""``get_real_time_data`` from the rows kept in memory equals the SQL's answer, row for row, through writes.

Hypothesis draws calls (one, several, all or unknown symbols, limits, the instant ages are measured from) and,
on a writable copy of the market file, writes between them as the demo's process makes them: trade batches
(new last trades, trades at the same instant as the last one, re-sent duplicates with another price, old
trades), transform passes that commit new bars, resets of a symbol's signals, and ``bar_realized_spread`` rows
written for a symbol's newest bar after it was loaded. After every write the page
answered from :class:`server.tools.latest.LatestRows` must equal the page of the SQL, model for model.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import writable_copy
from server.tools import market
from server.tools.latest import LatestRows
from sql.contract import BAR_REALIZED_SPREAD_SCHEMA, TRADES_SCHEMA
from udx.transform import run_transform

BAR = 60
NS = 1_000_000_000
SYMBOLS = ["AAPL", "MSFT", "TSLA", "BTC-USD", "ETH-USD", "SPY", "NVDA", "AMZN", "GOOGL"]


def _pages(storage, latest, symbols, limit, now_ns):
    """The page from memory (and the path it took) and the page of the SQL, for one call."""
    paths: list[str] = []
    kept = market.real_time_data(storage, symbols=symbols, limit=limit, bar_seconds=BAR, latest=latest,
                                 on_path=paths.append, now_ns=now_ns)  # fmt: skip
    sql = market.real_time_data(storage, symbols=symbols, limit=limit, bar_seconds=BAR, now_ns=now_ns)
    return kept.model_dump(), sql.model_dump(), paths


call_args = st.tuples(
    st.one_of(st.none(), st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=5, unique=True)),
    st.integers(1, 12),
    st.integers(-(10**12), 10**12),
)


@settings(max_examples=60, deadline=None)
@given(args=call_args)
def test_a_read_only_file_answers_from_memory_what_the_sql_answers(market_storage, args):
    symbols, limit, shift = args
    latest = LatestRows.attach(market_storage, BAR)
    kept, sql, paths = _pages(market_storage, latest, symbols, limit, time.time_ns() + shift)
    assert kept == sql
    assert paths == ["memory"]


@pytest.fixture(scope="module")
def live(market_db, tmp_path_factory):
    """A writable copy of the market file, its settings, and the rows kept in memory (loaded)."""
    storage, settings_ = writable_copy(market_db, tmp_path_factory.mktemp("latest"))
    latest = LatestRows.attach(storage, BAR)
    assert latest is not None and latest.records(None, 100, 0) is not None
    yield storage, settings_, latest
    storage.close()


trade_specs = st.lists(
    st.tuples(st.sampled_from(SYMBOLS[:6]), st.sampled_from(["new", "tie", "resend", "old"]), st.integers(0, 3 * 3600),
              st.integers(0, 20), st.integers(0, 10**6), st.floats(1, 500), st.integers(1, 500)),
    min_size=1, max_size=12,
)  # fmt: skip
writes = st.lists(st.tuples(st.sampled_from(["trades", "trades", "transform", "reset", "realized"]), trade_specs,
                            st.sampled_from(SYMBOLS)), min_size=1, max_size=4)  # fmt: skip


def _realized_for_newest(storage, symbol: str, value: float) -> None:
    """A ``bar_realized_spread`` row for the newest bar of ``symbol`` (as the transform writes once a stock's session
    ended and its last bar's horizon passed); none when the symbol has no bar or the bar has its row."""
    newest = storage.fetch_all("SELECT last_bar_end_ns FROM signal_state WHERE symbol = $s AND bar_seconds = $b",
                               {"s": symbol, "b": BAR})
    if newest:
        storage.write_realized_spread(pa.Table.from_pylist([{
            "symbol": symbol, "bar_end_ns": newest[0][0], "bar_seconds": BAR, "horizon_seconds": 300, "n_trades": 1,
            "matched_volume": 1.0, "realized_spread": value, "price_impact": -value / 2, "tick_price": None,
            "tick_sign": 0, "computed_at_ns": 1}], schema=BAR_REALIZED_SPREAD_SCHEMA))  # fmt: skip


def _trades(storage, specs) -> pa.Table:
    """A batch around the newest trade: new, tied, re-sent (another price) and old trades of a few symbols."""
    newest = storage.newest_trade_ns()
    last = {r[0]: r for r in storage.query("last_trades", {"bar_seconds": BAR}, 100).rows}
    rows = []
    for symbol, kind, seconds, exchange, number, price, size in specs:
        held = last.get(symbol)
        if kind == "resend" and held is not None:  # the stored last trade again, with another price
            ts, exchange, trade_id = held[1], held[2], held[3]
        elif kind == "tie" and held is not None:  # another trade at the same instant as the last one
            ts, trade_id = held[1], str(number)
        elif kind == "old":
            ts, trade_id = newest - (seconds + 1) * NS, f"old{number}"
        else:
            ts, trade_id = newest + seconds % 90 * NS, str(number)
        rows.append({"market": "crypto" if "-" in symbol else "stocks", "symbol": symbol, "ts_ns": ts, "price": price,
                     "size": float(size), "exchange": exchange, "trade_id": trade_id, "conditions": None, "tape": None,
                     "sequence": None, "trf_id": None, "trf_ts_ns": None, "received_ns": ts, "source": "sim",
                     "correction": None})  # fmt: skip
    return pa.Table.from_pylist(rows, schema=TRADES_SCHEMA)


@settings(max_examples=40, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=writes, args=call_args)
def test_after_any_writes_memory_still_answers_what_the_sql_answers(live, steps, args):
    storage, settings_, latest = live
    for write, specs, symbol in steps:  # the file keeps every example's writes: the state only grows
        if write == "trades":
            storage.append_trades(_trades(storage, specs))
        elif write == "transform":
            run_transform(storage, settings_)
        elif write == "realized":
            _realized_for_newest(storage, symbol, len(specs) / 1e4)
        else:
            storage.reset_signals([symbol], BAR)
    symbols, limit, shift = args
    kept, sql, paths = _pages(storage, latest, symbols, limit, time.time_ns() + shift)
    assert kept == sql
    assert paths == ["memory"]


def test_a_failed_listener_call_drops_the_rows_and_the_next_call_loads_them_again(live):
    storage, _, latest = live
    latest.write_failed(RuntimeError("seeded"))
    kept, sql, paths = _pages(storage, latest, None, 50, time.time_ns())
    assert kept == sql and paths == ["memory"]


def test_storages_that_do_not_tell_of_their_writes_get_no_copy_in_memory(market_storage):
    class Plain:  # a storage without add_write_listener, as the Vertica backend is
        query = market_storage.query

    assert LatestRows.attach(Plain(), BAR) is None  # type: ignore[arg-type]
