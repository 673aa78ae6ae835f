"""Full signal pass: trades/s per core of udx against a straightforward pandas implementation, and the
``run_transform`` end to end on a DuckDB file (read, signals, write).

Run: ``.venv/bin/python -m bench.bench_signals [--trades 10000000] [--symbols 500] [--db 2000000:100 ...]
[--skip-signal-pass] [--baseline DIR]``.
Synthetic trades come from numpy directly (no simulator). Prints numbers and replaces its section of
``BENCHMARKS.md`` (``--no-write`` to leave it); never asserts. The signal pass (a) is single-threaded: the
per-core rate is the measured rate. The end-to-end runs (b) use both cores (the transform reads, computes and
commits on threads) and each runs in its own process; ``--baseline DIR`` runs another code tree (e.g.
``git archive main | tar -x -C /tmp/main-tree``) alternately on the same files, for a ratio measured in one run.
Each end-to-end repeat also times the command ``microstructure transform --once`` of each tree from its process's
start to its exit (:func:`once_in`), which the run's own ``seconds`` leave out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench import report
from sql.contract import TRADES_SCHEMA
from sql.settings import Settings
from udx.pipeline import SignalConfig, process_symbol
from udx.transform import signal_config

ROOT = Path(__file__).resolve().parents[1]
NS = 10**9
START = 1_709_856_000 * NS  # 2024-03-08 00:00 UTC
DAYS = 2


def synthetic(n_symbols: int, per_symbol: int, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_symbols):
        ts = np.sort(rng.integers(START, START + DAYS * 86_400 * NS, per_symbol)).astype(np.int64)
        px = 100.0 * np.exp(np.cumsum(rng.normal(0, 2e-4, per_symbol)))
        out.append((ts, px, rng.integers(1, 500, per_symbol).astype(np.float64)))
    return out


def run_udx(data, cfg: SignalConfig, *, rule: bool = True) -> tuple[float, int, int]:
    end = START + DAYS * 86_400 * NS
    t = time.perf_counter()
    n_bars = n_fits = 0
    for ts, px, sz in data:
        res = process_symbol(ts, px, sz, cfg, None, end, rule=rule)
        n_bars += res.state.n_returns
        n_fits += len(res.fits)
    return time.perf_counter() - t, n_bars, n_fits


def run_pandas(data, cfg: SignalConfig) -> float:
    """The same signals written the obvious way with pandas (fixed-parameter GARCH/ACD filters, no refits)."""
    import pandas as pd
    from scipy.special import ndtr

    t0 = time.perf_counter()
    k, m, lb = cfg.lm_window, cfg.bns_window, cfg.intensity_lookback
    mu43 = 2 ** (2 / 3) * math.gamma(7 / 6) / math.gamma(0.5)
    theta = math.pi**2 / 4 + math.pi - 5
    for ts, px, sz in data:
        df = pd.DataFrame({"ts": pd.to_datetime(ts), "price": px, "size": sz})
        df["pv"] = df.price * df["size"]
        g = df.set_index("ts").resample(f"{cfg.bar_seconds}s")
        bars = pd.DataFrame({"n": g.price.count(), "close": g.price.last(), "volume": g["size"].sum(),
                             "pv": g.pv.sum()}).ffill()
        bars["vwap"] = bars.pv / bars.volume
        r = np.log(bars.close).diff().fillna(0.0)
        a = r.abs()
        bp = (a * a.shift(1))
        bpv = (math.pi / 2) * bp.shift(1).rolling(k - 2).sum() / (k - 2)
        lm = r / np.sqrt(bpv)
        rv = (r * r).rolling(m, min_periods=m // 2).sum()
        bv = (math.pi / 2) * bp.rolling(m - 1, min_periods=m // 2).sum() * m / (m - 1)
        tp = m * mu43**-3 * m / (m - 2) * ((a * a.shift(1) * a.shift(2)) ** (4 / 3)).rolling(m - 2, min_periods=m // 2).sum()
        bns = ((rv - bv) / rv) / np.sqrt(theta / m * np.maximum(1, tp / bv**2))
        base = bars.n.shift(1).rolling(lb, min_periods=lb // 2)
        iz = (bars.n - base.mean()) / base.std()
        s2 = np.empty(len(r))  # GARCH filter, fixed parameters
        rr = r.to_numpy()
        s2[0] = rr[:75].var() or 1e-8
        for i in range(1, len(rr)):
            s2[i] = 1e-10 + 0.08 * rr[i - 1] ** 2 + 0.9 * s2[i - 1]
        z = rr / np.sqrt(s2)
        dp = bars.close.diff().fillna(0.0)
        frac = ndtr(dp / dp.rolling(1440, min_periods=10).std()).fillna(0.5).to_numpy()
        v_bucket = bars.volume.sum() / DAYS / 50
        fill = buy = 0.0
        ois = []
        for vol, f in zip(bars.volume.to_numpy(), frac):  # VPIN buckets
            while vol > 0:
                take = min(vol, v_bucket - fill)
                buy += take * f
                fill += take
                vol -= take
                if fill >= v_bucket:
                    ois.append(abs(2 * buy - v_bucket))
                    fill = buy = 0.0
        vpin = pd.Series(ois).rolling(50).sum() / (50 * v_bucket)
        cdf = vpin.rolling(1000, min_periods=50).rank(pct=True)
        ev = df.groupby("ts").size().index.to_numpy().astype(np.int64)  # ACD, fixed parameters
        x = np.diff(ev) / 1e9
        x = x / x.mean()
        psi = np.empty(len(x))
        psi[0] = 1.0
        for i in range(1, len(x)):
            psi[i] = 0.1 + 0.1 * x[i - 1] + 0.8 * psi[i - 1]
        sig = np.where(np.abs(lm) > cfg.lm_threshold, np.where(lm > 0, "SELL", "BUY"), "HOLD")
        del bns, iz, z, cdf, sig
    return time.perf_counter() - t0


#: Sale conditions of the DuckDB run's stock prints and their shares: regular, odd lot, intermarket sweep, odd-lot
#: sweep, average price (volume only), prior reference price (volume only).
CONDITIONS = (None, "37", "14", "14,37", "2", "22")
CONDITION_SHARES = (0.55, 0.3, 0.1, 0.04, 0.005, 0.005)


def trades_table(data, symbols: list[str]) -> pa.Table:
    """Stock prints with a realistic mix of sale conditions (the transform decides eligibility from them)."""
    ts = np.concatenate([d[0] for d in data])
    px = np.concatenate([d[1] for d in data])
    sz = np.concatenate([d[2] for d in data])
    sym = np.concatenate([np.full(d[0].size, s, object) for d, s in zip(data, symbols)])
    n = ts.size
    shares = np.asarray(CONDITION_SHARES) / sum(CONDITION_SHARES)
    conditions = np.random.default_rng(3).choice(np.array(CONDITIONS, object), n, p=shares)
    return pa.Table.from_arrays(
        [pa.array(["stocks"] * n, pa.string()), pa.array(sym, pa.string()), pa.array(ts), pa.array(px),
         pa.array(sz), pa.array(np.zeros(n, np.int32)), pa.array(np.arange(n).astype(str), pa.string()),
         pa.array(conditions, pa.string()), pa.nulls(n, pa.int32()), pa.array(np.arange(n, dtype=np.int64)),
         pa.nulls(n, pa.int32()), pa.nulls(n, pa.int64()), pa.array(ts), pa.array(["sim"] * n, pa.string()),
         pa.nulls(n, pa.int32())],
        schema=TRADES_SCHEMA)


#: The run of one code tree in its own process (``PYTHONPATH`` = the tree): ``run_transform`` once on a file,
#: the summary as JSON, and the seconds of the ``close()`` after it: DuckDB checkpoints what the write-ahead log
#: still holds there (what a commit past the 16 MB threshold checkpoints inside the run), so a run that leaves
#: more in the log pays it there, as ``transform --once`` does on exit. Only APIs every tree since the transform
#: has keep (the baseline may be older code).
RUN_ONCE = """
import json, sys, time
from pathlib import Path
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from udx.transform import run_transform
st = Settings(_env_file=None, duckdb_path=Path(sys.argv[1]), session_stocks="00:00-24:00 UTC")
storage = DuckDBStorage.open(st)
s = run_transform(storage, st)
t = time.perf_counter()
storage.close()
print(json.dumps({"trades": s.trades, "seconds": s.seconds, "bars": s.bars, "fits": s.fits,
                  "close": time.perf_counter() - t}))
