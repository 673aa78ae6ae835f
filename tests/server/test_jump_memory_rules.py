"""Fast rules of :class:`server.tools.jump_memory.JumpMemory` against ``jump_events_page`` on a tiny DuckDB file.

The rows are written straight to the file (``tests/server/memory_rows.py``: five symbols, ties across symbols,
jumps of both signs, one without a statistic, one without a return), so a case costs milliseconds and the
reference is the named SQL over the same file: every answer from memory must be the SQL's, row for row, and the
path (``memory`` or ``sql``) must be the one the module's docstring promises. Writes (new, older and rewritten
jumps, other grids, resets, failed writes, too many rows) are made on a copy of the file per test.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.tools.jump_memory import JumpMemory
from tests.server.memory_rows import (BAR, NS, SYMBOLS, T0, bar, base_signals, open_copy, signals, states_of, template,
                                      writable_copy)

QUERY = "jump_events_page"
ALL = {"symbols": None, "direction": None, "min_abs_stat": None, "start_ns": -(2**62), "end_ns": 2**62,
       "bar_seconds": BAR, "after_bar_end_ns": None, "after_symbol": None}  # fmt: skip
ROWS = base_signals()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return template(tmp_path_factory.mktemp("jumps"), ROWS)


@pytest.fixture(scope="module")
def shared(base, tmp_path_factory):
    storage = open_copy(base, tmp_path_factory.mktemp("shared"), "shared")
    yield storage
    storage.close()


@pytest.fixture
def fresh(base, tmp_path, caplog):
    with writable_copy(base, tmp_path, caplog) as storage:
        yield storage


def _same(storage, memory, params, limit) -> list[str]:
    """The answer through the memory's source equals the SQL's; the paths it took."""
    paths: list[str] = []
    assert memory.source(paths.append).query(QUERY, params, limit) == storage.query(QUERY, params, limit)
    return paths


def _shapes(storage) -> list[tuple[dict, int]]:
    """Calls that together show every stored jump: all, each symbol, each direction, small pages, a cursor."""
    calls = [(ALL, 500), (ALL, 3), ({**ALL, "direction": "up"}, 500), ({**ALL, "direction": "down"}, 4)]
    calls += [({**ALL, "symbols": [s]}, 500) for s in [*SYMBOLS, "NEW"]]
    rows = storage.query(QUERY, ALL, 500).rows
    if len(rows) > 4:
        calls.append(({**ALL, "after_bar_end_ns": rows[3][1], "after_symbol": rows[3][0]}, 500))
    return calls


def _all_same(storage, memory, *, loaded: bool = True) -> None:
    """Every shape of call answered from memory as the SQL answers it; ``loaded``: the rows were held before (a
    write was applied in place, not forgotten)."""
    assert (memory._held is not None) is loaded
    for params, limit in _shapes(storage):
        assert _same(storage, memory, params, limit) == ["memory"], (params, limit)


ENDS = sorted({r["bar_end_ns"] for r in ROWS})
instants = st.one_of(st.sampled_from(ENDS), st.integers(ENDS[0] - 5 * BAR * NS, ENDS[-1] + 5 * BAR * NS))
calls = st.tuples(
    st.one_of(st.none(), st.lists(st.sampled_from([*SYMBOLS, "NOSUCH"]), min_size=1, max_size=4)),  # repeats too
    st.sampled_from([None, "up", "down"]),
    st.one_of(st.none(), st.integers(0, 30), st.floats(0, 13)),  # an integer: the |statistic| of a stored jump
    st.one_of(st.none(), instants), st.one_of(st.none(), instants),
    st.integers(1, 12), st.integers(0, 25),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(call=calls)
def test_any_call_is_answered_from_memory_as_the_sql_answers_it(shared, call):
    symbols, direction, min_abs, start, end, limit, cursor_at = call
    if isinstance(min_abs, int):  # exactly a stored |statistic|: the bound is inclusive
        stats = sorted(abs(r[6]) for r in shared.query(QUERY, ALL, 500).rows if r[6] is not None)
        min_abs = stats[min(min_abs, len(stats) - 1)]
    params = {**ALL, "symbols": symbols, "direction": direction, "min_abs_stat": min_abs,
              "start_ns": ALL["start_ns"] if start is None else start, "end_ns": ALL["end_ns"] if end is None else end}
    if cursor_at:  # resume after a real row, as a next_cursor does
        rows = shared.query(QUERY, {**params, "min_abs_stat": None, "direction": None}, 500).rows
        if rows:
            row = rows[min(cursor_at, len(rows)) - 1]
            params = {**params, "after_bar_end_ns": row[1], "after_symbol": row[0]}
    memory = JumpMemory.attach(shared, BAR)
    assert _same(shared, memory, params, limit) == ["memory"]


def test_the_file_holds_what_the_rules_need(shared):
    """Ties across symbols, both directions, a jump without a statistic: else the cases above prove less."""
    rows = shared.query(QUERY, ALL, 500).rows
    ends = [r[1] for r in rows]
    assert len(set(ends)) < len(ends)
    assert {r[4] for r in rows} == {"up", "down"} and any(r[6] is None for r in rows)
    assert len({abs(r[6]) for r in rows if r[6] is not None}) < len([r for r in rows if r[6] is not None])


def test_the_edges_of_the_window_the_cursor_and_the_limit(shared):
    memory = JumpMemory.attach(shared, BAR)
    rows = shared.query(QUERY, ALL, 500).rows
    tie = next(i for i in range(len(rows) - 1) if rows[i][1] == rows[i + 1][1])
    end = rows[tie][1]
    for params in ({**ALL, "start_ns": end}, {**ALL, "end_ns": end}, {**ALL, "end_ns": end + 1},
                   {**ALL, "start_ns": end, "end_ns": end + 1}, {**ALL, "start_ns": end + 1, "end_ns": end},
                   {**ALL, "after_bar_end_ns": end, "after_symbol": rows[tie][0]},
                   {**ALL, "after_bar_end_ns": end, "after_symbol": rows[tie + 1][0]},
                   {**ALL, "min_abs_stat": abs(rows[tie][6] or 0.0)}, {**ALL, "min_abs_stat": 0.0}):
        for limit in (1, 2, tie + 1, tie + 2, len(rows) - 1, len(rows), len(rows) + 1):
            assert _same(shared, memory, params, limit) == ["memory"], (params, limit)
    page = memory.answer(ALL, len(rows))
    assert page is not None and page.rows == rows and not page.truncated
    page = memory.answer(ALL, len(rows) - 1)
    assert page is not None and page.rows == rows[:-1] and page.truncated


def test_another_grid_or_another_query_runs_the_sql(shared):
    memory = JumpMemory.attach(shared, BAR)
    assert memory.answer({**ALL, "bar_seconds": 300}, 10) is None
    paths: list[str] = []
    other = {"bar_seconds": BAR}
    assert memory.source(paths.append).query("last_trades", other, 10) == shared.query("last_trades", other, 10)
    assert _same(shared, memory, {**ALL, "bar_seconds": 300}, 10) == ["sql"]
    assert paths == ["sql"]
    assert memory.source().query(QUERY, ALL, 5) == shared.query(QUERY, ALL, 5)  # no path to report: still answers


class _Counting:
    """A storage that counts its queries and may run ``before`` once, before the first one."""

    def __init__(self, storage, before=None) -> None:
        self.storage, self.before, self.queries, self.limits = storage, before, 0, []

    def query(self, name, params, limit):
        self.queries += 1
        self.limits.append(limit)
        if self.before is not None:
            before, self.before = self.before, None
            before()
        return self.storage.query(name, params, limit)


def test_exactly_max_rows_jumps_are_kept_one_more_keeps_nothing_for_good(shared, caplog):
    n = len(shared.query(QUERY, ALL, 500).rows)
    assert _same(shared, JumpMemory(shared, BAR, max_rows=n), ALL, 500) == ["memory"]
    counting = _Counting(shared)
    memory = JumpMemory(counting, BAR, max_rows=n - 1)
    with caplog.at_level(logging.INFO, logger="microstructure.server"):
        assert memory.answer(ALL, 5) is None
    assert [r.getMessage() for r in caplog.records if r.name == "microstructure.server"] == [
        f"more than {n - 1} jump events: get_jump_events runs its SQL"]
    assert counting.queries == 1
    assert memory.answer(ALL, 5) is None and memory.answer({**ALL, "symbols": ["B"]}, 5) is None
    assert counting.queries == 1  # too many: not loaded again
    assert _same(counting, memory, ALL, 5) == ["sql"]
    default = _Counting(shared)
    assert JumpMemory(default, BAR).answer(ALL, 5) is not None
    assert default.limits == [500_000]  # the documented default: a load reads at most 500,000 jumps (and one more)


def test_an_answer_from_memory_asks_the_storage_nothing(shared):
    counting = _Counting(shared)
    memory = JumpMemory(counting, BAR)
    assert memory.answer(ALL, 1) is not None and counting.queries == 1  # the load
    paths: list[str] = []
    for params in (ALL, {**ALL, "symbols": ["AAPL"]}, {**ALL, "direction": "up"}):
        assert memory.source(paths.append).query(QUERY, params, 3) == shared.query(QUERY, params, 3)
    assert counting.queries == 1 and paths == ["memory"] * 3


def test_a_load_that_a_write_overlaps_is_discarded_and_the_next_call_loads(shared):
    counting = _Counting(shared)
    memory = JumpMemory(counting, BAR)
    counting.before = lambda: memory.signals_written(signals([]), [])  # a write told while the load reads
    assert memory.answer(ALL, 5) is None
    assert memory._held is None
    assert _same(counting, memory, ALL, 500) == ["memory"]


def test_new_older_and_rewritten_jumps_are_what_the_sql_reads(fresh):
    memory = JumpMemory.attach(fresh, BAR)
    jumps = fresh.query(QUERY, ALL, 500).rows
    newest = jumps[0]
    aapl = [r for r in jumps if r[0] == "AAPL"]
    writes = [
        # the newest jump of all written again as none (exactly at the newest held), AAPL's newest too
        [bar(newest[0], newest[1], jump=False, tag=1), bar("AAPL", aapl[0][1], jump=False, tag=1)],
        # newer than every jump: two symbols, one new, one bar each ending at the same instant
        [bar("AAPL", newest[1] + BAR * NS, jump=True, stat=7.5, ret=0.02),
         bar("NEW", newest[1] + BAR * NS, jump=True, stat=-6.0, ret=-0.03), bar("B", newest[1] + 2 * BAR * NS)],
        # an older bar of AAPL recomputed as a jump between its held jumps, and a held jump rewritten as a jump
        [bar("AAPL", aapl[2][1] + BAR * NS, jump=True, stat=9.0, ret=0.05, tag=2),
         bar("AAPL", aapl[3][1], jump=True, stat=-11.0, ret=-0.04, tag=2)],
        # bars older than every jump: one jump of B far back, and a non-jump at the oldest jump's key
        [bar("B", jumps[-1][1] - 50 * BAR * NS, jump=True, stat=5.0, ret=0.01, tag=3),
         bar(jumps[-1][0], jumps[-1][1], jump=False, tag=3)],
    ]
    for rows in writes:
        fresh.commit_signals(signals(rows), states_of(rows))
        _all_same(fresh, memory)
    before = fresh.query(QUERY, ALL, 500).rows
    assert len(before) == len(jumps) + 2 - 3 + 1 + 1


def test_a_commit_of_another_grid_changes_nothing_here_and_is_kept_there(fresh):
    memory, five = JumpMemory.attach(fresh, BAR), JumpMemory.attach(fresh, 300)
    held = fresh.query(QUERY, ALL, 500).rows
    rows = [bar("AAPL", held[0][1], jump=False, grid=300), bar("AAPL", held[0][1] + 300 * NS, jump=True, stat=8.0,
                                                            grid=300), bar(held[0][0], held[0][1] - 300 * NS, grid=300)]
    fresh.commit_signals(signals(rows), states_of(rows))
    _all_same(fresh, memory)
    assert fresh.query(QUERY, ALL, 500).rows == held
    five_all = {**ALL, "bar_seconds": 300}
    assert _same(fresh, five, five_all, 10) == ["memory"]
    assert len(fresh.query(QUERY, five_all, 10).rows) == 1


def test_a_read_back_of_more_than_max_rows_forgets_everything(fresh):
    n = len(fresh.query(QUERY, ALL, 500).rows)
    memory = JumpMemory.attach(fresh, BAR, max_rows=n + 1)
    newest = fresh.query(QUERY, ALL, 1).rows[0][1]
    rows = [bar("AAPL", newest + BAR * NS, jump=True, stat=6.0)]  # n + 1 jumps: the read back (one) fits
    fresh.commit_signals(signals(rows), states_of(rows))
    assert _same(fresh, memory, ALL, 500) == ["memory"]
    rows = [bar("AAPL", newest + (2 + i) * BAR * NS, jump=True, stat=6.0 + i) for i in range(n + 2)]
    fresh.commit_signals(signals(rows), states_of(rows))  # its read back is cut at max_rows
    assert memory._held is None
    assert _same(fresh, memory, {**ALL, "symbols": ["AAPL"]}, 500) == ["sql"]  # loaded again: too many
    assert _same(fresh, memory, ALL, 3) == ["sql"]


def test_the_read_back_reads_the_commits_symbols_only(fresh):
    jumps = fresh.query(QUERY, ALL, 500).rows
    memory = JumpMemory.attach(fresh, BAR, max_rows=len(jumps) + 1)
    rows = [bar("AAPL", jumps[-1][1] - BAR * NS, jump=True, stat=6.5), bar("AAPL", jumps[0][1] + BAR * NS, jump=True,
                                                                             stat=-6.6)]
    fresh.commit_signals(signals(rows), states_of(rows))  # AAPL's jumps fit max_rows; every symbol's in the range not
    _all_same(fresh, memory)


def test_a_reset_forgets_its_symbols_a_failed_write_everything(fresh):
    memory = JumpMemory.attach(fresh, BAR)
    fresh.reset_signals(["AAPL", "ZZ"], BAR)
    _all_same(fresh, memory)
    assert fresh.query(QUERY, {**ALL, "symbols": ["AAPL", "ZZ"]}, 5).rows == []
    fresh.reset_signals(["B"], 300)  # another grid: B's jumps stay
    _all_same(fresh, memory)
    memory.write_failed(RuntimeError("seeded"))
    _all_same(fresh, memory, loaded=False)


def test_writes_before_the_first_load_and_writes_without_jumps(fresh):
    memory = JumpMemory(fresh, BAR)  # not attached: told of nothing, loads at the first call
    memory.signals_written(signals([bar("AAPL", T0 + 10 * BAR * NS, jump=True)]), [])  # held nothing: ignored
    _all_same(fresh, memory, loaded=False)
    fresh.add_write_listener(memory)
    empty = JumpMemory.attach(fresh, 300)  # no jump on that grid: holds nothing
    rows = [bar("ZZ", T0 + 20 * BAR * NS), bar("ab", T0 + 20 * BAR * NS)]  # newer bars, none a jump
    fresh.commit_signals(signals(rows), states_of(rows))
    fresh.commit_signals(signals([]), [])
    _all_same(fresh, memory)
    rows = [bar("ZZ", T0 + 21 * BAR * NS, grid=300, jump=True, stat=5.0)]
    fresh.commit_signals(signals(rows), states_of(rows))
    assert _same(fresh, empty, {**ALL, "bar_seconds": 300}, 5) == ["memory"]
    assert len(fresh.query(QUERY, {**ALL, "bar_seconds": 300}, 5).rows) == 1
