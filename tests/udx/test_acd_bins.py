"""ACD's diurnal bins (udx.acd) on a fast market, against ``tests/reference/acd.py`` (the setup of
test_acd_refits.py): profile means below one second, prints exactly at bin ends, prints in the last bin (which
takes the rest of the session), a bin without prints in the earlier sessions (the overall mean stands in), and
runs resumed inside the first session and inside the last two bins. Tolerance: rtol 1e-12, as there.
"""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from tests.udx.test_acd_refits import BAR_S, BARS, BIN_S, DAY, NS, config, reference
from udx.pipeline import _acd_bars, initial_state


def fast_market(seed: int, sessions: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Durations of ~0.3 s; the first session stops before its last bin; prints on every bin end."""
    rng = np.random.default_rng(seed)
    opens = [int(1_700_000_000 * NS // DAY * DAY + k * DAY) for k in range(sessions)]
    close = BARS * BAR_S * NS
    ts: list[int] = []
    for k, o in enumerate(opens):
        stop = o + (4 * BIN_S - 30) * NS if k == 0 else o + close
        t, psi, x = o + int(rng.integers(0, NS)), 1.0, 1.0
        while t < stop:
            ts.append(t)
            psi = 0.1 + 0.15 * x + 0.75 * psi
            x = psi * rng.exponential(1.0)
            t += max(1, int(x * 0.3 * NS))
        ts += [o + b * BIN_S * NS for b in range(1, 5) if o + b * BIN_S * NS < stop]
    bar_end = np.array([o + (i + 1) * BAR_S * NS for o in opens for i in range(BARS)], np.int64)
    bar_sess = np.repeat(np.array(opens, np.int64), BARS)
    return np.array(sorted(set(ts)), np.int64), bar_end, bar_sess


def test_a_fast_market_with_prints_on_bin_ends_equals_the_reference() -> None:
    ts, bar_end, bar_sess = fast_market(5)
    cfg = config()
    fits: list = []
    cond, surprise = _acd_bars(ts, bar_end, bar_sess, cfg, initial_state(cfg), fits)
    want_cond, want_sur, windows = reference(ts, bar_end, bar_sess, fits)
    assert len(fits) == len(windows) >= 2
    assert_allclose(cond, want_cond, rtol=1e-12)
    assert_allclose(surprise, want_sur, rtol=1e-12)
    assert np.isfinite(cond[-BARS:]).all() and np.nanmedian(cond[BARS:]) < 1.0  # sub-second expected durations


def test_resumed_inside_a_session_and_inside_its_last_bins_equals_one_pass() -> None:
    ts, bar_end, bar_sess = fast_market(6, sessions=2)
    cfg = config()
    one = _acd_bars(ts, bar_end, bar_sess, cfg, initial_state(cfg), [])
    # inside the first session (its profile still empty), then in the second with the last print in the bin
    # before the last (the next prints cross into the last bin) and in the last bin
    for cut in (7, 22, 53, 59):
        a = initial_state(cfg)
        first = ts < bar_end[cut - 1]
        c1, s1 = _acd_bars(ts[first], bar_end[:cut], bar_sess[:cut], cfg, a, [])
        c2, s2 = _acd_bars(ts[~first], bar_end[cut:], bar_sess[cut:], cfg, a, [])
        assert np.array_equal(np.concatenate((c1, c2)), one[0], equal_nan=True)
        assert np.array_equal(np.concatenate((s1, s2)), one[1], equal_nan=True)
