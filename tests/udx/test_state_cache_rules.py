"""The contract of :mod:`udx.state_cache` on a storage kept in a dict (no transform, no database: milliseconds a
test, for the ``state-cache`` mutation group).

The storage below holds per (symbol, grid) the stored row: last bar end, the state's JSON and the stamp of the
write, and counts what is read. Expected answers come from the module's documented rules: a kept state is used
only while the stored row has the stamp and bar end it was kept with; every other row is read and decoded (a
state that cannot be read comes back as ``None`` with its error); deleted rows are dropped; a grid's rows never
touch another grid's; a storage without stamps reads every state; at most ``BUDGET_BYTES`` of arrays are kept;
kept arrays are read-only; ``remember`` keeps only after an ``int`` stamp; ``forget`` drops them all.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest

from sql.backend import SignalStateRow
from udx import state_cache
from udx.state import StateError, SymbolState
from udx.state_cache import Stored, forget, load_states, remember


def _state(end: int, n: int = 4, close: float = 1.5) -> SymbolState:
    return SymbolState(config={"bar_seconds": 300}, last_bar_end_ns=end, last_close=close, last_session_open_ns=0,
                       n_returns=n, arrays={"r": np.arange(n, dtype=np.float64), "k": np.arange(n, dtype=np.int64)})


class Stamped:
    """A storage that stamps its state writes (the DuckDB backend's three methods), counting its reads."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], tuple[int, str, int]] = {}  # (symbol, grid) -> (end, json, stamp)
        self.read_of: list[tuple[int, list[str]]] = []
        self.stamp = 100

    def write(self, symbol: str, grid: int, state: SymbolState | str, end: int | None = None) -> int:
        self.stamp += 1
        text = state if isinstance(state, str) else state.to_json()
        self.rows[(symbol, grid)] = (end if end is not None else state.last_bar_end_ns, text, self.stamp)
        return self.stamp

    def signal_state_stamps(self, bar_seconds: int) -> dict[str, tuple[int, int]]:
        return {s: (end, stamp) for (s, g), (end, _, stamp) in self.rows.items() if g == bar_seconds}

    def load_signal_states_of(self, bar_seconds: int, symbols: list[str]) -> dict[str, tuple[SignalStateRow, int]]:
        self.read_of.append((bar_seconds, list(symbols)))
        return {s: (SignalStateRow(s, g, end, text), stamp) for (s, g), (end, text, stamp) in self.rows.items()
                if g == bar_seconds and s in symbols}

    def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
        raise AssertionError("a stamping storage is read through its stamps")


class Plain:
    """A storage without stamps (Vertica's, the UDx's): every pass reads every state."""

    def __init__(self, rows: dict[str, tuple[int, str]], **extra: Any) -> None:
        self.rows = rows
        self.passes = 0
        self.grids: list[int] = []
        for name, value in extra.items():
            setattr(self, name, value)

    def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
        self.passes += 1
        self.grids.append(bar_seconds)
        return {s: SignalStateRow(s, bar_seconds, end, text) for s, (end, text) in self.rows.items()}


def _same(a: SymbolState, b: SymbolState) -> bool:
    return a.to_json() == b.to_json()


def _nbytes(state: SymbolState) -> int:
    return sum(a.nbytes for a in state.arrays.values())


def test_stored_defaults_to_no_error() -> None:
    s = Stored(5, None)
    assert s.last_bar_end_ns == 5 and s.state is None and s.error is None


def test_a_storage_without_stamps_reads_every_state_every_pass() -> None:
    good, bad = _state(1000), "{not json"
    plain = Plain({"A": (1000, good.to_json()), "B": (2000, bad)})
    for passes in (1, 2):
        got = load_states(plain, 300)
        assert plain.passes == passes
        assert sorted(got) == ["A", "B"]
        assert got["A"].last_bar_end_ns == 1000 and _same(got["A"].state, good) and got["A"].error is None
        assert got["B"].last_bar_end_ns == 2000 and got["B"].state is None
        assert isinstance(got["B"].error, StateError)
    assert plain.grids == [300, 300]  # the grid asked for
    # one of the two stamp methods is not enough for the cache: still read every pass
    half = Plain({"A": (1000, good.to_json())}, signal_state_stamps=lambda g: {"A": (1000, 1)})
    load_states(half, 300)
    load_states(half, 300)
    assert half.passes == 2
    other = Plain({"A": (1000, good.to_json())}, load_signal_states_of=lambda g, s: {})
    load_states(other, 300)
    load_states(other, 300)
    assert other.passes == 2
    remember(half, 300, 7, [("A", good)])  # no cache: nothing kept, nothing raised
    assert half not in state_cache._CACHES


def test_the_first_pass_reads_every_state_the_next_reads_none() -> None:
    st = Stamped()
    states = {"A": _state(1000), "B": _state(2000, n=6)}
    for s, v in states.items():
        st.write(s, 300, v)
    first = load_states(st, 300)
    assert st.read_of == [(300, ["A", "B"])]
    assert {s: (v.last_bar_end_ns, v.state.to_json(), v.error) for s, v in first.items()} == \
        {s: (v.last_bar_end_ns, v.to_json(), None) for s, v in states.items()}
    second = load_states(st, 300)
    assert st.read_of == [(300, ["A", "B"])]  # nothing read again
    assert all(second[s].state is first[s].state for s in states)  # the kept objects themselves
    assert {s: v.last_bar_end_ns for s, v in second.items()} == {"A": 1000, "B": 2000}
    assert all(v.error is None for v in second.values())
    for v in second.values():  # kept arrays are read-only
        assert all(not a.flags.writeable for a in v.state.arrays.values())
    cache = state_cache._cache_of(st)
    assert cache is state_cache._cache_of(st) and cache.nbytes == sum(_nbytes(v) for v in states.values())


def test_another_stamp_or_bar_end_is_read_again() -> None:
    st = Stamped()
    st.write("A", 300, _state(1000))
    st.write("B", 300, _state(1000))
    load_states(st, 300)
    newer = _state(1300, close=2.5)
    st.write("A", 300, newer)  # another writer: another stamp
    end, text, stamp = st.rows[("B", 300)]
    st.rows[("B", 300)] = (1600, _state(1600).to_json(), stamp)  # same stamp, another bar end
    st.read_of.clear()
    got = load_states(st, 300)
    assert st.read_of == [(300, ["A", "B"])]
    assert _same(got["A"].state, newer) and got["A"].last_bar_end_ns == 1300
    assert got["B"].last_bar_end_ns == 1600 and got["B"].state.last_bar_end_ns == 1600
    st.read_of.clear()
    load_states(st, 300)
    assert st.read_of == []  # both kept again, with their new stamp and end
    assert state_cache._cache_of(st).nbytes == _nbytes(newer) + _nbytes(_state(1600))  # each counted once
    assert state_cache._cache_of(st).entries[("A", 300)][0] == st.rows[("A", 300)][2]


def test_a_deleted_row_is_dropped_and_grids_are_kept_apart() -> None:
    st = Stamped()
    for grid in (60, 300):
        st.write("A", grid, _state(1000 + grid, n=3))
        st.write("B", grid, _state(2000 + grid, n=5))
        load_states(st, grid)
    cache = state_cache._cache_of(st)
    total = cache.nbytes
    del st.rows[("A", 60)]  # a reset of grid 60
    got = load_states(st, 60)
    assert sorted(got) == ["B"] and ("A", 60) not in cache.entries and ("A", 300) in cache.entries
    assert cache.nbytes == total - _nbytes(_state(0, n=3))
    st.read_of.clear()
    got = load_states(st, 300)
    assert st.read_of == [] and sorted(got) == ["A", "B"]
    assert got["A"].last_bar_end_ns == 1300 and got["B"].state.last_bar_end_ns == 2300
    assert got["A"].state is cache.entries[("A", 300)][1]


def test_a_state_that_cannot_be_read_is_not_kept_and_drops_the_old_one() -> None:
    st = Stamped()
    st.write("A", 300, _state(1000))
    load_states(st, 300)
    cache = state_cache._cache_of(st)
    st.write("A", 300, '{"v": 999}', end=1300)
    got = load_states(st, 300)
    assert got["A"].last_bar_end_ns == 1300 and got["A"].state is None and isinstance(got["A"].error, StateError)
    assert ("A", 300) not in cache.entries and cache.nbytes == 0
    st.read_of.clear()
    again = load_states(st, 300)
    assert st.read_of == [(300, ["A"])] and again["A"].state is None  # read again: nothing was kept


def test_the_budget_bounds_what_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    small, big = _state(1000, n=4), _state(1000, n=8)
    monkeypatch.setattr(state_cache, "BUDGET_BYTES", _nbytes(small) + _nbytes(big))  # exactly both
    st = Stamped()
    st.write("A", 300, small)
    st.write("B", 300, big)
    load_states(st, 300)
    cache = state_cache._cache_of(st)
    assert set(cache.entries) == {("A", 300), ("B", 300)} and cache.nbytes == _nbytes(small) + _nbytes(big)
    st.write("C", 300, _state(1000, n=1))  # over the budget: read every pass
    st.read_of.clear()
    load_states(st, 300)
    load_states(st, 300)
    assert st.read_of == [(300, ["C"]), (300, ["C"])]
    assert ("C", 300) not in cache.entries and cache.nbytes == _nbytes(small) + _nbytes(big)
    arrays = _state(1000, n=1)
    state_cache._cache_of(st).keep(("D", 300), 1, arrays)  # not kept: its arrays stay writable
    assert all(a.flags.writeable for a in arrays.arrays.values())
    st.write("A", 300, _state(1300, n=4))  # the same key kept again counts once
    load_states(st, 300)
    assert cache.nbytes == _nbytes(small) + _nbytes(big) and cache.entries[("A", 300)][2] == _nbytes(small)
    assert cache.entries[("A", 300)][0] == st.rows[("A", 300)][2]  # kept with its new stamp: used next pass
    st.read_of.clear()
    assert load_states(st, 300)["A"].last_bar_end_ns == 1300 and st.read_of == [(300, ["C"])]


def test_remember_keeps_what_an_int_stamped_commit_wrote() -> None:
    st = Stamped()
    written = {"A": _state(1000), "B": _state(2000, n=2)}
    stamp = 0
    for s, v in written.items():
        stamp = st.write(s, 300, v)
        st.rows[(s, 300)] = (v.last_bar_end_ns, st.rows[(s, 300)][1], 555)  # one commit, one stamp
    remember(st, 300, 555, list(written.items()))
    got = load_states(st, 300)
    assert st.read_of == [] and all(got[s].state is written[s] for s in written)
    assert stamp != 555
    for bad in (True, None, "555", 555.0):
        other = Stamped()
        other.write("A", 300, _state(1000))
        remember(other, 300, bad, [("A", _state(1000))])
        assert state_cache._cache_of(other).entries == {}, bad
    wrong_grid = Stamped()
    wrong_grid.write("A", 300, _state(1000))
    wrong_grid.rows[("A", 300)] = (1000, wrong_grid.rows[("A", 300)][1], 9)
    remember(wrong_grid, 60, 9, [("A", _state(1000))])
    load_states(wrong_grid, 300)
    assert wrong_grid.read_of == [(300, ["A"])]


def test_forget_and_each_storage_has_its_own_cache() -> None:
    one, two = Stamped(), Stamped()
    for st in (one, two):
        st.write("A", 300, _state(1000))
        load_states(st, 300)
    assert state_cache._cache_of(one) is not state_cache._cache_of(two)
    forget(one)
    forget(Stamped())  # a storage never seen: nothing to drop
    one.read_of.clear()
    two.read_of.clear()
    load_states(one, 300)
    load_states(two, 300)
    assert one.read_of == [(300, ["A"])] and two.read_of == []
    gc.collect()
    before = len(state_cache._CACHES)
    gone = weakref.ref(two)
    del two, st
    gc.collect()
    assert gone() is None and len(state_cache._CACHES) == before - 1  # a storage gone takes its cache
