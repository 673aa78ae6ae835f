"""``sql.stored_order.time_runs`` / ``time_arrays``: a quote read without ``rowid`` put in time order from its times.

Reads are built by hand as DuckDB's parallel scan hands them back (symbols stored one after the other, read in
shuffled blocks and several chunks); the reference is a plain sort of each symbol's rows by time (numpy's
``argsort``), which gives the one order the ordered query can give rows whose times are distinct. A symbol with two
rows at one time, or with rows stored out of time order where no sort of its runs can order them, must be named;
rows stored interleaved (a feed) must be left to the read with ``rowid`` (``None``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sql.stored_order import _FEW_RUNS, _RUN_ROWS, time_arrays, time_runs

NAMES = ["MSFT", "AAPL", "a", "B", "ZZ"]


def _scanned(position: np.ndarray, ts: np.ndarray, rng: np.random.Generator, block: int = 500,
             chunk: int = 1100, how: str = "shuffled") -> tuple[pa.Table, np.ndarray]:
    """The rows read in blocks of ``block`` stored rows, in chunks of ``chunk``, and the read order: blocks
    shuffled, or each symbol's blocks in stored order but the symbols' blocks interleaved at random (two scan
    threads on two symbols), or each symbol's blocks backwards (every block after the one stored after it)."""
    blocks = [np.arange(k, min(k + block, ts.size)) for k in range(0, ts.size, block)]
    if how == "shuffled":
        order = np.concatenate([blocks[k] for k in rng.permutation(len(blocks))])
    else:
        queues = {}
        for b in blocks:  # a block of one symbol each (blocks divide the symbols' rows)
            queues.setdefault(int(position[b[0]]), []).append(b)
        if how == "backwards":
            queues = {p: q[::-1] for p, q in queues.items()}
        picks = rng.permutation(np.concatenate([[p] * len(q) for p, q in queues.items()]))
        order = np.concatenate([queues[int(p)].pop(0) for p in picks])
    x = np.arange(ts.size, dtype=np.float64) / 7
    table = pa.table({"symbol_index": position[order].astype(np.int32), "ts_ns": ts[order], "x": x[order]})
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk)), order


def _by_time(position: np.ndarray, ts: np.ndarray, p: int) -> list[int]:
    """The stored rows of symbol ``p`` sorted by time (the reference)."""
    rows = np.flatnonzero(position == p)
    return rows[np.argsort(ts[rows], kind="stable")].tolist()


@pytest.mark.parametrize("how", ["interleaved", "backwards"])
def test_symbols_stored_one_after_the_other_come_back_in_time_order_however_the_scan_hands_them(how: str) -> None:
    rng = np.random.default_rng(5)
    per = 3000
    position = np.repeat(np.arange(1, 6), per)
    ts = np.concatenate([np.cumsum(rng.integers(1, 9, per)) for _ in NAMES]).astype(np.int64)
    table, order = _scanned(position, ts, rng, how=how)
    got = time_arrays(table, NAMES, ["ts_ns", "x"])
    assert got is not None
    arrays, unordered = got
    assert unordered == [] and sorted(arrays) == sorted(NAMES)
    x = np.arange(ts.size, dtype=np.float64) / 7
    for p, name in enumerate(NAMES, 1):
        want = _by_time(position, ts, p)
        assert arrays[name][0].dtype == np.int64 and arrays[name][1].dtype == np.float64
        assert arrays[name][0].tolist() == ts[want].tolist()
        assert arrays[name][1].tolist() == x[want].tolist()