"""


def build_file(path: Path, n_trades: int, n_symbols: int, quotes_per_trade: int = 0) -> None:
    """A DuckDB file of synthetic trades (and ``quotes_per_trade`` quotes per trade around their path, stored
    symbol after symbol in time order), checkpointed: the input of every timed run of a shape."""
    from bench.bench_liquidity import quotes_table
    from sql.duckdb_backend import DuckDBStorage

    per = n_trades // n_symbols
    data = synthetic(n_symbols, per, seed=2)
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    table = trades_table(data, symbols)
    quotes = quotes_table(data, symbols, quotes_per_trade) if quotes_per_trade else None
    del data
    st = Settings(_env_file=None, duckdb_path=path, session_stocks="00:00-24:00 UTC")  # type: ignore[call-arg]
    storage = DuckDBStorage.open(st)
    try:
        storage.apply_schema()
        for lo in range(0, table.num_rows, 2_000_000):
            storage.append_trades(table.slice(lo, 2_000_000))
        for lo in range(0, 0 if quotes is None else quotes.num_rows, 2_000_000):
            storage.append_quotes(quotes.slice(lo, 2_000_000))  # type: ignore[union-attr]
        storage.checkpoint()
    finally:
        storage.close()


def transform_in(code: Path, db: Path) -> dict[str, float]:
    """``run_transform`` of the tree ``code`` on a copy of ``db``, in a new process as ``transform --once`` runs
    (its kernels load from their cache inside the timed run); ``PYTHONDONTWRITEBYTECODE`` is dropped, as a
    user's machine writes ``__pycache__``."""
    copy = db.with_name(f"run-{db.name}")
    shutil.copy(db, copy)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(code)
    try:
        out = subprocess.run([sys.executable, "-c", RUN_ONCE, str(copy)], cwd=code, env=env, capture_output=True,
                             text=True, check=False)
    finally:
        for leftover in (copy, copy.with_name(copy.name + ".wal")):
            leftover.unlink(missing_ok=True)
    if out.returncode != 0:
        raise RuntimeError(f"run_transform of {code} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def once_in(code: Path, db: Path) -> float:
    """Wall seconds of the command ``microstructure transform --once`` of the tree ``code`` on a copy of ``db``,
    from the start of its process to its exit: what the user waits for (the imports, the open and schema check,
    the run, the closing checkpoint), beside :func:`transform_in`'s ``seconds`` of the run alone."""
    copy = db.with_name(f"once-{db.name}")
    shutil.copy(db, copy)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(code), DUCKDB_PATH=str(copy), SESSION_STOCKS="00:00-24:00 UTC")
    try:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "server.cli", "transform", "--once"], cwd=copy.parent, env=env,
                             capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    finally:
        for leftover in (copy, copy.with_name(copy.name + ".wal")):
            leftover.unlink(missing_ok=True)
    if out.returncode != 0:
        raise RuntimeError(f"transform --once of {code} failed:\n{out.stderr[-2000:]}")
    return wall


