"""``trades_v1`` record batches → Kafka keys and WebSocket ``T`` event JSON values, built column-wise.

:func:`trade_event` is the reference: one row → one event dict (``sym x i z p s c t q t_ns`` and, when
reported, ``trfi`` / ``trft trft_ns``; ``t``/``trft`` in ms, ``s`` an integer when whole), serialised by
``orjson``. It costs ~6 µs a row in Python, more than producing the message.

The flat file's ``correction`` travels in a key of our own, ``_corr``
(:data:`ingest.normalize.CORRECTION_KEY`): Polygon's event keys are lowercase letters, so a leading underscore cannot clash with one it adds later. Most
rows are regular trades (0), so the key is left out then, and the loader reads a missing key on an event that
carries ``t_ns`` (made from a flat file) as 0, on an event without ``t_ns`` (the WebSocket) as NULL. The key
holds a non-zero correction as an integer, ``null`` when the row has none (an empty cell, or a file without
the column), and a cell that is not an integer within 32 bits as it reads (an integer up to 18 digits, else
the text), which the loader dead-letters with the reason: ``"_corr":12``, ``"_corr":null``, ``"_corr":"1.5"``.

:func:`trade_values` builds the same JSON for a whole batch: ``price`` and ``size`` are cast to text by
Arrow, and one compiled loop (:func:`_write_events`, driven by the step table ``_STEPS``) writes every
event's pieces, strings and integers back to back, ~0.5 µs a row in all. Prices and sizes are written by
Arrow's shortest round-trip formatter, which spells some of them differently from ``orjson`` (``100`` for
``100.0``, ``1e+16``, ``2.5e-7``) but always as a JSON number that parses back to the same value. Rows the
column path cannot vouch for go through :func:`trade_event` instead, in place, so the message order is the
file's order:

* a ``null`` in a column the event always carries (ticker, exchange, id, tape, price, size, sequence,
  ``sip_timestamp``) — the reference writes ``null``, or is the one that knows how to fail;
* a non-finite price or size (JSON has no literal for them);
* a string (ticker, id) holding ``"``, ``\\`` or a control character, which JSON must escape;
* conditions that are not a plain comma list of integers (``12,37``);
* a negative ``sip_timestamp`` or ``trf_timestamp`` (Python floors the ms division, Arrow truncates);
* a ``correction`` that is not an integer within 32 bits.

The loader accepts either spelling unchanged: ``tests/ingest/test_replay_json.py`` checks that the two
paths give equal events and equal decoded rows.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingest.normalize import CORRECTION_KEY
from udx._jit import jit

__all__ = ["correction_values", "trade_event", "trade_values"]

_NS_PER_MS = 1_000_000
#: A ``trades_v1`` conditions field the column path copies verbatim into ``[...]``.
_CONDITIONS = r"^(0|[1-9][0-9]{0,17})(,(0|[1-9][0-9]{0,17}))*$"
#: Characters JSON must escape inside a string.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_ALWAYS = ("ticker", "exchange", "id", "tape", "price", "size", "sequence_number", "sip_timestamp")
#: A ``correction`` cell that reads as an integer within 64 bits (then checked against the 32-bit column).
_INTEGER_TEXT = r"^-?[0-9]{1,18}$"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _conditions_list(c: str | None) -> list[int] | str:
    if not c:
        return []
    try:
        values = [int(v) for v in c.split(",")]
    except ValueError:
        return c  # not a list of integers: sent as it is, the loader dead-letters it with the reason
    return values if all(-(2**63) <= v < 2**63 for v in values) else c


def _correction_value(text: str | None) -> int | str | None:
    """The ``correction`` cell as the event carries it: an integer when it reads as one within 64 bits."""
    if text is None or re.fullmatch(_INTEGER_TEXT[1:-1], text) is None:
        return text
    return int(text)


def correction_values(text: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """The ``correction`` column (text, as read) as ``int32`` values and a mask of the cells that are not.

    Returns
    -------
    tuple of pyarrow.Array
        ``values``: the integer of each cell within 32 bits, null for an empty cell and for a bad one;
        ``bad``: true where a non-empty cell is not an integer within 32 bits (the replay skips those rows
        and the loader dead-letters their events).
    """
    integer = pc.match_substring_regex(text, _INTEGER_TEXT)
    wide = pc.cast(pc.if_else(integer, text, pa.scalar(None, pa.string())), pa.int64())
    fits = pc.fill_null(pc.and_(pc.greater_equal(wide, _INT32_MIN), pc.less_equal(wide, _INT32_MAX)), False)
    values = pc.cast(pc.if_else(fits, wide, pa.scalar(None, pa.int64())), pa.int32())
    bad = pc.and_(pc.is_valid(text), pc.invert(fits))
    return values, pc.fill_null(bad, False)


def trade_event(sym: str | None, x: int | None, i: str | None, z: int | None, p: float | None,
                s: float | None, c: str | None, t_ns: int | None, q: int | None, trfi: int | None,
                trft_ns: int | None, correction: str | None) -> dict[str, Any]:
    """One ``trades_v1`` row as the WebSocket ``T`` event (module docstring); the reference path.

    ``correction`` is the cell's text as read (``None`` when empty)."""
    event: dict[str, Any] = {"ev": "T", "sym": sym, "x": x, "i": i, "z": z, "p": p,
                             "s": int(s) if s is not None and s.is_integer() and abs(s) < 2.0**63 else s,
                             "c": _conditions_list(c),
                             "t": t_ns // _NS_PER_MS if t_ns else t_ns, "q": q, "t_ns": t_ns}
    if trfi:
        event["trfi"] = trfi
    if trft_ns:
        event["trft"], event["trft_ns"] = trft_ns // _NS_PER_MS, trft_ns
    value = _correction_value(correction)
    if value != 0:
        event[CORRECTION_KEY] = value
    return event


_REFERENCE_COLUMNS = ("ticker", "exchange", "id", "tape", "price", "size", "conditions", "sip_timestamp",
                      "sequence_number", "trf_id", "trf_timestamp", "correction")


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
    ok = pc.and_kleene(ok, pc.invert(correction_values(batch["correction"])[1]))
    return pc.fill_null(ok, False).to_numpy(zero_copy_only=False)


def _size_text(size: pa.Array) -> pa.Array:
    """``s``: an integer when whole (``100``), else the shortest float text."""
    whole = pc.and_(pc.equal(pc.floor(size), size), pc.less(pc.abs(size), 2.0**63))
    as_int = _text(pc.cast(pc.if_else(whole, size, 0.0), pa.int64()))
    return pc.if_else(whole, as_int, _text(size))


#: The ``T`` event, as steps per row ``(kind, argument, skip)``: copy literal ``argument``, copy string
#: column ``argument``, write integer column ``argument``, or, ``_UNLESS``, skip the next ``skip`` steps when
#: integer column ``argument`` is 0 (the optional ``trfi``, ``trft``/``trft_ns``, a non-zero correction and
#: an empty one: ``correction_null`` is 1 where the cell is empty).
_LITERAL, _STRING, _INTEGER, _UNLESS = 0, 1, 2, 3
_INTEGERS = ("exchange", "tape", "t", "sequence_number", "sip_timestamp", "trf_id", "trft", "trf_timestamp",
             "correction", "correction_null")
_PIECES = ['{"ev":"T","sym":"', '","x":', ',"i":"', '","z":', ',"p":', ',"s":', ',"c":[', '],"t":', ',"q":',
           ',"t_ns":', ',"trfi":', ',"trft":', ',"trft_ns":', f',"{CORRECTION_KEY}":',
           f',"{CORRECTION_KEY}":null', "}"]
_STEPS = np.array([
    (_LITERAL, 0, 0), (_STRING, 0, 0), (_LITERAL, 1, 0), (_INTEGER, 0, 0), (_LITERAL, 2, 0), (_STRING, 1, 0),
    (_LITERAL, 3, 0), (_INTEGER, 1, 0), (_LITERAL, 4, 0), (_STRING, 2, 0), (_LITERAL, 5, 0), (_STRING, 3, 0),
    (_LITERAL, 6, 0), (_STRING, 4, 0), (_LITERAL, 7, 0), (_INTEGER, 2, 0), (_LITERAL, 8, 0), (_INTEGER, 3, 0),
    (_LITERAL, 9, 0), (_INTEGER, 4, 0),
    (_UNLESS, 5, 2), (_LITERAL, 10, 0), (_INTEGER, 5, 0),
    (_UNLESS, 7, 4), (_LITERAL, 11, 0), (_INTEGER, 6, 0), (_LITERAL, 12, 0), (_INTEGER, 7, 0),
    (_UNLESS, 8, 2), (_LITERAL, 13, 0), (_INTEGER, 8, 0),
    (_UNLESS, 9, 1), (_LITERAL, 14, 0),
    (_LITERAL, 15, 0),
], np.int64)
_PIECE_BYTES = np.frombuffer("".join(_PIECES).encode(), np.uint8)
_PIECE_ENDS = np.cumsum([0] + [len(p) for p in _PIECES]).astype(np.int64)
_LONGEST_INT = 20  # "-9223372036854775808"


def _write_events(steps: np.ndarray, pieces: np.ndarray, piece_ends: np.ndarray, strings: np.ndarray,
                  string_offsets: np.ndarray, integers: np.ndarray, rows: np.ndarray, out: np.ndarray,
                  out_offsets: np.ndarray) -> None:
    """Write the events of ``rows`` back to back into ``out``; ``out_offsets[k]`` is where row ``k``'s begins.

    ``string_offsets[c]`` (n + 1) locate string column ``c`` in ``strings``; ``integers[c]`` is integer column
    ``c``. A row not in ``rows`` gets an empty value."""
    digits = np.empty(_LONGEST_INT, np.uint8)
    ten = np.uint64(10)
    zero = np.uint64(0)
    at = 0
    for k in range(out_offsets.shape[0] - 1):
        out_offsets[k] = at
        if not rows[k]:
            continue
        step = 0
        while step < steps.shape[0]:
            kind = steps[step, 0]
            arg = steps[step, 1]
            step += 1
            if kind == _LITERAL:
                for j in range(piece_ends[arg], piece_ends[arg + 1]):
                    out[at] = pieces[j]
                    at += 1
            elif kind == _STRING:
                for j in range(string_offsets[arg, k], string_offsets[arg, k + 1]):
                    out[at] = strings[j]
                    at += 1
            elif kind == _INTEGER:
                value = integers[arg, k]
                count = 0
                if value < 0:
                    out[at] = 45  # -
                    at += 1
                    while True:  # digits of |value|, last first (so INT64_MIN needs no negation)
                        rest = value % -10  # in (-10, 0]: the sign of the divisor, as in Python
                        digits[count] = 48 - rest
                        count += 1
                        value = (value - rest) // 10  # exact, and <= 0 (floor division by -10 is not)
                        if value == 0:
                            break
                else:  # unsigned: division by 10 becomes a multiplication
                    unsigned = np.uint64(value)
                    while True:
                        digits[count] = np.uint8(48) + np.uint8(unsigned % ten)
                        count += 1
                        unsigned //= ten
                        if unsigned == zero:
                            break
                for j in range(count - 1, -1, -1):
                    out[at] = digits[j]
                    at += 1
            elif integers[arg, k] == 0:  # _UNLESS: the optional part is absent
                step += steps[step - 1, 2]
    out_offsets[out_offsets.shape[0] - 1] = at


_write_events_compiled = jit(_write_events, nogil=True)


def _string_buffers(columns: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """The string columns' bytes back to back and, per column, the n + 1 offsets of its rows in them."""
    n = len(columns[0])
    offsets = np.empty((len(columns), n + 1), np.int64)
    chunks = []
    base = 0
    for c, column in enumerate(columns):
        column = column.cast(pa.large_string())
        _validity, raw_offsets, data = column.buffers()
        start = np.frombuffer(raw_offsets, np.int64)[column.offset:column.offset + n + 1]
        first, last = int(start[0]), int(start[-1])
        chunks.append(np.frombuffer(data, np.uint8)[first:last] if data is not None and last > first
                      else np.zeros(0, np.uint8))
        offsets[c] = start - first + base
        base += last - first
    return np.concatenate(chunks), offsets


def _column_values(batch: pa.RecordBatch, clean: np.ndarray) -> pa.Array:
    """The JSON events of the ``clean`` rows (empty for the others), written by one compiled loop."""
    n = batch.num_rows
    texts = [batch["ticker"], batch["id"], _text(batch["price"]), _size_text(batch["size"]),
             batch["conditions"]]
    strings, string_offsets = _string_buffers([pc.fill_null(text, "") for text in texts])
    t_ns, trft_ns = batch["sip_timestamp"], batch["trf_timestamp"]
    correction = batch["correction"]
    columns = {"exchange": batch["exchange"], "tape": batch["tape"], "t": pc.divide(t_ns, _NS_PER_MS),
               "sequence_number": batch["sequence_number"], "sip_timestamp": t_ns, "trf_id": batch["trf_id"],
               "trft": pc.divide(trft_ns, _NS_PER_MS), "trf_timestamp": trft_ns,
               "correction": correction_values(correction)[0],
               "correction_null": pc.cast(pc.is_null(correction), pa.int64())}
    integers = np.empty((len(_INTEGERS), n), np.int64)
    for c, name in enumerate(_INTEGERS):
        integers[c] = pc.fill_null(columns[name], 0).to_numpy(zero_copy_only=False)
    out = np.empty(n * (len(_PIECE_BYTES) + len(_INTEGERS) * _LONGEST_INT) + len(strings), np.uint8)
    out_offsets = np.empty(n + 1, np.int64)
    _write_events_compiled(_STEPS, _PIECE_BYTES, _PIECE_ENDS, strings, string_offsets, integers, clean, out,
                           out_offsets)
    return pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(out_offsets), pa.py_buffer(out)])


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
    values: list[bytes] = _column_values(batch, clean).to_pylist()
    if not clean.all():
        rows = np.flatnonzero(~clean).tolist()
        for row, value in zip(rows, _reference_values(batch, rows), strict=True):
            values[row] = value
    return keys, values
