"""``get_trading_signals`` answered from the newest bars kept in memory equals the SQL path, row for row.

Hypothesis draws the arguments (one, several or all symbols, signal type, windows, cursors taken from real rows,
limits) and how many bars per symbol are kept, and compares :class:`server.tools.signal_memory.SignalMemory`
with the page queries: on the shared read-only file, on a writable copy between random writes (new trades and
transform passes, resets of a symbol, bars written again), and while a client pages through bars that keep
arriving. Whole pages are compared too (``market.trading_signals`` with and without the memory: rows, cursor,
count, truncated), and the path each answer took.
"""

from __future__ import annotations


import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import writable_copy
from server.models import SignalRow
from server.tools import market
from server.tools.signal_memory import SignalMemory
from tests.server.test_jump_memory import _moves
from tests.server.test_recent_window import calls
from udx.transform import run_transform

BAR = 60
NS = 1_000_000_000
SYMBOLS = ["AAPL", "MSFT", "TSLA", "NVDA", "SPY", "BTC-USD", "ETH-USD", "NOSUCH"]


def _with_cursor(storage, query, params, cursor_at):
    if cursor_at:  # resume after a real row of the plain answer, as a next_cursor does
        rows = storage.query(query, params, 300).rows
        if rows:
            row = rows[min(cursor_at, len(rows)) - 1]
            return {**params, "after_bar_end_ns": row[1], "after_symbol": row[0]}
    return params


def _compare(storage, memory, call) -> bool:
    """Whether memory answered; its answer, when it gives one, is the SQL's."""
    query, params, limit, cursor_at = call
    params = _with_cursor(storage, query, params, cursor_at)
    answer = memory.answer(query, params, limit)
    if answer is not None:
        assert answer.result() == storage.query(query, params, limit)
    return answer is not None


@pytest.fixture(scope="module")
def memories(market_storage):
    """Memories of the shared file keeping 1, 7, 60 and 5,000 bars per symbol (the last: every bar)."""
    return {kept: SignalMemory.attach_kept(market_storage, BAR, row_model=SignalRow, kept=kept)
            for kept in (1, 7, 60, 5000)}  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=calls(), kept=st.sampled_from([1, 7, 60, 5000]))
def test_a_read_only_file_answers_from_memory_what_the_sql_answers(market_storage, memories, call, kept):
    answered = _compare(market_storage, memories[kept], call)
    if kept == 5000:  # every bar is kept: every call is answered from memory
        assert answered


def test_the_newest_page_is_answered_from_memory_and_a_deep_page_by_the_sql(market_storage, memories):
    memory = memories[60]
    params = {"symbol": "AAPL", "signal_type": None, "bar_seconds": BAR, "start_ns": 0, "end_ns": 2**62,
              "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    assert _compare(market_storage, memory, ("trading_signals_symbol_page", params, 50, 0))
    # rows 10-59 and the 60th (is there more?) are kept; row 61, which would tell after rows 11-60, is not
    assert _compare(market_storage, memory, ("trading_signals_symbol_page", params, 50, 9))
    assert not _compare(market_storage, memory, ("trading_signals_symbol_page", params, 50, 10))
    assert not _compare(market_storage, memory, ("trading_signals_symbol_page", params, 60, 0))


def _pages(storage, memory, arguments, pages=4):
    """Page through ``get_trading_signals`` with and without the memory; the paths the memory's pages took."""
    paths: list[str] = []
    cursor_kept = cursor_sql = None
    for _ in range(pages):
        kept = market.trading_signals(storage, bar_seconds=BAR, cursor=cursor_kept, memory=memory,
                                      on_path=paths.append, **arguments)  # fmt: skip
        plain = market.trading_signals(storage, bar_seconds=BAR, cursor=cursor_sql, **arguments)
        assert kept.model_dump(exclude={"as_of"}) == plain.model_dump(exclude={"as_of"})
        cursor_kept, cursor_sql = kept.next_cursor, plain.next_cursor
        if cursor_kept is None:
            break
    return paths


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.one_of(st.none(), st.lists(st.sampled_from(SYMBOLS[:-1]), min_size=1, max_size=3, unique=True)),
       limit=st.integers(1, 100), signal_type=st.sampled_from([None, "HOLD", "BUY"]), kept=st.sampled_from([7, 60]))
def test_pages_from_memory_equal_the_sql_pages_with_their_cursors(market_storage, memories, chosen, limit,
                                                                  signal_type, kept):
    arguments = {"symbols": chosen, "limit": limit, "signal_type": signal_type}
    paths = _pages(market_storage, memories[kept], arguments)
    assert set(paths) <= {"memory", "narrowed", "sql"}


@pytest.fixture(scope="module")
def live(market_db, tmp_path_factory):
    storage, settings_ = writable_copy(market_db, tmp_path_factory.mktemp("signals"))
    memory = SignalMemory.attach_kept(storage, BAR, row_model=SignalRow, kept=40)
    assert memory is not None
    yield storage, settings_, memory
    storage.close()


