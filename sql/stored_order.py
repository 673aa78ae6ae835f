"""Order a many-symbol read on the client when the rows are stored in order already, so DuckDB need not sort.

The transform reads a chunk's trades and quotes ``by symbol, each in time order`` (``trades_range_symbols``,
``quotes_range_symbols``). Asking DuckDB for that order makes it sort every row of the chunk, which cost more
than the whole signal pass with quotes (BENCHMARKS.md, bench_signals). Yet rows arrive, and are stored, in
time order per symbol almost always: the feed and replay append them so. :func:`order_stored` takes the rows
of an unordered read (``*_stored`` queries, DuckDB's insertion order) with the order key's columns and

1. groups them by symbol (symbol names in byte order, as DuckDB's ``ORDER BY symbol``; a stable counting of
   the symbols' codes, nothing moves when they are grouped already);
2. checks each symbol's rows against the query's key, compared column by column (``ts_ns`` first, a missing
   ``sequence`` as the largest BIGINT, as the queries' ``COALESCE``): a symbol whose rows are non-decreasing
   in the key is in the order the ordered query gives;
3. names the symbols that are not (:attr:`Ordered.unordered`): a row earlier than the one before it, or a tie
   on every key column read when the ordered query breaks it by a column not read (``trade_id`` of trades).
   The caller reads those symbols again with the ordered query (:meth:`sql.duckdb_backend.DuckDBStorage.
   read_trades_many`), so DuckDB alone decides every order it was asked for.

So the result has the rows and the order of the ordered query: exactly, except among rows that tie on its
whole key, which that query leaves in no defined order either (quotes: ``ts_ns``, ``sequence``,
``received_ns``). ``tests/sql/test_stored_order.py`` compares both on shuffled, interleaved and tied rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Ordered", "by_symbol", "order_stored"]

_BIGINT_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class Ordered:
    """The rows of the symbols in order (key columns dropped) and the symbols left out, to be read ordered."""

    table: pa.Table
    unordered: list[str]


def _key_column(table: pa.Table, name: str) -> np.ndarray:
    """One key column as int64, a NULL as the largest BIGINT (the queries' ``COALESCE`` / NULLS LAST)."""
    column = table.column(name)
    if column.null_count:
        column = pc.fill_null(column, pa.scalar(_BIGINT_MAX, column.type if column.type == pa.int64()
                                                else pa.int64()))
    return np.ascontiguousarray(column.to_numpy(), dtype=np.int64)


def _symbol_ranks(table: pa.Table) -> tuple[np.ndarray, pa.Array]:
    """Each row's symbol as its rank among the distinct symbols in byte order, and those symbols in order."""
    encoded = pc.dictionary_encode(table.column("symbol").combine_chunks())
    names = encoded.dictionary
    order = pc.sort_indices(names).to_numpy()
    rank_of_code = np.empty(order.size, np.int64)
    rank_of_code[order] = np.arange(order.size)
    return rank_of_code[encoded.indices.to_numpy()], names.take(pa.array(order))


def _grouping(ranks: np.ndarray, n_groups: int) -> np.ndarray | None:
    """The stable permutation that groups ``ranks`` in increasing order; ``None`` when they are grouped so."""
    if ranks.size < 2 or bool(np.all(ranks[1:] >= ranks[:-1])):
        return None
    small = ranks.astype(np.uint16) if n_groups <= 1 << 16 else ranks  # numpy's stable sort is a radix sort
    return np.argsort(small, kind="stable")                             # for 16-bit integers: O(n)


def _out_of_order(ranks: np.ndarray, keys: Sequence[np.ndarray], tie_is_unordered: bool) -> np.ndarray:
    """Ranks of the groups with a row before the previous one in ``keys`` (or tied on all, when that counts)."""
    if ranks.size < 2:
        return np.empty(0, np.int64)
    same = ranks[1:] == ranks[:-1]
    before = np.zeros(same.size, np.bool_)
    tied = same.copy()
    for key in keys:  # lexicographic: decided by the first column that differs
        a, b = key[:-1], key[1:]
        before |= tied & (b < a)
        tied &= b == a
    bad = before | tied if tie_is_unordered else before
    return np.unique(ranks[1:][bad])


def order_stored(table: pa.Table, key: Sequence[str], payload: Sequence[str], *,
                 tie_is_unordered: bool) -> Ordered:
    """Group a read by symbol and keep the symbols whose stored rows are already in ``key`` order.

    Parameters
    ----------
    table
        Rows of an unordered read: ``symbol``, the ``key`` columns (integers) and the ``payload`` columns.
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
    >>> t = pa.table({"symbol": ["B", "A", "B", "A"], "ts_ns": [1, 5, 2, 4], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> r = order_stored(t, ["ts_ns"], ["x"], tie_is_unordered=False)
    >>> r.table.column("x").to_pylist(), r.unordered
    ([1.0, 3.0], ['A'])
    """
    columns = ["symbol", *payload]
    if table.num_rows == 0:
        return Ordered(table.select(columns), [])
    ranks, names = _symbol_ranks(table)
    perm = _grouping(ranks, len(names))
    if perm is not None:
        table = table.take(pa.array(perm))
        ranks = ranks[perm]
    bad = _out_of_order(ranks, [_key_column(table, k) for k in key], tie_is_unordered)
    out = table.select(columns)
    if bad.size:
        keep = ~np.isin(ranks, bad)
        out = out.filter(pa.array(keep))
    return Ordered(out, [str(names[int(r)]) for r in bad])


def by_symbol(table: pa.Table) -> pa.Table:
    """``table`` with its rows grouped by symbol (byte order), each symbol's rows in their order.

    Examples
    --------
    >>> by_symbol(pa.table({"symbol": ["B", "A", "B"], "x": [1, 2, 3]})).column("x").to_pylist()
    [2, 1, 3]
    """
    if table.num_rows == 0:
        return table
    ranks, names = _symbol_ranks(table)
    perm = _grouping(ranks, len(names))
    return table if perm is None else table.take(pa.array(perm))
