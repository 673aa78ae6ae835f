"""Order a many-symbol read on the client when the rows are stored in order already, so DuckDB need not sort.

The transform reads a chunk's trades and quotes ``by symbol, each in time order`` (``trades_range_symbols``,
``quotes_range_symbols``). Asking DuckDB for that order makes it sort every row of the chunk, which cost more
than the signals for quotes (BENCHMARKS.md, bench_signals) and about three times the unsorted scan for trades.
Yet rows are stored in time order per symbol almost always (the feed and replay append them so).
:func:`order_stored` takes the rows of the unsorted read (``*_stored`` queries: each row's ``rowid``, its symbol
as its position in the list asked for, the key columns and the columns to return) and

1. puts them back in stored order (DuckDB's parallel scan hands back vectors that are each in ``rowid`` order
   but interleaved) and groups them by symbol, symbols in byte order as DuckDB's ``ORDER BY symbol`` (no
   symbol string is read or compared; nothing moves when the rows are so already). Symbols stored one after
   the other come back as a few long runs of one symbol and consecutive ``rowid``: the runs are put in order
   by their first row (no row is sorted) and each column becomes its runs' slices of the read's chunks, in
   the new order, without a copy (a reader copies a symbol's rows only where they span two). Otherwise each
   row's stored place is found from its ``rowid`` (by counting the rows read below it, or by a sort when
   they are spread thinly), the rows are grouped by stable radix sorts of integers, and each numeric column
   is moved in one pass: every read row written to its place (a scatter, chunk by chunk, into one contiguous
   array), which stays sequential in what it reads when a feed appended the symbols interleaved (a gather by
   row number would jump between them);
2. checks each symbol's rows against the query's key, column by column (``ts_ns`` first, a missing
   ``sequence`` as the largest BIGINT, as the queries' ``COALESCE``): a symbol whose rows are non-decreasing
   in the key is in the order the ordered query gives;
3. names the symbols that are not (:attr:`Ordered.unordered`): a row earlier than the one before it, or a tie
   on every key column read when the ordered query breaks it by a column not read (``trade_id`` of trades).
   The caller reads those symbols again with the ordered query and merges them in (:func:`merge_ordered`;
   :meth:`sql.duckdb_backend.DuckDBStorage._read_by_symbol`), so DuckDB decides every order not checked here.

So the result has the rows and the order of the ordered query: exactly, except among rows that tie on its
whole key, which that query leaves in no defined order either (quotes: ``ts_ns``, ``sequence``,
``received_ns``; trades: none, a tie on ``ts_ns, sequence, exchange`` is left to the ordered query).
The transform's quote read skips the table altogether (:func:`symbol_arrays`,
:meth:`sql.duckdb_backend.DuckDBStorage.read_quote_arrays`): for a read of symbols stored one after the other,
:func:`stored_runs` finds each symbol's runs (sorted by their first ``rowid``) and checks the key across each pair
of consecutive rows, chunk by chunk on the read's own buffers, without moving a row, joining a column or building
the ``symbol`` column, and each symbol's arrays are views of the read's chunks (copied only where they span two);
any other read goes through :func:`order_stored`. Before it, the quotes are read without ``rowid`` at all
(:func:`time_runs`, :func:`time_arrays`): a symbol whose times are distinct has one time order, which its runs of
rising times give once sorted, wherever the scan put them; a read of quotes stored interleaved (a feed) or a
symbol they cannot order is read again with ``rowid``.

``tests/sql/test_stored_order.py`` compares both on rows stored in time order, symbol by symbol, shuffled, with
one symbol shuffled, and with ties ordered wrongly by a missing sequence, and each way of moving the rows with a
plain sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Ordered", "Runs", "grouped_arrays", "merge_ordered", "order_stored", "run_arrays", "stored_runs",
           "symbol_arrays", "time_arrays", "time_runs"]

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


#: The fewest rows per run, on average, at which the rows are moved a run at a time (:func:`_stored_runs`): DuckDB's
#: scan hands back vectors of up to 2,048 stored rows, so the rows of symbols stored one after the other come in
#: a few long runs of consecutive ``rowid``.
_RUN_ROWS = 256

#: Runs a read without ``rowid`` may have beyond one per ``_RUN_ROWS`` rows (:func:`time_runs`): a small read
#: of a few symbols is a few runs however short.
_FEW_RUNS = 16

#: The widest span of ``stored_row`` values, in rows read, that :func:`_stored_positions` ranks by counting
#: (a bitmap over the span) rather than by sorting: a read of a few symbols of many interleaved ones spans more.
_COUNTING_SPAN = 16


def _stored_runs(stored: np.ndarray, ranks: np.ndarray) -> list[tuple[int, int]] | None:
    """The read as runs ``(first read row, length)`` in the new order, when it is a few long runs of one rank and
    consecutive ``rowid`` (``stored``, unique): DuckDB's scan of symbols stored one after the other; ``None``
    otherwise. The runs are sorted by rank, then by their first ``rowid``: no row is sorted."""
    n = stored.size
    if n < 2:
        return None
    starts = np.flatnonzero((stored[1:] != stored[:-1] + 1) | (ranks[1:] != ranks[:-1])) + 1
    if starts.size + 1 > n // _RUN_ROWS:
        return None
    starts = np.concatenate(([0], starts))
    lengths = np.diff(np.append(starts, n))
    order = np.lexsort((stored[starts], ranks[starts]))
    if bool(np.all(order[1:] > order[:-1])):  # the runs are in their new order already: nothing moves
        return [(0, n)]
    starts, lengths = starts[order], lengths[order]
    rank, first, last = ranks[starts], stored[starts], stored[starts + lengths - 1]
    if bool(np.any((rank[1:] == rank[:-1]) & (first[1:] <= last[:-1]))):  # overlapping runs: ids not unique
        return None
    return list(zip(starts.tolist(), lengths.tolist(), strict=True))


def _stored_positions(stored: np.ndarray) -> np.ndarray | None:
    """Each read row's place in stored order (``stored``: the rows' ``rowid``, unique); ``None`` when the rows
    are in stored order already.

    Without a sort where it can: rows read of a contiguous range of ``rowid`` go to ``rowid - first``; rows
    spread over at most ``_COUNTING_SPAN`` times as many ``rowid`` values are ranked by counting the rows
    read before each; wider spreads are sorted."""
    n = stored.size
    if n < 2 or bool(np.all(stored[1:] > stored[:-1])):
        return None
    lo = int(stored.min())
    span = int(stored.max()) - lo + 1
    if span == n:  # unique values filling their range: a permutation of it
        return stored - lo
    if span <= _COUNTING_SPAN * n:
        present = np.zeros(span, np.bool_)
        present[stored - lo] = True
        before = np.cumsum(present, dtype=np.int64)  # rows read at or before each rowid
        return before[stored - lo] - 1
    return _destinations(np.argsort(stored, kind="stable"))


def _placement(table: pa.Table, ranks: np.ndarray) -> _Moves:
    """How the read rows move: grouped by rank, each group in stored order (``stored_row``, DuckDB's ``rowid``,
    when read)."""
    pos = None
    if "stored_row" in table.column_names:
        stored = np.asarray(table.column("stored_row").to_numpy(), np.int64)
        runs = _stored_runs(stored, ranks)
        if runs is not None:
            return _Moves(runs=None if runs == [(0, stored.size)] else runs)
        pos = _stored_positions(stored)
    if pos is None:
        by_rank = _stable_order(ranks)
        return _Moves(None if by_rank is None else _destinations(by_rank))
    in_stored = np.empty_like(ranks)
    in_stored[pos] = ranks
    by_rank = _stable_order(in_stored)
    return _Moves(pos if by_rank is None else _destinations(by_rank)[pos])


def _destinations(rows: np.ndarray) -> np.ndarray:
    """The inverse of the gather index ``rows``: where each read row goes (``dest[rows[p]] = p``)."""
    dest = np.empty(rows.size, np.int64)
    dest[rows] = np.arange(rows.size, dtype=np.int64)
    return dest


class _Moves:
    """Moves the read rows to their new places: ``runs`` of consecutive read rows ``(first, length)`` in the new
    order, or ``dest`` (each read row's new position), or neither (nothing moves).

    Runs are taken as zero-copy slices, every column alike (the column comes back in many chunks).
    Otherwise a numeric column without NULLs is scattered chunk by chunk (``out[dest] = chunk``: the reads
    are sequential, the writes go to one run per symbol, and no chunk is first concatenated): several times
    cheaper than gathering by ``rows`` when the rows of each symbol are spread over the read (a feed appends
    symbols interleaved); other columns are taken by ``rows``."""

    def __init__(self, dest: np.ndarray | None = None, runs: list[tuple[int, int]] | None = None) -> None:
        self.dest = dest
        self.runs = runs
        self._rows: np.ndarray | None = None

    @property
    def moved(self) -> bool:
        """Whether any row moves."""
        return self.dest is not None or self.runs is not None

    @property
    def rows(self) -> np.ndarray | None:
        """The read row of each new position (``None``: the same), made when first asked for."""
        if self._rows is None and self.runs is not None:
            self._rows = np.concatenate([np.arange(a, a + m, dtype=np.int64) for a, m in self.runs])
        elif self._rows is None and self.dest is not None:
            self._rows = _destinations(self.dest)
        return self._rows

    def column(self, column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """``column`` in the new order: the read's own chunks when nothing moves (no copy: a reader takes each
        symbol's rows as slices, :func:`udx._chunk_read.read_quotes`) or their runs' slices of them, else one
        contiguous array."""
        if self.runs is not None:  # zero-copy slices of the read's chunks, in their new order
            return pa.chunked_array([piece for a, m in self.runs for piece in column.slice(a, m).chunks],
                                    column.type)
        if self.dest is None:
            return column
        if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and not column.null_count:
            out = np.empty(self.dest.size, column.type.to_pandas_dtype())
            offset = 0
            for chunk in column.chunks:
                out[self.dest[offset:offset + len(chunk)]] = chunk.to_numpy()
                offset += len(chunk)
            return pa.array(out, column.type)
        return column.combine_chunks().take(pa.array(self.rows))


def _out_of_order(ranks: np.ndarray, first: np.ndarray, table: pa.Table, later: Sequence[str],
                  moves: _Moves, tie_is_unordered: bool) -> np.ndarray:
    """Ranks of the groups with a row before the previous one in the key (or tied on all, when that counts).
    ``ranks`` and ``first`` (the first key column) are in the new order; the ``later`` key columns of
    ``table`` (the read) are converted only while pairs of rows stay tied, each put in the new order
    (:func:`_in_new_order`) and compared at those pairs alone."""
    if ranks.size < 2:
        return np.empty(0, np.int64)
    same = ranks[1:] == ranks[:-1]
    before = same & (first[1:] < first[:-1])
    at = np.flatnonzero(same & (first[1:] == first[:-1]))  # ties on the first key: row at + 1 after row at
    # lexicographic: the first key column that differs decides; each column is compared at the pairs still tied
    for name in later:
        if not at.size:
            break
        key = _in_new_order(_key_column(table, name), moves)
        prev, this = key[at], key[at + 1]
        before[at] |= this < prev
        at = at[this == prev]
    if tie_is_unordered:
        before[at] = True
    return np.unique(ranks[1:][before])


def _in_new_order(key: np.ndarray, moves: _Moves) -> np.ndarray:
    """A key column of the read (``key``, in read order) in the new order: scattered by ``moves.dest`` (its
    reads sequential, as :meth:`_Moves.column`), else gathered by ``moves.rows`` (runs), else as it is."""
    if moves.dest is not None:
        out = np.empty_like(key)
        out[moves.dest] = key
        return out
    rows = moves.rows
    return key if rows is None else key[rows]


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
    moves = _placement(table, ranks)
    if moves.moved:  # the new order is grouped by rank: its ranks are each rank repeated
        ranks = np.repeat(np.arange(len(names), dtype=np.int64), np.bincount(ranks, minlength=len(names)))
    moved = {name: moves.column(table.column(name)) for name in dict.fromkeys([*payload, key[0]])}
    if isinstance(moved[key[0]], pa.ChunkedArray):  # the key is checked in one piece (arrow's memory pool)
        moved[key[0]] = moved[key[0]].combine_chunks()
    first = _key_column(pa.table({key[0]: moved[key[0]]}), key[0])
    bad = _out_of_order(ranks, first, table, key[1:], moves, tie_is_unordered)
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


@dataclass(frozen=True, slots=True)
class Runs:
    """Each symbol's rows of an unordered read as runs ``(first read row, length)`` of it, in key order, and the
    symbols left out (to be read ordered)."""

    runs: dict[str, list[tuple[int, int]]]
    unordered: list[str]
    column: pa.ChunkedArray  #: the first key column of the read

    @property
    def key(self) -> np.ndarray:
        """The first key column of the read, as int64 in read order (NULL as the largest BIGINT), joined."""
        return _joined_key(self.column)


def _keys_at(table: pa.Table, names: Sequence[str], rows: np.ndarray) -> list[np.ndarray]:
    """The key columns ``names`` at the read rows ``rows`` only (as :func:`_key_column`), taken from the chunks
    that hold them (a take from the whole column would join its chunks first)."""
    out = []
    for name in names:
        column = table.column(name)
        bounds = np.cumsum([0] + [len(chunk) for chunk in column.chunks])
        which = np.searchsorted(bounds, rows, side="right") - 1
        values = np.empty(rows.size, np.int64)
        for k in np.unique(which).tolist():
            at = np.flatnonzero(which == k)
            picked = column.chunks[k].take(pa.array(rows[at] - bounds[k])).cast(pa.int64())
            values[at] = pc.fill_null(picked, pa.scalar(_BIGINT_MAX, pa.int64())).to_numpy(zero_copy_only=False)
        out.append(values)
    return out


def _before(prev: list[np.ndarray], this: list[np.ndarray], tie_is_unordered: bool) -> np.ndarray:
    """Per pair of rows (key columns ``prev``, ``this``, most significant first): whether ``this`` comes before
    ``prev`` in the key (or ties on every column, when that counts)."""
    before = np.zeros(prev[0].size if prev else 0, np.bool_)
    tied = np.ones_like(before)
    for p, t in zip(prev, this, strict=True):
        before |= tied & (t < p)
        tied &= t == p
    return before | tied if tie_is_unordered else before


def stored_runs(table: pa.Table, symbols: Sequence[str], key: Sequence[str], *,
                tie_is_unordered: bool) -> Runs | None:
    """Each symbol's rows of a read of symbols stored one after the other, as runs of the read, without moving a
    row or building a column; ``None`` when the read is not a few long runs (:func:`order_stored` then).

    Parameters
    ----------
    table
        Rows of an unordered read: ``stored_row`` (DuckDB's ``rowid``), ``symbol_index`` (1-based position in
        ``symbols``) and the ``key`` columns.
    symbols
        The symbols asked for.
    key
        The order key after ``symbol``, most significant first (NULL counts as the largest BIGINT).
    tie_is_unordered
        Whether rows tied on every ``key`` column need a column not read to be ordered.

    Returns
    -------
    Runs or None
        Per symbol in order (present in the read), its runs ``(first read row, length)`` in stored order, which
        is the ``key`` order (checked: the rows of a symbol are non-decreasing in the key, as in
        :func:`order_stored`); the symbols that are not, left out and named. ``None`` when the rows do not
        come as runs of one symbol and consecutive ``rowid`` averaging ``_RUN_ROWS`` rows or more, or when two
        runs of a symbol overlap (``rowid`` not unique).

    Examples
    --------
    >>> t = pa.table({"stored_row": list(range(600)), "symbol_index": [2] * 300 + [1] * 300,
    ...               "ts_ns": list(range(300)) + list(range(300, 0, -1))})
    >>> r = stored_runs(t, ["A", "B"], ["ts_ns"], tie_is_unordered=False)
    >>> r.runs, r.unordered
    ({'B': [(0, 300)]}, ['A'])
    """
    n = table.num_rows
    if n == 0:
        return Runs({}, [], table.column(key[0]))
    found = _chunk_runs(table, key[0], n // _RUN_ROWS)
    if found is None:
        return None
    starts, lengths, position, first, last, pairs = found
    order = np.lexsort((first, position))
    starts, lengths, pos, first, last = starts[order], lengths[order], position[order], first[order], last[order]
    same = pos[1:] == pos[:-1]  # run j + 1 continues the symbol of run j
    if bool(np.any(same & (first[1:] <= last[:-1]))):  # overlapping runs: ids not unique
        return None
    # pairs of consecutive rows of a symbol: inside a run (i, i + 1) where the first key does not go up (found
    # chunk by chunk) and across its runs (end of j, start of j + 1)
    prev_rows = np.concatenate((pairs, (starts[:-1] + lengths[:-1] - 1)[same]))
    next_rows = np.concatenate((pairs + 1, starts[1:][same]))
    bad_rows = np.empty(0, np.int64)
    if prev_rows.size:
        prev = _keys_at(table, key, prev_rows)
        this = _keys_at(table, key, next_rows)
        bad_rows = next_rows[_before(prev, this, tie_is_unordered)]
    bad = set(_keys_at(table, ["symbol_index"], bad_rows)[0].tolist()) if bad_rows.size else set()
    return _symbol_runs(symbols, pos, starts, lengths, bad, table.column(key[0]))


def time_runs(table: pa.Table, symbols: Sequence[str]) -> Runs | None:
    """Each symbol's rows of an unordered read without ``rowid`` (``symbol_index``, ``ts_ns``) as runs of the read
    in time order, when every symbol's times are distinct; ``None`` when the read is not a few long runs.

    A run is rows of one symbol whose ``ts_ns`` rises strictly (found chunk by chunk on the read's own buffers); a
    symbol's runs are sorted by their first time, and the symbol is kept when each run starts after the one
    before it ends: its rows are then strictly rising in time, the one order the ordered query can give them,
    whatever order the scan handed them back in. A symbol with two rows at one time (or runs that overlap in
    time) is left out and named, to be read with the columns that break ties. So no ``rowid`` is read for
    symbols stored one after the other; rows stored interleaved (a feed) come as too many short runs (more than
    one per ``_RUN_ROWS`` rows, and ``_FEW_RUNS``): ``None``, for a read with ``rowid`` (:func:`stored_runs`,
    :func:`order_stored`).

    Examples
    --------
    >>> t = pa.table({"symbol_index": [2, 2, 1, 1, 2], "ts_ns": [5, 6, 3, 3, 1]})
    >>> r = time_runs(t, ["A", "B"])
    >>> r.runs, r.unordered
    ({'B': [(4, 1), (0, 2)]}, ['A'])
    """
    n = table.num_rows
    if n == 0:
        return Runs({}, [], table.column("ts_ns"))
    starts: list[np.ndarray] = []
    tail: tuple[int, int] | None = None  # the previous chunk's last position and time
    offset = count = 0
    for batch in table.select(["symbol_index", "ts_ns"]).to_batches():
        m = batch.num_rows
        if m == 0:
            continue
        p = _chunk_ints(batch.column(0))
        t = _chunk_ints(batch.column(1))
        breaks = np.flatnonzero((p[1:] != p[:-1]) | (t[1:] <= t[:-1])) + 1
        joined = tail is not None and int(p[0]) == tail[0] and int(t[0]) > tail[1]
        count += breaks.size + (0 if joined else 1)
        if count > n // _RUN_ROWS + _FEW_RUNS:
            return None
        if not joined:
            starts.append(np.array([offset], np.int64))
        starts.append(breaks + offset)
        tail = (int(p[-1]), int(t[-1]))
        offset += m
    run_starts = np.concatenate(starts)
    lengths = np.diff(np.append(run_starts, offset))
    position, first = _keys_at(table, ["symbol_index", "ts_ns"], run_starts)
    last = _keys_at(table, ["ts_ns"], run_starts + lengths - 1)[0]
    order = np.lexsort((first, position))
    run_starts, lengths, pos, first, last = (run_starts[order], lengths[order], position[order], first[order],
                                             last[order])
    touching = (pos[1:] == pos[:-1]) & (first[1:] <= last[:-1])  # a tie, or rows that overlap in time
    bad = set(pos[1:][touching].tolist())
    return _symbol_runs(symbols, pos, run_starts, lengths, bad, table.column("ts_ns"))


def _symbol_runs(symbols: Sequence[str], position: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                 bad: set[int], first_key: pa.ChunkedArray) -> Runs:
    """The :class:`Runs` of runs sorted by symbol position and first key: each symbol's ``(first read row,
    length)`` in that order, the symbols at the positions in ``bad`` left out and named (in byte order)."""
    runs: dict[str, list[tuple[int, int]]] = {}
    for p, a, m in zip(position.tolist(), starts.tolist(), lengths.tolist(), strict=True):
        if p not in bad:
            runs.setdefault(symbols[p - 1], []).append((a, m))
    return Runs(runs, sorted((symbols[p - 1] for p in bad), key=str.encode), first_key)


def _chunk_runs(table: pa.Table, first_key: str, most: int) -> tuple[np.ndarray, ...] | None:
    """The runs of one symbol and consecutive ``rowid`` of a read, found chunk by chunk on the read's own buffers
    (no column is joined, no temporary is larger than a chunk): per run its first read row, length, symbol
    position, first and last ``rowid``, and the read rows ``i`` inside a run where ``first_key`` does not go up
    to row ``i + 1``; ``None`` when there are more than ``most`` runs."""
    starts: list[np.ndarray] = []
    rows_up: list[np.ndarray] = []
    tail: tuple[int, int, int] | None = None  # the previous chunk's last stored_row, position and key
    offset = 0
    count = 0
    for batch in table.select(["stored_row", "symbol_index", first_key]).to_batches():
        m = batch.num_rows
        if m == 0:
            continue
        s = _chunk_ints(batch.column(0))
        p = _chunk_ints(batch.column(1))
        t = _chunk_ints(batch.column(2))
        breaks = np.flatnonzero((s[1:] != s[:-1] + 1) | (p[1:] != p[:-1])) + 1
        joined = tail is not None and int(s[0]) == tail[0] + 1 and int(p[0]) == tail[1]
        count += breaks.size + (0 if joined else 1)
        if count > most:
            return None
        if not joined:
            starts.append(np.array([offset], np.int64))
        elif int(t[0]) <= tail[2]:  # type: ignore[index]  # the pair across the chunks, inside one run
            rows_up.append(np.array([offset - 1], np.int64))
        starts.append(breaks + offset)
        not_up = t[1:] <= t[:-1]
        not_up[breaks - 1] = False  # a run's first row follows another run's last
        rows_up.append(np.flatnonzero(not_up) + offset)
        tail = (int(s[-1]), int(p[-1]), int(t[-1]))
        offset += m
    run_starts = np.concatenate(starts)
    lengths = np.diff(np.append(run_starts, offset))
    stored, position = _keys_at(table, ["stored_row", "symbol_index"], run_starts)
    last = _keys_at(table, ["stored_row"], run_starts + lengths - 1)[0]
    return run_starts, lengths, position, stored, last, np.concatenate(rows_up)


def _chunk_ints(chunk: pa.Array) -> np.ndarray:
    """One chunk of an integer column as int64 (a view when it is int64 without NULL; NULL as the largest
    BIGINT)."""
    if chunk.null_count:
        chunk = pc.fill_null(chunk.cast(pa.int64()), pa.scalar(_BIGINT_MAX, pa.int64()))
    values = chunk.to_numpy(zero_copy_only=False)
    return values if values.dtype == np.int64 else values.astype(np.int64)


def _joined_key(column: pa.ChunkedArray) -> np.ndarray:
    """A key column as one int64 array, a NULL as the largest BIGINT; joined in arrow's memory pool (which keeps
    freed blocks for the next read) and then not copied again."""
    joined = column.combine_chunks().cast(pa.int64())
    if joined.null_count:
        joined = pc.fill_null(joined, pa.scalar(_BIGINT_MAX, pa.int64()))
    return np.asarray(joined.to_numpy(zero_copy_only=False), np.int64)


def run_arrays(column: pa.ChunkedArray, runs: Sequence[tuple[int, int]], dtype: type = np.float64) -> np.ndarray:
    """The rows of ``runs`` (``(first row, length)``, in this order) of a read's column as one contiguous array
    (NULL as NaN): a view of the read where they lie in one of its chunks, else joined in arrow's memory pool.

    Examples
    --------
    >>> col = pa.chunked_array([[1.0, 2.0], [3.0, None]])
    >>> run_arrays(col, [(2, 2), (0, 1)]).tolist()
    [3.0, nan, 1.0]
    """
    pieces = [piece for a, m in runs for piece in column.slice(a, m).chunks]
    if not pieces:
        return np.empty(0, dtype)
    joined = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
    return np.ascontiguousarray(joined.to_numpy(zero_copy_only=False), dtype=dtype)


def grouped_arrays(table: pa.Table, columns: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """Each symbol's ``columns`` of a read grouped by symbol (a ``symbol`` column), as :func:`run_arrays` gives
    them (the first column as int64, the others as float64).

    Examples
    --------
    >>> t = pa.table({"symbol": ["A", "A", "B"], "ts_ns": [1, 2, 3], "x": [0.5, 1.5, 2.5]})
    >>> {k: [a.tolist() for a in v] for k, v in grouped_arrays(t, ["ts_ns", "x"]).items()}
    {'A': [[1, 2], [0.5, 1.5]], 'B': [[3], [2.5]]}
    """
    if table.num_rows == 0:
        return {}
    runs = pc.run_end_encode(table.column("symbol").combine_chunks())
    ends = runs.run_ends.to_numpy().tolist()
    cols = [table.column(name) for name in columns]
    return {symbol: [run_arrays(c, [(a, b - a)], np.int64 if k == 0 else np.float64) for k, c in enumerate(cols)]
            for symbol, a, b in zip(runs.values.to_pylist(), [0, *ends[:-1]], ends, strict=True)}


def symbol_arrays(table: pa.Table, symbols: Sequence[str], key: Sequence[str], columns: Sequence[str], *,
                  tie_is_unordered: bool) -> tuple[dict[str, list[np.ndarray]], list[str]]:
    """Each symbol's ``columns`` of an unordered read (as :func:`order_stored` takes it, with ``stored_row``) as
    arrays, its rows in ``key`` order, and the symbols left out (byte order), to be read ordered.

    Symbols stored one after the other (:func:`stored_runs`) come as views of the read's chunks, copied only
    where they span two; any other read is ordered by :func:`order_stored`. The first of ``columns`` is
    ``key[0]`` (int64), the others float64 (NULL as NaN).

    Examples
    --------
    >>> t = pa.table({"stored_row": [0, 1, 2], "symbol_index": [1, 1, 2], "ts_ns": [5, 6, 1], "x": [.5, .6, .1]})
    >>> got, left_out = symbol_arrays(t, ["A", "B"], ["ts_ns"], ["ts_ns", "x"], tie_is_unordered=False)
    >>> {k: [a.tolist() for a in v] for k, v in got.items()}, left_out
    ({'A': [[5, 6], [0.5, 0.6]], 'B': [[1], [0.1]]}, [])
    """
    found = stored_runs(table, symbols, key, tie_is_unordered=tie_is_unordered)
    if found is None:  # not stored symbol after symbol: the rows are moved
        ordered = order_stored(table, symbols, key, columns, tie_is_unordered=tie_is_unordered)
        return grouped_arrays(ordered.table, columns), ordered.unordered
    cols = [table.column(name) for name in columns[1:]]
    key = found.key if found.column.null_count else None  # a NULL key is read as the largest BIGINT
    return ({symbol: [run_arrays(found.column, runs, np.int64) if key is None else _run_key(key, runs),
                      *(run_arrays(c, runs) for c in cols)]
             for symbol, runs in found.runs.items()}, found.unordered)


def time_arrays(table: pa.Table, symbols: Sequence[str], columns: Sequence[str]) -> tuple[dict[str, list[np.ndarray]],
                                                                                     list[str]] | None:
    """Each symbol's ``columns`` of a read without ``rowid`` (``symbol_index``, ``ts_ns`` and ``columns``, the first
    ``ts_ns``) as arrays in time order (:func:`time_runs`: views of the read's chunks, copied only where they span
    two), and the symbols left out (byte order), to be read with the columns that break ties; ``None`` when the
    read is not a few long runs (stored interleaved: read it with ``rowid``).

    Examples
    --------
    >>> t = pa.table({"symbol_index": [1, 1, 2], "ts_ns": [5, 6, 1], "x": [.5, .6, .1]})
    >>> got, left_out = time_arrays(t, ["A", "B"], ["ts_ns", "x"])
    >>> {k: [a.tolist() for a in v] for k, v in got.items()}, left_out
    ({'A': [[5, 6], [0.5, 0.6]], 'B': [[1], [0.1]]}, [])
    """
    found = time_runs(table, symbols)
    if found is None:
        return None
    cols = [table.column(name) for name in columns]
    return ({symbol: [run_arrays(c, runs, np.int64 if k == 0 else np.float64) for k, c in enumerate(cols)]
             for symbol, runs in found.runs.items()}, found.unordered)


def _run_key(key: np.ndarray, runs: Sequence[tuple[int, int]]) -> np.ndarray:
    """The rows ``runs`` of a read's joined key column: a view for one run, else joined."""
    if len(runs) == 1:
        a, m = runs[0]
        return key[a:a + m]
    return np.concatenate([key[a:a + m] for a, m in runs])
