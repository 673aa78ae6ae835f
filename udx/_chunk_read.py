"""The transform's reads: a chunk of symbols' trades (with each print's eligibility) and quotes in one query each.

:func:`read_chunk` and :func:`read_quotes` answer ``(symbol, start_ns)`` pairs up to one end; each symbol's
arrays are time-ordered slices of one read. :func:`valid_prints` drops the prints no statistic may use. Every
array they hand the compute is read-only, whether Arrow's buffer or a copy (:mod:`udx._read_only`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.backend import Storage
from sql.conditions import print_eligibility, unknown_codes
from udx._read_only import read_only
from udx.liquidity_step import Quotes

__all__ = ["NO_TRADES", "Arrays", "Head", "arrays_of", "read_chunk", "read_quotes", "read_with_heads",
           "symbol_bounds", "valid_prints"]

log = logging.getLogger("udx.transform")  # the transform's lines, as before the readers had their own module
_WARNED_CODES: set[int] = set()


#: ``ts, price, size, sets_price, counts_volume`` of one symbol.
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: The arrays of a symbol with no trades.
NO_TRADES: Arrays = read_only(  # type: ignore[assignment]
    np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.bool_), np.empty(0, np.bool_))


def read_chunk(storage: Storage, wanted: Sequence[tuple[str, int]], end_ns: int,
                markets: dict[str, str]) -> dict[str, Arrays]:
    """The trades of each ``(symbol, start_ns)`` in ``[start_ns, end_ns)``, time-ordered, with their eligibility.

    A storage with ``read_trades_many`` answers the chunk in one scan from the earliest start; each symbol
    then drops its trades before its own start (the rows are those of ``read_trades``, in its order).
    Eligibility is Polygon's consolidated rule of the print's conditions and correction
    (:func:`sql.conditions.print_eligibility`); crypto prints are all eligible.
    """
    many = getattr(storage, "read_trades_many", None)
    if many is None or len(wanted) < 2:
        return {symbol: arrays_of(storage.read_trades(symbol, start, end_ns), markets.get(symbol, "stocks"))
                for symbol, start in wanted}
    table = many([symbol for symbol, _ in wanted], min(start for _, start in wanted), end_ns)
    ts, px, sz, price_ok, volume_ok = arrays_of(table, "stocks")
    bounds = symbol_bounds(table.column("symbol"), [symbol for symbol, _ in wanted])
    out: dict[str, Arrays] = {}
    for symbol, start in wanted:
        if symbol not in bounds:
            out[symbol] = NO_TRADES
            continue
        a, b = bounds[symbol]
        a += int(np.searchsorted(ts[a:b], start, side="left"))
        if markets.get(symbol) == "crypto":
            (ok,) = read_only(np.ones(b - a, np.bool_))
            out[symbol] = (ts[a:b], px[a:b], sz[a:b], ok, ok)
        else:
            out[symbol] = (ts[a:b], px[a:b], sz[a:b], price_ok[a:b], volume_ok[a:b])
    return out


def symbol_bounds(column: pa.ChunkedArray, symbols: Sequence[str]) -> dict[str, tuple[int, int]]:
    """The rows ``[a, b)`` of each symbol present in the ``symbol`` column of a read grouped by symbol.

    A read grouped with its symbols in byte order (``ORDER BY symbol`` of DuckDB; :mod:`sql.stored_order`) is
    searched by bisection, a few dozen values per symbol; the bounds found are kept when they split the rows
    into one range per symbol starting and ending with it, which in a grouped read they do only when right.
    Any other read is run-length encoded (every value compared with the next)."""
    n = len(column)
    bounds: dict[str, tuple[int, int]] = {}
    if n == 0:
        return bounds
    symbols = list(dict.fromkeys(symbols))
    keys = [symbol.encode() for symbol in symbols]

    def value(i: int) -> bytes:
        return column[i].as_py().encode()

    def bisect(key: bytes, lo: int, right: bool) -> int:
        hi = n
        while lo < hi:
            mid = (lo + hi) // 2
            v = value(mid)
            if v < key or (right and v == key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    covered = 0
    for symbol, key in sorted(zip(symbols, keys, strict=True), key=lambda sk: sk[1]):
        a = bisect(key, 0, False)
        if a < n and value(a) == key:
            b = bisect(key, a, True)
            bounds[symbol] = (a, b)
            covered += b - a
    if covered == n and all(value(b - 1) == symbol.encode() for symbol, (_, b) in bounds.items()):
        return bounds
    runs = pc.run_end_encode(column.combine_chunks())
    ends = runs.run_ends.to_numpy().tolist()
    return dict(zip(runs.values.to_pylist(), zip([0, *ends[:-1]], ends, strict=True), strict=True))


def arrays_of(trades: pa.Table, market: str) -> Arrays:
    """``ts, price, size`` of a read as contiguous read-only arrays, with each print's eligibility (crypto: all)."""
    ts = np.ascontiguousarray(_joined(trades.column("ts_ns")), dtype=np.int64)
    px = np.ascontiguousarray(_joined(trades.column("price")), dtype=np.float64)
    sz = np.ascontiguousarray(_joined(trades.column("size")), dtype=np.float64)
    names = trades.column_names
    conditions = trades.column("conditions") if "conditions" in names else None
    correction = trades.column("correction") if "correction" in names else None
    if conditions is None or market == "crypto":
        ok = np.ones(ts.size, np.bool_)
        return read_only(ts, px, sz, ok, ok)  # type: ignore[return-value]
    for code in unknown_codes(conditions) - _WARNED_CODES:
        _WARNED_CODES.add(code)
        log.warning("trade condition %d is not in Polygon's condition table shipped here; such prints are "
                    "treated as regular sales", code)
    price_ok, volume_ok = print_eligibility(conditions, correction, market)
    return read_only(ts, px, sz, price_ok, volume_ok)  # type: ignore[return-value]


