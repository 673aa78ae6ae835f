"""VPIN with Lee-Ready classification (udx.vpin_lr) against the plain twin of the paper's buckets."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests import naive
from udx import vpin_lr
from udx.vpin_lr import new_state, vpin_lee_ready, vpin_lee_ready_bars


def _random_trades(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    side = rng.choice(np.array([-1, 0, 1]), n, p=[0.4, 0.1, 0.5])
    size = rng.choice(np.array([0.0, 1.0, 37.0, 100.0, 180.0, 450.0]), n)  # some fill several buckets
    return side, size


def test_hand_vector_from_the_paper_buckets() -> None:
    # V = 100, n = 2: bucket 1 = buy 60 + sell 40 -> OI 20; bucket 2 = sell 20 + buy 50 + half of 30 -> OI 30
    side, size = [1, -1, 1, 0, 1], [60, 60, 50, 40, 30]
    expected = [np.nan, np.nan, np.nan, 0.25, 0.25]
    assert_allclose(vpin_lee_ready(side, size, 100.0, 2), expected, rtol=1e-12)
    assert_allclose(naive.vpin_lee_ready(side, size, 100.0, 2), expected, rtol=1e-12)


@pytest.mark.parametrize(("seed", "bucket", "n"), [(1, 150.0, 50), (2, 100.0, 1), (3, 1000.0, 5)])
def test_random_trades_match_the_plain_twin(seed: int, bucket: float, n: int) -> None:
    side, size = _random_trades(seed, 3000)
    got = vpin_lee_ready(side, size, bucket, n)
    assert_allclose(got, naive.vpin_lee_ready(side, size, bucket, n), rtol=1e-12)
    ok = ~np.isnan(got)
    assert ok.sum() > 100 and (got[ok] >= 0).all() and (got[ok] <= 1).all()


def test_one_sided_flow_is_one_and_unsigned_flow_is_zero() -> None:
    assert_allclose(vpin_lee_ready(np.ones(40), np.full(40, 30.0), 100.0, 3)[-1], 1.0, rtol=1e-12)
    assert vpin_lee_ready(np.zeros(40), np.full(40, 30.0), 100.0, 3)[-1] == 0.0


def test_numba_kernel_equals_its_python_twin() -> None:
    side, size = _random_trades(4, 2000)
    bar = np.sort(np.random.default_rng(4).integers(0, 300, 2000))
    bucket = np.where(np.arange(300) < 40, np.nan, np.where(np.arange(300) < 150, 400.0, 90.0))
    outs = []
    for kernel in (vpin_lr._lr_buckets, vpin_lr._lr_buckets_python):
        st = new_state(7)
        out = np.empty(300)
        kernel(bar, side.astype(np.int8), size, bucket, 7, st["f"], st["i"], st["oi"], st["vol"], out)
        outs.append(out)
    assert np.array_equal(outs[0], outs[1], equal_nan=True)


def test_bars_without_a_bucket_size_are_skipped_and_a_smaller_size_closes_the_open_bucket() -> None:
    side = np.array([1, 1, -1, 1, -1], np.int8)
    size = np.array([500.0, 60.0, 30.0, 10.0, 100.0])
    bar = np.array([0, 1, 1, 2, 3])
    bucket = np.array([np.nan, 100.0, 50.0, 50.0])  # bar 0: first session, no V yet
    out = vpin_lee_ready_bars(bar, side, size, bucket, 1, new_state(1))
    # bar 1: fill 90 (buy 60); bar 2: V 50 < 90 closes it at 90: OI |120 - 90| = 30 -> 30/90;
    # then buy 10 opens a new bucket; bar 3: sell 40 completes it (OI 30), the next 50 sold fill one more
    # (OI 50 -> VPIN 1 with n = 1) and 10 stay open
    assert_allclose(out, [np.nan, np.nan, 30 / 90, 1.0], rtol=1e-12)


def test_bars_in_pieces_equal_one_pass() -> None:
    rng = np.random.default_rng(5)
    side, size = _random_trades(5, 4000)
    bar = np.sort(rng.integers(0, 500, 4000))
    bucket = np.repeat([np.nan, 300.0, 120.0, 800.0, 200.0], 100)
    whole = vpin_lee_ready_bars(bar, side, size, bucket, 10, new_state(10))
    state = new_state(10)
    cuts = [0, *sorted(rng.choice(np.arange(1, 500), 12, replace=False)), 500]
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        k = (bar >= lo) & (bar < hi)
        parts.append(vpin_lee_ready_bars(bar[k] - lo, side[k], size[k], bucket[lo:hi], 10, state))
    assert np.array_equal(np.concatenate(parts), whole, equal_nan=True)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="one length"):
        vpin_lee_ready([1, -1], [1.0], 10.0)
    with pytest.raises(ValueError, match="side must hold"):
        vpin_lee_ready([2], [1.0], 10.0)
    with pytest.raises(ValueError, match="size must be finite"):
        vpin_lee_ready([1], [np.nan], 10.0)
    with pytest.raises(ValueError, match="bucket_volume"):
        vpin_lee_ready([1], [1.0], 0.0)
    with pytest.raises(ValueError, match="n must be"):
        vpin_lee_ready([1], [1.0], 10.0, 0)
