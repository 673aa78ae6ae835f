r"""Intraday seasonality and thin trading: which bars are tested, their returns in units of one average bar,
the time-of-day volatility profile (Boudt, Croux & Laurent 2011) and the time-of-day trade-intensity baseline.

**Tested bars and scaled returns.** A bar is *priced* when it holds at least one print that may set the
last-sale price (:mod:`udx.bars`). Only priced bars carry a return that says something about the price: a bar
without one only repeats the previous close. The return of a priced bar ``i`` runs from the reference point
``(t_ref, P_ref)`` (the last price-setting print of the session's previous priced bar, or the session's opening
print for its first bar) to its own last price-setting print ``(t_i, close_i)``: ``r_i = ln close_i - ln P_ref``.
Its variance under the null is proportional to the volatility profile integrated over the time that really
elapsed between those two prints (not between bar ends: with a few prints a minute the last print of a bar
may come early or late, and bar-end times would mix returns of very different variance),

.. math::

    w_i = \frac{1}{\Delta}\int_{t_{ref}}^{t_i} f(t)^2\,dt, \qquad u_i = r_i / \sqrt{w_i},

with ``f`` piecewise constant per bar position of the session (mean square 1 over a session) and Δ the bar
length, so ``u_i`` is a return in units of one average bar, whatever the time of day and however many empty
bars preceded it. Lee-Mykland, BNS and GARCH run on the series of ``u`` of the *tested* bars only: every priced
bar with time elapsed since its reference print (so not a session's first bar when its only price-setting
print is the opening print itself, whose return is 0 by construction). This keeps the previous-tick
calendar-time sampling of Lee & Mykland (2008) but measures the return of a stale interval over its true elapsed
time instead of testing the zero returns of empty bars, and applies the intraday volatility normalisation of
Andersen & Bollerslev (1997) and Boudt, Croux & Laurent (2011, *J. Empirical Finance* 18(2):353-367) ahead of
the jump test. A bar without a price-setting print is never tested and never flagged.

**Noise floor.** A return over less than :data:`MIN_ELAPSED_BARS` (half a bar) is scaled as over half a bar at
the profile's mean level over its own span (``w_i`` times ``0.5 / e_i``, ``e_i`` the elapsed bars), and it does
not enter the profile. The bid-ask bounce between two prints a few seconds apart does not shrink with the time
between them: divided by the square root of a few seconds it made such returns (a thin symbol's burst of
prints straddling a bar end, a session's first bar measured from its opening print) the source of most false
jumps (at 0.25 prints a minute, 21 of 25 flags came from returns over less than 6 s, whose L had a standard
deviation of 1.9) and of many of the open's momentum signals.

**Profile (jump-robust, causal).** At the start of each session the profile is re-estimated from the previous
``sessions`` finished sessions only. Each finished session is reduced to six sums per time-of-day bucket of
``bucket_bars`` bars:

1. the session's tested returns per unit of elapsed time, ``y_i = r_i / sqrt(e_i)`` (``e_i`` the elapsed time
   in bars), are standardised by the session's own bipower scale (BCL's daily standardisation) *left out of
   their bucket*: ``s_j^2 = (π/2) Σ|y_k||y_{k-1}| / m`` over the ``m`` consecutive pairs of the session that
   hold no return of bucket ``j``, ``z = y / s_j``. A session with fewer than :data:`MIN_SESSION_RETURNS`
   tested returns contributes nothing, nor does a bucket with fewer than ``MIN_SESSION_RETURNS - 1`` pairs
   outside it. With the whole session's scale a thin symbol's few large open returns were a large part of
   its own scale and shrank themselves (at 0.25 prints a minute the open's momentum z had a standard deviation
   of 1.14-1.19 five to fifteen minutes after the open against 1.01 at midday);
2. first stage: per bucket, ``Σ|z_k||z_{k-1}|`` over consecutive tested returns of the same bucket and their
   count (a bipower scale ``σ̂_j = sqrt((π/2) ΣBP/N)``, pooled over the ring including this session; BCL use
   the shortest half, which needs every return of every session kept; bipower needs two sums). A bucket with
   fewer than :data:`MIN_BUCKET_PAIRS` pairs (a thin symbol, whose consecutive returns rarely share a bucket)
   takes its mean absolute return ``sqrt(π/2) Σ|z|/N`` instead, and only a bucket with too few returns of
   either kind the daily scale: truncating a thin symbol's open at the daily scale cut off its legitimately
   large returns and flattened the profile there (at 0.25 prints a minute the first two minutes' variance came
   out 2.4× too low with the daily scale, 1.8× with the mean absolute return);
3. second stage (BCL's weighted standard deviation): ``Σ w z²`` and ``Σ w`` with
   ``w = 1{(z/σ̂_j)² <= 6.635}`` (the 99 % point of χ²(1)), so a jump never enters the profile.

The profile is then ``WSD_j = sqrt(1.081 · Σ w z² / Σ w)`` per bucket (1.081 makes the truncated second
moment consistent under normality), a bucket with fewer than :data:`MIN_BUCKET_OBS` weighted returns pools its
neighbours, widening both ways until it has enough (a thin symbol's open borrows from the next minutes rather
than taking their value). Between bucket centres the profile is linear (and extended linearly past the first and
last centre, not below half the edge bucket), so the first minutes of a steep open are not flattened to the
bucket's average; the buckets are scaled so that the profile has mean square one over the session's bars.
**Fallback:** until ``min_sessions`` sessions have finished, or when no bucket has enough returns, the profile
is flat (``f = 1``): the statistics then behave as without seasonality adjustment.

**Time-of-day intensity baseline.** The spec's preferred variant (signals §7), made a calibrated statistic for
counts (:mod:`udx.count_z`): the count of bar ``t`` is compared with the counts of the previous ``sessions``
sessions at the bar positions within ``half`` (half a profile bucket) of its own, each session's first bar left
out (the session starts at its first price-setting print, so that bar holds at least one print; the positions
before it were not reached and are not counts of 0). Their mean ``m`` and variance (ddof 1, at least ``m``,
times ``1 + 1/K`` for the estimated mean over ``K`` counts) define a negative binomial (a Poisson when not
overdispersed) and the z-score is the normal quantile of the count's mid-p upper tail; a session's own first bar
is compared with that law conditioned on at least one print. A Gaussian ``(n - m)/s`` of sparse counts fired
with whatever probability the smallest count above ``m + 2s`` had, which grew with the rate: at 0.25 prints a
minute the busier open had 2.9 times midday's BUY/SELL rate on a null market (8 % of the open's bars had an
intensity z >= 2, 4 % of midday's, against 2.3 %), 1.2 times with this statistic. With fewer than
``intensity_min_sessions`` finished sessions the pipeline falls back to the trailing baseline of
:mod:`udx.intensity`. Counts are kept as ``uint16`` and saturate at 65,533 prints per bar.

**Tests per session.** The number of tested bars of each finished session is kept (a ring of ``sessions``),
and the Lee-Mykland critical value of a session is the one for their mean (:func:`tests_per_session`).
"""

