"""The transform's pieces outside the signal kernels, each against its baseline version in the same process.

Run: ``.venv/bin/python -m bench.bench_transform_parts [--base main] [--repeat 3] [--no-write]``. Prints a
Markdown section and replaces it in ``BENCHMARKS.md``; never asserts.

The baseline is the code of the git revision ``--base``: its ``udx`` and ``sql`` packages are extracted into a
temporary directory and imported there under their own names (the current modules are set aside meanwhile),
so both versions run in this process on the same inputs, alternately, best of ``--repeat``. Each row also says
whether the two gave the same answer. Pieces (issue 13 point 6, issue 19 point 5; the profile of
``run_transform`` on 2M trades, 100 symbols, 8M quotes):

- ``_fit_e2``: the GARCH(1,1) fits of the transform (windows of 1,000 and 2,000 returns at intraday scale);
- the quote read's client side: ordering 8M quotes of 100 symbols read unordered, stored symbol after symbol
  (as the transform bench loads them) and interleaved in time (as a feed appends them), in 122,880-row batches
  with neighbouring batches swapped (DuckDB's parallel scan), then each symbol's arrays as the compute threads
  get them: ``order_stored`` + ``read_quotes``' arrays, or, in a tree with ``sql.stored_order.symbol_arrays``,
  ``DuckDBStorage.read_quote_arrays``' client side on the read without ``sequence``/``received_ns``;
- ``liquidity_columns``: one symbol's bar liquidity per call (20,000 trades, 80,000 quotes, one day of bars);
- ``process_symbol``: one symbol's signals per call (20,000 trades over two days).
- ``process_symbol`` as the transform calls it (each print's ``sets_price`` / ``counts_volume`` given): process
  CPU per symbol, and eight such symbols on one thread against the same eight on two threads (the transform's
  two compute threads): the kernels release the GIL, the Python between them does not, so the two-thread
  speed-up says how much of a symbol's compute holds the GIL (Amdahl: share = 2 / speed-up - 1 on two free
  cores; a loaded box lowers the speed-up of both trees alike).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import importlib
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa

from bench import report
from udx._jit import jit_enabled

TITLE = "Transform pieces: GARCH fits, quote ordering, bar liquidity, per-symbol overhead (issues 13.6, 19.5)"
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("udx", "sql")
NS = 10**9


@contextlib.contextmanager
def _packages_from(root: Path) -> Iterator[None]:
    """Import ``udx``/``sql`` from ``root`` inside the block; the current modules come back after it."""
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in PACKAGES}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        for k in [k for k in sys.modules if k.split(".")[0] in PACKAGES]:
            del sys.modules[k]
        sys.modules.update(saved)


def baseline_modules(ref: str, names: tuple[str, ...], into: Path) -> dict[str, ModuleType]:
    """The modules ``names`` as of git revision ``ref``, imported from a copy extracted into ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, *PACKAGES], check=True, capture_output=True)
    with tarfile.open(fileobj=__import__("io").BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    with _packages_from(into):
        return {name: importlib.import_module(name) for name in names}


# --- inputs --------------------------------------------------------------------------------------------------
def garch_windows(n_series: int, seed: int = 3) -> list[np.ndarray]:
    from bench.bench_garch import simulate
    return [simulate(seed + k, 1000 if k % 2 else 2000) * 1e-4 for k in range(n_series)]


def stored_read(n: int, n_symbols: int, interleaved: bool, seed: int = 4) -> pa.Table:
    """An unordered read of quotes as ``quotes_range_symbols_stored`` returns it."""
    rng = np.random.default_rng(seed)
    per = n // n_symbols
    symbol_index = np.repeat(np.arange(1, n_symbols + 1, dtype=np.int32), per)
    ts = np.concatenate([np.sort(rng.integers(0, 86_400 * NS, per)) for _ in range(n_symbols)]).astype(np.int64)
    if interleaved:
        order = np.argsort(ts, kind="stable")
        symbol_index, ts = symbol_index[order], ts[order]
    size = symbol_index.size
    stored_row = np.arange(size, dtype=np.int64)
    batch = 122_880
    starts = list(range(0, size, batch))
    for k in range(0, len(starts) - 1, 7):  # a parallel scan: some neighbouring batches come back swapped
        starts[k], starts[k + 1] = starts[k + 1], starts[k]
    order = np.concatenate([np.arange(s, min(s + batch, size)) for s in starts])
    cols = {"stored_row": stored_row, "symbol_index": symbol_index, "ts_ns": ts,
            "sequence": np.arange(size, dtype=np.int64), "received_ns": ts,
            "bid_price": rng.random(size) + 100, "bid_size": rng.random(size),
            "ask_price": rng.random(size) + 100.01, "ask_size": rng.random(size)}
    table = pa.table({k: v[order] for k, v in cols.items()})
    return pa.Table.from_batches(table.to_batches(max_chunksize=batch))


def one_symbol(seed: int = 5, n_trades: int = 20_000, n_quotes: int = 80_000) -> dict[str, np.ndarray]:
    from bench.bench_signals import START
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(START, START + 2 * 86_400 * NS, n_trades)).astype(np.int64)
    px = 100.0 * np.exp(np.cumsum(rng.normal(0, 2e-4, n_trades)))
    qts = np.sort(rng.integers(START, START + 2 * 86_400 * NS, n_quotes)).astype(np.int64)
    mid = np.interp(qts, ts, px)
    half = 0.005 + 0.01 * rng.random(n_quotes)
    return {"ts": ts, "px": px, "sz": rng.integers(1, 500, n_trades).astype(np.float64), "qts": qts,
            "bid": mid - half, "ask": mid + half, "bsz": rng.integers(1, 50, n_quotes) * 100.0,
            "asz": rng.integers(1, 50, n_quotes) * 100.0, "end": START + 2 * 86_400 * NS}


