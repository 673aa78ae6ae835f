"""Retention on a generated file: archive + delete + compact of one day, and history queries over archive + live.

One command::

    .venv/bin/python -m bench.bench_retention                 # 8M trades over 4 days, 100 symbols
    .venv/bin/python -m bench.bench_retention --trades 20000000

Builds (or reuses) ``bench/data/retention_<trades>.duckdb`` with the builder the server bench uses (simulated
trades of many symbols in time order, then their signals), copies it, and on the copy:

1. archives the partial first UTC day (``RETAIN_TRADES_DAYS`` = days in the file - 1), untimed, so that
2. the timed run archives exactly one full day (``RETAIN_TRADES_DAYS`` = days - 2): export, read back,
   fsync, delete, checkpoint; reports rows, seconds, archive bytes and the file size after it;
3. measures what ``VACUUM`` + ``CHECKPOINT`` does to the size (nothing in DuckDB 1.x/2.0: blocks are freed
   for reuse, the file keeps its size), then compacts (:mod:`sql.compact`): seconds, size before and after.

Then the same queries run on the compacted file through ``trades_all`` (live + Parquet archive) and on the
original file's ``market_data`` (which kept everything): results must be equal (asserted), times are the best
of five, and their ratio is reported. The section "Retention and archive" of BENCHMARKS.md is replaced.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report
from bench.bench_server import BAR_SECONDS, DATA, DAY_SESSION, NS_PER_DAY, build_database

TITLE = "Retention and archive (bench/bench_retention.py)"

#: The history queries: name -> SQL over {trades} (market_data on the baseline, trades_all on the archived copy).
QUERIES = {
    "daily VWAP and volume of every symbol, all days": (
        "SELECT symbol, CAST(make_timestamp(ts_ns // 1000) AS DATE) AS day, count(*) AS n, sum(size) AS volume, "
        "sum(price * size) / sum(size) AS vwap FROM {trades} GROUP BY ALL ORDER BY ALL"),
    "one symbol, the archived day": (
        "SELECT count(*), sum(size), min(price), max(price) FROM {trades} "
        "WHERE symbol = $symbol AND ts_ns >= $start AND ts_ns < $end"),
    "one symbol, the newest hour (live)": (
        "SELECT count(*), sum(size), min(price), max(price) FROM {trades} "
        "WHERE symbol = $symbol AND ts_ns >= $newest - 3600000000000"),
}


def _settings(path: Path, **overrides: Any) -> Any:
    from sql.settings import Settings

    return Settings(_env_file=None, duckdb_path=path, session_stocks=DAY_SESSION,  # type: ignore[call-arg]
                    bar_seconds=BAR_SECONDS, **overrides)


def _archive(path: Path, days: int) -> tuple[Any, float]:
    from sql.archive import archive
    from sql.duckdb_backend import DuckDBStorage

    settings = _settings(path, retain_trades_days=days)
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        started = time.perf_counter()
        result = archive(storage, settings)
        return result, time.perf_counter() - started
    finally:
        storage.close()


def _best(run: Callable[[], Any], repeat: int = 5) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return result, best


def _query_times(baseline: Path, archived: Path, params: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Each query on the baseline's market_data and on the archived copy's trades_all: equal results, times."""
    from sql.duckdb_backend import DuckDBStorage

    rows = []
    stores = {name: DuckDBStorage.open(_settings(path), read_only=True)
              for name, path in (("baseline", baseline), ("archived", archived))}
    try:
        for label, sql in QUERIES.items():
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            kept, t_kept = _best(lambda: stores["baseline"].fetch_all(sql.format(trades="market_data"), used))
            both, t_both = _best(lambda: stores["archived"].fetch_all(sql.format(trades="trades_all"), used))
            assert _same(kept, both), f"{label}: archive + live differs from the file that kept everything"
            rows.append((label, t_kept, t_both))
    finally:
        for store in stores.values():
            store.close()
    return rows


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows; floats to 1e-9 relative (sums over other row orders round differently)."""
    return len(a) == len(b) and all(
        len(x) == len(y) and all(math.isclose(u, v, rel_tol=1e-9) if isinstance(u, float) else u == v
                                 for u, v in zip(x, y)) for x, y in zip(a, b))


def _vacuum_size(path: Path) -> int:
    """The size after VACUUM + CHECKPOINT of every table (on the file as the archive left it)."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("VACUUM")
        con.execute("CHECKPOINT")
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_retention", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=8_000_000, help="trades in the generated file (default 8M)")
    parser.add_argument("--days", type=float, default=4.0, help="days of history ending at build time")
    parser.add_argument("--symbols", type=int, default=100, help="symbols (the 9 demo ones first)")
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)

    import duckdb

    from sql.compact import compact

    baseline = DATA / f"retention_{args.trades}.duckdb"
    DATA.mkdir(parents=True, exist_ok=True)
    if not baseline.exists():
        build_database(baseline, args.trades, args.days, args.symbols)
    work = DATA / "retention_work" / "archived.duckdb"
    shutil.rmtree(work.parent, ignore_errors=True)
    work.parent.mkdir(parents=True)
    shutil.copyfile(baseline, work)
    with duckdb.connect(str(baseline), read_only=True) as con:
        total, first, newest, symbol = con.execute(
            "SELECT count(*), min(ts_ns), max(ts_ns), (SELECT symbol FROM market_data GROUP BY symbol "
            "ORDER BY count(*) DESC LIMIT 1) FROM market_data").fetchone()  # type: ignore[misc]
    dates = newest // NS_PER_DAY - first // NS_PER_DAY + 1
    load = report.load_average()

    warmup, _ = _archive(work, dates - 1)  # the partial first day
    before_size = work.stat().st_size
    day, seconds = _archive(work, dates - 2)  # exactly one full day
    after_archive = work.stat().st_size
    archive_bytes = sum(f.stat().st_size for f in work.with_suffix(".archive").rglob("*.parquet"))
    vacuum_copy = work.with_name("vacuumed.duckdb")
    shutil.copyfile(work, vacuum_copy)
    vacuumed = _vacuum_size(vacuum_copy)
    vacuum_copy.unlink()
    compacted = compact(_settings(work))
    archived_day = (first // NS_PER_DAY + 1) * NS_PER_DAY
    times = _query_times(baseline, work, {"symbol": symbol, "start": archived_day, "end": archived_day + NS_PER_DAY,
                                          "newest": newest})

    lines = [
        f"Machine: {report.machine()}. {report.versions('duckdb', 'pyarrow')}. Run {report.now_utc()}, "
        f"load average before {load}.",
        "",
        f"Command: `.venv/bin/python -m bench.bench_retention --trades {args.trades} --days {args.days:g} "
        f"--symbols {args.symbols}`. File: {total:,} trades of {args.symbols} symbols over {dates} UTC dates, "
        f"with their signals (the server bench's builder). The archive run first moves the partial first date "
        f"({warmup.rows:,} trades), then the timed run moves one full day.",
        "",
        "| step | result |",
        "|---|---|",
        f"| archive one day: export, read back, fsync, delete, checkpoint | {day.rows:,} trades, "
        f"{day.partitions} partitions, {seconds:.1f} s ({day.rows / seconds / 1e6:.2f} M trades/s) |",
        f"| Parquet archive (zstd), both days | {archive_bytes / 1e6:,.1f} MB for "
        f"{warmup.rows + day.rows:,} trades ({archive_bytes / (warmup.rows + day.rows):.1f} B/trade) |",
        f"| file size before / after archive + checkpoint | {before_size / 1e6:,.1f} MB / "
        f"{after_archive / 1e6:,.1f} MB |",
        f"| after VACUUM + CHECKPOINT instead | {vacuumed / 1e6:,.1f} MB |",
        f"| compact (COPY FROM DATABASE + rename) | {compacted.bytes_before / 1e6:,.1f} MB -> "
        f"{compacted.bytes_after / 1e6:,.1f} MB in {compacted.seconds:.1f} s |",
        "",
        "Queries: the compacted file's `trades_all` (live + Parquet archive) against `market_data` of the file "
        "that kept everything; equal results (asserted), best of 5, DuckDB threads = DUCKDB_THREADS (2).",
        "",
        "| query | kept everything | archive + live | ratio |",
        "|---|---|---|---|",
        *(f"| {label} | {a * 1000:,.1f} ms | {b * 1000:,.1f} ms | {b / a:.2f}x |" for label, a, b in times),
    ]
    body = "\n".join(lines)
    report.publish(TITLE, body, write=not args.no_append)
    print(f"(work files in {work.parent}; {os.path.getsize(baseline) / 1e6:,.0f} MB baseline kept)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
