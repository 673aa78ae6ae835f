"""The ACD per-bar columns with refits (``udx.pipeline._acd_bars`` over ``udx.acd``'s event kernels) against
``tests/reference/acd.py`` on a few small sessions: the diurnal profile over bins (the last one taking the
rest of the session), same-timestamp prints as one event, prints outside the session, a session without
events, refits at session starts on the trailing window, and a run resumed from its carried state.

Tolerance: rtol 1e-12 (the same float64 arithmetic up to summation order; the reference refits with the
project's stored parameters, whose quality ``test_reference_acd.py`` checks).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from reference import acd as ref
from udx.pipeline import SignalConfig, _acd_bars, initial_state

NS = 10**9
DAY = 86_400 * NS
BAR_S, BARS, BIN_S = 60, 30, 420  # 30-minute sessions, bins of 7 minutes: five bins, the last one 2 minutes
MIN_OBS, WINDOW = 100, 150


def config() -> SignalConfig:
    return SignalConfig(bar_seconds=BAR_S, session="00:00-00:30 UTC", bars_per_session=BARS, lm_window=10,
                        lm_threshold=4.0, bns_window=10, acd_window=WINDOW, acd_min_obs=MIN_OBS,
                        acd_bin_seconds=BIN_S)


def market(seed: int, sessions: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Print times with ACD(1,1)-clustered durations (mean 2.5 s, faster at the open), a session with no
    prints, shared timestamps and prints before the open and after the close; bar ends and their sessions."""
    rng = np.random.default_rng(seed)
    opens = [int(1_700_000_000 * NS // DAY * DAY + k * DAY) for k in range(sessions)]
    ts: list[int] = []
    for k, o in enumerate(opens):
        if k == 3:
            continue  # a session without prints: the conditional duration is carried through it
        ts += [o - 5 * NS, o - NS]  # before the open: not events
        t, psi, x = o + int(rng.integers(0, 3 * NS)), 1.0, 1.0
        while t < o + BARS * BAR_S * NS:
            ts.append(t)
            if rng.random() < 0.1:
                ts.append(t)  # the same timestamp: one event
            psi = 0.1 + 0.15 * x + 0.75 * psi
            x = psi * rng.exponential(1.0)
            scale = 1.0 if t - o < 300 * NS else 3.0
            t += max(1, int(x * scale * NS))
        ts += [o + BARS * BAR_S * NS + 7 * NS]  # after the close
    bar_end = np.array([o + (i + 1) * BAR_S * NS for o in opens for i in range(BARS)], np.int64)
    bar_sess = np.repeat(np.array(opens, np.int64), BARS)
    return np.array(sorted(ts), np.int64), bar_end, bar_sess


def reference(ts: np.ndarray, bar_end: np.ndarray, bar_sess: np.ndarray, fits: list) -> tuple:
    rows = [{"session_open_ns": int(o), "bar_end_ns": int(e)} for o, e in zip(bar_sess, bar_end, strict=True)]
    prints = [(int(t), 1.0, 1.0, True, True) for t in ts]
    return ref.columns(rows, prints, BAR_S * NS, BARS, BIN_S, MIN_OBS, WINDOW,
                       [(f.omega, f.alpha, f.beta) for f in fits])


@pytest.mark.parametrize("seed", [0, 1])
def test_columns_with_refits_equal_the_reference(seed: int) -> None:
    ts, bar_end, bar_sess = market(seed)
    cfg = config()
    assert cfg.acd_bins == 5
    fits: list = []
    cond, surprise = _acd_bars(ts, bar_end, bar_sess, cfg, initial_state(cfg), fits)
    want_cond, want_sur, windows = reference(ts, bar_end, bar_sess, fits)
    assert len(fits) == len(windows) >= 3  # a refit at each session start after the first ~100 durations
    assert_allclose(cond, want_cond, rtol=1e-12)
    assert_allclose(surprise, want_sur, rtol=1e-12)
    assert np.isnan(cond[:BARS]).all() and np.isfinite(cond[-1]) and np.isfinite(surprise[BARS:2 * BARS]).any()
    for fit, w in zip(fits, windows, strict=True):  # each stored fit's likelihood is that of the reference window
        assert fit.model == "acd11" and fit.n_obs == len(w) == WINDOW
        assert fit.loglik == pytest.approx(ref.loglik(fit.omega, fit.alpha, fit.beta, w), rel=1e-12)


@pytest.mark.parametrize("cut", [45, 100, 125])
def test_resumed_from_the_carried_state_equals_one_pass(cut: int) -> None:
    ts, bar_end, bar_sess = market(2)
    cfg = config()
    fits_one: list = []
    one = _acd_bars(ts, bar_end, bar_sess, cfg, initial_state(cfg), fits_one)
    a = initial_state(cfg)
    fits: list = []
    first = ts < bar_end[cut - 1]
    c1, s1 = _acd_bars(ts[first], bar_end[:cut], bar_sess[:cut], cfg, a, fits)
    c2, s2 = _acd_bars(ts[~first], bar_end[cut:], bar_sess[cut:], cfg, a, fits)
    assert np.array_equal(np.concatenate((c1, c2)), one[0], equal_nan=True)
    assert np.array_equal(np.concatenate((s1, s2)), one[1], equal_nan=True)
    assert fits == fits_one

