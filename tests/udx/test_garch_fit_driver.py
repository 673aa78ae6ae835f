"""The GARCH fit's cheaper driving of SLSQP, and its analytic gradient against an independent likelihood.

* ``_slsqp_direct`` steps scipy's SLSQP itself; it must give bit for bit the iterates of
  ``scipy.optimize.minimize(method="SLSQP")`` (``_slsqp_scipy``), on series where the optimum is interior, on
  the ``alpha + beta <= 1`` constraint and on the ``alpha >= 0`` bound, with at least the workspace
  ``minimize`` hands the step; the fit itself is ``minimize`` on ``-ℓ / n`` from arch's starting values.
* The gradient the fit is given (:func:`udx.garch._loglik_grad`) is compared with central finite differences
  of ``tests/naive.py``'s ``garch_variance`` (pure Python, arch's recursion with its variance bounds, written
  without the project's kernel). Tolerance rtol 1e-5: the truncation error of a central difference with
  h = 1e-6 relative is O(h²) and its rounding error about eps·|ℓ|/h ≈ 1e-8 relative here.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from udx import garch
from udx.garch import _loglik_grad, _prepare, _slsqp_direct, _slsqp_scipy

_spec = importlib.util.spec_from_file_location("naive", Path(__file__).resolve().parents[1] / "naive.py")
assert _spec is not None and _spec.loader is not None
naive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naive)


def _garch_series(seed: int, n: int, omega: float, alpha: float, beta: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n + 200)
    r = np.empty(n + 200)
    s2 = omega / max(1e-3, 1.0 - alpha - beta)
    for t in range(n + 200):
        if t:
            s2 = omega + alpha * r[t - 1] ** 2 + beta * s2
        r[t] = math.sqrt(s2) * z[t]
    return r[200:]


def _series() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    spiky = rng.standard_normal(600) * np.where(rng.random(600) < 0.03, 20.0, 1.0)
    spiky[100:130] = 0.0
    return [
        ("garch interior", _garch_series(1, 2000, 0.05, 0.08, 0.90) * 1e-4),
        ("integrated: on alpha + beta = 1", _garch_series(4, 1500, 1e-4, 0.15, 0.85)),
        ("iid: alpha on its bound 0", np.random.default_rng(3).standard_normal(1000)),
        ("spiky with a run of zeros", spiky),
        ("short", np.array([0.5, -1.0, 0.3, 2.0, -0.2])),
        ("T=250 intraday", _garch_series(4, 250, 1e-9, 0.1, 0.85)),
    ]


def _objective(e2: np.ndarray, var_resid: float):  # noqa: ANN202 - the fit's objective, as _fit_e2 builds it
    c2 = float(np.mean(e2))
    es = e2 / c2
    b, lower, upper = _prepare(es, var_resid / c2)
    path, grad = np.empty(es.size), np.empty(3)

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        ll = _loglik_grad(float(x[0]), float(x[1]), float(x[2]), es, b, lower, upper, path, grad)
        return -ll / es.size, -grad / es.size

    v = float(np.mean(es))
    return objective, np.array([1e-8 * v, 0.0, 0.0]), np.array([10.0 * v, 1.0, 1.0])


@pytest.mark.parametrize(("label", "y"), _series(), ids=[label for label, _ in _series()])
def test_direct_slsqp_driver_takes_minimizes_steps_bit_for_bit(label: str, y: np.ndarray) -> None:
    objective, lower, upper = _objective(y * y, float(np.var(y)))
    for x0 in (np.array([0.5, 0.05, 0.9]), np.array([0.2, 0.01, 0.49]), np.array([1.0, 0.2, 0.78])):
        want_x, want_status, want_nit = _slsqp_scipy(objective, x0, lower, upper, 1e-11, 200)
        got_x, got_status, got_nit = _slsqp_direct(objective, x0, lower, upper, 1e-11, 200)
        assert np.array_equal(got_x, want_x), (label, x0, got_x, want_x)
        assert (got_status, got_nit) == (want_status, want_nit)


def test_fit_drives_the_step_directly_and_equals_minimize() -> None:
    y = _garch_series(9, 1200, 0.05, 0.1, 0.85)
    assert garch._pick_solver() is _slsqp_direct  # scipy >= 1.16 (pyproject): the step is there, probe agrees
    fit = garch._fit_e2(y * y, float(np.var(y)))
    assert garch._CHOSEN == [_slsqp_direct]
    assert fit == garch._fit_e2(y * y, float(np.var(y)), solve=_slsqp_scipy)


def _step_with_another_interface(*args: object) -> None:
    raise TypeError("slsqp() takes 12 positional arguments but 11 were given")


def _step_that_stops_at_once(state: dict, *args: object) -> None:
    state["mode"] = 0  # "converged" at the start: a different answer from minimize's


@pytest.mark.parametrize("step", [None, _step_with_another_interface, _step_that_stops_at_once])
def test_a_scipy_without_the_step_or_with_another_gets_minimize(monkeypatch: pytest.MonkeyPatch, step) -> None:
    monkeypatch.setattr(garch, "_SLSQP_STEP", step)
    assert garch._pick_solver() is _slsqp_scipy


def test_fit_fills_the_variance_path_of_its_parameters() -> None:
    y = _garch_series(11, 800, 0.05, 0.1, 0.85)
    path = np.full(y.size, np.nan)
    fit = garch._fit_e2(y * y, float(np.var(y)), sigma2=path)
    want, ll = naive.garch_variance(y, fit.omega, fit.alpha, fit.beta)
    assert_allclose(path, want, rtol=1e-12)
    assert_allclose(fit.loglik, ll, rtol=1e-12)


def _naive_loglik(e: np.ndarray, x: np.ndarray) -> float:
    return float(naive.garch_variance(e, *x)[1])


@pytest.mark.parametrize("x", [(0.07, 0.09, 0.87), (0.3, 0.2, 0.5), (1.2, 0.02, 0.3), (0.01, 0.45, 0.54)])
@pytest.mark.parametrize("seed", [0, 1])
def test_analytic_gradient_matches_differences_of_the_naive_likelihood(x: tuple, seed: int) -> None:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(300) * np.where(rng.random(300) < 0.05, 8.0, 1.0)
    e2 = e * e
    b, lower, upper = _prepare(e2, float(np.var(e)))
    grad = np.empty(3)
    ll = _loglik_grad(*x, e2, b, lower, upper, np.empty(e.size), grad)
    assert_allclose(ll, _naive_loglik(e, np.array(x)), rtol=1e-12)
    for k in range(3):
        h = 1e-6 * max(1.0, abs(x[k]))
        up, down = np.array(x, float), np.array(x, float)
        up[k] += h
        down[k] -= h
        difference = (_naive_loglik(e, up) - _naive_loglik(e, down)) / (2 * h)
        assert_allclose(grad[k], difference, rtol=1e-5, err_msg=f"d loglik / d x[{k}] at {x}")


def test_gradient_is_zero_where_the_lower_variance_bound_holds_every_step() -> None:
    e = np.random.default_rng(2).standard_normal(200)
    x = np.array([1e-9, 0.0, 0.0])  # sigma2 = 1e-9 is below every lower bound: clamped, flat likelihood
    e2 = e * e
    b, lower, upper = _prepare(e2, float(np.var(e)))
    grad = np.empty(3)
    _loglik_grad(*x, e2, b, lower, upper, np.empty(e.size), grad)
    h = 1e-10
    for k in range(3):
        up = x.copy()
        up[k] += h
        assert (_naive_loglik(e, up) - _naive_loglik(e, x)) / h == 0.0
    assert np.array_equal(grad, np.zeros(3))


def test_fits_on_several_threads_pick_the_driver_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transform computes a chunk's symbols on two threads: their first fits must probe and pick once."""
    import threading

    monkeypatch.setattr(garch, "_CHOSEN", [])
    y = _garch_series(13, 600, 0.05, 0.1, 0.85)
    start = threading.Barrier(6)
    fits: list[object] = []

    def fit() -> None:
        start.wait()
        fits.append(garch._fit_e2(y * y, float(np.var(y))))

    threads = [threading.Thread(target=fit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert garch._CHOSEN == [_slsqp_direct]
    assert len(fits) == 6 and all(f == fits[0] for f in fits)


@pytest.mark.parametrize("label", ["garch interior", "integrated: on alpha + beta = 1", "spiky with a run of zeros",
                                   "T=250 intraday"])
def test_fit_is_minimize_on_the_mean_negative_loglikelihood(label: str) -> None:
    """The fit is SLSQP on ``-ℓ / n`` of the series scaled to mean square one, from arch's starting values, with
    ftol 1e-11 and 200 iterations, run here through ``scipy.optimize.minimize`` itself: SLSQP's stopping rule is
    not invariant to the objective's scale, so an objective or gradient scaled otherwise (``2 / n``, ``n``)
    stops elsewhere (4e-6 to 3e-5 relative on these series) and fails rtol 1e-10; the answer's ω back in the
    data's units. Series with an interior optimum (α = 0 on the bound makes a relative comparison meaningless)."""
    from scipy.optimize import minimize

    arch_univariate = pytest.importorskip("arch.univariate")
    y = dict(_series())[label]
    e2 = y * y
    c2 = float(np.mean(e2))
    objective, lower, upper = _objective(e2, float(np.var(y)))
    x0 = arch_univariate.GARCH().starting_values(y / math.sqrt(c2))
    want = minimize(objective, x0, jac=True, method="SLSQP", bounds=list(zip(lower, upper)),
                    constraints=[{"type": "ineq", "fun": lambda x: 1.0 - x[1] - x[2],
                                  "jac": lambda x: np.array([0.0, -1.0, -1.0])}],
                    options={"ftol": 1e-11, "maxiter": 200})
    fit = garch._fit_e2(e2, float(np.var(y)))
    assert want.success and fit.converged
    assert_allclose([fit.omega / c2, fit.alpha, fit.beta], want.x, rtol=1e-10, atol=0.0)


def test_direct_driver_gives_the_step_scipys_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    """scipy's step writes into the work buffer and index array it is handed and cannot check their length: the
    direct driver must hand it at least what ``minimize``'s own driver hands it for the same problem (three
    bounded variables, one inequality), recorded here from ``minimize`` itself."""
    from scipy.optimize import _slsqp_py, minimize

    sizes: dict[str, list[tuple[int, int, int]]] = {"scipy": [], "direct": []}

    def recorder(key: str, step):  # noqa: ANN001, ANN202
        def wrapped(state, fx, g, c, d, x, mult, xl, xu, buffer, indices):  # noqa: ANN001, ANN202
            sizes[key].append((buffer.size, indices.size, mult.size))
            return step(state, fx, g, c, d, x, mult, xl, xu, buffer, indices)
        return wrapped

    y = _garch_series(1, 500, 0.05, 0.08, 0.90)
    objective, lower, upper = _objective(y * y, float(np.var(y)))
    x0 = np.array([0.5, 0.05, 0.9])
    monkeypatch.setattr(_slsqp_py, "slsqp", recorder("scipy", _slsqp_py.slsqp))
    minimize(objective, x0, jac=True, method="SLSQP", bounds=list(zip(lower, upper)),
             constraints=[{"type": "ineq", "fun": lambda x: 1.0 - x[1] - x[2]}], options={"ftol": 1e-11})
    monkeypatch.setattr(garch, "_SLSQP_STEP", recorder("direct", garch._SLSQP_STEP))
    _slsqp_direct(objective, x0, lower, upper, 1e-11, 200)
    assert sizes["scipy"] and sizes["direct"]
    need = np.max(sizes["scipy"], axis=0)
    assert (np.min(sizes["direct"], axis=0) >= need).all(), (sizes["direct"][0], need)


def test_the_fit_hands_slsqp_archs_bounds_and_its_iteration_limit() -> None:
    """spec §4.2: ω ∈ [1e-8·v, 10·v], α, β ∈ [0, 1], v = mean of the squares the fit sees (the series scaled to
    mean square one, so v is 1 to rounding); ftol 1e-11 and at most 200 iterations, the limits the minimize test
    above runs with. The fits seen stop after 7-12 iterations and their ω is far inside its bounds, so what the
    fit asks of SLSQP is read from a driver that records it and hands on to ``_slsqp_scipy``."""
    y = dict(_series())["garch interior"]
    e2 = y * y
    seen: list[tuple[np.ndarray, np.ndarray, float, int]] = []

    def solve(objective, x0, lower, upper, ftol, maxiter):  # noqa: ANN001, ANN202 - a _Solver
        seen.append((lower.copy(), upper.copy(), ftol, maxiter))
        return _slsqp_scipy(objective, x0, lower, upper, ftol, maxiter)

    fit = garch._fit_e2(e2, float(np.var(y)), solve=solve)
    v = float(np.mean(e2 / np.mean(e2)))
    assert len(seen) == 1
    lower, upper, ftol, maxiter = seen[0]
    assert_allclose(lower, [1e-8 * v, 0.0, 0.0], rtol=1e-15, atol=0.0)
    assert_allclose(upper, [10.0 * v, 1.0, 1.0], rtol=1e-15, atol=0.0)
    assert (ftol, maxiter) == (1e-11, 200)
    assert fit == garch._fit_e2(e2, float(np.var(y)), solve=_slsqp_scipy)
