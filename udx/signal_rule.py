"""BUY/SELL/HOLD from the bar's signals: a documented, configurable research signal, **not advice**.

Rules are checked in this order; the first that fires decides the bar:

=====  ===============================  ==========================================  ========  =====================
order  rule                             condition (defaults)                        signal    rationale
=====  ===============================  ==========================================  ========  =====================
1      toxic flow                       ``vpin_cdf >= SIGNAL_VPIN_CDF_HOLD`` (0.9)  HOLD      informed flow: EPO
                                                                                              (2012) alert level;
                                                                                              stay out
2      jump up                          LM jump flag and ``L > 0``                  SELL      mean reversion after
                                                                                              a price jump
3      jump down                        LM jump flag and ``L < 0``                  BUY       mean reversion
4      momentum up                      ``standardized_return >=                    BUY       a large move on
                                        SIGNAL_MOMENTUM_Z`` (2) and                           unusually heavy
                                        ``trade_intensity_zscore >=                           trading tends to
                                        SIGNAL_INTENSITY_Z`` (2)                              continue
5      momentum down                    ``standardized_return <= -2`` and                     SELL
                                        intensity z >= 2
6      no signal                        otherwise (also when a statistic is NaN)    HOLD
=====  ===============================  ==========================================  ========  =====================

The jump flag is the Lee-Mykland test at ``LM_ALPHA`` (§2); the standardized return uses the one-step-ahead
GARCH(1,1) sigma (§4, §8); the intensity z-score is §7; VPIN and its causal CDF are §6. A NaN statistic
never fires a rule. Every ``signal_reason`` names the statistic, its value and the threshold, e.g.
``"toxic flow: VPIN CDF 0.95 >= 0.90 (VPIN 0.412)"``, ``"jump up: LM 8.04 > 3.83 (alpha 0.01); fade it"``,
``"momentum up: standardized return 2.31 >= 2.00, trade intensity z 2.75 >= 2.00"``,
``"no signal: |LM| 1.20 <= 4.36, standardized return 0.53, intensity z -0.20"``. Formatting is
deterministic, so recomputing a bar gives the same text.

Whether mean reversion after jumps or momentum on heavy flow pays for a given symbol and grid is an open
research question; the thresholds are settings so that they can be studied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BUY", "HOLD", "SELL", "RuleConfig", "decide", "decide_all"]

BUY = "BUY"
SELL = "SELL"
HOLD = "HOLD"


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Thresholds of the rule set (settings ``SIGNAL_VPIN_CDF_HOLD``, ``SIGNAL_MOMENTUM_Z``,
    ``SIGNAL_INTENSITY_Z``, ``LM_ALPHA``)."""

    vpin_cdf_hold: float = 0.9
    momentum_z: float = 2.0
    intensity_z: float = 2.0
    alpha: float = 0.01


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def decide(
    stat: float,
    threshold: float,
    *,
    index: int,
    window: int,
    z: float = math.nan,
    intensity: float = math.nan,
    vpin: float = math.nan,
    vpin_cdf: float = math.nan,
    config: RuleConfig = RuleConfig(),
) -> tuple[str, str]:
    """Return ``(trading_signal, signal_reason)`` for one bar.

    Parameters
    ----------
    stat, threshold
        The Lee-Mykland statistic L (highfrequency scale) and its critical value (NaN when undefined).
    index, window
        Position of the return in the symbol's series of tested returns and the LM window K (for the reason
        text); -1 for a bar without a price-setting print, -2 for a session's first bar holding only its
        opening print (neither is tested, :mod:`udx.seasonality`).
    z, intensity, vpin, vpin_cdf
        Standardized return, trade-intensity z-score, VPIN and its CDF (NaN when undefined).
    config
        The thresholds.

    Examples
    --------
    >>> decide(8.044285, 3.82855, index=5, window=5)
    ('SELL', 'jump up: LM 8.04 > 3.83 (alpha 0.01); fade it')
    >>> decide(1.0, 4.36, index=400, window=314, z=2.5, intensity=3.0)
    ('BUY', 'momentum up: standardized return 2.50 >= 2.00, trade intensity z 3.00 >= 2.00')
    >>> decide(float("nan"), 4.36, index=120, window=314)
    ('HOLD', 'no signal: LM window not full (120 of 314 returns)')
    """
    if vpin_cdf >= config.vpin_cdf_hold:
        return HOLD, f"toxic flow: VPIN CDF {vpin_cdf:.2f} >= {config.vpin_cdf_hold:.2f} (VPIN {vpin:.3f})"
    if abs(stat) > threshold:
        if stat > 0:
            return SELL, f"jump up: LM {stat:.2f} > {threshold:.2f} (alpha {config.alpha:g}); fade it"
        return BUY, f"jump down: LM {stat:.2f} < -{threshold:.2f} (alpha {config.alpha:g}); fade it"
    if intensity >= config.intensity_z:
        if z >= config.momentum_z:
            return BUY, (f"momentum up: standardized return {z:.2f} >= {config.momentum_z:.2f}, "
                         f"trade intensity z {intensity:.2f} >= {config.intensity_z:.2f}")
        if z <= -config.momentum_z:
            return SELL, (f"momentum down: standardized return {z:.2f} <= -{config.momentum_z:.2f}, "
                          f"trade intensity z {intensity:.2f} >= {config.intensity_z:.2f}")
    if math.isnan(stat):
        if index == -1:
            return HOLD, "no signal: no price-setting trade in the bar"
        if index == -2:
            return HOLD, "no signal: first bar of the session, its opening print only"
        if index < window:
            return HOLD, f"no signal: LM window not full ({index} of {window} returns)"
        return HOLD, "no signal: LM undefined (zero bipower variation in the window)"
    if math.isnan(threshold):
        return HOLD, f"no signal: LM {stat:.2f}, threshold undefined (fewer than 3 bars per session)"
    return HOLD, (f"no signal: |LM| {abs(stat):.2f} <= {threshold:.2f}, standardized return {_fmt(z)}, "
                  f"intensity z {_fmt(intensity)}")


def decide_all(
    stats: Sequence[float],
    thresholds: Sequence[float],
    *,
    first_index: int,
    window: int,
    z: Sequence[float],
    intensity: Sequence[float],
    vpin: Sequence[float],
    vpin_cdf: Sequence[float],
    config: RuleConfig = RuleConfig(),
) -> tuple[list[str], list[str]]:
    """:func:`decide` for consecutive bars whose first return has index ``first_index`` (same texts, built by
    :func:`udx.reasons.decide_arrays`)."""
    from udx.reasons import decide_arrays

    signals, reasons = decide_arrays(
        np.asarray(stats, dtype=np.float64), np.asarray(thresholds, dtype=np.float64), first_index=first_index,
        window=window, z=np.asarray(z, dtype=np.float64), intensity=np.asarray(intensity, dtype=np.float64),
        vpin=np.asarray(vpin, dtype=np.float64), vpin_cdf=np.asarray(vpin_cdf, dtype=np.float64), config=config)
    return signals.to_pylist(), reasons.to_pylist()
