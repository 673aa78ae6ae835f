"""Debug: when the Python garbage collector ran in this process and for how long (``MICROSTRUCTURE_GC_TIMES``).

With ``MICROSTRUCTURE_GC_TIMES=<path>`` the embedded process (:func:`server.embedded.run_embedded`) keeps, through
``gc.callbacks``, one record per collection (the wall-clock second it started, its generation, its seconds, the
CPU seconds of the thread it ran in meanwhile and the objects it freed) and appends them to ``<path>`` as JSON lines every ``flush_s`` (5 s: a process killed
before it stops loses at most those) and when it stops. ``bench/bench_freshness.py
--threads`` reads them to say how much of the demo's CPU the collector took while it was polled. Unset (the
default), nothing is installed. The callback runs with the GIL held inside the collection, so the seconds it
measures are the collection's own (the thread that triggered it is stopped meanwhile); on a loaded box its wall
seconds include waits for a core, its CPU seconds do not.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["ENV", "GcTimes", "gc_times_from_env"]

#: The environment variable naming the file the records go to.
ENV = "MICROSTRUCTURE_GC_TIMES"


class GcTimes:
    """A ``gc.callbacks`` entry keeping one ``(started_s, generation, seconds, cpu_seconds, collected)`` record per
    collection.

    Parameters
    ----------
    clock
        Monotonic seconds, for a collection's length.
    cpu
        CPU seconds of the calling thread (the collection runs in the thread whose allocation triggered it).
    wall
        Wall-clock seconds since the epoch, for when it started (to cut the records to a window).
    path
        The records not written yet are appended to it at the end of the first collection ``flush_s`` after
        the last write (and by :meth:`flush`); ``None``: kept in :attr:`records` only.
    """

    def __init__(self, *, clock: Callable[[], float] = time.perf_counter, wall: Callable[[], float] = time.time,
                 cpu: Callable[[], float] = time.thread_time, path: Path | None = None,
                 flush_s: float = 5.0) -> None:  # fmt: skip
        self._clock = clock
        self._cpu = cpu
        self._wall = wall
        self._path = path
        self._flush_s = flush_s
        self._written = 0
        self._flushed_at = clock()
        self._started: tuple[float, float, float] | None = None
        self.records: list[tuple[float, int, float, float, int]] = []

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = (self._wall(), self._clock(), self._cpu())
        elif phase == "stop" and self._started is not None:
            wall, began, cpu = self._started
            self._started = None
            ended = self._clock()
            self.records.append((wall, int(info["generation"]), ended - began, self._cpu() - cpu,
                                 int(info["collected"])))  # fmt: skip
            if self._path is not None and ended - self._flushed_at >= self._flush_s:
                self.flush()

    def flush(self) -> None:
        """Append the records not written yet to the file, one JSON object a line."""
        if self._path is None:
            return
        self._flushed_at = self._clock()
        with self._path.open("a", encoding="utf-8") as out:
            for wall, generation, seconds, cpu, collected in self.records[self._written:]:
                out.write(json.dumps({"at": wall, "generation": generation, "seconds": seconds, "cpu_seconds": cpu,
                                      "collected": collected}) + "\n")  # fmt: skip
        self._written = len(self.records)


@contextlib.contextmanager
def gc_times_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> Iterator[GcTimes | None]:
    """Keep the collector's times while the block runs when ``MICROSTRUCTURE_GC_TIMES`` names a file (emptied
    first), written there as they come (:class:`GcTimes`) and at the block's end; yield the :class:`GcTimes`
    (``None`` when the variable is unset or empty)."""
    target = environ.get(ENV)
    if not target:
        yield None
        return
    path = Path(target)
    path.write_text("", encoding="utf-8")
    times = GcTimes(path=path)
    gc.callbacks.append(times)
    try:
        yield times
    finally:
        gc.callbacks.remove(times)
        times.flush()
