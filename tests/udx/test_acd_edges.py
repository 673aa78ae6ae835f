"""Edges of the ACD columns (``udx.pipeline._acd_bars`` over ``udx.acd``'s kernels) on small hand-built sessions,
against ``tests/reference/acd.py`` and exact hand-derived counts and times: the first refit exactly when the
count of adjusted durations reaches ``acd_min_obs`` (and not one short of it), a profile bin and a whole profile
holding a single spell, a print exactly at the session open, bars with one duration each, and the refit's
window times at nanosecond precision (epoch-size times are not float64-exact).

Tolerance: rtol 1e-12 against the reference, as in test_acd_refits.py; counts and times exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

from reference import acd as ref
from tests.udx.test_acd_refits import BAR_S, BARS, BIN_S, DAY, NS
from tests.udx.test_acd_refits import config as refits_config
from udx.pipeline import SignalConfig, _acd_bars, initial_state

MIN_OBS, WINDOW = 20, 50
OPENS = [1_700_000_000 * NS // DAY * DAY + k * DAY for k in range(3)]


def config() -> SignalConfig:
    """test_acd_refits.py's sessions (30 one-minute bars, five bins) with a smaller minimum and window."""
    return dataclasses.replace(refits_config(), acd_window=WINDOW, acd_min_obs=MIN_OBS)


