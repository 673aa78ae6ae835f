"""CPU of a running process per thread and per part, from ``/proc`` (``bench_freshness --threads``).

:class:`ThreadSampler` reads ``/proc/<pid>/task/*/stat`` (user + system ticks of each thread) of the processes
it is given every ``interval_s`` while a block runs, and the size of a DuckDB write-ahead log every
``wal_interval_s`` (a WAL smaller than at the previous look: DuckDB checkpointed in between). Python 3.11 does
not give its threads OS names, so at the end the Python name of each thread is asked of ``py-spy dump --json``
(its ``os_thread_id``), when py-spy is on the ``PATH``; a thread py-spy does not list is a native one (DuckDB's
workers, ...). A thread that ends between two samples loses its CPU since the last one (short-lived pools, such as
the transform's per pass): the parts' sum can be below the process's CPU. :func:`part_of` maps a thread's name to the part of the demo it runs. :func:`gc_seconds` sums the
collector's records of :mod:`server.gc_times` over a window.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["PARTS", "ThreadSampler", "gc_seconds", "part_of", "python_thread_names", "task_ticks"]

TICKS_PER_S = os.sysconf("SC_CLK_TCK")

#: Thread-name prefixes of the demo process and the part each runs (first match wins).
PARTS = (
    ("MainThread", "event loop: sockets, frame decode, HTTP/MCP answers"),
    ("polygon-feed-writer-quotes", "feed: quotes tables built"),
    ("polygon-feed-writer", "feed: writer (trades tables built, appends)"),
    ("asyncio_", "to_thread workers: the transform pass (and start-up work)"),
    ("transform-", "transform helpers: read / compute / commit"),
    ("health", "health check"),
    ("AnyIO worker", "server: blocking tool calls"),
)


def part_of(name: str | None) -> str:
    """The part of the demo a thread named ``name`` runs (``None``: not a Python thread, a native one)."""
    if name is None:
        return "native threads (DuckDB's workers, ...)"
    for prefix, part in PARTS:
        if name.startswith(prefix):
            return part
    return f"other: {name}"


def task_ticks(pid: int) -> dict[int, tuple[str, int]]:
    """``{tid: (comm, user + system ticks)}`` of every thread of ``pid`` now (empty once it has ended)."""
    out: dict[int, tuple[str, int]] = {}
    try:
        entries = list(os.scandir(f"/proc/{pid}/task"))
    except OSError:
        return out
    for entry in entries:
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        head, tail = text.rsplit(")", 1)
        fields = tail.split()
        out[int(entry.name)] = (head.split("(", 1)[1], int(fields[11]) + int(fields[12]))
    return out


def python_thread_names(pid: int) -> dict[int, str]:
    """``{tid: Python thread name}`` of ``pid``'s Python threads, from ``py-spy dump --json`` (empty without
    py-spy or when it fails)."""
    exe = shutil.which("py-spy")
    if exe is None:
        return {}
    try:
        done = subprocess.run([exe, "dump", "--pid", str(pid), "--json"], capture_output=True, text=True,
                              timeout=60, check=True)  # fmt: skip
        threads = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return {int(t["os_thread_id"]): str(t["thread_name"]) for t in threads if t.get("os_thread_id")}


class ThreadSampler:
    """Per-thread CPU of ``pids`` (label → pid) sampled while the ``with`` block runs; see the module docstring.

    After the block: :attr:`series` (label → ``[(monotonic s, {tid: (comm, ticks)})]``), :attr:`names` (label →
    ``{tid: Python name}``, asked at the block's end, before the processes stop) and :attr:`checkpoints` (the
    wall-clock seconds at which the WAL was seen smaller than before).
    """

    def __init__(self, pids: dict[str, int], *, wal: Path | None = None, interval_s: float = 1.0,
                 wal_interval_s: float = 0.1) -> None:  # fmt: skip
        self.pids = pids
        self.wal = wal
        self.interval_s = interval_s
        self.wal_interval_s = wal_interval_s
        self.series: dict[str, list[tuple[float, dict[int, tuple[str, int]]]]] = {label: [] for label in pids}
        self.names: dict[str, dict[int, str]] = {}
        self.checkpoints: list[float] = []
        self.wal_bytes = 0  # bytes the WAL grew by over the window
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="thread-sampler", daemon=True)

    def __enter__(self) -> ThreadSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.names = {label: python_thread_names(pid) for label, pid in self.pids.items()}

    def _sample(self) -> None:
        now = time.monotonic()
        for label, pid in self.pids.items():
            self.series[label].append((now, task_ticks(pid)))

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size if self.wal is not None else 0
        except OSError:
            return 0

    def _run(self) -> None:
        last = self._wal_size()
        next_sample = time.monotonic() + self.interval_s
        while not self._stop.wait(self.wal_interval_s):
            size = self._wal_size()
            if size < last:
                self.checkpoints.append(time.time())
                self.wal_bytes += size
            else:
                self.wal_bytes += size - last
            last = size
            if time.monotonic() >= next_sample:
                self._sample()
                next_sample += self.interval_s

    def threads(self, label: str) -> list[dict[str, Any]]:
        """Each thread of ``label``'s process over the window: ``tid``, ``name`` (Python name, else ``None``),
        ``comm``, ``cpu_s`` (its CPU seconds in the window), ``peak`` (its most cores over one interval),
        ``part`` (:func:`part_of`); most CPU first."""
        series = self.series[label]
        if len(series) < 2:
            return []
        names = self.names.get(label, {})
        out = []
        tids = {tid for _, ticks in series for tid in ticks}
        for tid in tids:
            seen = [(t, ticks[tid][1]) for t, ticks in series if tid in ticks]
            first = 0 if tid not in series[0][1] else seen[0][1]  # a thread started in the window: from 0
            cpu_s = (seen[-1][1] - first) / TICKS_PER_S
            peak = max(((b[1] - a[1]) / TICKS_PER_S / max(b[0] - a[0], 1e-9) for a, b in zip(seen, seen[1:])),
                       default=0.0)  # fmt: skip
            comm = next(ticks[tid][0] for _, ticks in series if tid in ticks)
            name = names.get(tid)
            out.append({"tid": tid, "name": name, "comm": comm, "cpu_s": cpu_s, "peak": peak, "part": part_of(name)})
        return sorted(out, key=lambda r: -r["cpu_s"])

    def seconds(self) -> float:
        """Wall seconds between the first and the last sample."""
        first = next(iter(self.series.values()))
        return first[-1][0] - first[0][0] if len(first) > 1 else 0.0

    def per_second(self, label: str) -> list[float]:
        """Cores ``label``'s process used in each interval (every thread summed)."""
        series = self.series[label]
        out = []
        for (t0, a), (t1, b) in zip(series, series[1:]):
            ticks = sum(v for _, v in b.values()) - sum(v for tid, (_, v) in a.items() if tid in b)
            out.append(ticks / TICKS_PER_S / max(t1 - t0, 1e-9))
        return out


def gc_seconds(records: Iterable[dict[str, Any]], first_s: float,
               last_s: float) -> dict[int, tuple[int, float, float]]:  # fmt: skip
    """``{generation: (collections, seconds, CPU seconds)}`` of the collector's records (:mod:`server.gc_times`)
    started in ``[first_s, last_s)`` (wall-clock seconds)."""
    out: dict[int, tuple[int, float, float]] = {}
    for r in records:
        if first_s <= r["at"] < last_s:
            n, s, c = out.get(r["generation"], (0, 0.0, 0.0))
            out[r["generation"]] = (n + 1, s + r["seconds"], c + r["cpu_seconds"])
    return out
