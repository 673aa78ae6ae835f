"""How long a day-by-day aggregate of one symbol's prints takes through the view ``eligible_trades``.

The view gives each print ``sets_price``, ``sets_high_low`` and ``counts_volume``. Until the lookup
``trade_condition_sets`` existed it split every print's conditions string and searched three rule lists per
row; now it joins the lookup and decides a string the lookup lacks the old way. This bench runs the daily
OHLC/volume aggregate that ``get_symbol_metrics`` needs, for one symbol over the whole file, three ways in one
process: through the view with the lookup filled (as any writer leaves it), with the lookup empty (what a
file loaded around the storage API had), and through the former view text, inlined from git (the baseline).
The three answers are asserted equal.

Run: ``.venv/bin/python -m bench.bench_eligible [--db bench/data/bench_50000000.duckdb] [--symbol AAPL]``
(build the file first with ``.venv/bin/python -m bench.bench_server --build-only``). The file is copied, so the
original is left as it is.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

from bench.report import load_average, machine, now_utc, publish, versions

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "1850308"  # the last commit with the per-print view
TITLE = "Print eligibility in SQL: the conditions lookup (issue 14)"

DAILY = """SELECT CAST(make_timestamp(ts_ns // 1000) AS DATE) AS day,
       count(*) FILTER (WHERE counts_volume), sum(size) FILTER (WHERE counts_volume),
       arg_min(price, ts_ns) FILTER (WHERE sets_price), max(price) FILTER (WHERE sets_high_low),
       min(price) FILTER (WHERE sets_high_low), arg_max(price, ts_ns) FILTER (WHERE sets_price)
FROM {source} WHERE symbol = $symbol GROUP BY ALL ORDER BY day"""


def _former_view() -> str:
    text = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:sql/duckdb/views/005_eligible_trades.sql"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return text[text.index("WITH rules"):].rstrip().rstrip(";")


def _best(con: duckdb.DuckDBPyConnection, sql: str, symbol: str, repeats: int) -> tuple[float, list]:
    times, rows = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        rows = con.execute(sql, {"symbol": symbol}).fetchall()
        times.append(time.perf_counter() - start)
    return min(times), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_eligible", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "bench" / "data" / "bench_50000000.duckdb")
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    if not args.db.exists():
        parser.error(f"{args.db} does not exist: run `.venv/bin/python -m bench.bench_server --build-only` first")
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings

    with tempfile.TemporaryDirectory(dir=args.db.parent) as scratch:
        copy = Path(scratch) / args.db.name
        shutil.copyfile(args.db, copy)
        storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=copy))  # type: ignore[call-arg]
        storage.apply_schema()  # a writer's open fills the lookup
        storage.close()
        con = duckdb.connect(str(copy))
        con.execute("SET threads = 1")
        facts = con.execute("SELECT count(*), count(*) FILTER (WHERE symbol = $symbol), count(DISTINCT conditions) "
                            "FROM market_data", {"symbol": args.symbol}).fetchone()
        lookup, rows_lookup = _best(con, DAILY.format(source="eligible_trades"), args.symbol, args.repeats)
        baseline, rows_before = _best(con, f"WITH former AS ({_former_view()}) " + DAILY.format(source="former"),
                                      args.symbol, 1)
        con.execute("CREATE TEMP TABLE kept AS SELECT * FROM trade_condition_sets")
        con.execute("DELETE FROM trade_condition_sets")
        empty, rows_empty = _best(con, DAILY.format(source="eligible_trades"), args.symbol, 1)
        con.execute("INSERT INTO trade_condition_sets SELECT * FROM kept")
        con.close()
    assert rows_lookup == rows_before == rows_empty, "the three ways disagree"
    body = "\n".join([
        f"`.venv/bin/python -m bench.bench_eligible` (bench/bench_eligible.py), {now_utc()}.",
        "",
        f"- Machine: {machine()}; load average at the end {load_average()}",
        f"- {versions('duckdb')}",
        f"- File: {facts[0]:,} trades ({args.symbol}: {facts[1]:,}), {facts[2]} distinct conditions strings; one "
        f"DuckDB thread; the daily OHLC/volume aggregate of {args.symbol}, {len(rows_lookup)} days, answers equal",
        "",
        "| view | best time | vs the former view |",
        "|---|---:|---:|",
        f"| former view (split and search per print, commit {BASELINE_COMMIT}) | {baseline * 1000:,.0f} ms | 1.00 |",
        f"| lookup empty (strings decided in the view) | {empty * 1000:,.0f} ms | {baseline / empty:.1f}x |",
        f"| lookup filled (any writer's file) | {lookup * 1000:,.0f} ms | {baseline / lookup:.1f}x |",
    ])
    publish(TITLE, body, write=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
