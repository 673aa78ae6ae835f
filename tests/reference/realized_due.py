"""Which bars are due for a realized-spread row, by the plain rule over every stored row (DESIGN: a bar's row is
written once its horizon has passed; a symbol resumes after its newest stored row)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def due_and_newest(realized: Iterable[Sequence], bars: Iterable[Sequence], until: int) -> tuple[list[tuple],
                                                                                               list[tuple]]:
    """``(symbol, bar_end_ns)`` of every bar ending at or before ``until`` after its symbol's newest realized row,
    sorted, and that newest row of each symbol, sorted.

    ``realized`` rows start ``(symbol, bar_end_ns, ...)`` (one grid and horizon); ``bars`` are
    ``(symbol, bar_end_ns)`` of the same grid."""
    newest: dict[str, tuple] = {}
    for row in realized:
        if row[0] not in newest or row[1] > newest[row[0]][1]:
            newest[row[0]] = tuple(row)
    due = sorted((s, e) for s, e in bars if e <= until and e > (newest[s][1] if s in newest else -1))
    return due, sorted(newest.values())
