r"""Lee & Mykland (2008) jump statistic and threshold, exactly as spec/signals.md §2.4 (highfrequency scale).

For returns :math:`r_0 \ldots r_{N-1}` and window :math:`K \ge 3`:

.. math::

    \mathrm{BPV}_i = \frac{\pi}{2}\,\frac{1}{K-2} \sum_{j=i-K+2}^{i-1} |r_j|\,|r_{j-1}|, \qquad
    L_i = r_i / \sqrt{\mathrm{BPV}_i}

The tested return :math:`r_i` is **excluded** from its own variance (LM-faithful). On this scale
:math:`L_i = c\,L^{LM}_i` with :math:`c = \sqrt{2/\pi}`, standard normal under the null. The threshold is
:math:`C_n + S_n\beta^*` with :math:`C_n = \sqrt{2\ln n} - (\ln\pi + \ln\ln n)/(2\sqrt{2\ln n})`,
:math:`S_n = 1/\sqrt{2\ln n}`, :math:`\beta^* = -\ln(-\ln(1-\alpha))`; a jump is flagged when
:math:`|L_i|` exceeds it.

Conventions (spec §2.4):

- **Guard** ``i < K``: the first K returns of the series are NaN, although the K-2 products needed at
  i = K-1 exist. This reproduces the spec's sanity vector and highfrequency's output.
- **NaN, never ±Inf**: L is NaN when BPV is not positive and finite (zeros or NaN in the window), when the
  tested return is NaN, or when the quotient overflows. A flag is False when L or the threshold is NaN.
- The threshold is NaN for ``n < 3`` (``ln ln n`` must be positive).
- **Streaming**: the window may span earlier sessions (the overnight return is not in the series). Pass the
  carried ``tail`` (the last K-1 returns seen) and ``n_before`` (how many returns were seen); the index ``i``
  in the guard is the position in the whole series, so a series processed in pieces gives exactly the L of
  one pass (the same sums in the same order).

References: Lee & Mykland, RFS 21(6):2535-2563 (2008); highfrequency ``intradayJumpTest`` (spec §2.3).
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import BoolArray1D, Float64Array1D

__all__ = ["default_window", "jump_flags", "lee_mykland_stat", "lm_threshold"]

_HALF_PI = math.pi / 2.0


def _lm_stat_python(x: Float64Array1D, k: int, start: int, n_before: int, out: Float64Array1D) -> None:
    """Fill ``out[t] = L`` of ``x[start + t]`` for every t; ``x[:start]`` is the carried tail.

    The global index of ``x[start + t]`` in the whole series is ``n_before + t`` (guard ``i < k``).
    """
    n = x.shape[0]
    for j in range(start, n):
        t = j - start
        if n_before + t < k:
            out[t] = np.nan
            continue
        s = 0.0
        for q in range(j - k + 2, j):
            s += abs(x[q]) * abs(x[q - 1])
        bpv = _HALF_PI * s / (k - 2)
        if bpv > 0.0 and bpv < np.inf:
            v = float(x[j]) / math.sqrt(bpv)  # Python float: overflow gives inf, no warning
            out[t] = v if abs(v) < np.inf else np.nan
        else:
            out[t] = np.nan


_lm_stat = jit(_lm_stat_python, nogil=True)

_TILE = 64


def _lm_stat_tiled_python(x: Float64Array1D, k: int, start: int, n_before: int, out: Float64Array1D) -> None:
    """:func:`_lm_stat_python` with bit-identical results, faster: the products ``|x[q]|·|x[q-1]|`` are
    formed once and the window sums of ``_TILE`` consecutive bars advance together, each lane adding the same
    products in the same order as the twin (independent lanes vectorize; no reassociation). Still O(K) per
    bar: a running O(1) sum would round differently from the twin."""
    n = x.shape[0]
    m = n - start
    t0 = k - n_before if k > n_before else 0
    for t in range(min(t0, m)):
        out[t] = np.nan
    if t0 >= m:
        return
    lo = start + t0 - k + 1  # first x needed
    p = np.empty(n)
    for q in range(lo + 1, n):
        p[q] = abs(x[q]) * abs(x[q - 1])
    acc = np.empty(_TILE)
    for j0 in range(start + t0, n, _TILE):
        w = min(_TILE, n - j0)
        for lane in range(w):
            acc[lane] = 0.0
        for d in range(k - 2):
            base = np.uint64(j0 - k + 2 + d)  # unsigned: no negative-index wraparound, so the lanes vectorize
            for lane in range(np.uint64(w)):
                acc[lane] += p[base + lane]
        for lane in range(w):
            j = j0 + lane
            bpv = _HALF_PI * acc[lane] / (k - 2)
            if bpv > 0.0 and bpv < np.inf:
                v = float(x[j]) / math.sqrt(bpv)
                out[j - start] = v if abs(v) < np.inf else np.nan
            else:
                out[j - start] = np.nan


_lm_stat_tiled = jit(_lm_stat_tiled_python, nogil=True)


def lee_mykland_stat(
    returns: object,
    window: int,
    *,
    tail: object = (),
    n_before: int | None = None,
) -> Float64Array1D:
    """Return the Lee-Mykland statistic ``L`` (highfrequency scale) of every return.

    Parameters
    ----------
    returns
        One-dimensional log returns on a calendar grid (overnight returns removed).
    window
        The window K (>= 3): L of return i uses the K-1 returns before it.
    tail
        Returns that precede ``returns`` in the series (only the last ``window - 1`` are used).
    n_before
        How many returns precede ``returns`` in the whole series (default ``len(tail)``); must be at least
        ``len(tail)``, and ``tail`` must hold at least ``min(window - 1, n_before)`` returns.

    Returns
    -------
    numpy.ndarray
        ``float64`` L, NaN where undefined (see the module docstring).

    Examples
    --------
    >>> r = [0.001, -0.002, 0.0015, 0.0005, -0.001, 0.012, -0.0008, 0.0011, -0.0004, 0.0009]
    >>> [round(float(v), 6) for v in lee_mykland_stat(r, 5)[4:7]]
    [nan, 8.044285, -0.303727]
    """
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got {r.ndim} dimensions")
    k = _check_window(window)
    tl = np.ascontiguousarray(tail, dtype=np.float64)
    if tl.ndim != 1:
        raise ValueError(f"tail must be one-dimensional, got {tl.ndim} dimensions")
    nb = tl.size if n_before is None else int(n_before)
    if nb < tl.size:
        raise ValueError(f"n_before must be >= len(tail) = {tl.size}, got {nb}")
    if tl.size < min(k - 1, nb):
        raise ValueError(f"tail must hold the last min(window - 1, n_before) = {min(k - 1, nb)} returns, "
                         f"got {tl.size}")
    tl = tl[max(0, tl.size - (k - 1)):]
    x = np.concatenate((tl, r))
    out = np.empty(r.size, np.float64)
    _lm_stat_tiled(x, k, tl.size, nb, out)
    return out


def _check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise ValueError(f"window must be an integer >= 3, got {window!r}")
    if window < 3:
        raise ValueError(f"window must be >= 3 (the bipower divisor is window - 2), got {window}")
    return int(window)


def lm_threshold(n: int, alpha: float) -> float:
    """Return the critical value ``Cn + Sn·β*`` for ``|L|`` (highfrequency scale); NaN when ``n < 3``.

    Parameters
    ----------
    n
        Returns tested per day (per session).
    alpha
        Significance level in (0, 1), e.g. 0.01 (not 0.99: spec §2.3 pitfall 1).

    Examples
    --------
    >>> round(lm_threshold(78, 0.01), 6)
    4.067058
    """
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n < 3:
        return math.nan
    two_ln_n = 2.0 * math.log(n)
    root = math.sqrt(two_ln_n)
    cn = root - (math.log(math.pi) + math.log(math.log(n))) / (2.0 * root)
    sn = 1.0 / root
    beta = -math.log(-math.log(1.0 - alpha))
    return cn + sn * beta


def default_window(n_per_day: float) -> int:
    """Return the default window ``K = ceil(sqrt(252 · n_per_day))``, at least 3 (spec §2.2).

    Examples
    --------
    >>> default_window(390), default_window(78), default_window(1440)
    (314, 141, 603)
    """
    if not (n_per_day > 0) or not math.isfinite(n_per_day):
        raise ValueError(f"n_per_day must be finite and > 0, got {n_per_day}")
    if float(n_per_day).is_integer():
        m = 252 * int(n_per_day)
        k = math.isqrt(m)
        k += k * k < m
    else:
        k = math.ceil(math.sqrt(252.0 * n_per_day))
    return max(3, int(k))


def jump_flags(stat: object, threshold: object) -> BoolArray1D:
    """Return ``|stat| > threshold`` elementwise; False where either is NaN."""
    s = np.asarray(stat, dtype=np.float64)
    c = np.asarray(threshold, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.abs(s) > c, dtype=np.bool_)
