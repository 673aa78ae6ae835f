"""The write locks a ``DuckDBStorage`` is built with (``sql/duckdb_backend.py``'s module docstring and ``__init__``):
three locks, ``write``, ``market`` and ``quotes``, each a lock of its own, so that a trade's or a quote's append
does not wait for the transform's write lock; one lock for every write when ``MICROSTRUCTURE_ONE_WRITE_LOCK`` asks
for the old behaviour; and with the debug timeline on (``MICROSTRUCTURE_WRITE_TIMELINE``), each lock recorded under
its name (``sql/write_timeline.py``). On an in-memory connection and a tiny file: milliseconds a test. The names
are written out here, as the timeline's readers (``bench/bench_freshness.py --timeline``) expect them."""

from __future__ import annotations

import json

import duckdb
import pytest

from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from sql.write_timeline import ENV, ONE_LOCK_ENV, TimedLock

pytestmark = pytest.mark.duckdb


def _storage() -> DuckDBStorage:
    return DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=5.0)


@pytest.fixture(autouse=True)
def _no_lock_settings(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(ONE_LOCK_ENV, raising=False)


def test_three_locks_of_their_own_by_default():
    s = _storage()
    locks = [s._write_lock, s._market_lock, s._quotes_lock]
    assert len({id(lock) for lock in locks}) == 3
    s._write_lock.acquire()
    try:  # the transform's write lock held: an append's locks are free
        assert s._market_lock.acquire(blocking=False)
        s._market_lock.release()
        assert s._quotes_lock.acquire(blocking=False)
        s._quotes_lock.release()
    finally:
        s._write_lock.release()


@pytest.mark.parametrize("value", ["1", "yes"])
def test_one_lock_for_every_write_when_asked(monkeypatch, value):
    monkeypatch.setenv(ONE_LOCK_ENV, value)
    s = _storage()
    assert s._market_lock is s._write_lock and s._quotes_lock is s._write_lock


@pytest.mark.parametrize("value", ["", "0"])
def test_three_locks_when_one_lock_is_not_asked(monkeypatch, value):
    monkeypatch.setenv(ONE_LOCK_ENV, value)
    s = _storage()
    assert len({id(s._write_lock), id(s._market_lock), id(s._quotes_lock)}) == 3


def test_the_timeline_names_each_lock(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "timeline.jsonl"))
    s = _storage()
    assert all(isinstance(lock, TimedLock) for lock in (s._write_lock, s._market_lock, s._quotes_lock))
    assert (s._write_lock.name, s._market_lock.name, s._quotes_lock.name) == ("write", "market", "quotes")


def test_an_opened_files_appends_and_commits_are_recorded_under_their_locks(tmp_path, monkeypatch):
    """Through ``open`` and the writes: the timeline's lines name the lock each write took."""
    timeline = tmp_path / "timeline.jsonl"
    monkeypatch.setenv(ENV, str(timeline))
    s = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=tmp_path / "f.duckdb"))  # type: ignore[call-arg]
    try:
        for lock in (s._write_lock, s._market_lock, s._quotes_lock):
            with lock:
                pass
    finally:
        s.close()
    names = [json.loads(line)["lock"] for line in timeline.read_text().splitlines()]
    assert names[-3:] == ["write", "market", "quotes"]


def test_one_analyst_statement_at_a_time():
    """The module docstring: analysts' statements run one at a time (the slot ``run_sql`` waits for)."""
    s = _storage()
    assert s._analyst_slot.acquire(blocking=False)
    try:
        assert not s._analyst_slot.acquire(blocking=False)
    finally:
        s._analyst_slot.release()


def test_storages_on_two_connections_keep_floors_of_their_own():
    """The realized floors are kept per file: two storages built on connections (not by ``open``) are two files."""
    one, two = _storage(), _storage()
    assert one._file_key != two._file_key
    assert None not in (one._file_key, two._file_key)
