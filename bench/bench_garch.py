"""GARCH(1,1) fit time: udx.fit_garch against arch on the same series in the same run; log-likelihoods compared.

Run: ``.venv/bin/python -m bench.bench_garch [--no-write]``. Prints a Markdown table and replaces its section of
``BENCHMARKS.md``; never asserts.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

from bench import report
from udx import fit_garch

TITLE = "GARCH(1,1) fit vs arch (issue 3)"


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

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    fit_garch(simulate(0, 300))  # compile the kernels
    lines = [
        f"`.venv/bin/python -m bench.bench_garch` (bench/bench_garch.py), {report.now_utc()}.",
        "",
        f"- Machine: {report.machine()}; load average at the start {report.load_average()}",
        f"- {report.versions('arch', 'numba', 'numpy', 'scipy')}",
        "",
        "Same series, same run; arch = `arch_model(y, mean=\"Zero\", rescale=<scale != 1>).fit()`, LL in the "
        "returns' own units; best of 5 (arch) / 20 (udx).",
        "",
        "| series | T | arch fit ms | udx fit ms | speed-up | arch LL | udx LL | udx - arch LL | |dalpha| | |dbeta| |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    speedups = []
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
        speedups.append(t_arch / t_udx)
        lines.append(f"| {label} | {n} | {t_arch * 1e3:.2f} | {t_udx * 1e3:.2f} | {t_arch / t_udx:.1f}x | "
                     f"{arch_ll:.6f} | {fit.loglik:.6f} | {fit.loglik - arch_ll:+.2e} | "
                     f"{abs(fit.alpha - alpha):.1e} | {abs(fit.beta - beta):.1e} |")
    lines += ["", f"Target (issue 3): ≥ 5x faster than arch at equal likelihood: "
              f"{'met' if min(speedups) >= 5 else 'NOT met'} (slowest series {min(speedups):.1f}x)."]
    report.publish(TITLE, "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