def test_blocks_out_of_order_that_rising_times_join_name_the_symbol() -> None:
    """Without ``rowid`` a block followed by a later block of its symbol is one run; the block skipped comes as
    a run inside its time span: the symbol is named (read again with ``rowid``), the others kept exact."""
    rng = np.random.default_rng(2)
    per = 3000
    position = np.repeat(np.arange(1, 6), per)
    ts = np.concatenate([np.cumsum(rng.integers(1, 9, per)) for _ in NAMES]).astype(np.int64)
    blocks = [np.arange(k, k + 500) for k in range(0, ts.size, 500)]
    blocks[1], blocks[2] = blocks[2], blocks[1]  # MSFT: blocks 0, 2, 1: 0 and 2 rise, 1 falls inside them
    order = np.concatenate(blocks)
    table = pa.table({"symbol_index": position[order].astype(np.int32), "ts_ns": ts[order]})
    got = time_runs(table, NAMES)
    assert got is not None and got.unordered == ["MSFT"] and sorted(got.runs) == sorted(NAMES[1:])
    read = table.column("ts_ns").to_numpy()
    for p, name in enumerate(NAMES[1:], 2):
        assert np.concatenate([read[s:s + m] for s, m in got.runs[name]]).tolist() == ts[_by_time(position, ts, p)].tolist()


def test_a_tie_or_rows_out_of_time_order_name_the_symbol_and_keep_the_others() -> None:
    rng = np.random.default_rng(9)
    per = 3000
    position = np.repeat(np.arange(1, 6), per)
    ts = np.concatenate([np.cumsum(rng.integers(2, 9, per)) for _ in NAMES]).astype(np.int64)
    ts[500] = ts[499]  # MSFT: a tie across a block boundary
    ts[per + 250] = ts[per + 249]  # AAPL: a tie inside a block
    a = 2 * per + 1500  # "a": a row earlier than the one before it at a block boundary (no sort of runs fixes it)
    ts[a] = ts[a - 1] - 1
    table, _ = _scanned(position, ts, rng, how="interleaved")
    got = time_runs(table, NAMES)
    assert got is not None
    assert got.unordered == ["AAPL", "MSFT", "a"]  # byte order
    read = table.column("ts_ns").to_numpy()
    for p, name in ((4, "B"), (5, "ZZ")):
        assert np.concatenate([read[s:s + m] for s, m in got.runs[name]]).tolist() == ts[_by_time(position, ts, p)].tolist()
    assert set(got.runs) == {"B", "ZZ"}


