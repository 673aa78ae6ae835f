"""``sql.stored_order``'s client-side ordering against the plain reference ``tests/reference/order.py`` (a
sort of Python dicts by the documented key), without a database: milliseconds a test, so each mutant of
``order_stored`` and its helpers is judged in seconds (TESTING.md, mutation group ``order-stored``).

Reads are built as DuckDB's unordered scan hands them back: blocks of stored rows in shuffled order, in
several arrow chunks, with the symbols interleaved as a feed appends them (``rowid`` contiguous, with gaps, or
spread thinly), stored one after the other (moved as runs), read in stored order, or without ``stored_row``.
Each symbol's rows are in key order, or tie on ``ts_ns`` with ``sequence`` in order or backwards (a missing
sequence as the largest BIGINT), tie on the whole key, or go back in time, so every path of the ordering and
of the check is taken. The small helpers are checked on inputs whose answer follows from how they are built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sql.stored_order import (
    _COUNTING_SPAN,
    _RUN_ROWS,
    _before,
    _byte_order,
    _destinations,
    _joined_key,
    _key_column,
    _keys_at,
    _Moves,
    _placement,
    _run_key,
    _stable_order,
    _stored_positions,
    _stored_runs,
    grouped_arrays,
    merge_ordered,
    order_stored,
    run_arrays,
)
from tests.reference.order import BIGINT_MAX, byte_sorted, grouped_rows, merged, ordered_read

#: Not in byte order: "B" < "MSFT" < "ZZ" < "a" < "\u00e9" in bytes; "NONE" is asked for and never read.
NAMES = ["MSFT", "\u00e9t\u00e9", "a", "B", "ZZ", "NONE", "AAPL"]
KINDS = ["clean", "ties", "seq_back", "null_back", "full_tie", "back", "back_at_end"]
SCHEMA = pa.schema([("stored_row", pa.int64()), ("symbol_index", pa.int32()), ("ts_ns", pa.int64()),
                    ("sequence", pa.int64()), ("x", pa.float64()), ("n", pa.int32()), ("m", pa.int64()),
                    ("s", pa.string())])
PAYLOAD = ["x", "n", "m", "s", "ts_ns"]


def _stream(rng: np.random.Generator, kind: str, size: int) -> list[tuple[int, int | None]]:
    """One symbol's keys ``(ts_ns, sequence)`` in stored order: in key order but for what ``kind`` names."""
    ts = (1000 + np.cumsum(rng.integers(1, 4, size))).tolist()
    seq: list[int | None] = [int(v) for v in rng.integers(0, 9, size)]
    at = int(rng.integers(1, size - 1))
    if kind == "ties":  # ties on ts_ns broken by increasing sequences, a missing one last
        for i in range(1, size, 3):
            ts[i] = ts[i - 1]
            seq[i - 1], seq[i] = 1, (None if i % 2 else 2)
    elif kind == "seq_back":  # a tie on ts_ns with the sequences backwards
        ts[at], seq[at - 1], seq[at] = ts[at - 1], 5, 4
    elif kind == "null_back":  # a missing sequence (the largest) before a stored one at one ts_ns
        ts[at], seq[at - 1], seq[at] = ts[at - 1], None, 7
    elif kind == "full_tie":  # a tie on the whole key: in order unless a tie counts
        ts[at], seq[at] = ts[at - 1], seq[at - 1]
    elif kind == "back":  # one row earlier than the one before it
        ts[at] = ts[at - 1] - 1
    elif kind == "back_at_end":
        ts[-1] = ts[-2] - 1
    return list(zip(ts, seq, strict=True))


