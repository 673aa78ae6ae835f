r"""VPIN with Lee-Ready trade classification beside the bulk-volume one (:mod:`udx.vpin`).

Easley, López de Prado & O'Hara (2012) fill volume buckets of size V with the volume in time order and take
:math:`VPIN_\tau = \sum |V^B - V^S| / \sum V` over the last n complete buckets. Here each **trade's** volume
is classified by its own Lee-Ready side (:mod:`udx.trade_sign`) instead of a bar's bulk fraction
:math:`\Phi(\Delta P/\sigma)`: a buy (+1) puts its whole size on :math:`V^B`, a sell (-1) on :math:`V^S`, an
unsigned trade (0) half on each (as BVC splits a bar without a price change). A trade larger than the room
left spills into the next buckets with its side. NaN until n buckets are complete; the open bucket is
excluded.

**Same buckets as BVC.** The transform passes, per bar, the bucket size V of the BVC VPIN (frozen per session
from earlier sessions, NaN during a symbol's first session: no bucket then, and the trades of such bars are
not bucketed) and the same window n. As in :func:`udx.vpin._buckets`, when a bar's V is below the fill of the
open bucket, that bucket closes at its fill before the bar's trades are added.

**Per bar.** ``vpin_lee_ready`` is the VPIN of the last bucket completed at or before the bar's end.

**Incremental.** The open bucket (fill, buy volume), the last VPIN, the count of complete buckets and the
rings of the last n buckets' imbalance and volume are carried (:func:`new_state`), so bars fed in pieces give
the values of one pass.
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D

__all__ = ["new_state", "vpin_lee_ready", "vpin_lee_ready_bars", "vpin_lee_ready_step"]

# float state: fill of the open bucket, its buy volume, last VPIN
F_FILL, F_BUY, F_VPIN = range(3)


def _close_bucket_python(size: float, n: int, f: Float64Array1D, i: Int64Array1D, oi_ring: Float64Array1D,
                         vol_ring: Float64Array1D) -> None:
    """Close the open bucket at ``size``; set the VPIN once n buckets are complete."""
    k = i[0] % n
    oi_ring[k] = abs(2.0 * f[F_BUY] - size)
    vol_ring[k] = size
    i[0] += 1
    f[F_FILL] = 0.0
    f[F_BUY] = 0.0
    if i[0] >= n:
        so = 0.0
        sv = 0.0
        for q in range(n):
            so += oi_ring[q]
            sv += vol_ring[q]
        f[F_VPIN] = so / sv


_close_bucket = jit(_close_bucket_python, nogil=True)


def _lr_buckets_python(
    bar_of_trade: Int64Array1D, side: np.ndarray, size: Float64Array1D, bucket: Float64Array1D, n: int,
    f: Float64Array1D, i: Int64Array1D, oi_ring: Float64Array1D, vol_ring: Float64Array1D,
    out: Float64Array1D,
) -> None:
    """Fill buckets trade by trade (trades sorted by their bar ``bar_of_trade``); ``out`` per bar."""
    t = 0
    n_trades = size.shape[0]
    for b in range(bucket.shape[0]):
        v = bucket[b]
        if v > 0.0 and f[F_FILL] >= v:
            _close_bucket(f[F_FILL], n, f, i, oi_ring, vol_ring)
        while t < n_trades and bar_of_trade[t] == b:
            rem = size[t]
            s = side[t]
            frac = 1.0 if s > 0 else (0.0 if s < 0 else 0.5)
            t += 1
            if not v > 0.0:
                continue
            while rem > 0.0:
                need = v - f[F_FILL]
                if rem >= need:
                    f[F_BUY] += need * frac
                    rem -= need
                    _close_bucket(v, n, f, i, oi_ring, vol_ring)
                else:
                    f[F_BUY] += rem * frac
                    f[F_FILL] += rem
                    rem = 0.0
        out[b] = f[F_VPIN]


_lr_buckets = jit(_lr_buckets_python, nogil=True)


def new_state(n: int) -> dict[str, np.ndarray]:
    """The carried arrays of a series that has seen nothing: ``f`` (fill, buy, last VPIN), ``i`` (complete
    buckets) and the rings ``oi`` / ``vol`` of length ``n``."""
    return {"f": np.array([0.0, 0.0, np.nan]), "i": np.zeros(1, np.int64), "oi": np.zeros(n), "vol": np.zeros(n)}


def vpin_lee_ready_bars(bar_of_trade: np.ndarray, side: np.ndarray, size: np.ndarray, bucket: np.ndarray,
                        n: int, state: dict[str, np.ndarray]) -> Float64Array1D:
    """VPIN-LR at each bar's end, carrying ``state`` (:func:`new_state`, changed in place); no validation.

    ``bar_of_trade`` (sorted, ``int64``) indexes ``bucket`` (V per bar, NaN or 0: no bucketing); ``side`` is
    Lee-Ready's +1/-1/0 and ``size`` the volume each trade counts for.
    """
    out = np.empty(bucket.size)
    _lr_buckets(np.ascontiguousarray(bar_of_trade, np.int64), np.ascontiguousarray(side, np.int8),
                np.ascontiguousarray(size, np.float64), np.ascontiguousarray(bucket, np.float64), int(n),
                state["f"], state["i"], state["oi"], state["vol"], out)
    return out


def vpin_lee_ready_step(arrays: dict[str, np.ndarray], bar_start_ns: np.ndarray, bar_end_ns: np.ndarray,
                        ts: np.ndarray, side: np.ndarray, size: np.ndarray, bucket: np.ndarray,
                        n: int) -> Float64Array1D:
    """VPIN-LR of the bars ``[bar_start_ns, bar_end_ns)`` from their trades (``ts`` sorted, all before the last
    end), carrying the state in ``arrays`` under ``liq_vlr_*`` keys (added when missing; changed in place).

    A print outside every bar (between sessions) fills no bucket, as it counts in no bar's volume: the BVC VPIN
    whose buckets these are sees only bar volume, and a run resumed after retention archived the day before
    reads no prints from before its first bar.
    """
    state = {key: arrays.setdefault(f"liq_vlr_{key}", value) for key, value in new_state(n).items()}
    bar_of_trade = np.searchsorted(bar_end_ns, ts, side="right")
    inside = bar_start_ns[np.minimum(bar_of_trade, bar_end_ns.size - 1)] <= ts
    return vpin_lee_ready_bars(bar_of_trade, side, np.where(inside, size, 0.0), bucket, n, state)


def vpin_lee_ready(side: object, size: object, bucket_volume: float, n: int = 50) -> Float64Array1D:
    r"""Return the VPIN after each trade, each trade's volume classified by its Lee-Ready side.

    Parameters
    ----------
    side
        Per trade +1 (buy), -1 (sell) or 0 (unknown: half each), in time order
        (:func:`udx.trade_sign.lee_ready`).
    size
        Per trade volume, finite and >= 0.
    bucket_volume
        Bucket size V (> 0).
    n
        Buckets per VPIN value (>= 1).

    Returns
    -------
    numpy.ndarray
        :math:`\sum |V^B - V^S| / (nV)` over the last n complete buckets as of each trade (NaN before n).

    Raises
    ------
    ValueError
        Unequal lengths, a side outside {-1, 0, 1}, a bad size, V or n.

    Examples
    --------
    >>> [round(float(v), 6) for v in vpin_lee_ready([1, -1, 1, 0, 1], [60, 60, 50, 40, 30], 100.0, 2)]
    [nan, nan, nan, 0.25, 0.25]
    """
    s = np.ascontiguousarray(side, dtype=np.float64)
    v = np.ascontiguousarray(size, dtype=np.float64)
    if s.ndim != 1 or v.shape != s.shape:
        raise ValueError(f"side and size must be 1-d of one length, got {s.shape} and {v.shape}")
    if not bool(np.all((s == 1) | (s == 0) | (s == -1))):
        raise ValueError("side must hold only +1, -1 or 0")
    if not bool(np.all(np.isfinite(v) & (v >= 0))):
        raise ValueError("size must be finite and >= 0")
    if not (bucket_volume > 0 and math.isfinite(bucket_volume)):
        raise ValueError(f"bucket_volume must be finite and > 0, got {bucket_volume}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    # one "bar" per trade: the per-bar output is then the value after each trade
    return vpin_lee_ready_bars(np.arange(s.size), s.astype(np.int8), v, np.full(s.size, float(bucket_volume)),
                               int(n), new_state(int(n)))
