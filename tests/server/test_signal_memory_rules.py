"""Fast rules of :class:`server.tools.signal_memory.SignalMemory` against the page queries on a tiny DuckDB file.

The rows are written straight to the file (``tests/server/memory_rows.py``: five symbols of 3 to 30 bars, ties
across symbols, every signal type, liquidity and realized rows of some bars), so a case costs milliseconds and the
reference is the named SQL (``trading_signals_page``, ``trading_signals_symbol_page``) over the same file: an answer
from memory must be the SQL's, row for row, and whether memory answers at all follows the module's rule, checked by
hand here: a row is given only if it is not older than the oldest kept bar of any wanted symbol not held complete,
and a page that runs out of rows only if its window starts at or after that bar. Writes are made on a copy of the
file per test.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.models import SignalRow
from server.tools.paging import RowMaker
from server.tools.signal_memory import SignalMemory
from tests.server.memory_rows import (BAR, NS, SYMBOLS, T0, FirstQueryInterrupted, bar, base_signals, liquidity,
                                      listener_failures, open_copy, realized, realized_table, signals, states_of,
                                      template, writable_copy)

PAGE, ONE = "trading_signals_page", "trading_signals_symbol_page"
ALL = {"signal_type": None, "bar_seconds": BAR, "start_ns": -(2**62), "end_ns": 2**62, "after_bar_end_ns": None,
       "after_symbol": None}  # fmt: skip
ROWS = base_signals()
ENDS = {s: sorted((r["bar_end_ns"] for r in ROWS if r["symbol"] == s), reverse=True) for s in SYMBOLS}
KEPT = (1, 3, 5, 100)  # 100: every symbol held complete


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    directory = tmp_path_factory.mktemp("signals")
    storage = open_copy(template(directory, ROWS), directory, "base")
    # measures and realized values of a few bars, so that the page's joined columns are not all NULL
    for symbol in ("AAPL", "ZZ"):
        end = ENDS[symbol][1]
        storage.commit_signals(signals([]), [], liquidity=liquidity(symbol, end, 0.01 * len(symbol)))
        storage.write_realized_spread(realized_table([realized(symbol, end, 0.02), realized(symbol, ENDS[symbol][3],
                                                                                            0.04)]))
    storage.close()
    return directory / "base.duckdb"


@pytest.fixture(scope="module")
def shared(base, tmp_path_factory):
    storage = open_copy(base, tmp_path_factory.mktemp("shared"), "shared")
    memories = {kept: SignalMemory.attach_kept(storage, BAR, row_model=SignalRow, kept=kept) for kept in KEPT}
    yield storage, memories
    storage.close()


@pytest.fixture
def fresh(base, tmp_path, caplog):
    with writable_copy(base, tmp_path, caplog) as storage:
        yield storage


def _params(symbols) -> tuple[str, dict]:
    if isinstance(symbols, str):
        return ONE, {**ALL, "symbol": symbols}
    return PAGE, {**ALL, "symbols": symbols}


def _answered(storage, memory, name, params, limit) -> bool:
    """Whether memory answered; its answer, when it gives one, is the SQL's."""
    answer = memory.answer(name, params, limit)
    if answer is not None:
        sql = storage.query(name, params, limit)
        assert answer.result() == sql, (name, params, limit)
        maker = RowMaker(sql, SignalRow)  # the typed rows a page serves: as the page code types the SQL's rows
        assert [r.model for r in answer.rows[:2]] == [maker.make(v) for v in sql.rows[:2]]
        assert [(r.bar_end_ns, r.symbol, r.signal) for r in answer.rows] == [
            (v[1], v[0], v[answer.columns.index("trading_signal")]) for v in answer.result().rows]
    return answer is not None


def _all_same(storage, memory, *, loaded: bool = True) -> None:
    """The newest page of every symbol (alone and with the others) is answered, and as the SQL answers it;
    ``loaded``: the rows were held before (a write was applied in place, not forgotten)."""
    assert (memory._held is not None) is loaded
    for symbols in (*SYMBOLS, "NEW", None, ["AAPL", "ab"], ["a", "B", "NOSUCH"]):
        name, params = _params(symbols)
        newest = min(memory._kept - 1, 1)  # one row and whether there is more: kept of every symbol
        assert _answered(storage, memory, name, params, newest), symbols
        for limit in (4, 500) if memory._kept < 100 else (500,):
            _answered(storage, memory, name, params, limit)