from __future__ import annotations

import math

import numpy as np

from udx._jit import jit
from udx._typing import Float64Array1D, Int64Array1D
from udx.count_z import _midp_z

__all__ = ["FIRST_BAR", "MIN_BUCKET_OBS", "MIN_ELAPSED_BARS", "MIN_SESSION_RETURNS", "NOT_STARTED", "TRUNCATION",
           "WSD_CONSISTENCY", "count_baseline", "profile_by_bar", "tests_per_session"]

#: χ²(1) 99 % point: a standardised return beyond its square root gets weight 0 in the profile.
TRUNCATION = 6.635
#: 1 / E[z² | z² <= 6.635] under N(0, 1): makes the truncated second moment consistent (BCL 2011).
WSD_CONSISTENCY = 1.081
#: Shortest elapsed time (in bars) a return is scaled over: a shorter one is scaled as over this span at the
#: profile's mean level over its own span (bid-ask bounce does not shrink with elapsed time).
MIN_ELAPSED_BARS = 0.5
#: Fewest weighted returns in a bucket (over the ring) for its own profile value.
MIN_BUCKET_OBS = 20
#: Fewest tested returns for a session to be standardised and enter the profile.
MIN_SESSION_RETURNS = 10
#: Fewest first-stage pairs in a bucket to truncate relative to its bipower scale (else to its mean absolute
#: return when it has as many returns, else to the daily scale).
MIN_BUCKET_PAIRS = 10
_HALF_PI = math.pi / 2.0
_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)
#: Sums kept per bucket and session (see :func:`_finish_session_python`).
_W = 6
_NONE = -(2**63)
#: A bar position the session had not reached (before its first price-setting print): not a count of 0.
NOT_STARTED = 65535
#: The session's first bar (it holds the opening print, so its count is at least 1): not in the baseline.
FIRST_BAR = 65534
_COUNT_MAX = FIRST_BAR - 1

