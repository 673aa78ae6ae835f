r"""GARCH(1,1) with zero mean, filtered exactly as ``arch`` does it, and a fast maximum-likelihood fit.

Model (spec/signals.md §4): :math:`\varepsilon_t = \sigma_t z_t`, :math:`z_t \sim N(0, 1)`,

.. math::

    \sigma^2_t = \omega + \alpha\,(\varepsilon^2_{t-1}\ \text{or}\ b) + \beta\,(\sigma^2_{t-1}\ \text{or}\ b),
    \qquad \ell = \sum_{t=0}^{T-1} -\tfrac12\left[\ln 2\pi + \ln\sigma^2_t + \varepsilon^2_t/\sigma^2_t\right]

so :math:`\sigma^2_0 = \omega + (\alpha+\beta) b`. The **backcast** is
:math:`b = \sum_{j<\tau} w_j \varepsilon_j^2` with :math:`w_j \propto 0.94^j`, :math:`\tau = \min(75, T)`.
Every :math:`\sigma^2_t` passes arch's ``bounds_check`` with its ``variance_bounds`` (an EWMA(0.94) path
:math:`v_t`; lower :math:`\max(v_t/10^6, \mathrm{var}(\varepsilon)/10^8)`, upper :math:`v_t 10^6` kept within
:math:`[1 + \max\varepsilon^2, 10^7(1 + \max\varepsilon^2)]`). The summation order is arch's, so the
variance path and :math:`\ell` agree with ``arch`` to rounding (the spec vector holds at rtol 1e-12).

**Fit.** Parameters bounded as arch (:math:`\omega \in [10^{-8}v, 10v]`, :math:`v = \overline{\varepsilon^2}`;
:math:`\alpha, \beta \in [0, 1]`; :math:`\alpha + \beta \le 1`), arch's 16-point starting grid, then scipy's
SLSQP with the **analytic gradient** of :math:`\ell` (one numba pass gives :math:`\ell` and its gradient,
differentiating through the recursion; a clamped :math:`\sigma^2` has zero derivative). SLSQP's step is driven
directly (:func:`_slsqp_direct`), as ``minimize`` drives it but without its wrappers per call: the same iterates
bit for bit at about half the time of a fit; ``minimize`` itself where scipy lays its modules out otherwise. The fit
**standardizes internally**: it fits :math:`\varepsilon/c` with :math:`c^2 = \overline{\varepsilon^2}` (the
sample second moment, i.e. the variance of a zero-mean series), maps :math:`\omega` back (×c²) and reports
:math:`\ell` evaluated on the data in their own units. Intraday returns of order 1e-4 therefore fit as well
as unit-scale ones (arch needs ``rescale=True`` for that, spec §4.3).

The kernels work on squared residuals ``e2`` (and the variance of the residuals, for arch's lower bound), so
the ACD(1,1) exponential QMLE reuses them with ``e2 = x`` (spec §5.2, :mod:`udx.acd`).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

try:  # scipy's SLSQP step (reverse communication), the one minimize(method="SLSQP") drives
    from scipy.optimize._slsqplib import slsqp as _SLSQP_STEP
except ImportError:  # another scipy layout: minimize itself (same answer, more overhead per call)
    _SLSQP_STEP = None

from udx._jit import jit
from udx._typing import Float64Array1D

__all__ = ["GarchFit", "fit_garch", "garch_backcast", "garch_bounds", "garch_starting_values", "garch_variance"]

_LN2PI = math.log(2.0 * math.pi)
_LAM = 0.94
_GRID_ALPHA = (0.01, 0.05, 0.1, 0.2)
_GRID_PERSISTENCE = (0.5, 0.7, 0.9, 0.98)
_CONSTRAINT_NORMAL = np.array([[0.0, -1.0, -1.0]])  # gradient of 1 - alpha - beta >= 0


def _backcast_python(e2: Float64Array1D) -> float:
    """arch's backcast: weights 0.94^j over the first min(75, T) squared residuals, normalized."""
    tau = min(75, e2.shape[0])
    wsum = 0.0
    for j in range(tau):
        wsum += _LAM**j
    b = 0.0
    for j in range(tau):
        b += e2[j] * (_LAM**j / wsum)
    return b


