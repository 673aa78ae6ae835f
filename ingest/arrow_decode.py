"""Kafka trade records → one ``TRADES_SCHEMA`` table in a vectorised pass: the loader's fast path.

The loader's reference decoder is :meth:`ingest.normalize.FrameBatch.add_event`, one Python call per
record (~10 µs). This module decodes a whole ``consume()`` result at once: the record values are joined
into newline-delimited JSON, parsed by ``pyarrow.json`` against a fixed schema of the ``T``/``XT`` fields,
validated with ``pyarrow.compute`` masks that restate every rule of the reference decoder, and turned into
the storage contract's columns without a Python loop per record.

The fast path only ever *accepts* a record the reference decoder would accept, producing the same row; any
record it cannot vouch for is handed back (:attr:`Decoded.rest`) and the loader runs the reference decoder
on it, which accepts it or gives the precise reject reason for the dead-letter topic. Handed back are:

* every record of the call when the joined text is not one JSON object per line (a value that is empty,
  does not start with ``{``, holds a newline or a ``\\u`` escape, is not valid JSON or UTF-8) or when a
  field has a type other than the schema's (e.g. a string ``p``, a float ``x``, an integer ``i``, an
  integer ``c``, a ``null`` inside ``c``, a duplicated key) — the parse is all-or-nothing;
* single records that are not ``T``/``XT`` events (quotes, statuses, unknown ``ev``), that miss a required
  field or break a value rule (non-positive price or timestamp, negative size, empty symbol or id, an
  integer outside the 32-bit columns), and ``XT`` trades without ``i`` (their deterministic id is built
  from Python's float ``repr``).

A ``null`` field counts as a missing one, as in the reference decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from sql.contract import TRADES_SCHEMA

__all__ = ["Decoded", "decode_trades"]

_NS_PER_MS = 1_000_000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

#: The fields read from ``T`` (stocks) and ``XT`` (crypto) events, with the JSON types they must have.
_FIELDS = pa.schema([
    ("ev", pa.string()), ("sym", pa.string()), ("pair", pa.string()), ("x", pa.int64()), ("i", pa.string()),
    ("z", pa.int64()), ("p", pa.float64()), ("s", pa.float64()), ("c", pa.list_(pa.int64())),
    ("t", pa.int64()), ("q", pa.int64()), ("trfi", pa.int64()), ("trft", pa.int64()), ("t_ns", pa.int64()),
    ("trft_ns", pa.int64()),
])
_PARSE = pj.ParseOptions(explicit_schema=_FIELDS, unexpected_field_behavior="ignore")
_READ = pj.ReadOptions(block_size=16 << 20)
_EMPTY = TRADES_SCHEMA.empty_table()


@dataclass(slots=True)
class Decoded:
    """The rows the fast path accepted and the positions of the records it handed back."""

    trades: pa.Table
    rest: list[int]


def _nonempty(strings: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.and_kleene(pc.is_valid(strings), pc.greater(pc.binary_length(strings), 0))


def _int32_or_null(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where ``values`` is null or fits a 32-bit column."""
    fits = pc.and_(pc.greater_equal(values, _INT32_MIN), pc.less_equal(values, _INT32_MAX))
    return pc.fill_null(fits, True)


def _conditions(lists: pa.ChunkedArray) -> pa.ChunkedArray:
    """``[12, 37]`` → ``"12,37"``; an empty or missing list → null."""
    joined = pc.binary_join(pc.cast(lists, pa.list_(pa.string())), ",")
    return pc.if_else(pc.equal(pc.list_value_length(lists), 0), pa.scalar(None, pa.string()), joined)