def market(sessions: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Print times, bar ends and bar sessions for print offsets (ns from each session's open) of three
    30-minute sessions."""
    ts = np.array(sorted(o + s for o, offs in zip(OPENS, sessions, strict=True) for s in offs), np.int64)
    bar_end = np.array([o + (i + 1) * BAR_S * NS for o in OPENS for i in range(BARS)], np.int64)
    bar_sess = np.repeat(np.array(OPENS, np.int64), BARS)
    return ts, bar_end, bar_sess


def reference(ts: np.ndarray, bar_end: np.ndarray, bar_sess: np.ndarray, fits: list) -> tuple:
    """The reference's columns and refit windows, refitting with the project's stored parameters."""
    rows = [{"session_open_ns": int(o), "bar_end_ns": int(e)} for o, e in zip(bar_sess, bar_end, strict=True)]
    return ref.columns(rows, [(int(t), 1.0, 1.0, True, True) for t in ts], BAR_S * NS, BARS, BIN_S, MIN_OBS,
                       WINDOW, [(f.omega, f.alpha, f.beta) for f in fits])


def run(sessions: list[list[int]]) -> tuple[np.ndarray, np.ndarray, list, list, list, list]:
    """The project's columns and fits, then the reference's columns and refit windows."""
    ts, bar_end, bar_sess = market(sessions)
    cfg = config()
    fits: list = []
    cond, surprise = _acd_bars(ts, bar_end, bar_sess, cfg, initial_state(cfg), fits)
    want_cond, want_sur, windows = reference(ts, bar_end, bar_sess, fits)
    return cond, surprise, want_cond, want_sur, fits, windows


def spells(n: int, seed: int, start_s: float = 3.0) -> list[int]:
    """``n + 1`` print offsets (n durations of 1-40 s) from ``start_s``, each an odd number of nanoseconds."""
    d = np.random.default_rng(seed).uniform(1.0, 40.0, n)
    return [int((start_s + x) * NS) | 1 for x in np.concatenate(([0.0], np.cumsum(d)))]


def check(cond: np.ndarray, surprise: np.ndarray, want_cond: list, want_sur: list) -> None:
    assert_allclose(cond, want_cond, rtol=1e-12)
    assert_allclose(surprise, want_sur, rtol=1e-12)


@pytest.mark.parametrize("n_second", [MIN_OBS - 1, MIN_OBS, MIN_OBS + 1])
def test_the_first_refit_comes_when_the_count_reaches_min_obs(n_second: int) -> None:
    # session 1 builds the profile (no adjusted durations), session 2 holds n_second adjusted durations, and the
    # third session's first event refits only if n_second >= MIN_OBS
    second = spells(n_second, 2)
    ts, bar_end, bar_sess = market([spells(10, 1), second, spells(10, 3)])
    cfg = config()
    fits: list = []
    cond, surprise = _acd_bars(ts, bar_end, bar_sess, cfg, initial_state(cfg), fits)
    assert len(fits) == (1 if n_second >= MIN_OBS else 0)  # counted by hand, before the reference reads them
    want_cond, want_sur, windows = reference(ts, bar_end, bar_sess, fits)
    assert len(windows) == len(fits)
    check(cond, surprise, want_cond, want_sur)
    if fits:  # the window is session 2's durations: from its second print to its last, to the nanosecond
        (fit,) = fits
        assert (fit.n_obs, fit.fit_start_ns, fit.fit_end_ns) == (n_second, OPENS[1] + second[1],
                                                                 OPENS[1] + second[-1])
        assert fit.fit_start_ns % 2 == 1 and fit.fit_end_ns % 2 == 1  # odd: not a float64 on the way


def test_a_profile_bin_with_a_single_spell_uses_that_spell() -> None:
    # session 1: five 20 s spells and one of 399 s start in bin 0 (0-420 s), one of 400 s in bin 1 (500 s ->
    # 900 s); session 2 trades in bin 1, whose profile value is that one spell's 400 s (count 1.0),
    # not the overall mean
    first = [NS + k * 20 * NS for k in range(6)] + [500 * NS, 900 * NS]
    second = [421 * NS, 479 * NS + 1] + [479 * NS + k * 13 * NS + 1 for k in range(1, 20)] + [1000 * NS]
    cond, surprise, want_cond, want_sur, fits, _ = run([first, second, []])
    check(cond, surprise, want_cond, want_sur)
    # bar 7 (420-480 s) of session 2 holds one duration, 58 s from bin 1, under psi = 1 (no fit, no earlier
    # adjusted duration): 58 s and 1 ns over 400 s
    assert surprise[BARS + 7] == pytest.approx((58.0 + 1e-9) / 400.0, rel=1e-12)


def test_a_profile_of_a_single_spell_is_the_overall_mean() -> None:
    # session 1 has one duration (10 s, bin 0): the overall mean (count 1.0) stands in for every other bin
    first = [2 * NS, 12 * NS]
    second = [2 * NS + k * 50 * NS for k in range(30)]
    cond, surprise, want_cond, want_sur, fits, _ = run([first, second, []])
    check(cond, surprise, want_cond, want_sur)
    assert np.isfinite(cond[BARS:2 * BARS]).all()
    # the spell from 702 s (bin 1) to 752 s ends in bar 12: 50 s / 10 s over the EWMA psi
    assert np.isfinite(surprise[BARS + 12])


def test_a_print_exactly_at_the_open_is_an_event() -> None:
    # both sessions start with a print exactly at the open; in session 2 the spell from the open (bin 0, 0 s)
    # to 30 s ends in bar 0 and is the only duration there
    first = [0, 15 * NS, 45 * NS, 100 * NS]
    second = [0, 30 * NS, 70 * NS, 130 * NS]
    cond, surprise, want_cond, want_sur, fits, _ = run([first, second, []])
    check(cond, surprise, want_cond, want_sur)
    # phi of bin 0 = (15 + 30 + 55) / 3 s; psi = 1 before the first duration: surprise = 30 / phi
    assert surprise[BARS] == pytest.approx(30.0 / (100.0 / 3.0), rel=1e-12)


def test_a_bar_with_one_duration_has_its_surprise() -> None:
    # session 2 prints once a bar: every bar after its first holds exactly one duration (60 s)
    first = [5 * NS + k * 60 * NS for k in range(BARS)]
    second = [7 * NS + k * 60 * NS for k in range(BARS)]
    cond, surprise, want_cond, want_sur, fits, _ = run([first, second, []])
    check(cond, surprise, want_cond, want_sur)
    assert np.isnan(surprise[BARS]) and np.isfinite(surprise[BARS + 1:2 * BARS]).all()
    assert surprise[BARS + 1] == pytest.approx(1.0, rel=1e-12)  # 60 s / phi 60 s / psi 1
