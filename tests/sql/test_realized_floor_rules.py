"""Fast rules of ``DuckDBStorage.realized_spread_due``'s floor (its docstring, "Bounded"), of the writes that keep
it (``_keep_floors_for``) and of its drop (``_drop_realized_floors``), on tiny DuckDB files: no hypothesis, a few
rows each (``test_realized_floor.py`` checks the same answers on random histories, ~2 min in plain Python).

The expected answer is the plain rule computed here from every stored row; the expected floor is the docstring's
``min(until_ns, the newest row's end of each symbol, each due bar's end)`` over that plain answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sql.contract import BAR_REALIZED_SPREAD_SCHEMA
from sql.settings import Settings
from test_realized_floor import _bars  # the same bars of one grid (pytest puts tests/sql on sys.path)
from tests.reference.realized_due import due_and_newest

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

BAR = 60
H = 300


def _rows(symbol: str, ends: list[int], horizon: int = H, seconds: int = BAR,
          horizons: list[int] | None = None) -> pa.Table:
    n = len(ends)
    values: dict[str, list[Any]] = {
        "symbol": [symbol] * n, "bar_end_ns": ends, "bar_seconds": [seconds] * n,
        "horizon_seconds": horizons or [horizon] * n, "n_trades": [1] * n, "matched_volume": [1.0] * n,
        "realized_spread": [0.01] * n, "price_impact": [0.0] * n, "tick_price": [100.0 + e for e in ends],
        "tick_sign": [1] * n, "computed_at_ns": [0] * n}
    return pa.table({f.name: values[f.name] for f in BAR_REALIZED_SPREAD_SCHEMA}, schema=BAR_REALIZED_SPREAD_SCHEMA)


def _open(path: Path) -> Any:
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    storage.apply_schema()
    return storage


@pytest.fixture
def storage(tmp_path):
    s = _open(tmp_path / "f.duckdb")
    yield s
    s.close()


def _plain(storage: Any, until: int, horizon: int = H) -> tuple[list[tuple], list[tuple]]:
    """(symbol, bar_end_ns) due and each symbol's newest row (symbol, end, tick_price), from every stored row."""
    rows = storage.fetch_all(f"SELECT symbol, bar_end_ns, tick_price FROM bar_realized_spread "
                             f"WHERE bar_seconds = {BAR} AND horizon_seconds = {horizon}")
    bars = storage.fetch_all(f"SELECT symbol, bar_end_ns FROM trading_signals WHERE bar_seconds = {BAR}")
    return due_and_newest(rows, bars, until)


class _ToldListener:
    """A write listener that keeps what it is told of a failed write (the storage holds it weakly: keep a name)."""

    def __init__(self) -> None:
        self.told: list[BaseException] = []

    def attached(self) -> None:
        pass

    def write_failed(self, exc: BaseException) -> None:
        self.told.append(exc)


def _answer(storage: Any, until: int, horizon: int = H) -> tuple[list[tuple], list[tuple]]:
    due, resume = storage.realized_spread_due(BAR, horizon, until)
    pairs = list(zip(due.column("symbol").to_pylist(), due.column("bar_end_ns").to_pylist(), strict=True))
    newest = [(r["symbol"], r["bar_end_ns"], r["tick_price"]) for r in resume.to_pylist()]
    return sorted(pairs), sorted(newest)


def _expected_floor(until: int, plain: tuple[list[tuple], list[tuple]]) -> int:
    due, newest = plain
    return min([until, *(e for _, e in due), *(r[1] for r in newest)])


def _floors(storage: Any) -> dict:
    return dict(storage._realized_floors.get(storage._file_key) or {})


class _Recording:
    """The thread's cursor, recording each ``sql`` call's query text and parameters (and running a hook)."""

    def __init__(self, cursor: Any, calls: list, hook: Any = None) -> None:
        self._c, self._calls, self._hook = cursor, calls, hook

    def sql(self, text: str, params: Any = None) -> Any:
        self._calls.append((text, dict(params or {})))
        if self._hook is not None:
            self._hook(text)
        return self._c.sql(text, params=params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)


def _record(storage: Any, hook: Any = None) -> list:
    calls: list = []
    inner = storage._cursor
    storage._cursor = lambda: _Recording(inner(), calls, hook)
    return calls


def _names(storage: Any, calls: list) -> list[str]:
    by_text = {storage._queries[n].text: n for n in ("realized_spread_resume", "realized_spread_due",
                                                      "realized_spread_resume_since", "realized_spread_due_since")}
    return [by_text.get(text, "?") for text, _ in calls]


