"""The daily formulas with compensated sums (``fsum``) against plain ``sum``: what repeatable answers cost.

``day_metrics`` (the table macro behind ``get_symbol_metrics``' open day and ``write_daily_metrics``) adds its
floating columns with ``fsum`` since DuckDB's threads made plain ``sum`` differ in the last bits between calls.
On a copy of the bench file, the current macro and the same macro with every ``fsum`` turned back into ``sum``
(and ``avg(vpin)`` for the mean VPIN) are timed alternately in one process over every final day of every symbol
(what the first transform pass after an upgrade writes) and over one symbol; the rows are compared (equal to
1e-12 relative) and the number of distinct answers over the repeats is counted for each.

Run: ``.venv/bin/python -m bench.bench_day_sums [--db bench/data/bench_10000000.duckdb] [--repeats 5]``
(build the file first with ``.venv/bin/python -m bench.bench_server --trades 10000000 --build-only``).
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from bench.report import load_average, machine, now_utc, publish, versions

ROOT = Path(__file__).resolve().parent.parent
MACRO = ROOT / "sql" / "duckdb" / "views" / "025_day_metrics.sql"
TITLE = "Daily formulas: compensated sums (fsum) against plain sum"
NEVER = 9_000_000_000_000_000_000


def _plain_macro() -> str:
    """The current macro with plain sums, named ``day_metrics_plain``."""
    sql = MACRO.read_text().replace("MACRO day_metrics(", "MACRO day_metrics_plain(")
    sql = sql.replace("fsum(vpin) / nullif(count(vpin), 0)", "avg(vpin)").replace("fsum(", "sum(")
    assert "fsum(" not in sql and "day_metrics_plain(" in sql
    return sql


def _timed(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[float, list[tuple]]:
    started = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - started, rows


def _same(a: list[tuple], b: list[tuple]) -> bool:
    def close(x: object, y: object) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return x == y or math.isclose(x, y, rel_tol=1e-12) or (math.isnan(x) and math.isnan(y))
        return x == y

    return len(a) == len(b) and all(len(r) == len(s) and all(map(close, r, s)) for r, s in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_day_sums", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "bench" / "data" / "bench_10000000.duckdb")
    parser.add_argument("--symbol", default="MSFT")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    if not args.db.exists():
        parser.error(f"{args.db} does not exist: run `.venv/bin/python -m bench.bench_server --build-only` first")
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "copy.duckdb"
        shutil.copy(args.db, path)
        con = duckdb.connect(str(path))
        con.execute(MACRO.read_text())
        con.execute(_plain_macro())
        symbols = con.execute("SELECT count(DISTINCT symbol), count(*) FROM trading_signals").fetchone()
        calls = {"every symbol, every day": "NULL", f"{args.symbol}, every day": f"['{args.symbol}']"}
        lines = []
        for label, symbols_arg in calls.items():
            times: dict[str, list[float]] = {"fsum": [], "sum": []}
            answers: dict[str, set[tuple]] = {"fsum": set(), "sum": set()}
            rows: dict[str, list[tuple]] = {}
            for _ in range(args.repeats):
                for kind, macro in (("fsum", "day_metrics"), ("sum", "day_metrics_plain")):
                    seconds, got = _timed(con, f"SELECT * FROM {macro}(60, {symbols_arg}, 0, 0, {NEVER}) "
                                               "ORDER BY symbol, session_date")
                    times[kind].append(seconds)
                    answers[kind].add(tuple(got))
                    rows[kind] = got
            assert _same(rows["fsum"], rows["sum"]), f"{label}: fsum and sum rows differ beyond 1e-12"
            best = {k: min(v) * 1000 for k, v in times.items()}
            lines.append(f"| {label} | {len(rows['fsum']):,} | {best['sum']:,.1f} ms | {best['fsum']:,.1f} ms | "
                         f"{best['fsum'] / best['sum']:.2f} | {len(answers['sum'])} | {len(answers['fsum'])} |")
        con.close()
    body = "\n".join([
        f"`.venv/bin/python -m bench.bench_day_sums --db {args.db.relative_to(ROOT) if args.db.is_relative_to(ROOT) else args.db} "
        f"--repeats {args.repeats}` (bench/bench_day_sums.py), {now_utc()}.",
        "",
        f"- Machine: {machine()}; load average before {load_before}, after {load_average()}",
        f"- {versions('duckdb')}",
        f"- File: a copy of {args.db.name}: {symbols[1]:,} bars of {symbols[0]} symbols; DuckDB's default threads",
        "",
        "The macro `day_metrics` as shipped (fsum) and the same text with plain sum (and avg for the mean VPIN), "
        f"alternated in one process, best of {args.repeats}; rows equal to 1e-12 relative (asserted); distinct "
        "answers: how many different result sets the repeats gave.",
        "",
        "| call | rows | plain sum | fsum | fsum / sum | distinct answers, sum | distinct answers, fsum |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *lines,
    ])
    publish(TITLE, body, write=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
