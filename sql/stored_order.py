"""Order a many-symbol read on the client when the rows are stored in order already, so DuckDB need not sort.

The transform reads a chunk's quotes ``by symbol, each in time order`` (``quotes_range_symbols``). Asking
DuckDB for that order makes it sort every quote of the chunk, which cost more than the signals
(BENCHMARKS.md, bench_signals); the chunk's trades, 4-15 times fewer, keep DuckDB's sort (measured no slower). Yet rows are stored in time order per symbol
almost always (the feed and replay append them so). :func:`order_stored` takes the rows of the unsorted read
(``*_stored`` queries: each row's ``rowid``, its symbol as its position in the list asked for, the key
columns and the columns to return) and

1. puts them back in stored order (DuckDB's parallel scan hands back batches that are each in ``rowid`` order
   but interleaved), then groups them by symbol, symbols in byte order as DuckDB's ``ORDER BY symbol``
   (stable radix sorts of integers; nothing moves when the rows are so already; no symbol string is read or
   compared), and moves each numeric column there in one pass: every read row written to its place
   (a scatter, chunk by chunk, into one contiguous array), which stays sequential in what it reads when a
   feed appended the symbols interleaved (a gather by row number would jump between them);
2. checks each symbol's rows against the query's key, column by column (``ts_ns`` first, a missing
   ``sequence`` as the largest BIGINT, as the queries' ``COALESCE``): a symbol whose rows are non-decreasing
   in the key is in the order the ordered query gives;
3. names the symbols that are not (:attr:`Ordered.unordered`): a row earlier than the one before it, or a tie
   on every key column read when the ordered query breaks it by a column not read (``trade_id`` of trades).
   The caller reads those symbols again with the ordered query and merges them in (:func:`merge_ordered`;
   :meth:`sql.duckdb_backend.DuckDBStorage.read_quotes_many`), so DuckDB decides every order not checked here.

So the result has the rows and the order of the ordered query: exactly, except among rows that tie on its
whole key, which that query leaves in no defined order either (quotes: ``ts_ns``, ``sequence``,
``received_ns``). ``tests/sql/test_stored_order.py`` compares both on rows stored in time order, symbol by
symbol, shuffled, with one symbol shuffled, and with ties ordered wrongly by a missing sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Ordered", "merge_ordered", "order_stored"]

_BIGINT_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class Ordered:
    """The rows of the symbols in order (key columns dropped), by symbol in byte order, and the symbols left
    out, to be read ordered (:func:`merge_ordered` puts them in)."""

    table: pa.Table
    unordered: list[str]


def _key_column(table: pa.Table, name: str) -> np.ndarray:
    """One key column as int64, a NULL as the largest BIGINT (the queries' ``COALESCE`` / NULLS LAST)."""
    column = table.column(name).cast(pa.int64())
    if column.null_count:
        column = pc.fill_null(column, pa.scalar(_BIGINT_MAX, pa.int64()))
    return np.ascontiguousarray(column.to_numpy(), dtype=np.int64)


def _byte_order(symbols: Sequence[str]) -> tuple[np.ndarray, pa.Array]:
    """Per position in ``symbols`` (1-based, as ``list_position``; 0 unused) its rank in byte order, and the
    symbols in that order."""
    order = sorted(range(len(symbols)), key=lambda i: symbols[i].encode())
    rank_of_position = np.zeros(len(symbols) + 1, np.int64)
    rank_of_position[np.asarray(order, np.int64) + 1] = np.arange(len(order))
    return rank_of_position, pa.array([symbols[i] for i in order], pa.string())


def _stable_order(values: np.ndarray) -> np.ndarray | None:
    """The stable permutation sorting ``values`` (non-negative integers); ``None`` when they are sorted."""
    if values.size < 2 or bool(np.all(values[1:] >= values[:-1])):
        return None
    if int(values.max()) < 1 << 16:  # numpy's stable sort of 16-bit integers is a radix sort: O(n)
        return np.argsort(values.astype(np.uint16), kind="stable")
    return np.argsort(values, kind="stable")  # timsort: O(n log runs) on a few sorted runs


def _permutation(table: pa.Table, ranks: np.ndarray) -> np.ndarray | None:
    """The rows grouped by rank, each group in stored order (``stored_row``, DuckDB's ``rowid``, when read:
    its parallel scan hands rows back in batches that are each in stored order but interleaved); ``None``
    when the rows are so already."""
    stored = _stable_order(table.column("stored_row").to_numpy()) if "stored_row" in table.column_names else None
    by_rank = _stable_order(ranks if stored is None else ranks[stored])
    if by_rank is None:
        return stored
    return by_rank if stored is None else stored[by_rank]


def _destinations(rows: np.ndarray) -> np.ndarray:
    """The inverse of the gather index ``rows``: where each read row goes (``dest[rows[p]] = p``)."""
    dest = np.empty(rows.size, np.int64)
    dest[rows] = np.arange(rows.size, dtype=np.int64)
    return dest


def _scatter(column: pa.ChunkedArray, dest: np.ndarray | None, rows: np.ndarray | None) -> pa.Array:
    """``column`` in the new order, as one contiguous array.

    A numeric column without NULLs is scattered chunk by chunk (``out[dest] = chunk``: the reads are sequential,
    the writes go to one run per symbol, and no chunk is first concatenated): several times cheaper than
    gathering by ``rows`` when the rows of each symbol are spread over the read (a feed appends symbols
    interleaved). Other columns are taken by ``rows``."""
    if dest is None:
        return column.combine_chunks()
    if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and column.null_count == 0:
        out = np.empty(dest.size, column.type.to_pandas_dtype())
        offset = 0
        for chunk in column.chunks:
            out[dest[offset:offset + len(chunk)]] = chunk.to_numpy()
            offset += len(chunk)
        return pa.array(out, column.type)
    return column.combine_chunks().take(pa.array(rows))


def _out_of_order(ranks: np.ndarray, first: np.ndarray, table: pa.Table, later: Sequence[str],
                  rows: np.ndarray | None, tie_is_unordered: bool) -> np.ndarray:
    """Ranks of the groups with a row before the previous one in the key (or tied on all, when that counts).
    ``ranks`` and ``first`` (the first key column) are in the new order; the ``later`` key columns of
    ``table`` (the read) are converted only when the first has ties, and read at them through ``rows`` (the
    read row of each new position)."""
    if ranks.size < 2:
        return np.empty(0, np.int64)
    same = ranks[1:] == ranks[:-1]
    before = same & (first[1:] < first[:-1])
    at = np.flatnonzero(same & (first[1:] == first[:-1]))  # ties on the first key: row at + 1 after row at
    tied = np.ones(at.size, np.bool_)
    # lexicographic: the first key column that differs decides
    for key in (_key_column(table, name) for name in later) if at.size else ():
        prev, this = (key[at], key[at + 1]) if rows is None else (key[rows[at]], key[rows[at + 1]])
        before[at] |= tied & (this < prev)
        tied &= this == prev
    if tie_is_unordered:
        before[at[tied]] = True
    return np.unique(ranks[1:][before])


def order_stored(table: pa.Table, symbols: Sequence[str], key: Sequence[str], payload: Sequence[str], *,
                 tie_is_unordered: bool) -> Ordered:
    """Group a read by symbol and keep the symbols whose stored rows are already in ``key`` order.

    Parameters
    ----------
    table
        Rows of an unordered read: ``symbol_index`` (the row's symbol as its 1-based position in ``symbols``,
        DuckDB's ``list_position``: no strings to read or compare), the ``key`` columns (integers), the
        ``payload`` columns and, optionally, ``stored_row`` (DuckDB's ``rowid``: the rows are put in stored
        order first).
    symbols
        The symbols asked for.
    key
        The order key after ``symbol``, most significant first (NULL counts as the largest BIGINT).
    payload
        The columns to return after ``symbol``, in this order.
    tie_is_unordered
        Whether rows tied on every ``key`` column need a column not read to be ordered (then their symbol is
        left out as unordered).

    Returns
    -------
    Ordered
        ``symbol`` and ``payload`` of the symbols in order, by symbol (byte order), each in its stored order;
        and the symbols left out, in byte order.

    Examples
    --------
    >>> t = pa.table({"symbol_index": [2, 1, 2, 1], "ts_ns": [1, 5, 2, 4], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> r = order_stored(t, ["A", "B"], ["ts_ns"], ["x"], tie_is_unordered=False)
    >>> r.table.column("x").to_pylist(), r.unordered
    ([1.0, 3.0], ['A'])
    """
    rank_of_position, names = _byte_order(symbols)
    ranks = rank_of_position[np.asarray(table.column("symbol_index").to_numpy(), np.int64)]
    rows = _permutation(table, ranks)
    if rows is not None:  # the new order is grouped by rank: its ranks are each rank repeated
        ranks = np.repeat(np.arange(len(names), dtype=np.int64), np.bincount(ranks, minlength=len(names)))
    dest = None if rows is None else _destinations(rows)
    moved = {name: _scatter(table.column(name), dest, rows) for name in dict.fromkeys([*payload, key[0]])}
    first = _key_column(pa.table({key[0]: moved[key[0]]}), key[0])
    bad = _out_of_order(ranks, first, table, key[1:], rows, tie_is_unordered)
    columns = [moved[name] for name in payload]
    if bad.size:
        unordered = np.zeros(len(names), np.bool_)
        unordered[bad] = True
        keep = ~unordered[ranks]
        columns, ranks = [pc.filter(c, pa.array(keep)) for c in columns], ranks[keep]
    return Ordered(pa.table([names.take(pa.array(ranks)), *columns], names=["symbol", *payload]),
                   [str(names[int(r)]) for r in bad])


def merge_ordered(ordered: pa.Table, more: pa.Table) -> pa.Table:
    """Two tables grouped by symbol, with no symbol in both, as one grouped by symbol in byte order.

    Examples
    --------
    >>> a = pa.table({"symbol": ["A", "A", "C"], "x": [1, 2, 3]})
    >>> merge_ordered(a, pa.table({"symbol": ["B", "B"], "x": [4, 5]})).column("x").to_pylist()
    [1, 2, 4, 5, 3]
    """
    pieces = []
    for part in (ordered, more):
        if part.num_rows:
            runs = pc.run_end_encode(part.column("symbol").combine_chunks())
            ends = runs.run_ends.to_numpy()
            starts = np.concatenate(([0], ends[:-1]))
            pieces += [(name, part.slice(int(a), int(b - a)))
                       for name, a, b in zip(runs.values.to_pylist(), starts, ends, strict=True)]
    pieces.sort(key=lambda piece: piece[0].encode())
    return pa.concat_tables([p for _, p in pieces]) if pieces else ordered
