r"""Trade-intensity z-score, spec/signals.md §7.

:math:`z_t = (N_t - m_t)/s_t` where :math:`N_t` is the number of trades in bar t (the bar's ``n_trades``; the
count of prints, not of distinct timestamps) and :math:`m_t`, :math:`s_t` are the mean and the standard
deviation (``ddof = 1``, as pandas ``rolling().std()``) of the counts of the previous ``lookback`` bars,
**excluding** bar t. The baseline spans sessions (the bar series of consecutive sessions is concatenated).

NaN when fewer than ``min_periods`` previous bars exist (default ``lookback // 2``) or when
:math:`s_t \le 10^{-9}\max(1, m_t)` (a flat baseline).

Arithmetic: trade counts are whole numbers, so the window keeps running integer sums :math:`S = \sum N`,
:math:`Q = \sum N^2` (O(1) per bar, exact) and :math:`s_t^2 = (kQ - S^2)/(k(k-1))` is rounded once: a constant
window gives exactly 0 and the result does not depend on where a stream was split. While the window holds a
count that is not a whole number in ``[0, 2**31 // lookback]`` (possible through :func:`intensity_zscore`,
never from bars) that bar falls back to the two-pass float mean and sum of squared deviations.
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D

__all__ = ["intensity_zscore"]

_EPS = 1e-9


def _exact_limit_python(lookback: int) -> float:
    """Largest count whose window sums stay exact in int64: k·Q and S² are at most 2**62 for k <= lookback."""
    return float(2**31 // lookback)


_exact_limit = jit(_exact_limit_python, nogil=True)


def _whole_python(c: float, big: float) -> int:
    """``c`` as an integer when it is a whole number in ``[0, big]``, else -1 (the window sums cannot hold it)."""
    return int(c) if c >= 0.0 and c <= big and c == math.floor(c) else -1


_whole = jit(_whole_python, nogil=True)


def _intensity_python(
    counts: Float64Array1D, start: int, n_before: int, lookback: int, min_periods: int, out: Float64Array1D
) -> None:
    """Fill ``out[t]`` for ``counts[start + t]``; ``counts[:start]`` are the previous (carried) counts.

    The baseline window ``[lo, j)`` slides with running integer sums of the counts and their squares, so a
    bar costs O(1); while the window holds a count that is not a whole number in ``[0, big]`` the two-pass
    float formula is used instead (see the module docstring).
    """
    big = _exact_limit(lookback)
    lo = hi = 0
    s1 = 0
    s2 = 0
    inexact = 0
    for j in range(start, counts.shape[0]):
        g = n_before + j - start
        k = g if g < lookback else lookback
        while hi < j:  # counts entering the window
            v = _whole(counts[hi], big)
            if v >= 0:
                s1 += v
                s2 += v * v
            else:
                inexact += 1
            hi += 1
        while lo < j - k:  # counts leaving it
            v = _whole(counts[lo], big)
            if v >= 0:
                s1 -= v
                s2 -= v * v
            else:
                inexact -= 1
            lo += 1
        if k < min_periods or k < 2:
            out[j - start] = np.nan
            continue
        if inexact == 0:
            m = s1 / k
            s = math.sqrt(float(k * s2 - s1 * s1) / float(k * (k - 1)))
        else:
            m = 0.0
            for q in range(j - k, j):
                m += counts[q]
            m /= k
            ss = 0.0
            for q in range(j - k, j):
                d = counts[q] - m
                ss += d * d
            s = math.sqrt(ss / (k - 1))
        if s <= _EPS * max(1.0, abs(m)):
            out[j - start] = np.nan
        else:
            out[j - start] = (counts[j] - m) / s


_intensity = jit(_intensity_python, nogil=True)


def intensity_zscore(counts: object, lookback: int = 60, *, min_periods: int | None = None) -> Float64Array1D:
    """Return the trade-intensity z-score of every bar.

    Parameters
    ----------
    counts
        Trades per bar, one-dimensional, finite.
    lookback
        Baseline bars L (>= 2) before the current one.
    min_periods
        Fewest baseline bars for a value (default ``lookback // 2``, at least 2).

    Examples
    --------
    >>> z = intensity_zscore([3, 5, 4, 6, 5, 20], lookback=5, min_periods=5)
    >>> round(float(z[-1]), 4)
    13.5067
    """
    c = np.ascontiguousarray(counts, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"counts must be one-dimensional, got {c.ndim} dimensions")
    if not np.all(np.isfinite(c)):
        raise ValueError("counts must be finite")
    if isinstance(lookback, bool) or not isinstance(lookback, (int, np.integer)) or lookback < 2:
        raise ValueError(f"lookback must be an integer >= 2, got {lookback!r}")
    mp = max(2, lookback // 2) if min_periods is None else int(min_periods)
    if not 2 <= mp <= lookback:
        raise ValueError(f"min_periods must be in [2, lookback], got {mp}")
    out = np.empty(c.size)
    _intensity(c, 0, 0, int(lookback), mp, out)
    return out
