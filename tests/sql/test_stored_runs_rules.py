"""``sql.stored_order``'s run readers at the edges their other tests leave: ``symbol_arrays`` on a read of symbols
stored one after the other whose first key column has a missing value (read as the largest BIGINT, as the ordered
queries' ``COALESCE``), against the plain reference ``tests/reference/order.py``; ``time_runs`` keeping the read's
``ts_ns`` column and skipping empty chunks; ``_chunk_ints`` (one chunk as int64, NULL as the largest BIGINT).
Reads are built by hand; each answer follows from how they are built or from the reference, never from the code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sql.stored_order import _FEW_RUNS, _RUN_ROWS, _chunk_ints, stored_runs, symbol_arrays, time_arrays, time_runs
from tests.reference.order import BIGINT_MAX, grouped_rows, ordered_read

NAMES = ["MSFT", "a", "B"]
SCHEMA = pa.schema([("stored_row", pa.int64()), ("symbol_index", pa.int32()), ("ts_ns", pa.int64()),
                    ("x", pa.float64())])


def _by_symbol_read(per: int, missing: dict[int, list[int]], rng: np.random.Generator, block: int,
                    chunk: int) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Symbols stored one after the other (``per`` rows each, rising times), ``missing[p]`` the rows of symbol
    ``p`` whose ``ts_ns`` is NULL, read in shuffled blocks of ``block`` rows and chunks of ``chunk``."""
    rows = []
    for p in range(1, len(NAMES) + 1):
        for i in range(per):
            rows.append({"symbol_index": p, "ts_ns": None if i in missing.get(p, []) else 1000 * p + 3 * i,
                         "x": len(rows) + 0.25})
    for k, row in enumerate(rows):
        row["stored_row"] = k + 5
    blocks = [rows[a:a + block] for a in range(0, len(rows), block)]
    read = [row for j in rng.permutation(len(blocks)) for row in blocks[j]]
    table = pa.Table.from_pylist(read, schema=SCHEMA)
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk), schema=SCHEMA), read


