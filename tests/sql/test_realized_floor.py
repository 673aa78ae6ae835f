"""``DuckDBStorage.realized_spread_due`` bounded by its floor (the rows and bars ending at or after it only) gives
the answer of the plain rule over every row: each symbol's newest ``bar_realized_spread`` row (its end and tick
state) and every stored bar ending at or before ``until`` after it, on random histories of the transform's writes,
writes below the floor, rows of another horizon, resets, deletes, a restart and another storage object writing the
same file. The plain rule is computed here in Python from every stored row, never by the storage's queries."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sql.contract import BAR_REALIZED_SPREAD_SCHEMA, SIGNALS_SCHEMA
from sql.settings import Settings
from tests.reference.realized_due import due_and_newest

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

BAR = 60
H = 300
SYMBOLS = ("AA", "BB", "CC")


def _bars(symbol: str, ends: list[int], seconds: int = BAR) -> pa.Table:
    n = len(ends)
    columns: dict[str, list[Any]] = {name: [None] * n for name in SIGNALS_SCHEMA.names}
    columns.update(symbol=[symbol] * n, bar_end_ns=ends, bar_seconds=[seconds] * n, n_trades=[1] * n,
                   volume=[1.0] * n, close=[1.0] * n, jump_detected=[False] * n, trading_signal=["HOLD"] * n,
                   signal_reason=["test"] * n, computed_at_ns=[0] * n)
    return pa.table(columns, schema=SIGNALS_SCHEMA)


def _rows(symbol: str, ends: list[int], horizon: int = H) -> pa.Table:
    """Realized rows whose tick state tells each row apart (a wrong newest row shows)."""
    n = len(ends)
    values: dict[str, list[Any]] = {
        "symbol": [symbol] * n, "bar_end_ns": ends, "bar_seconds": [BAR] * n, "horizon_seconds": [horizon] * n,
        "n_trades": [1] * n, "matched_volume": [1.0] * n, "realized_spread": [0.01] * n, "price_impact": [0.0] * n,
        "tick_price": [None if e % 7 == 0 else 100.0 + e / BAR for e in ends],
        "tick_sign": [(e // BAR) % 3 - 1 for e in ends], "computed_at_ns": [0] * n}
    return pa.table({f.name: values[f.name] for f in BAR_REALIZED_SPREAD_SCHEMA}, schema=BAR_REALIZED_SPREAD_SCHEMA)


def _open(path: Path) -> Any:
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    storage.apply_schema()
    return storage


def _plain(storage: Any, until: int) -> tuple[list[tuple], list[tuple]]:
    """The plain rule over every stored row: (symbol, bar_end_ns) due and each symbol's newest row."""
    rows = storage.fetch_all(f"SELECT symbol, bar_end_ns, tick_price, tick_sign FROM bar_realized_spread "
                             f"WHERE bar_seconds = {BAR} AND horizon_seconds = {H}")
    bars = storage.fetch_all(f"SELECT symbol, bar_end_ns FROM trading_signals WHERE bar_seconds = {BAR}")
    return due_and_newest(rows, bars, until)


def _answer(storage: Any, until: int) -> tuple[list[tuple], list[tuple]]:
    due, resume = storage.realized_spread_due(BAR, H, until)
    pairs = list(zip(due.column("symbol").to_pylist(), due.column("bar_end_ns").to_pylist(), strict=True))
    newest = [(r["symbol"], r["bar_end_ns"], r["tick_price"], r["tick_sign"]) for r in resume.to_pylist()]
    assert pairs == sorted(pairs)  # by symbol, then time
    return pairs, newest


class _Names:
    """A query registry recording which queries were read."""

    def __init__(self, queries: Any) -> None:
        self._queries = queries
        self.read: list[str] = []

    def __getitem__(self, name: str) -> Any:
        self.read.append(name)
        return self._queries[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queries, name)


def _spy(storage: Any) -> list[str]:
    storage._queries = _Names(storage._queries)
    return storage._queries.read