def _market(storage: Any) -> None:
    """AA: bars 540-840, rows 540 and 600; BB: bars 660-780, no row."""
    storage.commit_signals(pa.concat_tables([_bars("AA", [540, 600, 660, 720, 780, 840]),
                                             _bars("BB", [660, 720, 780])]), [])
    storage.commit_signals(_bars("AA", [])[:0], [], realized=_rows("AA", [540, 600]))


@pytest.mark.parametrize("until", [500, 600, 630, 700, 780, 900])
def test_a_pass_keeps_the_documented_floor_and_answers_the_plain_rule(storage, until):
    _market(storage)
    plain = _plain(storage, until)
    assert _answer(storage, until) == plain
    assert _floors(storage) == {(BAR, H): _expected_floor(until, plain)}


def test_a_first_pass_reads_every_row_and_the_next_only_from_the_floor(storage):
    _market(storage)
    calls = _record(storage)
    assert _answer(storage, 720) == _plain(storage, 720)
    assert _names(storage, calls) == ["realized_spread_resume", "realized_spread_due"]
    assert calls[0][1] == {"bar_seconds": BAR}
    assert calls[1][1] == {"bar_seconds": BAR, "until_ns": 720}
    floor = _floors(storage)[(BAR, H)]
    assert floor == 600  # AA's newest row
    # the transform's own next writes, at or above the floor: its rows, then new bars
    storage.commit_signals(_bars("AA", [])[:0], [], realized=_rows("AA", [660, 720]))
    storage.commit_signals(_bars("BB", [840]), [])
    calls.clear()
    assert _answer(storage, 840) == _plain(storage, 840)
    assert _names(storage, calls) == ["realized_spread_resume_since", "realized_spread_due_since"]
    assert calls[0][1] == {"bar_seconds": BAR, "since_ns": 600}
    assert calls[1][1] == {"bar_seconds": BAR, "until_ns": 840, "since_ns": 600}
    assert _floors(storage) == {(BAR, H): _expected_floor(840, _plain(storage, 840))}


def test_floors_are_kept_per_grid_and_horizon(storage):
    _market(storage)
    storage.commit_signals(_bars("AA", [600, 900], seconds=300), [])
    _answer(storage, 720)
    due, resume = storage.realized_spread_due(300, H, 900)  # no row on the 300 s grid: floor = its oldest bar
    assert due.column("bar_end_ns").to_pylist() == [600, 900] and resume.num_rows == 0
    assert _floors(storage) == {(BAR, H): 600, (300, H): 600}


