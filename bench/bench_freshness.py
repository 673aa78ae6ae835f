"""Freshness of the demo: how long after the simulator stamps a trade (or a bar ends) a client sees it.

Run ``.venv/bin/python -m bench.bench_freshness [--rates 5000 50000] [--seconds 40]``: for each rate it

1. starts ``microstructure demo`` (``SIM_RATE`` trades/s over the 9 demo symbols, a temporary ``DUCKDB_PATH``,
   free ``MCP_PORT`` and ``SIM_PORT``, ``SIM_HISTORY_DAYS=0.0005``: 43 s of backfill, then the live feed) and waits for
   ``/health`` to say ready;
2. polls ``get_real_time_data`` (every symbol) over MCP Streamable HTTP as fast as it answers, one keep-alive
   connection, and records when each answer arrived and each symbol's ``last_trade_ns`` and ``bar_end_ns``;
3. stops the demo (SIGINT: it flushes and closes) and reads the file it wrote: every trade and every bar of the
   polling window.

A trade is *visible* at the first answer whose last trade of its symbol is at or after it (the trades of a symbol
are stored in time order, and an answer shows the newest); its latency is that answer's arrival minus the time
the simulator stamped on the trade (Polygon's ``t``, whole milliseconds of the wall clock when the simulator
generated it: the simulator advances the market to the wall clock every 50 ms and stamps each event inside the
step). A bar is visible at the first answer whose newest bar of its symbol ends at or after it; its latency is
that arrival minus ``bar_end_ns``. The resolution is the interval between answers (reported). Trades and bars
of the first 3 s and the last 5 s of the window are left out (no answer before, or none yet after).

Targets (issue 14): trade p99 ≤ 1 s; signal p99 ≤ ``TRANSFORM_LATENESS_SECONDS`` + 1.5 s. Like every bench
here it prints and never asserts, and replaces its section of ``BENCHMARKS.md`` (``--no-append`` to leave it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import report
from bench.bench_server import free_port

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Freshness of the demo: simulator event to visible"
NS = 1_000_000_000
HEAD_S, TAIL_S = 3.0, 5.0
HISTORY_DAYS = "0.0005"  # 43 s of backfilled history: the demo needs some; the live feed is what is measured
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass
class Polls:
    """What the client saw: arrival times (ns) and, per symbol, the last trade and newest bar per answer."""

    arrived_ns: np.ndarray
    last_trade_ns: dict[str, np.ndarray]
    bar_end_ns: dict[str, np.ndarray]


def start_demo(workdir: Path, rate: int, settings: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``microstructure demo`` at ``rate`` trades/s in ``workdir``; return it and its HTTP port."""
    port = free_port()
    env = {**os.environ, "DUCKDB_PATH": str(workdir / "demo.duckdb"), "MCP_PORT": str(port), "MCP_HOST": "127.0.0.1",
           "SIM_PORT": str(free_port()), "SIM_RATE": str(rate), "SIM_HISTORY_DAYS": HISTORY_DAYS, **settings}  # fmt: skip
    env.pop("MCP_AUTH_TOKEN", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    log = (workdir / "demo.log").open("wb")
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "microstructure"), "demo"], env=env, cwd=workdir,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    return process, port


