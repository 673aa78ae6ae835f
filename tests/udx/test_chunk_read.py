"""udx._chunk_read.symbol_bounds: the rows of each symbol in a read grouped by symbol, compared with a plain walk
over the values; reads grouped in another order than byte order, with symbols not asked for, in several chunks
or empty."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from udx._chunk_read import symbol_bounds


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