_backcast = jit(_backcast_python, nogil=True)


def _variance_bounds_python(
    e2: Float64Array1D, var_resid: float, backcast: float, lower: Float64Array1D, upper: Float64Array1D
) -> None:
    """Fill arch's ``variance_bounds`` (EWMA(0.94) path from the backcast, floors and caps)."""
    n = e2.shape[0]
    mx = 0.0
    for t in range(n):
        if e2[t] > mx:
            mx = e2[t]
    floor = var_resid / 1e8
    up_min = 1.0 + mx
    up_max = 1e7 * (1.0 + mx)
    v = 0.0
    for t in range(n):
        prev_e2 = backcast if t == 0 else e2[t - 1]
        prev_v = backcast if t == 0 else v
        v = 0.0
        v += (1.0 - _LAM) * prev_e2
        v += _LAM * prev_v
        lo = v / 1e6
        up = v * 1e6
        lower[t] = floor if lo < floor else lo
        if up < up_min:
            up = up_min
        if up > up_max:
            up = up_max
        upper[t] = up


_variance_bounds = jit(_variance_bounds_python, nogil=True)


def _loglik_grad_python(
    omega: float,
    alpha: float,
    beta: float,
    e2: Float64Array1D,
    backcast: float,
    lower: Float64Array1D,
    upper: Float64Array1D,
    sigma2: Float64Array1D,
    grad: Float64Array1D,
) -> float:
    """Fill ``sigma2`` (arch's recursion with bounds) and ``grad`` = dℓ/d(ω, α, β); return ℓ (Gaussian)."""
    n = e2.shape[0]
    ll = 0.0
    g0 = 0.0
    g1 = 0.0
    g2 = 0.0
    d0 = 0.0
    d1 = 0.0
    d2 = 0.0
    for t in range(n):
        s = omega
        if t == 0:
            s += alpha * backcast
            s += beta * backcast
            n0 = 1.0
            n1 = backcast
            n2 = backcast
        else:
            s += alpha * e2[t - 1]
            s += beta * sigma2[t - 1]
            n0 = 1.0 + beta * d0
            n1 = e2[t - 1] + beta * d1
            n2 = sigma2[t - 1] + beta * d2
        if s < lower[t]:
            s = lower[t]
            n0 = 0.0
            n1 = 0.0
            n2 = 0.0
        elif s > upper[t]:
            if s < np.inf:
                f = 1.0 / s
                s = upper[t] + math.log(s / upper[t])
                n0 *= f
                n1 *= f
                n2 *= f
            else:
                s = upper[t] + 1000.0
                n0 = 0.0
                n1 = 0.0
                n2 = 0.0
        sigma2[t] = s
        d0 = n0
        d1 = n1
        d2 = n2
        ll += -0.5 * (_LN2PI + math.log(s) + e2[t] / s)
        c = -0.5 * (1.0 / s - e2[t] / (s * s))
        g0 += c * n0
        g1 += c * n1
        g2 += c * n2
    grad[0] = g0
    grad[1] = g1
    grad[2] = g2
    return ll


_loglik_grad = jit(_loglik_grad_python, nogil=True)


def _start_python(
    e2: Float64Array1D, backcast: float, lower: Float64Array1D, upper: Float64Array1D, out: Float64Array1D
) -> None:
    """arch's starting grid: the (ω, α, β) with the highest Gaussian ℓ (first one on ties)."""
    n = e2.shape[0]
    target = 0.0
    for t in range(n):
        target += e2[t]
    target /= n
    sigma2 = np.empty(n)
    grad = np.empty(3)
    best = -np.inf
    out[0] = (1.0 - 0.5) * target
    out[1] = 0.01
    out[2] = 0.5 - 0.01
    for a in (0.01, 0.05, 0.1, 0.2):
        for pers in (0.5, 0.7, 0.9, 0.98):
            w = (1.0 - pers) * target
            b = pers - a
            ll = _loglik_grad(w, a, b, e2, backcast, lower, upper, sigma2, grad)
            if ll > best:
                best = ll
                out[0] = w
                out[1] = a
                out[2] = b