def _rows(rng: np.random.Generator, layout: str, per: int, present: list[int]) -> list[dict[str, Any]]:
    """The stored rows of the symbols at 1-based ``present`` positions of NAMES, each of one kind, in stored
    order for ``layout`` and with their ``stored_row``."""
    streams = {p: _stream(rng, KINDS[k % len(KINDS)], per + int(rng.integers(0, 5)))
               for k, p in enumerate(present)}
    if layout in ("by_symbol", "by_symbol_sorted"):
        order = [p for p in present for _ in streams[p]]
    else:  # interleaved as a feed appends them
        order = rng.permutation([p for p in present for _ in streams[p]]).tolist()
    taken = {p: 0 for p in present}
    rows = []
    for i, p in enumerate(order):
        ts, seq = streams[p][taken[p]]
        taken[p] += 1
        rows.append({"symbol_index": p, "ts_ns": ts, "sequence": seq, "x": i + 0.5, "n": 3 * i,
                     "m": None if i % 5 == 0 else i - 100, "s": f"r{i}"})
    n = len(rows)
    if layout == "gaps":  # a range of rowid with the rows of other symbols between: placed by counting
        ids = np.sort(rng.choice(3 * n, n, replace=False)) + 7
    elif layout == "sparse":  # spread thinly: placed by sorting
        ids = np.arange(n) * (_COUNTING_SPAN + 9) + 3
    else:
        ids = np.arange(n) + 11
    for row, rowid in zip(rows, ids.tolist(), strict=True):
        row["stored_row"] = rowid
    return rows


def _as_read(rows: list[dict[str, Any]], rng: np.random.Generator, block: int, chunk: int, shuffle: bool,
             with_stored_row: bool = True) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The read of ``rows`` in shuffled blocks (or in stored order) as a table of chunks of ``chunk`` rows,
    and the rows in read order."""
    blocks = [rows[a:a + block] for a in range(0, len(rows), block)]
    if shuffle:
        blocks = [blocks[k] for k in rng.permutation(len(blocks))]
    read = [row for b in blocks for row in b]
    schema = SCHEMA if with_stored_row else SCHEMA.remove(0)
    if not with_stored_row:
        read = [{k: v for k, v in row.items() if k != "stored_row"} for row in read]
    table = pa.Table.from_pylist(read, schema=schema)
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk), schema=schema), read


#: layout -> (rows per symbol, block, chunk, shuffled, with stored_row, the placement it takes)
LAYOUTS = {
    "interleaved": (40, 37, 50, True, True, "dest"),
    "gaps": (40, 23, 61, True, True, "dest"),
    "sparse": (40, 29, 45, True, True, "dest"),
    "in_stored_order": (40, 37, 50, False, True, "dest"),
    "no_stored_row": (40, 37, 50, False, False, "dest"),
    "by_symbol": (700, 900, 1300, True, True, "runs"),
    "by_symbol_sorted": (700, 900, 1300, False, True, "none"),
}


def _want(read: list[dict[str, Any]], key: list[str], payload: list[str], tie: bool):
    return ordered_read(read, NAMES, key, payload, tie_is_unordered=tie)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_order_stored_gives_the_reference_order_on_every_layout(layout: str, tie: bool, seed: int) -> None:
    """The result's rows, their columns and types, and the symbols left out are the reference's, for a key of
    two columns and one, with the key's first column in the payload or not."""
    per, block, chunk, shuffle, with_row, path = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    present = [1, 2, 3, 4, 5, 7] if layout != "by_symbol_sorted" else [4, 1, 5, 3, 2]  # byte order for sorted
    if layout == "by_symbol_sorted":
        present = [NAMES.index(s) + 1 for s in byte_sorted([NAMES[p - 1] for p in present])]
    table, read = _as_read(_rows(rng, layout, per, present), rng, block, chunk, shuffle, with_row)
    assert table.column("x").num_chunks > 1
    rank_of_position, _ = _byte_order(NAMES)
    moves = _placement(table, rank_of_position[table.column("symbol_index").to_numpy().astype(np.int64)])
    assert {"runs": moves.runs is not None, "dest": moves.dest is not None, "none": not moves.moved}[path]
    cases = ((["ts_ns", "sequence"], PAYLOAD), (["ts_ns"], ["s", "m", "x"]),
             (["ts_ns", "sequence"], ["n", "x"]))
    for key, payload in cases:
        got = order_stored(table, NAMES, key, payload, tie_is_unordered=tie)
        want_rows, want_unordered = _want(read, key, payload, tie)
        assert got.unordered == want_unordered
        assert got.table.column_names == ["symbol", *payload]
        assert got.table.schema.field("symbol").type == pa.string()
        for name in payload:
            assert got.table.schema.field(name).type == table.schema.field(name).type
        assert got.table.to_pylist() == want_rows
    # every kind of symbol is in the read: the check names some and keeps some
    assert 0 < len(want_unordered) < len(present)


