"""Fast rules of ``DuckDBStorage.read_quote_arrays`` (its docstring) on a few quotes per symbol: each symbol's arrays
hold its quotes in ``[start_ns, end_ns)`` in the order of ``quotes_range_symbols`` (``ts_ns``, then ``sequence`` with
NULL last, then ``received_ns``), whatever the layout they were stored in: symbol after symbol, interleaved as a
feed appends them, out of time order, with ties on ``ts_ns`` that only the later columns break; symbols without
quotes are left out; once a read has met a tie, the reads after it take the tie columns at once (and give the same
arrays). The expected order is written here in Python (``_expected``), never read from the module.

Tiny files copied from one built per module (``test_storage_write_rules.py``'s fixtures): ~1 s the file, so the
``storage-new`` row judges a mutant of the tie paths in seconds (``test_stored_order.py``'s 3,000-quote layouts
cost ~35 s)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sql.contract import QUOTES_SCHEMA
from tests.sql import test_storage_write_rules
from tests.sql.test_storage_write_rules import _open

pytestmark = pytest.mark.duckdb

#: A file with the schema, copied per test (the fixtures of ``test_storage_write_rules.py``).
template = test_storage_write_rules.template
path = test_storage_write_rules.path

T = 1_700_000_000_000_000_000
BIG = 2**62
#: (symbol, ts_ns offset, sequence, received_ns offset, bid_price) in the order they are stored.
Quote = tuple[str, int, Any, int, Any]


def _table(quotes: list[Quote]) -> pa.Table:
    n = len(quotes)
    return pa.table({
        "market": ["stocks"] * n, "symbol": [q[0] for q in quotes], "ts_ns": [T + q[1] for q in quotes],
        "bid_price": [q[4] for q in quotes], "bid_size": [float(i + 1) for i in range(n)],
        "ask_price": [100.0 + i for i in range(n)], "ask_size": [2.0 * i for i in range(n)],
        "bid_exchange": pa.nulls(n, pa.int32()), "ask_exchange": pa.nulls(n, pa.int32()),
        "conditions": pa.nulls(n, pa.string()), "sequence": pa.array([q[2] for q in quotes], pa.int64()),
        "tape": pa.nulls(n, pa.int32()), "received_ns": [T + q[3] for q in quotes], "source": ["sim"] * n,
    }, schema=QUOTES_SCHEMA)  # fmt: skip


def _expected(table: pa.Table, symbols: list[str], start: int, end: int) -> dict[str, list[tuple]]:
    """Each symbol's rows (ts_ns, bid_price, bid_size, ask_price, ask_size) in [start, end), ordered by ts_ns, then
    sequence (NULL last), then received_ns: the ordered query's rule, in Python."""
    out: dict[str, list[tuple]] = {}
    for r in table.to_pylist():
        if r["symbol"] in symbols and start <= r["ts_ns"] < end:
            key = (r["ts_ns"], 2**63 if r["sequence"] is None else r["sequence"], r["received_ns"])
            out.setdefault(r["symbol"], []).append((key, (r["ts_ns"], r["bid_price"], r["bid_size"], r["ask_price"],
                                                          r["ask_size"])))
    return {s: [row for _, row in sorted(rows, key=lambda kr: kr[0])] for s, rows in out.items()}


def _rows(got: dict[str, list[np.ndarray]]) -> dict[str, list[tuple]]:
    for arrays in got.values():
        assert arrays[0].dtype == np.int64 and all(a.dtype == np.float64 for a in arrays[1:])
    return {s: [(int(a[0][i]), *(None if np.isnan(x[i]) else float(x[i]) for x in a[1:]))
                for i in range(a[0].size)] for s, a in got.items()}


BY_SYMBOL: list[Quote] = [("AA", 1, 0, 1, 10.0), ("AA", 2, 0, 2, 10.5), ("AA", 3, 0, 3, None),
                          ("BB", 1, 0, 1, 20.0), ("BB", 5, 0, 5, 20.5)]
#: AA tied at 2 with its sequences stored backwards; BB tied at 4 with a NULL sequence stored first, then a tie
#: on ts_ns and sequence that received_ns breaks (stored backwards too); CC rows stored out of time order.
TIED: list[Quote] = [("AA", 1, 1, 1, 10.0), ("AA", 2, 3, 2, 11.0), ("AA", 2, 2, 2, 12.0), ("AA", 3, 4, 3, 13.0),
                     ("BB", 4, None, 4, 20.0), ("BB", 4, 1, 9, 21.0), ("BB", 4, 1, 8, 22.0),
                     ("CC", 7, 1, 7, 30.0), ("CC", 6, 2, 6, 31.0)]
FEED: list[Quote] = [("AA", 1, 0, 1, 10.0), ("BB", 2, 0, 2, 20.0), ("AA", 3, 0, 3, 11.0), ("BB", 4, 0, 4, 21.0),
                     ("AA", 5, 0, 5, 12.0), ("BB", 6, 0, 6, 22.0)]


@pytest.mark.parametrize("quotes", [BY_SYMBOL, TIED, FEED], ids=["by_symbol", "tied", "feed"])
def test_each_symbols_quotes_in_the_ordered_querys_order(path, quotes) -> None:
    storage = _open(path)
    try:
        table = _table(quotes)
        storage.append_quotes(table)
        for symbols, start, end in ((["AA", "BB", "CC"], 0, BIG), (["BB"], T + 2, T + 5), (["AA", "ZZ"], 0, BIG),
                                    (["CC", "AA", "BB"], T + 2, T + 7)):
            want = _expected(table, symbols, start, end)
            assert _rows(storage.read_quote_arrays(symbols, start, end)) == want
            assert _rows(storage.read_quote_arrays(symbols, start, end)) == want  # the second read: the same
        assert storage._quote_ties == (quotes is TIED)  # a tie met: the tie columns are read at once from now on
    finally:
        storage.close()


def test_once_a_tie_is_met_the_reads_after_keep_the_tie_columns(path) -> None:
    storage = _open(path)
    try:
        storage.append_quotes(_table(TIED))
        assert storage.read_quote_arrays([], 0, BIG) == {} and not storage._quote_ties  # nothing read
        storage.read_quote_arrays(["AA"], 0, BIG)
        assert storage._quote_ties
        assert storage.read_quote_arrays([], 0, BIG) == {}
        assert storage._quote_ties  # an empty read does not forget it
        assert _rows(storage.read_quote_arrays(["CC"], 0, BIG)) == _expected(_table(TIED), ["CC"], 0, BIG)
        assert storage._quote_ties
    finally:
        storage.close()
