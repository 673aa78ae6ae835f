"""Charts drawn in worker processes (``server/chart_pool.py``): the same PNG bytes as drawn in process, the cap
on worker processes, the time limit, and a worker that dies: a clear error, and the server goes on."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from conftest import small_settings
from server.app import build_app
from server.chart_pool import ChartFailed, ChartPool, ChartTimeout
from server.mcp import build_server
from server.tools.chart import render_chart
from sql.duckdb_backend import DuckDBStorage

#: Worker commands standing in for a worker that hangs or dies (the pool's process edge, as ``command``).
SILENT = [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"]  # reads until closed, never answers
CRASHES = [sys.executable, "-c", "import os, sys; sys.stdin.buffer.read(8); os._exit(3)"]


def _chart(storage: DuckDBStorage, pool: ChartPool | None = None, symbol: str = "AAPL", max_bars: int = 60) -> bytes:
    kwargs = {} if pool is None else {"draw": pool.draw}
    png, _ = render_chart(storage, symbol=symbol, bar_seconds=60, max_bars=max_bars, start=0, **kwargs)
    return png


def _kill(pid: int) -> None:
    """SIGKILL ``pid`` and return once it is dead (a zombie its parent has not reaped yet, or gone): a worker
    killed but still running for a moment would be handed the next chart and fail it, which is not the case
    under test."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} still running 30 s after SIGKILL")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_worker_draws_the_same_bytes_as_the_server_process(tiny_db):
    _, storage = tiny_db
    pool = ChartPool(workers=2, timeout_ms=180_000)
    try:
        for symbol, bars in (("AAPL", 60), ("MSFT", 10), ("NVDA", 120)):
            drawn = _chart(storage, pool, symbol, bars)
            assert drawn.startswith(b"\x89PNG") and drawn == _chart(storage, None, symbol, bars)
    finally:
        pool.close()


def test_charts_beyond_the_cap_wait_for_the_one_worker_and_all_are_drawn(tiny_db):
    _, storage = tiny_db
    pool = ChartPool(workers=1, timeout_ms=120_000)
    drawn: list[bytes] = []
    threads = [threading.Thread(target=lambda: drawn.append(_chart(storage, pool))) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(drawn) == 4 and len(set(drawn)) == 1 and pool.started == 1 and len(pool.pids()) == 1
    finally:
        pool.close()


def test_a_chart_past_the_time_limit_names_the_setting_and_its_worker_is_stopped(tiny_db):
    _, storage = tiny_db
    pool = ChartPool(workers=1, timeout_ms=300, command=SILENT)
    try:
        with pytest.raises(ChartTimeout, match=r"MCP_CHART_TIMEOUT_MS \(300 ms\)"):
            _chart(storage, pool)
        assert pool.pids() == [] and pool.started == 1 and _chart_workers(SILENT[-1].encode()) == set()
        with pytest.raises(ChartTimeout):
            _chart(storage, pool)  # a new worker, not the stopped one
        assert pool.started == 2
    finally:
        pool.close()


def test_a_worker_dying_while_drawing_fails_that_chart_with_its_exit_and_the_next_starts_anew(tiny_db):
    _, storage = tiny_db
    pool = ChartPool(workers=1, timeout_ms=60_000, command=CRASHES)
    try:
        with pytest.raises(ChartFailed, match=r"chart worker process ended \(exit status 3\) while drawing"):
            _chart(storage, pool)
        with pytest.raises(ChartFailed, match="exit status 3"):
            _chart(storage, pool)
        assert pool.started == 2 and pool.pids() == []
    finally:
        pool.close()


@pytest.mark.parametrize("exit_seen", [True, False], ids=["exit-seen", "exit-not-seen-yet"])
def test_a_worker_killed_while_idle_is_replaced_and_close_ends_every_worker(tiny_db, monkeypatch, exit_seen):
    """Killed while idle, the worker is replaced: seen dead when the next chart comes, or (``exit_seen`` False,
    the race of a kill just before the next chart, forced by making every worker look alive) handed the chart,
    dead before it answers, and a new worker draws it: the client gets its chart, not an error."""
    from server import chart_pool

    _, storage = tiny_db
    pool = ChartPool(workers=1, timeout_ms=180_000)
    try:
        first = _chart(storage, pool)
        (pid,) = pool.pids()
        _kill(pid)
        if not exit_seen:
            monkeypatch.setattr(chart_pool._Worker, "alive", property(lambda self: True))
        assert _chart(storage, pool) == first and pool.started == 2
        (replacement,) = pool.pids()
    finally:
        pool.close()
    assert replacement != pid and _gone(replacement)
    with pytest.raises(ChartFailed, match="server is stopping"):
        _chart(storage, pool)


def test_pool_arguments_are_checked():
    with pytest.raises(ValueError, match="workers and timeout_ms must be >= 1"):
        ChartPool(workers=0, timeout_ms=1000)


@pytest.mark.anyio
async def test_mcp_a_crashed_chart_worker_is_an_error_result_and_the_server_answers_on(tiny_db):
    path, storage = tiny_db
    pool = ChartPool(workers=1, timeout_ms=60_000, command=CRASHES)
    try:
        async with Client(build_server(small_settings(path), storage, charts=pool)) as client:
            failed = await client.call_tool("get_chart", {"symbol": "AAPL", "start": 0})
            assert failed.is_error and "chart worker process ended (exit status 3)" in failed.content[0].text
            assert not (await client.call_tool("get_real_time_data", {"symbol": "AAPL"})).is_error
    finally:
        pool.close()


def _chart_workers(marker: bytes = b"server.chart_worker") -> set[int]:
    """Process ids of this process's children whose command line holds ``marker`` (from ``/proc``)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and marker in command:
            found.add(int(entry.name))
    return found


def test_rest_charts_come_from_the_apps_workers_and_a_killed_one_is_replaced(tiny_db):
    path, storage = tiny_db
    before = _chart_workers()
    settings = small_settings(path, mcp_allowed_hosts="testserver")
    with TestClient(build_app(settings, storage)) as client:
        first = client.get("/api/v1/chart/AAPL.png?start=0&max_bars=60")
        assert first.status_code == 200 and first.content == _chart(storage), first.text[:300]
        (worker,) = _chart_workers() - before
        _kill(worker)
        again = client.get("/api/v1/chart/AAPL.png?start=0&max_bars=60")
        assert again.status_code == 200 and again.content == first.content, again.text[:300]
        assert client.get("/health").status_code == 200
        (replacement,) = _chart_workers() - before - {worker}
    assert _gone(replacement)  # the app's shutdown ended (and reaped) it
