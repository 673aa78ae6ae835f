"""One thread that enforces the time limits of many queries (instead of a timer thread per query).

A query :meth:`Watchdog.watch`-es its connection for the time limit; when the limit passes before the
``with`` block ends, the watchdog calls the connection's ``interrupt()``. Leaving the block disarms it under
the same lock the watchdog fires under, so a finished query is never interrupted afterwards.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Watchdog"]

log = logging.getLogger("microstructure.sql")


class Watchdog:
    """Calls ``interrupt`` of a watched query once its deadline passes; one daemon thread, started lazily."""

    def __init__(self, name: str = "query-watchdog") -> None:
        self._name = name
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, Callable[[], object]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, interrupt: Callable[[], object], timeout_s: float) -> Iterator[None]:
        """Run the block; call ``interrupt()`` if it is still running after ``timeout_s`` seconds.

        Parameters
        ----------
        interrupt
            Stops the running query (e.g. ``DuckDBPyConnection.interrupt``); called from the watchdog thread.
        timeout_s
            The time limit in seconds.
        """
        token = next(self._ids)
        deadline = time.monotonic() + timeout_s
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._armed[token] = interrupt
            heapq.heappush(self._heap, (deadline, token))
            if self._heap[0][1] == token:  # the new deadline is the nearest: wake the thread to re-aim
                self._lock.notify()
        try:
            yield
        finally:
            with self._lock:
                self._armed.pop(token, None)  # its heap entry is dropped when it comes up

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                interrupt = self._armed.pop(token)
                try:
                    interrupt()
                except Exception as exc:  # noqa: BLE001 - e.g. a connection closed meanwhile: nothing to stop
                    log.warning("could not interrupt a query past its time limit: %s", exc)
                del interrupt  # hold no connection while waiting: it may be closed and collected
