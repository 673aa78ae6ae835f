r"""Trade-intensity z-score, spec/signals.md §7.

:math:`z_t = (N_t - m_t)/s_t` where :math:`N_t` is the number of trades in bar t (the bar's ``n_trades``; the
count of prints, not of distinct timestamps) and :math:`m_t`, :math:`s_t` are the mean and the standard
deviation (``ddof = 1``, as pandas ``rolling().std()``) of the counts of the previous ``lookback`` bars,
**excluding** bar t. The baseline spans sessions (the bar series of consecutive sessions is concatenated).

NaN when fewer than ``min_periods`` previous bars exist (default ``lookback // 2``) or when
:math:`s_t \le 10^{-9}\max(1, m_t)` (a flat baseline; the mean and the sum of squared deviations are computed
in two passes, so a constant window gives exactly 0, and the epsilon guards the rest).
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D

__all__ = ["intensity_zscore"]

_EPS = 1e-9


def _intensity_python(
    counts: Float64Array1D, start: int, n_before: int, lookback: int, min_periods: int, out: Float64Array1D
) -> None:
    """Fill ``out[t]`` for ``counts[start + t]``; ``counts[:start]`` are the previous (carried) counts."""
    for j in range(start, counts.shape[0]):
        g = n_before + j - start
        k = g if g < lookback else lookback
        if k < min_periods or k < 2:
            out[j - start] = np.nan
            continue
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
