"""The public ``udx.vpin`` / ``udx.bvc_buy_fraction`` wrappers: defaults, argument checks and their messages,
shapes (mutants that survived the kernel tests, TESTING.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from udx import bvc_buy_fraction, vpin

CLOSES = [100.00, 100.02, 100.01, 100.05, 100.04, 100.10, 100.08, 100.08, 100.15, 100.12, 100.20, 100.18, 100.25]
VOLUMES = [60, 30, 80, 50, 120, 40, 70, 90, 30, 60, 110, 60]


def test_an_even_split_when_sigma_is_zero_or_undefined_keeps_the_shape() -> None:
    for sigma in (0.0, math.nan, -1.0):
        out = bvc_buy_fraction([[0.02, -0.01, 0.0]], sigma)
        assert out.shape == (1, 3) and out.dtype == np.float64 and (out == 0.5).all()
    out = bvc_buy_fraction([[0.02, 0.0]], 0.0410007391)
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out, [[0.687153, 0.5]], atol=1e-6)  # spec §6.4 sanity vector


def test_defaults_are_the_papers_window_and_a_thousand_values_for_the_cdf() -> None:
    rng = np.random.default_rng(8)
    closes = 100 + np.cumsum(rng.normal(0, 0.05, 3001))
    vols = rng.integers(1, 400, 3000).astype(float)
    v, c = vpin(closes, vols, 120.0)
    v50, c1000 = vpin(closes, vols, 120.0, 50, cdf_window=1000)
    np.testing.assert_array_equal(v, v50)
    np.testing.assert_array_equal(c, c1000)
    assert np.isfinite(c[-1]) and not np.array_equal(c, vpin(closes, vols, 120.0, 50, cdf_window=1001)[1])


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (([[*CLOSES]], VOLUMES, 100.0), {}, "close must be 1-d with one more value than volume, got (1, 13) and (12,)"),
    ((CLOSES, VOLUMES[:-1], 100.0), {}, "close must be 1-d with one more value than volume, got (13,) and (11,)"),
    (([math.nan, *CLOSES[1:]], VOLUMES, 100.0), {}, "close must be finite and volume finite and >= 0"),
    ((CLOSES, [-1, *VOLUMES[1:]], 100.0), {}, "close must be finite and volume finite and >= 0"),
    ((CLOSES, [math.inf, *VOLUMES[1:]], 100.0), {}, "close must be finite and volume finite and >= 0"),
    ((CLOSES, VOLUMES, 0.0), {}, "bucket_volume must be finite and > 0, got 0.0"),
    ((CLOSES, VOLUMES, math.inf), {}, "bucket_volume must be finite and > 0, got inf"),
    ((CLOSES, VOLUMES, 100.0, 0), {}, "n must be an integer >= 1, got 0"),
    ((CLOSES, VOLUMES, 100.0, True), {}, "n must be an integer >= 1, got True"),
    ((CLOSES, VOLUMES, 100.0, 2.0), {}, "n must be an integer >= 1, got 2.0"),
    ((CLOSES, VOLUMES, 100.0, 3), {"cdf_window": 0}, "cdf_window must be >= 1, got 0"),
])  # fmt: skip
def test_bad_arguments_are_named_with_what_is_accepted(args, kwargs, message) -> None:
    with pytest.raises(ValueError) as raised:
        vpin(*args, **kwargs)
    assert str(raised.value) == message


def test_small_buckets_and_a_one_value_cdf_window_are_accepted() -> None:
    v, c = vpin(CLOSES, VOLUMES, 0.5, 3, cdf_window=1)
    assert np.isfinite(v[-1]) and np.isnan(c).all()  # the CDF needs 50 earlier values; one is kept
