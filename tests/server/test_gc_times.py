"""``server/gc_times.py``: the collector's times are kept only when ``MICROSTRUCTURE_GC_TIMES`` names a file,
one record per collection, written there at the block's end, and the callback is removed after."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from server.gc_times import ENV, GcTimes, gc_times_from_env


def test_a_collection_is_one_record_with_its_generation_length_and_start() -> None:
    ticks = iter([0.0, 10.0, 10.25, 20.0, 20.5])  # the first: the constructor's
    walls = iter([1000.0, 2000.0])
    cpus = iter([5.0, 5.125, 6.0, 6.0])  # the calling thread's CPU: the second collection waited for a core
    times = GcTimes(clock=lambda: next(ticks), wall=lambda: next(walls), cpu=lambda: next(cpus))
    times("start", {"generation": 2, "collected": 0, "uncollectable": 0})
    times("stop", {"generation": 2, "collected": 7, "uncollectable": 0})
    times("start", {"generation": 0, "collected": 0, "uncollectable": 0})
    times("stop", {"generation": 0, "collected": 0, "uncollectable": 0})
    assert times.records == [(1000.0, 2, 0.25, 0.125, 7), (2000.0, 0, 0.5, 0.0, 0)]


def test_a_stop_without_its_start_is_not_a_record() -> None:
    times = GcTimes()
    times("stop", {"generation": 1, "collected": 0, "uncollectable": 0})
    assert times.records == []


def test_unset_installs_nothing() -> None:
    before = list(gc.callbacks)
    with gc_times_from_env({}) as times:
        assert times is None
        assert gc.callbacks == before


def test_set_records_real_collections_and_writes_them_at_the_end(tmp_path: Path) -> None:
    target = tmp_path / "gc.jsonl"
    before = list(gc.callbacks)
    with gc_times_from_env({ENV: str(target)}) as times:
        assert times is not None and times in gc.callbacks
        gc.collect(1)
        gc.collect(2)
    assert gc.callbacks == before
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["generation"] for r in rows][-2:] == [1, 2]
    assert all(r["seconds"] >= 0 and 0 <= r["cpu_seconds"] and r["at"] > 1.7e9 for r in rows)


def test_records_are_appended_once_flush_s_passed_since_the_last_write(tmp_path: Path) -> None:
    target = tmp_path / "gc.jsonl"
    now = [0.0]
    times = GcTimes(clock=lambda: now[0], wall=lambda: 1e9 + now[0], path=target, flush_s=5.0)
    for at in (1.0, 3.0, 6.0, 7.0):  # the collection ending at 6.0 s is the first 5 s after the start
        now[0] = at
        times("start", {"generation": 0, "collected": 0, "uncollectable": 0})
        times("stop", {"generation": 0, "collected": 0, "uncollectable": 0})
    assert [json.loads(line)["at"] for line in target.read_text().splitlines()] == [1e9 + 1, 1e9 + 3, 1e9 + 6]
    times.flush()
    assert len(target.read_text().splitlines()) == 4  # the rest, each once
