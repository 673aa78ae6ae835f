"""What the quote columns cost ``get_enriched_data``: the page query ``enriched_data_page`` and the view
``enriched_market_data`` with the prevailing quote, Lee-Ready side and effective spread, against their text
before the quote columns (inlined from git, the baseline) in the same process on the same file.

Two files: one built here from the simulator with quote dynamics (``--hours`` of trades and quotes of its
default symbols at ``--rate`` trades a second, with their signals), and optionally (``--big``) a copy of the
bench_server file ``bench/data/bench_50000000.duckdb``, which has no quotes (the cost of the join and the tick
rule's windows against an empty quotes table). Calls: the newest 100 trades of one symbol (all time), 100 trades
of the last hour, and the whole last hour of the symbol through the view; then this hour through the table macro
``enriched_market_data_between`` against the view with a time filter (the view's tick rule runs over the symbol's
whole history); and the two pages as the server reads them now (``enriched_data_page_span``, then
``enriched_data_page`` over that span: server/tools/page_span.py) against the one-statement page query of commit
``PAGE_BASELINE_COMMIT``, which restated the macro's CTEs with a 1,000-trade look-back, and against the page of
commit ``GRID_BASELINE_COMMIT``, whose macro built its grids from ``SELECT DISTINCT bar_seconds`` over every bar.
Times are wall-clock and CPU medians of ``--repeats`` calls after one warm-up, one DuckDB thread; the two calls
of a row in turn, in the same process on the same file, and their rows are checked equal in number.

Run: ``.venv/bin/python -m bench.bench_enriched_quotes [--hours 4] [--rate 200] [--big [--db FILE]] [--no-append]``.
Prints a Markdown table and replaces its section of ``BENCHMARKS.md``; never asserts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.report import load_average, machine, now_utc, publish, versions

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "f582240"  # main before the quote columns
PAGE_BASELINE_COMMIT = "1ece2e6"  # main before the page read the macro over its span in two steps
GRID_BASELINE_COMMIT = "5e14301"  # main before the page bound its grid (its macro listed every bar's grid)
SPAN_PARAMS = ("symbol", "start_ns", "end_ns", "after_ts_ns", "after_exchange", "after_trade_id", "row_limit")
TITLE = "Quote columns of enriched_market_data and get_enriched_data (issue 19 point 4)"
NS = 10**9
HOUR_VIEW = "SELECT count(*), sum(size) FROM {source} WHERE symbol = $symbol AND ts_ns >= $start_ns AND ts_ns < $end_ns"
MACRO = "enriched_market_data_between($symbol, $start_ns, $end_ns)"


def _baseline(path: str, commit: str = BASELINE_COMMIT) -> str:
    return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def _former_view() -> str:
    text = _baseline("sql/duckdb/views/010_enriched_market_data.sql")
    return text[text.index("AS\nSELECT") + 3:].rstrip().rstrip(";")


def build(path: Path, hours: float, rate: float) -> None:
    """A file of ``hours`` of simulated trades and quotes ending now, with their signals."""
    from ingest.synthetic_market import SyntheticMarket
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings
    from udx.transform import run_transform

    settings = Settings(_env_file=None, duckdb_path=path)  # type: ignore[call-arg]
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    end = time.time_ns()
    trades, quotes = SyntheticMarket(5, rate, quote_dynamics=True).history(end - int(hours * 3600 * NS), end)
    storage.append_trades(trades)
    storage.append_quotes(quotes)
    run_transform(storage, settings)
    storage.close()


class TwoStep:
    """The page as the server reads it: the span query, then the page query with the span bound."""

    def __init__(self, span: str, page: str) -> None:
        self.span, self.page = span, page

    def rows(self, con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list:
        start_ns, end_ns = con.execute(self.span, {k: params[k] for k in SPAN_PARAMS}).fetchone()
        return con.execute(self.page, {**params, "start_ns": start_ns, "end_ns": end_ns}).fetchall()


def _run(con: duckdb.DuckDBPyConnection, sql: str | TwoStep, params: dict[str, Any]) -> list:
    return sql.rows(con, params) if isinstance(sql, TwoStep) else con.execute(sql, params).fetchall()


def _medians(con: duckdb.DuckDBPyConnection, pair: tuple[str | TwoStep, str | TwoStep], params: dict[str, Any],
             repeats: int) -> tuple[tuple[float, float], tuple[float, float], list, list]:
    """Median wall and CPU seconds (``time.process_time``: one DuckDB thread runs in this one) of each of the two
    queries, called in turn (which goes first alternates) after one warm-up each; and their rows."""
    rows = [_run(con, sql, params) for sql in pair]  # warm-up
    wall: list[list[float]] = [[], []]
    cpu: list[list[float]] = [[], []]
    for k in range(repeats):
        for i in ((0, 1) if k % 2 == 0 else (1, 0)):
            start, start_cpu = time.perf_counter(), time.process_time()
            rows[i] = _run(con, pair[i], params)
            wall[i].append(time.perf_counter() - start)
            cpu[i].append(time.process_time() - start_cpu)
    return ((statistics.median(wall[0]), statistics.median(cpu[0])),
            (statistics.median(wall[1]), statistics.median(cpu[1])), rows[0], rows[1])


def _grid_baseline(con: duckdb.DuckDBPyConnection) -> TwoStep:
    """Commit ``GRID_BASELINE_COMMIT``'s page: its span, then its macro (created here as ``grid_baseline_between``)
    over every grid, filtered on ``bar_seconds`` afterwards."""
    macro = _baseline("sql/duckdb/views/011_enriched_market_data_between.sql", GRID_BASELINE_COMMIT)
    con.execute(macro.replace("MACRO enriched_market_data_between(", "MACRO grid_baseline_between("))
    page = _baseline("sql/duckdb/queries/enriched_data_page.sql", GRID_BASELINE_COMMIT)
    return TwoStep(_baseline("sql/duckdb/queries/enriched_data_page_span.sql", GRID_BASELINE_COMMIT),
                   page.replace("enriched_market_data_between(", "grid_baseline_between("))


def measure(path: Path, symbol: str, repeats: int) -> tuple[dict[str, Any], list[tuple[str, tuple, tuple]]]:
    """(facts of the file, [(call, baseline (wall, CPU) s, ours (wall, CPU) s)]) on a writer-opened copy of
    ``path``."""
    from sql.duckdb_backend import DuckDBStorage
    from sql.queries import load_registry
    from sql.settings import Settings

    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    storage.apply_schema()  # writes view_settings and the new views
    storage.close()
    con = duckdb.connect(str(path))
    con.execute("SET threads = 1")
    facts = dict(zip(("trades", "quotes", "symbol_trades", "newest"), con.execute(
        "SELECT (SELECT count(*) FROM market_data), (SELECT count(*) FROM quotes), "
        "(SELECT count(*) FROM market_data WHERE symbol = $symbol), "
        "(SELECT max(ts_ns) FROM market_data WHERE symbol = $symbol)", {"symbol": symbol}).fetchone()))
    queries = load_registry("duckdb", "queries")
    ours_page = TwoStep(queries["enriched_data_page_span"].text, queries["enriched_data_page"].text)
    base_page = _baseline("sql/duckdb/queries/enriched_data_page.sql")
    main_page = _baseline("sql/duckdb/queries/enriched_data_page.sql", PAGE_BASELINE_COMMIT)
    keyset = {"after_ts_ns": None, "after_exchange": None, "after_trade_id": None, "row_limit": 101}
    hour = {"start_ns": facts["newest"] - 3600 * NS, "end_ns": facts["newest"] + 1}
    calls = [
        ("page: newest 100 (all time)", base_page, ours_page,
         {"symbol": symbol, "bar_seconds": 60, "start_ns": 0, "end_ns": 2**62, **keyset}),
        ("page: 100 of the last hour", base_page, ours_page, {"symbol": symbol, "bar_seconds": 60, **hour, **keyset}),
        ("view: the symbol's last hour", f"WITH former AS ({_former_view()}) " + HOUR_VIEW.format(source="former"),
         HOUR_VIEW.format(source="enriched_market_data"), {"symbol": symbol, **hour}),
        ("this hour: view with a time filter → enriched_market_data_between", HOUR_VIEW.format(
            source="enriched_market_data"), HOUR_VIEW.format(source=MACRO), {"symbol": symbol, **hour}),
        (f"page: newest 100 (all time), {PAGE_BASELINE_COMMIT}'s page → span + macro", main_page, ours_page,
         {"symbol": symbol, "bar_seconds": 60, "start_ns": 0, "end_ns": 2**62, **keyset}),
        (f"page: 100 of the last hour, {PAGE_BASELINE_COMMIT}'s page → span + macro", main_page, ours_page,
         {"symbol": symbol, "bar_seconds": 60, **hour, **keyset}),
        (f"page: newest 100 (all time), {GRID_BASELINE_COMMIT}'s span + macro of every grid → of its grid",
         _grid_baseline(con), ours_page, {"symbol": symbol, "bar_seconds": 60, "start_ns": 0, "end_ns": 2**62,
                                          **keyset}),
        (f"page: 100 of the last hour, {GRID_BASELINE_COMMIT}'s span + macro of every grid → of its grid",
         _grid_baseline(con), ours_page, {"symbol": symbol, "bar_seconds": 60, **hour, **keyset}),
    ]
    out = []
    for label, base_sql, ours_sql, params in calls:
        base, ours, base_rows, ours_rows = _medians(con, (base_sql, ours_sql), params, repeats)
        assert len(base_rows) == len(ours_rows), label
        out.append((label, base, ours))
    con.close()
    return facts, out


def _table(name: str, facts: dict[str, Any], rows: list[tuple[str, tuple, tuple]], symbol: str) -> list[str]:
    lines = [f"**{name}**: {facts['trades']:,} trades ({symbol}: {facts['symbol_trades']:,}), "
             f"{facts['quotes']:,} quotes", "",
             "| call | before (first three: no quote columns; fourth: the view; fifth and sixth: the one-statement "
             "page; last two: the macro of every grid) | after | ratio | CPU before | CPU after | CPU ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {label} | {b[0] * 1000:,.1f} ms | {o[0] * 1000:,.1f} ms | {o[0] / b[0]:.2f}x | "
              f"{b[1] * 1000:,.1f} ms | {o[1] * 1000:,.1f} ms | {o[1] / b[1]:.2f}x |" for label, b, o in rows]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_enriched_quotes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--big", action="store_true", help="also a copy of --db (bench_server's file)")
    parser.add_argument("--db", type=Path, default=ROOT / "bench" / "data" / "bench_50000000.duckdb")
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    big = args.db
    if args.big and not big.exists():
        parser.error(f"{big} does not exist: run `.venv/bin/python -m bench.bench_server --build-only` first")
    sections = []
    with tempfile.TemporaryDirectory() as scratch:
        sim = Path(scratch) / "quotes.duckdb"
        build(sim, args.hours, args.rate)
        facts, rows = measure(sim, args.symbol, args.repeats)
        sections += _table(f"simulated, {args.hours:g} h with quote dynamics", facts, rows, args.symbol)
        if args.big:
            copy = Path(scratch) / big.name
            shutil.copyfile(big, copy)
            facts, rows = measure(copy, args.symbol, args.repeats)
            sections += _table(f"bench_server's file {big.name} (no quotes)", facts, rows, args.symbol)
    body = "\n".join([
        f"`.venv/bin/python -m bench.bench_enriched_quotes --hours {args.hours:g}"
        f"{f' --big --db {args.db.relative_to(ROOT) if args.db.is_relative_to(ROOT) else args.db}' if args.big else ''}"
        f" --repeats {args.repeats}` "
        f"(bench/bench_enriched_quotes.py), {now_utc()}.",
        "",
        f"- Machine: {machine()}; load average at the end {load_average()}",
        f"- {versions('duckdb')}; one DuckDB thread; medians of {args.repeats} calls after a warm-up; baseline: "
        f"the page query and view of commit {BASELINE_COMMIT} (no quote columns) for the first three rows, the "
        f"view with a time filter for the fourth, the one-statement page of commit {PAGE_BASELINE_COMMIT} for the "
        f"fifth and sixth, commit {GRID_BASELINE_COMMIT}'s span + macro of every grid for the last two (after: "
        "span, then the page over it, both timed); same process, same file, the two calls of a row in turn; "
        "CPU: `time.process_time` of this process (DuckDB's one thread runs in it), steadier than wall time on a "
        "shared box",
        "",
        *sections,
    ])
    publish(TITLE, body, write=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
