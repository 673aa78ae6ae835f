r"""ACD(1,1) (Engle & Russell 1998) on diurnally adjusted trade durations, spec/signals.md §5.

Model: :math:`\tilde x_i = \psi_i \varepsilon_i`, :math:`E\varepsilon = 1`,
:math:`\psi_i = \omega + \alpha\tilde x_{i-1} + \beta\psi_{i-1}`. The exponential QMLE
(:math:`\ell = \sum_i -\ln\psi_i - \tilde x_i/\psi_i`) is the Gaussian QMLE of a zero-mean GARCH(1,1) on
:math:`\sqrt{\tilde x}` (spec §5.2), so :func:`fit_acd` is :mod:`udx.garch`'s fit on ``e2 = x`` with arch's
initialisation :math:`\psi_0 = \omega + (\alpha+\beta) b` (b = arch's EWMA backcast); ``loglik`` is the
exponential one, :math:`\ell_{exp} = 2\ell_{Gauss} + T\ln 2\pi`.

**Events and durations (the transform).** Trades with the same timestamp are one event (ACDm
``rm0dur=TRUE``), so durations are > 0. Durations are measured between consecutive events of one session;
the first event of a session starts the clock (overnight gaps are not durations). Only trades inside
emitted bars count.

**Diurnal adjustment (causal).** The session is cut into bins of ``bin_seconds`` (default 1800 s). The
profile :math:`\varphi_b` is the mean raw duration (seconds) of the spells that *started* in bin ``b`` over
**previous** sessions, each earlier session down-weighted by :data:`PROFILE_DECAY` per session; a bin
without history uses the profile's overall mean. :math:`\tilde x_i = x_i/\varphi(t_{i-1})`, evaluated at
the start of the spell (Engle-Russell). Before the first session has completed there is no profile and no
adjusted duration: ACD outputs are NaN during a symbol's first session.

**Filter and refits.** :math:`\psi` runs across sessions (the overnight gap is not a duration). Until a fit
exists, :math:`\psi_{next} = 0.94\,\psi + 0.06\,\tilde x` from :math:`\psi = 1` (adjusted durations have
mean about 1). The transform refits at the first event of a session once at least ``acd_min_obs`` adjusted
durations exist, on the trailing ``acd_window`` of them, and continues :math:`\psi` from the new fit run
over that window.

**Per bar.** ``conditional_duration`` = :math:`\psi_{next}\cdot\varphi(t_{last})` in seconds: the expected
time to the next event as known at the bar's last event (carried over bars without events).
``acd_surprise`` = mean of :math:`\tilde x_i/\psi_i` over the durations that *end* in the bar (NaN when
none); 1 on average, large when trading pauses unexpectedly, small in bursts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D
from udx.garch import GarchFit, _fit_e2, _loglik_grad, _prepare

__all__ = ["PROFILE_DECAY", "AcdFit", "acd_psi", "fit_acd"]

#: Weight of the previous profile when a finished session is folded into the diurnal profile.
PROFILE_DECAY = 0.8
_LN2PI = math.log(2.0 * math.pi)

# float state vector of the event kernel
F_PSI_NEXT, F_OMEGA, F_ALPHA, F_BETA, F_COND = range(5)
# int state vector of the event kernel
I_SESSION, I_LAST_T, I_FIT_SESSION, I_N_ADJ = range(4)
_NONE = np.iinfo(np.int64).min
_NO_END = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class AcdFit(GarchFit):
    """A fitted ACD(1,1); ``loglik`` is the exponential QMLE log-likelihood (see :class:`GarchFit`)."""


def _as_durations(durations: object) -> Float64Array1D:
    x = np.ascontiguousarray(durations, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"durations must be one-dimensional, got {x.ndim} dimensions")
    if x.size < 2:
        raise ValueError(f"durations must hold at least 2 values, got {x.size}")
    if not np.all(np.isfinite(x) & (x >= 0)):
        raise ValueError("durations must be finite and >= 0")
    return x


def _fit_x(x: Float64Array1D) -> AcdFit:
    g = _fit_e2(x, float(np.var(np.sqrt(x))))
    return AcdFit(g.omega, g.alpha, g.beta, 2.0 * g.loglik + g.n_obs * _LN2PI, g.converged, g.n_obs, g.scale,
                  g.backcast, g.iterations)


def fit_acd(durations: object) -> AcdFit:
    """Fit an ACD(1,1) by exponential QMLE (equivalently GARCH(1,1) on ``sqrt(durations)``, spec §5.2).

    Parameters
    ----------
    durations
        Positive durations (diurnally adjusted or not; any unit). At least 500 are advisable (spec §5.5).

    Returns
    -------
    AcdFit
        ``omega`` (in the durations' unit), ``alpha``, ``beta``, exponential ``loglik``, ``converged``.

    Examples
    --------
    >>> x = np.random.default_rng(1).exponential(2.0, 2000)
    >>> fit = fit_acd(x)
    >>> fit.converged and 1.5 < fit.omega / (1 - fit.alpha - fit.beta) < 2.5
    True
    """
    return _fit_x(_as_durations(durations))


def acd_psi(durations: object, omega: float, alpha: float, beta: float) -> tuple[Float64Array1D, float]:
    """Return the conditional expected durations ``psi`` (arch's initialisation) and the exponential ℓ."""
    x = _as_durations(durations)
    if not (omega > 0 and alpha >= 0 and beta >= 0):
        raise ValueError(f"need omega > 0, alpha >= 0, beta >= 0, got {omega}, {alpha}, {beta}")
    b, lower, upper = _prepare(x, float(np.var(np.sqrt(x))))
    psi = np.empty(x.size)
    ll = float(_loglik_grad(float(omega), float(alpha), float(beta), x, b, lower, upper, psi, np.empty(3)))
    return psi, 2.0 * ll + x.size * _LN2PI


def _acd_events_python(
    ev_ts: Int64Array1D,
    ev_sess: Int64Array1D,
    ev_bar: Int64Array1D,
    start: int,
    bin_ns: int,
    min_obs: int,
    sf: Float64Array1D,
    si: Int64Array1D,
    prof_sum: Float64Array1D,
    prof_cnt: Float64Array1D,
    cur_sum: Float64Array1D,
    cur_cnt: Float64Array1D,
    out_adj: Float64Array1D,
    bar_cond: Float64Array1D,
    bar_sur_sum: Float64Array1D,
    bar_sur_n: Int64Array1D,
) -> int:
    """Process events from ``start``; return the index of an event that needs a refit first, or len.

    Events are time-ordered, so the diurnal bin of the current event only moves forward inside a session: it
    is advanced bin by bin against its end instead of divided out per event, and its profile value is looked
    up only when the bin or the session changes (the profile changes between sessions only).
    """
    nb = prof_sum.shape[0]
    phi_all = _phi_mean(prof_sum, prof_cnt)
    # the bin of the last event (the start of the running spell), its end and its profile value
    bn = 0
    bin_end = _NO_END
    phi_now = np.nan
    if si[I_SESSION] != _NONE:
        bn, bin_end = _bin_of(si[I_LAST_T], si[I_SESSION], bin_ns, nb)
        phi_now = _phi_or(prof_sum, prof_cnt, bn, phi_all)
    for e in range(start, ev_ts.shape[0]):
        t = ev_ts[e]
        o = ev_sess[e]
        j = ev_bar[e]
        if o != si[I_SESSION]:
            if si[I_N_ADJ] >= min_obs and si[I_FIT_SESSION] != o:
                return e  # the caller refits on the window, sets I_FIT_SESSION = o and calls again
            if si[I_SESSION] != _NONE:
                for b in range(nb):
                    prof_sum[b] = PROFILE_DECAY * prof_sum[b] + cur_sum[b]
                    prof_cnt[b] = PROFILE_DECAY * prof_cnt[b] + cur_cnt[b]
                    cur_sum[b] = 0.0
                    cur_cnt[b] = 0.0
                phi_all = _phi_mean(prof_sum, prof_cnt)
            si[I_SESSION] = o
            si[I_LAST_T] = t
            out_adj[e] = np.nan
            bn, bin_end = _bin_of(t, o, bin_ns, nb)
            phi_now = _phi_or(prof_sum, prof_cnt, bn, phi_all)
        else:
            x = (t - si[I_LAST_T]) / 1e9
            b = bn  # the spell started at the previous event, in the current bin
            phi = phi_now
            cur_sum[b] += x
            cur_cnt[b] += 1.0
            si[I_LAST_T] = t
            if phi > 0.0:
                xa = x / phi
                out_adj[e] = xa
                psi = sf[F_PSI_NEXT]
                bar_sur_sum[j] += xa / psi
                bar_sur_n[j] += 1
                if math.isnan(sf[F_OMEGA]):
                    sf[F_PSI_NEXT] = 0.94 * psi + (1.0 - 0.94) * xa
                else:
                    sf[F_PSI_NEXT] = sf[F_OMEGA] + sf[F_ALPHA] * xa + sf[F_BETA] * psi
                si[I_N_ADJ] += 1
            else:
                out_adj[e] = np.nan
            if t >= bin_end:
                while t >= bin_end:
                    bn += 1
                    bin_end = _NO_END if bn == nb - 1 else bin_end + bin_ns
                phi_now = _phi_or(prof_sum, prof_cnt, bn, phi_all)
        sf[F_COND] = sf[F_PSI_NEXT] * phi_now if phi_now > 0.0 else np.nan
        bar_cond[j] = sf[F_COND]
    return ev_ts.shape[0]


def _bin_of_python(t: int, session_open: int, bin_ns: int, nb: int) -> tuple[int, int]:
    """Diurnal bin of time ``t`` (the last bin takes the rest of the session) and that bin's end."""
    b = min((t - session_open) // bin_ns, nb - 1)
    return b, (_NO_END if b == nb - 1 else session_open + (b + 1) * bin_ns)


def _phi_or_python(prof_sum: Float64Array1D, prof_cnt: Float64Array1D, b: int, phi_all: float) -> float:
    """Profile mean duration of bin ``b``, or ``phi_all`` (the overall mean) when the bin is empty."""
    return prof_sum[b] / prof_cnt[b] if prof_cnt[b] > 0.0 else phi_all


def _phi_mean_python(prof_sum: Float64Array1D, prof_cnt: Float64Array1D) -> float:
    """The overall profile mean duration (NaN without any)."""
    s = 0.0
    c = 0.0
    for k in range(prof_sum.shape[0]):
        s += prof_sum[k]
        c += prof_cnt[k]
    return s / c if c > 0.0 else np.nan


_phi_mean = jit(_phi_mean_python, nogil=True)
_bin_of = jit(_bin_of_python, nogil=True)
_phi_or = jit(_phi_or_python, nogil=True)
_acd_events = jit(_acd_events_python, nogil=True)


def _events_in_bars_python(ts: Int64Array1D, bar_end: Int64Array1D, bar_sess: Int64Array1D,
                           ev_ts: Int64Array1D, ev_bar: Int64Array1D, ev_sess: Int64Array1D) -> int:
    """Fill ``ev_ts``/``ev_bar``/``ev_sess`` with the distinct trade times inside the bars (``bar_sess[j] <= t <
    bar_end[j]``, j the first bar ending after t), their bar and its session; return how many (merge walk over
    sorted times, the same as ``searchsorted(bar_end, ts, "right")`` and the session filter)."""
    m = bar_end.shape[0]
    j = 0
    n = 0
    last = 0
    for i in range(ts.shape[0]):
        t = ts[i]
        while j < m and bar_end[j] <= t:
            j += 1
        if j >= m:
            break
        if t < bar_sess[j] or (n > 0 and t == last):
            continue
        ev_ts[n] = t
        ev_bar[n] = j
        ev_sess[n] = bar_sess[j]
        last = t
        n += 1
    return n


_events_in_bars = jit(_events_in_bars_python, nogil=True)


def _bar_outputs_python(ev_bar: Int64Array1D, cond: Float64Array1D, prev_cond: float, sur_sum: Float64Array1D,
                        sur_n: Int64Array1D, out_cond: Float64Array1D, out_sur: Float64Array1D) -> None:
    """Per bar: the conditional duration of the bar's last event, carried over bars without events (from
    ``prev_cond`` before the first), and the mean surprise of the durations ending in it (NaN without)."""
    m = cond.shape[0]
    has = np.zeros(m, np.bool_)
    for e in range(ev_bar.shape[0]):
        has[ev_bar[e]] = True
    carry = prev_cond
    for j in range(m):
        if has[j]:
            carry = cond[j]
        out_cond[j] = carry
        out_sur[j] = sur_sum[j] / sur_n[j] if sur_n[j] > 0 else np.nan


_bar_outputs = jit(_bar_outputs_python, nogil=True)


def _keep_last_valid_python(kept_x: Float64Array1D, kept_t: Int64Array1D, adj: Float64Array1D,
                            ev_ts: Int64Array1D, lo: int, hi: int, cap: int) -> tuple[Float64Array1D, Int64Array1D]:
    """The last ``cap`` of ``kept_x`` followed by the non-NaN ``adj[lo:hi]``, with their event times: the
    trailing window of adjusted durations that a refit uses (only the newest ``cap`` are ever needed)."""
    n_new = 0
    first = hi
    while first > lo and n_new < cap:
        first -= 1
        if adj[first] == adj[first]:
            n_new += 1
    n_old = min(kept_x.shape[0], cap - n_new)
    out_x = np.empty(n_old + n_new)
    out_t = np.empty(n_old + n_new, np.int64)
    out_x[:n_old] = kept_x[kept_x.shape[0] - n_old:]
    out_t[:n_old] = kept_t[kept_t.shape[0] - n_old:]
    k = n_old
    for q in range(first, hi):
        if adj[q] == adj[q]:
            out_x[k] = adj[q]
            out_t[k] = ev_ts[q]
            k += 1
    return out_x, out_t


_keep_last_valid = jit(_keep_last_valid_python, nogil=True)

