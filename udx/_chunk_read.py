"""The transform's reads: a chunk of symbols' trades (with each print's eligibility) and quotes in one query each.

:func:`read_chunk` and :func:`read_quotes` answer ``(symbol, start_ns)`` pairs up to one end; each symbol's
arrays are time-ordered slices of one read. :func:`valid_prints` drops the prints no statistic may use.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.backend import Storage
from sql.conditions import print_eligibility, unknown_codes
from udx.liquidity_step import Quotes

__all__ = ["Arrays", "arrays_of", "read_chunk", "read_quotes", "valid_prints"]

log = logging.getLogger("udx.transform")  # the transform's lines, as before the readers had their own module
_WARNED_CODES: set[int] = set()


#: ``ts, price, size, sets_price, counts_volume`` of one symbol.
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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
    runs = pc.run_end_encode(table.column("symbol").combine_chunks() if table.num_rows else
                             pa.array([], pa.string()))
    names = runs.values.to_pylist()
    ends = runs.run_ends.to_numpy().tolist()
    starts = [0, *ends[:-1]] if ends else []  # no trades in the range: no runs (was a zip error)
    bounds = dict(zip(names, zip(starts, ends, strict=True), strict=True))
    out: dict[str, Arrays] = {}
    empty = (np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.bool_), np.empty(0, np.bool_))
    for symbol, start in wanted:
        if symbol not in bounds:
            out[symbol] = empty
            continue
        a, b = bounds[symbol]
        a += int(np.searchsorted(ts[a:b], start, side="left"))
        if markets.get(symbol) == "crypto":
            out[symbol] = (ts[a:b], px[a:b], sz[a:b], np.ones(b - a, np.bool_), np.ones(b - a, np.bool_))
        else:
            out[symbol] = (ts[a:b], px[a:b], sz[a:b], price_ok[a:b], volume_ok[a:b])
    return out


def arrays_of(trades: pa.Table, market: str) -> Arrays:
    """``ts, price, size`` of a read as contiguous arrays, with each print's eligibility (crypto: all)."""
    ts = np.ascontiguousarray(trades.column("ts_ns").to_numpy(), dtype=np.int64)
    px = np.ascontiguousarray(trades.column("price").to_numpy(), dtype=np.float64)
    sz = np.ascontiguousarray(trades.column("size").to_numpy(), dtype=np.float64)
    names = trades.column_names
    conditions = trades.column("conditions") if "conditions" in names else None
    correction = trades.column("correction") if "correction" in names else None
    if conditions is None or market == "crypto":
        ok = np.ones(ts.size, np.bool_)
        return ts, px, sz, ok, ok
    for code in unknown_codes(conditions) - _WARNED_CODES:
        _WARNED_CODES.add(code)
        log.warning("trade condition %d is not in Polygon's condition table shipped here; such prints are "
                    "treated as regular sales", code)
    price_ok, volume_ok = print_eligibility(conditions, correction, market)
    return ts, px, sz, price_ok, volume_ok


def valid_prints(ts: np.ndarray, px: np.ndarray, sz: np.ndarray, price_ok: np.ndarray,
           volume_ok: np.ndarray) -> Arrays:
    """Drop trades with a non-finite or non-positive price, a negative or non-finite size, or that neither set
    the price nor count in volume (cancelled, erroneous)."""
    ok = np.isfinite(px) & (px > 0) & np.isfinite(sz) & (sz >= 0) & (price_ok | volume_ok)
    if not ok.all():
        ts, px, sz, price_ok, volume_ok = ts[ok], px[ok], sz[ok], price_ok[ok], volume_ok[ok]
    return ts, px, sz, price_ok, volume_ok




def read_quotes(storage: Storage, wanted: Sequence[tuple[str, int]], end_ns: int) -> dict[str, Quotes]:
    """The quotes of each ``(symbol, start_ns)`` in ``[start_ns, end_ns)``, time-ordered: one read per chunk."""
    if not wanted:
        return {}
    read = storage.read_quotes_many  # type: ignore[attr-defined]  # the caller checked it is there
    table = read([s for s, _ in wanted], min(start for _, start in wanted), end_ns)
    if table.num_rows == 0:
        return {}
    runs = pc.run_end_encode(table.column("symbol").combine_chunks())
    ends = runs.run_ends.to_numpy().tolist()
    bounds = dict(zip(runs.values.to_pylist(), zip([0, *ends[:-1]], ends, strict=True), strict=True))
    ts = np.ascontiguousarray(table.column("ts_ns").to_numpy(), dtype=np.int64)
    cols = [np.ascontiguousarray(table.column(n).to_numpy(zero_copy_only=False), dtype=np.float64)
            for n in ("bid_price", "ask_price", "bid_size", "ask_size")]
    out = {}
    for symbol, start in wanted:
        if symbol in bounds:
            a, b = bounds[symbol]
            a += int(np.searchsorted(ts[a:b], start, side="left"))
            out[symbol] = Quotes(ts[a:b], *(c[a:b] for c in cols))
    return out
