"""``/health`` answered on the event loop from the newest check, never queued behind tool calls.

The check (one small query, and the Kafka lag of a plain server) is blocking and, under load, slow: it
waits for the GIL and for DuckDB's threads like any query. :class:`RecentCheck` runs it on a thread of its
own and keeps its newest result, so a request is answered at once, on the event loop, with no thread hop:

- a result younger than ``MCP_HEALTH_MAX_AGE_MS`` is answered as it is;
- an older one starts a new check in the background (one at a time; a burst of probes costs one check)
  and is still answered while that check runs, for at most ``MCP_QUERY_TIMEOUT_MS`` more: a check cannot
  take longer without failing, since its query is interrupted at that limit;
- with no result, or one older than both together (a check that hangs), the request waits for the check.

So a database that stops answering is reported (503) within the age limit plus the query's time limit,
as a check run per request reported it, and the hosting process's own fields (phase, ``ready``) are read
at each request (:func:`server.app.build_app`).

:class:`HealthFirst` answers ``GET /health`` ahead of the app's other layers (auth, body limits, the short
path, FastAPI's routing): under load every millisecond of the event loop's CPU is a wait for a probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HealthFirst", "RecentCheck"]

T = TypeVar("T")


class RecentCheck(Generic[T]):
    """The newest result of ``check``, renewed on a thread of its own when older than ``max_age_s``.

    Parameters
    ----------
    check
        A blocking function (the health check), called without arguments; it must return (not raise) what
        a failure looks like.
    max_age_s
        A result younger than this is answered as it is.
    grace_s
        How much longer an older result is answered while its successor runs (the check's own time limit).
    name
        The thread's name.
    clock
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, check: Callable[[], T], *, max_age_s: float, grace_s: float, name: str = "health",
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if max_age_s < 0 or grace_s < 0:
            raise ValueError(f"max_age_s and grace_s must be >= 0, got {max_age_s} and {grace_s}")
        self._check = check
        self._max_age_s = max_age_s
        self._grace_s = grace_s
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._running: asyncio.Future[tuple[float, T]] | None = None
        self._newest: tuple[float, T] | None = None  # (when the check started, its result)

    def _timed_check(self) -> tuple[float, T]:
        started = self._clock()
        return started, self._check()

    def _start(self) -> asyncio.Future[tuple[float, T]]:
        """The check in progress, or a new one; its result becomes the newest when it ends."""
        if self._running is None or self._running.done():
            running = asyncio.wrap_future(self._thread.submit(self._timed_check))
            running.add_done_callback(self._keep)
            self._running = running
        return self._running

    def _keep(self, done: asyncio.Future[tuple[float, T]]) -> None:
        if not done.cancelled() and done.exception() is None:
            result = done.result()
            if self._newest is None or result[0] >= self._newest[0]:
                self._newest = result

    async def __call__(self) -> T:
        """The newest result when recent enough (starting its successor when due), else a new check's."""
        newest = self._newest
        age = None if newest is None else self._clock() - newest[0]
        if newest is not None and age is not None and age <= self._max_age_s:
            return newest[1]
        running = self._start()
        if newest is not None and age is not None and age <= self._max_age_s + self._grace_s:
            return newest[1]
        return (await asyncio.shield(running))[1]

    def close(self, *, wait: bool = False) -> None:
        """Let the thread end once its check (if any) is done; with ``wait``, return only then."""
        self._thread.shutdown(wait=wait)


class HealthFirst:
    """ASGI layer answering ``GET /health`` itself with ``answer``; every other request goes on to ``app``.

    Parameters
    ----------
    app
        The rest of the app (``/health`` stays a route there too, for the OpenAPI description).
    answer
        Returns the ``/health`` response (an ASGI app, such as a ``JSONResponse``).
    path
        The path answered.
    """

    def __init__(self, app: ASGIApp, *, answer: Callable[[], Awaitable[ASGIApp]], path: str = "/health") -> None:
        self.app = app
        self.answer = answer
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "GET":
            await (await self.answer())(scope, receive, send)
            return
        await self.app(scope, receive, send)
