"""``trades_v1`` record batches → Kafka keys and WebSocket ``T`` event JSON values, built column-wise.

:func:`trade_event` is the reference: one row → one event dict (``sym x i z p s c t q t_ns`` and, when
reported, ``trfi`` / ``trft trft_ns``; ``t``/``trft`` in ms, ``s`` an integer when whole), serialised by
``orjson``. It costs ~6 µs a row in Python, more than producing the message.

:func:`trade_values` builds the same JSON for a whole batch with ``pyarrow.compute`` string kernels: each
field is cast to text and the pieces are joined element-wise, so the per-row cost is a few hundred
nanoseconds. Numbers are written by Arrow's shortest round-trip formatter, which spells some of them
differently from ``orjson`` (``100`` for ``100.0``, ``1e+16``, ``2.5e-7``) but always as a JSON number that
parses back to the same value. Rows the column path cannot vouch for go through :func:`trade_event`
instead, in place, so the message order is the file's order:

* a ``null`` in a column the event always carries (ticker, exchange, id, tape, price, size, sequence,
  ``sip_timestamp``) — the reference writes ``null``, or is the one that knows how to fail;
* a non-finite price or size (JSON has no literal for them);
* a string (ticker, id) holding ``"``, ``\\`` or a control character, which JSON must escape;
* conditions that are not a plain comma list of integers (``12,37``);
* a negative ``sip_timestamp`` or ``trf_timestamp`` (Python floors the ms division, Arrow truncates).

The loader accepts either spelling unchanged: ``tests/ingest/test_replay_json.py`` checks that the two
paths give equal events and equal decoded rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["trade_event", "trade_values"]

_NS_PER_MS = 1_000_000
#: A ``trades_v1`` conditions field the column path copies verbatim into ``[...]``.
_CONDITIONS = r"^(0|[1-9][0-9]{0,17})(,(0|[1-9][0-9]{0,17}))*$"
#: Characters JSON must escape inside a string.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_ALWAYS = ("ticker", "exchange", "id", "tape", "price", "size", "sequence_number", "sip_timestamp")


def _conditions_list(c: str | None) -> list[int] | str:
    if not c:
        return []
    try:
        values = [int(v) for v in c.split(",")]
    except ValueError:
        return c  # not a list of integers: sent as it is, the loader dead-letters it with the reason
    return values if all(-(2**63) <= v < 2**63 for v in values) else c


def trade_event(sym: str | None, x: int | None, i: str | None, z: int | None, p: float | None,
                s: float | None, c: str | None, t_ns: int | None, q: int | None, trfi: int | None,
                trft_ns: int | None) -> dict[str, Any]:
    """One ``trades_v1`` row as the WebSocket ``T`` event (module docstring); the reference path."""
    event: dict[str, Any] = {"ev": "T", "sym": sym, "x": x, "i": i, "z": z, "p": p,
                             "s": int(s) if s is not None and s.is_integer() and abs(s) < 2.0**63 else s,
                             "c": _conditions_list(c),
                             "t": t_ns // _NS_PER_MS if t_ns else t_ns, "q": q, "t_ns": t_ns}
    if trfi:
        event["trfi"] = trfi
    if trft_ns:
        event["trft"], event["trft_ns"] = trft_ns // _NS_PER_MS, trft_ns
    return event


_REFERENCE_COLUMNS = ("ticker", "exchange", "id", "tape", "price", "size", "conditions", "sip_timestamp",
                      "sequence_number", "trf_id", "trf_timestamp")


def _reference_values(batch: pa.RecordBatch, rows: list[int]) -> list[bytes]:
    picked = batch.take(pa.array(rows, pa.int64())) if len(rows) != batch.num_rows else batch
    cols = [picked[name].to_pylist() for name in _REFERENCE_COLUMNS]
    dumps = orjson.dumps
    return [dumps(trade_event(*row)) for row in zip(*cols, strict=True)]


def _text(column: pa.Array) -> pa.Array:
    return pc.cast(column, pa.string())


def _clean(batch: pa.RecordBatch) -> np.ndarray:
    """Rows the column path writes exactly (module docstring), as a numpy bool mask."""
    ok = pc.is_valid(batch["ticker"])
    for name in _ALWAYS[1:]:
        ok = pc.and_(ok, pc.is_valid(batch[name]))
    ok = pc.and_kleene(ok, pc.is_finite(batch["price"]))
    ok = pc.and_kleene(ok, pc.is_finite(batch["size"]))
    for name in ("ticker", "id"):
        ok = pc.and_kleene(ok, pc.invert(pc.match_substring_regex(batch[name], _NEEDS_ESCAPE)))
    conditions = batch["conditions"]
    plain = pc.or_kleene(pc.equal(conditions, ""), pc.match_substring_regex(conditions, _CONDITIONS))
    ok = pc.and_kleene(ok, pc.fill_null(plain, True))
    ok = pc.and_kleene(ok, pc.greater_equal(batch["sip_timestamp"], 0))
    ok = pc.and_kleene(ok, pc.fill_null(pc.greater_equal(batch["trf_timestamp"], 0), True))
    return pc.fill_null(ok, False).to_numpy(zero_copy_only=False)


def _size_text(size: pa.Array) -> pa.Array:
    """``s``: an integer when whole (``100``), else the shortest float text."""
    whole = pc.and_(pc.equal(pc.floor(size), size), pc.less(pc.abs(size), 2.0**63))
    as_int = _text(pc.cast(pc.if_else(whole, size, 0.0), pa.int64()))
    return pc.if_else(whole, as_int, _text(size))


def _optional(present: pa.Array, *pieces: pa.Array | str) -> pa.Array:
    """The joined ``pieces`` where ``present`` is true, else an empty string."""
    text = pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")
    return pc.if_else(pc.fill_null(present, False), text, "")


def _column_values(batch: pa.RecordBatch) -> pa.Array:
    t_ns = batch["sip_timestamp"]
    trfi, trft_ns = batch["trf_id"], batch["trf_timestamp"]
    conditions = pc.fill_null(batch["conditions"], "")
    trf = _optional(pc.not_equal(trfi, 0), ',"trfi":', _text(trfi))
    trft = _optional(pc.not_equal(trft_ns, 0), ',"trft":', _text(pc.divide(trft_ns, _NS_PER_MS)),
                     ',"trft_ns":', _text(trft_ns))
    pieces: list[pa.Array | str] = [
        '{"ev":"T","sym":"', batch["ticker"], '","x":', _text(batch["exchange"]), ',"i":"', batch["id"],
        '","z":', _text(batch["tape"]), ',"p":', _text(batch["price"]), ',"s":', _size_text(batch["size"]),
        ',"c":[', conditions, '],"t":', _text(pc.divide(t_ns, _NS_PER_MS)),
        ',"q":', _text(batch["sequence_number"]), ',"t_ns":', _text(t_ns), trf, trft, "}",
    ]
    return pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")


def _keys(tickers: pa.Array) -> list[str]:
    """The tickers as a list of ``str`` (``""`` for null), one ``str`` object per distinct ticker."""
    encoded = pc.dictionary_encode(pc.fill_null(tickers, ""))
    distinct = np.array(encoded.dictionary.to_pylist(), dtype=object)
    return distinct[encoded.indices.to_numpy(zero_copy_only=False)].tolist()  # type: ignore[no-any-return]


def trade_values(batch: pa.RecordBatch) -> tuple[list[str], list[bytes]]:
    """Keys (the ticker, ``""`` when missing) and JSON values of every row of a ``trades_v1`` batch.

    Parameters
    ----------
    batch
        Columns of :data:`ingest.replay.COLUMNS` with the types :func:`ingest.replay.read_trades_v1` reads.

    Returns
    -------
    tuple of list
        ``keys`` and ``values`` in row order; value ``k`` is row ``k``'s ``T`` event (module docstring).
    """
    n = batch.num_rows
    if n == 0:
        return [], []
    keys = _keys(batch["ticker"])
    clean = _clean(batch)
    values: list[bytes] = pc.cast(_column_values(batch), pa.binary()).to_pylist()
    if not clean.all():
        rows = np.flatnonzero(~clean).tolist()
        for row, value in zip(rows, _reference_values(batch, rows), strict=True):
            values[row] = value
    return keys, values
