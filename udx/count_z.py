r"""A calibrated z-score for a count: the mid-p tail probability of a negative binomial, as a normal quantile.

A Gaussian z ``(n - m)/s`` of a count is badly skewed when the counts are sparse: with a mean of 0.25 prints a
bar, one print is z = 1.5 and two are z = 3.5, so "z >= 2" fires with whatever probability two prints happen
to have, not 2.3 %, and that probability depends on the rate (the busier open fired three times as often as
midday on a null market). Here the count ``n`` is compared with a negative binomial with the baseline's mean
``m`` and variance ``v`` (``v > m``; a Poisson when ``v = m``: Cox & Lewis 1966, *The Statistical Analysis of
Series of Events*, on Poisson and overdispersed counts of events), and its upper tail is taken as
a mid-p value (Lancaster 1961, *J. Am. Stat. Assoc.* 56:223-234): half the probability of the observed count
plus all of the larger ones,

.. math::

    p^{+} = P(N > n) + \tfrac12 P(N = n), \qquad p^{-} = P(N < n) + \tfrac12 P(N = n) = 1 - p^{+},

and the z-score is the normal quantile with that upper tail, ``z = Φ^{-1}(1 - p^+)`` (computed from the
smaller of ``p^+``, ``p^-`` so neither tail loses digits). Then ``z >= k`` has close to the normal tail
probability at any rate, up to the unavoidable discreteness of small counts, which the mid-p splits evenly
instead of always erring on one side. For large counts the statistic tends to the Gaussian z (the normal
limit; Anscombe 1948, *Biometrika* 35:246-254, on transforming Poisson and negative binomial counts).

The negative binomial has size ``r = m² / (v - m)`` and ``P(N = j) = Γ(j + r) / (Γ(r) j!) p^r (1 - p)^j``
with ``p = m / v``. Probabilities are summed from the observed count outwards, in ratios to its own
probability (so nothing underflows however far in the tail the count is), and the normal quantile of a tail
too small for a double (below 1e-300) comes from the Mills-ratio expansion.

NaN when ``m <= 0`` or a value is not finite.
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D

__all__ = ["count_zscore"]

_LOG_2PI = math.log(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
_TINY = 1e-17  # a term this small relative to the sum so far ends a tail sum
_LOG_HALF = math.log(0.5)
#: Acklam's rational approximation of the normal quantile (lower region and central region), refined below.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)


def _log_upper_python(x: float) -> float:
    """``log Q(x)``, ``Q`` the standard normal upper tail, for ``x >= 0`` (asymptotic series beyond 25)."""
    if x < 25.0:
        return math.log(0.5 * math.erfc(x / _SQRT2))
    y = 1.0 / (x * x)
    series = 1.0 - y * (1.0 - y * (3.0 - y * (15.0 - 105.0 * y)))
    return -0.5 * x * x - math.log(x) - 0.5 * _LOG_2PI + math.log(series)


_log_upper = jit(_log_upper_python, nogil=True)


def _isf_log_python(lq: float) -> float:
    """The ``x >= 0`` with ``log Q(x) = lq`` (``lq <= log 0.5``): Acklam's start, then Newton on ``log Q``."""
    if lq < -690.0:
        x = math.sqrt(-2.0 * lq)
    else:
        q = math.exp(lq)
        if q < 0.02425:
            t = math.sqrt(-2.0 * lq)
            x = -((((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5])
                  / ((((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1.0))
        else:
            u = 0.5 - q
            t = u * u
            x = ((((((_A[0] * t + _A[1]) * t + _A[2]) * t + _A[3]) * t + _A[4]) * t + _A[5]) * u
                 / (((((_B[0] * t + _B[1]) * t + _B[2]) * t + _B[3]) * t + _B[4]) * t + 1.0))
    # Newton on log Q (d log Q / dx = -φ(x) / Q(x)): one step from Acklam's start (relative error 1.2e-9) is
    # exact to rounding; from the asymptotic start of a tail below 1e-300, until the step is below rounding
    for _ in range(1 if lq >= -690.0 else 60):
        if x < 0.0:
            x = 0.0
        lqx = _log_upper(x)
        slope = -math.exp(-0.5 * x * x - 0.5 * _LOG_2PI - lqx)
        step = (lqx - lq) / slope
        x -= step
        if abs(step) <= 1e-15 * max(1.0, abs(x)):
            break
    return x


_isf_log = jit(_isf_log_python, nogil=True)


def _log_pmf_python(n: float, r: float, logp: float, log1mp: float) -> float:
    """``log P(N = n)`` of the negative binomial (``r < 0``: a Poisson with mean ``logp``'s ``exp``)."""
    if r < 0.0:
        mean = math.exp(logp)
        return -mean + n * logp - math.lgamma(n + 1.0)
    if r > 1e4 and n < 1e4:  # lgamma(n + r) - lgamma(r) would cancel: sum its n logarithms instead
        rising = n * math.log(r)
        for i in range(int(n)):
            rising += math.log1p(i / r)
    else:
        rising = math.lgamma(n + r) - math.lgamma(r)
    return rising - math.lgamma(n + 1.0) + r * logp + n * log1mp


_log_pmf = jit(_log_pmf_python, nogil=True)


def _midp_z_python(n: float, mean: float, var: float, positive: bool) -> float:
    """z of the count ``n`` under a negative binomial of ``mean`` and ``var`` (Poisson when ``var <= mean``);
    ``positive``: the count is known to be at least 1, so the law is the one conditioned on ``N >= 1``."""
    if not (mean > 0.0 and math.isfinite(mean) and math.isfinite(var) and n >= 0.0 and math.isfinite(n)):
        return np.nan
    n = math.floor(n)
    if positive and n < 1.0:
        return np.nan
    if var > mean * (1.0 + 1e-12):
        r = mean * mean / (var - mean)
        q1 = (var - mean) / var  # 1 - p
        logp = math.log1p(-q1)
        log1mp = math.log(q1)
        lp0 = r * logp
    else:  # Poisson: encoded by r < 0, logp = log mean
        r = -1.0
        q1 = 0.0
        logp = math.log(mean)
        log1mp = 0.0
        lp0 = -mean
    # log P(N >= 1): the normaliser of the law conditioned on N >= 1 (0 without the condition)
    log_norm = math.log(-math.expm1(lp0)) if positive else 0.0
    lp = _log_pmf(n, r, logp, log1mp) - log_norm
    total = 0.0
    term = 1.0
    if n >= mean:  # the upper tail is the small one: sum P(N = j) / P(N = n) for j > n
        j = n
        while True:
            term *= ((j + r) * q1 if r >= 0.0 else mean) / (j + 1.0)
            total += term
            j += 1.0
            if term <= _TINY * total or term == 0.0:
                break
        log_upper = lp + math.log(0.5 + total)
        if log_upper <= _LOG_HALF:
            return _isf_log(log_upper)
        return -_isf_log(math.log(-math.expm1(log_upper)))
    lowest = 1.0 if positive else 0.0
    j = n  # the lower tail is the small one: sum P(N = j) / P(N = n) for lowest <= j < n
    while j > lowest:
        term *= j / ((j - 1.0 + r) * q1 if r >= 0.0 else mean)
        total += term
        j -= 1.0
        if term <= _TINY * total:
            break
    log_lower = lp + math.log(0.5 + total)
    if log_lower <= _LOG_HALF:
        return -_isf_log(log_lower)
    return _isf_log(math.log(-math.expm1(log_lower)))


_midp_z = jit(_midp_z_python, nogil=True)


def _midp_z_all_python(n: Float64Array1D, mean: Float64Array1D, var: Float64Array1D, positive: np.ndarray,
                       out: Float64Array1D) -> None:
    for i in range(n.shape[0]):
        out[i] = _midp_z(n[i], mean[i], var[i], positive[i])


_midp_z_all = jit(_midp_z_all_python, nogil=True)


def count_zscore(counts: object, mean: object, var: object, positive: object = False) -> Float64Array1D:
    """Return the mid-p z-score of each count under a negative binomial (Poisson when ``var <= mean``).

    Parameters
    ----------
    counts
        Observed counts (whole numbers >= 0; a fraction is rounded down).
    mean, var
        The baseline's mean and variance per count (broadcast); NaN where ``mean <= 0``.
    positive
        Per count (broadcast): it is known to be at least 1 (e.g. the bar that holds a session's first print),
        so it is compared with the law conditioned on ``N >= 1``; NaN for a count of 0 there.

    Examples
    --------
    >>> [round(float(z), 4) for z in count_zscore([0, 1, 2], 0.25, 0.25)]
    [-0.2809, 1.156, 2.1881]
    """
    c, m, v, pos = (np.array(x, dtype=np.float64).ravel()
                    for x in np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=np.float64))
                                                   for a in (counts, mean, var, positive))))
    if np.any(c < 0):
        raise ValueError("counts must be >= 0")
    out = np.empty(c.size)
    _midp_z_all(c, m, v, pos != 0.0, out)
    return out
