"""VPIN by Lee-Ready (udx.vpin_lr): the rules a caller feels beyond the random comparisons of test_vpin_lr.py.

Bucket sizes below one share (crypto), bars without a bucket size (0 or NaN), a bar whose size equals the open
bucket's fill, the default window, the argument checks with their exact messages, and the transform's step
(prints outside every bar, state carried under its stored names) against the plain twin of the paper's
buckets in ``tests/naive.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests import naive
from udx.vpin_lr import new_state, vpin_lee_ready, vpin_lee_ready_bars, vpin_lee_ready_step


def _trades(seed: int, n: int, sizes: list[float]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1, 0, 1]), n, p=[0.45, 0.1, 0.45]), rng.choice(np.array(sizes), n)


def test_the_default_window_is_fifty_buckets() -> None:
    side, size = _trades(11, 4000, [10.0, 40.0, 90.0, 250.0])
    got = vpin_lee_ready(side, size, 100.0)
    assert_allclose(got, naive.vpin_lee_ready(side, size, 100.0, 50), rtol=1e-12)
    assert np.isnan(got[:40]).all() and np.isfinite(got[-1])


def test_a_bucket_below_one_share_fills_like_any_other() -> None:
    # a crypto pair traded in fractions of a coin: V = 0.5 is a valid bucket
    side, size = _trades(12, 600, [0.01, 0.07, 0.2, 0.9])
    got = vpin_lee_ready(side, size, 0.5, 3)
    assert_allclose(got, naive.vpin_lee_ready(side, size, 0.5, 3), rtol=1e-12)
    assert np.isfinite(got[-100:]).all()


def test_a_bar_without_a_bucket_size_skips_its_trades_and_leaves_the_open_bucket_open() -> None:
    # n = 1, V = 100: bar 0 buys 60 (open bucket at 60); bar 1 has V 0 (no bucketing): its sell of 500 is not
    # bucketed and the open bucket stays open; bar 2 sells 40: the bucket closes, buy 60 of 100 -> |120-100|/100
    side = np.array([1, -1, -1], np.int8)
    size = np.array([60.0, 500.0, 40.0])
    for no_size in (0.0, np.nan):
        out = vpin_lee_ready_bars(np.arange(3), side, size, np.array([100.0, no_size, 100.0]), 1, new_state(1))
        assert_allclose(out, [np.nan, np.nan, 0.2], rtol=1e-12)


@pytest.mark.parametrize("unit", [1.0, 0.01])  # shares, or a coin's fractions
def test_a_bar_whose_size_equals_the_open_fill_closes_that_bucket_at_its_start(unit: float) -> None:
    # bar 0 buys 60 of V = 100; bar 1 (no trades) has V = 60, equal to the fill: the bucket closes there, all buys
    out = vpin_lee_ready_bars(np.array([0]), np.array([1], np.int8), np.array([60.0 * unit]),
                              np.array([100.0, 60.0]) * unit, 1, new_state(1))
    assert_allclose(out, [np.nan, 1.0], rtol=1e-12)


@pytest.mark.parametrize(("args", "message"), [
    (([2], [1.0], 10.0), r"^side must hold only \+1, -1 or 0$"),
    (([1], [-1.0], 10.0), r"^size must be finite and >= 0$"),
    (([1], [np.inf], 10.0), r"^size must be finite and >= 0$"),
    (([1], [1.0], np.inf), r"^bucket_volume must be finite and > 0, got inf$"),
    (([1], [1.0], 10.0, True), r"^n must be an integer >= 1, got True$"),
    (([1], [1.0], 10.0, 2.5), r"^n must be an integer >= 1, got 2.5$"),
    (([1, 1], [[1.0, 1.0]], 10.0), r"^side and size must be 1-d of one length, got \(2,\) and \(1, 2\)$"),
])
def test_bad_arguments_are_refused_with_their_exact_message(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vpin_lee_ready(*args)  # type: ignore[arg-type]


def _step_case(seed: int) -> dict[str, np.ndarray]:
    """Bars of 60 s in two sessions with a gap; prints inside, exactly at a bar's start or end, and between."""
    rng = np.random.default_rng(seed)
    # the last session is one bar, so that the last bar too follows a gap
    starts = np.concatenate([np.arange(0, 1200, 60), np.arange(5000, 6200, 60), [8000]]).astype(np.int64)
    ends = starts + 60
    edges = [starts[::3], ends[:-1:4], ends[19:20]]  # at a bar start, at an end that starts the next, before a gap
    ts = np.sort(np.concatenate([rng.integers(0, 8060, 1200), *edges]))
    side = rng.choice(np.array([-1, 0, 1], np.int8), ts.size)
    size = rng.choice(np.array([5.0, 20.0, 70.0, 160.0]), ts.size)
    return {"starts": starts, "ends": ends, "ts": ts, "side": side, "size": size}


def _expected_per_bar(case: dict[str, np.ndarray], bucket: float, n: int) -> np.ndarray:
    """The plain twin on the prints inside a bar ``[start, end)``, read at each bar's end."""
    starts, ends, ts = case["starts"], case["ends"], case["ts"]
    inside = np.array([bool(((starts <= t) & (t < ends)).any()) for t in ts])
    per_trade = naive.vpin_lee_ready(case["side"][inside], case["size"][inside], bucket, n)
    kept = ts[inside]
    out = np.full(starts.size, np.nan)
    for b, e in enumerate(ends):
        last = int(np.searchsorted(kept, e, side="left")) - 1  # the last print before the bar's end
        if last >= 0:
            out[b] = per_trade[last]
    return out


def test_the_step_buckets_only_prints_inside_a_bar_and_keeps_its_state_under_the_stored_names() -> None:
    case = _step_case(21)
    assert np.isin(case["ends"][19], case["ts"]) and np.isin(case["starts"][3], case["ts"])  # the edge cases exist
    bucket = np.full(case["starts"].size, 150.0)
    arrays: dict[str, np.ndarray] = {"other": np.zeros(1)}
    got = vpin_lee_ready_step(arrays, case["starts"], case["ends"], case["ts"], case["side"], case["size"],
                              bucket, 4)
    assert_allclose(got, _expected_per_bar(case, 150.0, 4), rtol=1e-12)
    assert np.isfinite(got[-10:]).all()
    assert set(arrays) == {"other", "liq_vlr_f", "liq_vlr_i", "liq_vlr_oi", "liq_vlr_vol"}
    assert arrays["liq_vlr_oi"].shape == (4,) and arrays["liq_vlr_f"][2] == got[-1]


def test_the_step_in_pieces_equals_one_pass() -> None:
    case = _step_case(22)
    bucket = np.full(case["starts"].size, 120.0)
    whole = vpin_lee_ready_step({}, case["starts"], case["ends"], case["ts"], case["side"], case["size"], bucket, 3)
    arrays: dict[str, np.ndarray] = {}
    parts = []
    for lo, hi in ((0, 7), (7, 20), (20, 31), (31, 41)):
        s, e = case["starts"][lo:hi], case["ends"][lo:hi]
        k = (case["ts"] >= (case["ends"][lo - 1] if lo else -1)) & (case["ts"] < e[-1])
        parts.append(vpin_lee_ready_step(arrays, s, e, case["ts"][k], case["side"][k], case["size"][k],
                                         bucket[lo:hi], 3))
    assert np.array_equal(np.concatenate(parts), whole, equal_nan=True)
    assert_allclose(whole, _expected_per_bar(case, 120.0, 3), rtol=1e-12)
