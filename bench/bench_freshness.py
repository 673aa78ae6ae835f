"""Freshness of the demo: how long after the simulator stamps a trade (or a bar ends) a client sees it.

Run ``.venv/bin/python -m bench.bench_freshness [--rates 5000 50000] [--seconds 120] [--bar-seconds 10]``: for
each rate it

1. starts ``microstructure simulate`` as its own process (about ``--rates`` trades/s offered, as many quotes, over
   the 9 demo symbols: the model offers ``SIM_RATE`` times the intraday shape of the hour, so ``SIM_RATE`` is set
   from the model itself to offer the rate asked (:func:`sim_rate_for`); ``--sim-rates`` runs ``SIM_RATE`` values
   as they are, e.g. 50,000 that offers ~60k/s late in the UTC day; ``--inline``: none, the demo runs the simulator in its own process as it does by default), then
   ``microstructure demo`` reading it through ``SIM_FEED`` (a temporary ``DUCKDB_PATH``, free ports,
   ``SIM_HISTORY_DAYS=0.0005``: 43 s of backfill, then the live feed; ``BAR_SECONDS`` from ``--bar-seconds`` so
   that the window holds enough bar ends for a p99; ``LIQUIDITY_HORIZON_SECONDS`` from ``--horizon``, 20 s by
   default: see *Steady state* below) and waits for ``/health`` to say ready (at most
   ``--ready-timeout``: a demo that is not ready is reported in its row and the run goes on); the CPU seconds each
   process spends while polling are read from ``/proc`` (the simulator's cost apart from the demo's);
2. once the backfilled quotes are loaded (the one big write of the start), polls ``get_real_time_data`` (every
   symbol) over MCP Streamable HTTP, one keep-alive connection, pausing ``--pause-ms`` (20) between an answer and
   the next call (back to back, the client's own CPU competed with the demo on the 2 cores), and records when
   each answer arrived and each symbol's ``last_trade_ns`` and ``bar_end_ns``;
3. stops the demo (SIGINT: it flushes and closes) and reads the file it wrote: every trade and every bar of the
   polling window; counts the slow consumers the simulator dropped and the reconnects the demo logged (each loses
   what was in flight) and reads the ``INGEST_BATCH_SECONDS`` each code runs with.

A trade is *visible* at the first answer whose last trade of its symbol is at or after it (the trades of a symbol
are stored in time order, and an answer shows the newest); its latency is that answer's arrival minus the time
the simulator stamped on the trade (Polygon's ``t``, whole milliseconds of the wall clock when the simulator
generated it: the simulator advances the market to the wall clock every 50 ms and stamps each event inside the
step). A bar is visible at the first answer whose newest bar of its symbol ends at or after it; its latency is
that arrival minus ``bar_end_ns``. The resolution is the interval between answers (reported). Trades and bars
of the first 3 s and the last 5 s of the window are left out (no answer before, or none yet after).

``--writes SECONDS`` (with ``--only-parts``: nothing else) times, in this process, what a trade and a bar wait
for at the last rate: the feed's writes, those in which DuckDB checkpointed apart (:func:`writes`), and the
one-bar transform pass (and when its signal rows were committed: the realized rows of due bars come after them,
when they were; and how many passes DuckDB checkpointed in: the WAL file shrank during the pass).
``--threads`` adds each run's CPU per thread and per part of the demo while polled (:func:`thread_summary`,
:mod:`bench.thread_cpu`: ``/proc`` every second, threads named by ``py-spy dump`` when py-spy is on the ``PATH``), the
simulator's, the collector's (``MICROSTRUCTURE_GC_TIMES``, :mod:`server.gc_times`) and DuckDB's checkpoints.
``--due-days DAYS`` times ``realized_spread_due`` over that many days of bars, every row against bounded by its
floor (:func:`due_queries`).

**Steady state.** A demo older than ``LIQUIDITY_HORIZON_SECONDS`` (300 s by default) has realized-spread bars
due in every transform pass (:mod:`udx.realized_step`: each bar gets its ``bar_realized_spread`` row once the
watermark is a horizon past its end), and such a pass costs more than one without. The bench's window (43 s of
backfill, then the polling) is shorter than the default horizon, so the bench runs the demo with a horizon of
``--horizon`` seconds (20): every polled pass then has due bars, as a demo running past its horizon has (the
pass reads and computes the same for any horizon shorter than its age; only which bars are due depends on it).
``--default-horizon`` leaves the code's default (no realized bar due in the window: the first minutes of a demo).
Each row says how many ``bar_realized_spread`` rows the demo wrote while it was polled (:func:`realized_written`).

Targets (issue 14): trade p99 ≤ 1 s; signal p99 ≤ ``TRANSFORM_LATENESS_SECONDS`` + 1.5 s. ``--baseline PATH``
adds, in the same run, the code of another checkout (``PYTHONPATH=PATH``, e.g. a worktree of ``main`` with the
``SIM_FEED`` commit, or any checkout with ``--inline``) at the same rates, fed the same way, and reports each
rate's stored-trades ratio against it. Like every bench
here it prints and never asserts, and replaces its section of ``BENCHMARKS.md`` (``--no-append`` to leave it).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
HORIZON_S = 20  # LIQUIDITY_HORIZON_SECONDS of the demo: realized-spread bars due in every polled pass
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass
class Polls:
    """What the client saw: arrival times (ns) and, per symbol, the last trade and newest bar per answer."""

    arrived_ns: np.ndarray
    last_trade_ns: dict[str, np.ndarray]
    bar_end_ns: dict[str, np.ndarray]


def _launch(args: list[str], env: dict[str, str], workdir: Path, log_name: str) -> subprocess.Popen[bytes]:
    log = (workdir / log_name).open("wb")
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "microstructure"), *args], env=env, cwd=workdir,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def start_simulator(workdir: Path, rate: int, code: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``microstructure simulate`` at ``rate`` trades/s on a free port; return it and its ``host:port``."""
    port = free_port()
    env = {**os.environ, "SIM_PORT": str(port), "SIM_RATE": str(rate), "PYTHONPATH": str(code)}
    env.pop("POLYGON_API_KEY", None)  # any key passes: the demo's is "demo"
    process = _launch(["simulate"], env, workdir, "simulator.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # listening once a connection is accepted
        if process.poll() is not None:
            raise RuntimeError(f"the simulator exited ({process.returncode}); see {workdir / 'simulator.log'}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the simulator did not listen within 60 s; see {workdir / 'simulator.log'}")


def start_demo(workdir: Path, rate: int, settings: dict[str, str], code: Path = ROOT) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``microstructure demo`` (the code of ``code``) at ``rate`` trades/s in ``workdir``; return it and
    its HTTP port."""
    port = free_port()
    env = {**os.environ, "DUCKDB_PATH": str(workdir / "demo.duckdb"), "MCP_PORT": str(port), "MCP_HOST": "127.0.0.1",
           "SIM_PORT": str(free_port()), "SIM_RATE": str(rate), "SIM_HISTORY_DAYS": HISTORY_DAYS,
           "PYTHONPATH": str(code), **settings}  # fmt: skip
    env.pop("MCP_AUTH_TOKEN", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return _launch(["demo"], env, workdir, "demo.log"), port


def wait_logged(process: subprocess.Popen[bytes], log: Path, pattern: str, timeout_s: float = 180) -> None:
    """Wait until a line of ``log`` matches ``pattern``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if re.search(pattern, log.read_text(errors="replace")):
            return
        time.sleep(0.2)
    raise RuntimeError(f"no line matching {pattern!r} in {log} within {timeout_s:.0f} s")


def offered_trades(rate: float, first_ns: int, last_ns: int) -> int:
    """Trades the simulator's model offers in ``[first_ns, last_ns)`` at ``rate``: the same market (seed, intraday
    shape, volatility-clustering path) simulated again for that window; only the arrival draws differ."""
    from ingest.synthetic_market import SyntheticMarket
    from sql.settings import Settings

    trades, _ = SyntheticMarket(seed=Settings().sim_seed, rate=rate).history(first_ns, last_ns)  # type: ignore[call-arg]
    return int(trades.num_rows)


def sim_rate_for(offered: float, seconds: float, lead_s: float = 120.0, probe_rate: float = 1000.0) -> int:
    """The ``SIM_RATE`` at which the simulator's model offers about ``offered`` trades/s over the coming window.

    The model's rate is ``SIM_RATE`` times the intraday shape of the hour and the volatility-clustering level of
    the minute (``ingest.synthetic_market``): its mean over a day is ``SIM_RATE``, but at a given hour it may be
    1.2 times that or half. The factor is read off the model itself, simulated at ``probe_rate`` over
    ``[now, now + lead_s + seconds)`` (the start of the demo and the polling; the arrivals scale with the rate,
    the shape and the clustering path do not depend on it). The window actually polled is measured after the
    run (``offered_trades``) and reported beside the rate asked."""
    start = time.time_ns()
    end = start + round((lead_s + seconds) * NS)
    factor = offered_trades(probe_rate, start, end) / (probe_rate * (end - start) / NS)  # type: ignore[arg-type]
    return max(1, round(offered / max(factor, 1e-9)))


def code_setting(code: Path, name: str, workdir: Path) -> str:
    """The value of setting ``name`` the code of ``code`` runs with in ``workdir``, as the demo started there reads
    it (its default unless the environment sets it)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    probe = f"from sql.settings import Settings; print(Settings().{name})"
    return subprocess.run([sys.executable, "-c", probe], env=env, cwd=workdir, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def feed_drops(workdir: Path) -> str:
    """``"D / R"``: slow consumers the simulator dropped and reconnects the demo's feeds logged (one drop may show as
    both); each loses what was in flight, so fewer trades are stored than offered."""

    def count(name: str, pattern: str) -> int:
        log = workdir / name
        return len(re.findall(pattern, log.read_text(errors="replace"))) if log.exists() else 0

    return f"{count('simulator.log', 'dropping a slow consumer')} / {count('demo.log', 'reconnecting in')}"


def cpu_seconds(process: subprocess.Popen[bytes] | None) -> float:
    """User + system CPU seconds ``process`` has used so far (0 without one)."""
    if process is None or process.poll() is not None:
        return 0.0
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def poll(port: int, seconds: float, pause_s: float = 0.0) -> Polls:
    """Call ``get_real_time_data`` for ``seconds``, ``pause_s`` between an answer and the next call; keep each
    answer's arrival and rows."""
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
        if pause_s:
            time.sleep(pause_s)
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


