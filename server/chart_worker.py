"""A chart worker process: reads :class:`~server.tools.chart_draw.ChartSeries` requests on stdin, answers
PNG bytes on stdout, until stdin ends (the server closed it, or the server is gone).

Started by :class:`server.chart_pool.ChartPool` as ``python -m server.chart_worker``. Frames, both ways:
an 8-byte big-endian length, then that many bytes; a request is a pickled ``ChartSeries`` (from the
server that started this process, nothing else writes to this pipe), an answer starts with one byte, ``0``
for a PNG and ``1`` for the text of an error. Anything the drawing prints goes to stderr, never into the
answers.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import BinaryIO

__all__ = ["FRAME", "main", "read_frame"]

FRAME = struct.Struct(">Q")
OK, FAILED = b"\x00", b"\x01"


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame from ``stream``, or ``None`` at its end."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def main() -> int:
    """Serve requests until stdin ends; return 0."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print lands in the log, not in an answer
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  # the slow import, before the first request

    from server.tools.chart_draw import draw_chart

    while (request := read_frame(sys.stdin.buffer)) is not None:
        try:
            answer = OK + draw_chart(pickle.loads(request))
        except Exception as exc:  # noqa: BLE001  # told to the server, which raises it to the caller
            answer = FAILED + f"{type(exc).__name__}: {exc}".encode()
        answers.write(FRAME.pack(len(answer)) + answer)
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
