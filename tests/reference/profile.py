"""The intraday volatility profile (README "Signals", Boudt, Croux & Laurent 2011), estimated at each session's
start from the previous ``depth`` finished sessions, written from the README and the documented formula of the
profile (udx/seasonality.py's module docstring), every session's sums recomputed from its returns:

- per finished session, ``y`` by bar position: the tested return over its elapsed bars ``r / sqrt(e)``, only
  for ``e >= 0.5`` (a shorter return does not enter the profile);
- the session's bipower scale left out of bucket ``j``: ``s_j² = (π/2) Σ|y_k||y_{k-1}| / m`` over the ``m``
  consecutive pairs holding no return of bucket ``j`` (needs ``m >= 9``, else the bucket's returns are left
  out); ``z = y / s_j``; a session with fewer than 10 returns gives nothing;
- first stage, pooled over the ring of the last ``depth`` sessions up to and including that session: per
  bucket the bipower scale ``sqrt((π/2) Σ|z z'| / N)`` of its consecutive pairs (>= 10 pairs), else its mean
  absolute return ``sqrt(π/2) Σ|z| / N`` (>= 10 returns), else the daily scale (the same bipower over every
  bucket's pairs, 1 with fewer than 10);
- second stage: ``Σ z²`` and the count of the returns with ``(z / σ̂_j)² <= 6.635``;
- at a session's start: ``WSD_j = sqrt(1.081 Σ z² / N)`` per bucket over the last ``depth`` sessions, a bucket
  with fewer than 20 returns pooling ``j ± 1, j ± 2, ...`` until it has 20; flat (all 1) with fewer than
  ``min_sessions`` finished sessions or 20 returns in all;
- by bar position: linear in the bar's middle between bucket centres, extended linearly past the first and
  last centre but not below half the edge bucket; the buckets scaled to mean square one over the bar positions.
"""

from __future__ import annotations

import math

TRUNCATION = 6.635
CONSISTENCY = 1.081
MIN_SESSION_RETURNS = 10
MIN_PAIRS = 10
MIN_OBS = 20
MIN_ELAPSED = 0.5


def session_y(rows: list[dict], n_pos: int) -> dict[int, list[float]]:
    """``y`` by bar position of every session (NaN where no return enters), from reference bars that carry
    ``r`` and ``e`` (:func:`reference.bars.tested_returns`)."""
    out: dict[int, list[float]] = {}
    for row in rows:
        y = out.setdefault(row["session_open_ns"], [math.nan] * n_pos)
        if row["tested"] and row["e"] >= MIN_ELAPSED:
            y[min(row["position"], n_pos - 1)] = row["r"] / math.sqrt(row["e"])
    return out