def realized_written(path: Path, first_ns: int, last_ns: int) -> int:
    """``bar_realized_spread`` rows the demo's passes wrote in ``[first_ns, last_ns)`` (by ``computed_at_ns``, the
    pass's clock), from the file it wrote: how many passes of the window had realized-spread bars due."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        (n,) = con.execute("SELECT count(*) FROM bar_realized_spread WHERE computed_at_ns >= $a AND computed_at_ns < $b",
                           {"a": first_ns, "b": last_ns}).fetchone()  # type: ignore[misc]  # fmt: skip
    finally:
        con.close()
    return int(n)


def demo_settings(bar_seconds: int, horizon_s: int | None) -> dict[str, str]:
    """The settings the bench gives the demo: ``BAR_SECONDS`` and, unless ``horizon_s`` is ``None`` (the code's
    default), ``LIQUIDITY_HORIZON_SECONDS`` (module docstring, *Steady state*)."""
    settings = {"BAR_SECONDS": str(bar_seconds)}
    if horizon_s is not None:
        settings["LIQUIDITY_HORIZON_SECONDS"] = str(horizon_s)
    return settings


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


def measure(rate: int, seconds: float, settings: dict[str, str], *, inline: bool = False,
            code: Path = ROOT, label: str = "this tree", pause_s: float = 0.02,
            ready_timeout_s: float = 600.0, asked: int | None = None, threads: bool = False) -> dict[str, Any]:
    """Run the demo (the code of ``code``) at ``SIM_RATE`` ``rate`` and measure both freshnesses; with ``inline``
    the demo runs its own simulator, else a ``microstructure simulate`` process feeds it. ``asked``: the trades
    offered/s that ``rate`` was chosen for (:func:`sim_rate_for`), ``None`` when ``rate`` was given as is.
    ``threads``: also the CPU of each thread while polling (:func:`thread_summary`, in ``result["threads"]``)."""
    workdir = Path(tempfile.mkdtemp(prefix="freshness-"))
    simulator: subprocess.Popen[bytes] | None = None
    process: subprocess.Popen[bytes] | None = None
    sampler: Any = None
    try:
        if not inline:
            simulator, feed = start_simulator(workdir, rate, code)
            settings = {**settings, "SIM_FEED": feed}
        if threads:
            settings = {**settings, "MICROSTRUCTURE_GC_TIMES": str(workdir / "gc.jsonl")}
        process, port = start_demo(workdir, rate, settings, code)
        wait_ready(process, port, workdir, ready_timeout_s)
        wait_logged(process, workdir / "demo.log", "backfilled .* quotes", ready_timeout_s)  # the start's one big write
        time.sleep(2.0)  # past the first passes
        load_before = os.getloadavg()[0]
        cpu_before = cpu_seconds(process), cpu_seconds(simulator), time.monotonic()
        if threads:
            sampler = _thread_sampler(process, simulator, workdir, port)
        with sampler or contextlib.nullcontext():
            polls = poll(port, seconds, pause_s)
        cpu_after = cpu_seconds(process), cpu_seconds(simulator), time.monotonic()
        if sampler is not None:
            sampler.passes = _health(port).get("transform_passes", 0) - sampler.passes
        load_after = os.getloadavg()[0]
    finally:
        for child in (process, simulator):
            if child is not None:
                stop(child)
    first, last = int(polls.arrived_ns[0] + HEAD_S * NS), int(polls.arrived_ns[-1] - TAIL_S * NS)
    trades, bars = stored(workdir / "demo.duckdb", first, last)
    realized = realized_written(workdir / "demo.duckdb", int(polls.arrived_ns[0]), int(polls.arrived_ns[-1]))
    offered = offered_trades(rate, first, last)
    trade_lat = latencies(trades, polls.last_trade_ns, polls.arrived_ns)
    bar_lat = latencies(bars, polls.bar_end_ns, polls.arrived_ns)
    gaps = np.diff(polls.arrived_ns) / 1e6
    drops, batch_s = feed_drops(workdir), code_setting(code, "ingest_batch_seconds", workdir)
    summary = thread_summary(sampler, workdir, polls.arrived_ns[0] / NS, polls.arrived_ns[-1] / NS) if sampler else None
    shutil.rmtree(workdir, ignore_errors=True)
    wall = cpu_after[2] - cpu_before[2]
    result = {
        "label": label, "simulator": "in the demo" if inline else "own process",
        "rate": rate, "asked": asked, "trades": int(trade_lat.size), "bars": int(bar_lat.size),
        "trades_per_s": sum(t.size for t in trades.values()) / max((last - first) / NS, 1e-9),
        "offered_per_s": offered / max((last - first) / NS, 1e-9),
        "trade_p50": float(np.percentile(trade_lat, 50)) if trade_lat.size else float("nan"),
        "trade_p99": float(np.percentile(trade_lat, 99)) if trade_lat.size else float("nan"),
        "bar_p50": float(np.percentile(bar_lat, 50)) if bar_lat.size else float("nan"),
        "bar_p99": float(np.percentile(bar_lat, 99)) if bar_lat.size else float("nan"),
        "bar_max": float(bar_lat.max()) if bar_lat.size else float("nan"),
        "polls": int(polls.arrived_ns.size), "poll_p50_ms": float(np.median(gaps)),
        "poll_p99_ms": float(np.percentile(gaps, 99)), "load": f"{load_before:.1f} → {load_after:.1f}",
        "demo_cpu": (cpu_after[0] - cpu_before[0]) / wall, "sim_cpu": (cpu_after[1] - cpu_before[1]) / wall,
        "batch_s": batch_s, "drops": drops, "realized": realized,
    }  # fmt: skip
    if summary is not None:
        result["threads"] = summary
    # CPU per trade (each with its quote): what the rate costs whatever else runs on the box
    result["demo_us"] = 1e6 * result["demo_cpu"] / max(result["trades_per_s"], 1e-9)
    result["sim_us"] = 1e6 * result["sim_cpu"] / max(result["offered_per_s"], 1e-9)
    print(f"[{label}, {rate}/s, simulator {result['simulator']}] trades {result['trades']:,} (stored "
          f"{result['trades_per_s']:,.0f}/s of {result['offered_per_s']:,.0f}/s offered): p50 {result['trade_p50']:.3f} s, p99 {result['trade_p99']:.3f} s; bars "
          f"{result['bars']}: p50 {result['bar_p50']:.3f} s, p99 {result['bar_p99']:.3f} s; {result['polls']} polls "
          f"every {result['poll_p50_ms']:.1f} ms (p99 {result['poll_p99_ms']:.1f}); CPU demo {result['demo_cpu']:.2f} "
          f"cores ({result['demo_us']:.0f} µs/trade stored), simulator {result['sim_cpu']:.2f} cores "
          f"({result['sim_us']:.0f} µs/trade offered); INGEST_BATCH_SECONDS {result['batch_s']}; slow-consumer drops / "
          f"reconnects {result['drops']}; realized-spread rows written while polled {result['realized']}; load "
          f"{result['load']}", flush=True)  # fmt: skip
    return result


def _health(port: int) -> dict[str, Any]:
    """The demo's ``/health`` document (empty when it does not answer)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/health")
        return dict(json.loads(connection.getresponse().read()))
    except (OSError, ValueError):
        return {}


