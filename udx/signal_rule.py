"""Preliminary BUY/SELL/HOLD rule from the Lee-Mykland jump test: a research signal, not advice.

Rule (mean reversion after a detected jump):

- ``|L| > threshold`` and ``L > 0`` (a jump up)   → ``SELL``: bet that part of the jump reverses;
- ``|L| > threshold`` and ``L < 0`` (a jump down) → ``BUY``;
- otherwise → ``HOLD``, including whenever L or the threshold is undefined (NaN).

Mean reversion is chosen because bar-level price jumps in liquid names are often partly reversed by
liquidity provision; whether that holds for a given symbol and grid is an open research question, and later
signals (GARCH, VPIN, BNS, trade intensity) are expected to refine or replace this rule. The reason text
names the statistic, its value and the threshold, so every row explains itself, e.g.
``"jump up: LM 8.04 > 3.83 (alpha 0.01)"`` or ``"no jump: |LM| 1.20 <= 4.36"``.
Formatting is deterministic, so recomputing a bar gives the same text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["BUY", "HOLD", "SELL", "decide", "decide_all"]

BUY = "BUY"
SELL = "SELL"
HOLD = "HOLD"


def decide(stat: float, threshold: float, *, alpha: float, index: int, window: int) -> tuple[str, str]:
    """Return ``(trading_signal, signal_reason)`` for one bar.

    Parameters
    ----------
    stat
        The Lee-Mykland statistic L of the bar's return (highfrequency scale), NaN when undefined.
    threshold
        The critical value for ``|L|`` (NaN when undefined).
    alpha
        The significance level the threshold was computed with.
    index
        Position of the return in the symbol's return series (= returns seen before it).
    window
        The LM window K.

    Examples
    --------
    >>> decide(8.044285, 3.82855, alpha=0.01, index=5, window=5)
    ('SELL', 'jump up: LM 8.04 > 3.83 (alpha 0.01)')
    >>> decide(float("nan"), 4.36, alpha=0.01, index=120, window=314)
    ('HOLD', 'LM undefined: window not full (120 of 314 returns)')
    """
    if math.isnan(stat):
        if index < window:
            return HOLD, f"LM undefined: window not full ({index} of {window} returns)"
        return HOLD, "LM undefined: zero or undefined bipower variation in the window"
    if math.isnan(threshold):
        return HOLD, f"LM {stat:.2f}: threshold undefined (fewer than 3 bars per session)"
    if abs(stat) > threshold:
        if stat > 0:
            return SELL, f"jump up: LM {stat:.2f} > {threshold:.2f} (alpha {alpha:g})"
        return BUY, f"jump down: LM {stat:.2f} < -{threshold:.2f} (alpha {alpha:g})"
    return HOLD, f"no jump: |LM| {abs(stat):.2f} <= {threshold:.2f}"


def decide_all(
    stats: Sequence[float],
    thresholds: Sequence[float],
    *,
    alpha: float,
    first_index: int,
    window: int,
) -> tuple[list[str], list[str]]:
    """Apply :func:`decide` to consecutive returns whose first has index ``first_index``."""
    signals: list[str] = []
    reasons: list[str] = []
    for t, (s, c) in enumerate(zip(stats, thresholds, strict=True)):
        sig, why = decide(float(s), float(c), alpha=alpha, index=first_index + t, window=window)
        signals.append(sig)
        reasons.append(why)
    return signals, reasons