def test_rows_of_another_horizon_are_deleted_told_and_the_answer_recomputed(storage):
    _market(storage)
    storage.write_realized_spread(_rows("BB", [660, 720], horizon=H // 2))
    listener = _ToldListener()
    told = listener.told
    storage.add_write_listener(listener)
    plain = _plain(storage, 780)  # H's rows only: BB's rows of H / 2 are not H's
    assert _answer(storage, 780) == plain
    assert storage.fetch_all("SELECT count(*) FROM bar_realized_spread WHERE horizon_seconds <> 300") == [(0,)]
    assert storage.fetch_all("SELECT count(*) FROM bar_realized_spread") == [(2,)]  # AA's rows of H stay
    assert len(told) == 1 and "another horizon" in str(told[0]) and str(H) in str(told[0])
    assert _floors(storage) == {(BAR, H): _expected_floor(780, plain)}  # kept: the delete ended before the read


def test_rows_of_the_asked_horizon_only_are_not_deleted(storage):
    _market(storage)
    listener = _ToldListener()
    told = listener.told
    storage.add_write_listener(listener)
    calls = _record(storage)
    assert _answer(storage, 780) == _plain(storage, 780)
    assert storage.fetch_all("SELECT count(*) FROM bar_realized_spread") == [(2,)]
    assert told == [] and len(calls) == 2


def test_another_horizon_asked_deletes_the_stored_one(storage):
    _market(storage)
    assert _answer(storage, 780, horizon=H // 2) == _plain(storage, 780, horizon=H // 2)
    assert storage.fetch_all("SELECT count(*) FROM bar_realized_spread") == [(0,)]


def test_a_floor_dropped_while_a_pass_reads_is_not_kept(storage):
    _market(storage)
    done: list = []

    def drop_once(text: str) -> None:  # a write elsewhere commits between the pass's reads
        if not done and text == storage._queries["realized_spread_due"].text:
            done.append(1)
            storage._drop_realized_floors()

    _record(storage, drop_once)
    assert _answer(storage, 720) == _plain(storage, 720)
    assert done and _floors(storage) == {}
    assert _answer(storage, 720) == _plain(storage, 720)  # no drop this time: kept
    assert _floors(storage) == {(BAR, H): 600}


def test_a_drop_forgets_only_this_files_floors_and_counts(tmp_path):
    one, two = _open(tmp_path / "a.duckdb"), _open(tmp_path / "b.duckdb")
    try:
        for s in (one, two):
            _market(s)
            _answer(s, 720)
        before = one._realized_drops[one._file_key], two._realized_drops[two._file_key]
        one._drop_realized_floors()
        assert _floors(one) == {} and _floors(two) == {(BAR, H): 600}
        assert one._realized_drops[one._file_key] == before[0] + 1
        assert two._realized_drops[two._file_key] == before[1]
        one._drop_realized_floors()
        assert one._realized_drops[one._file_key] == before[0] + 2
    finally:
        one.close()
        two.close()


def test_the_first_drop_of_a_file_counts_one():
    import duckdb

    s = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=5.0)
    try:
        assert s._file_key not in s._realized_drops
        s._drop_realized_floors()
        assert s._realized_drops[s._file_key] == 1
    finally:
        s._realized_drops.pop(s._file_key, None)
        s._root.close()


#: (floors kept, the batches of a write) -> whether the floors stand after ``_keep_floors_for``
KEEP_CASES = {
    "bars at the floor": ({(BAR, H): 600}, {"signals_batch": _bars("AA", [600, 660])}, True),
    "a bar below": ({(BAR, H): 600}, {"signals_batch": _bars("AA", [660, 540])}, False),
    "a bar below on another grid": ({(BAR, H): 600}, {"signals_batch": _bars("AA", [60], seconds=300)}, True),
    "bars between two floors of one grid": ({(BAR, H): 600, (BAR, H // 2): 800},
                                            {"signals_batch": _bars("AA", [700])}, True),
    "bars of each grid above its floor": ({(BAR, H): 600, (300, H): 900},
                                          {"signals_batch": pa.concat_tables([_bars("AA", [700]),
                                                                              _bars("AA", [900], seconds=300)])},
                                          True),
    "a bar below its grid's floor": ({(BAR, H): 600, (300, H): 900},
                                     {"signals_batch": pa.concat_tables([_bars("AA", [700]),
                                                                         _bars("AA", [800], seconds=300)])},
                                     False),
    "rows at the floor": ({(BAR, H): 600}, {"bar_realized_spread_batch": _rows("AA", [600, 660])}, True),
    "a row below": ({(BAR, H): 600}, {"bar_realized_spread_batch": _rows("AA", [540, 660])}, False),
    "rows of another horizon": ({(BAR, H): 600}, {"bar_realized_spread_batch": _rows("AA", [660], H // 2)}, False),
    "rows of two horizons": ({(BAR, H): 600},
                             {"bar_realized_spread_batch": _rows("AA", [660, 720], horizons=[H, H // 2])}, False),
    "rows of another grid's floor horizon": ({(BAR, H): 600, (300, H // 2): 900},
                                             {"bar_realized_spread_batch": _rows("AA", [660])}, True),
    "rows of another grid": ({(BAR, H): 600}, {"bar_realized_spread_batch": _rows("AA", [60], seconds=300)}, True),
    "no bars, a row below": ({(BAR, H): 600}, {"signals_batch": _bars("AA", []),
                                               "bar_realized_spread_batch": _rows("AA", [540])}, False),
    "a bar at the floor, a row below": ({(BAR, H): 600}, {"signals_batch": _bars("AA", [600]),
                                                          "bar_realized_spread_batch": _rows("AA", [540])}, False),
    "other views only": ({(BAR, H): 600}, {"signal_state_batch": _bars("AA", [60])}, True),
}


@pytest.mark.parametrize("case", sorted(KEEP_CASES))
def test_a_write_keeps_the_floors_only_at_or_above_them_on_their_horizon(storage, case):
    floors, batches, kept = KEEP_CASES[case]
    storage._realized_floors[storage._file_key] = dict(floors)
    drops = storage._realized_drops[storage._file_key]
    storage._keep_floors_for(batches)
    assert _floors(storage) == (floors if kept else {})
    assert storage._realized_drops[storage._file_key] == drops + (0 if kept else 1)


def test_with_no_floor_a_write_counts_no_drop(storage):
    drops = storage._realized_drops[storage._file_key]
    storage._keep_floors_for({"signals_batch": _bars("AA", [60])})
    assert storage._realized_drops[storage._file_key] == drops and _floors(storage) == {}


def test_the_commits_of_the_transform_keep_or_drop_the_floor(storage):
    """The same rule through the writes that call it: ``commit_signals`` and ``write_realized_spread``."""
    _market(storage)
    _answer(storage, 720)  # floor 600
    storage.commit_signals(_bars("AA", [900]), [], realized=_rows("AA", [660]))
    storage.write_realized_spread(_rows("BB", [660]))
    assert _floors(storage) == {(BAR, H): 600}
    storage.write_realized_spread(_rows("CC", [60]))
    assert _floors(storage) == {}


def test_a_commit_of_two_grids_with_a_bar_below_one_grids_floor_drops_it(storage):
    """Found by this file's rule table (2026-12-05): ``_keep_floors_for`` compared the batch's oldest bar over
    every grid with the lowest floor of those grids, so a bar below the 300 s grid's floor was kept out of the
    next bounded pass when the same commit had a 60 s bar above the 60 s floor."""
    storage.commit_signals(pa.concat_tables([_bars("AA", [600, 660]), _bars("AA", [900], seconds=300)]), [])
    storage.realized_spread_due(BAR, H, 660)  # floor (60 s): 600
    storage.realized_spread_due(300, H, 900)  # floor (300 s): 900
    storage.commit_signals(pa.concat_tables([_bars("AA", [720]), _bars("AA", [600], seconds=300)]), [])
    due, _ = storage.realized_spread_due(300, H, 900)
    assert due.column("bar_end_ns").to_pylist() == [600, 900]  # the plain rule: no row, every bar due


def test_a_storage_on_a_connection_keeps_its_first_floor(tmp_path):
    """A storage built on a connection (not by ``open``: no drop counted yet on its file) keeps the floor of its
    first pass like any other: the next pass reads from it."""
    import duckdb

    path = tmp_path / "f.duckdb"
    _open(path).close()
    s = DuckDBStorage(duckdb.connect(str(path)), read_only=False, query_timeout_s=5.0)
    try:
        _market(s)
        assert s._file_key not in s._realized_drops
        assert _answer(s, 720) == _plain(s, 720)
        assert _floors(s) == {(BAR, H): 600}
        calls = _record(s)
        assert _answer(s, 720) == _plain(s, 720)
        assert _names(s, calls) == ["realized_spread_resume_since", "realized_spread_due_since"]
    finally:
        s._realized_floors.pop(s._file_key, None)
        s._realized_drops.pop(s._file_key, None)
        s._root.close()


def test_a_symbol_with_rows_of_two_horizons_loses_the_other_ones(storage, caplog):
    import logging

    _market(storage)
    storage.write_realized_spread(_rows("AA", [660, 720], horizon=H // 2))  # AA: 540, 600 of H; 660, 720 of H / 2
    with caplog.at_level(logging.WARNING, logger="microstructure.sql"):
        assert _answer(storage, 780) == _plain(storage, 780)
    assert storage.fetch_all("SELECT bar_end_ns, horizon_seconds FROM bar_realized_spread ORDER BY 1") == [
        (540, H), (600, H)]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"bar_realized_spread: 2 row(s) of another horizon than {H} s deleted; recomputing them"]


def test_files_opened_have_keys_of_their_own_and_one_path_one_key(tmp_path):
    """The floors are kept per file: two files opened never share them, two storages on one path do."""
    one, two = _open(tmp_path / "a.duckdb"), _open(tmp_path / "b.duckdb")
    again = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=tmp_path / "a.duckdb"))  # type: ignore[call-arg]
    try:
        assert one._file_key != two._file_key and None not in (one._file_key, two._file_key)
        assert again._file_key == one._file_key
    finally:
        for s in (again, one, two):
            s.close()


def test_a_writer_opening_a_file_a_reader_of_this_process_kept_a_floor_on_reads_every_row(tmp_path):
    """A reader keeps a floor and does not drop it at its close; another process then writes the file (a plain
    DuckDB connection here): the next writer's open drops the floor, so its pass sees the change below it (a
    writer that opens the file without applying the schema: ``apply_schema``'s own writes drop it as well)."""
    import duckdb

    path = tmp_path / "f.duckdb"
    writer = _open(path)
    _market(writer)
    writer.close()
    reader = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path), read_only=True)  # type: ignore[call-arg]
    try:
        reader.realized_spread_due(BAR, H, 720)
        assert _floors(reader) == {(BAR, H): 600}
    finally:
        reader.close()
    other = duckdb.connect(str(path))
    other.execute("DELETE FROM bar_realized_spread WHERE symbol = 'AA' AND bar_end_ns = 600")
    other.close()
    writer = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    try:  # no apply_schema (whose own writes would drop the floor too): the open alone
        assert _answer(writer, 720) == _plain(writer, 720)  # AA resumes from its row of 540
    finally:
        writer.close()
