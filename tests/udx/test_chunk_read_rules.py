"""The transform's reads (:mod:`udx._chunk_read`) on a tiny DuckDB file built once for the module, each answer
compared with plain Python over the rows inserted: a symbol's trades are the rows with its name and
``start_ns <= ts < end_ns`` in the stored order (time, then sequence with NULL last, exchange, trade id; the
``trades_range`` query's contract), with each print's eligibility from ``tests/reference/bars.py`` (Polygon's
condition table read from the shipped CSV; crypto all eligible), and a symbol's quotes the same way.

Symbols: several whose names sort differently in bytes and case-insensitively (``"B" < "MSFT" < "ZZ" < "a" <
"ab"`` in bytes), a crypto pair with condition codes that would drop a stock print, one with trades only after the
window, one never stored. Rows are inserted interleaved by time across symbols. Reads are also handed back in
chunks of three rows (a storage in between), and through a storage without the one-scan reads (one read per
symbol). Direct and small: well under a second a mutant in plain Python, for the ``chunk-read`` mutation group.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from reference.bars import condition_rules, eligibility
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.settings import Settings
from udx import _chunk_read
from udx._chunk_read import arrays_of, read_chunk, read_quotes, symbol_bounds, valid_prints

pytestmark = pytest.mark.duckdb

MARKETS = {"MSFT": "stocks", "a": "stocks", "B": "stocks", "ZZ": "stocks", "ab": "stocks", "X:BTCUSD": "crypto",
           "LATE": "stocks"}
T0 = 1_709_820_000 * 10**9
END = T0 + 500
#: conditions (None, empty, regular, average price, cash, odd lot, an id not in the table) and corrections
CONDITIONS = [None, "", "0", "2", "7", "12,37", "37", "2,37", "987654", "10"]
CORRECTIONS = [None, 0, 0, 0, 1, 12, None, 0]
MAX_SEQ = 2**63 - 1


def _rows() -> list[dict[str, Any]]:
    """Interleaved trades: symbol k's prints every few ns, some tied on ts (ordered by sequence, NULL last)."""
    rng = np.random.default_rng(11)
    rows: list[dict[str, Any]] = []
    n = 0
    for symbol in MARKETS:
        base = T0 + 400 if symbol == "LATE" else T0
        span = 900 if symbol == "LATE" else 600
        for t in np.sort(rng.integers(base, base + span, 60)).tolist():
            tie = rng.random() < 0.2
            seq = None if rng.random() < 0.15 else int(rng.integers(0, 50))
            rows.append({"market": MARKETS[symbol], "symbol": symbol, "ts_ns": int(t),
                         "price": float(np.round(10 + rng.random() * 5, 4)), "size": float(rng.integers(1, 500)),
                         "exchange": int(rng.integers(1, 4)), "trade_id": f"t{n}",
                         "conditions": CONDITIONS[int(rng.integers(len(CONDITIONS)))]
                         if symbol != "X:BTCUSD" else ["1", "2", "2,37"][int(rng.integers(3))],
                         "tape": None, "sequence": seq,
                         "trf_id": None, "trf_ts_ns": None, "received_ns": int(t), "source": "sim",
                         "correction": CORRECTIONS[int(rng.integers(len(CORRECTIONS)))]
                         if symbol != "X:BTCUSD" else None})
            n += 1
            if tie:  # a second print at the same ts
                rows.append({**rows[-1], "trade_id": f"t{n}", "sequence": int(rng.integers(0, 50)),
                             "price": rows[-1]["price"] + 0.01})
                n += 1
    rows.sort(key=lambda r: r["received_ns"])  # interleaved across symbols, as a feed writes them
    return rows


