"""The transform's read of a chunk's quotes gives the rows and order of its ordered query (sql/stored_order.py).

``read_quotes_many`` and ``read_trades_many`` read unordered and order on the client where the rows are stored in
order; the symbols that are not are read again with the ordered query (the ordering with a tie broken by a column
not read is checked on trade rows without the database, and the trade reads in tests/sql/test_trade_order.py). Each case stores the same random rows
in another layout (in time order, symbols interleaved as a feed appends them; symbols one after the other;
shuffled) with many same-timestamp ties and missing sequences, on a real DuckDB file, and compares the reads
with the ordered query (``quotes_range_symbols``) run directly. ``read_quote_arrays`` (each symbol's arrays, the
tie-break columns read only after a tie) is compared with the same query, and ``stored_runs`` with a plain sort by
row id.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from sql.stored_order import _byte_order, _placement, merge_ordered, order_stored, run_arrays, stored_runs

pytestmark = pytest.mark.duckdb

TS = 1_700_000_000_000_000_000
SYMBOLS = ["MSFT", "AAPL", "a", "B", "ZZ"]  # not in byte order; "B" < "MSFT" < "ZZ" < "a" in bytes
LAYOUTS = ["time_order", "by_symbol", "shuffled", "one_shuffled", "nulls_first"]
NO_SEQ = 2**62  # a missing sequence in the key: after every stored one


def _layout(rng: np.random.Generator, symbol: np.ndarray, key: np.ndarray, layout: str) -> np.ndarray:
    """Row order to store in: time order over all symbols (as a feed appends), symbol after symbol, shuffled,
    time order but one symbol's rows shuffled, or time order with missing sequences first among ties."""
    if layout == "by_symbol":
        return np.lexsort((key[:, 2], key[:, 1], key[:, 0], symbol))
    if layout == "shuffled":
        return rng.permutation(symbol.size)
    seq = np.where(key[:, 1] == NO_SEQ, -1, key[:, 1]) if layout == "nulls_first" else key[:, 1]
    order = np.lexsort((key[:, 2], seq, key[:, 0]))
    if layout == "one_shuffled":
        late = np.flatnonzero(symbol[order] == "AAPL")
        order[late] = order[rng.permutation(late)]
    return order


def _trades(rng: np.random.Generator, n: int, layout: str, spread: int = 1) -> pa.Table:
    symbol = rng.choice(np.array(SYMBOLS, object), n)
    ts = TS + rng.integers(0, n // 4 * spread, n)  # many same-nanosecond prints (spread 1)
    seq = rng.integers(0, 5, n).astype(np.int64)
    no_seq = rng.random(n) < 0.3
    exchange = rng.integers(1, 4, n).astype(np.int32)
    trade_id = np.array([f"t{i:06d}" for i in rng.permutation(n)], object)
    key = np.column_stack((ts, np.where(no_seq, NO_SEQ, seq), exchange))
    order = _layout(rng, symbol.astype(str), key, layout)
    return pa.table({
        "market": ["stocks"] * n, "symbol": symbol[order], "ts_ns": ts[order], "price": np.arange(n, dtype=float),
        "size": np.ones(n), "exchange": exchange[order], "trade_id": trade_id[order], "conditions": [None] * n,
        "tape": pa.nulls(n, pa.int32()), "sequence": pa.array(seq[order], mask=no_seq[order]),
        "trf_id": pa.nulls(n, pa.int32()), "trf_ts_ns": pa.nulls(n, pa.int64()), "received_ns": ts[order],
        "source": ["sim"] * n, "correction": pa.nulls(n, pa.int32())}, schema=TRADES_SCHEMA)


def _quotes(rng: np.random.Generator, n: int, layout: str) -> pa.Table:
    symbol = rng.choice(np.array(SYMBOLS, object), n)
    ts = TS + rng.integers(0, n // 4, n)
    seq = rng.integers(0, 3, n).astype(np.int64)
    no_seq = rng.random(n) < 0.3
    received = TS + rng.permutation(n)  # unique: the ordered query's key then decides every tie
    key = np.column_stack((ts, np.where(no_seq, NO_SEQ, seq), received))
    order = _layout(rng, symbol.astype(str), key, layout)
    return pa.table({
        "market": ["stocks"] * n, "symbol": symbol[order], "ts_ns": ts[order],
        "bid_price": np.arange(n, dtype=float), "bid_size": np.ones(n), "ask_price": np.arange(n, dtype=float) + 1,
        "ask_size": np.ones(n), "bid_exchange": pa.nulls(n, pa.int32()), "ask_exchange": pa.nulls(n, pa.int32()),
        "conditions": pa.nulls(n, pa.string()), "sequence": pa.array(seq[order], mask=no_seq[order]),
        "tape": pa.nulls(n, pa.int32()), "received_ns": received[order], "source": ["sim"] * n}, schema=QUOTES_SCHEMA)


@pytest.fixture
def storage(tmp_path):
    store = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=tmp_path / "o.duckdb"))  # type: ignore[call-arg]
    store.apply_schema()
    yield store
    store.close()


