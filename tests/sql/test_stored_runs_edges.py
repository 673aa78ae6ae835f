"""``sql.stored_order.stored_runs`` at its edges, on reads built by hand whose answer follows from how they are built:
the empty read, the run count at which a read stops counting as "a few long runs", a ``rowid`` read twice where
a symbol's later runs meet, and a symbol whose rows go back in time where its second and third runs meet."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sql.stored_order import _RUN_ROWS, stored_runs

R = _RUN_ROWS


def _read(pieces: list[tuple[int, np.ndarray, np.ndarray]]) -> pa.Table:
    """An unordered read from pieces ``(symbol position, rowids, ts_ns)`` in read order."""
    return pa.table({"stored_row": np.concatenate([p[1] for p in pieces]).astype(np.int64),
                     "symbol_index": np.concatenate([np.full(p[1].size, p[0], np.int32) for p in pieces]),
                     "ts_ns": np.concatenate([p[2] for p in pieces]).astype(np.int64)})


def test_an_empty_read_has_no_runs_and_an_empty_int64_key() -> None:
    empty = _read([(1, np.arange(0), np.arange(0))])
    got = stored_runs(empty, ["A"], ["ts_ns"], tie_is_unordered=False)
    assert got is not None and got.runs == {} and got.unordered == []
    assert got.key.dtype == np.int64 and got.key.shape == (0,)


def test_a_read_counts_as_runs_up_to_one_run_per_run_rows() -> None:
    two = _read([(1, np.arange(R), np.arange(R)), (2, np.arange(R, 2 * R), np.arange(R))])
    got = stored_runs(two, ["A", "B"], ["ts_ns"], tie_is_unordered=False)  # 2 runs in 2 * R rows: runs
    assert got is not None and got.runs == {"A": [(0, R)], "B": [(R, R)]} and got.unordered == []
    a, b = R - R // 4, R + R // 2
    three = _read([(1, np.arange(a), np.arange(a)), (2, np.arange(a, b), np.arange(b - a)),
                   (3, np.arange(b, 2 * R), np.arange(2 * R - b))])
    assert stored_runs(three, ["A", "B", "C"], ["ts_ns"], tie_is_unordered=False) is None  # 3 runs: too many


def test_a_rowid_read_twice_where_a_symbols_second_and_third_runs_meet_is_left_to_order_stored() -> None:
    read = _read([(1, np.arange(R), np.arange(R)), (2, np.arange(R, 2 * R), np.arange(R)),
                  (1, np.arange(2 * R, 3 * R), np.arange(R, 2 * R)),
                  (1, np.arange(3 * R - 1, 4 * R - 1), np.arange(2 * R, 3 * R))])  # starts at the last rowid
    assert stored_runs(read, ["A", "B"], ["ts_ns"], tie_is_unordered=False) is None
    fine = _read([(1, np.arange(R), np.arange(R)), (2, np.arange(R, 2 * R), np.arange(R)),
                  (1, np.arange(2 * R, 3 * R), np.arange(R, 2 * R)),
                  (1, np.arange(3 * R + 1, 4 * R + 1), np.arange(2 * R, 3 * R))])  # one rowid skipped
    got = stored_runs(fine, ["A", "B"], ["ts_ns"], tie_is_unordered=False)
    assert got is not None and got.runs == {"A": [(0, R), (2 * R, R), (3 * R, R)], "B": [(R, R)]}


def test_rows_going_back_where_a_symbols_longer_second_run_meets_its_third_are_unordered() -> None:
    def read(third_ts: np.ndarray) -> pa.Table:
        return _read([(1, np.arange(R), np.arange(R)), (2, np.arange(R, 2 * R), np.arange(R)),
                      (1, np.arange(2 * R, 4 * R), np.arange(R, 3 * R)),  # twice as long: ends at ts 3R - 1
                      (1, np.arange(5 * R, 6 * R), third_ts)])
    back = stored_runs(read(np.arange(3 * R - 10, 4 * R - 10)), ["A", "B"], ["ts_ns"], tie_is_unordered=False)
    assert back is not None and back.unordered == ["A"] and back.runs == {"B": [(R, R)]}
    on = stored_runs(read(np.arange(3 * R, 4 * R)), ["A", "B"], ["ts_ns"], tie_is_unordered=False)
    assert on is not None and on.unordered == [] and on.runs["A"] == [(0, R), (2 * R, 2 * R), (4 * R, R)]


def test_a_run_split_between_chunks_is_one_run_and_rows_going_back_at_the_seam_are_unordered() -> None:
    """The read's chunks are searched one by one (no column joined): consecutive rowids of one symbol across a
    chunk boundary stay one run, and a row earlier than the one before it exactly at the boundary is found."""
    ts = np.arange(4 * R, dtype=np.int64)
    for seam in (1, R, 2 * R - 1):
        whole = _read([(1, np.arange(2 * R), ts[:2 * R]), (2, np.arange(2 * R, 4 * R), ts[2 * R:])])
        split = pa.Table.from_batches(whole.to_batches(max_chunksize=seam))
        got = stored_runs(split, ["A", "B"], ["ts_ns"], tie_is_unordered=False)
        assert got is not None and got.runs == {"A": [(0, 2 * R)], "B": [(2 * R, 2 * R)]} and got.unordered == []
        back = ts.copy()
        back[seam] = back[seam - 1] - 1  # the first row of the second chunk goes back
        read = _read([(1, np.arange(2 * R), back[:2 * R]), (2, np.arange(2 * R, 4 * R), back[2 * R:])])
        got = stored_runs(pa.Table.from_batches(read.to_batches(max_chunksize=seam)), ["A", "B"], ["ts_ns"],
                          tie_is_unordered=False)
        assert got is not None and got.unordered == ["A"] and got.runs == {"B": [(2 * R, 2 * R)]}