def _quote_rows() -> list[dict[str, Any]]:
    rng = np.random.default_rng(12)
    rows: list[dict[str, Any]] = []
    for symbol in ("MSFT", "a", "B", "ab", "X:BTCUSD"):
        for t in sorted(set(rng.integers(T0, T0 + 600, 50).tolist())):
            vals = [None if rng.random() < 0.1 else float(np.round(rng.random() * 10 + 1, 3)) for _ in range(4)]
            rows.append({"market": MARKETS[symbol], "symbol": symbol, "ts_ns": int(t), "bid_price": vals[0],
                         "bid_size": vals[1], "ask_price": vals[2], "ask_size": vals[3], "bid_exchange": 1,
                         "ask_exchange": 2, "conditions": None, "sequence": len(rows), "tape": None,
                         "received_ns": int(t), "source": "sim"})
    rows.sort(key=lambda r: r["ts_ns"])
    return rows


TRADES = _rows()
QUOTES = _quote_rows()
RULES = condition_rules()


def tiny_file(path: Path, trades: list[dict[str, Any]], quotes: list[dict[str, Any]]) -> Any:
    """A DuckDB storage on a new file at ``path`` with the schema, ``trades`` and ``quotes`` stored."""
    duckdb_backend = pytest.importorskip("sql.duckdb_backend")
    db = duckdb_backend.DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    db.apply_schema()
    db.append_trades(pa.Table.from_pylist(trades, schema=TRADES_SCHEMA))
    db.append_quotes(pa.Table.from_pylist(quotes, schema=QUOTES_SCHEMA))
    return db


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    db = tiny_file(tmp_path_factory.mktemp("chunk_read") / "tiny.duckdb", TRADES, QUOTES)
    yield db
    db.close()


def _expected(symbol: str, start: int, end: int, market: str) -> list[tuple]:
    """(ts, price, size, sets_price, counts_volume) of the symbol's stored trades in [start, end), stored order."""
    mine = [r for r in TRADES if r["symbol"] == symbol and start <= r["ts_ns"] < end]
    mine.sort(key=lambda r: (r["ts_ns"], MAX_SEQ if r["sequence"] is None else r["sequence"], r["exchange"],
                             r["trade_id"]))
    return [(r["ts_ns"], r["price"], r["size"], *eligibility(market, r["conditions"], r["correction"], RULES))
            for r in mine]


def _listed(arrays: tuple) -> list[tuple]:
    ts, px, sz, price_ok, volume_ok = arrays
    assert ts.dtype == np.int64 and px.dtype == np.float64 and sz.dtype == np.float64
    assert price_ok.dtype == np.bool_ and volume_ok.dtype == np.bool_
    assert len({ts.size, px.size, sz.size, price_ok.size, volume_ok.size}) == 1
    return list(zip(ts.tolist(), px.tolist(), sz.tolist(), price_ok.tolist(), volume_ok.tolist(), strict=True))