_start = jit(_start_python, nogil=True)


def _prepare(e2: Float64Array1D, var_resid: float) -> tuple[float, Float64Array1D, Float64Array1D]:
    b = float(_backcast(e2))
    lower = np.empty(e2.size)
    upper = np.empty(e2.size)
    _variance_bounds(e2, var_resid, b, lower, upper)
    return b, lower, upper


@dataclass(frozen=True, slots=True)
class GarchFit:
    """A fitted zero-mean GARCH(1,1) (or, from :func:`udx.fit_acd`, an ACD(1,1)).

    Attributes
    ----------
    omega, alpha, beta
        Parameters in the data's own units (ω in squared return units; for ACD in duration units).
    loglik
        Log-likelihood at the parameters, in the data's own units (Gaussian for GARCH, exponential for ACD).
    converged
        Whether the optimizer reported success.
    n_obs
        Observations fitted.
    scale
        The internal standardization ``c`` (the data were divided by ``c`` for the optimizer).
    backcast
        arch's backcast of the fitted series (own units).
    iterations
        Optimizer iterations.
    """

    omega: float
    alpha: float
    beta: float
    loglik: float
    converged: bool
    n_obs: int
    scale: float
    backcast: float
    iterations: int

    @property
    def persistence(self) -> float:
        """``alpha + beta``."""
        return self.alpha + self.beta


def _slsqp_scipy(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, ftol: float, maxiter: int) -> tuple[np.ndarray, int, int]:
    """``scipy.optimize.minimize(method="SLSQP")`` under ``alpha + beta <= 1``: ``(x, status, iterations)``."""
    constraint = {"type": "ineq", "fun": lambda x: 1.0 - x[1] - x[2], "jac": lambda x: _CONSTRAINT_NORMAL[0]}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Values in x were outside bounds", RuntimeWarning)
        opt = minimize(objective, x0, jac=True, method="SLSQP", bounds=list(zip(lower, upper, strict=True)),
                       constraints=[constraint], options={"ftol": ftol, "maxiter": maxiter})
    return opt.x, int(opt.status), int(opt.nit)


