"""GARCH(1,1) fit time: udx.fit_garch against arch on the same series in the same run; log-likelihoods compared.

Run: ``.venv/bin/python -m bench.bench_garch``. Prints a Markdown table; never asserts.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from udx import fit_garch


def simulate(seed: int, n: int, omega: float = 0.05, alpha: float = 0.08, beta: float = 0.90) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n + 500)
    r = np.empty(n + 500)
    s2 = omega / (1 - alpha - beta)
    for t in range(n + 500):
        if t:
            s2 = omega + alpha * r[t - 1] ** 2 + beta * s2
        r[t] = math.sqrt(s2) * z[t]
    return r[500:]


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from arch import arch_model

    fit_garch(simulate(0, 300))  # compile the kernels
    print("| series | T | arch fit ms | udx fit ms | speed-up | arch LL | udx LL | udx - arch LL | |dalpha| | |dbeta| |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, seed, n, scale in (("spec 4.4, unit scale", 12345, 5000, 1.0), ("intraday scale x1e-4", 12345, 5000, 1e-4),
                                  ("T=1000", 7, 1000, 1.0), ("T=2000 (transform window)", 8, 2000, 1e-4),
                                  ("T=20000", 9, 20000, 1.0)):
        y = simulate(seed, n) * scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = arch_model(y, mean="Zero", rescale=scale != 1.0).fit(disp="off")
            t_arch = best_of(lambda: arch_model(y, mean="Zero", rescale=scale != 1.0).fit(disp="off"), 5)
        fit = fit_garch(y)
        t_udx = best_of(lambda: fit_garch(y), 20)
        arch_ll = res.loglikelihood + y.size * math.log(res.scale)  # in the returns' own units
        _, alpha, beta = res.params.to_numpy()
        print(f"| {label} | {n} | {t_arch * 1e3:.2f} | {t_udx * 1e3:.2f} | {t_arch / t_udx:.1f}x | {arch_ll:.6f} | "
              f"{fit.loglik:.6f} | {fit.loglik - arch_ll:+.2e} | {abs(fit.alpha - alpha):.1e} | "
              f"{abs(fit.beta - beta):.1e} |")


if __name__ == "__main__":
    main()
