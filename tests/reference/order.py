"""The order of a transform read, from the contract of the ordered queries (``trades_range_symbols``,
``quotes_range_symbols``: ``ORDER BY symbol`` in byte order, then the key, a missing value as the largest
BIGINT) and of the client-side ordering (``sql/stored_order.py``'s module docstring), not from its code.

A read's rows are given as plain dicts: ``symbol_index`` (1-based position in the symbols asked for), the key
columns, the payload columns and optionally ``stored_row`` (the row's ``rowid``; without it the read order is
the stored order). Each symbol's rows are taken in stored order; the symbol is in order when each row's key is
not below the one before it (and, when a tie counts, not equal to it); symbols not in order are left out and
named, in byte order.

Slow and obvious on purpose: whole-tuple comparisons of Python ints, one symbol at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["BIGINT_MAX", "byte_sorted", "grouped_rows", "merged", "ordered_read"]

BIGINT_MAX = 2**63 - 1

Row = dict[str, Any]


def byte_sorted(symbols: Sequence[str]) -> list[str]:
    """``symbols`` in the order of their UTF-8 bytes (DuckDB's ``ORDER BY symbol``)."""
    return sorted(symbols, key=lambda s: s.encode("utf-8"))


def _key(row: Row, key: Sequence[str]) -> tuple[int, ...]:
    return tuple(BIGINT_MAX if row[name] is None else int(row[name]) for name in key)


def ordered_read(rows: Sequence[Row], symbols: Sequence[str], key: Sequence[str], payload: Sequence[str], *,
                 tie_is_unordered: bool) -> tuple[list[Row], list[str]]:
    """The rows of the symbols in order, each as ``{"symbol": ..., payload...}``, grouped by symbol in byte
    order and in stored order inside each; and the symbols left out, in byte order."""
    groups: dict[str, list[tuple[int, Row]]] = {}
    for i, row in enumerate(rows):
        place = row["stored_row"] if "stored_row" in row else i
        groups.setdefault(symbols[row["symbol_index"] - 1], []).append((place, row))
    out: list[Row] = []
    unordered: list[str] = []
    for name in byte_sorted(list(groups)):
        in_stored = [row for _, row in sorted(groups[name], key=lambda pair: pair[0])]
        keys = [_key(row, key) for row in in_stored]
        if any(b < a or (tie_is_unordered and a == b) for a, b in zip(keys, keys[1:])):
            unordered.append(name)
            continue
        out += [{"symbol": name, **{p: row[p] for p in payload}} for row in in_stored]
    return out, unordered


def merged(first: Sequence[Row], second: Sequence[Row]) -> list[Row]:
    """Two lists of rows each grouped by symbol (no symbol in both) as one, the symbols in byte order and each
    symbol's rows as they were."""
    by_symbol: dict[str, list[Row]] = {}
    for row in [*first, *second]:
        by_symbol.setdefault(row["symbol"], []).append(row)
    return [row for name in byte_sorted(list(by_symbol)) for row in by_symbol[name]]


def grouped_rows(rows: Sequence[Row], columns: Sequence[str]) -> dict[str, list[list[Any]]]:
    """Each symbol's ``columns`` of rows grouped by symbol, as lists in row order (``None`` kept)."""
    out: dict[str, list[list[Any]]] = {}
    for row in rows:
        cols = out.setdefault(row["symbol"], [[] for _ in columns])
        for col, name in zip(cols, columns):
            col.append(row[name])
    return out
