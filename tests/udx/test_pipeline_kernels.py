"""The kernels :func:`udx.pipeline.process_symbol` assembles its columns with (``_tested_series``,
``_bar_columns``): compiled and plain twins against the numpy expressions they replace, written here from their
definitions (the tested bars' series behind the carried tail; every bar's columns: a tested bar's statistics,
``sigma * sqrt(w)``, VPIN's ``(close - ref) / sqrt(w)``, its index among the tested returns; NaN, 0 and
``OPENING_ONLY`` / ``NOT_PRICED`` elsewhere). Bit for bit: they only move values and repeat the same float64
operations. Small inputs, so that scripts/mutation's ``pipeline-fast`` group judges a mutant in a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from udx.pipeline import _bar_columns, _bar_columns_python, _tested_series, _tested_series_python

NOT_PRICED, OPENING_ONLY = -1, -2  # udx.reasons' codes for bars without a test (spec: signal_reason)


def _case(seed: int, m: int, tail: int, p_tested: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tested = rng.random(m) < p_tested
    n_t = int(tested.sum())
    lm_t = rng.normal(0, 3, n_t)
    lm_t[rng.random(n_t) < 0.2] = np.nan  # statistics are NaN until their window fills
    sigma_t = np.abs(rng.normal(1e-3, 5e-4, n_t))
    sigma_t[: min(1, n_t)] = np.nan  # EWMA's first sigma
    thr = np.full(m, 3.5)
    thr[rng.random(m) < 0.1] = np.nan
    return {
        "tested": tested, "u": rng.normal(0, 1e-3, m), "bar_end": np.cumsum(rng.integers(1, 9, m)).astype(np.int64),
        "bar_sess": np.repeat(np.arange(m // 7 + 1, dtype=np.int64) * 1000, 7)[:m],
        "ret_tail": rng.normal(0, 1e-3, tail), "end_tail": -np.arange(tail, 0, -1, dtype=np.int64),
        "lm_t": lm_t, "bns_t": rng.normal(0, 1, n_t), "sigma_t": sigma_t, "z_t": rng.normal(0, 1, n_t),
        "w": rng.uniform(0.2, 3.0, m), "thr": thr, "tod_ok": rng.random(m) < 0.5, "tod_z": rng.normal(0, 1, m),
        "trailing": rng.normal(0, 1, m), "close": 100 + rng.normal(0, 0.1, m), "ref": 100 + rng.normal(0, 0.1, m),
        "n_priced": rng.integers(0, 3, m).astype(np.int64), "n_before": np.int64(rng.integers(0, 500)),
    }


CASES = [_case(1, 50, 0, 0.7), _case(2, 200, 30, 0.5), _case(3, 40, 5, 1.0), _case(4, 30, 8, 0.0), _case(5, 0, 3, 0.5),
         _case(6, 120, 0, 0.05)]


@pytest.mark.parametrize("kernel", [_tested_series, _tested_series_python], ids=["jit", "python"])
@pytest.mark.parametrize("c", CASES)
def test_tested_series_is_the_tail_then_the_tested_bars(kernel: object, c: dict[str, np.ndarray]) -> None:
    m, tail = c["tested"].size, c["ret_tail"].size
    x, ends, sess = np.full(tail + m, -7.0), np.full(tail + m, -7, np.int64), np.full(m, -7, np.int64)
    n = kernel(c["tested"], c["u"], c["bar_end"], c["bar_sess"], c["ret_tail"], c["end_tail"], x, ends, sess)  # type: ignore[operator]
    idx = np.flatnonzero(c["tested"])
    assert n == idx.size
    np.testing.assert_array_equal(x[: tail + n], np.concatenate((c["ret_tail"], c["u"][idx])))
    np.testing.assert_array_equal(ends[: tail + n], np.concatenate((c["end_tail"], c["bar_end"][idx])))
    np.testing.assert_array_equal(sess[:n], c["bar_sess"][idx])
    assert (x[tail + n:] == -7.0).all() and (sess[n:] == -7).all()  # nothing written past the tested bars


@pytest.mark.parametrize("kernel", [_bar_columns, _bar_columns_python], ids=["jit", "python"])
@pytest.mark.parametrize("c", CASES)
def test_bar_columns_scatter_the_tested_series_and_fill_the_rest(kernel: object, c: dict[str, np.ndarray]) -> None:
    m = c["tested"].size
    out = [np.full(m, 9.0) for _ in range(7)]
    flags, order = np.zeros(m, np.bool_), np.full(m, 99, np.int64)
    lm, bns, sigma, z, iz, dp, tested_f = out
    kernel(c["tested"], c["lm_t"], c["bns_t"], c["sigma_t"], c["z_t"], c["w"], c["thr"], c["tod_ok"], c["tod_z"],  # type: ignore[operator]
           c["trailing"], c["close"], c["ref"], c["n_priced"], int(c["n_before"]), lm, bns, sigma, z, flags, iz, dp,
           tested_f, order)
    # the reference: the numpy expressions of the definitions
    idx = np.flatnonzero(c["tested"])
    ref = {name: np.full(m, np.nan) for name in ("lm", "bns", "sigma", "z")}
    ref["lm"][idx], ref["bns"][idx], ref["z"][idx] = c["lm_t"], c["bns_t"], c["z_t"]
    ref["sigma"][idx] = c["sigma_t"] * np.sqrt(c["w"][idx])
    ref_dp = np.zeros(m)
    ref_dp[idx] = (c["close"][idx] - c["ref"][idx]) / np.sqrt(c["w"][idx])
    ref_order = np.where(c["n_priced"] > 0, OPENING_ONLY, NOT_PRICED).astype(np.int64)
    ref_order[idx] = int(c["n_before"]) + np.arange(idx.size)
    for name, got in (("lm", lm), ("bns", bns), ("sigma", sigma), ("z", z)):
        np.testing.assert_array_equal(got, ref[name], err_msg=name)
    np.testing.assert_array_equal(dp, ref_dp)
    np.testing.assert_array_equal(order, ref_order)
    np.testing.assert_array_equal(tested_f, c["tested"].astype(np.float64))
    np.testing.assert_array_equal(flags, np.abs(ref["lm"]) > c["thr"])
    np.testing.assert_array_equal(iz, np.where(c["tod_ok"], c["tod_z"], c["trailing"]))


def test_bar_columns_flags_only_beyond_the_threshold_in_either_direction() -> None:
    """Hand-made: |LM| equal to the threshold is no jump, NaN statistics or thresholds never flag."""
    tested = np.array([True, True, True, True, True, False])
    lm_t = np.array([4.0, -4.0, 3.0, np.nan, 5.0])
    thr = np.array([3.0, 3.0, 3.0, 3.0, np.nan, 3.0])
    one, m = np.ones(5), 6
    outs = [np.empty(m) for _ in range(7)]
    flags, order = np.empty(m, np.bool_), np.empty(m, np.int64)
    _bar_columns(tested, lm_t, one, one, one, np.full(m, 4.0), thr, np.ones(m, np.bool_), np.arange(6.0), -np.ones(m),
                 np.full(m, 3.0), np.ones(m), np.array([1, 1, 1, 1, 1, 0]), 10, *outs[:4], flags, *outs[4:], order)
    assert flags.tolist() == [True, True, False, False, False, False]
    assert order.tolist() == [10, 11, 12, 13, 14, NOT_PRICED]
    assert outs[2].tolist()[:5] == [2.0] * 5  # sigma 1 in units of u, times sqrt(w = 4)
    assert outs[5].tolist() == [1.0] * 5 + [0.0]  # (3 - 1) / sqrt(4); untested bars move VPIN by nothing
