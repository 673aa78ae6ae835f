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

__all__ = ["SIGNAL_NAMES", "decide_arrays"]

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
 P_THR_B, P_NAN, P_INF) = range(26)


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
    ]


def _put_piece_python(buf: np.ndarray, pos: int, blob: np.ndarray, starts: Int64Array1D, k: int) -> int:
    """Copy literal piece ``k`` to ``buf[pos:]``; return the position after it."""
    # unsigned indices throughout: numba then emits no negative-index wraparound (several times faster)
    a = np.uint64(starts[k])
    length = np.uint64(starts[k + 1]) - a
    p = np.uint64(pos)
    for q in range(length):
        buf[p + q] = blob[a + q]
    return pos + int(length)


_put_piece = jit(_put_piece_python, nogil=True, inline="always")


def _put_digits_python(buf: np.ndarray, pos: int, u: np.uint64, width: int) -> int:
    """Write the unsigned ``u`` as exactly ``width`` decimal digits (zero-padded); return the position after."""
    v = u
    p = np.uint64(pos)
    ten = np.uint64(10)
    for q in range(width - 1, -1, -1):
        buf[p + np.uint64(q)] = np.uint8(np.uint64(48) + v % ten)
        v //= ten
    return pos + width


_put_digits = jit(_put_digits_python, nogil=True, inline="always")


def _put_uint_python(buf: np.ndarray, pos: int, u: np.uint64) -> int:
    """Write the decimal digits of the unsigned ``u``."""
    digits = 1
    rest = u
    ten = np.uint64(10)
    while rest >= ten:
        rest //= ten
        digits += 1
    return _put_digits(buf, pos, u, digits)


_put_uint = jit(_put_uint_python, nogil=True, inline="always")


def _put_int_python(buf: np.ndarray, pos: int, n: int) -> int:
    """Write the decimal digits of ``n`` (``str(n)``)."""
    if n < 0:
        buf[pos] = 45  # '-'
        return _put_uint(buf, pos + 1, np.uint64(-n))
    return _put_uint(buf, pos, np.uint64(n))


_put_int = jit(_put_int_python, nogil=True, inline="always")


def _put_fixed_python(buf: np.ndarray, pos: int, v: float, digits: int, blob: np.ndarray,
                      starts: Int64Array1D) -> int:
    """Write ``f"{v:.{digits}f}"``; return the position after it, or -1 when the fallback must format it."""
    if v != v:
        return _put_piece(buf, pos, blob, starts, P_NAN)
    if math.copysign(1.0, v) < 0.0:
        buf[pos] = 45  # '-'
        pos += 1
    a = abs(v)
    if a == np.inf:
        return _put_piece(buf, pos, blob, starts, P_INF)
    y = a * (100.0 if digits == 2 else 1000.0)
    if y >= _LIMIT:
        return -1
    fl = math.floor(y)
    f = y - fl  # exact: y < 2**50
    if abs(f - 0.5) <= y * _TIE_MARGIN + _TINY:
        return -1  # a tie, or too close to one to round from y
    k = np.uint64(fl) + np.uint64(1 if f > 0.5 else 0)
    if digits == 2:  # constant divisors: no division instruction
        whole = k // np.uint64(100)
        frac = k - whole * np.uint64(100)
    else:
        whole = k // np.uint64(1000)
        frac = k - whole * np.uint64(1000)
    pos = _put_uint(buf, pos, whole)
    buf[pos] = 46  # '.'
    return _put_digits(buf, pos + 1, frac, digits)


_put_fixed = jit(_put_fixed_python, nogil=True, inline="always")


