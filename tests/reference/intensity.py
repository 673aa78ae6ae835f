"""The trailing trade-intensity z of ``spec/signals.md`` §7 (the README's baseline before
``INTENSITY_MIN_SESSIONS`` sessions), in exact rational arithmetic.

``z_t = (N_t - m_t) / s_t`` with ``m_t`` and ``s_t`` (``ddof = 1``, pandas' ``rolling().std()``) over the previous
``lookback`` counts, **excluding** bar t; the baseline spans sessions. NaN with fewer than ``min_periods``
previous counts (or fewer than 2: ``ddof = 1`` needs two) and for a flat baseline, ``s_t <= 1e-9 max(1, |m_t|)``
(§7: "compare s_t against an epsilon, not == 0"; the epsilon is the module's documented one).

Mean and variance are exact fractions of the float counts (:class:`fractions.Fraction`), so the only rounding is
the final conversion. A float64 kernel lands within a few ulps of z plus what rounding the mean before
``N - m`` costs (:func:`tolerance`). Slow and obvious: every window is summed again from scratch.
"""

from __future__ import annotations

import math
from fractions import Fraction

EPS = 1e-9


def trailing(counts: list[float], lookback: int, min_periods: int) -> list[tuple[float, float, float]]:
    """``(z, m, s)`` of every count against the ``lookback`` counts before it (all NaN where z is NaN)."""
    nan = (math.nan, math.nan, math.nan)
    out = []
    for t, c in enumerate(counts):
        base = [Fraction(v) for v in counts[max(0, t - lookback): t]]
        k = len(base)
        if k < min_periods or k < 2:
            out.append(nan)
            continue
        mean = sum(base, Fraction(0)) / k
        var = sum(((v - mean) ** 2 for v in base), Fraction(0)) / (k - 1)
        s = math.sqrt(var)  # the exact variance rounded once, then its square root
        if s <= EPS * max(1.0, abs(float(mean))):
            out.append(nan)
            continue
        out.append((float((Fraction(c) - mean) / Fraction(s)), float(mean), s))
    return out


def trailing_z(counts: list[float], lookback: int, min_periods: int) -> list[float]:
    """The z of every count against the ``lookback`` counts before it (NaN as in the module docstring)."""
    return [z for z, _, _ in trailing(counts, lookback, min_periods)]


def tolerance(counts: list[float], lookback: int, min_periods: int, rtol: float) -> list[float]:
    """How far a float64 z may be from :func:`trailing_z`: ``rtol`` of it, plus the unavoidable rounding of the
    mean (half an ulp, 1.1e-16 |m|) and of the count (exact), divided by s: ``z = (N - m)/s`` loses
    ``|m| 2**-52 / s`` when N and m are large and close (counts near 4e8 with a spread of 1 lose 1e-7)."""
    return [rtol * abs(z) + 2.0**-52 * abs(m) / s if math.isfinite(z) else 0.0
            for z, m, s in trailing(counts, lookback, min_periods)]


def rounded_once(counts: list[float], lookback: int, min_periods: int) -> list[float]:
    """The module docstring's arithmetic for whole counts: ``m = S/k`` and
    ``s = sqrt((kQ - S²)/(k(k-1)))`` with ``S``, ``Q`` exact integer sums, each quotient rounded once to float64
    (``sqrt`` of the correctly rounded variance), then ``z = (N - m)/s`` in float64. A two-pass float variance
    lands within an ulp or two of it but not on it. NaN where the window holds a count that is not a whole
    number >= 0."""
    out = []
    for t, c in enumerate(counts):
        window = counts[max(0, t - lookback): t]
        if any(v < 0 or v != math.floor(v) for v in window):
            out.append(math.nan)  # not this arithmetic's case
            continue
        base = [int(v) for v in window]
        k = len(base)
        if k < min_periods or k < 2:
            out.append(math.nan)
            continue
        total, squares = sum(base), sum(v * v for v in base)
        m = total / k  # int / int: correctly rounded
        s = math.sqrt(float(Fraction(k * squares - total * total, k * (k - 1))))
        out.append(math.nan if s <= EPS * max(1.0, abs(m)) else (c - m) / s)
    return out