def _thread_sampler(process: subprocess.Popen[bytes], simulator: subprocess.Popen[bytes] | None, workdir: Path,
                    port: int) -> Any:
    """A :class:`bench.thread_cpu.ThreadSampler` of the demo (and the simulator) and the demo's WAL; its
    ``passes`` holds the demo's transform passes so far (:func:`measure` makes it those of the window)."""
    from bench.thread_cpu import ThreadSampler

    pids = {"demo": process.pid, **({"simulator": simulator.pid} if simulator is not None else {})}
    sampler = ThreadSampler(pids, wal=workdir / "demo.duckdb.wal")
    sampler.passes = _health(port).get("transform_passes", 0)  # type: ignore[attr-defined]
    return sampler


def _logged_passes(log: Path, first_s: float, last_s: float) -> list[float]:
    """Seconds of the transform passes that wrote bars, logged in ``[first_s, last_s)`` (the demo's log, whose
    times are whole local seconds)."""
    import datetime as dt

    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r"(\S+) INFO \S+ transform: \d+ bars for \d+ symbols in ([\d.]+)s", line)
        if m and first_s <= dt.datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").timestamp() < last_s:
            out.append(float(m[2]))
    return out


def thread_summary(sampler: Any, workdir: Path, first_s: float, last_s: float) -> dict[str, Any]:
    """What ``--threads`` reports of one run (``sampler``: :func:`_thread_sampler` after the polling): the
    demo's cores per part and its busiest threads, its cores per second (p50 / p90 / max), the simulator's
    cores, the collector's collections and seconds by generation (:mod:`server.gc_times`), DuckDB's checkpoints
    (the WAL seen shrinking) and the WAL's growth, the transform passes and the seconds of those that wrote bars."""
    from bench.thread_cpu import gc_seconds

    window = max(sampler.seconds(), 1e-9)
    demo = sampler.threads("demo")
    parts: dict[str, float] = {}
    for t in demo:
        parts[t["part"]] = parts.get(t["part"], 0.0) + t["cpu_s"] / window
    per_s = sampler.per_second("demo")
    gc_path = workdir / "gc.jsonl"
    records = [json.loads(line) for line in gc_path.read_text().splitlines()] if gc_path.exists() else None
    return {
        "window_s": window, "demo_cores": sum(parts.values()), "parts": dict(sorted(parts.items(), key=lambda kv: -kv[1])),
        "top": [(t["name"] or f"native {t['tid']} ({t['comm']})", t["cpu_s"] / window, t["peak"]) for t in demo[:8]],
        "per_second": [float(np.percentile(per_s, q)) for q in (50, 90, 100)] if per_s else [],
        "sim_cores": sum(t["cpu_s"] for t in sampler.threads("simulator")) / window if "simulator" in sampler.pids else None,
        "gc": None if records is None else gc_seconds(records, first_s, last_s),
        "checkpoints": len(sampler.checkpoints), "wal_mib_s": sampler.wal_bytes / 2**20 / window,
        "passes": sampler.passes, "bar_passes": _logged_passes(workdir / "demo.log", first_s, last_s),
    }  # fmt: skip


def thread_lines(result: dict[str, Any]) -> list[str]:
    """The ``--threads`` lines of one run (:func:`thread_summary`)."""
    t = result["threads"]
    gc = ("not recorded (a code without server/gc_times.py)" if t["gc"] is None else
          ", ".join(f"gen {g}: {n} in {s * 1e3:.0f} ms ({c * 1e3:.0f} ms CPU)" for g, (n, s, c) in sorted(t["gc"].items()))
          or "none")
    gc_cores = "" if not t["gc"] else f" ({sum(c for _, _, c in t['gc'].values()) / t['window_s']:.3f} cores)"
    passes = t["bar_passes"]
    return [
        f"- {result['label']}, SIM_RATE {result['rate']:,}: demo {t['demo_cores']:.2f} cores over {t['window_s']:.0f} s "
        f"(per second p50 / p90 / max {' / '.join(f'{c:.2f}' for c in t['per_second'])})"
        + (f", simulator {t['sim_cores']:.2f}" if t["sim_cores"] is not None else ""),
        "  parts: " + "; ".join(f"{part} {cores:.3f}" for part, cores in t["parts"].items()),
        "  busiest threads (cores, peak over 1 s): " + ", ".join(f"{n} {c:.3f} ({p:.2f})" for n, c, p in t["top"]),
        f"  GC: {gc}{gc_cores}; DuckDB checkpoints (WAL seen shrinking) {t['checkpoints']}, WAL "
        f"{t['wal_mib_s']:.1f} MiB/s; transform passes {t['passes']}, {len(passes)} with bars: seconds "
        + (f"p50 {np.median(passes):.2f} max {max(passes):.2f}" if passes else "none"),
    ]


