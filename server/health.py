"""``/health`` answered on a thread of its own, never queued behind tool calls.

Tool calls and REST routes run on anyio's worker threads (40); slow queries, or analyst statements waiting
for the analyst slot, can hold all of them, and a health check queued behind them would report a healthy
server as down. :class:`OwnThread` runs the check (one small query, the host's status, the Kafka lag) on its
own single thread, and requests that arrive while a check runs share that check's answer, so a burst of
probes costs one check and never waits behind tool calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["OwnThread"]

T = TypeVar("T")


class OwnThread(Generic[T]):
    """Runs ``check`` on a thread of its own; concurrent callers share the run in progress.

    Parameters
    ----------
    check
        A blocking function (the health check), called without arguments.
    name
        The thread's name.
    """

    def __init__(self, check: Callable[[], T], name: str = "health") -> None:
        self._check = check
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._running: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        """The result of the run of ``check`` in progress, or of a new run when none is."""
        if self._running is None or self._running.done():
            self._running = asyncio.wrap_future(self._thread.submit(self._check))
        return await asyncio.shield(self._running)

    def close(self) -> None:
        """Let the thread end once its run (if any) is done."""
        self._thread.shutdown(wait=False)