instants = st.one_of(st.sampled_from(sorted({e for ends in ENDS.values() for e in ends})),
                     st.integers(T0 - 50 * BAR * NS, T0 + 15 * BAR * NS))
calls = st.tuples(
    st.one_of(st.sampled_from([*SYMBOLS, "NOSUCH"]), st.none(),
              st.lists(st.sampled_from([*SYMBOLS, "NOSUCH"]), min_size=1, max_size=4)),  # repeats too
    st.sampled_from([None, "HOLD", "BUY", "SELL"]), st.one_of(st.none(), instants), st.one_of(st.none(), instants),
    st.integers(1, 12), st.integers(0, 40), st.sampled_from(KEPT),
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(call=calls)
def test_any_call_memory_answers_is_answered_as_the_sql_answers_it(shared, call):
    storage, memories = shared
    symbols, signal, start, end, limit, cursor_at, kept = call
    name, params = _params(symbols)
    params = {**params, "signal_type": signal, "start_ns": ALL["start_ns"] if start is None else start,
              "end_ns": ALL["end_ns"] if end is None else end}
    if cursor_at:  # resume after a real row, as a next_cursor does
        rows = storage.query(name, params, 300).rows
        if rows:
            row = rows[min(cursor_at, len(rows)) - 1]
            params = {**params, "after_bar_end_ns": row[1], "after_symbol": row[0]}
    answered = _answered(storage, memories[kept], name, params, limit)
    if kept == 100:  # every bar kept: every call is answered from memory
        assert answered


def test_what_memory_answers_follows_the_oldest_kept_bar(shared):
    storage, memories = shared
    memory = memories[5]
    floor = ENDS["AAPL"][4]  # AAPL's fifth newest: the oldest kept
    one = {**ALL, "symbol": "AAPL"}
    cases = [  # (params, limit, answered)
        (one, 4, True), (one, 5, False),  # five rows and the sixth (is there more?) is not kept
        ({**one, "start_ns": floor}, 50, True), ({**one, "start_ns": floor - 1}, 50, False),
        ({**one, "start_ns": floor, "end_ns": floor + 1}, 5, True), ({**one, "end_ns": floor}, 1, False),
        ({**one, "start_ns": floor, "after_bar_end_ns": floor, "after_symbol": "AAPL"}, 5, True),  # empty
        ({**one, "after_bar_end_ns": ENDS["AAPL"][2], "after_symbol": "AAPL"}, 1, True),  # rows 4 and 5
        ({**one, "after_bar_end_ns": ENDS["AAPL"][2], "after_symbol": "AAPL"}, 2, False),
        ({**one, "after_bar_end_ns": ENDS["AAPL"][2], "after_symbol": "AAPL", "end_ns": ENDS["AAPL"][0]}, 1, True),
        ({**one, "after_bar_end_ns": floor, "after_symbol": "AAPL", "start_ns": floor - 1}, 1, False),
        ({**one, "signal_type": "BUY", "start_ns": floor}, 50, True),
        ({**one, "end_ns": ENDS["AAPL"][0]}, 3, True),  # the window ends exactly on a bar: that bar is out
        ({**one, "after_bar_end_ns": ENDS["AAPL"][0], "after_symbol": "AAPL", "end_ns": ENDS["AAPL"][2]}, 1, True),
        ({**one, "after_bar_end_ns": ENDS["AAPL"][0], "after_symbol": "AAPL", "end_ns": ENDS["AAPL"][2] + 1}, 1, True),
        ({**ALL, "symbol": "a"}, 50, True),  # three bars: held complete
        ({**ALL, "symbols": ["a", "NOSUCH"]}, 50, True),
        ({**ALL, "symbols": ["a", "AAPL"], "start_ns": floor}, 50, True),
        ({**ALL, "symbols": ["a", "AAPL"], "start_ns": floor - 1}, 50, False),
        ({**ALL, "symbols": ["a", "ZZ"]}, 50, False),
        ({**ALL, "symbols": ["a", "ZZ"], "start_ns": max(floor, ENDS["ZZ"][4])}, 50, True),
        ({**ALL, "symbols": ["AAPL", "ZZ"], "start_ns": max(floor, ENDS["ZZ"][4])}, 50, True),  # the higher floor
        ({**ALL, "symbols": ["AAPL", "ZZ"], "start_ns": min(floor, ENDS["ZZ"][4])}, 50, False),
    ]
    for params, limit, answered in cases:
        name = ONE if "symbol" in params else PAGE
        assert _answered(storage, memory, name, params, limit) is answered, (params, limit)
    assert memory.answer(PAGE, {**ALL, "symbols": None}, 1) is not None  # the two newest rows are kept
    assert memory.answer("jump_events_page", {**ALL, "symbols": None}, 1) is None
    assert memory.answer(PAGE, {**ALL, "symbols": None, "bar_seconds": 300}, 1) is None


def test_a_cursor_at_every_row_including_ties_across_symbols(shared):
    storage, memories = shared
    rows = storage.query(PAGE, {**ALL, "symbols": None}, 500).rows
    assert len({r[1] for r in rows}) < len(rows)  # ties on the bar end
    for row in rows:
        params = {**ALL, "symbols": None, "after_bar_end_ns": row[1], "after_symbol": row[0]}
        assert _answered(storage, memories[100], PAGE, params, 3)
        _answered(storage, memories[5], PAGE, params, 2)


def test_more_than_ninety_symbols_are_all_kept(fresh):
    names = [f"S{i:03d}" for i in range(91)]
    rows = [bar(s, T0 + (i % 7) * NS * BAR, signal=("BUY", "HOLD")[i % 2]) for i, s in enumerate(names)]
    fresh.commit_signals(signals(rows), states_of(rows))
    memory = _attach(fresh, 2)
    assert _answered(fresh, memory, PAGE, {**ALL, "symbols": names}, 100)  # one bar each: every one complete
    assert _answered(fresh, memory, PAGE, {**ALL, "symbols": names[:3], "signal_type": "BUY"}, 5)


def test_a_symbol_with_exactly_kept_bars_is_held_complete(shared):
    storage, memories = shared
    a = {**ALL, "symbol": "a"}  # three bars
    assert _answered(storage, memories[3], ONE, a, 50)
    assert not _answered(storage, SignalMemory(storage, BAR, row_model=SignalRow, kept=2), ONE, a, 50)
    assert _answered(storage, memories[1], ONE, a, 0)  # nothing asked: the one kept row tells there is more


def test_a_load_that_a_write_overlaps_is_discarded_and_the_next_call_loads(shared):
    storage, _ = shared

    # a write told while the load reads
    told = FirstQueryInterrupted(storage, lambda: memory.signals_written(signals([]), []))
    memory = SignalMemory(told, BAR, row_model=SignalRow, kept=5)
    assert memory.answer(ONE, {**ALL, "symbol": "AAPL"}, 2) is None
    assert _answered(storage, memory, ONE, {**ALL, "symbol": "AAPL"}, 2)


def test_a_load_that_a_reset_overlaps_is_discarded(shared):
    storage, _ = shared

    # a reset told while the load reads
    resetting = FirstQueryInterrupted(storage, lambda: memory.signals_reset(["AAPL"], BAR))
    memory = SignalMemory(resetting, BAR, row_model=SignalRow, kept=5)
    memory.signals_written(signals([]), [])  # one write told before: nothing held, counted
    assert memory.answer(ONE, {**ALL, "symbol": "AAPL"}, 2) is None


class _Loads:
    """A storage that counts the loads (``signal_symbols``: read once a load) of the memory reading through it."""

    def __init__(self, storage) -> None:
        self.storage, self.loads = storage, 0

    def query(self, name, params, limit):
        self.loads += name == "signal_symbols"
        return self.storage.query(name, params, limit)


def _attach(storage, kept):
    """A memory told of the writes of ``storage``, reading through a :class:`_Loads` (``memory._storage.loads``)."""
    memory = SignalMemory(_Loads(storage), BAR, row_model=SignalRow, kept=kept)
    storage.add_write_listener(memory)
    return memory


def _loads(memories) -> list[int]:
    return [memory._storage.loads for memory in memories]


def test_new_and_rewritten_bars_are_kept_as_the_sql_reads_them(fresh):
    memories = [_attach(fresh, kept) for kept in (1, 5, 100)]
    newest = max(ENDS["ab"][0], ENDS["a"][0])
    writes = [
        # new bars of two symbols, one new symbol, at the same instants
        [bar("AAPL", newest + BAR * NS, signal="BUY", tag=1), bar("NEW", newest + BAR * NS, signal="SELL", tag=1),
         bar("NEW", newest + 2 * BAR * NS, tag=1)],
        # kept bars written again with another signal, the newest of ZZ among them
        [bar("ZZ", ENDS["ZZ"][0], signal="SELL", tag=2), bar("ZZ", ENDS["ZZ"][2], signal="BUY", tag=2),
         bar("AAPL", ENDS["AAPL"][1], signal="SELL", tag=2)],
        # bars older than every kept one written again (not kept where the symbol is held incomplete)
        [bar("ZZ", ENDS["ZZ"][-1], signal="BUY", tag=3), bar("AAPL", ENDS["AAPL"][20], signal="BUY", tag=3)],
        # more new bars of a symbol than any memory but the last keeps (alone: its read back starts at the fifth)
        [bar("a", newest + (3 + i) * BAR * NS, signal=("BUY", "HOLD")[i % 2], tag=4) for i in range(8)],
        [bar("B", ENDS["B"][0] + BAR * NS, tag=4)],  # one new bar of a symbol held incomplete
    ]
    for rows in writes:
        fresh.commit_signals(signals(rows), states_of(rows))
        for memory in memories:
            _all_same(fresh, memory)
    assert _loads(memories) == [1, 1, 1]  # every commit merged in, none read everything again
    five = memories[1]
    assert _answered(fresh, five, ONE, {**ALL, "symbol": "a"}, 4)
    assert not _answered(fresh, five, ONE, {**ALL, "symbol": "a"}, 50)  # 11 bars now, 5 kept: incomplete
    fifth = newest + (3 + 3) * BAR * NS  # the fifth newest of the eight new bars: the oldest kept
    assert _answered(fresh, five, ONE, {**ALL, "symbol": "a", "start_ns": fifth}, 50)
    assert not _answered(fresh, five, ONE, {**ALL, "symbol": "a", "start_ns": fifth - 1}, 50)
    assert _answered(fresh, five, ONE, {**ALL, "symbol": "B"}, 4)
    assert not _answered(fresh, five, ONE, {**ALL, "symbol": "B", "start_ns": ENDS["B"][4] - 1}, 50)
    assert _answered(fresh, memories[2], ONE, {**ALL, "symbol": "a"}, 50)  # 100 kept: still complete
    assert _answered(fresh, memories[2], PAGE, {**ALL, "symbols": None}, 500)


def test_an_old_bar_of_a_complete_symbol_is_kept_and_a_new_one_beyond_kept_cuts_it(fresh):
    memory, four = _attach(fresh, 3), _attach(fresh, 4)  # "a" (three bars) is complete
    rows = [bar("a", ENDS["a"][-1] - 40 * BAR * NS, signal="SELL", tag=5)]  # older than all
    fresh.commit_signals(signals(rows), states_of(rows))
    assert not _answered(fresh, memory, ONE, {**ALL, "symbol": "a"}, 50)  # four bars, three kept
    assert _answered(fresh, four, ONE, {**ALL, "symbol": "a"}, 50)  # four bars, four kept: still complete
    assert _answered(fresh, memory, ONE, {**ALL, "symbol": "a"}, 2)
    rows = [bar("B", ENDS["B"][0] + BAR * NS, tag=6)]
    fresh.commit_signals(signals(rows), states_of(rows))
    assert _answered(fresh, memory, ONE, {**ALL, "symbol": "B", "start_ns": ENDS["B"][1]}, 50)
    assert not _answered(fresh, memory, ONE, {**ALL, "symbol": "B", "start_ns": ENDS["B"][1] - 1}, 50)


def test_realized_rows_written_later_are_served_with_their_kept_bars(fresh):
    memory = _attach(fresh, 5)
    rows = [realized("B", ENDS["B"][0], 0.11), realized("B", ENDS["B"][2], 0.12), realized("ab", ENDS["ab"][1], 0.13),
            realized("AAPL", ENDS["AAPL"][10], 0.14)]  # the last: not kept
    fresh.write_realized_spread(realized_table(rows))
    fresh.write_realized_spread(realized_table([realized("B", ENDS["B"][1], 0.15, grid=300)]))  # no bar: none
    _all_same(fresh, memory)
    page = memory.answer(ONE, {**ALL, "symbol": "B"}, 3)
    column = page.columns.index("realized_spread")
    assert [r.values[column] for r in page.rows] == [0.11, None, 0.12]


def test_a_read_back_spanning_too_many_stored_bars_loads_everything_again(fresh, caplog):
    old = [bar("OLD", ENDS["AAPL"][-1] - (5 + i) * BAR * NS, tag=7) for i in range(2)]
    fresh.commit_signals(signals(old), states_of(old))
    memory = _attach(fresh, 3)  # OLD: two bars, complete
    rows = [bar("OLD", old[-1]["bar_end_ns"], signal="BUY", tag=8), bar("AAPL", ENDS["AAPL"][0] + BAR * NS, tag=8)]
    with caplog.at_level(logging.INFO, logger="microstructure.server"):
        fresh.commit_signals(signals(rows), states_of(rows))  # the read back spans all of AAPL's 30 bars: > 4 x 3 x 2
    assert memory._storage.loads == 2  # read everything again at once
    assert [r.getMessage() for r in caplog.records if r.name == "microstructure.server"] == [
        "a commit of 2 bars spans more stored bars than expected: reloading"]
    _all_same(fresh, memory)
    assert _answered(fresh, memory, ONE, {**ALL, "symbol": "OLD"}, 50)


def test_a_reset_holds_its_symbols_complete_and_empty(fresh):
    memory = _attach(fresh, 5)
    fresh.reset_signals(["AAPL", "ZZ"], BAR)
    assert memory.answer(PAGE, {**ALL, "symbols": ["AAPL", "ZZ"]}, 5).rows == []
    assert _answered(fresh, memory, ONE, {**ALL, "symbol": "AAPL"}, 5)
    fresh.reset_signals(["B"], 300)  # another grid: B's bars stay
    _all_same(fresh, memory)
    assert not _answered(fresh, memory, ONE, {**ALL, "symbol": "B"}, 50)
    rows = [bar("AAPL", T0, tag=9), bar("AAPL", T0 - BAR * NS, tag=9)]
    fresh.commit_signals(signals(rows), states_of(rows))
    assert _answered(fresh, memory, ONE, {**ALL, "symbol": "AAPL"}, 50)  # complete: two bars
    rows = [bar("ZZ", T0 - i * BAR * NS, tag=9) for i in range(8)]  # eight bars of a symbol held empty, five kept
    fresh.commit_signals(signals(rows), states_of(rows))
    assert _answered(fresh, memory, ONE, {**ALL, "symbol": "ZZ"}, 4)
    assert not _answered(fresh, memory, ONE, {**ALL, "symbol": "ZZ"}, 50)  # the three older ones are not kept
    memory.write_failed(RuntimeError("seeded"))
    fresh.reset_signals(["ab"], BAR)  # nothing held: nothing to do
    _all_same(fresh, memory, loaded=False)


def test_a_file_without_bars_then_its_first_bars(tmp_path, caplog):
    storage = open_copy(template(tmp_path), tmp_path, "empty")
    try:
        memory = _attach(storage, 5)
        for name, params in (_params("AAPL"), _params(None)):  # nothing stored: answered empty (the answer's
            answer = memory.answer(name, params, 5)  # columns are then the none loaded: a page of no row reads none)
            assert answer is not None and (answer.rows, answer.truncated) == ([], False)
            assert storage.query(name, params, 5).rows == []
        rows = [bar(s, T0 - i * BAR * NS, signal=("BUY", "HOLD")[i % 2]) for s in ("AAPL", "B") for i in range(7)]
        storage.commit_signals(signals(rows), states_of(rows))
        _all_same(storage, memory)
    finally:
        storage.close()
    assert listener_failures(caplog) == []


def test_commits_of_another_grid_and_before_the_first_load_change_nothing(fresh):
    memory = _attach(fresh, 5)
    rows = [bar("AAPL", ENDS["AAPL"][0], grid=300, signal="SELL"), bar("AAPL", ENDS["AAPL"][0] + 300 * NS, grid=300)]
    fresh.commit_signals(signals(rows), states_of(rows))
    fresh.write_realized_spread(realized_table([realized("AAPL", ENDS["AAPL"][0], 0.5, grid=300)]))
    _all_same(fresh, memory)
    later = SignalMemory(fresh, BAR, row_model=SignalRow, kept=5)  # not attached: loads at the first call
    later.signals_written(signals([bar("AAPL", T0, tag=1)]), [])
    later.realized_written(realized_table([realized("AAPL", ENDS["AAPL"][0], 0.5)]))
    _all_same(fresh, later, loaded=False)
    assert SignalMemory.attach_kept(fresh, BAR, row_model=SignalRow, kept=0) is None
