"""The Vertica UDx's bar liquidity (issues 18/19): one partition's computation with its quotes against without,
in the same process.

Run: ``.venv/bin/python -m bench.bench_vertica_udx [--hours 2] [--repeat 3] [--no-write]``. Prints a Markdown
section and replaces it in ``BENCHMARKS.md``; never asserts.

No Vertica server runs here, so what is timed is the Python side each UDx partition runs inside Vertica:
:func:`udx.vertica_udx.compute_partition` on one simulated stock's trades (quote dynamics on) over ``--hours``
hours, without quotes (what the 7-argument form computes: no bar liquidity) and with the symbol's quotes (the
11-argument form: the same bars plus their ``bar_liquidity`` measures). The rows reading and writing of the SDK
loop and Vertica's own sort of the partition are not included. Times are CPU times (``time.process_time``), the
least of ``--repeat`` runs; the numba kernels are compiled by a first untimed run.
"""

from __future__ import annotations

import argparse
import time

import pyarrow as pa
import pyarrow.compute as pc

from bench import report
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.settings import Settings
from sql.vertica_backend import udx_settings_json
from udx.vertica_udx import QUOTE_COLUMNS, compute_partition

TITLE = "Vertica UDx bar liquidity (issues 18/19)"
NS = 10**9
END = 1_750_000_000 * NS - (1_750_000_000 % 60) * NS


def _least(repeat: int, run: object) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return best


def main(argv: list[str] | None = None) -> None:
    """Time one partition with and without its quotes; publish the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    load_start = report.load_average()
    stock = next(s for s in DEFAULT_SYMBOLS if s.market == "stocks")
    trades, quotes = SyntheticMarket(7, 40.0, (stock,), quote_dynamics=True).history(
        END - int(args.hours * 3600) * NS, END)
    trades = trades.sort_by([("ts_ns", "ascending")])
    quotes = quotes.filter(pc.equal(quotes["symbol"], stock.symbol)).sort_by([("ts_ns", "ascending")])
    quoted = pa.table({f.name: quotes.column(f.name).cast(f.type) for f in QUOTE_COLUMNS}, schema=QUOTE_COLUMNS)
    settings = udx_settings_json(Settings(_env_file=None, session_stocks="00:00-24:00 UTC"))  # type: ignore[call-arg]
    common = {"symbol": stock.symbol, "settings_json": settings, "market": "stocks", "computed_at_ns": 1,
              "conditions": trades["conditions"].to_pylist(), "correction": trades["correction"].to_pylist()}
    ts, px, sz = (trades[c].to_numpy() for c in ("ts_ns", "price", "size"))

    def plain() -> object:
        return compute_partition(ts, px, sz, **common)

    def with_quotes() -> object:
        return compute_partition(ts, px, sz, quotes=quoted, **common)

    bars = with_quotes().signals.num_rows  # type: ignore[attr-defined]  # also compiles the kernels
    plain()
    t_plain = _least(args.repeat, plain)
    t_quotes = _least(args.repeat, with_quotes)
    text = "\n".join([
        f"`.venv/bin/python -m bench.bench_vertica_udx --hours {args.hours:g} --repeat {args.repeat}` "
        f"(bench/bench_vertica_udx.py), {report.now_utc()}.",
        "",
        f"- Machine: {report.machine()}; load average at the start {load_start}, at the end "
        f"{report.load_average()} (a shared box: CPU times, the least of {args.repeat} runs)",
        f"- {report.versions('numba', 'numpy', 'pyarrow')}",
        f"- One simulated stock ({stock.symbol}), {args.hours:g} h: {trades.num_rows:,} trades, "
        f"{quotes.num_rows:,} quotes, {bars:,} one-minute bars; no Vertica server: the Python side of one "
        "UDx partition (`compute_partition`), without the SDK's row loop",
        "",
        "| partition | CPU s | trades/s | ratio |",
        "|---|---:|---:|---:|",
        f"| trades only (7-argument form, no bar liquidity) | {t_plain:.3f} | {trades.num_rows / t_plain:,.0f} | 1.00x |",
        f"| trades + quotes (11-argument form, bar liquidity) | {t_quotes:.3f} | "
        f"{trades.num_rows / t_quotes:,.0f} | {t_quotes / t_plain:.2f}x |",
    ])
    report.publish(TITLE, text, write=not args.no_write)


if __name__ == "__main__":
    main()
