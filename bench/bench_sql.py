"""Does an analyst's SQL starve ingest? Trades/s appended alone vs while heavy analyst queries loop (issue 14).

``.venv/bin/python -m bench.bench_sql [--stored N] [--batches K] [--rows R] [--analysts A] [--rounds R]``

One DuckDB file holding ``--stored`` trades, opened as the owning process opens it (``DuckDBStorage.open``:
external access off, configuration locked, ``DUCKDB_THREADS`` threads). Appends ``--batches`` batches of
``--rows`` new trades through ``append_trades`` (the loader's and the feed's path: dedupe anti-join under the
write lock) after a warm-up, in ``--rounds`` rounds of two phases in one process:

1. alone (baseline),
2. while ``--analysts`` threads loop heavy statements through ``run_analyst_sql`` (the MCP tool's and
   REST's path: guard, read-only transaction, time limit, one analyst statement at a time): a full scan of
   ``market_data`` grouped by symbol with a median, and a window over every trade of four symbols, sorted.

Alternating the phases spreads the drift of a shared machine over both; reports the median trades/s of each
phase, their ratio, and the analyst statements completed and timed out meanwhile. ``SET threads`` is per DuckDB instance, not per connection, so analyst
statements cannot be given fewer threads than ingest; what bounds them is one analyst statement at a time
and ``MCP_QUERY_TIMEOUT_MS``. Timings print, never assert; writes the section of ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench import report
from bench.bench_ingest import _new_trades
from server.tools.analyst_sql import run_analyst_sql
from sql.backend import QueryTimeout
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

SECTION = "Analyst SQL vs ingest (issue 14)"

HEAVY = [
    "SELECT symbol, count(*) AS n, avg(price) AS mean_price, quantile_cont(price, 0.5) AS median_price "
    "FROM market_data GROUP BY symbol ORDER BY n DESC",
    "SELECT symbol, ts_ns, price - avg(price) OVER (PARTITION BY symbol ORDER BY ts_ns ROWS 99 PRECEDING) AS dev "
    "FROM market_data WHERE symbol IN ('S000', 'S001', 'S002', 'S003') ORDER BY abs(dev) DESC",
]


def append_rate(storage: DuckDBStorage, first: int, batches: int, rows: int, stored: int) -> float:
    """Append ``batches`` new batches (numbered from ``first``); return trades/s."""
    new = [_new_trades(stored, first + k, rows, 1_700_000_000 * 10**9) for k in range(batches)]
    started = time.perf_counter()
    added = sum(storage.append_trades(batch) for batch in new)
    elapsed = time.perf_counter() - started
    assert added == batches * rows, f"appended {added} of {batches * rows}"
    return added / elapsed


def analyst_loop(storage: DuckDBStorage, settings: Settings, stop: threading.Event, counts: dict[str, int]) -> None:
    """Run the heavy statements in turn until ``stop``; count completions and timeouts."""
    i = 0
    while not stop.is_set():
        try:
            run_analyst_sql(storage, settings, HEAVY[i % len(HEAVY)], 100)
            counts["completed"] += 1
        except QueryTimeout:
            counts["timed_out"] += 1
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=2_000_000, help="trades in the file before the appends")
    parser.add_argument("--batches", type=int, default=10, help="batches appended per phase")
    parser.add_argument("--rows", type=int, default=50_000, help="trades per batch")
    parser.add_argument("--analysts", type=int, default=2, help="threads looping analyst statements")
    parser.add_argument("--rounds", type=int, default=3, help="alone/busy pairs")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sql-") as work:
        settings = Settings(duckdb_path=Path(work) / "sql.duckdb", mcp_max_rows=1000)  # type: ignore[call-arg]
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        fill = 250_000
        for k in range(0, args.stored // fill):
            storage.append_trades(_new_trades(0, k, fill, 1_700_000_000 * 10**9 - args.stored * 10**6))
        stored = storage.run_sql("SELECT count(*) FROM market_data", 1).table.column(0)[0].as_py()

        phase = args.batches * args.rows
        append_rate(storage, 500, 2, args.rows, stored)  # warm-up, not reported
        stored += 2 * args.rows
        alone: list[float] = []
        busy: list[float] = []
        counts = {"completed": 0, "timed_out": 0}
        busy_seconds = 0.0
        for r in range(args.rounds):
            alone.append(append_rate(storage, 1_000 + 2 * r * args.batches, args.batches, args.rows, stored))
            stored += phase
            stop = threading.Event()
            threads = [threading.Thread(target=analyst_loop, args=(storage, settings, stop, counts))
                       for _ in range(args.analysts)]  # fmt: skip
            for thread in threads:
                thread.start()
            time.sleep(0.5)  # the analysts are running when the appends start
            started = time.perf_counter()
            busy.append(append_rate(storage, 1_000 + (2 * r + 1) * args.batches, args.batches, args.rows, stored))
            busy_seconds += time.perf_counter() - started
            stop.set()
            for thread in threads:
                thread.join()
            stored += phase
        storage.close()

    alone_median, busy_median = statistics.median(alone), statistics.median(busy)
    lines = [
        f"Run {report.now_utc()} on {report.machine()}; load average {report.load_average()}.",
        f"{report.versions('duckdb', 'sqlglot', 'pyarrow')}. Command: `.venv/bin/python -m bench.bench_sql "
        f"--stored {args.stored} --batches {args.batches} --rows {args.rows} --analysts {args.analysts} "
        f"--rounds {args.rounds}`.",
        "",
        f"`append_trades` of {args.batches} batches of {args.rows:,} new trades per phase into a file of "
        f"{args.stored:,} trades and growing, {args.rounds} rounds alternating the phases "
        f"(DUCKDB_THREADS={settings.duckdb_threads}, MCP_QUERY_TIMEOUT_MS={settings.mcp_query_timeout_ms}), alone "
        f"and while {args.analysts} threads loop heavy analyst statements through `run_analyst_sql` (a full scan "
        "grouped by symbol with a median; a 100-trade window over four symbols, sorted). One analyst statement "
        "runs at a time; the others wait.",
        "",
        "| phase | median trades/s | rounds (trades/s) | vs alone |",
        "|---|---:|---|---:|",
        f"| alone | {alone_median:,.0f} | {', '.join(f'{v:,.0f}' for v in alone)} | 1.00 |",
        f"| with analyst SQL looping | {busy_median:,.0f} | {', '.join(f'{v:,.0f}' for v in busy)} | "
        f"{busy_median / alone_median:.2f} |",
        "",
        f"Analyst statements meanwhile: {counts['completed']} completed, {counts['timed_out']} timed out, in "
        f"{busy_seconds:.1f} s of appending (plus 0.5 s before each phase). `SET threads` is per DuckDB instance, so analyst "
        "statements share the instance's threads with ingest; the bound is one analyst statement at a time and "
        "the time limit.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        report.replace_section(SECTION, text)


if __name__ == "__main__":
    main()