@pytest.mark.parametrize("seed", [1, 2])
def test_symbol_arrays_read_a_missing_first_key_as_the_largest_bigint(seed: int) -> None:
    """MSFT's last row has no time (the largest BIGINT: still in order, given as 2**63 - 1); "a" has one in the
    middle (the row after it is earlier: named); B has none. The read is runs, so the runs path answers."""
    per = 2 * _RUN_ROWS
    table, read = _by_symbol_read(per, {1: [per - 1], 2: [per // 3]}, np.random.default_rng(seed),
                                  block=_RUN_ROWS, chunk=_RUN_ROWS + 77)
    assert stored_runs(table, NAMES, ["ts_ns"], tie_is_unordered=False) is not None  # the runs path
    got, left_out = symbol_arrays(table, NAMES, ["ts_ns"], ["ts_ns", "x"], tie_is_unordered=False)
    want_rows, want_left_out = ordered_read(read, NAMES, ["ts_ns"], ["ts_ns", "x"], tie_is_unordered=False)
    want = grouped_rows(want_rows, ["ts_ns", "x"])
    assert left_out == want_left_out == ["a"]
    assert sorted(got) == sorted(want) == ["B", "MSFT"]
    for name, (ts, x) in got.items():
        assert ts.dtype == np.int64 and x.dtype == np.float64
        assert ts.tolist() == [BIGINT_MAX if v is None else v for v in want[name][0]]
        assert x.tolist() == want[name][1]
    assert got["MSFT"][0][-1] == BIGINT_MAX


def test_time_runs_keep_the_reads_ts_ns_column() -> None:
    """``Runs.column`` is the read's first key column (``ts_ns``), also for an empty read."""
    table = pa.table({"symbol_index": pa.array([1, 1, 2], pa.int32()), "ts_ns": pa.array([5, 6, 1], pa.int64())})
    got = time_runs(table, ["A", "B"])
    assert got is not None and got.column.equals(table.column("ts_ns"))
    assert got.key.tolist() == [5, 6, 1] and got.key.dtype == np.int64
    empty = table.slice(0, 0)
    got = time_runs(empty, ["A", "B"])
    assert got is not None and got.runs == {} and got.unordered == [] and got.column.equals(empty.column("ts_ns"))


def test_a_one_row_read_is_one_run() -> None:
    table = pa.table({"symbol_index": pa.array([2], pa.int32()), "ts_ns": pa.array([7], pa.int64()),
                      "x": pa.array([0.5])})
    got = time_runs(table, ["A", "B"])
    assert got is not None and got.runs == {"B": [(0, 1)]} and got.unordered == []
    arrays, left_out = time_arrays(table, ["A", "B"], ["ts_ns", "x"])  # type: ignore[misc]
    assert left_out == [] and [a.tolist() for a in arrays["B"]] == [[7], [0.5]] and list(arrays) == ["B"]


def test_empty_chunks_between_chunks_are_skipped() -> None:
    """A read whose scan handed back empty chunks (first, between and last): the same runs as without them."""
    schema = pa.schema([("symbol_index", pa.int32()), ("ts_ns", pa.int64()), ("x", pa.float64())])

    def batch(p: list[int], t: list[int]) -> pa.RecordBatch:
        return pa.record_batch([pa.array(p, pa.int32()), pa.array(t, pa.int64()),
                                pa.array([float(v) for v in t])], schema=schema)

    empty = batch([], [])
    parts = [batch([1, 1], [1, 2]), batch([1, 2], [3, 9]), batch([2, 2], [10, 11])]
    plain = time_runs(pa.Table.from_batches(parts, schema=schema), ["A", "B"])
    with_empty = pa.Table.from_batches([empty, parts[0], empty, parts[1], empty, empty, parts[2], empty],
                                       schema=schema)
    got = time_runs(with_empty, ["A", "B"])
    assert plain is not None and got is not None
    assert got.runs == plain.runs == {"A": [(0, 3)], "B": [(3, 3)]} and got.unordered == []
    arrays, left_out = time_arrays(with_empty, ["A", "B"], ["ts_ns", "x"])  # type: ignore[misc]
    assert left_out == [] and arrays["A"][0].tolist() == [1, 2, 3] and arrays["B"][1].tolist() == [9.0, 10.0, 11.0]


def _stored_batches(parts: list[tuple[list[int], list[int], list[int]]]) -> pa.Table:
    schema = pa.schema([("stored_row", pa.int64()), ("symbol_index", pa.int32()), ("ts_ns", pa.int64())])
    return pa.Table.from_batches([pa.record_batch([pa.array(s, pa.int64()), pa.array(p, pa.int32()),
                                                   pa.array(t, pa.int64())], schema=schema)
                                  for s, p, t in parts], schema=schema)


def test_stored_runs_skip_empty_chunks() -> None:
    r = _RUN_ROWS
    rows = list(range(2 * r))
    a = ([*rows[:r]], [1] * r, list(range(r)))
    b = ([*rows[r:]], [2] * r, list(range(r)))
    half = r // 2
    parts = [([], [], []), (a[0][:half], a[1][:half], a[2][:half]), ([], [], []),
             (a[0][half:], a[1][half:], a[2][half:]), ([], [], []), b, ([], [], [])]
    got = stored_runs(_stored_batches(parts), ["A", "B"], ["ts_ns"], tie_is_unordered=False)
    assert got is not None and got.runs == {"A": [(0, r)], "B": [(r, r)]} and got.unordered == []


@pytest.mark.parametrize("kind", [pa.int32(), pa.int64(), pa.int16()])
def test_chunk_ints_give_int64_with_a_missing_value_as_the_largest_bigint(kind: pa.DataType) -> None:
    plain = pa.array([3, -2, 7], kind)
    got = _chunk_ints(plain)
    assert got.dtype == np.int64 and got.tolist() == [3, -2, 7]
    holes = pa.array([None, 4, None, -1], kind)
    got = _chunk_ints(holes)
    assert got.dtype == np.int64 and got.tolist() == [BIGINT_MAX, 4, BIGINT_MAX, -1]
    big = pa.array([2**40, None], pa.int64())
    assert _chunk_ints(big).tolist() == [2**40, BIGINT_MAX]


def _chunked(table: pa.Table, chunk: int) -> pa.Table:
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk), schema=table.schema)


