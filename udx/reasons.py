"""The rule set of :mod:`udx.signal_rule` for many bars at once: signal codes and reason texts as Arrow arrays.

:func:`decide_arrays` gives, for every bar, exactly the ``(trading_signal, signal_reason)`` that
:func:`udx.signal_rule.decide` (the per-bar reference, kept as the naive twin) returns, byte for byte, but
builds the texts in one compiled pass into an Arrow string buffer instead of formatting Python strings.

**Numbers.** Python's ``f"{v:.2f}"`` prints the correctly rounded decimal of the exact binary value (ties to
even), ``-`` for a set sign bit (``-0.00`` for ``-0.0`` and ``-0.001``), ``nan`` and ``inf``. The kernel
computes ``y = |v|·10^d`` in float64; the exact product differs from ``y`` by at most half an ulp, so unless
the fractional part of ``y`` is within a few ulps of ``.5`` the rounding of ``y`` is the rounding of the
exact value. Rows where that is not certain (near or exact ties such as ``0.125``) and rows with
``|v|·10^d >= 1e15`` are marked and formatted by :func:`udx.signal_rule.decide` instead (the *fallback*), so
every text is the reference text.

**Literal pieces.** The parts of the templates that do not change per bar (including the configured
thresholds and ``alpha``, formatted once by Python) are concatenated into one byte blob; the kernel copies
them by piece number.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D

__all__ = ["NOT_PRICED", "OPENING_ONLY", "SIGNAL_NAMES", "decide_arrays"]

#: Index of a bar without a price-setting print (not tested).
NOT_PRICED = -1
#: Index of a session's first bar whose only price-setting print is the opening print (not tested).
OPENING_ONLY = -2

#: ``trading_signal`` text per code: 0 BUY, 1 SELL, 2 HOLD.
SIGNAL_NAMES = pa.array(["BUY", "SELL", "HOLD"], pa.string())
_BUY, _SELL, _HOLD = 0, 1, 2
_MAX_ROW = 256  # bytes: literal parts <= 90, three numbers < 1e15 (<= 21 bytes each), two ints <= 20 each
_LIMIT = 1e15
_TIE_MARGIN = 2.0**-50  # >> the relative error 2**-53 of y = |v|·10^d
_TINY = 2.0**-1000

# piece numbers (the order of _pieces)
(P_TOXIC_A, P_TOXIC_B, P_TOXIC_C, P_UP_A, P_UP_B, P_ALPHA, P_DOWN_A, P_DOWN_B, P_MUP_A, P_MUP_B, P_MZ_END,
 P_MDN_A, P_MDN_B, P_NS_A, P_NS_B, P_NS_C, P_NS_D, P_NA, P_WIN_A, P_WIN_B, P_WIN_C, P_UNDEF, P_THR_A,
 P_THR_B, P_NAN, P_INF, P_NOT_PRICED, P_OPENING) = range(28)


def _pieces(vpin_cdf_hold: float, momentum_z: float, intensity_z: float, alpha: float) -> list[str]:
    return [
        "toxic flow: VPIN CDF ", f" >= {vpin_cdf_hold:.2f} (VPIN ", ")",
        "jump up: LM ", " > ", f" (alpha {alpha:g}); fade it",
        "jump down: LM ", " < -",
        "momentum up: standardized return ", f" >= {momentum_z:.2f}, trade intensity z ", f" >= {intensity_z:.2f}",
        "momentum down: standardized return ", f" <= -{momentum_z:.2f}, trade intensity z ",
        "no signal: |LM| ", " <= ", ", standardized return ", ", intensity z ", "n/a",
        "no signal: LM window not full (", " of ", " returns)",
        "no signal: LM undefined (zero bipower variation in the window)",
        "no signal: LM ", ", threshold undefined (fewer than 3 bars per session)",
        "nan", "inf",
        "no signal: no price-setting trade in the bar",
        "no signal: first bar of the session, its opening print only",
    ]


# The texts of one bar follow one of these templates: a row of (op, argument) steps. A piece step copies a
# literal piece; a number step formats value slot ``argument`` of the bar (``vals`` or ``ints`` below).
_OP_END, _OP_PIECE, _OP_FIXED2, _OP_FIXED3, _OP_FIXED2_OR_NA, _OP_INT = range(6)
(T_TOXIC, T_JUMP_UP, T_JUMP_DOWN, T_MOMENTUM_UP, T_MOMENTUM_DOWN, T_WINDOW, T_UNDEFINED, T_NO_THRESHOLD,
 T_NO_SIGNAL, T_NOT_PRICED, T_OPENING) = range(11)
_TEMPLATES = [
    [(_OP_PIECE, P_TOXIC_A), (_OP_FIXED2, 0), (_OP_PIECE, P_TOXIC_B), (_OP_FIXED3, 1), (_OP_PIECE, P_TOXIC_C)],
    [(_OP_PIECE, P_UP_A), (_OP_FIXED2, 0), (_OP_PIECE, P_UP_B), (_OP_FIXED2, 1), (_OP_PIECE, P_ALPHA)],
    [(_OP_PIECE, P_DOWN_A), (_OP_FIXED2, 0), (_OP_PIECE, P_DOWN_B), (_OP_FIXED2, 1), (_OP_PIECE, P_ALPHA)],
    [(_OP_PIECE, P_MUP_A), (_OP_FIXED2, 0), (_OP_PIECE, P_MUP_B), (_OP_FIXED2, 1), (_OP_PIECE, P_MZ_END)],
    [(_OP_PIECE, P_MDN_A), (_OP_FIXED2, 0), (_OP_PIECE, P_MDN_B), (_OP_FIXED2, 1), (_OP_PIECE, P_MZ_END)],
    [(_OP_PIECE, P_WIN_A), (_OP_INT, 0), (_OP_PIECE, P_WIN_B), (_OP_INT, 1), (_OP_PIECE, P_WIN_C)],
    [(_OP_PIECE, P_UNDEF)],
    [(_OP_PIECE, P_THR_A), (_OP_FIXED2, 0), (_OP_PIECE, P_THR_B)],
    [(_OP_PIECE, P_NS_A), (_OP_FIXED2, 0), (_OP_PIECE, P_NS_B), (_OP_FIXED2, 1), (_OP_PIECE, P_NS_C),
     (_OP_FIXED2_OR_NA, 2), (_OP_PIECE, P_NS_D), (_OP_FIXED2_OR_NA, 3)],
    [(_OP_PIECE, P_NOT_PRICED)],
    [(_OP_PIECE, P_OPENING)],
]
_PROGRAM = np.full((len(_TEMPLATES), max(map(len, _TEMPLATES)) + 1, 2), _OP_END, np.int64)
for _t, _steps in enumerate(_TEMPLATES):
    _PROGRAM[_t, : len(_steps)] = _steps

# outcome of _fixed_parts
_FIXED_OK, _FIXED_NAN, _FIXED_INF, _FIXED_FALLBACK = range(4)


def _fixed_parts_python(v: float, digits: int) -> tuple[int, bool, int]:
    """``f"{v:.{digits}f}"`` as ``(outcome, negative, k)``: the text is ``-`` if negative, then the digits of
    ``k = round(|v|·10^digits)`` with a point before the last ``digits``; or ``nan``, ``[-]inf``, or the
    fallback (a tie too close to call from float64, or ``|v|·10^digits >= 1e15``)."""
    if v != v:
        return _FIXED_NAN, False, 0
    negative = math.copysign(1.0, v) < 0.0
    a = abs(v)
    if a == np.inf:
        return _FIXED_INF, negative, 0
    y = a * (100.0 if digits == 2 else 1000.0)
    if y >= _LIMIT:
        return _FIXED_FALLBACK, negative, 0
    fl = math.floor(y)
    f = y - fl  # exact: y < 2**50
    if abs(f - 0.5) <= y * _TIE_MARGIN + _TINY:
        return _FIXED_FALLBACK, negative, 0  # a tie, or too close to one to round from y
    return _FIXED_OK, negative, int(fl) + (1 if f > 0.5 else 0)


_fixed_parts = jit(_fixed_parts_python, nogil=True, inline="always")


def _reasons_python(
    lm: Float64Array1D, thr: Float64Array1D, z: Float64Array1D, iz: Float64Array1D, vp: Float64Array1D,
    vc: Float64Array1D, index: Int64Array1D, window: int, vpin_cdf_hold: float, momentum_z: float,
    intensity_z: float, blob: np.ndarray, starts: Int64Array1D, program: Int64Array1D, code: np.ndarray,
    offsets: np.ndarray, buf: np.ndarray, fallback: np.ndarray,
) -> int:
    """Fill ``code`` (0 BUY, 1 SELL, 2 HOLD), the texts (``offsets``, ``buf``) and ``fallback``; return the
    number of fallback rows (their text is empty here).

    Each bar picks a template of ``program`` and its values; one loop then writes every template, so all the
    byte writing is in this function (helpers that take the buffers cost a reference count per call).
    """
    vals = np.empty(4)
    ints = np.empty(2, np.int64)
    digits_of = np.empty(20, np.uint8)
    pos = 0
    n_fb = 0
    offsets[0] = 0
    for t in range(lm.shape[0]):
        s = lm[t]
        th = thr[t]
        # --- the rule: signal code, template and its values
        if vc[t] >= vpin_cdf_hold:
            code[t] = _HOLD
            tpl = T_TOXIC
            vals[0] = vc[t]
            vals[1] = vp[t]
        elif abs(s) > th:
            code[t] = _SELL if s > 0 else _BUY
            tpl = T_JUMP_UP if s > 0 else T_JUMP_DOWN
            vals[0] = s
            vals[1] = th
        elif iz[t] >= intensity_z and (z[t] >= momentum_z or z[t] <= -momentum_z):
            up = z[t] >= momentum_z
            code[t] = _BUY if up else _SELL
            tpl = T_MOMENTUM_UP if up else T_MOMENTUM_DOWN
            vals[0] = z[t]
            vals[1] = iz[t]
        else:
            code[t] = _HOLD
            if s != s:
                if index[t] == NOT_PRICED:
                    tpl = T_NOT_PRICED
                elif index[t] == OPENING_ONLY:
                    tpl = T_OPENING
                elif index[t] < window:
                    tpl = T_WINDOW
                    ints[0] = index[t]
                    ints[1] = window
                else:
                    tpl = T_UNDEFINED
            elif th != th:
                tpl = T_NO_THRESHOLD
                vals[0] = s
            else:
                tpl = T_NO_SIGNAL
                vals[0] = abs(s)
                vals[1] = th
                vals[2] = z[t]
                vals[3] = iz[t]
        # --- the text
        row = pos
        failed = False
        for step in range(program.shape[1]):
            op = program[tpl, step, 0]
            arg = program[tpl, step, 1]
            if op == _OP_END:
                break
            piece = -1
            negative = False
            point = 0  # digits after the decimal point
            k = 0
            if op == _OP_PIECE:
                piece = arg
            elif op == _OP_INT:
                negative = ints[arg] < 0
                k = -ints[arg] if negative else ints[arg]
            else:
                v = vals[arg]
                point = 3 if op == _OP_FIXED3 else 2
                if op == _OP_FIXED2_OR_NA and v != v:
                    piece = P_NA
                else:
                    outcome, negative, k = _fixed_parts(v, point)
                    if outcome == _FIXED_FALLBACK:
                        failed = True
                        break
                    if outcome == _FIXED_NAN:
                        piece = P_NAN
                    elif outcome == _FIXED_INF:
                        piece = P_INF
            # (unsigned indices: numba then emits no negative-index wraparound, and the copy vectorizes)
            if negative:
                buf[np.uint64(pos)] = 45  # '-'
                pos += 1
            if piece >= 0:
                src = np.uint64(starts[piece])
                length = np.uint64(starts[piece + 1]) - src
                dst = np.uint64(pos)
                for q in range(length):
                    buf[dst + q] = blob[src + q]
                pos += int(length)
                continue
            # the digits of k, least significant first; zero-padded to point + 1 when a point follows
            u = np.uint64(k)
            min_digits = np.uint64(point + 1)  # (all unsigned: mixed comparisons would go through float64)
            dot_before = np.uint64(point - 1) if point > 0 else np.uint64(2**63)
            n_digits = np.uint64(0)
            while True:
                digits_of[n_digits] = np.uint8(np.uint64(48) + u % np.uint64(10))
                u //= np.uint64(10)
                n_digits += np.uint64(1)
                if u == np.uint64(0) and n_digits >= min_digits:
                    break
            dst = np.uint64(pos)
            for q in range(n_digits):
                d = n_digits - np.uint64(1) - q
                if d == dot_before:
                    buf[dst] = 46  # '.'
                    dst += np.uint64(1)
                buf[dst] = digits_of[d]
                dst += np.uint64(1)
            pos = int(dst)
        if failed:
            pos = row
            fallback[t] = True
            n_fb += 1
        else:
            fallback[t] = False
        offsets[t + 1] = pos
    return n_fb


_reasons = jit(_reasons_python, nogil=True)

_BLOBS: dict[tuple[float, float, float, float], tuple[np.ndarray, np.ndarray]] = {}


def _blob(key: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    found = _BLOBS.get(key)
    if found is None:
        parts = [p.encode() for p in _pieces(*key)]
        starts = np.zeros(len(parts) + 1, np.int64)
        starts[1:] = np.cumsum([len(p) for p in parts])
        found = (np.frombuffer(b"".join(parts), np.uint8).copy(), starts)
        if len(_BLOBS) < 64:
            _BLOBS[key] = found
    return found


def decide_arrays(
    stats: Float64Array1D,
    thresholds: Float64Array1D,
    *,
    first_index: int | Int64Array1D,
    window: int,
    z: Float64Array1D,
    intensity: Float64Array1D,
    vpin: Float64Array1D,
    vpin_cdf: Float64Array1D,
    config: object,
) -> tuple[pa.Array, pa.StringArray]:
    """Return ``(trading_signal, signal_reason)`` of consecutive bars as Arrow string arrays.

    Parameters
    ----------
    stats, thresholds, z, intensity, vpin, vpin_cdf
        ``float64`` arrays of equal length (see :func:`udx.signal_rule.decide`).
    first_index, window
        Index of the first bar's return in the symbol's series of tested returns (consecutive bars), or one
        index per bar (:data:`NOT_PRICED` / :data:`OPENING_ONLY` for a bar that is not tested); the LM window K.
    config
        A :class:`udx.signal_rule.RuleConfig`.

    Examples
    --------
    >>> from udx.signal_rule import RuleConfig
    >>> nan = np.array([np.nan])
    >>> s, r = decide_arrays(np.array([8.044285]), np.array([3.82855]), first_index=5, window=5, z=nan,
    ...                      intensity=nan, vpin=nan, vpin_cdf=nan, config=RuleConfig())
    >>> s.to_pylist(), r.to_pylist()
    (['SELL'], ['jump up: LM 8.04 > 3.83 (alpha 0.01); fade it'])
    """
    from udx.signal_rule import decide

    cols = [np.ascontiguousarray(a, dtype=np.float64) for a in (stats, thresholds, z, intensity, vpin, vpin_cdf)]
    m = cols[0].size
    if any(c.shape != (m,) for c in cols):
        raise ValueError("stats, thresholds, z, intensity, vpin and vpin_cdf must be 1-d of equal length")
    key = (float(config.vpin_cdf_hold), float(config.momentum_z), float(config.intensity_z),  # type: ignore[attr-defined]
           float(config.alpha))  # type: ignore[attr-defined]
    blob, starts = _blob(key)
    code = np.empty(m, np.int8)
    offsets = np.empty(m + 1, np.int32)
    buf = np.empty(max(1, m * _MAX_ROW), np.uint8)
    fallback = np.empty(m, np.bool_)
    if np.ndim(first_index) == 0:
        index = int(first_index) + np.arange(m, dtype=np.int64)  # type: ignore[arg-type]
    else:
        index = np.ascontiguousarray(first_index, dtype=np.int64)
        if index.shape != (m,):
            raise ValueError("first_index must be an integer or one index per bar")
    n_fb = _reasons(*cols, index, int(window), key[0], key[1], key[2], blob, starts, _PROGRAM, code,
                    offsets, buf, fallback)
    signals = SIGNAL_NAMES.take(pa.array(code))
    reasons = pa.StringArray.from_buffers(m, pa.py_buffer(offsets), pa.py_buffer(buf[: offsets[m]].copy()))
    if n_fb:
        texts = reasons.to_pylist()
        lm, thr, zz, iz, vp, vc = (c.tolist() for c in cols)
        for t in np.flatnonzero(fallback).tolist():
            texts[t] = decide(lm[t], thr[t], index=int(index[t]), window=window, z=zz[t], intensity=iz[t],
                              vpin=vp[t], vpin_cdf=vc[t], config=config)[1]  # type: ignore[arg-type]
        reasons = pa.array(texts, pa.string())
    return signals, reasons