def _stage_one(y: list[float], bucket_bars: int, nb: int) -> tuple[list[float], list[tuple[int, float]]]:
    """Per bucket (Σ|z z'|, pairs, Σ|z|, returns) as a flat list of 4 * nb, and the session's (bucket, z)."""
    sums = [0.0] * (4 * nb)
    pts = [(p // bucket_bars, v) for p, v in enumerate(y) if not math.isnan(v)]
    if len(pts) < MIN_SESSION_RETURNS:
        return sums, []
    pairs = [(pts[k - 1], pts[k]) for k in range(1, len(pts))]
    zs: list[tuple[int, float]] = []
    for j in range(nb):
        outside = [abs(a[1]) * abs(b[1]) for a, b in pairs if a[0] != j and b[0] != j]
        if len(outside) < MIN_SESSION_RETURNS - 1:
            continue
        s2 = (math.pi / 2) * sum(outside) / len(outside)
        if s2 > 0:
            zs.extend((j, v / math.sqrt(s2)) for b, v in pts if b == j)
    zs.sort(key=lambda bz: bz[0])  # by bucket; within a bucket in time order
    for j in range(nb):
        mine = [z for b, z in zs if b == j]
        sums[4 * j] = sum(abs(mine[k]) * abs(mine[k - 1]) for k in range(1, len(mine)))
        sums[4 * j + 1] = max(0, len(mine) - 1)
        sums[4 * j + 2] = sum(abs(z) for z in mine)
        sums[4 * j + 3] = len(mine)
    return sums, zs


def _stage_two(ring: list[list[float]], zs: list[tuple[int, float]], nb: int) -> list[tuple[float, float]]:
    """Per bucket (Σ z², count) of the returns inside the truncation, given the ring's first-stage sums."""
    tot = [sum(r[q] for r in ring) for q in range(4 * nb)]
    all_bp = sum(tot[4 * j] for j in range(nb))
    all_pairs = sum(tot[4 * j + 1] for j in range(nb))
    daily = math.sqrt((math.pi / 2) * all_bp / all_pairs) if all_pairs >= MIN_PAIRS and all_bp > 0 else 1.0
    out = []
    for j in range(nb):
        bp, pairs, ab, n = tot[4 * j: 4 * j + 4]
        if pairs >= MIN_PAIRS and bp > 0:
            scale = math.sqrt((math.pi / 2) * bp / pairs)
        elif n >= MIN_PAIRS and ab > 0:
            scale = math.sqrt(math.pi / 2) * ab / n
        else:
            scale = daily
        kept = [z for b, z in zs if b == j and (z / scale) ** 2 <= TRUNCATION]
        out.append((sum(z * z for z in kept), float(len(kept))))
    return out


def profiles(ys: dict[int, list[float]], bucket_bars: int, depth: int,
             min_sessions: int) -> dict[int, tuple[list[float], list[float]] | None]:
    """Per session (in order): the profile it uses, ``(by bucket, by bar position)``, or ``None`` when flat."""
    opens = list(ys)
    n_pos = len(ys[opens[0]])
    nb = -(-n_pos // bucket_bars)
    first = [_stage_one(ys[o], bucket_bars, nb) for o in opens]
    second = [_stage_two([first[q][0] for q in range(max(0, k - depth + 1), k + 1)], first[k][1], nb)
              for k in range(len(opens))]
    out: dict[int, tuple[list[float], list[float]] | None] = {}
    for k, o in enumerate(opens):  # session k uses the finished sessions before it
        ring = second[max(0, k - depth): k]
        q = [sum(r[j][0] for r in ring) for j in range(nb)]
        n = [sum(r[j][1] for r in ring) for j in range(nb)]
        if k < min_sessions or sum(n) < MIN_OBS or not sum(q) > 0:
            out[o] = None
            continue
        f = []
        for j in range(nb):
            d, tq, tn = 0, q[j], n[j]
            while not (tn >= MIN_OBS and tq > 0):
                d += 1
                tq += sum(q[i] for i in (j - d, j + d) if 0 <= i < nb)
                tn += sum(n[i] for i in (j - d, j + d) if 0 <= i < nb)
            f.append(math.sqrt(CONSISTENCY * tq / tn))
        by_bar = [_at(f, bucket_bars, n_pos, p) for p in range(n_pos)]
        norm = math.sqrt(sum(v * v for v in by_bar) / n_pos)
        out[o] = ([v / norm for v in f], [v / norm for v in by_bar])
    return out


def _at(f: list[float], bucket_bars: int, n_pos: int, p: int) -> float:
    if len(f) == 1:
        return f[0]
    x = p + 0.5
    centres = [(j * bucket_bars + min((j + 1) * bucket_bars, n_pos)) / 2 for j in range(len(f))]
    if x <= centres[0]:
        lo, hi = 0, 1
    elif x >= centres[-1]:
        lo, hi = len(f) - 2, len(f) - 1
    else:
        lo = max(j for j in range(len(f)) if centres[j] <= x)
        hi = min(lo + 1, len(f) - 1)
        if hi == lo:
            return f[lo]
    v = f[lo] + (f[hi] - f[lo]) * (x - centres[lo]) / (centres[hi] - centres[lo])
    if x < centres[0]:
        return max(v, 0.5 * f[0])
    if x > centres[-1]:
        return max(v, 0.5 * f[-1])
    return v


def weighted_counts(ys: dict[int, list[float]], bucket_bars: int, depth: int) -> dict[int, list[float]]:
    """Per session (in order): per bucket the number of weighted (untruncated) returns of the finished
    sessions in its ring, the ``N`` behind :func:`profiles`' ``WSD_j`` (0 for the first session)."""
    opens = list(ys)
    nb = -(-len(ys[opens[0]]) // bucket_bars)
    first = [_stage_one(ys[o], bucket_bars, nb) for o in opens]
    second = [_stage_two([first[q][0] for q in range(max(0, k - depth + 1), k + 1)], first[k][1], nb)
              for k in range(len(opens))]
    return {o: [sum(r[j][1] for r in second[max(0, k - depth): k]) for j in range(nb)] for k, o in enumerate(opens)}