@pytest.mark.parametrize("tie", [False, True])
def test_a_read_with_one_symbol_or_none_in_order(tie: bool) -> None:
    """Reads of one symbol interleaved with nothing: rows shuffled (placed, checked), all of one kind."""
    rng = np.random.default_rng(4)
    for kind in KINDS:
        keys = _stream(rng, kind, 30)
        rows = [{"stored_row": 5 + 2 * i, "symbol_index": 4, "ts_ns": t, "sequence": q, "x": float(i), "n": i,
                 "m": i, "s": str(i)} for i, (t, q) in enumerate(keys)]
        table, read = _as_read(rows, rng, 4, 9, True)
        got = order_stored(table, NAMES, ["ts_ns", "sequence"], ["x", "s"], tie_is_unordered=tie)
        want_rows, want_unordered = _want(read, ["ts_ns", "sequence"], ["x", "s"], tie)
        assert (got.table.to_pylist(), got.unordered) == (want_rows, want_unordered)


def _tiny(symbols: list[int], ts: list[int | None], seq: list[int | None] | None = None,
          stored: list[int] | None = None) -> pa.Table:
    columns: dict[str, Any] = {"symbol_index": pa.array(symbols, pa.int32()),
                               "ts_ns": pa.array(ts, pa.int64()),
                               "x": pa.array([float(i) for i in range(len(ts))], pa.float64())}
    if seq is not None:
        columns["sequence"] = pa.array(seq, pa.int64())
    if stored is not None:
        columns["stored_row"] = pa.array(stored, pa.int64())
    return pa.table(columns)


@pytest.mark.parametrize("stored", [None, [0, 1], [1, 0], [4, 9]])
def test_two_rows_of_one_symbol(stored: list[int] | None) -> None:
    """Two rows: going back in time, or a tie counted, leaves the symbol out; the stored order decides which
    row is first."""
    for ts, seq in (([5, 4], None), ([4, 5], None), ([5, 5], None), ([5, 5], [2, 1]), ([5, 5], [1, 2]),
                    ([None, 5], None), ([5, None], None), ([5, 5], [None, 1]), ([5, 5], [1, None])):
        key = ["ts_ns"] if seq is None else ["ts_ns", "sequence"]
        table = _tiny([3, 3], ts, seq, stored)
        read = table.to_pylist()
        for tie in (False, True):
            got = order_stored(table, NAMES, key, ["x"], tie_is_unordered=tie)
            want_rows, want_unordered = _want(read, key, ["x"], tie)
            want = (want_rows, want_unordered)
            assert (got.table.to_pylist(), got.unordered) == want, (ts, seq, stored, tie)


def test_one_row_and_no_rows() -> None:
    one = _tiny([2], [7], [None], [3])
    got = order_stored(one, NAMES, ["ts_ns", "sequence"], ["x"], tie_is_unordered=True)
    assert got.table.to_pylist() == [{"symbol": NAMES[1], "x": 0.0}] and got.unordered == []
    for table in (one.slice(0, 0), _tiny([], [], [], None)):
        empty = order_stored(table, NAMES, ["ts_ns", "sequence"], ["x", "ts_ns"], tie_is_unordered=True)
        assert empty.table.num_rows == 0 and empty.unordered == []
        want = pa.schema([("symbol", pa.string()), ("x", pa.float64()), ("ts_ns", pa.int64())])
        assert empty.table.schema == want


def test_rows_of_other_symbols_between_and_a_symbol_left_out_keep_the_others_whole() -> None:
    """Rows interleaved two symbols at a time, the middle symbol (in bytes) left out: the symbols before and
    after it keep all their rows, the symbol column names each row's own symbol."""
    position = [1, 4, 3, 1, 4, 3, 1, 4, 3]  # MSFT, B, a
    ts = [1, 1, 9, 2, 2, 8, 3, 3, 10]  # "a" goes back in time
    table = _tiny(position, ts, None, [0, 1, 2, 3, 4, 5, 6, 7, 8]).take([3, 4, 5, 0, 1, 2, 6, 7, 8])
    got = order_stored(table, NAMES, ["ts_ns"], ["x", "ts_ns"], tie_is_unordered=False)
    assert got.unordered == ["a"]
    assert got.table.to_pylist() == ordered_read(table.to_pylist(), NAMES, ["ts_ns"], ["x", "ts_ns"],
                                                 tie_is_unordered=False)[0]
    assert got.table.column("symbol").to_pylist() == ["B"] * 3 + ["MSFT"] * 3