def wait_ready(process: subprocess.Popen[bytes], port: int, workdir: Path, timeout_s: float = 180) -> None:
    """Wait until ``/health`` answers 200 (the first transform pass is done)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo exited ({process.returncode}); see {workdir / 'demo.log'}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the demo was not ready within {timeout_s:.0f} s; see {workdir / 'demo.log'}")


def poll(port: int, seconds: float) -> Polls:
    """Call ``get_real_time_data`` back to back for ``seconds``; keep each answer's arrival and rows."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "get_real_time_data", "arguments": {"limit": 100}}}).encode()  # fmt: skip
    arrived: list[int] = []
    trades: dict[str, list[int]] = {}
    bars: dict[str, list[int]] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        connection.request("POST", "/mcp", body, MCP_HEADERS)
        data = connection.getresponse().read()
        now = time.time_ns()
        rows = json.loads(data)["result"]["structuredContent"]["rows"]
        arrived.append(now)
        for row in rows:
            trades.setdefault(row["symbol"], []).append(row["last_trade_ns"] or 0)
            bars.setdefault(row["symbol"], []).append(row["bar_end_ns"])
        for symbol in trades:  # a symbol missing from an answer keeps what it had
            for series in (trades, bars):
                if len(series[symbol]) < len(arrived):
                    series[symbol].append(series[symbol][-1] if series[symbol] else 0)
    return Polls(np.array(arrived, np.int64), {s: np.array(v, np.int64) for s, v in trades.items()},
                 {s: np.array(v, np.int64) for s, v in bars.items()})


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, as Ctrl-C: the demo flushes its feeds, finishes the transform and closes the file."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def stored(path: Path, first_ns: int, last_ns: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Trade times and bar ends per symbol in ``[first_ns, last_ns)``, from the file the demo wrote."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        trades = con.execute("SELECT symbol, list(ts_ns ORDER BY ts_ns) FROM market_data WHERE ts_ns >= $a AND ts_ns < $b "
                             "GROUP BY symbol", {"a": first_ns, "b": last_ns}).fetchall()  # fmt: skip
        bars = con.execute("SELECT symbol, list(bar_end_ns ORDER BY bar_end_ns) FROM trading_signals "
                           "WHERE bar_end_ns >= $a AND bar_end_ns < $b GROUP BY symbol",
                           {"a": first_ns, "b": last_ns}).fetchall()  # fmt: skip
    finally:
        con.close()
    return ({s: np.array(v, np.int64) for s, v in trades}, {s: np.array(v, np.int64) for s, v in bars})


def latencies(events: dict[str, np.ndarray], seen: dict[str, np.ndarray], arrived: np.ndarray) -> np.ndarray:
    """Seconds from each event to the first answer showing it (or something newer) for its symbol."""
    out = []
    for symbol, times in events.items():
        shown = seen.get(symbol)
        if shown is None or times.size == 0:
            continue
        newest_so_far = np.maximum.accumulate(shown)
        first = np.searchsorted(newest_so_far, times, side="left")  # first answer with newest >= event
        ok = first < arrived.size
        out.append((arrived[first[ok]] - times[ok]) / NS)
        if (~ok).any():  # never shown while polling: counted as the whole window, so it weighs in the tail
            out.append((arrived[-1] - times[~ok]) / NS)
    return np.concatenate(out) if out else np.empty(0)


def measure(rate: int, seconds: float, settings: dict[str, str]) -> dict[str, Any]:
    """Run the demo at ``rate`` and measure both freshnesses."""
    workdir = Path(tempfile.mkdtemp(prefix="freshness-"))
    process, port = start_demo(workdir, rate, settings)
    try:
        wait_ready(process, port, workdir)
        time.sleep(2.0)  # past the first passes
        load_before = os.getloadavg()[0]
        polls = poll(port, seconds)
        load_after = os.getloadavg()[0]
    finally:
        stop(process)
    first, last = int(polls.arrived_ns[0] + HEAD_S * NS), int(polls.arrived_ns[-1] - TAIL_S * NS)
    trades, bars = stored(workdir / "demo.duckdb", first, last)
    trade_lat = latencies(trades, polls.last_trade_ns, polls.arrived_ns)
    bar_lat = latencies(bars, polls.bar_end_ns, polls.arrived_ns)
    gaps = np.diff(polls.arrived_ns) / 1e6
    shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "rate": rate, "trades": int(trade_lat.size), "bars": int(bar_lat.size),
        "trades_per_s": sum(t.size for t in trades.values()) / max((last - first) / NS, 1e-9),
        "trade_p50": float(np.percentile(trade_lat, 50)) if trade_lat.size else float("nan"),
        "trade_p99": float(np.percentile(trade_lat, 99)) if trade_lat.size else float("nan"),
        "bar_p50": float(np.percentile(bar_lat, 50)) if bar_lat.size else float("nan"),
        "bar_p99": float(np.percentile(bar_lat, 99)) if bar_lat.size else float("nan"),
        "bar_max": float(bar_lat.max()) if bar_lat.size else float("nan"),
        "polls": int(polls.arrived_ns.size), "poll_p50_ms": float(np.median(gaps)),
        "poll_p99_ms": float(np.percentile(gaps, 99)), "load": f"{load_before:.1f} → {load_after:.1f}",
    }  # fmt: skip
    print(f"[{rate}/s] trades {result['trades']:,} (stored {result['trades_per_s']:,.0f}/s): p50 {result['trade_p50']:.3f} s, "
          f"p99 {result['trade_p99']:.3f} s; bars {result['bars']}: p50 {result['bar_p50']:.3f} s, p99 "
          f"{result['bar_p99']:.3f} s; {result['polls']} polls every {result['poll_p50_ms']:.1f} ms (p99 "
          f"{result['poll_p99_ms']:.1f}); load {result['load']}", flush=True)  # fmt: skip
    return result


