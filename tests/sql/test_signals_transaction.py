"""``DuckDBStorage.begin_signals`` / ``SignalsTransaction`` on a small real file, in process: parts written ahead
are committed together with the states, or not at all; listeners hear once, after the commit, of every part; the
write lock is free between parts. (``tests/udx/test_transform_write_ahead.py`` checks the same through the whole
transform, in plain Python tens of seconds a test; this file judges a mutant in about a second.)"""

from __future__ import annotations

import threading

import pytest

from sql.backend import SignalStateRow
from sql.duckdb_backend import SignalsTransaction, StorageError
from tests.sql import test_duckdb_storage
from tests.sql.test_duckdb_storage import _signal_rows
from tests.sql.test_duckdb_write_paths import Heard, _fits, _liquidity, _profile, _realized

pytestmark = pytest.mark.duckdb

storage = test_duckdb_storage.storage


def _count(storage, table: str) -> int:
    return storage.fetch_all(f"SELECT count(*) FROM {table}")[0][0]


def _lock_free(storage) -> bool:
    """Whether another thread could take the write lock now."""
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(storage._write_lock.acquire(timeout=0.5)))
    thread.start()
    thread.join()
    if got[0]:
        storage._write_lock.release()
    return got[0]


def test_parts_and_states_commit_together_and_listeners_hear_once_after(storage) -> None:
    heard = Heard()
    storage.add_write_listener(heard)
    heard.heard.clear()
    txn = storage.begin_signals()
    assert isinstance(txn, SignalsTransaction)
    txn.add(_signal_rows("AAPL", [60, 120]), model_params=_fits("AAPL"), profiles=_profile("AAPL"),
            liquidity=_liquidity("AAPL", 60), realized=_realized("AAPL", [60]))
    assert _lock_free(storage)  # between parts, the process's other writers go on
    txn.add(_signal_rows("MSFT", [60]))
    assert heard.heard == [] and _count(storage, "trading_signals") == 0  # nothing committed yet
    states = [SignalStateRow("AAPL", 60, 120, "{}"), SignalStateRow("MSFT", 60, 60, "{}")]
    stamp = txn.commit(states)
    assert _lock_free(storage)
    assert sorted(storage.fetch_all("SELECT symbol, bar_end_ns FROM trading_signals")) == [
        ("AAPL", 60), ("AAPL", 120), ("MSFT", 60)]
    assert _count(storage, "model_params") == 1 and _count(storage, "bar_liquidity") == 1
    assert _count(storage, "intraday_profile") == 1
    assert _count(storage, "bar_realized_spread") == 1
    assert sorted(storage.fetch_all("SELECT symbol, last_bar_end_ns, updated_ns FROM signal_state")) == [
        ("AAPL", 120, stamp), ("MSFT", 60, stamp)]
    assert isinstance(stamp, int) and not isinstance(stamp, bool)
    kinds = [h[0] for h in heard.heard]
    assert kinds == ["signals_written", "realized_written"]
    signals = heard.heard[0]
    assert sorted((r["symbol"], r["bar_end_ns"]) for r in signals[1]) == [("AAPL", 60), ("AAPL", 120), ("MSFT", 60)]
    assert [r.get("buy_volume") for r in signals[1] if r["symbol"] == "AAPL" and r["bar_end_ns"] == 60] == [300.0]
    assert signals[2] == states
    assert heard.heard[1] == ("realized_written", [60])
    txn.rollback()  # after the commit: nothing to drop
    assert _count(storage, "trading_signals") == 3


def test_a_commit_without_parts_writes_the_states_and_tells_no_listener(storage) -> None:
    heard = Heard()
    storage.add_write_listener(heard)
    heard.heard.clear()
    stamp = storage.begin_signals().commit([SignalStateRow("AAPL", 60, 60, "{}")])
    assert storage.fetch_all("SELECT symbol, updated_ns FROM signal_state") == [("AAPL", stamp)]
    assert heard.heard == []


def test_rollback_drops_every_part_and_frees_the_file_for_other_writes(storage) -> None:
    heard = Heard()
    storage.add_write_listener(heard)
    heard.heard.clear()
    txn = storage.begin_signals()
    txn.add(_signal_rows("AAPL", [60]))
    txn.add(_signal_rows("AAPL", [120]))
    txn.rollback()
    txn.rollback()
    assert _count(storage, "trading_signals") == 0 and heard.heard == []
    storage.commit_signals(_signal_rows("MSFT", [60]), [])
    assert storage.fetch_all("SELECT symbol FROM trading_signals") == [("MSFT",)]
    with pytest.raises(Exception):  # the transaction's connection is closed
        txn.add(_signal_rows("AAPL", [180]))


def test_a_failed_part_rolls_back_the_parts_before_it(storage, monkeypatch: pytest.MonkeyPatch) -> None:
    txn = storage.begin_signals()
    txn.add(_signal_rows("AAPL", [60]))
    upsert = type(storage)._upsert_signal_batches

    def failing(self, cursor, batches) -> None:
        upsert(self, cursor, batches)
        raise StorageError("part failed")

    monkeypatch.setattr(type(storage), "_upsert_signal_batches", failing)
    with pytest.raises(StorageError, match="part failed"):
        txn.add(_signal_rows("AAPL", [120]))
    monkeypatch.undo()
    assert _lock_free(storage)
    txn.rollback()  # closed already: nothing
    assert _count(storage, "trading_signals") == 0
    storage.commit_signals(_signal_rows("MSFT", [60]), [])
    assert storage.fetch_all("SELECT symbol FROM trading_signals") == [("MSFT",)]


def test_a_failed_commit_keeps_nothing(storage, monkeypatch: pytest.MonkeyPatch) -> None:
    txn = storage.begin_signals()
    txn.add(_signal_rows("AAPL", [60]))
    with pytest.raises(Exception):
        txn.commit([SignalStateRow("AAPL", 60, 60, None)])  # type: ignore[arg-type]  # state NOT NULL
    assert _count(storage, "trading_signals") == 0 and _count(storage, "signal_state") == 0
    assert _lock_free(storage)



def test_each_part_keeps_the_realized_floor_above_it_and_drops_it_below(storage) -> None:
    """A part is one of ``commit_signals``' writes: bars at or above the floor of ``realized_spread_due`` keep it,
    a bar below drops it (the next call reads every row)."""
    storage.commit_signals(_signal_rows("AAPL", [600]), [])
    storage._realized_floors[storage._file_key] = {(60, 300): 600}
    txn = storage.begin_signals()
    txn.add(_signal_rows("AAPL", [660]))
    assert storage._realized_floors.get(storage._file_key) == {(60, 300): 600}
    txn.add(_signal_rows("AAPL", [540]))
    assert not storage._realized_floors.get(storage._file_key)
    txn.commit([])
    assert _count(storage, "trading_signals") == 3