def test_a_symbol_stored_in_two_appends_later_times_first_is_put_in_time_order() -> None:
    """Rows whose runs do not overlap in time are in time order once the runs are sorted: the answer of the
    ordered query, though not the stored order."""
    rng = np.random.default_rng(3)
    n = 2000
    ts = np.concatenate([np.arange(n, 2 * n), np.arange(n)]).astype(np.int64) * 10
    position = np.ones(2 * n, np.int32)
    table, _ = _scanned(position, ts, rng, block=n, chunk=700, how="backwards")
    arrays, unordered = time_arrays(table, ["A"], ["ts_ns", "x"])  # type: ignore[misc]
    assert unordered == [] and arrays["A"][0].tolist() == sorted(ts.tolist())
    overlapping = np.concatenate([np.arange(n, 2 * n), np.arange(n // 2, n + n // 2)]).astype(np.int64)
    table, _ = _scanned(position, overlapping, rng, block=n, chunk=700, how="backwards")
    got = time_runs(table, ["A"])
    assert got is not None and got.unordered == ["A"] and got.runs == {}


def test_rows_stored_interleaved_are_left_to_the_read_with_rowid() -> None:
    n = 4000
    interleaved = pa.table({"symbol_index": np.arange(n, dtype=np.int32) % 2 + 1, "ts_ns": np.arange(n)})
    assert time_runs(interleaved, ["A", "B"]) is None
    assert time_arrays(interleaved, ["A", "B"], ["ts_ns"]) is None
    few = n // _RUN_ROWS + _FEW_RUNS  # as many runs as allowed: still runs
    edge = pa.table({"symbol_index": (np.arange(n) * few // n % 2 + 1).astype(np.int32), "ts_ns": np.arange(n)})
    got = time_runs(edge, ["A", "B"])
    assert got is not None and sum(len(r) for r in got.runs.values()) == few
    one_more = pa.table({"symbol_index": (np.arange(n) * (few + 1) // n % 2 + 1).astype(np.int32),
                         "ts_ns": np.arange(n)})
    assert time_runs(one_more, ["A", "B"]) is None


def test_an_empty_read_has_no_runs() -> None:
    empty = pa.table({"symbol_index": pa.array([], pa.int32()), "ts_ns": pa.array([], pa.int64()),
                      "x": pa.array([], pa.float64())})
    got = time_arrays(empty, ["A"], ["ts_ns", "x"])
    assert got == ({}, [])


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_a_run_spanning_chunks_is_one_run_and_a_tie_at_the_seam_is_found(chunk: int) -> None:
    ts = np.array([1, 2, 3, 4, 5, 6], np.int64)
    table = pa.Table.from_batches(pa.table({"symbol_index": np.ones(6, np.int32), "ts_ns": ts}).to_batches(
        max_chunksize=chunk))
    got = time_runs(table, ["A"])
    assert got is not None and got.runs == {"A": [(0, 6)]}
    tied = pa.Table.from_batches(pa.table({"symbol_index": np.ones(6, np.int32),
                                           "ts_ns": np.array([1, 2, 3, 3, 5, 6], np.int64)}).to_batches(
        max_chunksize=chunk))
    got = time_runs(tied, ["A"])
    assert got is not None and got.unordered == ["A"]


@pytest.mark.duckdb
@pytest.mark.parametrize("layout", ["by_symbol", "feed"])
def test_read_quote_arrays_reads_rowid_only_for_quotes_stored_interleaved(tmp_path, layout: str) -> None:
    """Quotes with distinct times, stored symbol after symbol or interleaved in time as a feed appends them: each
    symbol's arrays are the rows of the ordered query, and the reads after the first take ``rowid`` only for the
    interleaved file."""
    from sql.contract import QUOTES_SCHEMA
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings

    rng = np.random.default_rng(31)
    n = 6000
    symbol = np.repeat(np.array(NAMES, object), n // len(NAMES))
    ts = 1_700_000_000_000_000_000 + rng.permutation(10 * n)[:n].astype(np.int64)
    order = np.lexsort((ts, symbol.astype(str))) if layout == "by_symbol" else np.argsort(ts)
    table = pa.table({
        "market": ["stocks"] * n, "symbol": symbol[order], "ts_ns": ts[order], "bid_price": rng.random(n)[order],
        "bid_size": np.ones(n), "ask_price": rng.random(n)[order] + 1, "ask_size": np.ones(n),
        "bid_exchange": pa.nulls(n, pa.int32()), "ask_exchange": pa.nulls(n, pa.int32()),
        "conditions": pa.nulls(n, pa.string()), "sequence": pa.nulls(n, pa.int64()), "tape": pa.nulls(n, pa.int32()),
        "received_ns": ts[order], "source": ["sim"] * n}, schema=QUOTES_SCHEMA)
    store = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=tmp_path / "q.duckdb"))  # type: ignore[call-arg]
    try:
        store.apply_schema()
        store.append_quotes(table)
        got = store.read_quote_arrays(NAMES, 0, 2**62)
        params = {"symbols": NAMES, "start_ns": 0, "end_ns": 2**62}
        want = store._cursor().sql(store._queries["quotes_range_symbols"].text, params=params).to_arrow_table()
        for name in NAMES:
            rows = want.filter(pa.compute.equal(want.column("symbol"), name))
            assert got[name][0].tolist() == rows.column("ts_ns").to_pylist()
            assert got[name][1].tolist() == rows.column("bid_price").to_pylist()
            assert got[name][3].tolist() == rows.column("ask_price").to_pylist()
        assert store._quotes_interleaved == (layout == "feed") and not store._quote_ties
    finally:
        store.close()