def _ordered(storage: DuckDBStorage, name: str, symbols: list[str], start: int, end: int) -> pa.Table:
    params = {"symbols": symbols, "start_ns": start, "end_ns": end}
    return storage._cursor().sql(storage._queries[name].text, params=params).to_arrow_table()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_trades_tied_beyond_the_columns_read_are_left_to_the_ordered_query(layout: str) -> None:
    """Trades ordered by ``ts_ns, sequence, exchange`` and then ``trade_id``, which is not read: the symbols
    with such ties are named, the others come back in the full key's order."""
    t = _trades(np.random.default_rng(3), 3000, layout, spread=200)  # a few ties: most symbols stay in order
    names = sorted(set(t.column("symbol").to_pylist()))
    stored = t.append_column("symbol_index", pa.array([names.index(x) + 1 for x in t.column("symbol").to_pylist()]))
    got = order_stored(stored, names, ["ts_ns", "sequence", "exchange"], ["price", "trade_id"], tie_is_unordered=True)
    rows = t.to_pylist()
    want = sorted(rows, key=lambda r: (r["symbol"].encode(), r["ts_ns"], NO_SEQ if r["sequence"] is None
                                       else r["sequence"], r["exchange"], r["trade_id"]))
    assert got.table.column("price").to_pylist() == [r["price"] for r in want if r["symbol"] not in got.unordered]
    key = [(r["symbol"], r["ts_ns"], NO_SEQ if r["sequence"] is None else r["sequence"], r["exchange"]) for r in want]
    tied = {a[0] for a, b in zip(key, key[1:], strict=False) if a == b}
    assert tied and tied <= set(got.unordered)  # a tie only trade_id breaks is never decided here
    assert len(got.unordered) < len(names) or layout == "shuffled"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", [1, 2])
