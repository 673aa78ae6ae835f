"""BUY/SELL/HOLD and the reason in words, from the README's rule table (first rule that fires wins):
toxic flow (VPIN CDF >= hold level) HOLD; a Lee-Mykland jump up SELL, down BUY (fade it); momentum
(standardized return beyond ±momentum z with intensity z >= its level) BUY/SELL; otherwise HOLD, saying why."""

from __future__ import annotations

import math


def decide(lm: float, thr: float, index: int | None, opening_only: bool, window: int, z: float, iz: float,
           vpin: float, cdf: float, *, hold: float = 0.9, mz: float = 2.0, intensity: float = 2.0,
           alpha: float = 0.01) -> tuple[str, str]:
    """``index``: position of the bar's return among the tested returns (None: not tested)."""
    if cdf >= hold:
        return "HOLD", f"toxic flow: VPIN CDF {cdf:.2f} >= {hold:.2f} (VPIN {vpin:.3f})"
    if abs(lm) > thr:
        if lm > 0:
            return "SELL", f"jump up: LM {lm:.2f} > {thr:.2f} (alpha {alpha:g}); fade it"
        return "BUY", f"jump down: LM {lm:.2f} < -{thr:.2f} (alpha {alpha:g}); fade it"
    if iz >= intensity and z >= mz:
        return "BUY", (f"momentum up: standardized return {z:.2f} >= {mz:.2f}, "
                       f"trade intensity z {iz:.2f} >= {intensity:.2f}")
    if iz >= intensity and z <= -mz:
        return "SELL", (f"momentum down: standardized return {z:.2f} <= -{mz:.2f}, "
                        f"trade intensity z {iz:.2f} >= {intensity:.2f}")
    if math.isnan(lm):
        if index is None:
            if opening_only:
                return "HOLD", "no signal: first bar of the session, its opening print only"
            return "HOLD", "no signal: no price-setting trade in the bar"
        if index < window:
            return "HOLD", f"no signal: LM window not full ({index} of {window} returns)"
        return "HOLD", "no signal: LM undefined (zero bipower variation in the window)"
    if math.isnan(thr):
        return "HOLD", f"no signal: LM {lm:.2f}, threshold undefined (fewer than 3 bars per session)"

    def fmt(v: float) -> str:
        return "n/a" if math.isnan(v) else f"{v:.2f}"

    return "HOLD", (f"no signal: |LM| {abs(lm):.2f} <= {thr:.2f}, standardized return {fmt(z)}, "
                    f"intensity z {fmt(iz)}")
