"""The stream's spool: Polygon events Kafka has not confirmed, kept in a local file until it does.

``microstructure stream`` accepts events from the socket faster than Kafka confirms them; what is still
unconfirmed when it stops (the broker away, or slower than ``STREAM_STOP_WAIT_SECONDS``), and every event whose
delivery failed for good, is appended here instead of being lost. The next ``stream`` start sends the spool
first and empties it once Kafka has confirmed every event of it; ``microstructure replay <spool>`` sends it too.

File format: JSON lines, each line one Polygon WebSocket event exactly as it went to Kafka
(``{"ev":"T","sym":"AAPL",...}``) or one whole frame as the socket delivered it (``[{"ev":"T",...},...]``, what
``STREAM_SPOOL_MODE=always`` writes before producing). Writes are appends of whole lines with one ``write``
and an ``fsync`` before the call returns; a crash in the middle of a write leaves at most a last line without
its newline, which :func:`read_lines` skips and counts (its events were never handed to Kafka in ``always``
mode, and are still in the producer's queue, i.e. lost with the process, in ``on-failure`` mode).

Files beside ``path`` (``STREAM_SPOOL_PATH``): ``<path>.lock`` (held with ``flock`` while a stream runs, so two
streams never share a spool) and, in ``always`` mode, ``<path>.wal.<n>`` segments, each deleted once every
event produced from it is confirmed (or spooled). Resending is at least once; the loader's dedupe key makes a
resent event that Kafka had in fact received a no-op in the database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Spool", "SpoolBusy", "WriteAhead", "append_lines", "events_of_lines", "read_lines"]

log = logging.getLogger(__name__)


class SpoolBusy(RuntimeError):
    """Another process holds the spool's lock."""


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def append_lines(path: Path, lines: Sequence[bytes]) -> None:
    """Append ``lines`` (each without its newline) to ``path`` in one write, then ``fsync``."""
    if not lines:
        return
    data = b"\n".join(lines) + b"\n"
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def read_lines(path: Path) -> tuple[list[bytes], int]:
    """The complete lines of a spool file (empty lines left out) and the number of torn ones skipped.

    A torn line is a last line without its newline that does not parse as JSON: what a crash in the middle
    of an append leaves.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    torn = 0
    if tail.strip():
        try:
            orjson.loads(tail)
            lines.append(tail)
        except orjson.JSONDecodeError:
            torn = 1
            log.warning("spool %s: skipped a torn last line (%d bytes) left by a crash", path, len(tail))
    return [line for line in lines if line.strip()], torn


def events_of_lines(lines: Iterable[bytes]) -> list[Any]:
    """The Polygon events of spool lines: an object line is one event, an array line a frame of events.

    A line that is not JSON is returned as its text, so the producer rejects it with a reason like any
    other malformed event (it is logged and counted, never sent)."""
    events: list[Any] = []
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            events.append(line.decode("utf-8", "replace"))
            continue
        if isinstance(value, list):
            events.extend(value)
        else:
            events.append(value)
    return events


class Spool:
    """The spool file of one ``stream`` process, locked while it runs.

    Parameters
    ----------
    path
        ``STREAM_SPOOL_PATH``; its directory is created when missing.

    Raises
    ------
    SpoolBusy
        Another running process holds the spool.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolBusy(f"the spool {self.path} is in use by another 'microstructure stream' (set "
                            f"STREAM_SPOOL_PATH to a file of its own for each stream)") from None
        os.ftruncate(self._lock_fd, 0)
        _write_all(self._lock_fd, f"{os.getpid()}\n".encode())

    def close(self) -> None:
        """Release the lock."""
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Spool({str(self.path)!r})"

    def append(self, values: Sequence[bytes]) -> None:
        """Append events (their JSON, one per line) durably: written and fsynced when this returns."""
        append_lines(self.path, values)

    def segments(self) -> list[Path]:
        """The ``always``-mode segments left beside the spool, oldest first."""
        found = self.path.parent.glob(f"{self.path.name}.wal.*")
        numbered = [(int(p.name.rsplit(".", 1)[1]), p) for p in found if p.name.rsplit(".", 1)[1].isdigit()]
        return [p for _, p in sorted(numbered)]

    def pending_files(self) -> list[Path]:
        """Every file whose events still wait for Kafka: the segments, then the spool itself."""
        files = self.segments()
        if self.path.exists() and self.path.stat().st_size:
            files.append(self.path)
        return files

    def replace(self, files: Iterable[Path], values: Sequence[bytes]) -> None:
        """Make ``values`` the spool's whole content and delete the segments among ``files``.

        Called once every event of ``files`` is confirmed by Kafka or is in ``values`` (those that were not).
        The spool is replaced first (written beside it, fsynced, renamed), then the segments go: a crash in
        between leaves events that are sent again, never a lost one."""
        tmp = self.path.with_name(f"{self.path.name}.tmp")
        tmp.unlink(missing_ok=True)
        append_lines(tmp, values)
        if values:
            os.replace(tmp, self.path)
        elif self.path.exists():
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(self.path.parent)
        for path in files:
            if path != self.path:
                path.unlink(missing_ok=True)
        _fsync_dir(self.path.parent)


class _Segment:
    """One ``always``-mode segment: its file and how many of its events Kafka has answered for."""

    def __init__(self, path: Path, on_failure: Any) -> None:
        self.path = path
        self.opened = time.monotonic()
        self.produced = 0
        self.answered = 0
        self._on_failure = on_failure

    def ack(self, err: Any, msg: Any) -> None:
        """Delivery report of one event of this segment (the per-message callback of ``produce``)."""
        self.answered += 1
        if err is not None:
            self._on_failure(err, msg)


class WriteAhead:
    """``STREAM_SPOOL_MODE=always``: frames are written to a segment, fsynced, and only then produced.

    Parameters
    ----------
    spool
        The stream's spool; segments are ``<spool>.wal.<n>``.
    on_failure
        Called with ``(err, msg)`` for an event whose delivery failed (the producer spools it).
    segment_seconds
        A new segment is started when the current one is this old; a segment is deleted once Kafka has
        answered for every event produced from it and those that failed are in the spool.
    """

    def __init__(self, spool: Spool, on_failure: Any, segment_seconds: float = 2.0) -> None:
        self.spool = spool
        self.segment_seconds = segment_seconds
        self._on_failure = on_failure
        existing = [int(p.name.rsplit(".", 1)[1]) for p in spool.segments()]
        self._next = max(existing, default=0) + 1
        self._current: _Segment | None = None
        self._closed: list[_Segment] = []

    def write(self, frames: Sequence[bytes]) -> _Segment:
        """Append ``frames`` (one per line) durably to the current segment; return it."""
        segment = self._current
        if segment is None or time.monotonic() - segment.opened >= self.segment_seconds:
            if segment is not None:
                self._closed.append(segment)
            path = self.spool.path.with_name(f"{self.spool.path.name}.wal.{self._next}")
            self._next += 1
            segment = self._current = _Segment(path, self._on_failure)
        append_lines(segment.path, frames)
        return segment

    def collect(self, *, final: bool = False) -> None:
        """Delete the closed segments Kafka has answered for (``final``: the current one too)."""
        if final and self._current is not None:
            self._closed.append(self._current)
            self._current = None
        keep = []
        for segment in self._closed:
            if segment.answered >= segment.produced:
                segment.path.unlink(missing_ok=True)
            else:
                keep.append(segment)
        self._closed = keep

    @property
    def files(self) -> int:
        """Segments still on disk."""
        return len(self._closed) + (self._current is not None)
