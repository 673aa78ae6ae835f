"""``bench/thread_cpu.py`` (``bench_freshness --threads``): a busy thread's CPU goes to that thread and not to an
idle one, a WAL that shrinks is counted as a checkpoint, names map to the demo's parts, and the collector's
records are cut to the window."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from bench.thread_cpu import ThreadSampler, gc_seconds, part_of, task_ticks


def _spin(cpu_s: float, spent: list[float], done: threading.Event) -> None:
    """Spin until this thread used ``cpu_s`` of CPU, note what it used, then wait (alive) for ``done``."""
    while time.thread_time() < cpu_s:
        sum(range(1000))
    spent.append(time.thread_time())
    done.wait()


def test_a_thread_started_in_the_window_gets_its_own_cpu_and_a_sleeping_one_none(tmp_path: Path) -> None:
    done, spent = threading.Event(), []
    busy = threading.Thread(target=_spin, args=(0.3, spent, done), name="busy")
    idle = threading.Thread(target=done.wait, name="idle")
    idle.start()
    wal = tmp_path / "x.duckdb.wal"
    wal.write_bytes(b"x" * 1000)
    try:
        with ThreadSampler({"me": os.getpid()}, wal=wal, interval_s=0.2, wal_interval_s=0.05) as sampler:
            busy.start()
            wal.write_bytes(b"x" * 3000)  # grew by 2000
            time.sleep(0.3)
            wal.write_bytes(b"x" * 10)  # shrank: a checkpoint; then 10 bytes since
            while not spent:
                time.sleep(0.05)
            time.sleep(0.3)  # at least one sample after the spin
    finally:
        done.set()
        busy.join()
        idle.join()
    rows = {r["tid"]: r for r in sampler.threads("me")}
    assert abs(rows[busy.native_id]["cpu_s"] - spent[0]) <= 0.05  # /proc counts in 10 ms ticks
    assert rows[idle.native_id]["cpu_s"] <= 0.02
    assert len(sampler.checkpoints) == 1
    assert sampler.wal_bytes == 2010
    assert sampler.seconds() > 0.6


def test_task_ticks_lists_every_thread_of_the_process() -> None:
    done = threading.Event()
    extra = threading.Thread(target=done.wait)
    extra.start()
    try:
        ticks = task_ticks(os.getpid())
    finally:
        done.set()
        extra.join()
    assert {threading.main_thread().native_id, extra.native_id} <= set(ticks)
    assert task_ticks(2**22 + 12345) == {}  # no such process


def test_thread_names_map_to_the_demos_parts() -> None:
    assert part_of("MainThread").startswith("event loop")
    assert part_of("polygon-feed-writer-stocks_0").startswith("feed: writer")
    assert part_of("polygon-feed-writer-quotes-crypto_0").startswith("feed: quotes")
    assert part_of("asyncio_3").startswith("to_thread workers")
    assert part_of("transform-read_0").startswith("transform helpers")
    assert part_of(None).startswith("native")
    assert part_of("something") == "other: something"


def test_gc_seconds_sums_by_generation_inside_the_window_only() -> None:
    records = [{"at": at, "generation": g, "seconds": s, "cpu_seconds": s / 2}
               for at, g, s in ((9.9, 2, 5.0), (10.0, 2, 0.25), (12.0, 0, 0.125), (15.0, 2, 0.5), (19.99, 2, 0.5),
                                (20.0, 1, 1.0))]  # fmt: skip
    assert gc_seconds(records, 10.0, 20.0) == {2: (3, 1.25, 0.625), 0: (1, 0.125, 0.0625)}
