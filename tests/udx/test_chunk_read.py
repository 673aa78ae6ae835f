"""udx._chunk_read.symbol_bounds: the rows of each symbol in a read grouped by symbol, compared with a plain walk
over the values; reads grouped in another order than byte order, with symbols not asked for, in several chunks
or empty. udx._chunk_read.read_quotes: each symbol's quotes from its start, from reads in chunks of any size,
compared with picking the rows one by one."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from udx._chunk_read import read_quotes, symbol_bounds


def _walk(values: list[str]) -> dict[str, tuple[int, int]]:
    """First row and one past the last of each value, by looking at every value."""
    out: dict[str, tuple[int, int]] = {}
    for i, v in enumerate(values):
        a, _ = out.get(v, (i, i))
        out[v] = (a, i + 1)
    return out


def _grouped(order: list[str], sizes: list[int], chunk: int) -> pa.ChunkedArray:
    values = [s for s, n in zip(order, sizes, strict=True) for _ in range(n)]
    return pa.chunked_array([pa.array(values[a:a + chunk], pa.string()) for a in range(0, len(values), chunk)]
                            or [pa.array([], pa.string())])


#: Symbols whose byte order differs from other orders ("B" < "MSFT" < "ZZ" < "a" < "aa" in bytes).
NAMES = ["MSFT", "a", "B", "ZZ", "aa"]


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
@pytest.mark.parametrize("order", ["bytes", "case_insensitive", "reversed"])
def test_bounds_are_the_rows_of_each_symbol(order: str, chunk: int) -> None:
    rng = np.random.default_rng(len(order) * chunk)
    names = {"bytes": sorted(NAMES, key=str.encode), "case_insensitive": sorted(NAMES, key=str.lower),
             "reversed": sorted(NAMES, key=str.encode, reverse=True)}[order]
    sizes = [int(n) for n in rng.integers(1, 300, len(names))]
    column = _grouped(names, sizes, chunk)
    assert symbol_bounds(column, NAMES) == _walk(column.to_pylist())
    assert symbol_bounds(column, [*NAMES, "absent", "MSFT"]) == _walk(column.to_pylist())


def test_a_read_with_a_symbol_not_asked_for_or_none_at_all() -> None:
    column = _grouped(["B", "MSFT", "a"], [3, 1, 4], 2)
    assert symbol_bounds(column, ["B", "a"]) == _walk(column.to_pylist())  # MSFT not asked for: still found
    assert symbol_bounds(pa.chunked_array([], pa.string()), ["B"]) == {}


class _QuoteReads:
    """A storage whose ``read_quotes_many`` hands back ``table`` as it is (its chunks), rows at or after the start."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def read_quotes_many(self, symbols: list[str], start_ns: int, end_ns: int) -> pa.Table:
        ts = self.table.column("ts_ns").to_numpy()
        return self.table.filter(pa.array((ts >= start_ns) & (ts < end_ns)))


@pytest.mark.parametrize("chunk", [1, 5, 64, 10_000])
def test_read_quotes_gives_each_symbols_rows_from_its_start_across_chunks(chunk: int) -> None:
    """Per symbol, the quotes from its own start in time order, NULL prices and sizes as NaN, whether a symbol's
    rows lie in one chunk of the read or span several: compared with picking the rows one by one."""
    rng = np.random.default_rng(chunk)
    names = sorted(NAMES, key=str.encode)
    sizes = [int(n) for n in rng.integers(1, 120, len(names))]
    rows = []
    for name, n in zip(names, sizes, strict=True):
        ts = np.sort(rng.integers(0, 1000, n))
        for t in ts.tolist():
            values = [None if rng.random() < 0.1 else float(v) for v in rng.random(4)]
            rows.append((name, t, *values))
    table = pa.table({"symbol": [r[0] for r in rows], "ts_ns": pa.array([r[1] for r in rows], pa.int64()),
                      "bid_price": [r[2] for r in rows], "bid_size": [r[3] for r in rows],
                      "ask_price": [r[4] for r in rows], "ask_size": [r[5] for r in rows]})
    table = pa.Table.from_batches(table.to_batches(max_chunksize=chunk))
    starts = {name: int(rng.integers(0, 600)) for name in names}
    wanted = [(name, starts[name]) for name in NAMES if name != "aa"]  # "aa" read but not asked for
    got = read_quotes(_QuoteReads(table), wanted, 2000)
    assert sorted(got) == sorted(name for name, _ in wanted)
    nan = float("nan")
    for name, start in wanted:
        mine = [r for r in rows if r[0] == name and r[1] >= start]
        q = got[name]
        assert q.ts.dtype == np.int64 and q.ts.tolist() == [r[1] for r in mine]
        for k, column in enumerate((q.bid, q.bid_size, q.ask, q.ask_size)):
            assert column.dtype == np.float64 and column.flags.c_contiguous
            want = np.array([nan if r[2 + k] is None else r[2 + k] for r in mine], np.float64)
            np.testing.assert_array_equal(column, want)