def _slsqp_direct(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, lower: np.ndarray,
                  upper: np.ndarray, ftol: float, maxiter: int) -> tuple[np.ndarray, int, int]:
    """The same SLSQP iterations as :func:`_slsqp_scipy`, driving scipy's reverse-communication step
    (``scipy.optimize._slsqplib.slsqp``) directly, as ``_minimize_slsqp`` does, without its per-call wrappers
    (memoization by ``array_equal``, array-API conversions, constraint dictionaries): the iterates, and so the
    answer, are bit for bit those of ``minimize`` (``tests/udx/test_garch_fit_driver.py``)."""
    n, m = 3, 1  # one inequality, no equality
    state = {"acc": ftol, "alpha": 0.0, "f0": 0.0, "gs": 0.0, "h1": 0.0, "h2": 0.0, "h3": 0.0, "h4": 0.0,
             "t": 0.0, "t0": 0.0, "tol": 10.0 * ftol, "exact": 0, "inconsistent": 0, "reset": 0, "iter": 0,
             "itermax": int(maxiter), "line": 0, "m": m, "meq": 0, "mode": 0, "n": n}
    indices = np.zeros(m + 2 * n + 2, dtype=np.int32)
    buffer = np.zeros(n * (n + 1) // 2 + 3 * m * n + 9 * m + 8 * n * n + 35 * n + 28, dtype=np.float64)
    mult = np.zeros(m + 2 * n + 2, dtype=np.float64)
    normal = np.asfortranarray(_CONSTRAINT_NORMAL)  # d(1 - alpha - beta)/dx, constant
    x = np.clip(np.asarray(x0, np.float64), lower, upper)
    fx, g = objective(x)
    at = x.copy()
    d = np.array([1.0 - x[1] - x[2]])
    while True:
        _SLSQP_STEP(state, fx, g, normal, d, x, mult, lower, upper, buffer, indices)
        mode = state["mode"]
        if mode == 1 or (mode == -1 and not np.array_equal(x, at)):
            fx, g = objective(x)
            at = x.copy()
            d[0] = 1.0 - x[1] - x[2]
        if abs(mode) != 1:
            return x, int(mode), int(state["iter"])


_Solver = Callable[[Callable[[np.ndarray], tuple[float, np.ndarray]], np.ndarray, np.ndarray, np.ndarray, float,
                    int], tuple[np.ndarray, int, int]]
_CHOSEN: list[_Solver] = []  # the driver picked on first use
_CHOSEN_LOCK = threading.Lock()  # the transform fits on several threads: one probe, one pick


def _pick_solver() -> _Solver:
    """:func:`_slsqp_direct` when this scipy has the step it drives and a probe fit through it equals
    ``minimize``'s bit for bit (the step's interface is scipy's private one: a scipy that changed it gets
    ``minimize`` instead of a wrong answer or an error); else :func:`_slsqp_scipy`."""
    if _SLSQP_STEP is None:
        return _slsqp_scipy
    e = np.sin(np.arange(1.0, 97.0) * 1.7) * (1.0 + (np.arange(96) % 7 == 0))  # fixed, clustered, no zeros
    try:
        same = _fit_e2(e * e, float(np.var(e)), solve=_slsqp_direct) == _fit_e2(e * e, float(np.var(e)),
                                                                                solve=_slsqp_scipy)
    except (TypeError, ValueError, KeyError, IndexError):
        same = False
    return _slsqp_direct if same else _slsqp_scipy


def _fit_e2(e2: Float64Array1D, var_resid: float, *, ftol: float = 1e-11, maxiter: int = 200,
            sigma2: Float64Array1D | None = None, solve: _Solver | None = None) -> GarchFit:
    """Fit on squared residuals ``e2`` (var_resid = variance of the residuals, for arch's lower bound).

    ``sigma2`` (length of ``e2``), when given, receives the fitted model's variance path in the data's units
    (arch's filter at the fitted parameters: what a caller continuing the variance needs). ``solve``: the
    SLSQP driver (default: the one :func:`_pick_solver` picks once).
    """
    n = e2.size
    c2 = float(np.mean(e2)) if n else math.nan
    if n < 2 or not (c2 > 0.0 and math.isfinite(c2)):
        return GarchFit(math.nan, math.nan, math.nan, math.nan, False, n, math.nan, math.nan, 0)
    es = e2 / c2
    b, lower, upper = _prepare(es, var_resid / c2)
    sv = np.empty(3)
    _start(es, b, lower, upper, sv)
    v = float(np.mean(es))
    path = np.empty(n)
    grad = np.empty(3)
    inv_n = 1.0 / n

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        ll = _loglik_grad(float(x[0]), float(x[1]), float(x[2]), es, b, lower, upper, path, grad)
        return -ll * inv_n, -grad * inv_n

    lo_x, up_x = np.array([1e-8 * v, 0.0, 0.0]), np.array([10.0 * v, 1.0, 1.0])
    if solve is None:
        if not _CHOSEN:
            with _CHOSEN_LOCK:
                if not _CHOSEN:
                    _CHOSEN.append(_pick_solver())
        solve = _CHOSEN[0]
    x, status, nit = solve(objective, sv, lo_x, up_x, ftol, maxiter)
    x = np.clip(x, lo_x, up_x)
    omega, alpha, beta = float(x[0]) * c2, float(x[1]), float(x[2])
    if alpha + beta > 1.0:  # SLSQP meets the constraint only to its tolerance: back onto alpha + beta <= 1
        beta = 1.0 - alpha
        if alpha + beta > 1.0:
            beta = math.nextafter(beta, 0.0)
    b_own, lo_own, up_own = _prepare(e2, var_resid)
    ll = float(_loglik_grad(omega, alpha, beta, e2, b_own, lo_own, up_own, path if sigma2 is None else sigma2,
                            grad))
    return GarchFit(omega, alpha, beta, ll, status == 0, n, math.sqrt(c2), b_own, nit)


def _as_returns(returns: object) -> Float64Array1D:
    y = np.ascontiguousarray(returns, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got {y.ndim} dimensions")
    if y.size == 0:
        raise ValueError("returns must not be empty")
    if not np.all(np.isfinite(y)):
        raise ValueError("returns must be finite (drop NaN returns before fitting)")
    return y


def fit_garch(returns: object) -> GarchFit:
    """Fit a zero-mean GARCH(1,1) by Gaussian maximum likelihood, as ``arch_model(y, mean="Zero")``.

    Parameters
    ----------
    returns
        One-dimensional finite returns in any scale (intraday log returns of order 1e-4 are fine: the fit
        standardizes internally). Fewer than 250 observations make the estimate unreliable (spec §4.5).

    Returns
    -------
    GarchFit
        ``omega, alpha, beta, loglik`` in the returns' own units and ``converged``. A series with zero
        second moment is not estimable: NaN parameters and ``converged=False``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fit = fit_garch(rng.standard_normal(1000) * 1e-4)
    >>> fit.converged, fit.alpha + fit.beta <= 1.0
    (True, True)
    """
    y = _as_returns(returns)
    return _fit_e2(y * y, float(np.var(y)))


def garch_variance(
    resids: object, omega: float, alpha: float, beta: float, *, backcast: float | None = None
) -> tuple[Float64Array1D, float]:
    """Return arch's conditional variance path ``sigma2`` and Gaussian log-likelihood at fixed parameters.

    ``sigma2[t]`` is the one-step-ahead variance of ``resids[t]`` (conditional on data before t).

    Examples
    --------
    >>> s2, ll = garch_variance([0.5, -1, 0.25, 2, -0.75, 0, 1.5, -0.3], 0.1, 0.1, 0.8)
    >>> round(float(s2[0]), 12), round(ll, 9)
    (1.015230263266, -11.831634675)
    """
    y = _as_returns(resids)
    if not (omega > 0 and alpha >= 0 and beta >= 0):
        raise ValueError(f"need omega > 0, alpha >= 0, beta >= 0, got {omega}, {alpha}, {beta}")
    e2 = y * y
    b, lower, upper = _prepare(e2, float(np.var(y)))
    if backcast is not None:
        if not backcast > 0:
            raise ValueError(f"backcast must be > 0, got {backcast}")
        b = float(backcast)
    sigma2 = np.empty(y.size)
    ll = float(_loglik_grad(float(omega), float(alpha), float(beta), e2, b, lower, upper, sigma2, np.empty(3)))
    return sigma2, ll


def garch_backcast(resids: object) -> float:
    """arch's backcast of ``resids`` (0.94-weighted mean of the first min(75, T) squares)."""
    y = _as_returns(resids)
    return float(_backcast(y * y))


def garch_bounds(resids: object) -> list[tuple[float, float]]:
    """arch's parameter bounds ``[(1e-8 v, 10 v), (0, 1), (0, 1)]`` with ``v = mean(resids**2)``."""
    y = _as_returns(resids)
    v = float(np.mean(y * y))
    return [(1e-8 * v, 10.0 * v), (0.0, 1.0), (0.0, 1.0)]


def garch_starting_values(resids: object) -> Float64Array1D:
    """arch's starting values: the best (ω, α, β) of its 16-point grid by Gaussian ℓ."""
    y = _as_returns(resids)
    e2 = y * y
    b, lower, upper = _prepare(e2, float(np.var(y)))
    out = np.empty(3)
    _start(e2, b, lower, upper, out)
    return out
