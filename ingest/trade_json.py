"""A compiled reader of compact Polygon trade events (``T``, ``XT``): the loader's JSON fast path.

:func:`parse_trades` walks the bytes of many record values in one pass and returns, per record, the fields of
the storage contract's trade row, or "not accepted". It accepts only what it can read exactly, a strict subset
of JSON that covers every value this service and Polygon produce:

* one object, no whitespace anywhere, no duplicated known key, nothing after the closing brace;
* strings of printable ASCII without escapes (a ``\\``, a control character or a non-ASCII byte: not
  accepted); numbers in JSON's grammar, below 1e308 in magnitude; ``true``, ``false``, ``null``; fields
  it does not know may hold any such value, arrays and objects included, up to :data:`MAX_DEPTH` deep;
* the known fields with the types of the reference decoder (``ingest.normalize.FrameBatch``): ``ev`` ``"T"``
  or ``"XT"``; ``sym``, ``pair``, ``i`` strings; ``x z t q trfi trft t_ns trft_ns _corr`` integers within
  ±(2^63 - 1); ``p``, ``s`` numbers with at most 15 significant digits and a decimal exponent within ±22 (then
  ``m × 10^e`` or ``m / 10^-e`` is one correctly rounded operation on exact doubles: the value Python's
  ``float()`` gives, Clinger's fast path); ``c`` a list of integers written as ``str(int)`` writes them;
  ``null`` for any of them means "absent";
* and the reference decoder's rules: a non-empty symbol (``sym`` for ``T``, ``pair`` for ``XT``) and
  trade id ``i``, an ``x`` (and ``z``, ``trfi`` for ``T``) that fits 32 bits, a positive price, a
  non-negative size, a positive timestamp (``t_ns``, else ``t`` in ms, for ``T``; ``t`` for ``XT``) and
  ``trf_ts_ns`` (``trft_ns``, else ``trft`` in ms) positive when present; for ``T`` the correction (our key
  ``_corr``, ``ingest.normalize.CORRECTION_KEY``) fits 32 bits, and is NULL when ``_corr`` is ``null``, 0
  when it is absent from an event with ``t_ns`` (a flat-file replay), NULL when absent otherwise: the one
  known field whose ``null`` differs from its absence.

Everything else is "not accepted", never an error: the caller hands those records to the reference decoder,
which accepts them or says why not. An ``XT`` without ``i`` is not accepted either (the reference builds its
id from Python's float ``repr``).

The naive twin is the reference decoder itself: ``tests/ingest/test_arrow_decode.py`` checks that every row
accepted here is the row it makes, on hand-written events and on thousands of mutated ones.
"""

from __future__ import annotations

import numpy as np

from udx._jit import jit

__all__ = ["MAX_DEPTH", "SPAN_CONDITIONS", "SPAN_ID", "SPAN_SYMBOL", "parse_trades"]

#: Nesting depth of the arrays and objects an unknown field may hold (the event object is depth 1).
MAX_DEPTH = 16
#: Columns of ``spans``: start and length of the symbol, the trade id and the conditions (the text between
#: the brackets of ``c``; length -1 when absent or empty).
SPAN_SYMBOL, SPAN_ID, SPAN_CONDITIONS = 0, 2, 4

_NS_PER_MS = 1_000_000
_MAX_MS = (2**63 - 1) // _NS_PER_MS
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MAX = 2**63 - 1
_POW10 = np.array([10.0**k for k in range(23)])

# known fields
_EV, _SYM, _PAIR, _X, _I, _Z, _P, _S, _C, _T, _Q, _TRFI, _TRFT, _T_NS, _TRFT_NS, _CORR = range(16)
_FIELDS = 16
# kinds of value
_ABSENT, _NULL, _STR, _INT, _NUM, _LIST, _OTHER = range(7)
# ASCII
_QUOTE, _BACKSLASH, _COMMA, _COLON, _MINUS, _PLUS, _DOT = 34, 92, 44, 58, 45, 43, 46
_ZERO, _NINE, _LOW_E, _UP_E = 48, 57, 101, 69
_LBRACKET, _RBRACKET, _LBRACE, _RBRACE = 91, 93, 123, 125


