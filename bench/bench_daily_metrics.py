"""``get_symbol_metrics`` over every symbol before and after ``daily_metrics`` (issue 18; issue 14's slow call).

Before, ``symbol_metrics_page`` aggregated every bar and every trade of the file for the days asked; now final
days are read from ``daily_metrics`` (written by the transform once final) and only the open day is computed.
On a copy of the bench file (the original is left as it is): the page query of the baseline commit (read from
git) and the current one, each over every symbol and over one symbol, best of ``--repeats``, and what writing the
table costs: the backfill a first transform pass after the upgrade does, and the write of one day that became
final. The pages are asserted equal. ``--against COMMIT`` also times that commit's page on the same file after
the backfill, in the same process, against the current one (issue 18: the formulas moved to one table macro).

Run: ``.venv/bin/python -m bench.bench_daily_metrics [--db bench/data/bench_50000000.duckdb] [--symbol MSFT]``
(build the file first with ``.venv/bin/python -m bench.bench_server --build-only``).
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.report import load_average, machine, now_utc, publish, versions

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "f582240"  # the last commit computing every day from trades
TITLE = "Daily metrics materialized: get_symbol_metrics (issue 18)"
BAR_SECONDS = 60
NS_PER_DAY = 86_400 * 10**9


def _baseline_query(commit: str = BASELINE_COMMIT) -> str:
    return subprocess.run(["git", "show", f"{commit}:sql/duckdb/queries/symbol_metrics_page.sql"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _params(symbols: list[str] | None, limit: int) -> dict[str, Any]:
    return {"symbols": symbols, "start_date": "1970-01-01", "end_date": "9999-12-31", "bar_seconds": BAR_SECONDS,
            "after_session_date": None, "after_symbol": None, "row_limit": limit + 1}


def _best(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], repeats: int) -> tuple[float, list]:
    times, rows = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        rows = con.execute(sql, params).fetchall()
        times.append(time.perf_counter() - start)
    return min(times), rows


def _close(a: tuple, b: tuple) -> bool:
    """Rows equal, floats to 1e-9 relative: DuckDB's parallel sums do not fix their order, so two runs of the same
    query may differ in the last bits."""
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-9) if isinstance(x, float) and isinstance(y, float)
                                    else x == y for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_daily_metrics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "bench" / "data" / "bench_50000000.duckdb")
    parser.add_argument("--symbol", default="MSFT")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", metavar="COMMIT", help="also time this commit's page after the backfill")
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    if not args.db.exists():
        parser.error(f"{args.db} does not exist: run `.venv/bin/python -m bench.bench_server --build-only` first")
    from sql.duckdb_backend import DuckDBStorage
    from sql.queries import load_registry
    from sql.settings import Settings

    current = load_registry("duckdb", "queries")["symbol_metrics_page"].text
    baseline = _baseline_query()
    with tempfile.TemporaryDirectory(dir=args.db.parent) as scratch:
        copy = Path(scratch) / args.db.name
        shutil.copyfile(args.db, copy)
        settings = Settings(_env_file=None, duckdb_path=copy, bar_seconds=BAR_SECONDS)  # type: ignore[call-arg]
        storage = DuckDBStorage.open(settings)
        try:
            storage.apply_schema()  # migrates the file (daily_metrics, empty)
            (facts,) = storage.fetch_all("SELECT (SELECT count(*) FROM market_data), (SELECT count(*) FROM "
                                         "trading_signals), (SELECT count(DISTINCT symbol) FROM trading_signals), "
                                         "(SELECT max(ts_ns) FROM market_data)")
            watermark = int(facts[3]) - round(settings.transform_lateness_seconds * 1e9)
            con = storage._cursor()  # noqa: SLF001 - the bench times the statements themselves
            old_all, rows_old_all = _best(con, baseline, _params(None, args.limit), args.repeats)
            old_one, rows_old_one = _best(con, baseline, _params([args.symbol], args.limit), args.repeats)
            start = time.perf_counter()
            backfilled = storage.write_daily_metrics(BAR_SECONDS, watermark)
            backfill = time.perf_counter() - start
            new_all, rows_new_all = _best(con, current, _params(None, args.limit), args.repeats)
            new_one, rows_new_one = _best(con, current, _params([args.symbol], args.limit), args.repeats)
            against = []
            if args.against:  # interleaved with a second run of the current page: same file, cache and load
                page = _baseline_query(args.against)
                for symbols in (None, [args.symbol]):
                    then, rows_then = _best(con, page, _params(symbols, args.limit), args.repeats)
                    now, rows_now = _best(con, current, _params(symbols, args.limit), args.repeats)
                    assert len(rows_then) == len(rows_now) and all(map(_close, rows_then, rows_now))
                    against.append((symbols, then, now))
            (last_day,) = storage.fetch_all("SELECT max(session_date) FROM daily_metrics")[0]
            storage.execute_write("DELETE FROM daily_metrics WHERE session_date = $d", {"d": last_day})
            storage._metrics_final_before.clear()  # noqa: SLF001 - as after a day became final
            start = time.perf_counter()
            one_day = storage.write_daily_metrics(BAR_SECONDS, watermark)
            daily = time.perf_counter() - start
        finally:
            storage.close()
    for new, old in ((rows_new_all, rows_old_all), (rows_new_one, rows_old_one)):
        diff = [(a, b) for a, b in zip(new, old) if not _close(a, b)]
        assert len(new) == len(old) and not diff, f"the pages differ: {len(new)} vs {len(old)} rows, {diff[:2]}"
    body = "\n".join([
        f"`.venv/bin/python -m bench.bench_daily_metrics` (bench/bench_daily_metrics.py), {now_utc()}.",
        "",
        f"- Machine: {machine()}; load average at the end {load_average()}",
        f"- {versions('duckdb')}",
        f"- File: a copy of {args.db.name}: {facts[0]:,} trades, {facts[1]:,} bars of {facts[2]} symbols; "
        f"DUCKDB_THREADS default; pages of {args.limit} rows, equal before and after (floats to 1e-9 relative)",
        f"- Writing the table: backfill of {backfilled:,} symbol days (the first transform pass after the upgrade) "
        f"{backfill:.2f} s; one day that became final ({one_day} symbol days) {daily:.2f} s",
        "",
        "| call | before (every day from trades) | after (final days from daily_metrics) | ratio |",
        "|---|---:|---:|---:|",
        f"| get_symbol_metrics(limit={args.limit}) all symbols | {old_all * 1000:,.0f} ms | {new_all * 1000:,.0f} ms "
        f"| {old_all / new_all:.1f}x |",
        f"| get_symbol_metrics(symbol={args.symbol}, limit={args.limit}) | {old_one * 1000:,.0f} ms | "
        f"{new_one * 1000:,.0f} ms | {old_one / new_one:.1f}x |",
    ])
    if against:
        body += "\n\n" + "\n".join([
            f"Against `{args.against}` after the backfill (its page, then the current one, best of {args.repeats} "
            f"each, pages equal):",
            "",
            f"| call | {args.against} | current | current / {args.against} |",
            "|---|---:|---:|---:|",
            *(f"| get_symbol_metrics({'all symbols' if s is None else 'symbol=' + s[0]}, limit={args.limit}) | "
              f"{then * 1000:,.1f} ms | {now * 1000:,.1f} ms | {now / then:.2f} |" for s, then, now in against),
        ])
    publish(TITLE, body, write=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
