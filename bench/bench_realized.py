"""Realized spread and price impact in the transform (issue 19 point 3): what ``bar_realized_spread`` costs
``run_transform`` end to end, in the same process, and its values against the simulator's truth.

Run: ``.venv/bin/python -m bench.bench_realized [--trades 1000000] [--symbols 50] [--ratio 4] [--no-write]``.
Prints a Markdown section and replaces it in ``BENCHMARKS.md``; never asserts.

Speed: ``bench.bench_liquidity``'s synthetic stock trades and quotes (``--ratio`` quotes per trade) loaded into
two DuckDB files (not timed), then one ``run_transform`` each: with bar liquidity but without the realized spread
step (the storage hides ``realized_spread_due``: the transform before this step), and with it. The watermark is
the newest trade, so the bars of the last ``LIQUIDITY_HORIZON_SECONDS`` wait for a later run.

Truth: the simulator (quote dynamics on, truth recorded) over 3 hours of its stocks: the mean price impact per
trade and its standard error (trades taken as independent) against the simulator's permanent impact (0 in
expectation: a trade's side follows the efficient move its own quote already holds, and nothing moves the price
afterwards) and against the same sample's efficient-mid impact ``2q(m*[t+H] - m*[t])/m*[t]`` (the true mid at the
trade and at the last trade before ``t + H``), beside the mean realized and effective spreads. Trades are the prints
the transform signs, signed by Lee-Ready with the ``sets_price`` flags it passes
(:func:`bench.bench_liquidity.transform_prints`: only price-setting prints move the tick state).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from bench import report
from bench.bench_liquidity import _warm_up, quotes_table, transform_prints
from bench.bench_signals import synthetic, trades_table
from bench.storage_without import StorageWithout
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.settings import Settings
from udx.nbbo import prevailing_quotes
from udx.realized import realized_trades
from udx.trade_sign import lee_ready
from udx.transform import run_transform

TITLE = "Realized spread and price impact (issue 19 point 3)"
NS = 10**9
END = 1_750_000_000 * NS - (1_750_000_000 % 60) * NS


def truth(hours: float = 3.0, seed: int = 21) -> list[str]:
    """Mean price impact, realized and effective spread per stock symbol of the simulator."""
    m = SyntheticMarket(seed, 40.0, quote_dynamics=True, record_truth=True)
    start = END - int(hours * 3600) * NS
    trades, quotes = m.history(start, END)
    lines = ["| symbol | trades | mean impact (bp) | its standard error (bp) | efficient-mid impact (bp) | "
             "mean realized (bp) | mean effective (bp) |", "|---|---|---|---|---|---|---|"]
    for symbol in (s.symbol for s in DEFAULT_SYMBOLS if s.market == "stocks"):
        t = trades.filter(pc.equal(trades["symbol"], symbol))
        q = quotes.filter(pc.equal(quotes["symbol"], symbol))
        rows, sets_price = transform_prints(t)  # the prints the transform signs, with its sets_price flags
        ts, px = t["ts_ns"].to_numpy()[rows], t["price"].to_numpy()[rows]
        qts, qb, qa = (q[c].to_numpy() for c in ("ts_ns", "bid_price", "ask_price"))
        p = prevailing_quotes(ts, qts, qb, qa, 300 * NS)
        side = lee_ready(px, p.bid, p.ask, p.flags, sets_price=sets_price).side
        r = realized_trades(ts, px, side, qts, qb, qa, 300 * NS, 300 * NS)
        ok = ~np.isnan(r.realized_spread) & (ts + 300 * NS < END)
        impact, realized = r.price_impact[ok], r.realized_spread[ok]
        se = impact.std(ddof=1) / math.sqrt(impact.size)
        true_mid = m.trade_truth(symbol)["true_mid"].to_numpy()[rows]
        later = np.searchsorted(ts, ts + 300 * NS, side="left") - 1  # the last trade (its quote) before t + H
        efficient = (2 * side * (true_mid[later] - true_mid) / true_mid)[ok]
        lines.append(f"| {symbol} | {impact.size:,} | {impact.mean() * 1e4:+.3f} | {se * 1e4:.3f} | "
                     f"{efficient.mean() * 1e4:+.3f} | {realized.mean() * 1e4:.3f} | "
                     f"{(realized + impact).mean() * 1e4:.3f} |")
    return lines


def transform_runs(n_trades: int, n_symbols: int, ratio: int) -> list[tuple[str, Any, int]]:
    """One ``run_transform`` per case on its own DuckDB file: the summary and the realized rows written."""
    from sql.duckdb_backend import DuckDBStorage

    _warm_up(DuckDBStorage)
    data = synthetic(n_symbols, n_trades // n_symbols, seed=2)
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    trades, quotes = trades_table(data, symbols), quotes_table(data, symbols, ratio)
    del data
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in ("bar liquidity, no realized spread step", "bar liquidity and realized spread"):
            st = Settings(_env_file=None, duckdb_path=Path(tmp) / f"{len(out)}.duckdb",  # type: ignore[call-arg]
                          session_stocks="00:00-24:00 UTC")
            storage = DuckDBStorage.open(st)
            storage.apply_schema()
            for lo in range(0, trades.num_rows, 2_000_000):
                storage.append_trades(trades.slice(lo, 2_000_000))
            for lo in range(0, quotes.num_rows, 2_000_000):
                storage.append_quotes(quotes.slice(lo, 2_000_000))
            target = StorageWithout(storage, "realized_spread_due") if "no realized" in case else storage
            summary = run_transform(target, st)  # type: ignore[arg-type]
            (rows,) = storage.fetch_one("SELECT count(*) FROM bar_realized_spread")
            out.append((case, summary, int(rows)))
            storage.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--ratio", type=int, default=4, help="quotes per trade")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    lines = [
        f"`.venv/bin/python -m bench.bench_realized --trades {args.trades} --symbols {args.symbols} "
        f"--ratio {args.ratio}` (bench/bench_realized.py), {report.now_utc()}.",
        "",
        f"- Machine: {report.machine()}; load average at the start {report.load_average()} (a shared box: "
        "other jobs were running)",
        f"- {report.versions('numba', 'numpy', 'duckdb', 'pyarrow')}",
        "",
        "Against the simulator's truth (seed 21, 40 trades/s, 3 hours, H = 300 s): its permanent impact is 0 in "
        "expectation; over the sample the measured impact follows the efficient (true) mid's move. Trades: the "
        "prints the transform signs, by Lee-Ready with its `sets_price` flags (only price-setting prints move "
        "the tick state).",
        "",
    ]
    lines += truth()
    runs = transform_runs(args.trades, args.symbols, args.ratio)
    base = runs[0][1]
    lines += [
        "",
        f"`run_transform` end to end on {args.trades:,} synthetic stock trades of {args.symbols} symbols with "
        f"{args.ratio} quotes per trade; same process, one file per case.",
        "",
        "| case | trades | bars | realized rows | seconds | trades/s | vs without the step |",
        "|---|---|---|---|---|---|---|",
    ]
    for case, summary, rows in runs:
        lines.append(f"| {case} | {summary.trades:,} | {summary.bars:,} | {rows:,} | {summary.seconds:.2f} | "
                     f"{summary.trades / summary.seconds:,.0f} | {base.seconds / summary.seconds:.2f}x |")
    report.publish(TITLE, "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