def _joined(column: pa.ChunkedArray) -> np.ndarray:
    """A read's column as one array (NULL as NaN), joined by Arrow in the pool the run allocates from
    (:func:`udx.transform.run_transform` sets the C library's malloc for its duration: with pyarrow's mimalloc the
    reader thread took about twice the CPU, and the process twice the fresh huge pages; BENCHMARKS.md, helper
    wpath)."""
    return column.combine_chunks().to_numpy(zero_copy_only=False)


def valid_prints(ts: np.ndarray, px: np.ndarray, sz: np.ndarray, price_ok: np.ndarray,
           volume_ok: np.ndarray) -> Arrays:
    """Drop trades with a non-finite or non-positive price, a negative or non-finite size, or that neither set
    the price nor count in volume (cancelled, erroneous); the prints kept are copied read-only, as read."""
    ok = np.isfinite(px) & (px > 0) & np.isfinite(sz) & (sz >= 0) & (price_ok | volume_ok)
    if not ok.all():
        return read_only(ts[ok], px[ok], sz[ok], price_ok[ok], volume_ok[ok])  # type: ignore[return-value]
    return ts, px, sz, price_ok, volume_ok




def read_quotes(storage: Storage, wanted: Sequence[tuple[str, int]], end_ns: int) -> dict[str, Quotes]:
    """The quotes of each ``(symbol, start_ns)`` in ``[start_ns, end_ns)``, time-ordered: one read per chunk.

    A storage with ``read_quote_arrays`` (DuckDB) hands back each symbol's arrays itself (no table is built).
    Otherwise each symbol's prices and sizes are views of the read's chunks (copied only where its rows span
    two), so the read is not copied once more (a 2M-quote group: ~16 MB per column of freshly touched memory)."""
    if not wanted:
        return {}
    arrays = getattr(storage, "read_quote_arrays", None)
    if arrays is not None:  # each symbol's arrays straight from the read (DuckDB: no table is built)
        got = arrays([s for s, _ in wanted], min(start for _, start in wanted), end_ns)
        out = {}
        for symbol, start in wanted:
            if symbol in got:
                ts, bid, bid_size, ask, ask_size = got[symbol]
                a = int(np.searchsorted(ts, start, side="left"))
                out[symbol] = Quotes(*read_only(ts[a:], bid[a:], ask[a:], bid_size[a:], ask_size[a:]))
        return out
    read = storage.read_quotes_many  # type: ignore[attr-defined]  # the caller checked it is there
    table = read([s for s, _ in wanted], min(start for _, start in wanted), end_ns)
    if table.num_rows == 0:
        return {}
    bounds = symbol_bounds(table.column("symbol"), [s for s, _ in wanted])
    ts = np.ascontiguousarray(table.column("ts_ns").to_numpy(), dtype=np.int64)
    cols = [table.column(n) for n in ("bid_price", "ask_price", "bid_size", "ask_size")]
    out = {}
    for symbol, start in wanted:
        if symbol in bounds:
            a, b = bounds[symbol]
            a += int(np.searchsorted(ts[a:b], start, side="left"))
            out[symbol] = Quotes(*read_only(ts[a:b], *(_floats(c, a, b) for c in cols)))
    return out


