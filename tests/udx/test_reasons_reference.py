"""The compiled rule and reason texts (udx/reasons.py) against the README's rule table as written in
``tests/reference/rule.py`` (not :func:`udx.signal_rule.decide`, the module's own fallback): every template at
its edges (a threshold met exactly, ``|L|`` equal to the threshold, NaN statistics, untested bars, the LM
window one short and full, negative indices), the fixed-point fallback rows (exact ties, ``|v|·10^d >= 1e15``)
and the arguments :func:`decide_arrays` refuses. Small inputs: the plain twin judges a mutant in seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference.rule import decide as reference_decide
from udx import reasons
from udx.reasons import (
    _PROGRAM,
    NOT_PRICED,
    OPENING_ONLY,
    _blob,
    _fixed_parts_python,
    _reasons_python,
    decide_arrays,
)
from udx.signal_rule import RuleConfig

NAN = math.nan


@pytest.fixture(autouse=True)
def _fresh_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test builds the literal pieces of its configs again: ``udx.reasons`` keeps them per config for the
    process, so a test run after others (or in a process forked after them, as mutmut's are) would otherwise
    only see pieces built before it."""
    monkeypatch.setattr(reasons, "_BLOBS", {})

CONFIGS = [RuleConfig(), RuleConfig(vpin_cdf_hold=0.97, momentum_z=1.5, intensity_z=0.5, alpha=0.05),
           RuleConfig(vpin_cdf_hold=0.125, momentum_z=0.0, intensity_z=-1.0, alpha=1e-7)]


def _want(cols: list[list[float]], index: list[int], window: int, cfg: RuleConfig) -> list[tuple[str, str]]:
    lm, thr, z, iz, vp, vc = cols
    out = []
    for t in range(len(lm)):
        i = index[t]
        tested = None if i in (NOT_PRICED, OPENING_ONLY) else i
        out.append(reference_decide(lm[t], thr[t], tested, i == OPENING_ONLY, window, z[t], iz[t], vp[t], vc[t],
                                    hold=cfg.vpin_cdf_hold, mz=cfg.momentum_z, intensity=cfg.intensity_z,
                                    alpha=cfg.alpha))
    return out


def _run(rows: list[tuple[float, ...]], index: list[int], window: int, cfg: RuleConfig) -> list[tuple[str, str]]:
    cols = [np.array(c, dtype=np.float64) for c in zip(*rows, strict=True)]
    signals, reasons = decide_arrays(cols[0], cols[1], first_index=np.array(index, np.int64), window=window,
                                     z=cols[2], intensity=cols[3], vpin=cols[4], vpin_cdf=cols[5], config=cfg)
    return list(zip(signals.to_pylist(), reasons.to_pylist(), strict=True))


# (lm, thr, z, iz, vpin, vpin_cdf) at the edges of each rule for the default config (hold 0.9, z 2, iz 2)
EDGES = [
    (1.0, 4.0, 0.0, 0.0, 0.4123, 0.9),          # toxic flow at exactly the hold level
    (9.0, 4.0, 3.0, 3.0, 0.4123, 0.95),         # toxic flow wins over a jump
    (1.0, 4.0, 0.0, 0.0, 0.4123, 0.8999),       # just below: no signal
    (4.0, 4.0, 0.0, 0.0, 0.1, 0.1),             # |L| equal to the threshold: no jump
    (-4.0, 4.0, 0.0, 0.0, 0.1, 0.1),
    (4.01, 4.0, 0.0, 0.0, 0.1, 0.1),            # jump up: SELL
    (-4.01, 4.0, 3.0, 3.0, 0.1, 0.1),           # jump down: BUY, wins over momentum
    (0.5, 4.0, 2.0, 2.0, 0.1, 0.1),             # momentum up at both thresholds exactly
    (0.5, 4.0, -2.0, 2.0, 0.1, 0.1),            # momentum down at both exactly
    (0.5, 4.0, 1.99, 5.0, 0.1, 0.1),            # not quite momentum
    (0.5, 4.0, -1.99, 5.0, 0.1, 0.1),
    (0.5, 4.0, 5.0, 1.99, 0.1, 0.1),            # intensity short
    (0.5, 4.0, -5.0, 1.99, 0.1, 0.1),
    (0.5, 4.0, 5.0, NAN, 0.1, 0.1),             # NaN intensity: n/a
    (0.5, 4.0, NAN, 5.0, 0.1, 0.1),             # NaN z: n/a
    (0.5, 4.0, NAN, NAN, NAN, NAN),             # no VPIN yet
    (-0.5, 4.0, 0.25, -0.75, 0.1, 0.1),         # |L| printed for a negative L
    (-0.0, 4.0, -0.0, -0.001, 0.1, 0.1),        # signed zeros
    (2.5, NAN, 3.0, 3.0, 0.1, 0.1),             # threshold undefined (momentum still fires)
    (2.5, NAN, 0.0, 0.0, 0.1, 0.1),             # threshold undefined: HOLD, says so
    (-2.5, NAN, 0.0, 0.0, 0.1, 0.1),
    (math.inf, 4.0, 0.0, 0.0, 0.1, 0.1),        # infinite statistic: a jump
    (-math.inf, 4.0, 0.0, 0.0, 0.1, 0.1),
    (0.5, 4.0, math.inf, math.inf, 0.1, 0.1),   # infinite momentum
    (0.5, 4.0, -math.inf, 7.0, 0.1, 0.1),
    (0.5, 4.0, 0.0, 0.0, 0.1, -math.inf),       # a CDF of -inf is below any level
    (123456.789, 4.0, 0.0, 0.0, 0.1, 0.1),      # many digits
    (0.5, 4.0, 0.0, 0.0, 0.0004, 0.95),         # VPIN with three decimals, leading zeros
    (0.5, 4.0, 0.0, 0.0, 0.0005, 0.95),         # .0005: an exact-looking tie at three decimals
    (0.005, 4.0, 0.0, 0.0, 0.1, 0.1),           # a near tie at two decimals
    (0.125, 4.0, 0.0, 0.0, 0.1, 0.1),           # an exact binary tie (fallback)
    (0.375, 4.0, 0.0, 0.0, 0.1, 0.1),
    (1e13, 4.0, 0.0, 0.0, 0.1, 0.1),            # |v|·100 = 1e15: fallback
    (1e12, 4.0, 0.0, 0.0, 0.1, 0.1),            # well below (from 5.6e14 the tie margin falls back)
    (0.5, 4.0, 0.0, 0.0, 1e12, 0.95),           # VPIN ·1000 = 1e15: fallback
    (0.5, 4.0, 0.0, 0.0, 1e11, 0.95),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "loose", "low"])
