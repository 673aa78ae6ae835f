r"""BNS bipower jump test (Barndorff-Nielsen & Shephard 2006; Huang & Tauchen 2005), spec/signals.md §3.

For the M returns of a window, with :math:`\mu_1 = \sqrt{2/\pi}`, :math:`\mu_{4/3}^{-3} = 1.7434720745`,
:math:`\vartheta = \pi^2/4 + \pi - 5`:

- :math:`RV = \sum r_j^2`;
- :math:`BV = \frac{\pi}{2}\sum_{j\ge 2}|r_j||r_{j-1}|` times :math:`M/(M-1)` in the Huang-Tauchen form
  (``bv="ht"``, default) or not (highfrequency's ``RBPVar``, ``bv="hf"``);
- :math:`TP = M\,\mu_{4/3}^{-3}\,\frac{M}{M-2}\sum_{j\ge3}|r_j r_{j-1} r_{j-2}|^{4/3}`
  (or quad-power :math:`QP = M\mu_1^{-4}\frac{M}{M-3}\sum|r_j r_{j-1} r_{j-2} r_{j-3}|`, ``iq="qp"``).

Statistics (N(0,1) without jumps, positive with jumps):

- ``"ratio"`` (default, HT's :math:`z_{rm}`): :math:`\frac{(RV-BV)/RV}{\sqrt{\vartheta/M\,\max(1, IQ/BV^2)}}`;
- ``"log"`` (:math:`z_{lm}`): :math:`\frac{\ln RV - \ln BV}{\sqrt{\vartheta/M\,\max(1, IQ/BV^2)}}`;
- ``"linear"`` (:math:`z_l`): :math:`\frac{RV - BV}{\sqrt{\vartheta/M\,IQ}}`.

NaN (never ±Inf) when M is too small (< 3 with TP, < 4 with QP), RV = 0 (ratio, log), BV = 0 (log), IQ = 0
(linear), or the result is not finite.

**Rolling (per bar).** :func:`bns_stat` evaluates the statistic over the trailing ``window`` returns ending at
each bar (the current one included), with fewer at the start of the series (NaN below ``min_periods``).
The sums of squares, products and triple products are updated as the window slides and recomputed from
scratch whenever the global index is a multiple of the window, which bounds rounding drift and keeps
streamed pieces bit-identical to one pass (the state is the three sums and their nonzero-term counts), and
while a sum is not finite: a NaN or infinite return makes NaN only the windows that hold it.
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D

__all__ = ["bns_stat", "bns_test"]

_HALF_PI = math.pi / 2.0
_MU43_M3 = 1.0 / (2.0 ** (2.0 / 3.0) * math.gamma(7.0 / 6.0) / math.gamma(0.5)) ** 3
_THETA = math.pi**2 / 4.0 + math.pi - 5.0
_FORMS = {"ratio": 0, "log": 1, "linear": 2}


def _z_python(m: int, rv: float, bp: float, tq: float, form: int, ht: bool) -> float:
    """The statistic from RV, Σ|r r| and Σ|r r r|^{4/3} over m returns."""
    if m < 3:
        return np.nan
    bv = _HALF_PI * bp
    if ht:
        bv = bv * m / (m - 1)
    tp = m * _MU43_M3 * m / (m - 2) * tq
    if form == 2:
        den = _THETA / m * tp
        z = (rv - bv) / math.sqrt(den) if den > 0.0 else np.nan
    else:
        if not (rv > 0.0 and bv > 0.0):
            return np.nan
        adj = tp / (bv * bv)
        den = math.sqrt(_THETA / m * (adj if adj > 1.0 else 1.0))
        z = ((rv - bv) / rv) / den if form == 0 else (math.log(rv) - math.log(bv)) / den
    return z if abs(z) < np.inf else np.nan


_z = jit(_z_python, nogil=True)


def _bns_rolling_python(
    x: Float64Array1D,
    start: int,
    n_before: int,
    window: int,
    min_periods: int,
    form: int,
    ht: bool,
    sums: Float64Array1D,
    out: Float64Array1D,
) -> None:
    """Fill ``out[t]`` for ``x[start + t]`` (global index ``n_before + t``).

    ``sums`` (carried) = (ΣR², Σ|r r|, Σ|r r r|^{4/3}, and the number of nonzero terms of each): a sum whose
    terms are all zero is exactly 0, not the rounding residue of the running update.
    """
    for j in range(start, x.shape[0]):
        g = n_before + j - start
        # recompute at multiples of the window, and while a NaN or infinite term is in the sums: a running
        # sum cannot take it out again (NaN - NaN, inf - inf), so the windows after it would stay NaN
        if g % window == 0 or not abs(sums[0]) + abs(sums[1]) + abs(sums[2]) < np.inf:
            lo = j - window + 1 if g >= window - 1 else j - g
            for k in range(6):
                sums[k] = 0.0
            for q in range(lo, j + 1):
                _add(sums, 0, x[q] * x[q], 1.0)
                if q - 1 >= lo:
                    _add(sums, 1, abs(x[q]) * abs(x[q - 1]), 1.0)
                if q - 2 >= lo:
                    _add(sums, 2, abs(x[q] * x[q - 1] * x[q - 2]) ** (4.0 / 3.0), 1.0)
        else:
            if g >= window:  # x[j - window] leaves the window
                o = j - window
                _add(sums, 0, x[o] * x[o], -1.0)
                _add(sums, 1, abs(x[o + 1]) * abs(x[o]), -1.0)
                _add(sums, 2, abs(x[o + 2] * x[o + 1] * x[o]) ** (4.0 / 3.0), -1.0)
            _add(sums, 0, x[j] * x[j], 1.0)
            if g >= 1:
                _add(sums, 1, abs(x[j]) * abs(x[j - 1]), 1.0)
            if g >= 2:
                _add(sums, 2, abs(x[j] * x[j - 1] * x[j - 2]) ** (4.0 / 3.0), 1.0)
        m = g + 1 if g + 1 < window else window
        if m < min_periods:
            out[j - start] = np.nan
        else:
            rv = sums[0] if sums[3] > 0.0 and sums[0] > 0.0 else 0.0
            bp = sums[1] if sums[4] > 0.0 and sums[1] > 0.0 else 0.0
            tq = sums[2] if sums[5] > 0.0 and sums[2] > 0.0 else 0.0
            out[j - start] = _z(m, rv, bp, tq, form, ht)


def _add_python(sums: Float64Array1D, k: int, term: float, sign: float) -> None:
    """Add (sign 1) or remove (sign -1) one term of sum ``k`` and count it when nonzero."""
    if term != 0.0:
        sums[k] += sign * term
        sums[k + 3] += sign


_add = jit(_add_python, nogil=True)
_bns_rolling = jit(_bns_rolling_python, nogil=True)


def _check_form(form: str, bv: str) -> tuple[int, bool]:
    if form not in _FORMS:
        raise ValueError(f"form must be one of {sorted(_FORMS)}, got {form!r}")
    if bv not in ("ht", "hf"):
        raise ValueError(f"bv must be 'ht' (Huang-Tauchen, M/(M-1)) or 'hf' (highfrequency), got {bv!r}")
    return _FORMS[form], bv == "ht"


def bns_test(returns: object, *, form: str = "ratio", bv: str = "ht", iq: str = "tp") -> float:
    """Return the BNS statistic of one window of returns (e.g. one session).

    Parameters
    ----------
    returns
        One-dimensional log returns on a calendar grid.
    form
        ``"ratio"`` (default), ``"log"`` or ``"linear"`` (see the module docstring).
    bv
        ``"ht"`` (bipower with M/(M-1), default) or ``"hf"`` (highfrequency's ``RBPVar``).
    iq
        Integrated quarticity estimator: ``"tp"`` (tripower, default) or ``"qp"`` (quad-power).

    Examples
    --------
    >>> r = [0.001, -0.002, 0.0015, 0.0005, -0.001, 0.012, -0.0008, 0.0011, -0.0004, 0.0009]
    >>> round(bns_test(r, bv="hf"), 6), round(bns_test(r), 6)
    (2.842047, 2.707582)
    """
    code, ht = _check_form(form, bv)
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got {r.ndim} dimensions")
    if iq not in ("tp", "qp"):
        raise ValueError(f"iq must be 'tp' or 'qp', got {iq!r}")
    m = r.size
    a = np.abs(r)
    rv = float(np.sum(r * r))
    bp = float(np.sum(a[1:] * a[:-1]))
    if iq == "tp":
        return float(_z(m, rv, bp, float(np.sum((a[2:] * a[1:-1] * a[:-2]) ** (4.0 / 3.0))), code, ht))
    if m < 4:
        return math.nan
    qp = m * (math.pi**2 / 4.0) * m / (m - 3) * float(np.sum(a[3:] * a[2:-1] * a[1:-2] * a[:-3]))
    # express QP through the TP slot: tp = m * MU43_M3 * m/(m-2) * tq  =>  tq = qp / (m * MU43_M3 * m/(m-2))
    return float(_z(m, rv, bp, qp / (m * _MU43_M3 * m / (m - 2)), code, ht))


def bns_stat(
    returns: object,
    window: int,
    *,
    form: str = "ratio",
    bv: str = "ht",
    min_periods: int | None = None,
) -> Float64Array1D:
    """Return the rolling BNS statistic (tripower quarticity) over the trailing ``window`` returns per bar.

    Parameters
    ----------
    returns
        One-dimensional log returns (overnight returns removed).
    window
        Returns per window (>= 3), e.g. the bars of one session.
    form, bv
        As in :func:`bns_test`.
    min_periods
        Fewest returns for a value (default ``max(3, window // 2)``); NaN before.

    Examples
    --------
    >>> r = [0.001, -0.002, 0.0015, 0.0005, -0.001, 0.012, -0.0008, 0.0011, -0.0004, 0.0009]
    >>> round(float(bns_stat(r, 10, bv="hf")[-1]), 6)
    2.842047
    """
    code, ht = _check_form(form, bv)
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got {r.ndim} dimensions")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 3:
        raise ValueError(f"window must be an integer >= 3, got {window!r}")
    mp = max(3, int(window) // 2) if min_periods is None else int(min_periods)
    if not 3 <= mp <= window:
        raise ValueError(f"min_periods must be in [3, window], got {mp}")
    out = np.empty(r.size)
    _bns_rolling(r, 0, 0, int(window), mp, code, ht, np.zeros(6), out)
    return out