class _Chunked:
    """The storage's reads handed back in chunks of three rows."""

    def __init__(self, db: Any) -> None:
        self.db = db

    @staticmethod
    def _split(table: pa.Table) -> pa.Table:
        return pa.Table.from_batches(table.to_batches(max_chunksize=3), schema=table.schema)

    def read_trades(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        return self._split(self.db.read_trades(symbol, start_ns, end_ns))

    def read_trades_many(self, symbols: list[str], start_ns: int, end_ns: int) -> pa.Table:
        return self._split(self.db.read_trades_many(symbols, start_ns, end_ns))

    def read_quotes_many(self, symbols: list[str], start_ns: int, end_ns: int) -> pa.Table:
        return self._split(self.db.read_quotes_many(symbols, start_ns, end_ns))


class _OneByOne:
    """A storage without the one-scan reads: one ``read_trades`` per symbol (Vertica's transform, the UDx)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.calls: list[tuple[str, int, int]] = []

    def read_trades(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        self.calls.append((symbol, start_ns, end_ns))
        return self.db.read_trades(symbol, start_ns, end_ns)


def _starts() -> list[tuple[str, int]]:
    """Each symbol's own start; some exactly on one of its prints (that print is in), one never stored."""
    on_print = sorted(r["ts_ns"] for r in TRADES if r["symbol"] == "a")[7]
    return [("MSFT", T0 + 120), ("a", on_print), ("B", T0), ("ZZ", T0 + 333), ("ab", T0 + 50),
            ("X:BTCUSD", T0 + 10), ("LATE", T0 + 100), ("NEVER", T0)]


@pytest.mark.parametrize("how", ["duckdb", "chunked"])
def test_read_chunk_gives_each_symbols_trades_from_its_start_with_their_eligibility(storage, how: str) -> None:
    wrapped = storage if how == "duckdb" else _Chunked(storage)
    markets = {s: m for s, m in MARKETS.items() if s != "ab"}  # "ab" not in the map: a stock
    wanted = _starts()
    got = read_chunk(wrapped, wanted, END, markets)
    assert sorted(got) == sorted(s for s, _ in wanted)
    for symbol, start in wanted:
        want = _expected(symbol, start, END, MARKETS.get(symbol, "stocks"))
        assert _listed(got[symbol]) == want, symbol
    # the data must make every rule show: excluded prints, volume-only prints, crypto codes that a stock drops
    assert any(not p[3] and p[4] for p in _expected("MSFT", T0, END, "stocks"))
    assert any(not p[4] for p in _expected("B", T0, END, "stocks"))
    assert any(not p[3] for p in _expected("X:BTCUSD", T0, END, "stocks"))
    assert _expected("LATE", T0 + 100, END, "stocks") and not _expected("NEVER", T0, END, "stocks")


def test_read_chunk_without_one_scan_reads_each_symbol_alone(storage) -> None:
    """A storage without ``read_trades_many``, and a chunk of one symbol on any storage: one ``read_trades``
    per symbol from its own start, the market's rule (crypto: all eligible, a symbol not in the map: stocks)."""
    one = _OneByOne(storage)
    wanted = _starts()
    markets = {s: m for s, m in MARKETS.items() if s != "MSFT"}
    got = read_chunk(one, wanted, END, markets)
    assert one.calls == [(s, start, END) for s, start in wanted]
    for symbol, start in wanted:
        assert _listed(got[symbol]) == _expected(symbol, start, END, MARKETS.get(symbol, "stocks")), symbol
    for symbol, start in (("X:BTCUSD", T0 + 10), ("MSFT", T0 + 120)):
        alone = read_chunk(storage, [(symbol, start)], END - 7, markets)
        assert list(alone) == [symbol]
        assert _listed(alone[symbol]) == _expected(symbol, start, END - 7, MARKETS[symbol])


def test_read_chunk_of_symbols_without_trades(storage) -> None:
    got = read_chunk(storage, [("NEVER", T0), ("LATE", T0), ("NOPE", T0)], T0 + 400, MARKETS)
    assert sorted(got) == ["LATE", "NEVER", "NOPE"]
    for arrays in got.values():
        assert _listed(arrays) == []


def test_unknown_condition_ids_are_neutral_and_logged_once(caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An id the table does not list counts as a regular sale; it is logged once per process, naming the id."""
    monkeypatch.setattr(_chunk_read, "_WARNED_CODES", set())  # as in a fresh process (the test may run twice)
    code = 876_543
    assert code not in RULES
    table = pa.table({"ts_ns": pa.array([1, 2, 3], pa.int64()), "price": [1.0, 2.0, 3.0], "size": [1.0, 1.0, 1.0],
                      "conditions": [f"{code}", f"2,{code}", None], "correction": pa.array([0, None, 0], pa.int32())})
    with caplog.at_level(logging.WARNING, logger="udx.transform"):
        _, _, _, price_ok, volume_ok = arrays_of(table, "stocks")
        arrays_of(table, "stocks")
    assert price_ok.tolist() == [eligibility("stocks", c, k, RULES)[0] for c, k in
                                 zip([f"{code}", f"2,{code}", None], [0, None, 0], strict=True)] == [True, False, True]
    assert volume_ok.tolist() == [True, True, True]
    lines = [r for r in caplog.records if r.name == "udx.transform" and str(code) in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    text = lines[0].getMessage()
    assert text.startswith(f"trade condition {code} is not in Polygon's condition table")
    assert text.endswith("such prints are treated as regular sales")


def test_arrays_of_reads_without_conditions_or_correction_and_for_crypto() -> None:
    """No ``conditions`` column: every print eligible; no ``correction`` column: a correction of 0; crypto: all
    eligible whatever the codes. Several chunks are joined in order, NULL sizes as NaN."""
    ts = pa.chunked_array([pa.array([5, 6], pa.int64()), pa.array([7], pa.int64())])
    px = pa.chunked_array([pa.array([1.5, 2.5]), pa.array([3.5])])
    sz = pa.chunked_array([pa.array([1.0, None]), pa.array([4.0])])
    bare = pa.table({"ts_ns": ts, "price": px, "size": sz})
    got = arrays_of(bare, "stocks")
    assert got[0].tolist() == [5, 6, 7] and got[0].dtype == np.int64 and got[0].flags.c_contiguous
    assert got[1].tolist() == [1.5, 2.5, 3.5] and got[1].dtype == np.float64
    assert got[2][0] == 1.0 and np.isnan(got[2][1]) and got[2][2] == 4.0
    assert got[3].tolist() == got[4].tolist() == [True, True, True]
    codes = pa.chunked_array([pa.array(["2", None]), pa.array(["7"])])
    no_correction = bare.append_column("conditions", codes)
    want = [eligibility("stocks", c, None, RULES) for c in ["2", None, "7"]]
    got = arrays_of(no_correction, "stocks")
    assert list(zip(got[3].tolist(), got[4].tolist(), strict=True)) == want
    got = arrays_of(no_correction.append_column("correction", pa.array([1, 0, 0], pa.int32())), "crypto")
    assert got[3].tolist() == got[4].tolist() == [True, True, True]


def test_valid_prints_drops_what_no_statistic_may_use() -> None:
    px = np.array([1.0, 0.0, -1.0, np.nan, np.inf, 2.0, 3.0, 4.0, 5.0, 6.0])
    sz = np.array([1.0, 1.0, 1.0, 1.0, 1.0, -1.0, np.nan, 0.0, 2.0, 3.0])
    price_ok = np.array([True, True, True, True, True, True, True, False, False, True])
    volume_ok = np.array([True, True, True, True, True, True, True, True, False, False])
    ts = np.arange(10, dtype=np.int64) * 10
    keep = [i for i in range(10) if np.isfinite(px[i]) and px[i] > 0 and np.isfinite(sz[i]) and sz[i] >= 0
            and (price_ok[i] or volume_ok[i])]
    assert keep == [0, 7, 9]
    got = valid_prints(ts, px, sz, price_ok, volume_ok)
    assert [a.tolist() for a in got] == [ts[keep].tolist(), px[keep].tolist(), sz[keep].tolist(),
                                         price_ok[keep].tolist(), volume_ok[keep].tolist()]
    whole = valid_prints(ts[:1], px[:1], sz[:1], price_ok[:1], volume_ok[:1])
    assert [a.tolist() for a in whole] == [[0], [1.0], [1.0], [True], [True]]


def _expected_quotes(symbol: str, start: int, end: int) -> list[tuple]:
    nan = float("nan")
    return [(r["ts_ns"], *(nan if r[k] is None else r[k] for k in ("bid_price", "ask_price", "bid_size", "ask_size")))
            for r in QUOTES if r["symbol"] == symbol and start <= r["ts_ns"] < end]


def _same_quotes(q: Any, want: list[tuple]) -> bool:
    assert q.ts.dtype == np.int64
    got = list(zip(q.ts.tolist(), q.bid.tolist(), q.ask.tolist(), q.bid_size.tolist(), q.ask_size.tolist(),
                   strict=True))
    for a in (q.bid, q.ask, q.bid_size, q.ask_size):
        assert a.dtype == np.float64 and a.flags.c_contiguous
    return len(got) == len(want) and all(
        all(u == v or (u != u and v != v) for u, v in zip(x, y, strict=True)) for x, y in zip(got, want, strict=True))


@pytest.mark.parametrize("how", ["duckdb", "chunked"])
def test_read_quotes_gives_each_symbols_quotes_from_its_start(storage, how: str) -> None:
    """Through DuckDB's arrays and through a table read in chunks of three: each symbol asked for that has quotes
    in the window, from its own start; symbols without quotes left out."""
    wrapped = storage if how == "duckdb" else _Chunked(storage)
    on_quote = [r["ts_ns"] for r in QUOTES if r["symbol"] == "B"][9]
    wanted = [("MSFT", T0 + 200), ("B", on_quote), ("a", T0), ("ab", T0 + 590), ("X:BTCUSD", T0 + 33),
              ("ZZ", T0), ("NEVER", T0)]
    end = T0 + 595
    got = read_quotes(wrapped, wanted, end)
    assert sorted(got) == sorted(s for s, _ in wanted if _expected_quotes(s, T0, end))
    for symbol, start in wanted:
        if symbol in got:
            assert _same_quotes(got[symbol], _expected_quotes(symbol, start, end)), symbol
    assert any(r[k] is None for r in QUOTES for k in ("bid_price", "ask_size"))  # NULLs are read as NaN


def test_read_quotes_of_nothing(storage) -> None:
    assert read_quotes(object(), [], END) == {}  # nothing asked: nothing read
    assert read_quotes(_Chunked(storage), [("ZZ", T0), ("NEVER", T0)], END) == {}
    assert read_quotes(storage, [("ZZ", T0), ("NEVER", T0)], END) == {}


def test_symbol_bounds_of_a_byte_ordered_read(storage) -> None:
    """DuckDB's read grouped by symbol: the rows of each symbol asked for, found by bisection, equal to a walk."""
    table = storage.read_trades_many(list(MARKETS), T0, END)
    names = table.column("symbol").to_pylist()
    walk: dict[str, tuple[int, int]] = {}
    for i, s in enumerate(names):
        walk[s] = (walk.get(s, (i, i))[0], i + 1)
    assert list(walk) == sorted(walk, key=str.encode) != sorted(walk, key=str.lower)
    assert symbol_bounds(table.column("symbol"), list(MARKETS)) == walk
    assert symbol_bounds(table.column("symbol"), [*reversed(MARKETS), "NEVER", "MSFT"]) == walk


class _Counting:
    """The storage's reads, counted by name (the one-scan reads are the transform's design: one query a chunk)."""

    def __init__(self, db: Any, names: tuple[str, ...]) -> None:
        self.db = db
        self.calls: list[str] = []
        for name in names:
            setattr(self, name, self._counted(name))

    def _counted(self, name: str) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append(name)
            return getattr(self.db, name)(*args)
        return call


def test_a_chunk_is_one_query_each_for_trades_and_quotes(storage) -> None:
    """Two symbols or more: one ``read_trades_many``; quotes: DuckDB's ``read_quote_arrays`` where there is one,
    else one ``read_quotes_many``. The answers are those of the module's contract (tests above)."""
    wanted = [("MSFT", T0 + 120), ("B", T0)]
    st = _Counting(storage, ("read_trades", "read_trades_many", "read_quote_arrays", "read_quotes_many"))
    got = read_chunk(st, wanted, END, MARKETS)
    assert st.calls == ["read_trades_many"]
    assert all(_listed(got[s]) == _expected(s, start, END, "stocks") for s, start in wanted)
    st.calls.clear()
    quotes = read_quotes(st, wanted, END)
    assert st.calls == ["read_quote_arrays"]
    assert all(_same_quotes(quotes[s], _expected_quotes(s, start, END)) for s, start in wanted)
    tables = _Counting(storage, ("read_quotes_many",))
    assert _same_quotes(read_quotes(tables, wanted, END)["B"], _expected_quotes("B", T0, END))
    assert tables.calls == ["read_quotes_many"]


def test_symbol_bounds_of_a_byte_ordered_read_is_found_by_bisection(storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read grouped in byte order (DuckDB's) is answered by bisection, never by encoding every value; the
    bounds are those of a walk over the values, symbols of one row included."""
    class NoEncoding:
        @staticmethod
        def run_end_encode(*args: Any) -> Any:
            raise AssertionError("a byte-ordered read is bisected")

    names = ["B"] * 3 + ["MSFT"] + ["ZZ"] * 5 + ["a"] + ["ab"] * 2 + ["b"]
    assert names == sorted(names, key=str.encode)
    column = pa.chunked_array([pa.array(names[:4]), pa.array(names[4:])])
    walk = {"B": (0, 3), "MSFT": (3, 4), "ZZ": (4, 9), "a": (9, 10), "ab": (10, 12), "b": (12, 13)}
    read = storage.read_trades_many(list(MARKETS), T0, END).column("symbol")
    monkeypatch.setattr(_chunk_read, "pc", NoEncoding)
    assert symbol_bounds(column, ["ab", "a", "b", "ZZ", "MSFT", "B", "NEVER"]) == walk
    assert symbol_bounds(pa.chunked_array([pa.array(["Q"])]), ["Q"]) == {"Q": (0, 1)}  # a read of one row
    assert symbol_bounds(read, list(MARKETS)) == {
        s: (read.to_pylist().index(s), len(read) - read.to_pylist()[::-1].index(s)) for s in set(read.to_pylist())}


def test_reads_of_other_types_are_int64_and_float64() -> None:
    """A storage that hands back other column types (int32 times, float32 prices, integer sizes): the arrays are
    still int64 times and float64 values (the kernels' types)."""
    trades = pa.table({"ts_ns": pa.array([3, 4], pa.int32()), "price": pa.array([1.5, 2.5], pa.float32()),
                       "size": pa.array([7, 9], pa.int64())})
    ts, px, sz, _, _ = arrays_of(trades, "stocks")
    assert (ts.dtype, px.dtype, sz.dtype) == (np.int64, np.float64, np.float64)
    assert ts.tolist() == [3, 4] and px.tolist() == [1.5, 2.5] and sz.tolist() == [7.0, 9.0]

    class Reads:
        def __init__(self, table: pa.Table) -> None:
            self.table = table

        def read_quotes_many(self, symbols: list[str], start_ns: int, end_ns: int) -> pa.Table:
            return self.table

    f32 = pa.float32()
    quotes = pa.Table.from_batches(pa.table({
        "symbol": ["A", "A", "A"], "ts_ns": pa.array([5, 6, 7], pa.int32()),
        "bid_price": pa.array([1.0, 2.0, 3.0], f32), "bid_size": pa.array([1, 2, 3], pa.int32()),
        "ask_price": pa.array([1.5, 2.5, None], f32), "ask_size": pa.array([4, 5, 6], pa.int64())}).to_batches(2))
    for table in (quotes, quotes.combine_chunks()):  # the rows in two chunks, then in one
        q = read_quotes(Reads(table), [("A", 5)], 9)["A"]
        assert q.ts.dtype == np.int64 and q.ts.tolist() == [5, 6, 7]
        assert _same_quotes(q, [(5, 1.0, 1.5, 1.0, 4.0), (6, 2.0, 2.5, 2.0, 5.0), (7, 3.0, float("nan"), 3.0, 6.0)])
    one = read_quotes(Reads(quotes.slice(1, 1)), [("A", 0)], 9)  # a read of one row
    assert _same_quotes(one["A"], [(6, 2.0, 2.5, 2.0, 5.0)])
    empty = _chunk_read._floats(pa.chunked_array([], pa.float64()), 0, 0)  # a column without chunks
    assert empty.dtype == np.float64 and empty.shape == (0,)


def test_crypto_codes_are_not_sale_conditions(caplog: pytest.LogCaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Crypto ``c`` values give the aggressor side: never read as sale conditions, never logged as unknown ids."""
    monkeypatch.setattr(_chunk_read, "_WARNED_CODES", set())
    table = pa.table({"ts_ns": pa.array([1, 2], pa.int64()), "price": [1.0, 2.0], "size": [1.0, 1.0],
                      "conditions": ["765432", "2"], "correction": pa.array([None, 1], pa.int32())})
    with caplog.at_level(logging.WARNING, logger="udx.transform"):
        got = arrays_of(table, "crypto")
    assert got[3].tolist() == got[4].tolist() == [True, True]
    assert not [r for r in caplog.records if "765432" in r.getMessage()]
