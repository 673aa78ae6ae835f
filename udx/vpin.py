r"""VPIN with bulk volume classification (Easley, López de Prado & O'Hara 2012), spec/signals.md §6.4.

Per bar i: close-to-close price change :math:`\Delta P_i` (the first bar of a session against the session's
opening print, so no overnight change enters), volume :math:`V_i`, buy fraction
:math:`\Phi(\Delta P_i/\sigma_{\Delta P})` (0.5 when :math:`\sigma_{\Delta P}` is 0 or NaN). Bars fill volume
buckets of size V in order; a bar larger than the room left spills into the next buckets with the same buy
fraction. A complete bucket has :math:`OI = |V^B - V^S| = |2V^B - V|`;
:math:`VPIN_\tau = \sum OI / \sum V` over the last n complete buckets (= :math:`\sum OI/(nV)` for constant
V), NaN until n buckets exist; the incomplete trailing bucket is excluded.

**Causal parameters (the transform).** V and :math:`\sigma_{\Delta P}` are frozen per session and come only
from **previous** sessions (up to :data:`HISTORY_SESSIONS` of them): V = mean session volume /
``buckets_per_day``, :math:`\sigma_{\Delta P}` = std (ddof 1) of the pooled bar price changes.

**Seasonality and thin trading (the transform).** The transform classifies with the price change of a
*tested* bar (:mod:`udx.seasonality`) divided by the square root of its profile-weighted elapsed time,
:math:`\Delta P_i/\sqrt{w_i}`, and estimates :math:`\sigma_{\Delta P}` from those scaled changes, so a bar at
the open is not classified more one-sidedly than one at midday, nor a bar after ten empty minutes more than
one after none. Bars that are not tested (no price-setting print, or a session's opening print alone) have
:math:`\Delta P = 0` (an even split) and do not count in sigma; their volume fills buckets as any other. During a
symbol's first session there is no V, hence no bucket and no VPIN. Buckets run across sessions (EPO); when a
new session's V is below the fill of the open bucket, that bucket closes at its fill.

**CDF.** ``vpin_cdf`` = the fraction of the previous ``cdf_window`` VPIN values that are <= the current one
(a causal empirical CDF, spec §6.2 option 1), NaN with fewer than :data:`CDF_MIN_HISTORY` of them.

**Per bar.** ``vpin`` / ``vpin_cdf`` are those of the last bucket completed at or before the bar's end.
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D

__all__ = ["CDF_MIN_HISTORY", "HISTORY_SESSIONS", "bvc_buy_fraction", "vpin"]

_NONE = -(2**63)
#: Previous sessions that set V and sigma_dP.
HISTORY_SESSIONS = 5
#: Fewest earlier VPIN values for a CDF value.
CDF_MIN_HISTORY = 50

# float bucket state: fill, buy volume, last vpin, last cdf
B_FILL, B_BUY, B_VPIN, B_CDF = range(4)
# int bucket state: complete buckets, VPIN values in history
B_NBUCKETS, B_NHIST = range(2)


def _phi_python(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


_phi = jit(_phi_python, nogil=True)


def _buckets_python(
    dp: Float64Array1D,
    volume: Float64Array1D,
    sigma: Float64Array1D,
    bucket: Float64Array1D,
    n: int,
    cdf_window: int,
    bf: Float64Array1D,
    bi: Int64Array1D,
    oi_ring: Float64Array1D,
    vol_ring: Float64Array1D,
    hist: Float64Array1D,
    out_vpin: Float64Array1D,
    out_cdf: Float64Array1D,
) -> None:
    """Fill buckets bar by bar (bucket size ``bucket[i]``, NaN or 0 = no bucketing); carry state in bf/bi."""
    for i in range(dp.shape[0]):
        v = bucket[i]
        if v > 0.0:
            s = sigma[i]
            frac = _phi(dp[i] / s) if s > 0.0 else 0.5
            rem = volume[i]
            while True:
                need = v - bf[B_FILL]
                if need <= 0.0 or rem >= need:
                    size = v
                    if need <= 0.0:
                        size = bf[B_FILL]
                    else:
                        bf[B_BUY] += need * frac
                        rem -= need
                    k = bi[B_NBUCKETS] % n
                    oi_ring[k] = abs(2.0 * bf[B_BUY] - size)
                    vol_ring[k] = size
                    bi[B_NBUCKETS] += 1
                    bf[B_FILL] = 0.0
                    bf[B_BUY] = 0.0
                    if bi[B_NBUCKETS] >= n:
                        so = 0.0
                        sv = 0.0
                        for q in range(n):
                            so += oi_ring[q]
                            sv += vol_ring[q]
                        x = so / sv
                        h = bi[B_NHIST] if bi[B_NHIST] < cdf_window else cdf_window
                        if h >= CDF_MIN_HISTORY:
                            c = 0
                            for q in range(h):
                                if hist[q] <= x:
                                    c += 1
                            bf[B_CDF] = c / h
                        else:
                            bf[B_CDF] = np.nan
                        bf[B_VPIN] = x
                        hist[bi[B_NHIST] % cdf_window] = x
                        bi[B_NHIST] += 1
                    if rem <= 0.0:
                        break
                else:
                    if rem > 0.0:
                        bf[B_BUY] += rem * frac
                        bf[B_FILL] += rem
                    break
        out_vpin[i] = bf[B_VPIN]
        out_cdf[i] = bf[B_CDF]


_buckets = jit(_buckets_python, nogil=True)


def _new_bucket_state(n: int, cdf_window: int) -> tuple[np.ndarray, ...]:
    bf = np.array([0.0, 0.0, np.nan, np.nan])
    bi = np.zeros(2, np.int64)
    return bf, bi, np.zeros(n), np.zeros(n), np.zeros(cdf_window)


def bvc_buy_fraction(dp: object, sigma: float) -> Float64Array1D:
    """Return the bulk-volume-classification buy fraction ``Phi(dp / sigma)`` (0.5 when sigma is 0 or NaN).

    Examples
    --------
    >>> [round(float(v), 6) for v in bvc_buy_fraction([0.02, 0.0], 0.0410007391)]
    [0.687153, 0.5]
    """
    d = np.ascontiguousarray(dp, dtype=np.float64)
    if not sigma > 0:
        return np.full(d.shape, 0.5)
    return np.array([_phi_python(float(v) / sigma) for v in d.ravel()]).reshape(d.shape)


def vpin(
    close: object,
    volume: object,
    bucket_volume: float,
    n: int = 50,
    *,
    sigma: float | None = None,
    cdf_window: int = 1000,
) -> tuple[Float64Array1D, Float64Array1D]:
    """Return ``(vpin, vpin_cdf)`` per bar for one series of bars with a constant bucket size.

    Parameters
    ----------
    close
        Bar closes ``P_0 .. P_N`` (the first is the reference price, no bar of its own).
    volume
        Bar volumes ``V_1 .. V_N`` (one fewer than ``close``), >= 0.
    bucket_volume
        Bucket size V (> 0).
    n
        Buckets per VPIN value (>= 1).
    sigma
        Standard deviation of the price changes; default: ``std(diff(close), ddof=1)`` (whole sample).
    cdf_window
        Earlier VPIN values the CDF ranks against.

    Returns
    -------
    tuple of numpy.ndarray
        VPIN and its empirical CDF as of each bar's end (NaN before the first complete VPIN).

    Examples
    --------
    >>> c = [100.00, 100.02, 100.01, 100.05, 100.04, 100.10, 100.08, 100.08, 100.15, 100.12, 100.20, 100.18,
    ...      100.25]
    >>> v, _ = vpin(c, [60, 30, 80, 50, 120, 40, 70, 90, 30, 60, 110, 60], 100.0, 3)
    >>> round(float(v[-1]), 6)
    0.30306
    """
    p = np.ascontiguousarray(close, dtype=np.float64)
    vol = np.ascontiguousarray(volume, dtype=np.float64)
    if p.ndim != 1 or vol.ndim != 1 or p.size != vol.size + 1:
        raise ValueError(f"close must be 1-d with one more value than volume, got {p.shape} and {vol.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(vol) & (vol >= 0))):
        raise ValueError("close must be finite and volume finite and >= 0")
    if not (bucket_volume > 0 and math.isfinite(bucket_volume)):
        raise ValueError(f"bucket_volume must be finite and > 0, got {bucket_volume}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if cdf_window < 1:
        raise ValueError(f"cdf_window must be >= 1, got {cdf_window}")
    dp = np.diff(p)
    s = float(np.std(dp, ddof=1)) if sigma is None else float(sigma)
    bf, bi, oi, vr, hist = _new_bucket_state(int(n), int(cdf_window))
    out_v = np.empty(dp.size)
    out_c = np.empty(dp.size)
    _buckets(dp, vol, np.full(dp.size, s), np.full(dp.size, float(bucket_volume)), int(n), int(cdf_window),
             bf, bi, oi, vr, hist, out_v, out_c)
    return out_v, out_c


def _session_params_python(
    dp: Float64Array1D,
    volume: Float64Array1D,
    tested: Float64Array1D,
    sess: Int64Array1D,
    buckets_per_day: float,
    cur: Int64Array1D,
    acc: Float64Array1D,
    ring: Float64Array1D,
    out_bucket: Float64Array1D,
    out_sigma: Float64Array1D,
) -> None:
    """Per bar, V and sigma frozen per session from previous sessions.

    ``cur`` = [current session open, finished sessions seen]; ``acc`` = the current session's
    [volume, n, Σdp, Σdp², V, sigma]; ``ring`` = HISTORY_SESSIONS rows of [volume, n, Σdp, Σdp²]. Every bar's
    volume counts; only bars with ``tested[i] == 1`` count in sigma (``dp`` is 0 on the others).
    """
    for i in range(dp.shape[0]):
        if sess[i] != cur[0]:
            if cur[0] != _NONE:
                k = cur[1] % HISTORY_SESSIONS
                for q in range(4):
                    ring[4 * k + q] = acc[q]
                cur[1] += 1
            cur[0] = sess[i]
            h = cur[1] if cur[1] < HISTORY_SESSIONS else HISTORY_SESSIONS
            vs = 0.0
            nn = 0.0
            s1 = 0.0
            s2 = 0.0
            for k in range(h):
                vs += ring[4 * k]
                nn += ring[4 * k + 1]
                s1 += ring[4 * k + 2]
                s2 += ring[4 * k + 3]
            acc[4] = vs / h / buckets_per_day if h > 0 else np.nan
            var = (s2 - s1 * s1 / nn) / (nn - 1.0) if nn > 1.0 else np.nan
            acc[5] = math.sqrt(var) if var > 0.0 else (0.0 if var == var else np.nan)
            for q in range(4):
                acc[q] = 0.0
        acc[0] += volume[i]
        acc[1] += tested[i]
        acc[2] += dp[i]
        acc[3] += dp[i] * dp[i]
        out_bucket[i] = acc[4]
        out_sigma[i] = acc[5]


_session_params = jit(_session_params_python, nogil=True)