def test_each_rule_at_its_edges_equals_the_reference(cfg: RuleConfig) -> None:
    index = [10] * len(EDGES)
    assert _run(EDGES, index, 5, cfg) == _want([list(c) for c in zip(*EDGES, strict=True)], index, 5, cfg)


def test_untested_bars_and_the_lm_window() -> None:
    """NaN L: no price-setting print, the opening print only, the window one short of full (index K - 1), a
    bar before it, a negative index that is neither marker, the window full (index K: L undefined)."""
    window = 314
    index = [NOT_PRICED, OPENING_ONLY, window - 1, 0, 7, -3, -123456, window, window + 1, 10**12, -(2**62) - 1]
    rows = [(NAN, 4.0, 0.0, 0.0, 0.1, 0.1)] * len(index)
    got = _run(rows, index, window, RuleConfig())
    assert got == _want([list(c) for c in zip(*rows, strict=True)], index, window, RuleConfig())
    texts = [text for _, text in got]
    assert texts[2] == "no signal: LM window not full (313 of 314 returns)"
    assert texts[5] == "no signal: LM window not full (-3 of 314 returns)"
    assert texts[7] == "no signal: LM undefined (zero bipower variation in the window)"
    assert texts[10] == "no signal: LM window not full (-4611686018427387905 of 314 returns)"  # beyond 2**53


@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "loose", "low"])
def test_random_bars_equal_the_reference(cfg: RuleConfig) -> None:
    rng = np.random.default_rng(11)
    n = 600
    cols = [rng.normal(0, 4, n), np.where(rng.random(n) < 0.8, 4.361799, np.nan), rng.normal(0, 2.5, n),
            rng.normal(0, 2.5, n), rng.random(n), rng.random(n)]
    for c in cols:
        c[rng.random(n) < 0.1] = np.nan
        ties = rng.random(n) < 0.05
        c[ties] = np.round(c[ties] * 8) / 8
    index = rng.choice(np.array([NOT_PRICED, OPENING_ONLY, 3, 299, 300, 5000]), n).tolist()
    want = _want([c.tolist() for c in cols], index, 300, cfg)
    assert _run(list(zip(*cols, strict=True)), index, 300, cfg) == want
    # consecutive indices from first_index as an integer
    signals, reasons = decide_arrays(*cols[:2], first_index=295, window=300, z=cols[2], intensity=cols[3],
                                     vpin=cols[4], vpin_cdf=cols[5], config=cfg)
    assert list(zip(signals.to_pylist(), reasons.to_pylist(), strict=True)) == _want(
        [c.tolist() for c in cols], list(range(295, 295 + n)), 300, cfg)


