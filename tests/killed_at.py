"""Kill a child process at the fault point it stopped at: the fault scripts (``tests/ingest/fault_loader.py``,
``tests/sql/vertica_fault_loader.py``, ``tests/sql/vertica_fault_transform.py``) print ``at <point>`` as their first
line on stdout there and wait to be killed."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess

__all__ = ["kill_at"]


def kill_at(process: subprocess.Popen[str], point: str, seconds: float, who: str) -> None:
    """Wait up to ``seconds`` for ``process`` to say ``at <point>``, then kill it with SIGKILL and reap it.

    A first line that is not that one (or none in time) kills the process and fails with ``who``, the line and
    the tail of its stderr.
    """
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=seconds)
    line = process.stdout.readline() if ready else ""
    if line.strip() != f"at {point}":
        process.kill()
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"{who} did not reach the point {point!r}: {line!r} {err[-3000:]}")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
