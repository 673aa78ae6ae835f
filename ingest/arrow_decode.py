"""Kafka trade records → one ``TRADES_SCHEMA`` table in a vectorised pass: the loader's fast path.

The loader's reference decoder is :meth:`ingest.normalize.FrameBatch.add_event`, one Python call per
record (~10 µs). This module decodes a whole batch at once: the record values are joined into one buffer,
the compiled reader :func:`ingest.trade_json.parse_trades` reads every ``T``/``XT`` event in one pass
(~0.3 µs a record) with every rule of the reference decoder, and the storage contract's columns are made
from its output without a Python loop per record.

The fast path only ever *accepts* a record the reference decoder would accept, producing the same row; any
record it cannot vouch for is handed back alone (:attr:`Decoded.rest`) and the loader runs the reference
decoder on it, which accepts it or gives the precise reject reason for the dead-letter topic. Handed back
are records that are not one compact JSON object of printable-ASCII strings without escapes, that are not
``T``/``XT`` events (quotes, statuses, unknown ``ev``), that miss a required field, give one a type other
than the reference decoder's or break a value rule (non-positive price or timestamp, negative size, empty
symbol or id, an integer outside the 32-bit columns), a price or size it cannot read exactly, and ``XT``
trades without ``i`` (their deterministic id is built from Python's float ``repr``): see
:mod:`ingest.trade_json`.

A ``null`` field counts as a missing one, as in the reference decoder, except our ``_corr`` (correction):
absent from a flat-file replay's event it means 0, ``null`` means NULL (:mod:`ingest.normalize`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ingest.trade_json import SPAN_CONDITIONS, SPAN_ID, SPAN_SYMBOL, ParsedTrades, parse_trades
from sql.contract import TRADES_SCHEMA

__all__ = ["Decoded", "decode_trades"]

_EMPTY = TRADES_SCHEMA.empty_table()
_MARKETS = pa.array(["crypto", "stocks"], pa.string())


@dataclass(slots=True)
class Decoded:
    """The rows the fast path accepted and the positions of the records it handed back."""

    trades: pa.Table
    rest: list[int]


def decode_trades(values: list[bytes], received_ns: list[int], sources: list[str]) -> Decoded:
    """Decode the values of Kafka trade records in one pass (module docstring).

    Parameters
    ----------
    values
        Record values, each meant to be one Polygon ``T`` or ``XT`` event as JSON (``None`` for a record
        without a value).
    received_ns
        ``received_ns`` column value of each record.
    sources
        ``source`` column value of each record.

    Returns
    -------
    Decoded
        ``trades`` (``TRADES_SCHEMA``, accepted records in input order) and ``rest``, the ascending
        positions of the records left to the per-record decoder.
    """
    n = len(values)
    if n == 0:
        return Decoded(_EMPTY, [])
    try:
        joined = b"".join(values)
    except TypeError:  # records without a value (None): empty, so handed back
        values = [b"" if v is None else v for v in values]
        try:
            joined = b"".join(values)
        except TypeError:  # not bytes: let the reference decoder say what it is
            return Decoded(_EMPTY, list(range(n)))
    data = np.frombuffer(joined, np.uint8)
    lengths = np.fromiter(map(len, values), np.int64, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    parsed = parse_trades(data, offsets)
    rows = np.flatnonzero(parsed.ok)
    rest = np.flatnonzero(~parsed.ok).tolist()
    if rows.size == 0:
        return Decoded(_EMPTY, rest)
    return Decoded(_table(parsed, rows, received_ns, sources), rest)


def _strings(parsed: ParsedTrades, rows: np.ndarray, column: int) -> pa.Array:
    offsets, data, valid = parsed.texts(rows, column)
    nulls = int(rows.size - np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.StringArray.from_buffers(rows.size, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls)


def _optional(values: np.ndarray, present: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values.astype(type_.to_pandas_dtype(), copy=False), type_, mask=~present)


def _repeated(codes: np.ndarray, texts: pa.Array) -> pa.Array:
    """``texts[codes[k]]`` for every ``k``, as a plain string array."""
    return pa.DictionaryArray.from_arrays(codes, texts).cast(pa.string())


def _table(parsed: ParsedTrades, rows: np.ndarray, received_ns: list[int], sources: list[str]) -> pa.Table:
    """The accepted records ``rows`` as a ``TRADES_SCHEMA`` table."""
    ints = parsed.ints[rows]
    present = parsed.present[rows]
    if sources.count(sources[0]) == len(sources):  # the usual batch: one source
        source = _repeated(np.zeros(rows.size, np.int8), pa.array(sources[:1], pa.string()))
    else:
        source = pa.array(sources, pa.string()).take(pa.array(rows))
    columns = [
        _repeated(parsed.is_stock[rows].view(np.int8), _MARKETS),
        _strings(parsed, rows, SPAN_SYMBOL),
        pa.array(parsed.ts_ns[rows]),
        pa.array(parsed.price[rows]),
        pa.array(parsed.size[rows]),
        pa.array(ints[:, 5].astype(np.int32)),
        _strings(parsed, rows, SPAN_ID),
        _strings(parsed, rows, SPAN_CONDITIONS),
        _optional(ints[:, 0], present[:, 0], pa.int32()),
        _optional(ints[:, 1], present[:, 1], pa.int64()),
        _optional(ints[:, 2], present[:, 2], pa.int32()),
        _optional(ints[:, 3], present[:, 3], pa.int64()),
        pa.array(np.asarray(received_ns, np.int64)[rows]),
        source,
        _optional(ints[:, 4], present[:, 4], pa.int32()),
    ]
    return pa.Table.from_arrays(columns, schema=TRADES_SCHEMA)
