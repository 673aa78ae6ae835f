"""The compiled reason texts (udx.reasons) against the per-bar reference udx.signal_rule.decide, byte for byte,
on random values and the edge cases of fixed-point formatting (NaN, ±0, ±inf, huge, exact and near .xx5 ties)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from udx.reasons import _PROGRAM, _fixed_parts, _fixed_parts_python, _reasons, _reasons_python, decide_arrays
from udx.signal_rule import RuleConfig, decide

_EDGE = [0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 1e300, -1e300, 1e15, 1e13, -1e13 + 0.125, 9.995,
         2.675, 1.005, 0.125, 0.375, -0.125, 0.0625, 0.0005, 0.0015, -0.001, 0.004999999999999999, 0.005,
         4.361799, -4.361799, 5e-324, -5e-324, 0.9, 0.95, 0.97, 2.0, -2.0, 99.995, 1234567.125, 0.1 + 0.2,
         123456789012.345, 2.0**52, 2.0**53 + 2]


def _column(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    v = rng.normal(0.0, scale, n)
    kind = rng.integers(0, 8, n)
    v[kind == 0] = np.nan
    v[kind == 1] = np.round(v[kind == 1] * 8) / 8  # exact binary ties at 2 and 3 decimals
    v[kind == 2] = np.round(v[kind == 2], 2) + 0.005  # near-ties
    v[kind == 3] = np.round(v[kind == 3], 3) + 0.0005
    v[kind == 4] = rng.choice(_EDGE, int(np.sum(kind == 4)))
    return v


def _reference(cols: list[np.ndarray], first_index: int, window: int, cfg: RuleConfig) -> list[tuple[str, str]]:
    lm, thr, z, iz, vp, vc = (c.tolist() for c in cols)
    return [decide(lm[t], thr[t], index=first_index + t, window=window, z=z[t], intensity=iz[t], vpin=vp[t],
                   vpin_cdf=vc[t], config=cfg) for t in range(len(lm))]


@pytest.mark.parametrize("cfg", [RuleConfig(), RuleConfig(vpin_cdf_hold=0.97, momentum_z=1.5, intensity_z=0.5,
                                                          alpha=0.05),
                                 RuleConfig(vpin_cdf_hold=0.125, momentum_z=0.0, intensity_z=-1.0, alpha=1e-7)])
@pytest.mark.parametrize("seed", [0, 1])
def test_texts_equal_the_reference_bytes(cfg: RuleConfig, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6000
    lm, z, iz = _column(rng, n, 4.0), _column(rng, n, 2.5), _column(rng, n, 2.5)
    thr = np.where(rng.random(n) < 0.7, 4.361799, _column(rng, n, 4.0))
    vc = np.where(rng.random(n) < 0.5, rng.random(n), _column(rng, n, 1.0))
    vp = _column(rng, n, 0.5)
    cols = [lm, thr, z, iz, vp, vc]
    for first_index, window in ((0, 314), (300, 310), (10**12, 5)):
        signals, reasons = decide_arrays(lm, thr, first_index=first_index, window=window, z=z, intensity=iz,
                                         vpin=vp, vpin_cdf=vc, config=cfg)
        got = list(zip(signals.to_pylist(), reasons.to_pylist(), strict=True))
        assert got == _reference(cols, first_index, window, cfg)


@pytest.mark.parametrize("digits", [2, 3])
def test_fixed_point_parts_match_python_or_fall_back(digits: int) -> None:
    rng = np.random.default_rng(7)
    values = [*_EDGE, *rng.normal(0, 10, 2000).tolist(), *(rng.integers(-10**6, 10**6, 500) / 8).tolist(),
              *(np.round(rng.normal(0, 10, 500), digits) + 0.5 * 10.0**-digits).tolist()]
    fallbacks = 0
    for v in values:
        for kernel in (_fixed_parts, _fixed_parts_python):
            outcome, negative, k = kernel(v, digits)
            if outcome == 3:  # the fallback
                fallbacks += 1
                continue
            body = {1: "nan", 2: "inf"}.get(outcome) or f"{str(k).zfill(digits + 1)[:-digits]}.{str(k)[-digits:].zfill(digits)}"
            assert ("-" if negative else "") + body == f"{v:.{digits}f}", v
    assert fallbacks < len(values)  # the fallback is for ties and huge values only


def test_python_twin_of_the_kernel_gives_the_same_buffers() -> None:
    rng = np.random.default_rng(3)
    n = 500
    cols = [_column(rng, n, 4.0), np.full(n, 4.0), _column(rng, n, 2.5), _column(rng, n, 2.5),
            rng.random(n), rng.random(n)]
    from udx.reasons import _blob

    blob, starts = _blob((0.9, 2.0, 2.0, 0.01))
    outs = []
    for kernel in (_reasons, _reasons_python):
        code, offsets = np.empty(n, np.int8), np.empty(n + 1, np.int32)
        buf, fallback = np.zeros(n * 256, np.uint8), np.empty(n, np.bool_)
        index = 3 + np.arange(n, dtype=np.int64)
        index[::7] = -1  # a bar without a price-setting print
        index[::11] = -2  # a session's opening print alone
        nfb = kernel(*cols, index, 300, 0.9, 2.0, 2.0, blob, starts, _PROGRAM, code, offsets, buf, fallback)
        outs.append((nfb, code.tolist(), offsets.tolist(), bytes(buf[: offsets[n]]), fallback.tolist()))
    assert outs[0] == outs[1]


def test_untested_bars_get_their_own_reason_in_both_paths() -> None:
    rng = np.random.default_rng(5)
    n = 300
    cols = [np.full(n, np.nan), np.full(n, 4.0), _column(rng, n, 2.5), _column(rng, n, 2.5), rng.random(n),
            rng.random(n) * 0.5]
    index = rng.choice(np.array([-2, -1, 3, 400], np.int64), n)
    signals, reasons = decide_arrays(*cols[:2], first_index=index, window=314, z=cols[2], intensity=cols[3],
                                     vpin=cols[4], vpin_cdf=cols[5], config=RuleConfig())
    lm, thr, z, iz, vp, vc = (c.tolist() for c in cols)
    want = [decide(lm[t], thr[t], index=int(index[t]), window=314, z=z[t], intensity=iz[t], vpin=vp[t],
                   vpin_cdf=vc[t]) for t in range(n)]
    assert list(zip(signals.to_pylist(), reasons.to_pylist(), strict=True)) == want
    texts = set(reasons.to_pylist())
    assert "no signal: no price-setting trade in the bar" in texts
    assert "no signal: first bar of the session, its opening print only" in texts


def test_empty_input_gives_empty_arrays() -> None:
    e = np.empty(0)
    signals, reasons = decide_arrays(e, e, first_index=0, window=5, z=e, intensity=e, vpin=e, vpin_cdf=e,
                                     config=RuleConfig())
    assert len(signals) == 0 and len(reasons) == 0
