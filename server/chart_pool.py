"""Charts drawn outside the server process: at most ``MCP_CHART_WORKERS`` worker processes
(``server/chart_worker.py``), each drawing one chart at a time, within ``MCP_CHART_TIMEOUT_MS``.

Why: matplotlib holds the GIL while it draws (~180 ms of CPU a chart on this box), so a chart drawn in the
server stalls the event loop (``/health`` and every other answer) for as long. In a worker process it
costs the server one pickled request and one PNG read.

- Workers start on the first chart that needs one and are reused; a chart waits for a free worker (the
  cap) within the same time limit.
- A chart past the time limit: its worker is killed (``ChartTimeout``, which names the setting); the next
  chart starts a new one.
- A worker that dies (killed, out of memory, a crash in the drawing library): the chart it was drawing
  fails with :class:`ChartFailed` naming the exit; one found dead while idle is replaced unseen.
- ``close()`` ends every worker; a worker also ends when its stdin closes, so none outlives the server.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from server.chart_worker import FRAME, OK
from server.tools.chart_draw import ChartSeries
from sql.backend import QueryTimeout, StorageError

__all__ = ["ChartFailed", "ChartPool", "ChartTimeout"]

log = logging.getLogger("microstructure.server")

#: The directory holding the ``server`` package: a worker imports the same code as the server.
_CODE = str(Path(__file__).resolve().parents[1])


class ChartFailed(StorageError):
    """A chart worker could not draw the chart (it died, or the drawing raised); the message says which."""


class _WorkerDied(ChartFailed):
    """The worker process ended before it answered (as opposed to a drawing that raised)."""


class ChartTimeout(QueryTimeout):
    """A chart was not drawn within ``MCP_CHART_TIMEOUT_MS`` (waiting for a worker included)."""


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, command: Sequence[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_CODE, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def draw(self, request: bytes, deadline: float, timeout_ms: int) -> bytes:
        """Send ``request``; return the PNG, or raise ``ChartTimeout`` / ``ChartFailed``."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(FRAME.pack(len(request)) + request)
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._died("before it was sent the chart") from None
        answer = self._read(FRAME.size, deadline, timeout_ms)
        answer = self._read(FRAME.unpack(answer)[0], deadline, timeout_ms)
        if answer[:1] != OK:
            raise ChartFailed(f"the chart could not be drawn: {answer[1:].decode(errors='replace')}")
        return answer[1:]

    def _read(self, size: int, deadline: float, timeout_ms: int) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        parts: list[bytes] = []
        while size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ChartTimeout(f"the chart took longer than MCP_CHART_TIMEOUT_MS ({timeout_ms} ms) and was "
                                   "stopped; ask for fewer bars (max_bars) or raise the setting")  # fmt: skip
            part = os.read(fd, min(size, 1 << 20))
            if not part:
                raise self._died("while drawing the chart")
            parts.append(part)
            size -= len(part)
        return b"".join(parts)

    def _died(self, when: str) -> _WorkerDied:
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        log.error("chart worker %d ended %s (%s)", self.process.pid, when, _exit_text(code))
        return _WorkerDied(f"the chart worker process ended ({_exit_text(code)}) {when}; the server is fine and "
                           "the next chart starts a new worker")  # fmt: skip

    def stop(self, *, kill: bool = False) -> None:
        """End the process: close its stdin (it exits) or kill it; reap it."""
        if kill:
            self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ChartPool:
    """At most ``workers`` chart worker processes, each chart drawn within ``timeout_ms``.

    Parameters
    ----------
    workers
        The cap on worker processes (``MCP_CHART_WORKERS``): charts beyond it wait for a free one.
    timeout_ms
        A chart's time limit, waiting included (``MCP_CHART_TIMEOUT_MS``).
    command
        How a worker starts; the default runs ``server.chart_worker`` with this Python.
    """

    def __init__(self, *, workers: int, timeout_ms: int, command: Sequence[str] | None = None) -> None:
        if workers < 1 or timeout_ms < 1:
            raise ValueError(f"workers and timeout_ms must be >= 1, got {workers} and {timeout_ms}")
        self._command = list(command or (sys.executable, "-m", "server.chart_worker"))
        self._timeout_ms = timeout_ms
        self._workers = workers
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._closed = False
        self.started = 0  #: worker processes started so far

    def draw(self, series: ChartSeries) -> bytes:
        """Draw ``series`` in a worker; return the PNG.

        Raises
        ------
        ChartTimeout
            Not drawn within the time limit (the worker drawing it is killed).
        ChartFailed
            The worker died, or the drawing raised; or the pool is closed.
        """
        deadline = time.monotonic() + self._timeout_ms / 1000
        if not self._slots.acquire(timeout=self._timeout_ms / 1000):
            raise ChartTimeout(f"no chart worker came free within MCP_CHART_TIMEOUT_MS ({self._timeout_ms} ms): "
                               f"MCP_CHART_WORKERS ({self._workers}) charts were being drawn")  # fmt: skip
        request = pickle.dumps(series, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            worker, reused = self._take()
            try:
                png = self._draw_in(worker, request, deadline)
            except _WorkerDied:
                if not reused:
                    raise
                # an idle worker that had ended unseen (killed while idle, its exit not yet visible to poll()):
                # the chart never reached a live worker, so a new one draws it (once)
                log.warning("chart worker %d had ended while idle; starting another", worker.process.pid)
                worker = self._start()
                png = self._draw_in(worker, request, deadline)
            self._give_back(worker)
            return png
        finally:
            self._slots.release()

    def _draw_in(self, worker: _Worker, request: bytes, deadline: float) -> bytes:
        """``worker.draw``; the worker is killed and reaped when it raises (a timeout, a failure, a death)."""
        try:
            return worker.draw(request, deadline, self._timeout_ms)
        except BaseException:
            worker.stop(kill=True)
            raise

    def _take(self) -> tuple[_Worker, bool]:
        """An idle worker that is alive (``True``: reused), else a new one (``False``)."""
        with self._lock:
            if self._closed:
                raise ChartFailed("the server is stopping: no more charts are drawn")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker, True
                log.warning("chart worker %d had ended (%s); starting another", worker.process.pid,
                            _exit_text(worker.process.returncode))  # fmt: skip
                worker.stop()
        return self._start(), False

    def _start(self) -> _Worker:
        with self._lock:
            self.started += 1
        return _Worker(self._command)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        worker.stop()

    def pids(self) -> list[int]:
        """The process ids of the idle workers (for tests and operators)."""
        with self._lock:
            return [w.process.pid for w in self._idle]

    def close(self) -> None:
        """End the idle workers; a busy one ends when its chart is done."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()