# int state: session open, finished sessions, time of the reference print, tested bars of the session so far
S_SESSION, S_FINISHED, S_TREF, S_TESTED = range(4)
# float state: reference price
F_REF = 0


def _factor_at_python(f: Float64Array1D, bucket_bars: int, n_pos: int, p: int) -> float:
    """The profile at bar position ``p``: linear through the buckets' centres, extended linearly past the first
    and last centre with the slope of the two nearest buckets (not below half the edge bucket's value)."""
    nb = f.shape[0]
    if nb == 1:
        return f[0]
    x = p + 0.5  # the middle of the bar, in bar units from the open
    b = int(x // bucket_bars)
    if b > nb - 1:
        b = nb - 1
    centre = (b * bucket_bars + min((b + 1) * bucket_bars, n_pos)) / 2.0
    if x < centre:
        lo = b - 1 if b > 0 else 0
    else:
        lo = b if b < nb - 1 else nb - 2
    hi = lo + 1
    c_lo = (lo * bucket_bars + min((lo + 1) * bucket_bars, n_pos)) / 2.0
    c_hi = (hi * bucket_bars + min((hi + 1) * bucket_bars, n_pos)) / 2.0
    v = f[lo] + (f[hi] - f[lo]) * (x - c_lo) / (c_hi - c_lo)
    edge = f[0] if x < c_lo else f[nb - 1]
    floor = 0.5 * edge
    if (x < c_lo or x > c_hi) and v < floor:
        return floor
    return v


_factor_at = jit(_factor_at_python, nogil=True)


def _by_bar_python(f: Float64Array1D, bucket_bars: int, out: Float64Array1D) -> None:
    """The profile at every bar position of a session (``out``, one value per position)."""
    for p in range(out.shape[0]):
        out[p] = _factor_at(f, bucket_bars, out.shape[0], p)


_by_bar = jit(_by_bar_python, nogil=True)


def profile_by_bar(f: Float64Array1D, bucket_bars: int, n_pos: int) -> Float64Array1D:
    """The per-bucket profile ``f`` evaluated at each of the ``n_pos`` bar positions of a session."""
    out = np.empty(n_pos)
    _by_bar(f, bucket_bars, out)
    return out


def _walk_python(
    bar_end: Int64Array1D, sess: Int64Array1D, n_priced: Int64Array1D, last_ts: Int64Array1D,
    n_trades: Int64Array1D,
    close: Float64Array1D, bar_ns: int, i0: int, f_bar: Float64Array1D, y_cur: Float64Array1D,
    base_mean: Float64Array1D, base_var: Float64Array1D, cnt_cur: np.ndarray, depth: int, int_min: int,
    si: Int64Array1D,
    sf: Float64Array1D, out_tested: np.ndarray, out_u: Float64Array1D, out_w: Float64Array1D,
    out_ref: Float64Array1D, out_tod_z: Float64Array1D, out_tod_ok: np.ndarray,
) -> int:
    """Walk bars from ``i0`` within the current session; return the first bar of another session (or len).

    Per bar: tested flag, ``u``, ``w`` and the reference price of its return; the time-of-day intensity z
    against the session's baseline (:func:`_count_baseline`). Records the session's ``y`` and counts by bar
    position in ``y_cur`` / ``cnt_cur``.
    """
    m = bar_end.shape[0]
    n_pos = y_cur.shape[0]
    o = si[S_SESSION]
    for i in range(i0, m):
        if sess[i] != o:
            return i
        pos = (bar_end[i] - 1 - o) // bar_ns
        if pos >= n_pos:
            pos = n_pos - 1
        c = n_trades[i]
        first = pos == 0 or cnt_cur[pos - 1] == NOT_STARTED  # bars are contiguous from the session's first
        cnt_cur[pos] = FIRST_BAR if first else (c if c < _COUNT_MAX else _COUNT_MAX)
        # time-of-day intensity: the count's mid-p z under the baseline of the earlier sessions (for the first
        # bar, which holds the opening print, under the law of a count of at least one)
        ok = (si[S_FINISHED] if si[S_FINISHED] < depth else depth) >= int_min
        out_tod_ok[i] = ok
        out_tod_z[i] = _midp_z(float(c), base_mean[pos], base_var[pos], first) if ok else np.nan
        out_ref[i] = sf[F_REF]
        out_tested[i] = False
        out_u[i] = np.nan
        out_w[i] = np.nan
        if n_priced[i] == 0:
            continue
        t_ref = si[S_TREF]
        t_end = last_ts[i]
        # integrate f² over [t_ref, t_end) bar by bar
        w = 0.0
        b = (t_ref - o) // bar_ns
        while True:
            start = o + b * bar_ns
            if start >= t_end:
                break
            lo = start if start > t_ref else t_ref
            hi = start + bar_ns if start + bar_ns < t_end else t_end
            fb = f_bar[b if b < n_pos else n_pos - 1]
            w += fb * fb * ((hi - lo) / bar_ns)
            b += 1
        e = (t_end - t_ref) / bar_ns
        if w > 0.0 and e > 0.0:
            r = math.log(close[i]) - math.log(sf[F_REF])
            if e < MIN_ELAPSED_BARS:  # noise does not shrink with time: scale as over the shortest span
                w = w * (MIN_ELAPSED_BARS / e)
            else:  # only returns over a long enough span measure the profile
                y_cur[pos] = r / math.sqrt(e)
            out_tested[i] = True
            si[S_TESTED] += 1
            out_u[i] = r / math.sqrt(w)
            out_w[i] = w
        si[S_TREF] = t_end
        sf[F_REF] = close[i]
    return m


def _finish_session_python(y_cur: Float64Array1D, bucket_bars: int, sums: Float64Array1D, depth: int,
                           finished: int) -> None:
    """Reduce the finished session's ``y`` (by bar position, NaN = untested) to its row of ``sums``.

    ``sums`` holds ``depth`` rows of ``6 * n_buckets``: per bucket Σ|z z'|, pairs, Σ w z², Σ w, Σ|z|,
    returns. The row written is ``finished % depth``; the first stage pools the sums of the whole ring with
    this row.
    """
    n_pos = y_cur.shape[0]
    nb = (n_pos + bucket_bars - 1) // bucket_bars
    width = _W * nb
    row = finished % depth
    for q in range(width):
        sums[row * width + q] = 0.0
    # the session's bipower scale over consecutive tested returns, and per bucket the part of it from the
    # pairs that hold one of the bucket's returns (left out of that bucket's scale)
    bp = 0.0
    n = 0
    prev = np.nan
    prev_b = -1
    bp_in = np.zeros(nb)
    pairs_in = np.zeros(nb)
    for p in range(n_pos):
        v = y_cur[p]
        if v == v:
            b = p // bucket_bars
            if n > 0:
                d = abs(v) * abs(prev)
                bp += d
                bp_in[b] += d
                pairs_in[b] += 1.0
                if prev_b != b:
                    bp_in[prev_b] += d
                    pairs_in[prev_b] += 1.0
            prev = v
            prev_b = b
            n += 1
    if n < MIN_SESSION_RETURNS:
        return
    scale_out = np.full(nb, np.nan)  # NaN: too few pairs outside the bucket, its returns are left out
    for b in range(nb):
        rest = (n - 1) - pairs_in[b]
        s2 = _HALF_PI * (bp - bp_in[b]) / rest if rest >= MIN_SESSION_RETURNS - 1 else 0.0
        if s2 > 0.0:
            scale_out[b] = math.sqrt(s2)
    # first stage of this session: consecutive tested returns inside one bucket
    prev = np.nan
    prev_b = -1
    for p in range(n_pos):
        v = y_cur[p]
        b = p // bucket_bars
        if v == v and scale_out[b] == scale_out[b]:
            z = v / scale_out[b]
            if b == prev_b:
                sums[row * width + _W * b] += abs(z) * abs(prev)
                sums[row * width + _W * b + 1] += 1.0
            sums[row * width + _W * b + 4] += abs(z)
            sums[row * width + _W * b + 5] += 1.0
            prev = z
            prev_b = b
    rows = finished + 1 if finished + 1 < depth else depth
    # pooled daily-scale fallback of the first stage
    all_bp = 0.0
    all_n = 0.0
    for r in range(rows):
        for b in range(nb):
            all_bp += sums[r * width + _W * b]
            all_n += sums[r * width + _W * b + 1]
    fallback = math.sqrt(_HALF_PI * all_bp / all_n) if all_n >= MIN_BUCKET_PAIRS and all_bp > 0.0 else 1.0
    for b in range(nb):
        bpb = 0.0
        npb = 0.0
        ab = 0.0
        na = 0.0
        for r in range(rows):
            bpb += sums[r * width + _W * b]
            npb += sums[r * width + _W * b + 1]
            ab += sums[r * width + _W * b + 4]
            na += sums[r * width + _W * b + 5]
        if npb >= MIN_BUCKET_PAIRS and bpb > 0.0:
            scale = math.sqrt(_HALF_PI * bpb / npb)
        elif na >= MIN_BUCKET_PAIRS and ab > 0.0:  # too few pairs (a thin symbol): its mean absolute return
            scale = _SQRT_HALF_PI * ab / na
        else:
            scale = fallback
        for p in range(b * bucket_bars, min((b + 1) * bucket_bars, n_pos)):
            v = y_cur[p]
            if v == v and scale_out[b] == scale_out[b]:
                z = v / scale_out[b]
                q = z / scale
                if q * q <= TRUNCATION:
                    sums[row * width + _W * b + 2] += z * z
                    sums[row * width + _W * b + 3] += 1.0


def _profile_python(sums: Float64Array1D, rows: int, bucket_bars: int, n_pos: int, min_sessions: int,
                    finished: int, out_bucket: Float64Array1D, out_n: Float64Array1D) -> int:
    """The profile from ``rows`` rows of ``sums``; return how many buckets had their own value, -1 when the
    profile is flat (fewer than ``min_sessions`` finished sessions, or fewer than :data:`MIN_BUCKET_OBS`
    weighted returns in all buckets together).

    ``out_bucket`` / ``out_n`` per bucket: the factor (mean square 1 over the ``n_pos`` bar positions of a
    session) and the weighted returns behind it.
    """
    nb = out_bucket.shape[0]
    width = _W * nb
    own = 0
    all_q = 0.0
    all_n = 0.0
    for b in range(nb):
        tq = 0.0
        tn = 0.0
        for r in range(rows):
            tq += sums[r * width + _W * b + 2]
            tn += sums[r * width + _W * b + 3]
        out_n[b] = tn
        all_q += tq
        all_n += tn
        if finished >= min_sessions and tn >= MIN_BUCKET_OBS and tq > 0.0:
            out_bucket[b] = math.sqrt(WSD_CONSISTENCY * tq / tn)
            own += 1
        else:
            out_bucket[b] = np.nan
    if finished < min_sessions or all_n < MIN_BUCKET_OBS or not all_q > 0.0:
        for b in range(nb):
            out_bucket[b] = 1.0
        return -1
    filled = out_bucket.copy()
    for b in range(nb):
        if filled[b] != filled[b]:  # pool the buckets around it, widening both ways, until enough returns
            tq = 0.0
            tn = 0.0
            for d in range(nb):
                for side in range(2 if d > 0 else 1):
                    q = b - d if side == 0 else b + d
                    if 0 <= q < nb:
                        for r in range(rows):
                            tq += sums[r * width + _W * q + 2]
                            tn += sums[r * width + _W * q + 3]
                if tn >= MIN_BUCKET_OBS and tq > 0.0:
                    filled[b] = math.sqrt(WSD_CONSISTENCY * tq / tn)
                    break
    ms = 0.0
    for p in range(n_pos):
        v = _factor_at(filled, bucket_bars, n_pos, p)
        ms += v * v
    norm = math.sqrt(ms / n_pos)  # linear in the bucket values: the scaled buckets give mean square one
    for b in range(nb):
        out_bucket[b] = filled[b] / norm
    return own


def _count_baseline_python(cnt_ring: np.ndarray, rows: int, half: int, out_mean: Float64Array1D,
                           out_var: Float64Array1D) -> None:
    """The time-of-day count baseline of every bar position from the first ``rows`` sessions of the ring.

    ``out_mean[p]`` / ``out_var[p]``: mean and predictive variance of a count at ``p`` from the cells
    ``(session, q)`` with ``|q - p| <= half`` after their session's first bar (``K`` cells; a first bar's count
    is at least 1 by construction, the later ones are not): the sample variance (ddof 1), at least the mean (a
    Poisson), times ``1 + 1/K`` for the error of the estimated mean; NaN with fewer than 2 cells or when every
    cell is 0. Integer sums, so exact.
    """
    n_pos = out_mean.shape[0]
    col_s = np.zeros(n_pos, np.int64)
    col_q = np.zeros(n_pos, np.int64)
    col_k = np.zeros(n_pos, np.int64)
    for r in range(rows):
        for p in range(n_pos):
            v = cnt_ring[r * n_pos + p]
            if v < FIRST_BAR:
                x = np.int64(v)
                col_s[p] += x
                col_q[p] += x * x
                col_k[p] += 1
    s1 = np.int64(0)  # window sums over positions [p - half, p + half], slid one position at a time
    s2 = np.int64(0)
    k = np.int64(0)
    for q in range(min(n_pos, half)):
        s1 += col_s[q]
        s2 += col_q[q]
        k += col_k[q]
    for p in range(n_pos):
        if p + half < n_pos:
            s1 += col_s[p + half]
            s2 += col_q[p + half]
            k += col_k[p + half]
        if p - half - 1 >= 0:
            s1 -= col_s[p - half - 1]
            s2 -= col_q[p - half - 1]
            k -= col_k[p - half - 1]
        if k < 2 or s1 == 0:
            out_mean[p] = np.nan
            out_var[p] = np.nan
            continue
        m = s1 / k
        v = float(k * s2 - s1 * s1) / float(k * (k - 1))
        out_mean[p] = m
        out_var[p] = (v if v > m else m) * (1.0 + 1.0 / k)


_count_baseline = jit(_count_baseline_python, nogil=True)


def count_baseline(a: dict[str, np.ndarray], depth: int, half: int,
                   min_sessions: int) -> tuple[np.ndarray, np.ndarray]:
    """The current session's time-of-day count baseline ``(mean, variance)`` per bar position from the
    symbol's carried ring of counts (:func:`_count_baseline`, ``half`` positions either side); NaN (unused,
    the trailing baseline applies) while fewer than ``min_sessions`` sessions are in the ring."""
    n_pos = a["cnt_cur"].size
    rows = min(int(a["sea_i"][S_FINISHED]), depth)
    if rows < min_sessions:
        return _UNUSED, _UNUSED
    mean, var = np.empty(n_pos), np.empty(n_pos)
    _count_baseline(a["cnt_ring"], rows, half, mean, var)
    return mean, var


#: The baseline passed while it is not used (``_walk`` reads it only with enough sessions).
_UNUSED = np.full(1, np.nan)


_walk = jit(_walk_python, nogil=True)
_finish_session = jit(_finish_session_python, nogil=True)
_profile = jit(_profile_python, nogil=True)


def n_buckets(n_pos: int, bucket_bars: int) -> int:
    """Time-of-day buckets of ``bucket_bars`` bars in a session of ``n_pos`` bars."""
    return (n_pos + bucket_bars - 1) // bucket_bars


def tests_per_session(a: dict[str, np.ndarray], depth: int, default: int) -> int:
    """The number of Lee-Mykland tests expected in the session in progress: the mean count of tested bars of
    the previous ``depth`` finished sessions, rounded half up, at least 3 (``default`` before any finished)."""
    rows = min(int(a["sea_i"][S_FINISHED]), depth)
    if rows == 0:
        return default
    return max(3, math.floor(float(a["sea_ntest"][:rows].mean()) + 0.5))


def initial_arrays(n_pos: int, bucket_bars: int, depth: int) -> dict[str, np.ndarray]:
    """The seasonal part of a new symbol's carried state (see :mod:`udx.pipeline`)."""
    return {
        "sea_f": np.ones(n_buckets(n_pos, bucket_bars)), "sea_y": np.full(n_pos, np.nan),
        "sea_sums": np.zeros(depth * _W * n_buckets(n_pos, bucket_bars)),
        "sea_i": np.array([_NONE, 0, 0, 0], np.int64), "sea_ref": np.array([np.nan]),
        "sea_ntest": np.zeros(depth, np.int64),
        "cnt_ring": np.full(depth * n_pos, NOT_STARTED, np.uint16),
        "cnt_cur": np.full(n_pos, NOT_STARTED, np.uint16),
    }


def start_session(a: dict[str, np.ndarray], open_ns: int, ref_ts: int, ref_price: float, bucket_bars: int,
                  depth: int, min_sessions: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Close the session in progress (if any) and open ``open_ns``: fold the finished session into the
    ring, re-estimate the profile, set the reference point to the opening print.

    Returns the new profile per bucket ``(factor, weighted returns, buckets with their own value or -1 when
    flat)`` when a session was finished, else ``None``.
    """
    si = a["sea_i"]
    result = None
    n_pos = a["sea_y"].size
    if si[S_SESSION] != _NONE:
        finished = int(si[S_FINISHED])
        _finish_session(a["sea_y"], bucket_bars, a["sea_sums"], depth, finished)
        a["cnt_ring"][(finished % depth) * n_pos:(finished % depth + 1) * n_pos] = a["cnt_cur"]
        a["sea_ntest"][finished % depth] = si[S_TESTED]
        si[S_FINISHED] = finished + 1
        count = np.empty(a["sea_f"].size)
        own = _profile(a["sea_sums"], min(finished + 1, depth), bucket_bars, n_pos, min_sessions, finished + 1,
                       a["sea_f"], count)
        result = (a["sea_f"].copy(), count, int(own))
    si[S_SESSION] = open_ns
    si[S_TESTED] = 0
    si[S_TREF] = ref_ts
    a["sea_ref"][F_REF] = ref_price
    a["sea_y"][:] = np.nan
    a["cnt_cur"][:] = NOT_STARTED
    return result