def test_the_twin_marks_exactly_the_rows_it_cannot_format_and_leaves_them_empty() -> None:
    """The kernel's contract: a fallback row (a tie too close to call from float64, or ``|v|·10^d >= 1e15``) is
    flagged, counted and has no text; every other row has the reference's code and text."""
    rows = [(0.126, 4.0, 0.0, 0.0, 0.1, 0.1), (0.125, 4.0, 0.0, 0.0, 0.1, 0.1), (1e13, 4.0, 0.0, 0.0, 0.1, 0.1),
            (5.0, 4.0, 0.0, 0.0, 0.1, 0.1), (5.0, 4.0, 0.0, 0.0, 0.1, 0.1), (NAN, 4.0, 0.0, 0.0, 0.1, 0.1),
            (0.5, 4.0, 0.0, 0.0, 0.0015, 0.95), (0.5, 4.0, 0.0, 0.0, 0.0025, 0.95), (1e12, 4.0, 0, 0, 0.1, 0.1)]
    cfg = RuleConfig()
    cols = [np.array(c, dtype=np.float64) for c in zip(*rows, strict=True)]
    index = np.array([NOT_PRICED, 5, 5, 5, 5, 2, 5, 5, 5], np.int64)
    n = len(rows)
    blob, starts = _blob((cfg.vpin_cdf_hold, cfg.momentum_z, cfg.intensity_z, cfg.alpha))
    code, offsets = np.full(n, 9, np.int8), np.full(n + 1, -1, np.int32)
    buf, fallback = np.zeros(n * 256, np.uint8), np.zeros(n, np.bool_)
    nfb = _reasons_python(*cols, index, 5, cfg.vpin_cdf_hold, cfg.momentum_z, cfg.intensity_z, blob, starts,
                          _PROGRAM, code, offsets, buf, fallback)
    want = _want([c.tolist() for c in cols], index.tolist(), 5, cfg)
    assert fallback.tolist() == [False, True, True, False, False, False, True, True, False]
    assert nfb == 4
    assert offsets[0] == 0
    names = {0: "BUY", 1: "SELL", 2: "HOLD"}
    for t in range(n):
        text = bytes(buf[offsets[t]: offsets[t + 1]]).decode()
        assert names[int(code[t])] == want[t][0]
        assert text == ("" if fallback[t] else want[t][1]), t
    # and the public function fills those rows from the fallback
    assert _run(rows, index.tolist(), 5, cfg) == want


@pytest.mark.parametrize(("v", "digits", "outcome"), [
    (1e13, 2, 3), (1e12, 2, 0), (1e12, 3, 3), (1e11, 3, 0),
    (0.125, 2, 3), (0.0625, 3, 3), (0.126, 2, 0), (0.0, 2, 0), (-0.0, 3, 0), (5e-324, 2, 0),
    (math.nan, 2, 1), (math.inf, 3, 2), (-math.inf, 2, 2),
])
def test_fixed_point_outcome_at_the_limit_and_the_ties(v: float, digits: int, outcome: int) -> None:
    """Outcome 0 (formatted: Python's text), 1 nan, 2 inf, 3 fallback: ``|v|·10^d >= 1e15`` or a tie."""
    got, negative, k = _fixed_parts_python(v, digits)
    assert got == outcome
    assert negative == (math.copysign(1.0, v) < 0)
    if outcome == 0:
        text = f"{v:.{digits}f}"
        assert k == int(text.lstrip("-").replace(".", ""))


def test_the_pieces_are_kept_per_config() -> None:
    """Two configs that differ in one value get their own texts, in either order and when asked again."""
    row = [(9.0, 4.0, 3.0, 3.0, 0.5, 0.5)]
    one, other = RuleConfig(alpha=0.01), RuleConfig(alpha=0.05)
    for cfg in (one, other, one, other):
        assert _run(row, [10], 5, cfg) == _want([list(c) for c in zip(*row, strict=True)], [10], 5, cfg)
    blob, starts = _blob((0.9, 2.0, 2.0, 0.01))
    assert _blob((0.9, 2.0, 2.0, 0.01))[0] is blob
    assert starts[0] == 0 and starts[-1] == blob.size and (starts[1:] >= starts[:-1]).all()


SHAPES = "^stats, thresholds, z, intensity, vpin and vpin_cdf must be 1-d of equal length$"


def test_bad_arguments_are_refused() -> None:
    a = np.zeros(3)
    with pytest.raises(ValueError, match=SHAPES):
        decide_arrays(a, a, first_index=0, window=5, z=a, intensity=np.zeros(2), vpin=a, vpin_cdf=a,
                      config=RuleConfig())
    with pytest.raises(ValueError, match=SHAPES):
        decide_arrays(np.zeros((3, 1)), a, first_index=0, window=5, z=a, intensity=a, vpin=a, vpin_cdf=a,
                      config=RuleConfig())
    with pytest.raises(ValueError, match="^first_index must be an integer or one index per bar$"):
        decide_arrays(a, a, first_index=np.arange(2), window=5, z=a, intensity=a, vpin=a, vpin_cdf=a,
                      config=RuleConfig())