OPS = st.one_of(
    st.tuples(st.just("bars"), st.sampled_from(SYMBOLS), st.integers(1, 4)),  # the next bars of a symbol
    st.tuples(st.just("old bars"), st.sampled_from(SYMBOLS), st.integers(1, 40)),  # a bar far back (backfill)
    st.tuples(st.just("rows"), st.sampled_from(SYMBOLS), st.integers(1, 3)),  # the transform's next rows
    st.tuples(st.just("old rows"), st.sampled_from(SYMBOLS), st.integers(1, 3)),  # rows of its oldest bars
    st.tuples(st.just("other horizon"), st.sampled_from(SYMBOLS), st.integers(1, 2)),
    st.tuples(st.just("reset"), st.sampled_from(SYMBOLS), st.just(0)),
    st.tuples(st.just("delete"), st.sampled_from(SYMBOLS), st.integers(0, 40)),  # rows after a bar: maintenance
    st.tuples(st.just("due"), st.just(""), st.integers(0, 3)),  # a pass more, until: the newest bar - k bars
    st.tuples(st.just("restart"), st.just(""), st.just(0)),
    st.tuples(st.just("other writer"), st.sampled_from(SYMBOLS), st.integers(1, 3)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(OPS, st.integers(0, 3)), min_size=1, max_size=25))
