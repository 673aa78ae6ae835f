"""What the rows kept in memory beside a DuckDB file share (``server/tools/kept.py``), directly (issue 16 point 4).

Fast direct tests (milliseconds, no database: the mutation group ``kept`` of ``scripts/mutation``). A recording
stand-in storage and a minimal subclass whose ``_load`` holds a given dict; the expected behaviour is derived by
hand from the module's and ``sql.backend.WriteListener``'s documented contract: ``attach`` returns ``None`` for a
storage that cannot tell of its writes, else an instance built with the options and added as a listener;
``detach`` removes it where the storage can; ``attached`` loads and, when the load raises, logs and does not raise;
every write told (trades, bars, realized rows, a reset, a failure) counts one in ``_writes``; ``_told`` says whether
rows are held; a reset forgets its symbols of its grid only; a failed write forgets everything.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
import pytest

from server.tools.jump_memory import JumpMemory
from server.tools.kept import KeptRows
from server.tools.latest import LatestRows


class Held(KeptRows):
    """Holds ``rows`` (a dict per symbol) when loaded; ``fail`` makes the load raise."""

    def __init__(self, storage: Any, bar_seconds: int, rows: dict | None = None, fail: bool = False) -> None:
        super().__init__(storage, bar_seconds)
        self.rows = rows
        self.fail = fail
        self.loads = 0

    def _load(self) -> bool:
        self.loads += 1
        if self.fail:
            raise RuntimeError("the file is gone")
        self._held = None if self.rows is None else dict(self.rows)
        return self._held is not None


class Telling:
    """A storage that tells of its writes (like ``DuckDBStorage``): records the listeners added and removed."""

    def __init__(self) -> None:
        self.added: list[Any] = []
        self.removed: list[Any] = []

    def add_write_listener(self, listener: Any) -> None:
        self.added.append(listener)
        listener.attached()

    def remove_write_listener(self, listener: Any) -> None:
        self.removed.append(listener)


class Silent:
    """A storage that cannot tell of its writes (like ``VerticaStorage``)."""


ROWS = {"AAPL": [1, 2], "MSFT": [3], "ZZ": []}
EMPTY = pa.table({"symbol": pa.array([], pa.string())})


def test_attach_builds_an_instance_with_its_options_and_adds_it():
    storage = Telling()
    kept = Held.attach(storage, 60, rows=ROWS)
    assert type(kept) is Held
    assert storage.added == [kept]
    assert kept._storage is storage and kept._bar_seconds == 60
    assert kept.rows == ROWS and kept.loads == 1 and kept._held == ROWS
    assert kept._writes == 0


def test_attach_to_a_storage_that_cannot_tell_is_none():
    assert Held.attach(Silent(), 60, rows=ROWS) is None
    assert LatestRows.attach(Silent(), 60) is None and JumpMemory.attach(Silent(), 60) is None


def test_a_fresh_instance_holds_nothing_and_counted_nothing():
    kept = Held(Silent(), 300)
    assert kept._held is None and kept._writes == 0 and kept._bar_seconds == 300
    assert kept._told() is False and kept._writes == 1


def test_detach_removes_it_where_the_storage_can():
    storage = Telling()
    kept = Held.attach(storage, 60, rows=ROWS)
    kept.detach()
    assert storage.removed == [kept]
    Held(Silent(), 60).detach()  # nothing to remove from: no error


def test_the_base_load_is_left_to_subclasses():
    with pytest.raises(NotImplementedError):
        KeptRows(Silent(), 60)._load()


def test_a_load_that_raises_is_logged_and_not_raised(caplog):
    caplog.set_level(logging.DEBUG)
    storage = Telling()
    kept = Held.attach(storage, 60, rows=ROWS, fail=True)
    assert storage.added == [kept] and kept.loads == 1 and kept._held is None
    (record,) = [r for r in caplog.records if r.name.startswith("microstructure")]
    assert record.name == "microstructure.server" and record.levelno == logging.ERROR
    assert record.getMessage() == "loading the rows kept in memory failed; the first call tries again"
    assert record.exc_info is not None and str(record.exc_info[1]) == "the file is gone"


def test_every_write_is_counted_and_told_tells_whether_rows_are_held():
    kept = Held.attach(Telling(), 60, rows=ROWS)
    kept.trades_written(EMPTY)
    kept.signals_written(EMPTY, [])
    kept.realized_written(EMPTY)
    assert kept._writes == 3 and kept._held == ROWS
    assert kept._told() is True and kept._writes == 4
    kept.signals_reset(["AAPL"], 60)
    kept.write_failed(RuntimeError("disk full"))
    assert kept._writes == 6 and kept._held is None
    assert kept._told() is False and kept._writes == 7
    kept.signals_reset(["MSFT"], 60)  # nothing held: nothing to forget, still counted
    assert kept._writes == 8 and kept._held is None


@pytest.mark.parametrize(("symbols", "bar_seconds", "left"), [
    (["AAPL"], 60, {"MSFT": [3], "ZZ": []}),
    (["AAPL", "ZZ", "NOPE"], 60, {"MSFT": [3]}),
    ([], 60, ROWS),
    (["AAPL", "MSFT"], 300, ROWS),  # another grid's reset: this grid's rows stay
    (["AAPL", "MSFT"], 1, ROWS),
])  # fmt: skip
def test_a_reset_forgets_its_symbols_of_its_grid_only(symbols, bar_seconds, left):
    kept = Held.attach(Telling(), 60, rows=ROWS)
    kept.signals_reset(symbols, bar_seconds)
    assert kept._held == left and kept._writes == 1


def test_a_reset_with_nothing_held_forgets_nothing_and_loads_nothing():
    kept = Held.attach(Telling(), 60, rows=None)
    kept.signals_reset(["AAPL"], 60)
    assert kept._held is None and kept._writes == 1 and kept.loads == 1


def test_a_failed_write_forgets_everything():
    kept = Held.attach(Telling(), 60, rows=ROWS)
    kept.write_failed(OSError("no space"))
    assert kept._held is None and kept._writes == 1 and kept.loads == 1