def render(results: list[dict[str, Any]], seconds: float, settings: dict[str, str], lateness: float,
           interval_s: float, pause_s: float) -> str:
    """The BENCHMARKS.md section."""
    lines = [
        f"`.venv/bin/python -m bench.bench_freshness` (bench/bench_freshness.py), {report.now_utc()}. "
        f"`microstructure demo` (43 s of backfilled history) fed by the simulator, polled for {seconds:g} s per rate "
        "with `get_real_time_data` (every symbol) over MCP Streamable HTTP; latencies from the time the "
        "simulator stamped on each trade (or the bar's end) to the arrival of the first answer showing it, for "
        "every trade and bar of the window (module docstring). The simulator sends as many quotes as trades; trades "
        "offered/s: its model re-simulated over the window (SIM_RATE × the intraday shape of the hour); \"asked\": "
        "the rate `--rates` asked for, SIM_RATE set from the model to offer it (`sim_rate_for`), or SIM_RATE as is "
        "(`--sim-rates`). CPU: cores "
        f"each process used while polling (from /proc); the client pauses {pause_s * 1000:g} ms between answers. "
        + (f"Steady state: LIQUIDITY_HORIZON_SECONDS={settings['LIQUIDITY_HORIZON_SECONDS']} (`--horizon`), so "
           "realized-spread bars are due in every polled pass, as in a demo older than its horizon (the default "
           "300 s is longer than the window); \"realized rows\": `bar_realized_spread` rows written while polled."
           if "LIQUIDITY_HORIZON_SECONDS" in settings else
           "The code's default LIQUIDITY_HORIZON_SECONDS (`--default-horizon`): no realized-spread bar is due in "
           "the window, as in a demo younger than its horizon."),
        "",
        f"- Machine: {report.machine()}; load average at the end {report.load_average()} (other work shared the "
        "box; 1-minute load before → after each run's polling in the table)",
        "- Settings: INGEST_BATCH_SECONDS as each code has it (column \"batch s\"), "
        f"TRANSFORM_INTERVAL_SECONDS={interval_s:g}, "
        f"TRANSFORM_LATENESS_SECONDS={lateness:g}" + "".join(f", {k}={v}" for k, v in settings.items()),
        "",
        "| code | simulator | SIM_RATE | trades offered/s asked | trades offered/s | trades stored/s | trades | trade → visible p50 / p99 s | bars | bar end → "
        "signal visible p50 / p99 / max s | CPU cores demo / simulator | CPU µs a trade: demo (stored) / simulator (offered) | answer every p50 / p99 ms | batch s | slow-consumer drops / reconnects | realized rows | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "failed" in r:  # the row says why; the other rates stand
            lines.append(f"| {r['label']} | {r['simulator']} | {r['rate']:,} | {_asked(r)} | not measured: {r['failed']} |")
            continue
        lines.append(f"| {r['label']} | {r['simulator']} | {r['rate']:,} | {_asked(r)} | {r['offered_per_s']:,.0f} | {r['trades_per_s']:,.0f} | {r['trades']:,} | "
                     f"{r['trade_p50']:.3f} / {r['trade_p99']:.3f} | {r['bars']} | {r['bar_p50']:.3f} / "
                     f"{r['bar_p99']:.3f} / {r['bar_max']:.3f} | {r['demo_cpu']:.2f} / {r['sim_cpu']:.2f} | "
                     f"{r['demo_us']:.0f} / {r['sim_us']:.0f} | "
                     f"{r['poll_p50_ms']:.1f} / {r['poll_p99_ms']:.1f} | {r['batch_s']} | {r['drops']} | "
                     f"{r.get('realized', '—')} | {r['load']} |")  # fmt: skip
    bound = lateness + 1.5
    lines += ["", f"Targets (issue 14): trade p99 ≤ 1 s; signal p99 ≤ TRANSFORM_LATENESS_SECONDS + 1.5 = {bound:g} s:"]
    base = {_key(r): r for r in results if r["label"] != "this tree" and "failed" not in r}
    for r in results:
        if r["label"] != "this tree":
            continue
        name = (f"{r['asked']:,} trades/s offered asked (SIM_RATE {r['rate']:,})" if r.get("asked") is not None
                else f"SIM_RATE {r['rate']:,} as is")
        if "failed" in r:
            lines.append(f"- {name}: not measured ({r['failed']})")
            continue
        b = base.get(_key(r))
        ratio = (f"; stored trades/s {r['trades_per_s'] / b['trades_per_s']:.2f}x, CPU µs a stored trade "
                 f"{r['demo_us'] / b['demo_us']:.2f}x (demo) and a trade offered {r['sim_us'] / b['sim_us']:.2f}x "
                 f"(simulator) of {b['label']}" if b is not None else "")
        lines.append(f"- {name}: offered {r['offered_per_s']:,.0f}/s, stored {r['trades_per_s'] / r['offered_per_s']:.0%} "
                     f"of them{ratio}; trade {'met' if r['trade_p99'] <= 1 else 'NOT met'} (p99 {r['trade_p99']:.3f} s); "
                     f"signal {'met' if r['bar_p99'] <= bound else 'NOT met'} (p99 {r['bar_p99']:.3f} s over {r['bars']} "
                     "bar ends)")  # fmt: skip
    return "\n".join(lines) + "\n"


def _asked(r: dict[str, Any]) -> str:
    return f"{r['asked']:,}" if r.get("asked") is not None else "— (SIM_RATE as is)"


def _key(r: dict[str, Any]) -> tuple[int | None, int]:
    """Rows of two codes compare when run alike: the same offered rate asked (each code gets the same SIM_RATE
    for it) or the same SIM_RATE as is."""
    return r.get("asked"), r["rate"]


def _market_tables(market: Any, start_ns: int, seconds: float) -> tuple[Any, Any]:
    """The trades and quotes tables of the simulator's market advanced ``seconds`` from ``start_ns`` (50 ms
    steps, frames of 100 events, the feed's decode)."""
    import orjson

    from ingest.frame_decode import FastFrameBatch

    events: list[dict[str, Any]] = []
    for k in range(1, int(seconds * 20) + 1):
        events += market.advance(start_ns + k * NS // 20)
    batch = FastFrameBatch("sim")
    for k in range(0, len(events), 100):
        batch.add_frame(orjson.dumps(events[k:k + 100]), start_ns)
    out = batch.take()
    return out.trades, out.quotes


#: Run by :func:`feed_cpu` in a process of the code compared: only the feed API both trees share.
_FEED_CPU = """
import asyncio, json, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import orjson
from ingest import feed as feed_module
from ingest.synthetic_market import SyntheticMarket
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
start = 1_712_325_600 * 10**9
market = SyntheticMarket(9, rate)
market.advance(start)
events = []
for k in range(1, int(seconds * 20) + 1):
    events += market.advance(start + k * 10**9 // 20)
frames = [b"[" + b",".join(orjson.dumps(e) for e in events[j:j + 100]) + b"]" for j in range(0, len(events), 100)]
trades = sum(1 for e in events if e["ev"] in ("T", "XT"))

async def drain(feed, frames):
    task = asyncio.ensure_future(feed._drain())
    for k, frame in enumerate(frames):  # one frame a loop turn, as the socket reader puts them
        feed._queue.put_nowait((frame, start + k))
        await asyncio.sleep(0)
    feed._queue.put_nowait(feed_module._STOP)
    await task

with tempfile.TemporaryDirectory() as tmp:
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=Path(tmp) / "f.duckdb"))
    storage.apply_schema()
    cut = len(frames) // 5
    out = {}
    for name, part in (("warm", frames[:cut]), ("measured", frames[cut:])):
        feed = feed_module.PolygonFeed(api_key="bench", feed="127.0.0.1:1", market="stocks", subscriptions=["T.*"],
                                       sink=storage, batch_rows=5000, batch_seconds=0.5, source="sim")
        feed._writer = ThreadPoolExecutor(max_workers=1)
        cpu, wall = time.process_time(), time.perf_counter()
        asyncio.run(drain(feed, part))
        out[name] = (time.process_time() - cpu, time.perf_counter() - wall, feed.stats.trades)
        feed._writer.shutdown(wait=True)
    storage.close()
cpu, wall, stored = out["measured"]
print(json.dumps({"cpu_us": 1e6 * cpu / stored, "wall_us": 1e6 * wall / stored, "trades": stored}))
"""


def feed_cpu(code: Path, rate: int, seconds: float = 4.0) -> dict[str, float]:
    """CPU µs a trade (with its quote) of the feed of ``code`` from frames to DuckDB, in a process of its own:
    the simulator's frames of ``seconds`` at ``rate`` (100 events each) put on the feed's queue one a loop turn,
    as its socket reader puts them, drained, decoded, built and written (``PolygonFeed._drain``) into a fresh
    file, after a fifth of them as warm-up. No socket: the WebSocket receive is not in it."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", _FEED_CPU, str(rate), str(seconds)], env=env, cwd=code,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def feed_cpu_lines(codes: list[tuple[Path, str]], rate: int, runs: int) -> list[str]:
    """:func:`feed_cpu` of each code, alternated ``runs`` times; medians, and the ratio to the last code."""
    import statistics

    cpu: dict[str, list[float]] = {label: [] for _, label in codes}
    for _ in range(runs):
        for code, label in codes:
            cpu[label].append(feed_cpu(code, rate)["cpu_us"])
    med = {label: statistics.median(v) for label, v in cpu.items()}
    last = codes[-1][1]
    return [f"- Feed CPU a trade with its quote, frames → DuckDB (``feed_cpu``: 4 s of the market at {rate:,}/s, 100 "
            "events a frame, one frame a loop turn, no socket; its own process per run, alternated, medians of "
            f"{runs}): " + ", ".join(f"{label} {m:.2f} µs" for label, m in med.items())
            + "".join(f"; {label} / {last}: {med[label] / med[last]:.2f}x" for label in med if label != last)]


def parts(passes: int, rate: int) -> list[str]:
    """In one process, alternating (so that the box's load falls on both alike): a transform pass with the
    states kept in memory against one that reads and decodes every state (``udx.state_cache.forget`` first, as
    every pass did before), each over 10 s of new trades of the 9 symbols on 10 s bars after 10 minutes of
    history, at 1,000 trades/s and as many quotes; and a feed write of 0.5 s of the market at ``rate`` (its
    quotes too), trades first against the whole batch built first: when its trades are committed and when the
    write ends."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    from ingest.feed import PolygonFeed
    from ingest.synthetic_market import SyntheticMarket
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings
    from udx.state_cache import forget, load_states
    from udx.transform import run_transform

    start = 1_712_325_600 * NS  # 2024-04-05 14:00 UTC, mid-session
    lines = []
    with tempfile.TemporaryDirectory(prefix="freshness-parts-") as tmp:
        settings = Settings(_env_file=None, duckdb_path=Path(tmp) / "t.duckdb", bar_seconds=10)  # type: ignore[call-arg]
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        market = SyntheticMarket(9, 1000)
        market.advance(start)
        trades, quotes = _market_tables(market, start, 600)
        storage.append_trades(trades)
        storage.append_quotes(quotes)
        run_transform(storage, settings)
        kept: list[float] = []
        read: list[float] = []
        t = start + 600 * NS
        for k in range(2 * passes):
            trades, quotes = _market_tables(market, t, 10)
            t += 10 * NS
            storage.append_trades(trades)
            storage.append_quotes(quotes)
            if k % 2:
                forget(storage)
            began = time.perf_counter()
            run_transform(storage, settings)
            (read if k % 2 else kept).append(time.perf_counter() - began)
        states = storage.fetch_all("SELECT sum(length(state)) / count(*) FROM signal_state")[0][0]
        loads: dict[int, list[float]] = {0: [], 1: []}
        for k in range(4 * passes):  # the load alone: kept against read and decoded
            if k % 2:
                forget(storage)
            began = time.perf_counter()
            load_states(storage, settings.bar_seconds)
            loads[k % 2].append(time.perf_counter() - began)
        storage.close()
        k_ms, r_ms = statistics.median(kept) * 1e3, statistics.median(read) * 1e3
        lines.append(f"- Transform pass (9 symbols, 10 s bars, one new bar each, states of {states / 1e3:,.0f} kB "
                     f"JSON): states kept in memory {k_ms:.1f} ms, read and decoded every pass {r_ms:.1f} ms "
                     f"(medians of {passes} each, alternated): {r_ms / k_ms:.2f}x")
        k_ms, r_ms = statistics.median(loads[0]) * 1e3, statistics.median(loads[1]) * 1e3
        lines.append(f"- The states' load alone (``load_states``, 9 symbols): kept {k_ms:.1f} ms, read and decoded "
                     f"{r_ms:.1f} ms (medians of {2 * passes} each, alternated): {r_ms / k_ms:.0f}x")

        storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=Path(tmp) / "f.duckdb"))  # type: ignore[call-arg]
        storage.apply_schema()
        market = SyntheticMarket(9, rate)
        market.advance(start)
        stamps: dict[str, list[tuple[float, float]]] = {"trades first": [], "whole batch first": []}

        class Sink:
            def __init__(self) -> None:
                self.trades_at = 0.0

            def append_trades(self, batch: Any) -> int:
                added = storage.append_trades(batch)
                self.trades_at = time.perf_counter()
                return added

            def append_quotes(self, batch: Any) -> int:
                return storage.append_quotes(batch)

        sink = Sink()
        feed = PolygonFeed(sink=sink, api_key="bench", feed="127.0.0.1:1", market="stocks", subscriptions=["T.*"])
        builder = ThreadPoolExecutor(max_workers=1)
        import orjson

        from ingest.frame_decode import FastFrameBatch

        t, rows = start, 0
        for k in range(2 * passes):
            events: list[dict[str, Any]] = []
            for j in range(1, 11):
                events += market.advance(t + j * NS // 20)
            t += NS // 2
            batch = FastFrameBatch("sim")
            for j in range(0, len(events), 100):
                batch.add_frame(orjson.dumps(events[j:j + 100]), t)
            rows = batch.n_rows
            feed._quote_builder = builder if k % 2 == 0 else None  # None: the whole batch is built first
            began = time.perf_counter()
            feed._write(batch)
            ended = time.perf_counter()
            name = "trades first" if k % 2 == 0 else "whole batch first"
            stamps[name].append((sink.trades_at - began, ended - began))
        builder.shutdown()
        storage.close()
        med = {name: (statistics.median(v[0] for v in vals) * 1e3, statistics.median(v[1] for v in vals) * 1e3)
               for name, vals in stamps.items()}
        a, b = med["trades first"], med["whole batch first"]
        lines.append(f"- Feed write of 0.5 s at {rate:,}/s (~{rows:,} trades and quotes, 9 symbols): trades committed "
                     f"after {a[0]:.0f} ms trades first vs {b[0]:.0f} ms whole batch first ({b[0] / a[0]:.2f}x); "
                     f"write done after {a[1]:.0f} vs {b[1]:.0f} ms ({b[1] / a[1]:.2f}x); medians of {passes} each, "
                     "alternated")
    return lines


def _market_at(rate: int, start_ns: int) -> Any:
    """The simulator's market, positioned at ``start_ns``, with ``SIM_RATE`` set so that it offers about ``rate``
    trades/s over the following minute (its intraday shape scales the rate: :func:`sim_rate_for`)."""
    from ingest.synthetic_market import SyntheticMarket

    probe = 1000.0
    trades, _ = SyntheticMarket(9, probe).history(start_ns, start_ns + 60 * NS)
    market = SyntheticMarket(9, rate * probe * 60 / max(trades.num_rows, 1))
    market.advance(start_ns)
    return market


def timed_write(append: Callable[[Any], Any], table: Any, wal: Path) -> tuple[float, bool, int]:
    """Run ``append(table)``; return its milliseconds, whether DuckDB checkpointed meanwhile and the bytes the
    WAL file ``wal`` grew by (after a checkpoint: its size, what was written since).

    A checkpoint writes the WAL into the database file and empties the WAL (or removes it), so the WAL is
    smaller after such a write than before it; any other write only appends to it."""
    before = wal.stat().st_size if wal.exists() else 0
    began = time.perf_counter()
    append(table)
    took = (time.perf_counter() - began) * 1e3
    after = wal.stat().st_size if wal.exists() else 0
    return took, after < before, after - before if after >= before else after


def _timed_writes(storage: Any, path: Path, batches: list[tuple[Any, Any]], seconds: float, step_s: float,
                  threshold: str) -> str:
    """:func:`writes`' first part: ``batches`` written into ``storage`` (``None``: a fresh file at ``path`` opened
    with DuckDB's ``checkpoint_threshold`` set to ``threshold``, closed after); one line of what they took."""
    import statistics
    from unittest import mock

    from sql import duckdb_backend
    from sql.settings import Settings

    own = storage is None
    if own:
        default = duckdb_backend.instance_config
        with mock.patch.object(duckdb_backend, "instance_config",
                               lambda settings: {**default(settings), "checkpoint_threshold": threshold}):  # fmt: skip
            storage = duckdb_backend.DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
        storage.apply_schema()
    wal = Path(f"{path}.wal")
    plain: list[float] = []
    checkpointed: list[float] = []
    trade_ms: list[float] = []
    wal_bytes = 0
    cpu = time.process_time()
    for trades, quotes in batches:
        for table, append in ((trades, storage.append_trades), (quotes, storage.append_quotes)):
            took, during, grew = timed_write(append, table, wal)
            wal_bytes += grew
            (checkpointed if during else plain).append(took)
            if table is trades:
                trade_ms.append(took)
    cpu = time.process_time() - cpu
    if own:
        storage.close()
    n_trades = sum(t.num_rows for t, _ in batches)
    total = sum(plain) + sum(checkpointed)
    return (f"- Feed writes at {n_trades / seconds:,.0f} trades/s (and as many quotes), checkpoint_threshold "
            f"{threshold}, a batch every {step_s:g} s for {seconds:g} s of the market into a fresh file: trades' "
            f"commit p50 / p99 / max {np.percentile(trade_ms, 50):.0f} / {np.percentile(trade_ms, 99):.0f} / "
            f"{max(trade_ms):.0f} ms; CPU {1e6 * cpu / n_trades:.1f} µs a trade with its quote; WAL grows "
            f"~{wal_bytes / 2**20 / seconds:.1f} MiB per second of the market; {len(checkpointed)} writes "
            f"checkpointed (one per {seconds / max(len(checkpointed), 1):.1f} s of the market): median "
            f"{statistics.median(checkpointed) if checkpointed else float('nan'):.0f} ms, max "
            f"{max(checkpointed, default=float('nan')):.0f} ms, against {statistics.median(plain):.0f} ms for a "
            f"write without; {sum(checkpointed) / total:.0%} of the writing time was in those writes")


class _CommitTimes:
    """A write listener (:class:`sql.backend.WriteListener`) keeping when the last signal rows and the last
    realized rows of a pass were committed (``time.perf_counter``) and how many realized rows were."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.signals = 0.0
        self.realized = 0.0
        self.realized_rows = 0

    def attached(self) -> None:
        """Nothing to read."""

    def trades_written(self, batch: object) -> None:
        """Not timed."""

    def signals_written(self, signals: Any, states: object) -> None:
        if signals.num_rows:
            self.signals = time.perf_counter()

    def signals_reset(self, symbols: object, bar_seconds: int) -> None:
        """Not timed."""

    def realized_written(self, rows: Any) -> None:
        self.realized_rows += rows.num_rows
        if rows.num_rows:
            self.realized = time.perf_counter()

    def write_failed(self, error: BaseException) -> None:
        """Not timed."""


def writes(seconds: float, rate: int, step_s: float = 0.1, passes: int = 3,
           thresholds: Sequence[str] = ()) -> list[str]:
    """In one process, what a trade and a bar wait for at ``rate`` trades/s offered (and as many quotes):

    1. ``seconds`` of the market written as the feed writes it at that rate into a fresh file: a batch every
       ``step_s`` (the group commits of a busy feed), its trades then its quotes (``append_trades``,
       ``append_quotes``), each write timed; a write during which the WAL file shrank is one in which DuckDB
       checkpointed (automatically, once the WAL passes its ``checkpoint_threshold``), counted apart; then
       the same batches again into a fresh file for each of ``thresholds``, opened with that
       ``checkpoint_threshold`` instead of DuckDB's default (a what-if: the project does not set it);
    2. after a first pass over those, ``passes`` one-bar transform passes, each run as the demo's loop runs it:
       once 10 more seconds of the market put the watermark just past the next bar end (one new 10 s bar for
       each of the 9 symbols); wall and CPU time (the pass a bar waits for once the watermark passes its
       end)."""
    import statistics

    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings
    from udx.transform import run_transform

    start = 1_712_325_600 * NS  # 2024-04-05 14:00 UTC, mid-session
    lines = []
    with tempfile.TemporaryDirectory(prefix="freshness-writes-") as tmp:
        path = Path(tmp) / "w.duckdb"
        settings = Settings(_env_file=None, duckdb_path=path, bar_seconds=10,  # type: ignore[call-arg]
                            session_stocks="00:00-24:00 UTC")  # fmt: skip
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        market = _market_at(rate, start)
        batches = [_market_tables(market, start + round(k * step_s * NS), step_s)
                   for k in range(round(seconds / step_s))]  # fmt: skip
        lines.append(_timed_writes(storage, path, batches, seconds, step_s, "DuckDB's default"))
        for threshold in thresholds:  # the same batches into a fresh file of its own each
            other = Path(tmp) / f"w-{threshold}.duckdb"
            lines.append(_timed_writes(None, other, batches, seconds, step_s, threshold))
        t = start + round(len(batches) * step_s * NS)
        step, bar, late = round(step_s * NS), 10 * NS, round(settings.transform_lateness_seconds * NS)

        def add_until(end_ns: int) -> None:
            nonlocal t
            while t < end_ns:
                trades, quotes = _market_tables(market, t, step_s)
                t += step
                storage.append_trades(trades)
                storage.append_quotes(quotes)

        add_until(((t - late) // bar + 1) * bar + late + step)  # the watermark just past a bar end
        run_transform(storage, settings)
        walls, cpus, read, bars, visible, realized, realized_at = [], [], [], [], [], [], []
        wal, checkpointed = Path(f"{path}.wal"), 0
        seen = _CommitTimes()
        storage.add_write_listener(seen)
        for _ in range(passes):  # each as the demo runs it: woken once the watermark passes the next bar end
            add_until(t + bar)
            seen.clear()
            wal_before = wal.stat().st_size if wal.exists() else 0
            began, cpu = time.perf_counter(), time.process_time()
            summary = run_transform(storage, settings)
            checkpointed += (wal.stat().st_size if wal.exists() else 0) < wal_before
            walls.append(time.perf_counter() - began)
            cpus.append(time.process_time() - cpu)
            read.append(summary.trades)
            bars.append(summary.bars)
            visible.append(seen.signals - began if seen.signals else float("nan"))
            realized.append(seen.realized_rows)
            realized_at.append(seen.realized - began if seen.realized else float("nan"))
        storage.remove_write_listener(seen)
        storage.close()
        lines.append(f"- One-bar transform pass at that rate (9 symbols, 10 s bars, run once the watermark is "
                     f"{step_s:g} s past the bar's end): wall "
                     f"{statistics.median(walls) * 1e3:.0f} ms, CPU {statistics.median(cpus) * 1e3:.0f} ms (all "
                     f"threads), {statistics.median(read):,.0f} trades read, {statistics.median(bars):.0f} bars written, "
                     f"signals committed (visible) {statistics.median(visible) * 1e3:.0f} ms after the pass began, "
                     f"{statistics.median(realized):.0f} bar_realized_spread rows committed "
                     f"{statistics.median(realized_at) * 1e3:.0f} ms after it began (medians of {passes}; "
                     f"{checkpointed} of them checkpointed; horizon "
                     f"{settings.liquidity_horizon_seconds} s)")
    return lines


def _stored_bars(symbols: Sequence[str], ends: np.ndarray, bar_seconds: int, horizon_s: int | None) -> tuple[Any, Any]:
    """``trading_signals`` rows of ``symbols`` at ``ends`` (the statistics NULL) and, with ``horizon_s``, their
    ``bar_realized_spread`` rows."""
    import pyarrow as pa

    from sql.contract import BAR_REALIZED_SPREAD_SCHEMA, SIGNALS_SCHEMA

    n = len(symbols) * ends.size
    given = {"symbol": pa.array(np.repeat(np.array(symbols, dtype=object), ends.size), pa.string()),
             "bar_end_ns": pa.array(np.tile(ends, len(symbols)), pa.int64()),
             "bar_seconds": pa.array(np.full(n, bar_seconds, np.int32)), "horizon_seconds":
             pa.array(np.full(n, horizon_s or 0, np.int32)), "computed_at_ns": pa.array(np.zeros(n, np.int64)),
             "n_trades": pa.array(np.ones(n, np.int64)), "volume": pa.array(np.ones(n)),
             "close": pa.array(np.ones(n)), "jump_detected": pa.array(np.zeros(n, np.bool_)),
             "trading_signal": pa.array(["HOLD"] * n), "signal_reason": pa.array(["bench"] * n),
             "tick_sign": pa.array(np.ones(n, np.int32)), "tick_price": pa.array(np.ones(n)),
             "matched_volume": pa.array(np.ones(n))}

    def table(schema: Any) -> Any:
        return pa.Table.from_arrays([given[f.name].cast(f.type) if f.name in given else pa.nulls(n, f.type)
                                     for f in schema], schema=schema)

    return table(SIGNALS_SCHEMA), table(BAR_REALIZED_SPREAD_SCHEMA) if horizon_s is not None else None


def due_queries(days: float, passes: int = 5) -> list[str]:
    """``realized_spread_due`` of one-bar passes over a file holding ``days`` of the demo's 9 symbols' 10 s bars,
    each with its realized row (but the last horizon's): read over every row (its floor dropped before each
    call) against bounded by the floor the call before kept (``DuckDBStorage.realized_spread_due``), alternated,
    each pass adding the next bar of every symbol and the rows of the bars then due; wall ms medians."""
    import statistics

    import pyarrow.compute as pc

    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings

    symbols = [f"S{k}" for k in range(9)]
    bar, horizon = 10, 20
    start = 1_712_325_600 * NS
    ends = start + bar * NS * np.arange(1, round(days * 86_400 / bar) + 1, dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="freshness-due-") as tmp:
        settings = Settings(_env_file=None, duckdb_path=Path(tmp) / "d.duckdb")  # type: ignore[call-arg]
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        for lo in range(0, ends.size, 100_000):
            part = ends[lo:lo + 100_000]
            signals, realized = _stored_bars(symbols, part, bar, horizon)
            storage.commit_signals(signals, [], realized=realized.filter(
                pc.less_equal(realized.column("bar_end_ns"), int(ends[-1]) - horizon * NS)))
        last = int(ends[-1])
        timed: dict[str, list[float]] = {"every row": [], "bounded": []}
        for k in range(2 * passes):
            kind = "every row" if k % 2 == 0 else "bounded"
            last += bar * NS
            until = last - horizon * NS
            signals, _ = _stored_bars(symbols, np.array([last], np.int64), bar, None)
            storage.commit_signals(signals, [])
            if kind == "every row":
                storage._drop_realized_floors()
            began = time.perf_counter()
            due, _ = storage.realized_spread_due(bar, horizon, until)
            timed[kind].append(time.perf_counter() - began)
            _, rows = _stored_bars(symbols, np.unique(due.column("bar_end_ns").to_numpy()), bar, horizon)
            storage.commit_signals(signals.slice(0, 0), [], realized=rows)
        n_rows = storage.fetch_one("SELECT count(*) FROM bar_realized_spread")[0]
        storage.close()
    full, bounded = (statistics.median(timed[k]) * 1e3 for k in ("every row", "bounded"))
    return [f"- realized_spread_due of a one-bar pass, {days:g} days of 9 symbols' 10 s bars ({n_rows:,} "
            f"bar_realized_spread rows, as many bars): every row {full:.1f} ms, bounded by the floor "
            f"{bounded:.1f} ms ({bounded / full:.2f}x; wall, medians of {passes} alternated)"]


def _pcts(values: list[float]) -> str:
    if not values:
        return "none"
    a = np.asarray(values)
    return f"p50 {np.percentile(a, 50):.3f} p99 {np.percentile(a, 99):.3f} max {a.max():.3f} s"


def timeline_summary(path: Path) -> list[str]:
    """Summarize a debug timeline (:mod:`sql.write_timeline`) of one demo: each step of the feed's batches (the
    first frame's receipt to due, due to taken by the writer thread, the wait for the lock of the trades' append
    and the append itself up to the commit, when the latest-trade memory was told), what the slowest batches (by
    first frame to trades committed, the top 1 %) overlapped: holds of the write lock by other threads (the
    transform) and their own wait."""
    batches, holds = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["kind"] == "batch" and "trades_committed" in event and event.get("trades"):
            batches.append(event)
        elif event["kind"] == "lock":
            holds.append(event)
    if not batches:
        return ["  no batch recorded"]
    batches = batches[len(batches) // 10:]  # past the backfill's start
    start = batches[0]["due"]
    feed = [h for h in holds if h["thread"].startswith("polygon-feed-writer") and h.get("by") == "append_trades"
            and h["asked"] >= start]
    others = [h for h in holds if not h["thread"].startswith("polygon-feed-writer") and h["released"] >= start]

    def wait_of(b: dict[str, Any]) -> float:  # the feed's first hold after it asked to write the trades
        mine = [h for h in feed if b["trades_asked"] <= h["asked"] <= b["trades_committed"]]
        return mine[0]["got"] - mine[0]["asked"] if mine else 0.0

    age = [b["trades_committed"] - b["first"] for b in batches]
    waits = [wait_of(b) for b in batches]
    cut = float(np.percentile(age, 99))
    slow = [b for b, a in zip(batches, age, strict=True) if a >= cut]
    overlapped = [sum(max(0.0, min(h["released"], b["trades_committed"]) - max(h["got"], b["first"]))
                      for h in others) for b in slow]  # fmt: skip
    other_hold = [h["released"] - h["got"] for h in others]
    waited_on: dict[str, int] = {}  # a feed's wait over 20 ms: whose hold ended as it got the lock
    for h in feed:
        if h["got"] - h["asked"] > 0.02:
            ends = [o for o in holds if o is not h and o["lock"] == h["lock"] and abs(o["released"] - h["got"]) < 0.01]
            who = f"{ends[0]['thread']} {ends[0].get('by', '')} ({ends[0]['lock']})" if ends else "unknown"
            waited_on[who] = waited_on.get(who, 0) + 1
    return [
        f"  {len(batches)} batches (trades/batch p50 {np.median([b['trades'] for b in batches]):.0f}); "
        f"first frame → trades committed (and told): {_pcts(age)}",
        f"  first frame → due {_pcts([b['due'] - b['first'] for b in batches])}; due → writer thread "
        f"{_pcts([b['taken'] - b['due'] for b in batches])}; taken → trades asked "
        f"{_pcts([b['trades_asked'] - b['taken'] for b in batches])}",
        f"  trades append: lock wait {_pcts(waits)}; asked → committed "
        f"{_pcts([b['trades_committed'] - b['trades_asked'] for b in batches])}; quotes after "
        f"{_pcts([b['done'] - b['trades_committed'] for b in batches])}",
        f"  other threads' write-lock holds (the transform): {len(others)}, {_pcts(other_hold)}",
        f"  slowest 1 % ({len(slow)} batches, ≥ {cut:.3f} s): lock wait {_pcts([wait_of(b) for b in slow])}; "
        f"seconds of other threads' holds inside their life {_pcts(overlapped)}",
        "  feed lock waits > 20 ms, by the holder they waited for: "
        + (", ".join(f"{who} {n}" for who, n in sorted(waited_on.items(), key=lambda kv: -kv[1])) or "none"),
    ]


def timeline_lines(rate: int, seconds: float, settings: dict[str, str], **options: Any) -> list[str]:
    """Run the demo of this tree at ``rate`` twice with the debug timeline (:mod:`sql.write_timeline`): with one
    write lock for every write (``MICROSTRUCTURE_ONE_WRITE_LOCK=1``, as before the market lock) and with the
    market lock of trade appends; summarize each (:func:`timeline_summary`)."""
    from sql.write_timeline import ENV, ONE_LOCK_ENV

    lines = []
    for one in ("1", "0"):
        path = Path(tempfile.mkdtemp(prefix="timeline-")) / "timeline.jsonl"
        saved = {name: os.environ.get(name) for name in (ENV, ONE_LOCK_ENV)}
        os.environ[ENV], os.environ[ONE_LOCK_ENV] = str(path), one
        label = "one write lock" if one == "1" else "market lock apart"
        try:
            result = measure(rate, seconds, settings, label=f"this tree, {label}", **options)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        lines.append(f"- {label}: trade p50 {result['trade_p50']:.3f} s, p99 {result['trade_p99']:.3f} s "
                     f"(load {result['load']})")
        lines += timeline_summary(path) if path.exists() else ["  no timeline written"]
        shutil.rmtree(path.parent, ignore_errors=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    from sql.settings import Settings

    parser = argparse.ArgumentParser(prog="bench.bench_freshness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[5000, 50000],
                        help="trades/s offered: SIM_RATE is set so that the model offers about that many over the "
                        "window at this hour (sim_rate_for)")
    parser.add_argument("--sim-rates", type=int, nargs="*", default=[],
                        help="SIM_RATE values used as they are (the model offers SIM_RATE x the hour's shape)")
    parser.add_argument("--seconds", type=float, default=120.0, help="polling time per rate")
    parser.add_argument("--bar-seconds", type=int, default=10, help="BAR_SECONDS of the demo (bar ends per window)")
    parser.add_argument("--horizon", type=int, default=HORIZON_S, metavar="SECONDS",
                        help="LIQUIDITY_HORIZON_SECONDS of the demo: shorter than its age, so that realized-spread bars "
                        "are due in every polled pass (the steady state of a demo older than its horizon)")
    parser.add_argument("--default-horizon", action="store_true",
                        help="leave LIQUIDITY_HORIZON_SECONDS to the code's default (300 s: no realized bar due in the window)")
    parser.add_argument("--inline", action="store_true", help="the demo runs the simulator in its own process")
    parser.add_argument("--baseline", type=Path, metavar="PATH",
                        help="also run the code of this checkout at the same rates (it must know SIM_FEED unless --inline)")
    parser.add_argument("--pause-ms", type=float, default=20.0,
                        help="the client's pause between an answer and its next call (the resolution; 0: back to back)")
    parser.add_argument("--ready-timeout", type=float, default=600.0,
                        help="seconds a demo may take to be ready (its first transform pass over the backfill: minutes "
                        "at 50k/s on a loaded box); one that is not is reported and the run goes on")
    parser.add_argument("--parts", type=int, default=0, metavar="N",
                        help="also time, in this process, N transform passes with the states kept against N reading "
                        "them, and N feed writes trades first against N built whole first (at the last rate)")
    parser.add_argument("--feed-cpu", type=int, default=0, metavar="N",
                        help="also measure the feed's CPU a trade, frames to DuckDB without a socket (feed_cpu), of this "
                        "tree and the baseline, N runs each alternated (at the last rate)")
    parser.add_argument("--writes", type=float, default=0, metavar="SECONDS",
                        help="also time, in this process, SECONDS of the feed's writes at the last rate (the DuckDB "
                        "checkpoints among them apart) and one-bar transform passes at that rate (writes)")
    parser.add_argument("--checkpoint-thresholds", nargs="*", default=[], metavar="SIZE",
                        help="with --writes: the writes again with DuckDB's checkpoint_threshold set to each SIZE, "
                        "e.g. 64MiB (a what-if; the project leaves DuckDB's default)")
    parser.add_argument("--due-days", type=float, default=0, metavar="DAYS",
                        help="also time, in this process, realized_spread_due over DAYS of 9 symbols' bars and realized "
                        "rows, every row against bounded by its floor (due_queries)")
    parser.add_argument("--only-parts", action="store_true",
                        help="only the --parts, --feed-cpu, --due-days, --writes and --timeline timings (no demo)")
    parser.add_argument("--timeline", action="store_true",
                        help="also run this tree's demo at the last rate twice with the debug write timeline, with one "
                        "write lock and with the market lock apart, and summarize where a trade's time goes (timeline_lines)")
    parser.add_argument("--threads", action="store_true",
                        help="also report each run's CPU per thread and per part of the demo, the simulator's, the "
                        "collector's and DuckDB's checkpoints while polled (thread_summary; names from py-spy if on PATH)")
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    defaults = Settings()  # type: ignore[call-arg]  # the demo runs with the same environment
    settings = demo_settings(args.bar_seconds, None if args.default_horizon else args.horizon)
    results = []
    runs = [(ROOT, "this tree")]
    if args.baseline is not None:
        runs.append((args.baseline.resolve(), f"baseline {args.baseline}"))
    jobs: list[tuple[int | None, int | None]] = [(asked, None) for asked in args.rates]
    jobs += [(None, rate) for rate in args.sim_rates]
    for asked, rate in [] if args.only_parts else jobs:
        if rate is None:  # the same SIM_RATE for every code: read off the model just before their runs
            rate = sim_rate_for(asked, args.seconds)  # type: ignore[arg-type]
            print(f"[{asked:,} trades/s offered asked: SIM_RATE {rate:,}]", flush=True)
        for code, label in runs:
            try:
                results.append(measure(rate, args.seconds, settings, inline=args.inline, code=code, label=label,
                                       pause_s=args.pause_ms / 1000, ready_timeout_s=args.ready_timeout,
                                       asked=asked, threads=args.threads))  # fmt: skip
                if "threads" in results[-1]:
                    print("\n".join(thread_lines(results[-1])), flush=True)
            except RuntimeError as exc:  # a demo that did not start or get ready: said in its row
                print(f"[{label}, {rate}/s] not measured: {exc}", flush=True)
                results.append({"label": label, "rate": rate, "asked": asked, "failed": str(exc),
                                "simulator": "in the demo" if args.inline else "own process"})  # fmt: skip
    section = render(results, args.seconds, settings, defaults.transform_lateness_seconds,
                     defaults.transform_interval_seconds, args.pause_ms / 1000) if results else ""  # fmt: skip
    if args.threads and any("threads" in r for r in results):
        section += ("\nPer thread (`--threads`: each thread's CPU from /proc every second while polled, named by "
                    "`py-spy dump`; parts by thread name, `bench/thread_cpu.py`; GC from `MICROSTRUCTURE_GC_TIMES`):\n"
                    + "\n".join(line for r in results if "threads" in r for line in thread_lines(r)) + "\n")
    if args.feed_cpu:
        codes = [(ROOT, "this tree")] + ([(args.baseline.resolve(), f"baseline {args.baseline}")]
                                         if args.baseline is not None else [])
        lines = feed_cpu_lines(codes[::-1], (args.rates or args.sim_rates)[-1], args.feed_cpu)
        print("\n".join(lines), flush=True)
        section += "\nFeed alone (`--feed-cpu`):\n" + "\n".join(lines) + "\n"
    if args.parts:
        lines = parts(args.parts, (args.rates or args.sim_rates)[-1])
        print("\n".join(lines), flush=True)
        section += "\nIn one process (`--parts`), this tree only:\n" + "\n".join(lines) + "\n"
    if args.due_days:
        lines = due_queries(args.due_days)
        print("\n".join(lines), flush=True)
        section += "\nIn one process (`--due-days`), this tree only:\n" + "\n".join(lines) + "\n"
    if args.timeline:
        rate = args.sim_rates[-1] if args.sim_rates else sim_rate_for(args.rates[-1], args.seconds)
        lines = timeline_lines(rate, args.seconds, settings, inline=args.inline, pause_s=args.pause_ms / 1000,
                               ready_timeout_s=args.ready_timeout)
        print("\n".join(lines), flush=True)
        section += "\nDebug timeline (`--timeline`), this tree only:\n" + "\n".join(lines) + "\n"
    if args.writes:
        lines = writes(args.writes, (args.rates or args.sim_rates)[-1], thresholds=args.checkpoint_thresholds)
        print("\n".join(lines), flush=True)
        section += "\nIn one process (`--writes`), this tree only:\n" + "\n".join(lines) + "\n"
    print()
    report.publish(TITLE, section, write=not args.no_append)
    return 0


if __name__ == "__main__":
    sys.exit(main())