def test_read_quotes_many_gives_the_rows_and_order_of_the_ordered_query(storage, layout: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    storage.append_quotes(_quotes(rng, 3000, layout))
    for symbols, start, end in ((SYMBOLS, 0, 2**62), (SYMBOLS[:2], TS + 100, TS + 600), ([], 0, 2**62)):
        got = storage.read_quotes_many(symbols, start, end)
        want = _ordered(storage, "quotes_range_symbols", symbols, start, end)
        assert got.schema == want.schema
        assert got.to_pydict() == want.to_pydict()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("spread", [1, 200])
def test_read_trades_many_gives_the_rows_and_order_of_the_ordered_query(storage, layout: str, spread: int) -> None:
    """Trades with many ties on ``ts_ns, sequence, exchange`` (spread 1: most symbols are read again sorted) or a
    few (spread 200: most are ordered on the client)."""
    storage.append_trades(_trades(np.random.default_rng(spread), 3000, layout, spread=spread))
    for symbols, start, end in ((SYMBOLS, 0, 2**62), (SYMBOLS[:2], TS + 100, TS + 600), ([], 0, 2**62)):
        got = storage.read_trades_many(symbols, start, end)
        want = _ordered(storage, "trades_range_symbols", symbols, start, end)
        assert got.schema == want.schema
        assert got.to_pydict() == want.to_pydict()


def _indexed(symbols: list[str], names: list[str], **columns: object) -> pa.Table:
    """An unordered read's rows: each symbol as its 1-based position in ``names`` (``list_position``)."""
    return pa.table({"symbol_index": [names.index(s) + 1 for s in symbols], **columns})


def test_rows_stored_in_order_need_no_second_read_and_unordered_symbols_are_named() -> None:
    names = ["c", "b", "a"]
    t = _indexed(["b", "a", "b", "a", "c", "c"], names, ts_ns=[1, 1, 2, 2, 5, 4],
                 sequence=pa.array([None, 3, 1, None, 1, 1], pa.int64()), x=[0, 1, 2, 3, 4, 5])
    in_order = order_stored(t.slice(0, 4), names, ["ts_ns", "sequence"], ["x"], tie_is_unordered=True)
    assert in_order.unordered == [] and in_order.table.to_pydict() == {"symbol": ["a", "a", "b", "b"],
                                                                         "x": [1, 3, 0, 2]}
    mixed = order_stored(t, names, ["ts_ns", "sequence"], ["x"], tie_is_unordered=False)
    assert mixed.unordered == ["c"] and mixed.table.column("x").to_pylist() == [1, 3, 0, 2]
    assert order_stored(t.slice(0, 0), names, ["ts_ns"], ["x"], tie_is_unordered=True).table.num_rows == 0


def test_a_missing_sequence_sorts_last_and_a_full_tie_is_unordered_only_when_asked() -> None:
    t = _indexed(["a"] * 3, ["a"], ts_ns=[1, 1, 1], sequence=pa.array([2, None, None], pa.int64()), x=[0, 1, 2])
    assert order_stored(t, ["a"], ["ts_ns", "sequence"], ["x"], tie_is_unordered=False).unordered == []
    assert order_stored(t, ["a"], ["ts_ns", "sequence"], ["x"], tie_is_unordered=True).unordered == ["a"]
    backwards = t.take([1, 0, 2])  # NULL (largest) before 2: out of order
    assert order_stored(backwards, ["a"], ["ts_ns", "sequence"], ["x"], tie_is_unordered=False).unordered == ["a"]


@pytest.mark.parametrize("block", [1, 700])
def test_grouping_keeps_each_symbols_rows_in_their_order(block: int) -> None:
    """Rows interleaved one by one (gathered) or in long runs of one symbol (moved as whole runs)."""
    rng = np.random.default_rng(5)
    symbol = np.repeat(rng.choice(np.array(SYMBOLS, object), 50_000 // block), block)
    t = _indexed(symbol.tolist(), SYMBOLS, ts_ns=np.arange(symbol.size), x=np.arange(symbol.size))
    got = order_stored(t, SYMBOLS, ["ts_ns"], ["x"], tie_is_unordered=True)
    assert got.unordered == []
    assert got.table.column("symbol").to_pylist() == sorted(symbol.tolist(), key=lambda s: s.encode())
    assert got.table.column("x").to_pylist() == [i for name in sorted(SYMBOLS, key=str.encode)
                                                 for i in np.flatnonzero(symbol == name).tolist()]


def test_merging_puts_the_symbols_read_again_in_byte_order() -> None:
    a = pa.table({"symbol": ["B", "B", "a"], "x": [0, 1, 2]})
    b = pa.table({"symbol": ["MSFT", "ZZ", "ZZ"], "x": [3, 4, 5]})
    assert merge_ordered(a, b).to_pydict() == {"symbol": ["B", "B", "MSFT", "ZZ", "ZZ", "a"], "x": [0, 1, 3, 4, 5, 2]}
    assert merge_ordered(a.slice(0, 0), b).to_pydict() == b.to_pydict()


@pytest.mark.parametrize("interleaved", [False, True])
def test_many_chunks_in_scan_order_give_the_rows_grouped_in_stored_order(interleaved: bool) -> None:
    """A read as DuckDB's parallel scan hands it back (many chunks, some stored batches swapped), symbols one
    after the other or interleaved: each column, numeric or not, with or without NULLs, comes back grouped by
    symbol in byte order and in stored order inside each, as sorting the rows directly gives it."""
    rng = np.random.default_rng(7)
    names = ["MSFT", "AAPL", "a", "B"]
    n = 5000
    position = np.sort(rng.integers(1, len(names) + 1, n)) if not interleaved else rng.integers(1, 5, n)
    ts = np.arange(n, dtype=np.int64) // 3  # ties on ts_ns, broken by sequence
    batches = [np.arange(a, min(a + 512, n)) for a in range(0, n, 512)]
    batches[2], batches[3] = batches[3], batches[2]
    batches[6], batches[5] = batches[5], batches[6]
    read = np.concatenate(batches)
    x = rng.random(n)
    with_null = pa.array(rng.integers(0, 9, n), mask=rng.random(n) < 0.2)
    table = pa.table({"stored_row": read, "symbol_index": position[read].astype(np.int32), "ts_ns": ts[read],
                      "sequence": read, "x": x[read], "n": with_null.take(pa.array(read)),
                      "s": pa.array([f"r{i}" for i in read])})
    table = pa.Table.from_batches(table.to_batches(max_chunksize=700))
    assert table.column("x").num_chunks > 1
    got = order_stored(table, names, ["ts_ns", "sequence"], ["x", "n", "s", "ts_ns"], tie_is_unordered=True)
    byte_rank = {name: sorted(names, key=str.encode).index(name) for name in names}
    order = sorted(range(n), key=lambda i: (byte_rank[names[position[i] - 1]], i))  # stored row i
    assert got.unordered == []
    assert got.table.column("symbol").to_pylist() == [names[position[i] - 1] for i in order]
    assert got.table.column("x").to_pylist() == [float(x[i]) for i in order]
    assert got.table.column("n").to_pylist() == [with_null[i].as_py() for i in order]
    assert got.table.column("s").to_pylist() == [f"r{i}" for i in order]
    assert got.table.column("ts_ns").to_pylist() == [int(ts[i]) for i in order]


#: How the stored rows lie and which way order_stored moves them: symbols one after the other (in another order
#: than byte order), read in shuffled blocks as DuckDB's parallel scan hands them back (moved in runs); symbols
#: interleaved row by row over a contiguous range of row ids (placed by row id), with rows of other symbols
#: between them (placed by counting), or spread thinly over many row ids (placed by sorting).
STORED_LAYOUTS = {"by_symbol": "runs", "interleaved": "dest", "interleaved_gaps": "dest", "sparse": "dest"}


@pytest.mark.parametrize("layout", sorted(STORED_LAYOUTS))
def test_every_stored_layout_gives_the_order_of_a_plain_sort_by_symbol_and_row_id(layout: str) -> None:
    """Each layout read in shuffled blocks of up to 1,024 rows, in several chunks, one symbol stored out of time
    order: the result is the rows sorted by symbol (byte order) and row id, that symbol left out."""
    rng = np.random.default_rng(11)
    names = ["MSFT", "AAPL", "a", "B", "ZZ"]
    per = 8000
    if layout == "by_symbol":  # stored MSFT, AAPL, a, B, ZZ one after the other, a few rows filtered out
        position = np.repeat(np.arange(1, 6), per)
        row_id = np.arange(position.size, dtype=np.int64)
        keep = rng.random(position.size) > 0.001
    else:
        position = rng.integers(1, 6, 5 * per)
        row_id = np.arange(position.size, dtype=np.int64) * (40 if layout == "sparse" else 1)
        keep = rng.random(position.size) > (0.5 if layout == "interleaved_gaps" else 0.0)
    position, row_id = position[keep], row_id[keep]
    ts = np.empty(row_id.size, np.int64)
    for k in range(1, 6):
        at = np.flatnonzero(position == k)
        ts[at] = rng.integers(0, 10**6, at.size).cumsum()  # each symbol in time order in stored order
    ts[np.flatnonzero(position == 3)[per // 3]] = -1  # "a": one print stored after later ones
    cuts = np.cumsum(rng.integers(300, 1025, row_id.size // 300))
    blocks = np.split(np.arange(row_id.size), cuts[cuts < row_id.size])
    read = np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])
    table = pa.table({"stored_row": row_id[read], "symbol_index": position[read].astype(np.int32),
                      "ts_ns": ts[read], "x": read.astype(np.float64), "s": pa.array([f"r{i}" for i in read])})
    table = pa.Table.from_batches(table.to_batches(max_chunksize=7000))
    rp, _ = _byte_order(names)
    moves = _placement(table, rp[table.column("symbol_index").to_numpy().astype(np.int64)])
    assert (moves.runs is not None) == (STORED_LAYOUTS[layout] == "runs")
    got = order_stored(table, names, ["ts_ns"], ["x", "s", "ts_ns"], tie_is_unordered=False)
    assert got.unordered == ["a"]
    want = sorted((i for i in range(row_id.size) if names[position[i] - 1] != "a"),
                  key=lambda i: (names[position[i] - 1].encode(), int(row_id[i])))
    assert got.table.column("symbol").to_pylist() == [names[position[i] - 1] for i in want]
    assert got.table.column("x").to_pylist() == [float(i) for i in want]
    assert got.table.column("s").to_pylist() == [f"r{i}" for i in want]
    assert got.table.column("ts_ns").to_pylist() == [int(ts[i]) for i in want]


def _grouped_rows(table: pa.Table) -> dict[str, list[tuple]]:
    """Each symbol's rows (``ts_ns``, prices, sizes) of a read grouped by symbol, in their order."""
    out: dict[str, list[tuple]] = {}
    for r in table.to_pylist():
        out.setdefault(r["symbol"], []).append((r["ts_ns"], r["bid_price"], r["bid_size"], r["ask_price"],
                                                r["ask_size"]))
    return out


def _array_rows(arrays: dict[str, list[np.ndarray]]) -> dict[str, list[tuple]]:
    return {symbol: [(int(t), *(float(v) for v in rest)) for t, *rest in zip(*cols, strict=True)]
            for symbol, cols in arrays.items()}


def _untied_quotes(rng: np.random.Generator, n: int, layout: str, tied: str | None) -> pa.Table:
    """Quotes whose times never repeat within a symbol, but for ``tied``: that symbol has a few quotes at one
    time (ordered by sequence against their stored order)."""
    t = _quotes(rng, n, layout)
    ts = np.asarray(t.column("ts_ns").to_numpy()).copy()
    symbol = np.asarray(t.column("symbol").to_pylist(), object)
    for name in SYMBOLS:  # unique, increasing where they were non-decreasing: the stored order is kept
        at = np.flatnonzero(symbol == name)
        ts[at] = TS + np.argsort(np.argsort(ts[at], kind="stable"), kind="stable") * 1000 + 1
    if tied is not None:
        at = np.flatnonzero(symbol == tied)[:3]
        ts[at] = ts[at[0]]  # three quotes at one time; their sequences decide, read again with them
    return t.set_column(t.schema.get_field_index("ts_ns"), "ts_ns", pa.array(ts))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("tied", [None, "a", "many"])
def test_read_quote_arrays_gives_each_symbols_rows_in_the_order_of_the_ordered_query(storage, layout: str,
                                                                                    tied: str | None) -> None:
    """Every layout, with quotes that never share a time (read without the tie columns), one symbol with a tie
    (read again with them) or many ties (the quotes of ``_quotes``): each symbol's arrays hold the rows of
    ``quotes_range_symbols`` for it, in its order, for every symbol set and window."""
    rng = np.random.default_rng(17)
    table = _quotes(rng, 3000, layout) if tied == "many" else _untied_quotes(rng, 3000, layout, tied)
    storage.append_quotes(table)
    ts = table.column("ts_ns").to_numpy()
    windows = ((SYMBOLS, 0, 2**62), (SYMBOLS[:2], int(ts.min()) + 100, int(np.median(ts))), ([], 0, 2**62),
               (["a", "NONE"], 0, 2**62))
    for symbols, start, end in windows:
        got = storage.read_quote_arrays(symbols, start, end)
        want = _grouped_rows(_ordered(storage, "quotes_range_symbols", symbols, start, end))
        assert _array_rows(got) == want
        for cols in got.values():
            assert cols[0].dtype == np.int64 and all(c.dtype == np.float64 for c in cols[1:])
    # the tie columns are read at once after a read left a symbol out: a tie, or rows stored out of time order
    assert storage._quote_ties == (tied is not None or layout in ("shuffled", "one_shuffled"))


def _rows_of(runs: dict[str, list[tuple[int, int]]]) -> dict[str, list[int]]:
    return {symbol: [i for a, m in pieces for i in range(a, a + m)] for symbol, pieces in runs.items()}


@pytest.mark.parametrize("tie_is_unordered", [False, True])
def test_stored_runs_gives_each_symbols_rows_in_stored_order_and_names_the_unordered(tie_is_unordered: bool) -> None:
    """Symbols stored one after the other (not in byte order), read in shuffled blocks and several chunks: each
    symbol's runs cover its rows in row-id order, as sorting the read by row id gives them; a symbol with a row
    earlier than the one before it (in ``ts_ns`` across a block boundary or inside one, or in ``sequence`` at a
    tie on ``ts_ns``) is named, one tied on the whole key only when a tie counts."""
    rng = np.random.default_rng(23)
    names = ["MSFT", "AAPL", "a", "B", "ZZ"]
    per = 3000
    position = np.repeat(np.arange(1, 6), per)
    row_id = np.arange(position.size, dtype=np.int64) + 10
    ts = np.concatenate([np.cumsum(rng.integers(1, 5, per)) for _ in names]).astype(np.int64)
    seq = np.zeros(ts.size, np.int64)
    ts[500], seq[500] = ts[499], 1  # "MSFT": a tie on ts_ns across a block boundary, sequences in order
    k = per + 250  # "AAPL": a tie on ts_ns with the sequences backwards
    ts[k + 1], seq[k] = ts[k], 1
    b = 3 * per + 1000  # "B": a tie on the whole key
    ts[b + 1] = ts[b]
    a = 2 * per + 1500  # "a": one row earlier than the one before it, at a block boundary (blocks of 500)
    ts[a] = ts[a - 1] - 1
    z = 4 * per + 77  # "ZZ": one row earlier inside a block
    ts[z] = ts[z - 1] - 1
    blocks = [np.arange(k, min(k + 500, ts.size)) for k in range(0, ts.size, 500)]
    order = np.concatenate([blocks[k] for k in rng.permutation(len(blocks))])
    table = pa.table({"stored_row": row_id[order], "symbol_index": position[order].astype(np.int32),
                      "ts_ns": ts[order], "sequence": seq[order]})
    table = pa.Table.from_batches(table.to_batches(max_chunksize=1100))
    got = stored_runs(table, names, ["ts_ns", "sequence"], tie_is_unordered=tie_is_unordered)
    assert got is not None
    unordered = ["AAPL", "B", "ZZ", "a"] if tie_is_unordered else ["AAPL", "ZZ", "a"]
    assert got.unordered == unordered
    read_row_of = {int(r): i for i, r in enumerate(row_id[order])}
    want = {names[p - 1]: [read_row_of[int(r)] for r in sorted(row_id[position == p])]
            for p in range(1, 6) if names[p - 1] not in unordered}
    assert _rows_of(got.runs) == want
    assert got.key.tolist() == ts[order].tolist()
    for symbol, pieces in got.runs.items():  # the arrays of each symbol: its rows of the read, in that order
        assert run_arrays(table.column("ts_ns"), pieces, np.int64).tolist() == ts[order][want[symbol]].tolist()


def test_stored_runs_leaves_interleaved_or_overlapping_reads_to_order_stored() -> None:
    """Rows of symbols interleaved (short runs) or two runs of one symbol over the same row ids: ``None``."""
    n = 4000
    interleaved = pa.table({"stored_row": np.arange(n), "symbol_index": np.arange(n, dtype=np.int32) % 2 + 1,
                            "ts_ns": np.arange(n)})
    assert stored_runs(interleaved, ["A", "B"], ["ts_ns"], tie_is_unordered=False) is None
    twice = pa.table({"stored_row": np.concatenate([np.arange(n), np.arange(n)]),
                      "symbol_index": np.ones(2 * n, np.int32), "ts_ns": np.arange(2 * n)})
    assert stored_runs(twice, ["A"], ["ts_ns"], tie_is_unordered=False) is None
    empty = stored_runs(interleaved.slice(0, 0), ["A"], ["ts_ns"], tie_is_unordered=False)
    assert empty is not None and empty.runs == {} and empty.unordered == []