def _floats(column: pa.ChunkedArray, a: int, b: int) -> np.ndarray:
    """Rows ``[a, b)`` of a column as contiguous float64 (NULL as NaN): a view of the read where they lie in one
    of its chunks, copied only where they span chunks (a read's columns are not first made one array)."""
    chunks = column.slice(a, b - a).chunks
    if not chunks:
        return np.empty(0)
    if len(chunks) == 1:
        return np.ascontiguousarray(chunks[0].to_numpy(zero_copy_only=False), dtype=np.float64)
    # joined by Arrow, in the pool the run allocates from (see _joined)
    return np.ascontiguousarray(pa.concat_arrays(chunks).to_numpy(zero_copy_only=False), dtype=np.float64)


_NO_QUOTES = Quotes.empty()


class Head(NamedTuple):
    """The realized-spread reads of a symbol whose due bars all end before the rest of its reads start: its prints
    in ``[trades_from, until)`` and its quotes from ``quotes_from`` (a lookback before them), read apart from its
    main reads (the signals' and the quotes a horizon after those prints, from at most ``later - lookback``).

    ``later``: the first print time plus the horizon; ``stale_from``: where its quotes start when read whole
    (``QUOTE_STALE_SECONDS`` before ``trades_from``)."""

    trades_from: int
    until: int
    quotes_from: int
    later: int
    stale_from: int


def read_with_heads(storage: Storage, trade_starts: Mapping[str, int], quote_starts: Mapping[str, int],
                    heads: Mapping[str, Head], end_ns: int, markets: dict[str, str],
                    with_quotes: bool, given: Mapping[str, Quotes] | None = None,
                    ) -> tuple[dict[str, Arrays], dict[str, Quotes]]:
    """:func:`read_chunk` of ``trade_starts`` and :func:`read_quotes` of ``quote_starts`` up to ``end_ns``, with the
    ``heads`` read apart and put in front of their symbols' rows: the rows between a head and its symbol's main
    read (most of the realized-spread horizon) are not read.

    A symbol of ``heads`` gets its head's prints before its main ones (``trade_starts``; none when it is not
    there) and its head's quotes before its main ones (``quote_starts`` must hold it, at most ``later`` minus the
    lookback). The newest quote before each head print (:func:`udx.nbbo.prevailing_quotes`) and before each such
    print plus the horizon is then the one a read of every quote from ``stale_from`` gives when the head holds a
    quote before ``trades_from`` and, unless the two reads touch, the main read one before ``later`` (each read
    holds every quote of its range): checked per symbol, and a symbol without them has its quotes read again
    from ``stale_from`` to ``end_ns``, as a read without a head has them.

    ``given``: the main quotes of symbols read already (every quote from their ``quote_starts`` to ``end_ns``),
    taken instead of reading them."""
    trades = read_chunk(storage, list(trade_starts.items()), end_ns, markets) if trade_starts else {}
    wanted = [(s, start) for s, start in quote_starts.items() if given is None or s not in given]
    quotes = read_quotes(storage, wanted, end_ns) if with_quotes and wanted else {}
    if with_quotes and given:
        quotes.update(given)
    if not heads:
        return trades, quotes
    until = max(h.until for h in heads.values())
    head_trades = read_chunk(storage, [(s, h.trades_from) for s, h in heads.items()], until, markets)
    for symbol, h in heads.items():
        main = trades.get(symbol)
        head = head_trades[symbol]
        k = int(np.searchsorted(head[0], h.until if main is None else min(h.until, trade_starts[symbol]), "left"))
        trades[symbol] = (tuple(a[:k] for a in head) if main is None  # type: ignore[assignment]
                          else read_only(*(np.concatenate([a[:k], b]) for a, b in zip(head, main, strict=True))))
    if not with_quotes:
        return trades, quotes
    head_quotes = read_quotes(storage, [(s, h.quotes_from) for s, h in heads.items()], until)
    whole = []
    for symbol, h in heads.items():
        main_q = quotes.get(symbol, _NO_QUOTES)
        head_q = head_quotes.get(symbol, _NO_QUOTES).before(min(h.until, quote_starts[symbol]))
        joined = head_q.followed_by(main_q)
        apart = h.until < quote_starts[symbol]  # quotes between the two reads are left out
        later_covered = not apart or (main_q.ts.size > 0 and main_q.ts[0] < h.later)
        if joined.ts.size and joined.ts[0] < h.trades_from and later_covered:
            quotes[symbol] = joined
        else:
            whole.append((symbol, h.stale_from))
    if whole:  # read from the stale limit, as without a head
        quotes.update(read_quotes(storage, whole, end_ns))
    return trades, quotes

