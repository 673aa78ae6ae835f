"""A debug record of who holds the storage's write locks and of each feed batch's steps, off unless asked.

Set ``MICROSTRUCTURE_WRITE_TIMELINE`` to a file path (a debug variable, not a setting: nothing of the service's
behaviour depends on it) and the process appends one JSON line per event to it:

- ``{"kind": "lock", "lock": name, "thread": ..., "by": function, "asked": t, "got": t, "released": t}`` for
  every hold of a :class:`TimedLock` (wall clock seconds; ``by``: the function that took it): how long the holder
  waited and how long it held;
- ``{"kind": "batch", ...}`` for every batch a feed writes (:mod:`ingest.feed`): the receipt of its first frame,
  when it fell due, when the writer thread took it, when its trades were committed (and the latest-trade memory
  told: listeners run inside the commit's lock) and when its quotes were.

``bench/bench_freshness.py --timeline`` runs the demo with it and summarizes the file (``timeline_summary``
there). Without the variable the locks are plain :class:`threading.Lock` objects and nothing is recorded.

``MICROSTRUCTURE_ONE_WRITE_LOCK=1`` (debug too) makes the storage use its write lock for the appends of trades
and quotes as well, as before the market lock existed: the bench's A/B of the two in one tree.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

__all__ = ["ENV", "ONE_LOCK_ENV", "TimedLock", "enabled", "new_lock", "one_lock", "record"]

#: The environment variable naming the file; unset or empty: off.
ENV = "MICROSTRUCTURE_WRITE_TIMELINE"
#: The environment variable that puts the appends of market data under the write lock again (debug A/B).
ONE_LOCK_ENV = "MICROSTRUCTURE_ONE_WRITE_LOCK"

_file_lock = threading.Lock()


def enabled() -> bool:
    """Whether ``MICROSTRUCTURE_WRITE_TIMELINE`` names a file."""
    return bool(os.environ.get(ENV))


def one_lock() -> bool:
    """Whether ``MICROSTRUCTURE_ONE_WRITE_LOCK`` asks for one lock of every write (the old behaviour)."""
    return os.environ.get(ONE_LOCK_ENV, "") not in ("", "0")


def record(event: dict[str, Any]) -> None:
    """Append ``event`` as one JSON line to the timeline file (nothing when it is off)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps(event) + "\n"
    with _file_lock, open(path, "a", encoding="utf-8") as out:
        out.write(line)


class TimedLock:
    """A :class:`threading.Lock` whose holds are recorded (``kind`` ``lock``) under ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._asked = 0.0
        self._got = 0.0
        self._by = ""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """As :meth:`threading.Lock.acquire`; the wait is recorded with the hold."""
        asked = time.time()
        got = self._lock.acquire(blocking, timeout)
        if got:
            self._asked, self._got, self._by = asked, time.time(), _caller()
        return got

    def release(self) -> None:
        """Release and record the hold."""
        asked, got, by, released = self._asked, self._got, self._by, time.time()
        self._lock.release()
        record({"kind": "lock", "lock": self.name, "thread": threading.current_thread().name, "by": by,
                "asked": asked, "got": got, "released": released})

    def locked(self) -> bool:
        """Whether the lock is held."""
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _caller() -> str:
    """The first function on the stack outside this module, ``contextlib`` and the storage's lock helpers (who
    took the lock)."""
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename.endswith(("write_timeline.py", "contextlib.py"))
                                 or frame.f_code.co_name in ("_transaction", "_exclusive")):
        frame = frame.f_back
    return "" if frame is None else frame.f_code.co_name


def new_lock(name: str) -> threading.Lock | TimedLock:
    """A plain lock, or a :class:`TimedLock` when the timeline is on."""
    return TimedLock(name) if enabled() else threading.Lock()