def test_key_column_is_int64_with_a_missing_value_as_the_largest_bigint() -> None:
    chunks = [pa.array([3, None], pa.int32()), pa.array([None, -2], pa.int32())]
    table = pa.table({"k": pa.chunked_array(chunks)})
    got = _key_column(table, "k")
    assert got.dtype == np.int64 and got.flags.c_contiguous
    assert got.tolist() == [3, BIGINT_MAX, BIGINT_MAX, -2]
    assert _key_column(pa.table({"k": pa.array([5, 1], pa.int16())}), "k").tolist() == [5, 1]


def test_byte_order_ranks_each_position_and_names_the_symbols_in_byte_order() -> None:
    ranks, names = _byte_order(NAMES)
    ordered = byte_sorted(NAMES)
    assert names.type == pa.string() and names.to_pylist() == ordered
    assert ranks.dtype == np.int64 and ranks.shape == (len(NAMES) + 1,)
    assert ranks[1:].tolist() == [ordered.index(s) for s in NAMES]
    assert ranks[0] == 0
    empty_ranks, empty_names = _byte_order([])
    assert empty_ranks.tolist() == [0] and empty_names.to_pylist() == []


def _stable_reference(values: list[int]) -> list[int]:
    return sorted(range(len(values)), key=lambda i: values[i])


@pytest.mark.parametrize("values", [[3, 1, 2, 1, 0], [0, 65535, 1, 65535, 0], [65536, 0, 65535, 1, 65536, 2],
                                    [70000, 5, 131072, 5, 65536], [2**40, 1, 2**40, 0]])
def test_stable_order_is_the_stable_sort_of_the_values(values: list[int]) -> None:
    got = _stable_order(np.asarray(values, np.int64))
    assert got is not None and got.tolist() == _stable_reference(values)


def test_stable_order_is_none_when_nothing_moves() -> None:
    for values in ([], [4], [1, 1, 2, 2, 2, 70000], [0, 0]):
        assert _stable_order(np.asarray(values, np.int64)) is None
    assert _stable_order(np.asarray([1, 0], np.int64)).tolist() == [1, 0]


def _rank_reference(stored: list[int]) -> list[int]:
    ranked = sorted(stored)
    return [ranked.index(v) for v in stored]


@pytest.mark.parametrize("stored", [[2, 0, 1, 3], [12, 10, 11], [5, 1, 9, 3, 30], [0, 3 * 16, 16],
                                    [64, 0, 32, 48], [100, 1, 400, 2]])
def test_stored_positions_rank_each_row_by_its_rowid(stored: list[int]) -> None:
    """Contiguous ids, ids with gaps (counted) and ids spread over more than ``_COUNTING_SPAN`` times as many
    values (sorted), at and around the span where counting stops."""
    got = _stored_positions(np.asarray(stored, np.int64))
    assert got is not None and got.dtype == np.int64 and got.tolist() == _rank_reference(stored)


def test_stored_positions_at_the_counting_span() -> None:
    n = 4
    for span in (_COUNTING_SPAN * n - 1, _COUNTING_SPAN * n, _COUNTING_SPAN * n + 1, _COUNTING_SPAN * n + 2):
        stored = [span - 1, 0, 1, 2]  # span values from 0 to span - 1
        got = _stored_positions(np.asarray(stored, np.int64) + 1000)
        assert got is not None and got.tolist() == _rank_reference(stored)


def test_stored_positions_are_none_in_stored_order() -> None:
    for stored in ([], [3], [1, 2, 9], [0, 5]):
        assert _stored_positions(np.asarray(stored, np.int64)) is None
    assert _stored_positions(np.asarray([5, 0], np.int64)).tolist() == [1, 0]


def test_destinations_invert_a_gather_index() -> None:
    rows = [3, 0, 4, 1, 2]
    got = _destinations(np.asarray(rows, np.int64))
    assert got.dtype == np.int64 and [rows[int(p)] for p in got] == [0, 1, 2, 3, 4]
    assert _destinations(np.empty(0, np.int64)).tolist() == []


