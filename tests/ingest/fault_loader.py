"""A ``microstructure load`` process that stops at a chosen fault point: ``python tests/ingest/fault_loader.py
POINT N`` (settings from the environment) runs the loader as the command does and, the ``N``-th time it
passes ``POINT``, prints ``at POINT`` on stdout and waits there for ever, for the test to kill it.

``POINT`` is one of :data:`ingest.load.FAULT_POINTS` or ``inside_write``: the storage is wrapped so that a
trades write stores the first half of its batch, passes the point, then stores the rest (a kill there leaves
half a batch durable and none of its offsets committed)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from ingest.load import FAULT_POINTS, Loader
from sql.backend import open_storage
from sql.settings import Settings

INSIDE_WRITE = "inside_write"


class _HalfWrites:
    """A storage whose trades appends write in two halves with the fault point between them."""

    def __init__(self, inner: Any, fault: Any) -> None:
        self.inner, self.fault = inner, fault

    def append_trades(self, batch: Any) -> int:
        half = batch.num_rows // 2
        added = int(self.inner.append_trades(batch.slice(0, half)))
        self.fault(INSIDE_WRITE)
        return added + int(self.inner.append_trades(batch.slice(half)))

    def append_quotes(self, batch: Any) -> int:
        return int(self.inner.append_quotes(batch))

    def reopen(self) -> None:
        self.inner.reopen()


def stop_at(point: str, nth: int) -> Callable[[str], None]:
    """A ``fault`` hook that, the ``nth`` time it is called with ``point``, prints ``at POINT`` and waits there for
    ever (for the test to kill the process)."""
    passed = 0

    def fault(name: str) -> None:
        nonlocal passed
        if name == point:
            passed += 1
            if passed == nth:
                print(f"at {point}", flush=True)
                threading.Event().wait()

    return fault


def main(point: str, nth: int) -> int:
    if point not in (*FAULT_POINTS, INSIDE_WRITE):
        print(f"unknown fault point {point!r}", file=sys.stderr)
        return 2
    settings = Settings()
    storage = open_storage(settings.for_loader())
    storage.apply_schema()
    fault = stop_at(point, nth)
    target = _HalfWrites(storage, fault) if point == INSIDE_WRITE else storage
    Loader(settings, target, fault=fault, reopen_rows=settings.load_reopen_rows).run()  # type: ignore[arg-type]
    return 1  # never reached: the test kills the process at the point


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
