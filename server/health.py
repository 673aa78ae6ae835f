"""``/health`` answered on a thread of its own, never queued behind tool calls.

Tool calls and REST routes run on anyio's worker threads (40); slow queries, or analyst statements waiting
for the analyst slot, can hold all of them, and a health check queued behind them would report a healthy
server as down. :class:`OwnThread` runs the check (one small query, the host's status, the Kafka lag) on its
own single thread; requests that arrive while a check runs share that check's answer, and a check younger
than :data:`FRESH_SECONDS` answers at once, so a burst of probes costs one check, never waits behind tool
calls, and under load most probes are answered on the event loop without a hand-off to another thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["FRESH_SECONDS", "OwnThread"]

#: A health answer this young is given again instead of checking again (its ``as_of`` says when it was made).
FRESH_SECONDS = 0.5

T = TypeVar("T")


class OwnThread(Generic[T]):
    """Runs ``check`` on a thread of its own; concurrent callers share the run in progress, and a result
    younger than ``fresh_s`` is returned again.

    Parameters
    ----------
    check
        A blocking function (the health check), called without arguments.
    fresh_s
        How long a result is returned again.
    name
        The thread's name.
    """

    def __init__(self, check: Callable[[], T], *, fresh_s: float = FRESH_SECONDS, name: str = "health") -> None:
        self._check = check
        self._fresh_ns = int(fresh_s * 1e9)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._running: asyncio.Future[T] | None = None
        self._started_ns = 0

    async def __call__(self) -> T:
        """The last result when fresh, else that of the run in progress, or of a new run when none is."""
        now = time.monotonic_ns()
        running = self._running
        if running is None or (running.done() and now - self._started_ns >= self._fresh_ns):
            self._started_ns = now
            running = self._running = asyncio.wrap_future(self._thread.submit(self._check))
        return await asyncio.shield(running)

    def close(self) -> None:
        """Let the thread end once its run (if any) is done."""
        self._thread.shutdown(wait=False)
