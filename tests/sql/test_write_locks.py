"""The locks of ``DuckDBStorage``'s writes (module docstring of ``sql/duckdb_backend.py``): a trade's or a quote's
append does not wait for the transform's write lock, and commits beside an open signals transaction; maintenance
still excludes every append; appends of the same trades from two threads store each key once; and the debug
timeline of ``sql/write_timeline.py`` records each hold. In process, on a small real file, about a second."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
import pytest

from sql.backend import SignalStateRow
from sql.write_timeline import ENV, TimedLock
from tests.sql import test_duckdb_storage
from tests.sql.test_duckdb_storage import _signal_rows, trades
from tests.sql.test_duckdb_write_paths import Heard, _quotes

pytestmark = pytest.mark.duckdb

storage = test_duckdb_storage.storage

#: Seconds a thread that must finish gets (a liveness bound, far above the milliseconds it takes).
FINISH_S = 60.0


def _run(target) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            errors.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, errors


def _count(storage, sql: str) -> int:
    return storage.fetch_all(sql)[0][0]


def test_trades_and_quotes_commit_and_are_told_while_the_write_lock_is_held_and_a_signals_transaction_is_open(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    txn = storage.begin_signals()
    txn.add(_signal_rows("AAPL", [60]))  # the transform's transaction open, with uncommitted rows
    storage._write_lock.acquire()  # and its commit under way
    try:
        thread, errors = _run(lambda: (storage.append_trades(trades(5)), storage.append_quotes(_quotes(4))))
        thread.join(FINISH_S)
        assert not thread.is_alive(), "a trade append waited for the transform's write lock"
        assert errors == []
        assert _count(storage, "SELECT count(*) FROM market_data") == 5
        assert _count(storage, "SELECT count(*) FROM quotes") == 4
        assert ("trades_written", 5) in heard.heard  # told at its commit, not after the transform's
    finally:
        storage._write_lock.release()
    txn.commit([SignalStateRow("AAPL", 60, 60, "{}")])  # no conflict with the appends committed meanwhile
    assert storage.fetch_all("SELECT symbol, bar_end_ns FROM trading_signals") == [("AAPL", 60)]
    assert _count(storage, "SELECT count(*) FROM market_data") == 5


@pytest.mark.parametrize("lock", ["_market_lock", "_quotes_lock", "_write_lock"])
@pytest.mark.parametrize("maintenance", ["checkpoint", "execute_write", "add_write_listener"])
def test_maintenance_waits_for_every_write_lock(storage, lock, maintenance):
    calls = {
        "checkpoint": storage.checkpoint,
        "execute_write": lambda: storage.execute_write("DELETE FROM market_data WHERE ts_ns < 0"),
        "add_write_listener": lambda: storage.add_write_listener(Heard()),
    }
    held = getattr(storage, lock)
    held.acquire()
    try:
        thread, errors = _run(calls[maintenance])
        thread.join(0.5)
        assert thread.is_alive(), f"{maintenance} ran while {lock} was held"
    finally:
        held.release()
    thread.join(FINISH_S)
    assert not thread.is_alive() and errors == []


class _Batches(Heard):
    """A listener keeping the trade batches it is told of."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[pa.Table] = []

    def trades_written(self, batch: pa.Table) -> None:
        self.batches.append(batch)


def test_the_same_trades_appended_from_two_threads_beside_signal_commits_are_stored_once(storage):
    heard = _Batches()
    storage.add_write_listener(heard)
    batches = [trades(40, start_ns=1_700_000_000_000_000_000 + i * 20_000_000_000) for i in range(12)]
    # batch i holds the seconds 20i .. 20i+39: it overlaps the next by half; ids from the time, so overlaps share keys
    batches = [b.set_column(b.schema.get_field_index("trade_id"), "trade_id",
                            pa.array([str(t) for t in b.column("ts_ns").to_pylist()])) for b in batches]
    start = threading.Barrier(3)

    def appender(order: list[pa.Table]) -> None:
        start.wait()
        for batch in order:
            storage.append_trades(batch)

    def transform() -> None:
        start.wait()
        for end in range(1, 13):
            storage.commit_signals(_signal_rows("AAPL", [end * 60]), [SignalStateRow("AAPL", 60, end * 60, "{}")])

    runs = [_run(lambda: appender(batches)), _run(lambda: appender(batches[::-1])), _run(transform)]
    for thread, errors in runs:
        thread.join(FINISH_S)
        assert not thread.is_alive() and errors == []
    keys = {ts for b in batches for ts in b.column("ts_ns").to_pylist()}
    assert _count(storage, "SELECT count(*) FROM market_data") == len(keys)
    assert _count(storage, "SELECT count(DISTINCT (symbol, exchange, trade_id, ts_ns)) FROM market_data") == len(keys)
    assert _count(storage, "SELECT count(*) FROM trading_signals") == 12
    told = {ts for batch in heard.batches for ts in batch.column("ts_ns").to_pylist()}
    assert told == keys  # every append that added rows was told of


def test_the_timeline_records_each_hold_with_its_wait(tmp_path, monkeypatch):
    path = tmp_path / "timeline.jsonl"
    monkeypatch.setenv(ENV, str(path))
    lock = TimedLock("market")
    with lock:
        pass
    assert lock.acquire(timeout=1)
    lock.release()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["lock"] for e in events] == ["market", "market"]
    assert all(e["kind"] == "lock" and e["asked"] <= e["got"] <= e["released"] for e in events)
    assert events[0]["thread"] == threading.current_thread().name
    assert not lock.locked()