def test_the_bounded_answer_is_the_plain_rules_on_random_histories(tmp_path_factory, ops):
    """A pass (``realized_spread_due`` at the newest bar minus 0-3 bars, checked against the plain rule) follows
    every write, as the transform's passes follow the feed's."""
    path = tmp_path_factory.mktemp("floor") / "f.duckdb"
    storage, other = _open(path), None
    newest_bar = {s: 40 * BAR for s in SYMBOLS}  # bars from 41 on are "next", 1..40 "old"
    try:
        for (op, symbol, k), back in [*ops, (("due", "", 0), 0)]:
            stored = sorted(e for s, e in storage.fetch_all(
                f"SELECT symbol, bar_end_ns FROM trading_signals WHERE bar_seconds = {BAR}") if s == symbol)
            done = {e for s, e in storage.fetch_all(
                f"SELECT symbol, bar_end_ns FROM bar_realized_spread WHERE bar_seconds = {BAR}") if s == symbol}
            if op == "bars":
                ends = [newest_bar[symbol] + BAR * (j + 1) for j in range(k)]
                newest_bar[symbol] = ends[-1]
                storage.commit_signals(_bars(symbol, ends), [])
            elif op == "old bars":
                storage.commit_signals(_bars(symbol, [k * BAR]), [])
            elif op == "rows":  # as the transform writes them: after its newest row, in its own commit
                after = max(done, default=-1)
                ends = [e for e in stored if e > after][:k]
                if ends:
                    storage.commit_signals(_bars(symbol, [])[:0], [], realized=_rows(symbol, ends))
            elif op == "old rows":
                ends = [e for e in stored if e not in done][:k]
                if ends:
                    storage.write_realized_spread(_rows(symbol, ends))
            elif op == "other horizon":
                ends = [e for e in stored if e not in done][:k]
                if ends:
                    storage.write_realized_spread(_rows(symbol, ends, horizon=H // 2))
            elif op == "reset":
                storage.reset_signals([symbol], BAR)
            elif op == "delete":
                storage.execute_write("DELETE FROM bar_realized_spread WHERE symbol = $s AND bar_end_ns > $e",
                                      {"s": symbol, "e": k * BAR})
            elif op == "due":
                until = max(newest_bar.values()) - k * BAR
                got = _answer(storage, until)
                assert got == _plain(storage, until)
            elif op == "restart":
                storage.close()
                storage = _open(path)
            else:  # another storage object on the same file (the same process) writes the symbol's next rows
                if other is None:
                    other = _open(path)
                after = max(done, default=-1)
                ends = [e for e in stored if e > after][:k] or [e for e in stored if e not in done][:k]
                if ends:
                    other.commit_signals(_bars(symbol, [])[:0], [], realized=_rows(symbol, ends))
            until = max(newest_bar.values()) - back * BAR
            assert _answer(storage, until) == _plain(storage, until)
    finally:
        if other is not None:
            other.close()
        storage.close()


def test_a_pass_after_the_transforms_own_writes_reads_only_above_the_floor(tmp_path):
    storage = _open(tmp_path / "f.duckdb")
    try:
        storage.commit_signals(pa.concat_tables([_bars("AA", [60, 120, 180]), _bars("BB", [60, 120])]), [])
        read = _spy(storage)
        assert _answer(storage, 120) == _plain(storage, 120)
        assert "realized_spread_resume" in read and "realized_spread_due" in read  # the first call: every row
        # the transform's next writes: its due rows, then new bars (all at or above the floor, 60)
        storage.commit_signals(_bars("AA", [])[:0], [], realized=pa.concat_tables([_rows("AA", [60, 120]),
                                                                                   _rows("BB", [60])]))
        storage.commit_signals(pa.concat_tables([_bars("AA", [240]), _bars("BB", [180, 240])]), [])
        read.clear()
        assert _answer(storage, 180) == _plain(storage, 180)
        assert read == ["realized_spread_resume_since", "realized_spread_due_since"]
        storage.write_daily_metrics(BAR, 240)  # the pass's daily metrics: the floor stands
        read.clear()
        assert _answer(storage, 240) == _plain(storage, 240)
        assert read == ["realized_spread_resume_since", "realized_spread_due_since"]
    finally:
        storage.close()


@pytest.mark.parametrize("write", ["bar below", "row below", "other horizon", "reset", "maintenance", "reopen",
                                   "other object"])
def test_a_write_the_floor_does_not_cover_makes_the_next_pass_read_every_row(tmp_path, write):
    path = tmp_path / "f.duckdb"
    storage = _open(path)
    other = _open(path) if write == "other object" else None  # open before the floor is kept
    try:
        storage.commit_signals(pa.concat_tables([_bars("AA", [540, 600, 660, 720]), _bars("BB", [600, 660])]), [])
        storage.commit_signals(_bars("AA", [])[:0], [], realized=_rows("AA", [600]))  # AA's 540: a hole below
        storage.realized_spread_due(BAR, H, 660)  # floor: 600
        if write == "bar below":
            storage.commit_signals(_bars("CC", [60]), [])
        elif write == "row below":
            storage.write_realized_spread(_rows("AA", [540]))
        elif write == "other horizon":
            storage.write_realized_spread(_rows("BB", [600], horizon=H // 2))
        elif write == "reset":
            storage.reset_signals(["AA"], BAR)
        elif write == "maintenance":
            storage.execute_write("DELETE FROM bar_realized_spread WHERE symbol = 'AA'")
        elif write == "reopen":
            storage.close()
            storage = _open(path)
        else:
            other.commit_signals(_bars("CC", [60]), [])
        read = _spy(storage)
        assert _answer(storage, 720) == _plain(storage, 720)
        assert "realized_spread_resume" in read and "realized_spread_due" in read
    finally:
        if other is not None:
            other.close()
        storage.close()


def test_a_floor_computed_while_another_write_is_open_is_not_kept_past_its_commit(tmp_path):
    """A pass may compute its floor from a snapshot taken while a write it cannot see is still open (here a
    maintenance delete of AA's newest row, below the floor): that write's commit drops the floor again."""
    storage = _open(tmp_path / "f.duckdb")
    try:
        storage.commit_signals(pa.concat_tables([_bars("AA", [540, 600, 660, 720]), _bars("BB", [600, 660])]), [])
        storage.commit_signals(_bars("AA", [])[:0], [], realized=_rows("AA", [540, 600]))
        with storage.archive_transaction() as cursor:
            pass_beside = threading.Thread(target=storage.realized_spread_due, args=(BAR, H, 660))
            pass_beside.start()  # its own cursor: the delete below is not in its snapshot; floor 600
            pass_beside.join()
            cursor.execute("DELETE FROM bar_realized_spread WHERE symbol = 'AA' AND bar_end_ns = 600")
        assert _answer(storage, 720) == _plain(storage, 720)  # AA resumes from its row of 540, below that floor
    finally:
        storage.close()