def decode_trades(values: list[bytes], received_ns: list[int], sources: list[str]) -> Decoded:
    """Decode the values of Kafka trade records in one pass (module docstring).

    Parameters
    ----------
    values
        Record values, each meant to be one Polygon ``T`` or ``XT`` event as JSON.
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
    everything = Decoded(_EMPTY, list(range(n)))
    if n == 0:
        return everything
    try:
        blob = b"\n".join(values)
    except TypeError:  # a record without a value (a tombstone)
        return everything
    # One object per line: every value starts with "{" and holds no newline (so none is blank and each
    # yields at least one row: n rows means exactly one each); no \u escapes (lone surrogates and the like).
    if not blob.startswith(b"{") or blob.count(b"\n") != n - 1 or blob.count(b"\n{") != n - 1 \
            or b"\\u" in blob:
        return everything
    try:
        raw = pj.read_json(pa.py_buffer(blob), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowException, ValueError):
        return everything
    if raw.num_rows != n or pc.list_flatten(raw["c"]).null_count:
        return everything
    try:
        return _validated(raw, received_ns, sources)
    except pa.ArrowInvalid:  # an overflowing ms → ns conversion: let the reference decoder deal with it
        return everything


def _validated(raw: pa.Table, received_ns: list[int], sources: list[str]) -> Decoded:
    ev = raw["ev"]
    is_t = pc.fill_null(pc.equal(ev, "T"), False)
    is_xt = pc.fill_null(pc.equal(ev, "XT"), False)
    symbol = pc.if_else(is_t, raw["sym"], raw["pair"])
    t_ns, t = raw["t_ns"], raw["t"]
    use_t_ns = pc.and_(is_t, pc.is_valid(t_ns))
    ts_ns = pc.if_else(use_t_ns, t_ns, pc.multiply_checked(t, _NS_PER_MS))
    trft_ns, trft = raw["trft_ns"], raw["trft"]
    has_trft_ns = pc.is_valid(trft_ns)
    trf_ts_ns = pc.if_else(has_trft_ns, trft_ns, pc.multiply_checked(trft, _NS_PER_MS))
    price, size, exchange, trade_id = raw["p"], raw["s"], raw["x"], raw["i"]
    common = [
        _nonempty(symbol),
        pc.greater(ts_ns, 0),
        pc.greater(price, 0.0),
        pc.greater_equal(size, 0.0),
        pc.is_valid(exchange),
        pc.fill_null(_int32_or_null(exchange), False),
        _nonempty(trade_id),
    ]
    stock_only = [
        pc.fill_null(pc.greater(trf_ts_ns, 0), True),  # absent (null) is fine, present must be positive
        _int32_or_null(raw["z"]),
        _int32_or_null(raw["trfi"]),
    ]
    ok_common = common[0]
    for mask in common[1:]:
        ok_common = pc.and_kleene(ok_common, mask)
    ok_stock = stock_only[0]
    for mask in stock_only[1:]:
        ok_stock = pc.and_(ok_stock, mask)
    ok = pc.fill_null(pc.and_kleene(ok_common, pc.or_(pc.and_(is_t, ok_stock), is_xt)), False)
    ok_np = ok.to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~ok_np).tolist()
    if len(rest) == len(ok_np):
        return Decoded(_EMPTY, rest)
    null_i64 = pa.scalar(None, pa.int64())
    columns = {
        "market": pc.if_else(is_t, "stocks", "crypto"),
        "symbol": symbol,
        "ts_ns": ts_ns,
        "price": price,
        "size": size,
        "exchange": exchange,
        "trade_id": trade_id,
        "conditions": _conditions(raw["c"]),
        "tape": pc.if_else(is_t, raw["z"], null_i64),
        "sequence": pc.if_else(is_t, raw["q"], null_i64),
        "trf_id": pc.if_else(is_t, raw["trfi"], null_i64),
        "trf_ts_ns": pc.if_else(is_t, trf_ts_ns, null_i64),
        "received_ns": pa.chunked_array([pa.array(received_ns, pa.int64())]),
        "source": pa.chunked_array([pa.array(sources, pa.string())]),
    }
    table = pa.table(columns).filter(ok)
    return Decoded(table.cast(TRADES_SCHEMA), rest)