def _runs_read(lengths: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``stored`` and ``ranks`` of a read made of pieces ``(rank, first rowid, length)`` in read order."""
    stored = np.concatenate([np.arange(a, a + m) for _, a, m in lengths]).astype(np.int64)
    ranks = np.concatenate([np.full(m, r) for r, _, m in lengths]).astype(np.int64)
    return stored, ranks


def test_stored_runs_of_the_placement_put_runs_by_rank_then_rowid() -> None:
    R = _RUN_ROWS
    stored, ranks = _runs_read([(1, 3 * R, R), (0, 0, R), (1, 2 * R, R), (0, R, R)])
    assert _stored_runs(stored, ranks) == [(R, R), (3 * R, R), (2 * R, R), (0, R)]
    in_order, same = _runs_read([(0, 0, R), (0, R, R), (1, 2 * R, R), (1, 3 * R, R)])
    assert _stored_runs(in_order, same) == [(0, 4 * R)]  # nothing moves
    two, two_ranks = _runs_read([(1, R, R), (0, 0, R)])  # 2 runs in 2 * R rows: runs
    assert _stored_runs(two, two_ranks) == [(R, R), (0, R)]
    three, three_ranks = _runs_read([(1, R, R), (0, 0, R // 2), (2, R // 2, R // 2)])  # 3 runs: too many
    assert _stored_runs(three, three_ranks) is None
    assert _stored_runs(np.zeros(1, np.int64), np.zeros(1, np.int64)) is None
    assert _stored_runs(np.empty(0, np.int64), np.empty(0, np.int64)) is None


def test_stored_runs_of_the_placement_give_up_on_overlapping_rowids() -> None:
    R = _RUN_ROWS
    # rank 0 read twice over rowids R - 1 .. R: the second run starts at the first run's last rowid
    stored, ranks = _runs_read([(0, R - 1, R), (1, 5 * R, R), (0, 0, R)])
    assert _stored_runs(stored, ranks) is None
    # touching but not overlapping (second run starts one after the first's last, in another block): runs
    ok, ok_ranks = _runs_read([(0, R, R), (1, 5 * R, R), (0, 0, R)])
    assert _stored_runs(ok, ok_ranks) == [(2 * R, R), (0, R), (R, R)]
    # the same rowids under two ranks are not an overlap of one symbol
    other, other_ranks = _runs_read([(1, 0, R), (0, 0, R)])
    assert _stored_runs(other, other_ranks) == [(R, R), (0, R)]


def test_moves_put_every_kind_of_column_in_the_new_order() -> None:
    """Runs (zero-copy slices of the chunks), a destination per row (scatter of numeric columns without NULLs,
    a take otherwise) and no move, on a column of several chunks."""
    values = [10, 11, 12, 13, 14, 15]
    chunked = {
        "i32": pa.chunked_array([pa.array(values[:4], pa.int32()), pa.array(values[4:], pa.int32())]),
        "f32": pa.chunked_array([pa.array(values[:1], pa.float32()), pa.array(values[1:], pa.float32())]),
        "u8": pa.chunked_array([pa.array(values[:3], pa.uint8()), pa.array(values[3:], pa.uint8())]),
        "null": pa.chunked_array([pa.array([10, None, 12], pa.int64()), pa.array(values[3:], pa.int64())]),
        "str": pa.chunked_array([pa.array([str(v) for v in values[:2]]),
                                 pa.array([str(v) for v in values[2:]])]),
    }
    plain = {name: col.to_pylist() for name, col in chunked.items()}
    rows = [4, 0, 5, 2, 1, 3]  # the read row of each new position
    dest = _Moves(_destinations(np.asarray(rows, np.int64)))
    runs = _Moves(runs=[(3, 3), (0, 2), (2, 1)])
    still = _Moves()
    assert dest.moved and runs.moved and not still.moved
    assert dest.rows.tolist() == rows and runs.rows.tolist() == [3, 4, 5, 0, 1, 2] and still.rows is None
    assert runs.rows.dtype == np.int64 and dest.rows.dtype == np.int64
    for name, col in chunked.items():
        for moves, order in ((dest, rows), (runs, [3, 4, 5, 0, 1, 2]), (still, [0, 1, 2, 3, 4, 5])):
            out = moves.column(col)
            assert out.type == col.type, (name, order)
            assert out.to_pylist() == [plain[name][i] for i in order], (name, order)
        assert isinstance(runs.column(col), pa.ChunkedArray) and runs.column(col).num_chunks >= 3
        assert still.column(col) is col


def test_moves_rows_are_made_once() -> None:
    moves = _Moves(np.asarray([1, 0], np.int64))
    assert moves.rows is moves.rows
    runs = _Moves(runs=[(1, 1), (0, 1)])
    assert runs.rows is runs.rows and runs.rows.tolist() == [1, 0]


def _chunked_table(rows: list[dict[str, Any]], chunk: int) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=pa.schema([("symbol", pa.string()), ("x", pa.int64())]))
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk), schema=table.schema)


def test_merge_ordered_puts_the_symbols_of_both_in_byte_order() -> None:
    first = [{"symbol": s, "x": i} for i, s in enumerate(["B", "B", "MSFT", "a", "a", "a"])]
    second = [{"symbol": s, "x": 10 + i} for i, s in enumerate(["AAPL", "ZZ", "ZZ", "\u00e9t\u00e9", "b"])]
    for chunk in (1, 2, 100):
        for a, b in ((first, second), (second, first), (first, []), ([], second)):
            got = merge_ordered(_chunked_table(a, chunk), _chunked_table(b, chunk))
            assert got.to_pylist() == merged(a, b)
    empty = _chunked_table([], 5)
    assert merge_ordered(empty, empty).num_rows == 0
    assert merge_ordered(empty, empty).schema == empty.schema


def test_run_arrays_join_the_runs_of_a_column_in_order() -> None:
    column = pa.chunked_array([pa.array([1, 2, None], pa.int64()), pa.array([4], pa.int64()),
                               pa.array([5, 6, 7], pa.int64())])
    plain = [1.0, 2.0, float("nan"), 4.0, 5.0, 6.0, 7.0]
    for runs in ([(0, 7)], [(4, 3), (0, 2)], [(2, 3)], [(6, 1), (3, 1), (1, 1)], [(5, 2)]):
        got = run_arrays(column, runs)
        want = [plain[i] for a, m in runs for i in range(a, a + m)]
        assert got.dtype == np.float64 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
    ints = run_arrays(column.slice(3), [(1, 2), (0, 1)], np.int64)
    assert ints.dtype == np.int64 and ints.tolist() == [5, 6, 4]
    assert run_arrays(column, []).dtype == np.float64 and run_arrays(column, []).size == 0
    assert run_arrays(column, [], np.int64).dtype == np.int64


def test_grouped_arrays_give_each_symbols_columns() -> None:
    rows = [{"symbol": s, "ts_ns": t, "x": x} for s, t, x in
            [("B", 1, 0.5), ("B", 2, None), ("MSFT", 3, 2.5), ("a", 4, 3.5), ("a", 5, 4.5), ("a", 6, 5.5)]]
    table = pa.Table.from_batches(pa.Table.from_pylist(rows).to_batches(max_chunksize=2))
    got = grouped_arrays(table, ["ts_ns", "x"])
    want = grouped_rows(rows, ["ts_ns", "x"])
    assert list(got) == list(want)
    for symbol, (ts, x) in got.items():
        assert ts.dtype == np.int64 and x.dtype == np.float64
        assert ts.tolist() == want[symbol][0]
        np.testing.assert_array_equal(x, [np.nan if v is None else v for v in want[symbol][1]])
    assert grouped_arrays(table.slice(0, 0), ["ts_ns", "x"]) == {}


def test_run_key_takes_the_rows_of_the_runs() -> None:
    key = np.arange(10, 20, dtype=np.int64)
    one = _run_key(key, [(2, 3)])
    assert one.tolist() == [12, 13, 14] and one.base is key
    assert _run_key(key, [(7, 2), (0, 1), (3, 2)]).tolist() == [17, 18, 10, 13, 14]


def test_keys_at_take_the_rows_from_their_chunks() -> None:
    table = pa.table({"a": pa.chunked_array([pa.array([1, None], pa.int32()), pa.array([3], pa.int32()),
                                             pa.array([None, 5, 6], pa.int32())]),
                      "b": pa.chunked_array([pa.array([9, 8, 7, 6, 5, 4], pa.int64())])})
    plain_a = [1, BIGINT_MAX, 3, BIGINT_MAX, 5, 6]
    rows = np.asarray([5, 0, 3, 2, 1, 4, 0], np.int64)
    got_a, got_b = _keys_at(table, ["a", "b"], rows)
    assert got_a.dtype == np.int64 and got_a.tolist() == [plain_a[i] for i in rows]
    assert got_b.tolist() == [[9, 8, 7, 6, 5, 4][i] for i in rows]
    assert _keys_at(table, [], rows) == []


def test_before_compares_the_key_column_by_column() -> None:
    prev = [np.asarray([1, 1, 1, 1, 2, 1]), np.asarray([5, 5, 5, 4, 0, 9])]
    this = [np.asarray([0, 1, 1, 1, 1, 2]), np.asarray([9, 4, 5, 6, 9, 0])]
    pairs = ([tuple(int(c[i]) for c in prev) for i in range(6)],
             [tuple(int(c[i]) for c in this) for i in range(6)])
    for tie in (False, True):
        want = [b < a or (tie and a == b) for a, b in zip(*pairs, strict=True)]
        assert _before(prev, this, tie).tolist() == want
    assert _before([], [], True).tolist() == [] and _before([], [], False).tolist() == []


def test_joined_key_is_one_int64_array_with_a_missing_value_as_the_largest_bigint() -> None:
    column = pa.chunked_array([pa.array([4, None], pa.int32()), pa.array([None, 1], pa.int32())])
    got = _joined_key(column)
    assert got.dtype == np.int64 and got.tolist() == [4, BIGINT_MAX, BIGINT_MAX, 1]
    assert _joined_key(pa.chunked_array([pa.array([7, 8], pa.int64())])).tolist() == [7, 8]


# Added after the first mutation run (TESTING.md "sql/stored_order.py's order_stored"): each kills survivors
# that showed a hole (listed there).


def test_byte_order_of_no_symbols_is_an_empty_string_array() -> None:
    """An empty list of symbols still names them as strings (``pa.array([])`` alone is of type null)."""
    assert _byte_order([])[1].type == pa.string()
    got = order_stored(_tiny([], [], None, []), [], ["ts_ns"], ["x"], tie_is_unordered=False)
    assert got.table.schema == pa.schema([("symbol", pa.string()), ("x", pa.float64())])


def test_stable_order_of_many_tied_values_beyond_16_bits_keeps_their_order() -> None:
    """More than 65,535 symbols (ranks past 16 bits) with many rows each: the sort must stay stable (numpy's
    default quicksort is not, on arrays this long)."""
    rng = np.random.default_rng(9)
    values = rng.integers(0, 4, 3000) * 70_000
    got = _stable_order(values.astype(np.int64))
    assert got is not None and got.tolist() == _stable_reference(values.tolist())
    small = rng.integers(0, 4, 3000) * 20_000  # below 16 bits: the radix sort
    assert _stable_order(small.astype(np.int64)).tolist() == _stable_reference(small.tolist())


def test_stored_runs_of_the_placement_move_later_runs_when_the_first_is_in_place() -> None:
    R = _RUN_ROWS
    stored, ranks = _runs_read([(0, 0, R), (2, 2 * R, R), (1, R, R)])
    assert _stored_runs(stored, ranks) == [(0, R), (2 * R, R), (R, R)]


def test_stored_runs_of_the_placement_give_up_on_an_overlap_of_a_later_symbol() -> None:
    R = _RUN_ROWS
    # rank 0 fine; rank 1 read twice over rowids 3R .. 3R + 1
    stored, ranks = _runs_read([(1, 3 * R, R), (0, 0, R), (1, 4 * R - 2, R)])
    assert _stored_runs(stored, ranks) is None


def test_large_int64_payload_values_are_moved_exactly() -> None:
    """Nanosecond timestamps need all 64 bits: a scatter through float64 would round them."""
    ts = [1_700_000_000_000_000_001 + 3 * i for i in range(6)]
    col = pa.chunked_array([pa.array(ts[:4], pa.int64()), pa.array(ts[4:], pa.int64())])
    rows = [4, 0, 5, 2, 1, 3]
    got = _Moves(_destinations(np.asarray(rows, np.int64))).column(col)
    assert got.type == pa.int64() and got.to_pylist() == [ts[i] for i in rows]


def test_a_key_of_three_columns_is_compared_column_by_column() -> None:
    """Quotes are ordered by ``ts_ns, sequence, received_ns``: a pair decided by ``sequence`` stays decided
    whatever ``received_ns`` says, and a pair tied on ``ts_ns`` and ``sequence`` is decided by
    ``received_ns``."""
    cases = [  # (sequence, received_ns) of two rows at one ts_ns, stored in this order
        ((1, 2), (1, 1)),  # tied on sequence, received backwards: out of order
        ((2, 1), (1, 9)),  # sequence backwards, received forwards: out of order
        ((1, 9), (2, 1)),  # sequence forwards, received backwards: in order
        ((1, 1), (1, 1)),  # a full tie
        ((None, 1), (None, 2)),
        ((1, 5), (2, 5)),  # decided by sequence, tied on received_ns only: not a tie of the whole key
    ]
    key = ["ts_ns", "sequence", "received_ns"]
    for stored in (None, [1, 0]):
        for (s1, r1), (s2, r2) in cases:
            rows = [{"symbol_index": 2, "ts_ns": 5, "sequence": s1, "received_ns": r1, "x": 0.0},
                    {"symbol_index": 2, "ts_ns": 5, "sequence": s2, "received_ns": r2, "x": 1.0},
                    {"symbol_index": 1, "ts_ns": 4, "sequence": 0, "received_ns": 0, "x": 2.0}]
            if stored is not None:  # read the other way round, put back by rowid
                for row, rowid in zip(rows, [1, 2, 0], strict=True):
                    row["stored_row"] = rowid
                rows = [rows[2], rows[1], rows[0]]
            table = pa.Table.from_pylist(rows, schema=pa.schema(
                [("symbol_index", pa.int32()), ("ts_ns", pa.int64()), ("sequence", pa.int64()),
                 ("received_ns", pa.int64()), ("x", pa.float64())]
                + ([("stored_row", pa.int64())] if stored is not None else [])))
            for tie in (False, True):
                got = order_stored(table, NAMES, key, ["x"], tie_is_unordered=tie)
                want_rows, want_unordered = ordered_read(rows, NAMES, key, ["x"], tie_is_unordered=tie)
                want = (want_rows, want_unordered)
                assert (got.table.to_pylist(), got.unordered) == want, (s1, r1, s2, r2, tie)


def test_before_with_one_key_column_and_with_three() -> None:
    assert _before([np.asarray([3, 3, 3])], [np.asarray([2, 3, 4])], False).tolist() == [True, False, False]
    assert _before([np.asarray([3, 3, 3])], [np.asarray([2, 3, 4])], True).tolist() == [True, True, False]
    prev = [np.asarray([1, 1, 1]), np.asarray([1, 2, 1]), np.asarray([5, 1, 5])]
    this = [np.asarray([1, 1, 1]), np.asarray([2, 1, 1]), np.asarray([1, 9, 5])]
    assert _before(prev, this, False).tolist() == [False, True, False]
    assert _before(prev, this, True).tolist() == [False, True, True]
    # decided by the first column although the later ones tie, or go backwards
    prev = [np.asarray([1, 1]), np.asarray([3, 3]), np.asarray([5, 5])]
    this = [np.asarray([2, 2]), np.asarray([3, 3]), np.asarray([1, 5])]
    assert _before(prev, this, False).tolist() == [False, False]
    assert _before(prev, this, True).tolist() == [False, False]


def test_run_arrays_of_one_run_in_one_chunk_is_a_view_of_it() -> None:
    """The docstring's promise: rows that lie in one chunk are not copied (a float64 column without NULLs)."""
    chunk = pa.array([0.5, 1.5, 2.5, 3.5])
    column = pa.chunked_array([chunk, pa.array([4.5])])
    got = run_arrays(column, [(1, 2)])
    assert got.tolist() == [1.5, 2.5] and np.shares_memory(got, chunk.to_numpy())
    joined = run_arrays(column, [(3, 2)])
    assert joined.tolist() == [3.5, 4.5] and not np.shares_memory(joined, chunk.to_numpy())


def test_grouped_arrays_give_the_first_column_as_int64_and_the_others_as_float64() -> None:
    table = pa.table({"symbol": ["A", "A", "B"], "ts_ns": pa.array([1, 2, 3], pa.int32()),
                      "size": pa.array([4, 5, 6], pa.int64()), "flag": pa.array([1, 0, 1], pa.int8())})
    got = grouped_arrays(table, ["ts_ns", "size", "flag"])
    assert {k: [a.dtype for a in v] for k, v in got.items()} == {s: [np.dtype(np.int64), np.dtype(np.float64),
                                                                      np.dtype(np.float64)] for s in "AB"}
    assert [a.tolist() for a in got["A"]] == [[1, 2], [4.0, 5.0], [1.0, 0.0]]