def _reasons_python(
    lm: Float64Array1D, thr: Float64Array1D, z: Float64Array1D, iz: Float64Array1D, vp: Float64Array1D,
    vc: Float64Array1D, first_index: int, window: int, vpin_cdf_hold: float, momentum_z: float,
    intensity_z: float, blob: np.ndarray, starts: Int64Array1D, code: np.ndarray, offsets: np.ndarray,
    buf: np.ndarray, fallback: np.ndarray,
) -> int:
    """Fill ``code`` (0 BUY, 1 SELL, 2 HOLD), the texts (``offsets``, ``buf``) and ``fallback``; return the
    number of fallback rows (their text is empty here)."""
    pos = 0
    n_fb = 0
    offsets[0] = 0
    for t in range(lm.shape[0]):
        s = lm[t]
        th = thr[t]
        row = pos
        if vc[t] >= vpin_cdf_hold:
            code[t] = _HOLD
            pos = _put_piece(buf, pos, blob, starts, P_TOXIC_A)
            pos = _put_fixed(buf, pos, vc[t], 2, blob, starts)
            if pos >= 0:
                pos = _put_piece(buf, pos, blob, starts, P_TOXIC_B)
                pos = _put_fixed(buf, pos, vp[t], 3, blob, starts)
            if pos >= 0:
                pos = _put_piece(buf, pos, blob, starts, P_TOXIC_C)
        elif abs(s) > th:
            if s > 0:
                code[t] = _SELL
                pos = _put_piece(buf, pos, blob, starts, P_UP_A)
                pos = _put_fixed(buf, pos, s, 2, blob, starts)
                if pos >= 0:
                    pos = _put_piece(buf, pos, blob, starts, P_UP_B)
            else:
                code[t] = _BUY
                pos = _put_piece(buf, pos, blob, starts, P_DOWN_A)
                pos = _put_fixed(buf, pos, s, 2, blob, starts)
                if pos >= 0:
                    pos = _put_piece(buf, pos, blob, starts, P_DOWN_B)
            if pos >= 0:
                pos = _put_fixed(buf, pos, th, 2, blob, starts)
            if pos >= 0:
                pos = _put_piece(buf, pos, blob, starts, P_ALPHA)
        elif iz[t] >= intensity_z and (z[t] >= momentum_z or z[t] <= -momentum_z):
            up = z[t] >= momentum_z
            code[t] = _BUY if up else _SELL
            pos = _put_piece(buf, pos, blob, starts, P_MUP_A if up else P_MDN_A)
            pos = _put_fixed(buf, pos, z[t], 2, blob, starts)
            if pos >= 0:
                pos = _put_piece(buf, pos, blob, starts, P_MUP_B if up else P_MDN_B)
                pos = _put_fixed(buf, pos, iz[t], 2, blob, starts)
            if pos >= 0:
                pos = _put_piece(buf, pos, blob, starts, P_MZ_END)
        else:
            code[t] = _HOLD
            if s != s:
                if first_index + t < window:
                    pos = _put_piece(buf, pos, blob, starts, P_WIN_A)
                    pos = _put_int(buf, pos, first_index + t)
                    pos = _put_piece(buf, pos, blob, starts, P_WIN_B)
                    pos = _put_int(buf, pos, window)
                    pos = _put_piece(buf, pos, blob, starts, P_WIN_C)
                else:
                    pos = _put_piece(buf, pos, blob, starts, P_UNDEF)
            elif th != th:
                pos = _put_piece(buf, pos, blob, starts, P_THR_A)
                pos = _put_fixed(buf, pos, s, 2, blob, starts)
                if pos >= 0:
                    pos = _put_piece(buf, pos, blob, starts, P_THR_B)
            else:
                pos = _put_piece(buf, pos, blob, starts, P_NS_A)
                pos = _put_fixed(buf, pos, abs(s), 2, blob, starts)
                if pos >= 0:
                    pos = _put_piece(buf, pos, blob, starts, P_NS_B)
                    pos = _put_fixed(buf, pos, th, 2, blob, starts)
                if pos >= 0:
                    pos = _put_piece(buf, pos, blob, starts, P_NS_C)
                    if z[t] != z[t]:
                        pos = _put_piece(buf, pos, blob, starts, P_NA)
                    else:
                        pos = _put_fixed(buf, pos, z[t], 2, blob, starts)
                if pos >= 0:
                    pos = _put_piece(buf, pos, blob, starts, P_NS_D)
                    if iz[t] != iz[t]:
                        pos = _put_piece(buf, pos, blob, starts, P_NA)
                    else:
                        pos = _put_fixed(buf, pos, iz[t], 2, blob, starts)
        if pos < 0:
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
    first_index: int,
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
        Index of the first bar's return in the symbol's series, and the LM window K.
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
    n_fb = _reasons(*cols, int(first_index), int(window), key[0], key[1], key[2], blob, starts, code, offsets,
                    buf, fallback)
    signals = SIGNAL_NAMES.take(pa.array(code))
    reasons = pa.StringArray.from_buffers(m, pa.py_buffer(offsets), pa.py_buffer(buf[: offsets[m]].copy()))
    if n_fb:
        texts = reasons.to_pylist()
        lm, thr, zz, iz, vp, vc = (c.tolist() for c in cols)
        for t in np.flatnonzero(fallback).tolist():
            texts[t] = decide(lm[t], thr[t], index=first_index + t, window=window, z=zz[t], intensity=iz[t],
                              vpin=vp[t], vpin_cdf=vc[t], config=config)[1]  # type: ignore[arg-type]
        reasons = pa.array(texts, pa.string())
    return signals, reasons