#: The field of each one-letter key, by its byte (-1: not a field).
_ONE_LETTER = np.full(128, -1, np.int64)
for _letter, _field in zip("xizpsctq", (_X, _I, _Z, _P, _S, _C, _T, _Q), strict=True):
    _ONE_LETTER[ord(_letter)] = _field


def _key_id(length: int, a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> int:
    """Known field of a key of ``length`` bytes starting ``a b c d e f g`` (0 past its end), or -1.

    Takes the bytes, not the buffer: an array argument costs an atomic reference count per call."""
    if length == 1:
        return _ONE_LETTER[a]
    if length == 2:
        return _EV if a == 101 and b == 118 else -1  # ev
    if length == 3:
        return _SYM if a == 115 and b == 121 and c == 109 else -1  # sym
    if length == 4:
        if a == 112 and b == 97 and c == 105 and d == 114:  # pair
            return _PAIR
        if a == 116 and b == 114 and c == 102:  # trf.
            if d == 105:
                return _TRFI
            if d == 116:
                return _TRFT
            return -1
        if a == 116 and b == 95 and c == 110 and d == 115:  # t_ns
            return _T_NS
        return -1
    if length == 5 and a == 95 and b == 99 and c == 111 and d == 114 and e == 114:
        return _CORR  # _corr
    if length == 7 and a == 116 and b == 114 and c == 102 and d == 116 and e == 95 and f == 110 and g == 115:
        return _TRFT_NS  # trft_ns
    return -1


_key_id = jit(_key_id, inline="always")


def _parse_trades(data: np.ndarray, offsets: np.ndarray, pow10: np.ndarray, ok: np.ndarray,
                  is_stock: np.ndarray, ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray,
                  ints: np.ndarray, present: np.ndarray, spans: np.ndarray) -> None:
    kind = np.empty(_FIELDS, np.int8)
    ival = np.empty(_FIELDS, np.int64)
    fval = np.empty(_FIELDS, np.float64)
    sstart = np.empty(_FIELDS, np.int64)
    slen = np.empty(_FIELDS, np.int64)
    stack = np.empty(MAX_DEPTH + 1, np.uint8)  # the open containers: _LBRACE or _LBRACKET
    key = np.empty(7, np.int64)  # the bytes of a key, 0 past its end
    for r in range(offsets.shape[0] - 1):
        ok[r] = False
        pos = offsets[r]
        end = offsets[r + 1]
        if end - pos < 2 or data[pos] != _LBRACE:
            continue
        kind[:] = _ABSENT
        bad = False
        depth = 1
        stack[1] = _LBRACE
        pos += 1
        field = -1  # the known field whose value comes next (depth 1 only)
        in_c = False  # inside the list of field c
        expect_key = True
        if pos < end and data[pos] == _RBRACE:  # {} has no ev
            continue
        while True:
            if pos >= end:
                bad = True
                break
            b = data[pos]
            value_kind = _OTHER
            if b == _QUOTE:  # a key or a string value
                start = pos + 1
                pos = start
                while pos < end and data[pos] != _QUOTE:
                    c = data[pos]
                    if c == _BACKSLASH or c < 32 or c > 126:
                        bad = True
                        break
                    pos += 1
                if bad or pos >= end or in_c:  # conditions hold integers only
                    bad = True
                    break
                if expect_key:  # "key":
                    if pos + 1 >= end or data[pos + 1] != _COLON:
                        bad = True
                        break
                    field = -1
                    if depth == 1 and pos - start <= 7:
                        for j in range(7):
                            key[j] = data[start + j] if start + j < pos else 0
                        field = _key_id(pos - start, key[0], key[1], key[2], key[3], key[4], key[5], key[6])
                        if field >= 0 and kind[field] != _ABSENT:  # a duplicated known key
                            bad = True
                            break
                    pos += 2
                    expect_key = False
                    continue
                if field >= 0:
                    value_kind = _STR
                    sstart[field] = start
                    slen[field] = pos - start
                pos += 1
            elif expect_key or (in_c and not (b == _MINUS or _ZERO <= b <= _NINE)):
                bad = True
                break
            elif b == _MINUS or _ZERO <= b <= _NINE:
                negative = b == _MINUS
                start = pos
                if negative:
                    pos += 1
                if pos >= end or not _ZERO <= data[pos] <= _NINE:
                    bad = True
                    break
                mantissa = 0
                digits = 0  # significant digits in the mantissa
                big = False  # past the int64 range (then the mantissa stops growing)
                if data[pos] == _ZERO:
                    pos += 1
                    if pos < end and _ZERO <= data[pos] <= _NINE:  # a leading zero
                        bad = True
                        break
                else:
                    while pos < end and _ZERO <= data[pos] <= _NINE:
                        d = int(data[pos]) - _ZERO
                        if big or mantissa > (_INT64_MAX - d) // 10:
                            big = True
                        else:
                            mantissa = mantissa * 10 + d
                        digits += 1
                        pos += 1
                whole = True
                exponent = 0
                if pos < end and data[pos] == _DOT:
                    whole = False
                    pos += 1
                    if pos >= end or not _ZERO <= data[pos] <= _NINE:
                        bad = True
                        break
                    while pos < end and _ZERO <= data[pos] <= _NINE:
                        d = int(data[pos]) - _ZERO
                        if digits > 0 or d != 0:
                            if big or mantissa > (_INT64_MAX - d) // 10:
                                big = True
                            else:
                                mantissa = mantissa * 10 + d
                            digits += 1
                        exponent -= 1
                        pos += 1
                if pos < end and (data[pos] == _LOW_E or data[pos] == _UP_E):
                    whole = False
                    pos += 1
                    sign = 1
                    if pos < end and (data[pos] == _PLUS or data[pos] == _MINUS):
                        sign = -1 if data[pos] == _MINUS else 1
                        pos += 1
                    if pos >= end or not _ZERO <= data[pos] <= _NINE:
                        bad = True
                        break
                    power = 0
                    while pos < end and _ZERO <= data[pos] <= _NINE:
                        if power < 100_000:
                            power = power * 10 + (int(data[pos]) - _ZERO)
                        pos += 1
                    exponent += sign * power
                if digits + exponent > 308:  # might pass the largest double: JSON readers refuse infinity
                    bad = True
                    break
                if in_c:  # a condition code: an integer as str() writes it
                    if not whole or big or (negative and mantissa == 0):
                        bad = True
                        break
                elif field >= 0:
                    if whole and not big:  # an int, as Python reads it (so -0 is 0)
                        value_kind = _INT
                        ival[field] = -mantissa if negative else mantissa
                        fval[field] = float(ival[field]) if digits <= 15 else np.nan
                    elif not whole and digits <= 15 and -22 <= exponent <= 22:  # a float, exactly
                        value_kind = _NUM
                        number = float(mantissa)
                        number = number * pow10[exponent] if exponent >= 0 else number / pow10[-exponent]
                        fval[field] = -number if negative else number
            elif b == 110:  # null
                if pos + 4 > end or data[pos + 1] != 117 or data[pos + 2] != 108 or data[pos + 3] != 108:
                    bad = True
                    break
                pos += 4
                value_kind = _NULL
            elif b == 116:  # true
                if pos + 4 > end or data[pos + 1] != 114 or data[pos + 2] != 117 or data[pos + 3] != 101:
                    bad = True
                    break
                pos += 4
            elif b == 102:  # false
                if (pos + 5 > end or data[pos + 1] != 97 or data[pos + 2] != 108 or data[pos + 3] != 115
                        or data[pos + 4] != 101):
                    bad = True
                    break
                pos += 5
            elif b == _LBRACKET or b == _LBRACE:
                if depth >= MAX_DEPTH or in_c:
                    bad = True
                    break
                if field == _C and b == _LBRACKET:
                    in_c = True
                    sstart[_C] = pos + 1
                elif field >= 0:  # a container in another known field
                    bad = True
                    break
                depth += 1
                stack[depth] = b
                pos += 1
                closing = _RBRACKET if b == _LBRACKET else _RBRACE
                if pos < end and data[pos] == closing:  # empty
                    depth -= 1
                    pos += 1
                    if in_c:
                        in_c = False
                        kind[_C] = _LIST
                        slen[_C] = -1
                        field = -1
                else:
                    expect_key = b == _LBRACE
                    field = -1 if not in_c else field
                    continue
            else:
                bad = True
                break
            if field >= 0 and not in_c:
                kind[field] = value_kind
                field = -1
            # after a value: a comma, or the end of containers
            while True:
                if pos >= end:
                    bad = True
                    break
                c = data[pos]
                if c == _COMMA:
                    pos += 1
                    expect_key = stack[depth] == _LBRACE
                    break
                opened = stack[depth]
                if (c == _RBRACKET and opened == _LBRACKET) or (c == _RBRACE and opened == _LBRACE):
                    if in_c and depth == 2:
                        in_c = False
                        kind[_C] = _LIST
                        slen[_C] = pos - sstart[_C]
                    depth -= 1
                    pos += 1
                    if depth == 0:
                        break
                    continue
                bad = True
                break
            if bad or depth == 0:
                break
        if bad or pos != end:
            continue
        # the reference decoder's rules
        ev = kind[_EV]
        if ev != _STR:
            continue
        stock = slen[_EV] == 1 and data[sstart[_EV]] == 84  # "T"
        crypto = slen[_EV] == 2 and data[sstart[_EV]] == 88 and data[sstart[_EV] + 1] == 84  # "XT"
        if not (stock or crypto):
            continue
        sym = _SYM if stock else _PAIR
        if kind[sym] != _STR or slen[sym] == 0 or kind[_I] != _STR or slen[_I] == 0:
            continue
        if kind[_X] != _INT or not _INT32_MIN <= ival[_X] <= _INT32_MAX:
            continue
        if not (_INT <= kind[_P] <= _NUM and _INT <= kind[_S] <= _NUM):
            continue
        p = fval[_P]
        s = fval[_S]
        if not (p > 0.0 and s >= 0.0):  # also false for NaN: an integer past 15 digits
            continue
        if kind[_C] != _ABSENT and kind[_C] != _NULL and kind[_C] != _LIST:
            continue
        rest_ok = True
        for f in (_Z, _Q, _T, _TRFI, _TRFT, _T_NS, _TRFT_NS, _CORR):
            if kind[f] != _ABSENT and kind[f] != _NULL and kind[f] != _INT:
                rest_ok = False
        if not rest_ok:
            continue
        if stock and kind[_T_NS] == _INT:
            if ival[_T_NS] <= 0:
                continue
            ts = ival[_T_NS]
        else:
            if kind[_T] != _INT or not 0 < ival[_T] <= _MAX_MS:
                continue
            ts = ival[_T] * _NS_PER_MS
        if stock:
            if kind[_Z] == _INT and not _INT32_MIN <= ival[_Z] <= _INT32_MAX:
                continue
            if kind[_TRFI] == _INT and not _INT32_MIN <= ival[_TRFI] <= _INT32_MAX:
                continue
            trf_ts = 0
            if kind[_TRFT_NS] == _INT:
                trf_ts = ival[_TRFT_NS]
                if trf_ts <= 0:
                    continue
            elif kind[_TRFT] == _INT:
                if not 0 < ival[_TRFT] <= _MAX_MS:
                    continue
                trf_ts = ival[_TRFT] * _NS_PER_MS
            if kind[_CORR] == _INT and not _INT32_MIN <= ival[_CORR] <= _INT32_MAX:
                continue
            present[r, 0] = kind[_Z] == _INT
            present[r, 1] = kind[_Q] == _INT
            present[r, 2] = kind[_TRFI] == _INT
            present[r, 3] = trf_ts > 0
            present[r, 4] = kind[_CORR] == _INT or (kind[_CORR] == _ABSENT and kind[_T_NS] == _INT)
            ints[r, 0] = ival[_Z] if present[r, 0] else 0
            ints[r, 1] = ival[_Q] if present[r, 1] else 0
            ints[r, 2] = ival[_TRFI] if present[r, 2] else 0
            ints[r, 3] = trf_ts
            ints[r, 4] = ival[_CORR] if kind[_CORR] == _INT else 0
        else:
            present[r, :] = False
            ints[r, :] = 0
        ok[r] = True
        is_stock[r] = stock
        ts_ns[r] = ts
        price[r] = p
        size[r] = s
        ints[r, 5] = ival[_X]
        spans[r, SPAN_SYMBOL] = sstart[sym]
        spans[r, SPAN_SYMBOL + 1] = slen[sym]
        spans[r, SPAN_ID] = sstart[_I]
        spans[r, SPAN_ID + 1] = slen[_I]
        has_conditions = kind[_C] == _LIST and slen[_C] > 0
        spans[r, SPAN_CONDITIONS] = sstart[_C] if has_conditions else 0
        spans[r, SPAN_CONDITIONS + 1] = slen[_C] if has_conditions else -1


_parse_trades_compiled = jit(_parse_trades, nogil=True)


def _gather(data: np.ndarray, spans: np.ndarray, rows: np.ndarray, column: int, out_offsets: np.ndarray,
            valid: np.ndarray) -> np.ndarray:
    """The texts ``data[start:start + length]`` of ``spans[rows, column:column + 2]`` as Arrow string buffers:
    fills ``out_offsets`` (len(rows) + 1) and ``valid`` (length -1 is null) and returns the bytes."""
    total = 0
    out_offsets[0] = 0
    for k in range(rows.shape[0]):
        length = spans[rows[k], column + 1]
        valid[k] = length >= 0
        if length > 0:
            total += length
        out_offsets[k + 1] = total
    out = np.empty(total, np.uint8)
    at = 0
    for k in range(rows.shape[0]):
        start = spans[rows[k], column]
        length = spans[rows[k], column + 1]
        for j in range(length):
            out[at + j] = data[start + j]
        if length > 0:
            at += length
    return out


_gather_compiled = jit(_gather, nogil=True)


class ParsedTrades:
    """What :func:`parse_trades` read: per record ``ok``; for accepted records the row's fields.

    Attributes
    ----------
    ok, is_stock : numpy.ndarray of bool
    ts_ns : numpy.ndarray of int64
    price, size : numpy.ndarray of float64
    ints : numpy.ndarray of int64, shape (n, 6)
        tape, sequence, trf_id, trf_ts_ns, correction, exchange; the first five valid where ``present`` says
        so.
    present : numpy.ndarray of bool, shape (n, 5)
    spans : numpy.ndarray of int64, shape (n, 6)
        See :data:`SPAN_SYMBOL`, :data:`SPAN_ID`, :data:`SPAN_CONDITIONS`.
    """

    __slots__ = ("data", "ints", "is_stock", "ok", "present", "price", "size", "spans", "ts_ns")

    def __init__(self, data: np.ndarray, n: int) -> None:
        self.data = data
        self.ok = np.zeros(n, np.bool_)
        self.is_stock = np.zeros(n, np.bool_)
        self.ts_ns = np.zeros(n, np.int64)
        self.price = np.zeros(n, np.float64)
        self.size = np.zeros(n, np.float64)
        self.ints = np.zeros((n, 6), np.int64)
        self.present = np.zeros((n, 5), np.bool_)
        self.spans = np.zeros((n, 6), np.int64)

    def texts(self, rows: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrow string buffers (int32 offsets, bytes, validity) of one span column for ``rows``."""
        offsets = np.empty(rows.shape[0] + 1, np.int32)
        valid = np.empty(rows.shape[0], np.bool_)
        data = _gather_compiled(self.data, self.spans, rows, column, offsets, valid)
        return offsets, data, valid


def parse_trades(data: np.ndarray, offsets: np.ndarray) -> ParsedTrades:
    """Read the record values ``data[offsets[k]:offsets[k + 1]]`` (module docstring).

    Parameters
    ----------
    data
        The values' bytes, back to back (``uint8``).
    offsets
        ``n + 1`` ascending positions in ``data`` (``int64``).

    Returns
    -------
    ParsedTrades
        ``ok[k]`` tells whether record ``k`` was accepted; the other fields are meaningful only there.
    """
    n = offsets.shape[0] - 1
    parsed = ParsedTrades(data, n)
    if n > 0:
        _parse_trades_compiled(data, offsets, _POW10, parsed.ok, parsed.is_stock, parsed.ts_ns, parsed.price,
                               parsed.size, parsed.ints, parsed.present, parsed.spans)
    return parsed