def test_time_runs_count_the_runs_of_every_chunk() -> None:
    """The run limit counts the runs of the whole read, chunk after chunk, and a run across a seam once."""
    n = 4000
    few = n // _RUN_ROWS + _FEW_RUNS
    interleaved = pa.table({"symbol_index": pa.array(np.arange(n) % 2 + 1, pa.int32()), "ts_ns": np.arange(n)})
    assert time_runs(_chunked(interleaved, 20), ["A", "B"]) is None  # 4000 runs, 20 a chunk (each under the limit)
    edge = pa.table({"symbol_index": pa.array(np.arange(n) * few // n % 2 + 1, pa.int32()), "ts_ns": np.arange(n)})
    for chunk in (7, 150, 1000):  # runs of ~125 rows split by the seams: still exactly `few` runs
        got = time_runs(_chunked(edge, chunk), ["A", "B"])
        assert got is not None and sum(len(r) for r in got.runs.values()) == few


def test_stored_runs_count_the_runs_of_every_chunk_and_check_a_tie_at_a_seam() -> None:
    r = _RUN_ROWS
    a, b = r - r // 4, r + r // 2
    three = pa.table({"stored_row": np.arange(2 * r), "symbol_index": pa.array(
        np.repeat([1, 2, 3], [a, b - a, 2 * r - b]), pa.int32()), "ts_ns": np.arange(2 * r)})
    for chunk in (r // 2, r, 2 * r):  # 3 runs in 2 * r rows, however chunked: too many
        assert stored_runs(_chunked(three, chunk), ["A", "B", "C"], ["ts_ns"], tie_is_unordered=False) is None
    ts = np.arange(2 * r)
    ts[r] = ts[r - 1]  # a tie on the whole key where the chunks meet, inside A's one run
    one = pa.table({"stored_row": np.arange(2 * r), "symbol_index": pa.array(np.ones(2 * r), pa.int32()), "ts_ns": ts})
    for tie, want in ((True, ["A"]), (False, [])):
        got = stored_runs(_chunked(one, r), ["A"], ["ts_ns"], tie_is_unordered=tie)
        assert got is not None and got.unordered == want and got.runs == ({} if tie else {"A": [(0, 2 * r)]})


def test_chunk_ints_of_int64_without_missing_values_is_a_view() -> None:
    chunk = pa.array([5, 6, 7], pa.int64())
    assert np.shares_memory(_chunk_ints(chunk), chunk.to_numpy())


def test_time_arrays_give_columns_after_the_first_as_float64() -> None:
    table = pa.table({"symbol_index": pa.array([1, 1, 2], pa.int32()), "ts_ns": pa.array([5, 6, 1], pa.int64()),
                      "size": pa.array([3, 5, 4], pa.int32()),
                      "bid": pa.array([2, None, 8], pa.int32())})
    arrays, left_out = time_arrays(table, ["A", "B"], ["ts_ns", "size", "bid"])  # type: ignore[misc]
    assert left_out == [] and arrays["A"][0].dtype == np.int64
    assert arrays["A"][1].dtype == np.float64 and arrays["A"][2].dtype == np.float64
    assert arrays["A"][1].tolist() == [3.0, 5.0]
    np.testing.assert_array_equal(arrays["A"][2], [2.0, np.nan])