# --- pieces --------------------------------------------------------------------------------------------------
def run_garch(garch: ModuleType, windows: list[np.ndarray]) -> list[tuple[float, float, float, float]]:
    out = []
    for y in windows:
        f = garch._fit_e2(y * y, float(np.var(y)))
        out.append((f.omega, f.alpha, f.beta, f.loglik))
    return out


def run_order(mods: dict[str, ModuleType], table: pa.Table, n_symbols: int) -> dict[str, np.ndarray]:
    """The client side of the transform's quote read: ``order_stored`` of the unordered read, then each symbol's
    arrays as ``read_quotes`` hands them to the compute threads (``symbol.field -> array``)."""
    names = [f"S{i:04d}" for i in range(n_symbols)]
    order_stored = mods["sql.stored_order"].order_stored
    symbol_arrays = getattr(mods["sql.stored_order"], "symbol_arrays", None)
    columns = ("ts_ns", "bid_price", "bid_size", "ask_price", "ask_size")

    class Reads:
        def read_quotes_many(self, symbols: list[str], start_ns: int, end_ns: int) -> pa.Table:
            return order_stored(table, symbols, ("ts_ns", "sequence", "received_ns"), columns,
                                tie_is_unordered=False).table

    class ArrayReads:  # DuckDBStorage.read_quote_arrays' client side: the read without the tie-break columns
        def read_quote_arrays(self, symbols: list[str], start_ns: int, end_ns: int) -> dict[str, list[np.ndarray]]:
            light = table.drop_columns(["sequence", "received_ns"])
            got, left_out = symbol_arrays(light, symbols, ("ts_ns",), columns, tie_is_unordered=True)
            assert not left_out  # the bench's quotes never tie
            return got

    reads = Reads() if symbol_arrays is None else ArrayReads()
    quotes = mods["udx._chunk_read"].read_quotes(reads, [(name, 0) for name in names], 2**62)
    return {f"{name}.{field}": getattr(q, field) for name, q in quotes.items()
            for field in ("ts", "bid", "ask", "bid_size", "ask_size")}


def bench_config() -> Any:
    """``bench.bench_signals``'s configuration: crypto, a 24-hour session."""
    from sql.settings import Settings
    from udx.transform import signal_config
    return signal_config(Settings(_env_file=None), "crypto")  # type: ignore[call-arg]


def run_process(pipeline: ModuleType, d: dict[str, np.ndarray], cfg: Any) -> Any:
    return pipeline.process_symbol(d["ts"], d["px"], d["sz"], cfg, None, int(d["end"]))


def with_masks(d: dict[str, np.ndarray], seed: int = 6) -> dict[str, np.ndarray]:
    """``d`` with per-print eligibility as the transform passes it: 70 % may set the price, 90 % count volume."""
    rng = np.random.default_rng(seed)
    return {**d, "sp": rng.random(d["ts"].size) < 0.7, "cv": rng.random(d["ts"].size) < 0.9}


def run_masked(pipeline: ModuleType, d: dict[str, np.ndarray], cfg: Any) -> Any:
    return pipeline.process_symbol(d["ts"], d["px"], d["sz"], cfg, None, int(d["end"]), sets_price=d["sp"],
                                   counts_volume=d["cv"])


def _numeric(columns: dict[str, Any]) -> dict[str, np.ndarray]:
    """The numeric columns (the rule's two are Arrow string arrays)."""
    return {k: v for k, v in columns.items() if isinstance(v, np.ndarray)}