TITLE = "Signals engine (issue 3)"
#: The section of a run with ``--skip-signal-pass``: the transforms alone, beside the full section.
TITLE_E2E = "Transform end to end with and without quotes (issues 13 and 19)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--pandas-symbols", type=int, default=10)
    parser.add_argument("--db", action="append", default=None, metavar="TRADES:SYMBOLS",
                        help="run_transform configurations (default 2000000:100 and 10000000:500)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each signal pass and of the pandas baseline; the fastest counts (default 3)")
    parser.add_argument("--quotes-per-trade", type=int, default=4,
                        help="quotes per trade in the runs with quotes (default 4)")
    parser.add_argument("--skip-signal-pass", action="store_true",
                        help="run only the end-to-end transforms (b); the section then has no (a) rows")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also run the transforms of the code tree DIR (e.g. `git archive main` unpacked), "
                             "alternately with this tree on the same files, and report the ratio")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    cfg = signal_config(settings, "crypto")
    per = args.trades // args.symbols
    n = per * args.symbols
    started, load_start = report.now_utc(), report.load_average()
    lines = [
        f"`.venv/bin/python -m bench.bench_signals{''.join(' ' + a for a in sys.argv[1:])}` (bench/bench_signals.py), "
        f"{started}. The signal pass (a) is single-threaded, so its rate is the rate per core; the end-to-end "
        "runs (b) use both cores.",
        "",
        f"- Machine: {report.machine()}; load average at the start {load_start}",
        f"- {report.versions('numba', 'numpy', 'scipy', 'pandas', 'duckdb', 'pyarrow')}",
    ]
    filter_rate = None
    if not args.skip_signal_pass:
        data = synthetic(args.symbols, per)
        run_udx(synthetic(2, 5000, seed=9), cfg)  # compile
        no_fit = SignalConfig(**{**{f: getattr(cfg, f) for f in cfg.__slots__}, "garch_min_obs": 10**9,
                                 "acd_min_obs": 10**9})
        repeat = max(1, args.repeat)
        t_kernels, n_bars, _ = min(run_udx(data, no_fit, rule=False) for _ in range(repeat))
        t_filter, _, _ = min(run_udx(data, no_fit) for _ in range(repeat))
        t_full, _, n_fits = min(run_udx(data, cfg) for _ in range(repeat))
        t_pd = min(run_pandas(data[: args.pandas_symbols], cfg) for _ in range(repeat))
        pd_rate = per * args.pandas_symbols / t_pd
        lines += [
            "",
            f"### (a) Signal pass: {n:,} synthetic trades, {args.symbols} symbols, {n_bars:,} one-minute bars "
            f"over {DAYS} days",
            "",
            "Every signal (bars, Lee-Mykland, BNS, GARCH sigma and standardized return, intensity z, VPIN and its CDF,",
            "ACD on same-timestamp-aggregated events); the pandas baseline computes the same signals written plainly",
            f"(fixed-parameter filters) on {args.pandas_symbols} of the symbols, in the same run. Each row is the "
            f"fastest of {repeat} runs (the box is shared; the pandas row likewise).",
            "",
            "| run | seconds | trades/s/core | vs pandas |",
            "|---|---|---|---|",
        ]
        rows = [("filter pass: numeric kernels, fixed models (no rule texts)", t_kernels),
                ("filter pass with rule and reason texts, fixed models", t_filter),
                (f"with refits ({n_fits} GARCH + ACD fits), rule and texts", t_full)]
        for label, secs in rows:
            lines.append(f"| {label} | {secs:.2f} | {n / secs:,.0f} | {(n / secs) / pd_rate:.1f}x |")
        lines.append(f"| pandas baseline ({args.pandas_symbols} symbols) | {t_pd:.2f} | {pd_rate:,.0f} | 1.0x |")
        filter_rate = n / t_kernels
    codes = [("this tree", ROOT)] + ([] if args.baseline is None else [(f"baseline {args.baseline}",
                                                                       args.baseline.resolve())])
    lines += ["", "### (b) `run_transform` end to end on a DuckDB file: read, signals, bar liquidity, realized "
              "spreads, write", "",
              "Loading the trades into the file first is not counted. Stock prints with sale conditions "
              "(45 % odd lots, sweeps, 1 % average-price or prior-reference prints) on 24-hour sessions: the run "
              "reads the conditions and decides each print's eligibility (issue 13), and writes every bar's "
              "`bar_liquidity` row and the `bar_realized_spread` rows its watermark allows (issue 19). With quotes: "
              f"{args.quotes_per_trade} NBBO quotes per trade around the trade path (bench_liquidity's quotes; "
              "Polygon's average WebSocket quote-to-trade message rate), stored symbol after symbol in time order. "
              "Each run is `run_transform` once in a new process on a copy of the shape's file, as "
              "`transform --once` runs (the kernels load from their numba cache inside the timed run; each tree "
              "ran once on a small file first, so its cache is filled); seconds are `TransformSummary.seconds`; "
              "`close s` is the `close()` after it, where DuckDB checkpoints what its write-ahead log still holds "
              "(not in `seconds`; `transform --once` pays it on exit); `--once s` is the wall time of the command "
              "`microstructure transform --once` itself on another copy, from its process's start to its exit "
              "(imports, open and schema check, run, closing checkpoint: what the user waits for), best of the "
              "same number of runs. "
              + ("" if args.baseline is None else
                 f"The baseline is the tree at `{args.baseline}`, run alternately with this tree on the same "
                 "files; `vs baseline` is the ratio of trades/s. ")
              + f"Each row is the fastest of {max(1, args.repeat)} run(s).", "",
              "| trades / symbols | quotes | code | bars | model fits | seconds | close s | trades/s | vs baseline | "
              "`--once` s | load average |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    e2e_rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for ratio in (0, args.quotes_per_trade):  # warm-up: fills each tree's numba cache for both shapes
            small = Path(tmp) / f"warm-{ratio}.duckdb"
            build_file(small, 200_000, 10, ratio)
            for _, code in codes:
                transform_in(code, small)
            small.unlink()
        for spec in args.db or ["2000000:100", "10000000:500"]:
            n_db, n_sym = (int(v) for v in spec.split(":"))
            for ratio in (0, args.quotes_per_trade):
                db = Path(tmp) / "shape.duckdb"
                build_file(db, n_db, n_sym, ratio)
                best: dict[str, tuple[dict[str, float], str]] = {}
                once: dict[str, float] = {}
                for r in range(max(1, args.repeat)):  # alternate the order: a drifting load hits both alike
                    for label, code in (codes if r % 2 == 0 else codes[::-1]):
                        got = transform_in(code, db)
                        if label not in best or got["seconds"] < best[label][0]["seconds"]:
                            best[label] = (got, report.load_average())
                        once[label] = min(once.get(label, math.inf), once_in(code, db))
                db.unlink()
                base = best[codes[-1][0]][0] if len(codes) > 1 else None
                for label, _ in codes:
                    got, load = best[label]
                    rate = got["trades"] / got["seconds"]
                    if label == codes[0][0]:
                        e2e_rates.append(rate)
                    vs = "" if base is None else f"{rate / (base['trades'] / base['seconds']):.2f}x"
                    lines.append(f"| {n_db:,} / {n_sym} | {n_db // n_sym * n_sym * ratio:,} | {label} | "
                                 f"{int(got['bars']):,} | {int(got['fits']):,} | {got['seconds']:.2f} | "
                                 f"{got['close']:.2f} | {rate:,.0f} | {vs} | {once[label]:.2f} | {load} |")
    filter_target = ("not run" if filter_rate is None else
                     f"{'met' if filter_rate >= 10e6 else 'NOT met'} ({filter_rate:,.0f})")
    lines += ["", f"Targets (issue 3): filter pass ≥ 10M trades/s/core: {filter_target}; `transform --once` end to end "
              f"≥ 1M trades/s with and without quotes (issue 19 point 5): {'met' if min(e2e_rates) >= 1e6 else 'NOT met'} "
              f"({', '.join(f'{r:,.0f}' for r in e2e_rates)})."]
    report.publish(TITLE_E2E if args.skip_signal_pass else TITLE, "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