def render(results: list[dict[str, Any]], seconds: float, settings: dict[str, str], lateness: float,
           batch_s: float, interval_s: float) -> str:
    """The BENCHMARKS.md section."""
    lines = [
        f"`.venv/bin/python -m bench.bench_freshness` (bench/bench_freshness.py), {report.now_utc()}. "
        f"`microstructure demo` on the simulator (43 s of backfilled history), polled for {seconds:g} s per rate with "
        "`get_real_time_data` (every symbol) back to back over MCP Streamable HTTP; latencies from the time the "
        "simulator stamped on each trade (or the bar's end) to the arrival of the first answer showing it, for "
        "every trade and bar of the window (module docstring).",
        "",
        f"- Machine: {report.machine()}; load average at the end {report.load_average()} (other work shared the "
        "box; 1-minute load before → after each rate's polling in the table)",
        f"- Settings: INGEST_BATCH_SECONDS={batch_s:g}, TRANSFORM_INTERVAL_SECONDS={interval_s:g}, "
        f"TRANSFORM_LATENESS_SECONDS={lateness:g}" + "".join(f", {k}={v}" for k, v in settings.items()),
        "",
        "| SIM_RATE | trades stored/s | trades | trade → visible p50 / p99 s | bars | bar end → signal visible "
        "p50 / p99 / max s | resolution: answer every p50 / p99 ms | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['rate']:,} | {r['trades_per_s']:,.0f} | {r['trades']:,} | {r['trade_p50']:.3f} / "
                     f"{r['trade_p99']:.3f} | {r['bars']} | {r['bar_p50']:.3f} / {r['bar_p99']:.3f} / "
                     f"{r['bar_max']:.3f} | {r['poll_p50_ms']:.1f} / {r['poll_p99_ms']:.1f} | {r['load']} |")  # fmt: skip
    bound = lateness + 1.5
    lines += ["", f"Targets (issue 14): trade p99 ≤ 1 s; signal p99 ≤ TRANSFORM_LATENESS_SECONDS + 1.5 = {bound:g} s:"]
    for r in results:
        lines.append(f"- {r['rate']:,}/s: trade {'met' if r['trade_p99'] <= 1 else 'NOT met'} "
                     f"(p99 {r['trade_p99']:.3f} s); signal {'met' if r['bar_p99'] <= bound else 'NOT met'} "
                     f"(p99 {r['bar_p99']:.3f} s)")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from sql.settings import Settings

    parser = argparse.ArgumentParser(prog="bench.bench_freshness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[5000, 50000], help="SIM_RATE values (trades/s)")
    parser.add_argument("--seconds", type=float, default=150.0, help="polling time per rate (bars end once a minute)")
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    defaults = Settings()  # type: ignore[call-arg]  # the demo runs with the same environment
    settings: dict[str, str] = {}
    results = [measure(rate, args.seconds, settings) for rate in args.rates]
    section = render(results, args.seconds, settings, defaults.transform_lateness_seconds,
                     defaults.ingest_batch_seconds, defaults.transform_interval_seconds)  # fmt: skip
    print()
    report.publish(TITLE, section, write=not args.no_append)
    return 0


if __name__ == "__main__":
    sys.exit(main())
