"""``udx.bns_test`` with quad-power quarticity and the arguments of ``bns_test``/``bns_stat`` (mutation testing
found the QP path and the argument checks untested; spec §3).

The QP reference is the spec's formula ``QP = M μ1^{-4} M/(M-3) Σ|r_j r_{j-1} r_{j-2} r_{j-3}|`` with
``μ1^{-4} = π²/4`` (highfrequency's ``rQPVar``), checked against the spec's sanity value QP = 1.124458128851e-09
on the §2.4 returns; the statistics from it at rtol 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from udx.bns import bns_stat, bns_test

R = [0.001, -0.002, 0.0015, 0.0005, -0.001, 0.012, -0.0008, 0.0011, -0.0004, 0.0009]
THETA = math.pi**2 / 4 + math.pi - 5
SPEC_QP = 1.124458128851e-09  # spec §3 sanity vector


def _reference(r: list[float], form: str, bv: str) -> float:
    m = len(r)
    a = [abs(v) for v in r]
    rv = sum(v * v for v in r)
    bpv = (math.pi / 2) * sum(a[j] * a[j - 1] for j in range(1, m)) * (m / (m - 1) if bv == "ht" else 1.0)
    qp = m * (math.pi**2 / 4) * m / (m - 3) * sum(a[j] * a[j - 1] * a[j - 2] * a[j - 3] for j in range(3, m))
    if form == "linear":
        return (rv - bpv) / math.sqrt(THETA / m * qp)
    scale = math.sqrt(THETA / m * max(1.0, qp / bpv**2))
    return ((rv - bpv) / rv if form == "ratio" else math.log(rv) - math.log(bpv)) / scale


def test_the_reference_quad_power_is_the_spec_value() -> None:
    a = [abs(v) for v in R]
    qp = 10 * (math.pi**2 / 4) * 10 / 7 * sum(a[j] * a[j - 1] * a[j - 2] * a[j - 3] for j in range(3, 10))
    assert qp == pytest.approx(SPEC_QP, rel=1e-11)


@pytest.mark.parametrize("bv", ["ht", "hf"])
@pytest.mark.parametrize("form", ["ratio", "log", "linear"])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_quad_power_statistics_equal_the_formula(form: str, bv: str, seed: int | None) -> None:
    r = R if seed is None else np.random.default_rng(seed).standard_t(4, 50 + 10 * seed).tolist()
    assert bns_test(r, form=form, bv=bv, iq="qp") == pytest.approx(_reference(r, form, bv), rel=1e-12)


def test_quad_power_needs_four_returns() -> None:
    r = [0.001, -0.002, 0.0015, 0.0007]
    assert bns_test(r, form="linear", iq="qp") == pytest.approx(_reference(r, "linear", "ht"), rel=1e-12)
    assert math.isnan(bns_test(r[:3], iq="qp"))


def test_linear_form_with_zero_quarticity_is_nan() -> None:
    """spec §3: NaN (never ±Inf or an error) when IQ = 0 in the linear form: no three consecutive nonzero."""
    assert math.isnan(bns_test([0.0, 0.01, 0.0, 0.01, 0.0], form="linear"))


def test_an_overflowing_statistic_is_nan_never_inf() -> None:
    """A tiny quarticity under one huge return: (RV - BV) / sqrt(ϑ/M·TP) overflows; the module promises NaN."""
    r = [1e-100, 1e-100, 1e-100, 1e150]
    for form in ("linear", "ratio", "log"):
        value = bns_test(r, form=form)
        assert math.isnan(value) or math.isfinite(value), (form, value)
    assert math.isnan(bns_test(r, form="linear"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"iq": "bv"}, "iq must be 'tp' or 'qp', got 'bv'"),
    ({"bv": "x"}, r"bv must be 'ht' \(Huang-Tauchen, M/\(M-1\)\) or 'hf' \(highfrequency\), got 'x'"),
])
def test_bad_options_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bns_test(R, **kwargs)


@pytest.mark.parametrize("function", [lambda r: bns_test(r), lambda r: bns_stat(r, 5)])
def test_two_dimensional_returns_are_refused(function) -> None:
    with pytest.raises(ValueError, match="returns must be one-dimensional, got 2 dimensions"):
        function(np.zeros((4, 4)))


@pytest.mark.parametrize("window", [2, 3.0, "5", True])
def test_bns_stat_refuses_a_window_that_is_not_an_integer_of_at_least_three(window: object) -> None:
    with pytest.raises(ValueError, match="window must be an integer >= 3"):
        bns_stat(R, window)  # type: ignore[arg-type]


def test_bns_stat_accepts_a_window_of_three() -> None:
    out = bns_stat(R, 3)
    assert math.isnan(out[1]) and out[2] == pytest.approx(bns_test(R[:3]), rel=1e-12)


@pytest.mark.parametrize(("window", "first"), [(6, 2), (10, 4), (11, 4), (4, 2)])
def test_the_default_min_periods_is_half_the_window_and_at_least_three(window: int, first: int) -> None:
    out = bns_stat(R, window)
    assert np.isnan(out[:first]).all() and not math.isnan(out[first])


def test_min_periods_as_given() -> None:
    out = bns_stat(R, 10, min_periods=3)
    assert math.isnan(out[1]) and out[2] == pytest.approx(bns_test(R[:3]), rel=1e-12)
    full = bns_stat(R, 10, min_periods=10)
    assert np.isnan(full[:9]).all() and full[9] == pytest.approx(bns_test(R), rel=1e-12)


@pytest.mark.parametrize("bad", [2, 11])
def test_min_periods_outside_three_to_window_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match=rf"min_periods must be in \[3, window\], got {bad}"):
        bns_stat(R, 10, min_periods=bad)