def _rewritten(storage, symbol: str, n: int) -> pa.Table:
    """The newest ``n`` stored bars of ``symbol`` with another signal: a recomputed bar replaces the stored one."""
    con = storage._cursor()  # the rows as stored, in the contract's column order
    table = con.sql("SELECT * FROM trading_signals WHERE symbol = $s AND bar_seconds = $b ORDER BY bar_end_ns DESC "
                    "LIMIT $n", params={"s": symbol, "b": BAR, "n": n}).to_arrow_table()
    flipped = pc.if_else(pc.equal(table["trading_signal"], "HOLD"), "BUY", "HOLD")
    return table.set_column(table.schema.get_field_index("trading_signal"), "trading_signal", flipped)


writes = st.lists(st.tuples(st.sampled_from(["moves", "moves", "reset", "rewrite"]), st.sampled_from(SYMBOLS[:7]),
                            st.integers(2, 50), st.floats(-0.05, 0.05)), min_size=1, max_size=3)  # fmt: skip


def _write(storage, settings_, step) -> None:
    write, symbol, n, jump = step
    if write == "moves":
        storage.append_trades(_moves(storage, symbol, n, jump))
    elif write == "reset":
        storage.reset_signals([symbol], BAR)
    else:
        storage.commit_signals(_rewritten(storage, symbol, n), [])
    run_transform(storage, settings_)


@settings(max_examples=25, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=writes, call=calls())
def test_after_any_writes_memory_still_answers_what_the_sql_answers(live, steps, call):
    storage, settings_, memory = live
    for step in steps:  # the file keeps every example's writes
        _write(storage, settings_, step)
    _compare(storage, memory, call)
    newest = {"symbol": step[1], "signal_type": None, "bar_seconds": BAR, "start_ns": 0, "end_ns": 2**62,
              "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    assert _compare(storage, memory, ("trading_signals_symbol_page", newest, 20, 0))  # the newest: always kept


@settings(max_examples=8, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(chosen=st.one_of(st.none(), st.lists(st.sampled_from(SYMBOLS[:7]), min_size=1, max_size=3, unique=True)),
       limit=st.integers(5, 30), step=st.tuples(st.just("moves"), st.sampled_from(SYMBOLS[:7]), st.integers(2, 8),
                                               st.floats(-0.05, 0.05)))  # fmt: skip
def test_paging_while_new_bars_arrive_gives_the_pages_of_the_sql(live, chosen, limit, step):
    storage, settings_, memory = live
    arguments = {"symbols": chosen, "limit": limit}
    first = market.trading_signals(storage, bar_seconds=BAR, memory=memory, **arguments)
    _write(storage, settings_, step)  # new bars arrive between two pages
    paths: list[str] = []
    second = market.trading_signals(storage, bar_seconds=BAR, memory=memory, cursor=first.next_cursor,
                                    on_path=paths.append, **arguments)  # fmt: skip
    plain = market.trading_signals(storage, bar_seconds=BAR, cursor=first.next_cursor, **arguments)
    assert second.model_dump(exclude={"as_of"}) == plain.model_dump(exclude={"as_of"})
    if first.next_cursor is not None:  # the second page resumes after the first, whatever arrived meanwhile
        last = (first.rows[-1].bar_end_ns, first.rows[-1].symbol)
        assert all((r.bar_end_ns, r.symbol) < last for r in second.rows)
    newest = market.trading_signals(storage, bar_seconds=BAR, memory=memory, on_path=paths.append, **arguments)
    assert newest.model_dump(exclude={"as_of"}) == market.trading_signals(
        storage, bar_seconds=BAR, **arguments).model_dump(exclude={"as_of"})
    assert paths[-1] == "memory"


def test_a_reset_symbol_is_answered_empty_then_with_its_recomputed_bars(live):
    storage, settings_, memory = live
    params = {"symbol": "TSLA", "signal_type": None, "bar_seconds": BAR, "start_ns": 0, "end_ns": 2**62,
              "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    storage.reset_signals(["TSLA"], BAR)
    answer = memory.answer("trading_signals_symbol_page", params, 10)
    assert answer is not None and answer.rows == [] and storage.query("trading_signals_symbol_page", params, 10).rows == []
    run_transform(storage, settings_)
    assert _compare(storage, memory, ("trading_signals_symbol_page", params, 10, 0))


def test_no_bars_kept_means_no_memory(market_storage):
    assert SignalMemory.attach_kept(market_storage, BAR, row_model=SignalRow, kept=0) is None


def test_a_symbol_kept_only_from_a_later_bar_bounds_what_memory_answers(live):
    storage, _, memory = live
    # NVDA gets 15 bars after every other symbol's newest: its 40 kept bars start 15 bars later than MSFT's
    newest = _rewritten(storage, "NVDA", 15)
    later = pc.add(newest["bar_end_ns"], pa.scalar(15 * BAR * NS, pa.int64()))
    storage.commit_signals(newest.set_column(newest.schema.get_field_index("bar_end_ns"), "bar_end_ns", later), [])
    params = {"symbols": ["MSFT", "NVDA"], "signal_type": None, "bar_seconds": BAR, "start_ns": 0, "end_ns": 2**62,
              "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
    assert _compare(storage, memory, ("trading_signals_page", params, 30, 0))  # NVDA's 15, then both: all kept
    assert not _compare(storage, memory, ("trading_signals_page", params, 70, 0))  # then NVDA: not kept from 40 back