def run_threads(pipeline: ModuleType, symbols: list[dict[str, np.ndarray]], cfg: Any, n_threads: int) -> Any:
    """``process_symbol`` of every symbol, split over ``n_threads`` threads (round robin); the GARCH sigmas."""
    out: list[Any] = [None] * len(symbols)

    def work(k: int) -> None:
        for i in range(k, len(symbols), n_threads):
            out[i] = run_masked(pipeline, symbols[i], cfg).columns["garch_sigma"]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return np.concatenate(out)


def run_liquidity(mods: dict[str, ModuleType], d: dict[str, np.ndarray], result: Any) -> dict[str, np.ndarray]:
    step = mods["udx.liquidity_step"]
    cfg = step.LiquidityConfig(stale_ns=300 * NS, roll_window=30, kyle_window=30, vpin_window=50)
    quotes = step.Quotes(d["qts"], d["bid"], d["ask"], d["bsz"], d["asz"])
    ok = np.ones(d["ts"].size, np.bool_)
    arrays = {k: v.copy() for k, v in result.state.arrays.items()}
    return step.liquidity_columns(result.columns, 60 * NS, d["ts"], d["px"], d["sz"], ok, ok, quotes, arrays, cfg)


def _seconds(fn: Callable[[dict[str, ModuleType]], Any], modules: dict[str, ModuleType],
             clock: Callable[[], float] = time.perf_counter) -> float:
    t = clock()
    fn(modules)
    return clock() - t


def _same(a: Any, b: Any) -> str:
    if isinstance(a, pa.Table):
        return "yes" if a.equals(b) else "NO"
    if isinstance(a, dict):
        return "yes" if a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a) else "NO"
    return "yes" if np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True) else "NO"


def _thread_lines(walls: dict[str, tuple[float, float]]) -> list[str]:
    """The two-thread speed-up of each tree and the share of a symbol's compute that holds the GIL it implies."""
    one = next((v for k, v in walls.items() if "one thread" in k), None)
    two = next((v for k, v in walls.items() if "two threads" in k), None)
    if one is None or two is None:
        return []
    out = []
    for name, t1, t2 in (("baseline", one[0], two[0]), ("this branch", one[1], two[1])):
        speed = t1 / t2
        share = f"{2.0 / speed - 1.0:.0%}" if speed > 1.0 else "not measurable (two cores were not free)"
        out.append(f"- {name}: two threads {speed:.2f}x one thread on the same 8 symbols; GIL-held share "
                   f"2 / speed-up - 1 = {share}")
    return out


def kernel_share(pipeline: ModuleType, d: dict[str, np.ndarray], cfg: Any, calls: int) -> tuple[float, float, int]:
    """``(ms per symbol, share of it inside numba kernels, kernel calls per symbol)`` of ``process_symbol`` with
    the print masks, on this thread: every compiled kernel reachable from ``pipeline`` (its globals, the udx
    modules and functions they name) is wrapped in a timer for the measurement and put back after. The kernels
    release the GIL; the rest (Python, numpy, scipy's SLSQP step) holds it. Load stretches both alike."""
    from numba.core.registry import CPUDispatcher

    spent = [0, 0]

    def timed(kernel: Any) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            t = time.perf_counter_ns()
            out = kernel(*args)
            spent[0] += time.perf_counter_ns() - t
            spent[1] += 1
            return out
        return call

    run_masked(pipeline, d, cfg)  # compiled before the wrapping: a kernel compiled later would see a wrapper
    spaces, todo, seen = [], [pipeline.__dict__], set()
    while todo:
        space = todo.pop()
        if id(space) in seen:
            continue
        seen.add(id(space))
        spaces.append(space)
        for v in list(space.values()):
            if isinstance(v, ModuleType) and v.__name__.split(".")[0] == "udx":
                todo.append(v.__dict__)
            elif callable(v) and getattr(v, "__module__", "").split(".")[0] == "udx" and hasattr(v, "__globals__"):
                todo.append(v.__globals__)
    wrapped = {}
    saved = [(space, k, v) for space in spaces for k, v in space.items() if isinstance(v, CPUDispatcher)]
    for space, k, v in saved:
        space[k] = wrapped.setdefault(id(v), timed(v))
    try:
        run_masked(pipeline, d, cfg)
        spent[:] = [0, 0]
        t = time.perf_counter_ns()
        for _ in range(calls):
            run_masked(pipeline, d, cfg)
        total = time.perf_counter_ns() - t
    finally:
        for space, k, v in saved:
            space[k] = v
    return total / calls / 1e6, spent[0] / total, spent[1] // calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision of the baseline (default main)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quotes", type=int, default=8_000_000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    base = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], capture_output=True,
                          text=True, check=True).stdout.strip()
    names = ("udx.garch", "sql.stored_order", "udx._chunk_read", "udx.pipeline", "udx.liquidity_step")
    new = {name: importlib.import_module(name) for name in names}
    load = report.load_average()
    rows = []
    walls: dict[str, tuple[float, float]] = {}
    shares: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        old = baseline_modules(args.base, names, Path(tmp))
        windows = garch_windows(40)
        sym = one_symbol()
        masked = with_masks(sym)
        eight = [with_masks(one_symbol(seed=20 + k), seed=40 + k) for k in range(8)]
        cfg = bench_config()
        res_new, res_old = run_process(new["udx.pipeline"], sym, cfg), run_process(old["udx.pipeline"], sym, cfg)
        cases: list[tuple[str, str, Callable[[dict[str, ModuleType]], Any]]] = [
            ("GARCH fits (40 windows of 1,000/2,000 returns)", "fit",
             lambda m: run_garch(m["udx.garch"], windows)),
            ("process_symbol (20,000 trades, 2,880 bars)", "symbol",
             lambda m: run_process(m["udx.pipeline"], sym, cfg).columns["garch_sigma"]),
            ("process_symbol with the print masks, process CPU (20,000 trades)", "cpu",
             lambda m: _numeric(run_masked(m["udx.pipeline"], masked, cfg).columns)),
            ("8 symbols on one thread (process_symbol with the print masks)", "threads",
             lambda m: run_threads(m["udx.pipeline"], eight, cfg, 1)),
            ("the same 8 symbols on two threads", "threads",
             lambda m: run_threads(m["udx.pipeline"], eight, cfg, 2)),
            ("liquidity_columns (20,000 trades, 80,000 quotes)", "symbol",
             lambda m: run_liquidity(m, sym, res_new if m is new else res_old)),
        ]
        for layout in ("stored symbol after symbol", "interleaved in time"):
            table = stored_read(args.quotes, 100, layout.startswith("interleaved"))
            cases.append((f"quote read's client side to each symbol's arrays, {table.num_rows:,} quotes {layout}", "call",
                          lambda m, t=table: run_order(m, t, 100)))
        for label, unit, fn in cases:
            a, b = fn(old), fn(new)  # warm (compile or load cached kernels), and the answers to compare
            t_old = t_new = float("inf")
            repeats = args.repeat if unit in ("call", "threads") else 5 * args.repeat  # ms-scale pieces: more draws
            clock = time.process_time if unit == "cpu" else time.perf_counter
            for _ in range(repeats):  # alternate, so both see the same load
                t_old = min(t_old, _seconds(fn, old, clock))
                t_new = min(t_new, _seconds(fn, new, clock))
            if unit == "threads":
                walls[label] = (t_old, t_new)
            n = len(windows) if unit == "fit" else 1
            rows.append(f"| {label} | {t_old / n * 1e3:.2f} | {t_new / n * 1e3:.2f} | {t_old / t_new:.2f}x | "
                        f"{_same(a, b)} |")
            print(rows[-1], flush=True)
        if jit_enabled():
            for name, mods in (("baseline", old), ("this branch", new)):
                ms, share, n_calls = kernel_share(mods["udx.pipeline"], masked, cfg, 10 * args.repeat)
                shares.append(f"- {name}: process_symbol with the print masks {ms:.2f} ms a symbol (timers on), "
                              f"{share:.0%} inside the kernels ({n_calls} kernel calls), {1 - share:.0%} holding the GIL")
                print(shares[-1], flush=True)
    lines = [
        f"`.venv/bin/python -m bench.bench_transform_parts` (bench/bench_transform_parts.py), {report.now_utc()}; "
        f"baseline `{args.base}` ({base}) against `{head}`, in one process.",
        "",
        f"- Machine: {report.machine()}; load average at the start {load}, at the end {report.load_average()}",
        f"- {report.versions('numba', 'numpy', 'pyarrow', 'scipy')}",
        "",
        "ms per fit / per call; best of the alternating repeats (5x as many for the fits and per-symbol calls); same answer = bit for bit. On a loaded box "
        "(2 cores shared) the absolute times are inflated; the ratio of the alternating runs is the result.",
        "",
        "What changed (branch `qread`): the transform's quote read hands each symbol's arrays over without "
        "building a table: `sql.stored_order.symbol_arrays` finds the runs of a read of symbols stored one after "
        "the other (no `symbol` string column, no row moved, each symbol's arrays views of the read's chunks) "
        "and checks the time order on `ts_ns` alone (the query reads `sequence`/`received_ns` only after a tie); "
        "interleaved reads are ordered by `order_stored` as before. The other pieces did not change here (their "
        "rows measure the same code twice: a ratio away from 1.00x is the box's noise).",
        "",
        "| piece | baseline ms | this branch ms | speed-up | same answer |",
        "|---|---|---|---|---|",
        *rows,
        "",
        *_thread_lines(walls),
        *shares,
    ]
    report.publish(TITLE, "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
