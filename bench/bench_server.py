"""Per-tool HTTP latency of our MCP server against mcp-server-motherduck on the same DuckDB file.

Run ``.venv/bin/python -m bench.bench_server [--trades 50000000] [--requests 300]``:

1. builds (once; reused when present) ``bench/data/bench_<trades>.duckdb``: synthetic trades of ~200
   symbols over the last ``--days`` days (24-hour sessions for stocks) ending at build time, loaded in time
   order, and their signals from :func:`udx.transform.run_transform`; no quotes;
2. starts ``.venv/bin/microstructure serve`` on the file (read-only) twice and times every tool over MCP
   Streamable HTTP (``tools/call`` POSTed to ``/mcp``) and the REST mirror of ``get_trading_signals``:
   first with the response cache off (``MCP_RESPONSE_CACHE_MS=0``: every call runs its query, "cold"),
   then with the default cache, the same call repeated ("warm": after the first call, answers come from the
   cache while the data version is unchanged);
3. installs ``mcp-server-motherduck`` into ``bench/.venv-peer`` (its own venv: it pins other mcp/fastmcp
   versions), serves the same file read-only over its HTTP transport, and times ``execute_query`` with the
   SQL equivalent of each of our tools, through a real MCP session (initialize, session id, notification);
4. prints a table and replaces its section of ``BENCHMARKS.md`` (``--no-append`` to leave it).

Time windows are explicit (``start``/``end``) and relative to the newest trade in the file, so that the
calls find the same rows however old the file is. Requests are sequential on one keep-alive ``httpx``
client, after a warm-up. Like every bench here, this prints and never asserts: the targets are reported as
met or not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
PEER_VENV = ROOT / "bench" / ".venv-peer"
PEER_PACKAGE = "mcp-server-motherduck==1.1.0"
DAY_SESSION = "00:00-24:00 UTC"
NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
SYMBOL = "AAPL"
BAR_SECONDS = 60
#: Issue 14's targets without the response cache (ours-cold): call label -> (p50 ms, p99 ms or None).
TARGETS: dict[str, tuple[float, float | None]] = {
    "get_trading_signals(symbol, limit=100)": (5.0, 15.0),
    "get_real_time_data(symbol)": (3.0, None),
    "get_jump_events(symbol, limit=100)": (5.0, None),
}
ROTATING_LABEL = "get_trading_signals(symbol, limit) rotating: never the same call twice"
STDLIB_LABEL = "get_trading_signals(symbol, limit=100), stdlib http.client instead of httpx"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PROTOCOL_VERSION = "2025-06-18"


# --- the database ----------------------------------------------------------------------------------------


def bench_symbols(n: int) -> tuple[Any, ...]:
    """The 9 demo symbols first, then made-up stocks; trade shares fall off like Zipf (s = 0.8)."""
    import numpy as np

    from ingest.synthetic_market import DEFAULT_SYMBOLS, SymbolSpec

    rng = np.random.default_rng(20260101)
    specs = []
    for rank, base in enumerate(DEFAULT_SYMBOLS):
        specs.append(
            SymbolSpec(
                base.symbol,
                base.market,
                base.price,
                base.daily_vol,
                1.0 / (rank + 1) ** 0.8,
                base.max_spread_ticks,
                base.tape,
            )
        )
    for rank in range(len(specs), n):
        specs.append(
            SymbolSpec(
                f"X{rank:03d}",
                "stocks",
                float(round(np.exp(rng.uniform(np.log(5), np.log(500))), 2)),
                float(rng.uniform(0.01, 0.04)),
                1.0 / (rank + 1) ** 0.8,
                int(rng.integers(1, 5)),
                int(rng.integers(1, 4)),
            )
        )
    return tuple(specs)


def _generate_group(job: tuple[int, tuple[Any, ...], float, int, int, str]) -> tuple[int, int, float]:
    """Simulate one group of symbols over the whole range and write its trades to a Parquet file."""
    import pyarrow.parquet as pq

    from ingest.synthetic_market import SyntheticMarket

    group, specs, rate, start_ns, end_ns, out = job
    started = time.perf_counter()
    trades, quotes = SyntheticMarket(seed=1000 + group, rate=rate, symbols=specs).history(start_ns, end_ns)
    del quotes  # not needed by any tool; saves disk and load time
    pq.write_table(trades, out + ".tmp", row_group_size=131_072, compression="zstd")
    os.replace(out + ".tmp", out)
    return group, trades.num_rows, time.perf_counter() - started


def build_database(path: Path, trades: int, days: float, n_symbols: int, groups: int = 10) -> dict[str, Any]:
    """Build ``path`` (trades in time order + signals); return timings. Reuses staged Parquet files."""
    import duckdb

    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings
    from udx.transform import run_transform

    t_all = time.perf_counter()
    stage = path.with_suffix(".stage")
    stage.mkdir(parents=True, exist_ok=True)
    end_ns = time.time_ns() // (60 * NS_PER_S) * (60 * NS_PER_S)
    start_ns = end_ns - int(days * NS_PER_DAY)
    meta_path = stage / "range.json"
    if meta_path.exists():  # a previous, interrupted build: keep its range so its files stay valid
        meta = json.loads(meta_path.read_text())
        start_ns, end_ns = meta["start_ns"], meta["end_ns"]
    else:
        meta_path.write_text(json.dumps({"start_ns": start_ns, "end_ns": end_ns}))
    specs = bench_symbols(n_symbols)
    total_rate = 1.01 * trades / ((end_ns - start_ns) / NS_PER_S)  # arrivals are random: aim 1% over
    total_weight = sum(s.weight for s in specs)
    jobs = []
    for g in range(groups):
        members = specs[g::groups]  # round robin: every group gets heavy and light symbols
        rate = total_rate * sum(s.weight for s in members) / total_weight
        out = stage / f"trades_{g:02d}.parquet"
        if not out.exists():
            jobs.append((g, members, rate, start_ns, end_ns, str(out)))
    print(
        f"[build] {len(specs)} symbols, {days:g} days ending {_iso(end_ns)}, "
        f"{total_rate:,.1f} trades/s in all; generating {len(jobs)} of {groups} groups",
        flush=True,
    )
    t0 = time.perf_counter()
    if jobs:
        with mp.get_context("fork").Pool(min(2, os.cpu_count() or 1), maxtasksperchild=1) as pool:
            for g, n, secs in pool.imap_unordered(_generate_group, jobs):
                print(f"[build]   group {g}: {n:,} trades in {secs:.1f} s", flush=True)
    t_generate = time.perf_counter() - t0

    building = path.with_suffix(".building")
    for stale in (building, Path(str(building) + ".wal")):
        stale.unlink(missing_ok=True)
    settings = Settings(  # type: ignore[call-arg]
        duckdb_path=building, session_stocks=DAY_SESSION, bar_seconds=BAR_SECONDS
    )
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    storage.close()
    # Bulk load in time order, a day at a time, as a live feed would have written it. This is the only step
    # outside the storage API: append_trades' dedupe (an anti-join per batch) is slower and the data is unique already.
    t0 = time.perf_counter()
    con = duckdb.connect(str(building))
    con.execute("SET enable_progress_bar = false")
    files = str(stage / "trades_*.parquet")
    day = start_ns // NS_PER_DAY * NS_PER_DAY
    loaded = 0
    while day < end_ns:
        con.execute(
            "INSERT INTO market_data SELECT * FROM read_parquet($files) WHERE ts_ns >= $a AND ts_ns < $b "
            "ORDER BY ts_ns, symbol",
            {"files": files, "a": day, "b": day + NS_PER_DAY},
        )
        loaded = con.execute("SELECT count(*) FROM market_data").fetchone()[0]  # type: ignore[index]
        print(
            f"[build]   loaded up to {_iso(day + NS_PER_DAY)[:10]}: {loaded:,} trades "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        day += NS_PER_DAY
    con.execute("CHECKPOINT")
    con.close()
    t_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()  # as a writer's open: lists the bulk load's conditions strings (trade_condition_sets)

    def progress(done: int, total: int) -> None:
        if done % 20 == 0 or done == total:
            print(
                f"[build]   transform {done}/{total} symbols ({time.perf_counter() - t0:.0f} s)", flush=True
            )

    summary = run_transform(storage, settings, progress=progress)
    storage.close()
    t_transform = time.perf_counter() - t0
    print(f"[build]   transform: {summary}", flush=True)
    os.replace(building, path)
    shutil.rmtree(stage)
    timings = {
        "generate_s": t_generate,
        "load_s": t_load,
        "transform_s": t_transform,
        "total_s": time.perf_counter() - t_all,
        "trades": loaded,
    }
    (path.with_suffix(".build.json")).write_text(json.dumps(timings))
    print(
        f"[build] done in {timings['total_s']:.0f} s: generate {t_generate:.0f} s, load {t_load:.0f} s, "
        f"transform {t_transform:.0f} s",
        flush=True,
    )
    return timings


def top_up(path: Path, missing: int, n_symbols: int = 10) -> float:
    """Add ``missing`` (+1%) trades of ``n_symbols`` new symbols over the file's time range, with signals.

    For a file that came out short of ``--trades`` (arrivals are random) or was built for fewer trades:
    the new symbols' trades are appended after the others and the transform computes only their bars.
    """
    import duckdb

    from ingest.synthetic_market import SymbolSpec, SyntheticMarket
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings
    from udx.transform import run_transform

    t0 = time.perf_counter()
    con = duckdb.connect(str(path))
    first, last, used = con.execute(
        "SELECT min(ts_ns), max(ts_ns), count(DISTINCT symbol) FILTER (WHERE symbol LIKE 'Y%') "
        "FROM market_data"
    ).fetchone()  # type: ignore[misc]
    con.close()
    start_ns, end_ns = (
        first // (60 * NS_PER_S) * (60 * NS_PER_S),
        (last // (60 * NS_PER_S) + 1) * (60 * NS_PER_S),
    )
    offset = int(used)  # earlier top-ups' symbols keep their names
    specs = tuple(
        SymbolSpec(f"Y{offset + i:03d}", "stocks", 50.0 + 10 * i, 0.02, 1.0, 2, 1) for i in range(n_symbols)
    )
    rate = 1.01 * missing / ((end_ns - start_ns) / NS_PER_S)
    trades, _ = SyntheticMarket(seed=7000 + offset, rate=rate, symbols=specs).history(start_ns, end_ns)
    settings = Settings(  # type: ignore[call-arg]
        duckdb_path=path, session_stocks=DAY_SESSION, bar_seconds=BAR_SECONDS
    )
    storage = DuckDBStorage.open(settings)
    storage.append_trades(trades)
    summary = run_transform(storage, settings)
    storage.close()
    print(
        f"[build] topped up with {trades.num_rows:,} trades of {n_symbols} new symbols; transform: {summary}",
        flush=True,
    )
    return time.perf_counter() - t0


def database_facts(path: Path) -> dict[str, Any]:
    """Trades, bars, symbols, time range and file size (read-only)."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    trades, symbols, first, last = con.execute(
        "SELECT count(*), count(DISTINCT symbol), min(ts_ns), max(ts_ns) FROM market_data"
    ).fetchone()  # type: ignore[misc]
    bars, jumps = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE jump_detected) FROM trading_signals"
    ).fetchone()  # type: ignore[misc]
    sym_trades = con.execute("SELECT count(*) FROM market_data WHERE symbol = $s", {"s": SYMBOL}).fetchone()[
        0
    ]  # type: ignore[index]
    con.close()
    return {
        "trades": trades,
        "symbols": symbols,
        "bars": bars,
        "jumps": jumps,
        "first_ns": first,
        "last_ns": last,
        "symbol_trades": sym_trades,
        "file_bytes": path.stat().st_size,
    }


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- servers ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _wait_listening(server: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}); see {server.log}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not listen within {timeout:.0f} s; see {server.log}")


def start_ours(db: Path, logs: Path, *, name: str, cache_ms: int) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DUCKDB_PATH": str(db),
        "MCP_PORT": str(port),
        "MCP_HOST": "127.0.0.1",
        "SESSION_STOCKS": DAY_SESSION,
        "BAR_SECONDS": str(BAR_SECONDS),
        "MCP_RESPONSE_CACHE_MS": str(cache_ms),
    }
    env.pop("MCP_AUTH_TOKEN", None)
    log = logs / f"{name}.log"
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "microstructure"), "serve"],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    _wait_listening(server)
    return server


def ensure_peer_venv() -> None:
    """Create ``bench/.venv-peer`` with the peer and the DuckDB version that wrote the file.

    The peer pins ``duckdb==1.5.6``, which cannot read files written by our DuckDB (storage version), so
    the same DuckDB as ours is installed over the pin: the comparison is then of the servers, not engines.
    """
    import duckdb

    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"[peer] creating {PEER_VENV.relative_to(ROOT)} with {PEER_PACKAGE}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PEER_PACKAGE], check=True)
    have = subprocess.run(
        [str(python), "-c", "import duckdb; print(duckdb.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if have != duckdb.__version__:
        print(f"[peer] duckdb {have} -> {duckdb.__version__} (same engine as ours)", flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"duckdb=={duckdb.__version__}"], check=True
        )


def start_peer(db: Path, logs: Path, *, ephemeral: bool) -> Server:
    port = free_port()
    name = "peer" if ephemeral else "peer-persistent"
    log = logs / f"{name}.log"
    args = [
        str(PEER_VENV / "bin" / "mcp-server-motherduck"),
        "--transport",
        "http",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db-path",
        str(db),
        "--max-rows",
        "1024",
        # its default of 50,000 characters would cut 100 signal rows down to ~70: lift it, same rows as ours
        "--max-chars",
        "10000000",
        "--ephemeral-connections" if ephemeral else "--no-ephemeral-connections",
    ]
    env = {k: v for k, v in os.environ.items() if k.lower() != "motherduck_token"}
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(name, process, f"http://127.0.0.1:{port}/mcp", log)
    _wait_listening(server)
    return server


# --- clients -------------------------------------------------------------------------------------------


def _rpc_body(message: dict[str, Any], response: Any) -> dict[str, Any]:
    """The JSON-RPC answer of a POST: plain JSON, or the matching ``data:`` event of an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                body = json.loads(line[5:])
                if body.get("id") == message.get("id"):
                    return body  # type: ignore[no-any-return]
        raise RuntimeError(f"no answer to id {message.get('id')} in the event stream")
    return response.json()  # type: ignore[no-any-return]


class McpClient:
    """Minimal Streamable HTTP client: initialize (keeping the session id if one is given), then calls."""

    def __init__(self, http: Any, url: str, *, handshake: bool) -> None:
        self.http, self.url, self.headers, self.next_id = http, url, dict(MCP_HEADERS), 1
        self.elapsed_ms = math.nan  # of the last request: sent to body read (decoding the JSON is not timed)
        if handshake:
            init = self._post(
                {
                    "jsonrpc": "2.0",
                    "id": self._id(),
                    "method": "initialize",
                    "params": {
                        "protocolVersion": PROTOCOL_VERSION,
                        "capabilities": {},
                        "clientInfo": {"name": "bench_server", "version": "0"},
                    },
                }
            )
            session = init.headers.get("mcp-session-id")
            if session:
                self.headers["mcp-session-id"] = session
            version = _rpc_body({"id": 1}, init)["result"]["protocolVersion"]
            self.headers["mcp-protocol-version"] = version
            self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _post(self, message: dict[str, Any]) -> Any:
        data = json.dumps(message).encode()
        started = time.perf_counter()
        response = self.http.post(self.url, content=data, headers=self.headers)
        response.read()
        self.elapsed_ms = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        return response

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        message = {
            "jsonrpc": "2.0",
            "id": self._id(),
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        body = _rpc_body(message, self._post(message))
        if "error" in body:
            raise RuntimeError(f"{tool}: {body['error']}")
        return body["result"]  # type: ignore[no-any-return]


def our_rows(result: dict[str, Any]) -> int:
    if result.get("isError"):
        raise RuntimeError(f"tool error: {result['content'][0]['text'][:300]}")
    structured = result.get("structuredContent") or {}
    return int(structured.get("count", structured.get("bars", -1)))


def peer_rows(result: dict[str, Any]) -> int:
    if result.get("isError"):
        raise RuntimeError(f"peer tool error: {result['content'][0]['text'][:300]}")
    body = json.loads(result["content"][0]["text"])
    if not body.get("success", False):
        raise RuntimeError(f"peer query failed: {body.get('error')}")
    return int(body["rowCount"])


# --- the cases -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str  # row name in the table
    tool: str | None  # our MCP tool (None: REST only)
    arguments: dict[str, Any]
    peer_sql: str | None  # the equivalent execute_query SQL
    rest: str | None = None  # our REST path instead of MCP


def cases(now_ns: int, newest_ns: int) -> list[Case]:
    """Our tool calls and the SQL a peer user would send for the same answer.

    Windows end just after the newest trade of the file (``newest_ns``) and reach back from it.
    """
    s = SYMBOL
    end = newest_ns + 1
    hour = newest_ns - 3600 * NS_PER_S
    six = newest_ns - 6 * 3600 * NS_PER_S
    real_time = (ROOT / "sql" / "duckdb" / "queries" / "real_time_data.sql").read_text()
    real_time = (
        real_time.replace("$symbols", f"['{s}']")
        .replace("$bar_seconds", str(BAR_SECONDS))
        .replace("$now_ns", str(now_ns))
        .replace("$row_limit", "100")
    )
    return [
        Case(
            "get_trading_signals(symbol, limit=100)",
            "get_trading_signals",
            {"symbol": s, "limit": 100},
            "SELECT *, make_timestamp(bar_end_ns // 1000) AS bar_end FROM trading_signals "
            f"WHERE symbol = '{s}' "
            f"AND bar_seconds = {BAR_SECONDS} ORDER BY bar_end_ns DESC LIMIT 100",
        ),
        Case(
            "REST /api/v1/trading-signals?symbol&limit=100",
            None,
            {"symbol": s, "limit": 100},
            None,
            rest="/api/v1/trading-signals",
        ),
        Case(
            "get_trading_signals(limit=100) all symbols",
            "get_trading_signals",
            {"limit": 100},
            "SELECT *, make_timestamp(bar_end_ns // 1000) AS bar_end FROM trading_signals "
            f"WHERE bar_seconds = {BAR_SECONDS} ORDER BY bar_end_ns DESC, symbol DESC LIMIT 100",
        ),
        Case(
            "get_enriched_data(symbol, limit=100, last hour)",
            "get_enriched_data",
            {"symbol": s, "limit": 100, "start": hour, "end": end},
            f"SELECT * FROM enriched_market_data WHERE symbol = '{s}' AND ts_ns >= {hour} AND ts_ns < {end} "
            f"AND (bar_seconds = {BAR_SECONDS} OR bar_seconds IS NULL) "
            "ORDER BY ts_ns DESC, exchange DESC, trade_id DESC LIMIT 100",
        ),
        Case(
            "get_enriched_data(symbol, limit=100)",
            "get_enriched_data",
            {"symbol": s, "limit": 100},
            f"SELECT * FROM enriched_market_data WHERE symbol = '{s}' "
            f"AND (bar_seconds = {BAR_SECONDS} OR bar_seconds IS NULL) "
            "ORDER BY ts_ns DESC, exchange DESC, trade_id DESC LIMIT 100",
        ),
        Case(
            "get_jump_events(symbol, limit=100)",
            "get_jump_events",
            {"symbol": s, "limit": 100},
            f"SELECT * FROM jump_events WHERE symbol = '{s}' AND bar_seconds = {BAR_SECONDS} "
            "ORDER BY bar_end_ns DESC LIMIT 100",
        ),
        Case(
            "get_symbol_metrics(symbol, limit=100)",
            "get_symbol_metrics",
            {"symbol": s, "limit": 100},
            f"SELECT * FROM symbol_metrics WHERE symbol = '{s}' AND bar_seconds = {BAR_SECONDS} "
            "ORDER BY session_date DESC LIMIT 100",
        ),
        Case("get_real_time_data(symbol)", "get_real_time_data", {"symbol": s}, real_time.split("\n", 4)[-1]),
        Case(
            "get_chart(symbol, last 6 hours)",
            "get_chart",
            {"symbol": s, "start": six, "end": end},
            "SELECT bar_end_ns, close, vpin, jump_detected, log_return, trading_signal FROM trading_signals "
            f"WHERE symbol = '{s}' AND bar_seconds = {BAR_SECONDS} AND bar_end_ns >= {six} AND bar_end_ns < {end} "
            "ORDER BY bar_end_ns DESC LIMIT 600",
        ),
    ]


# --- timing --------------------------------------------------------------------------------------------


@dataclass
class Timing:
    n: int
    p50: float
    p99: float
    mean: float
    rows: int
    error: str | None = None

    def cell(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        return f"{self.p50:.2f} / {self.p99:.2f}"


def time_calls(call: Callable[[], tuple[int, float | None]], requests: int, budget_s: float, warmup: int = 20) -> Timing:
    """Warm up, then time up to ``requests`` sequential calls (fewer if ``budget_s`` runs out); ms.

    ``call`` returns the rows it got and the milliseconds of its HTTP exchange (request sent to body read),
    or ``None`` to be timed whole. A call that fails (e.g. the query time limit) ends the row: it is reported
    with the error's text.
    """
    try:
        return _time_calls(call, requests, budget_s, warmup)
    except RuntimeError as exc:
        text = str(exc)
        short = "time limit" if "exceeded" in text or "timed out" in text else text[:80]
        return Timing(0, math.nan, math.nan, math.nan, -1, error=short)


def _time_calls(call: Callable[[], tuple[int, float | None]], requests: int, budget_s: float, warmup: int) -> Timing:
    rows = -1
    started = time.perf_counter()
    for _ in range(warmup):
        rows, _ = call()
        if time.perf_counter() - started > budget_s / 4:
            break
    samples: list[float] = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        rows, elapsed = call()
        samples.append((time.perf_counter() - t0) * 1000 if elapsed is None else elapsed)
        if time.perf_counter() - started > budget_s:
            break
    samples.sort()
    p99 = samples[min(len(samples) - 1, math.ceil(0.99 * len(samples)) - 1)]
    return Timing(len(samples), statistics.median(samples), p99, statistics.fmean(samples), rows)


#: Our server twice: the response cache off (every call runs its query) and on (repeated calls are hits).
OUR_FLAVOURS = (("ours-cold", 0), ("ours", 1000))


def _rotating(symbols: list[str]) -> Callable[[], dict[str, Any]]:
    """Arguments of get_trading_signals that never repeat within a run (symbol x limit): always a miss."""
    combos = [(sym, limit) for limit in range(100, 90, -1) for sym in symbols]
    position = iter(range(10**9))

    def next_arguments() -> dict[str, Any]:
        symbol, limit = combos[next(position) % len(combos)]
        return {"symbol": symbol, "limit": limit}

    return next_arguments


def _stdlib_call(base_url: str, case: Case) -> Callable[[], tuple[int, float | None]]:
    """``case`` over one keep-alive ``http.client`` connection: the same request with less client overhead."""
    import http.client

    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": case.tool, "arguments": case.arguments}}
    ).encode()

    def call() -> tuple[int, float | None]:
        started = time.perf_counter()
        connection.request("POST", "/mcp", body, MCP_HEADERS)
        response = connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        return our_rows(json.loads(data)["result"]), elapsed

    return call


def measure(
    db: Path, requests: int, budget_s: float, peers: list[str], newest_ns: int, symbols: list[str]
) -> tuple[list[Case], dict[str, dict[str, Timing]], dict[str, str], dict[str, dict[str, int]]]:
    """Start each server in turn on ``db`` and time every case.

    Returns the cases, ``{server: {case label: timing}}``, ``{server: 1-minute load average before and
    after its rows}`` (the box is shared: a server measured under more load looks slower) and, for our
    servers, how their reads were answered (``read_paths``).
    """
    import httpx

    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    all_cases = cases(time.time_ns(), newest_ns)
    results: dict[str, dict[str, Timing]] = {}
    loads: dict[str, str] = {}
    paths: dict[str, dict[str, int]] = {}

    def load() -> str:
        return f"{os.getloadavg()[0]:.1f}"

    for name, cache_ms in OUR_FLAVOURS:
        loads[name] = load()
        server = start_ours(db, logs, name=name, cache_ms=cache_ms)
        try:
            with httpx.Client(timeout=120) as http:
                deadline = time.monotonic() + 120
                while http.get(f"{server.url}/health").status_code != 200:  # read-only open, first query done
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} never became healthy; see {server.log}")
                    time.sleep(0.2)
                # The endpoint is stateless: like curl, calls need no initialize (a session would add nothing).
                client = McpClient(http, f"{server.url}/mcp", handshake=False)
                results[name] = {}
                rotating = Case(ROTATING_LABEL, "get_trading_signals", {}, None)
                for case in [*all_cases, rotating]:
                    if case.rest is not None:
                        url = server.url + case.rest

                        def call(url: str = url, params: dict[str, Any] = case.arguments) -> tuple[int, float | None]:
                            started = time.perf_counter()
                            response = http.get(url, params=params)
                            response.read()
                            elapsed = (time.perf_counter() - started) * 1000
                            response.raise_for_status()
                            return int(response.json()["count"]), elapsed
                    elif case is rotating:
                        arguments = _rotating(symbols)

                        def call(arguments: Callable[[], dict[str, Any]] = arguments) -> tuple[int, float | None]:
                            return our_rows(client.call("get_trading_signals", arguments())), client.elapsed_ms
                    else:

                        def call(case: Case = case) -> tuple[int, float | None]:
                            rows = our_rows(client.call(case.tool, case.arguments))  # type: ignore[arg-type]
                            return rows, client.elapsed_ms

                    timing = time_calls(call, requests, budget_s)
                    results[name][case.label] = timing
                    print(
                        f"[{name}] {case.label:52s} p50 {timing.p50:8.2f} ms  p99 {timing.p99:8.2f} ms  "
                        f"n={timing.n} rows={timing.rows}",
                        flush=True,
                    )
            timing = time_calls(_stdlib_call(server.url, all_cases[0]), requests, budget_s)
            results[name][STDLIB_LABEL] = timing
            print(f"[{name}] {STDLIB_LABEL:52s} p50 {timing.p50:8.2f} ms  p99 {timing.p99:8.2f} ms", flush=True)
            paths[name] = read_paths(server.url)
        finally:
            server.stop()
            loads[name] += f" → {load()}"

    if peers:
        ensure_peer_venv()
    for flavour in peers:
        loads[flavour] = load()
        server = start_peer(db, logs, ephemeral=flavour == "peer")
        try:
            with httpx.Client(timeout=120) as http:
                client = McpClient(http, server.url, handshake=True)
                results[server.name] = {}
                for case in all_cases:
                    if case.peer_sql is None:
                        continue

                    def call(sql: str = case.peer_sql) -> tuple[int, float | None]:
                        return peer_rows(client.call("execute_query", {"sql": sql})), client.elapsed_ms  # noqa: B023

                    timing = time_calls(call, requests, budget_s)
                    results[server.name][case.label] = timing
                    print(
                        f"[{server.name}] {case.label:52s} p50 {timing.p50:8.2f} ms  "
                        f"p99 {timing.p99:8.2f} ms  "
                        f"n={timing.n} rows={timing.rows}",
                        flush=True,
                    )
        finally:
            server.stop()
            loads[flavour] += f" → {load()}"
    return all_cases, results, loads, paths


def read_paths(base_url: str) -> dict[str, int]:
    """``{"tool path": count}`` of the server's ``microstructure_read_path`` counter (``/metrics``)."""
    import httpx

    counts = {}
    for line in httpx.get(f"{base_url}/metrics", timeout=30).text.splitlines():
        if line.startswith("microstructure_read_path_total{"):
            labels, value = line.split("}")
            fields = dict(part.split("=") for part in labels.split("{")[1].split(","))
            counts[f"{fields['tool'].strip(chr(34))} {fields['path'].strip(chr(34))}"] = int(float(value))
    return counts


def breakdown(db: Path, requests: int) -> list[tuple[str, Timing]]:
    """Where one ``get_trading_signals(AAPL, limit=100)`` spends its time, measured in this process.

    Rows marked ``+`` include the row above: the SQL alone over the whole window (raw DuckDB, then through
    the storage's read-only, time-limited ``query``), the same page through a recent window (what the tool
    runs without the bars kept in memory: :class:`server.tools.recent_window.RecentWindow`), plus the
    typed rows (``market.trading_signals``), plus the short path's result serialization. Then the same page
    from the bars kept in memory (:class:`server.tools.signal_memory.SignalMemory`: what ``/mcp`` runs for
    this call, cache off), plus its result serialization (rows serialized once), and how long the memory
    took to load. For comparison, the MCP SDK's own ``call_tool`` (argument validation, worker thread, result
    conversion) plus its JSON-RPC response body. Then ``get_real_time_data(AAPL)`` by its SQL and from the
    rows kept in memory (:class:`server.tools.latest.LatestRows`). The HTTP rows of the main table add
    uvicorn and the middleware.
    """
    import anyio
    import duckdb
    from mcp.types import JSONRPCResponse

    from server.fast_path import result_json
    from server.mcp import build_server
    from server.tools import market
    from server.models import SignalRow
    from server.tools.latest import LatestRows
    from server.tools.recent_window import RecentWindow
    from server.tools.signal_memory import SignalMemory
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        duckdb_path=db, session_stocks=DAY_SESSION, bar_seconds=BAR_SECONDS
    )
    storage = DuckDBStorage.open(settings, read_only=True)
    raw = duckdb.connect(str(db), read_only=True, config={"threads": settings.duckdb_threads})
    sql = (ROOT / "sql" / "duckdb" / "queries" / "trading_signals_symbol_page.sql").read_text()
    params = {
        "symbol": SYMBOL,
        "signal_type": None,
        "bar_seconds": BAR_SECONDS,
        "start_ns": 0,
        "end_ns": 2**63 - 1,
        "after_bar_end_ns": None,
        "after_symbol": None,
    }
    loading = time.perf_counter()
    memory = SignalMemory.attach_kept(storage, BAR_SECONDS, row_model=SignalRow, kept=settings.mcp_kept_bars)
    loaded_ms = (time.perf_counter() - loading) * 1000
    server = build_server(settings, storage, signals=memory)
    arguments = {"symbol": SYMBOL, "limit": 100}

    def page() -> Any:
        return market.trading_signals(storage, symbol=SYMBOL, limit=100, bar_seconds=BAR_SECONDS)

    def kept_page() -> Any:
        return market.trading_signals(storage, symbol=SYMBOL, limit=100, bar_seconds=BAR_SECONDS,
                                      memory=memory)

    def sdk_body() -> int:
        result = anyio.run(server.call_tool, "get_trading_signals", arguments)
        message = JSONRPCResponse(
            jsonrpc="2.0", id=1, result=result.model_dump(by_alias=True, mode="json", exclude_none=True)
        )
        return len(message.model_dump_json(by_alias=True, exclude_unset=True))

    window = RecentWindow(storage, symbols=[SYMBOL], bar_seconds=BAR_SECONDS)
    latest = LatestRows.attach(storage, BAR_SECONDS)

    def real_time(kept: LatestRows | None) -> Any:
        return market.real_time_data(storage, symbol=SYMBOL, limit=100, bar_seconds=BAR_SECONDS, latest=kept)

    steps: list[tuple[str, Callable[[], Any]]] = [
        (
            "DuckDB execute + fetch, the whole window (trading_signals_symbol_page.sql, the plain path)",
            lambda: raw.execute(sql, {**params, "row_limit": 101}).fetchall(),
        ),
        (
            "storage.query, the whole window (read-only, watchdog, limit + 1)",
            lambda: storage.query("trading_signals_symbol_page", params, 100),
        ),
        (
            "storage.query through a recent window (newest-bar hint + the narrowed query: what the tool runs)",
            lambda: window.query("trading_signals_symbol_page", params, 100),
        ),
        ("+ typed rows, cursor (market.trading_signals)", page),
        ("+ result JSON as the short path writes it", lambda: result_json(page())),
        (f"the same page from the bars kept in memory (MCP_KEPT_BARS={settings.mcp_kept_bars}: what the tool "
         "runs)", kept_page),
        ("+ result JSON from the rows serialized once (what /mcp runs, cache off)",
         lambda: result_json(kept_page())),
        ("for comparison: SDK call_tool + JSON-RPC body", sdk_body),
        ("get_real_time_data(symbol) page by the SQL (real_time_data.sql)", lambda: real_time(None)),
        ("get_real_time_data(symbol) page from the rows kept in memory", lambda: real_time(latest)),
    ]
    out = []
    for label, fn in steps:

        def call(fn: Callable[[], Any] = fn) -> tuple[int, float | None]:
            fn()
            return 0, None

        timing = time_calls(call, requests, 30.0)
        out.append((label, timing))
        print(
            f"[breakdown] {label:55s} p50 {timing.p50:8.3f} ms  p99 {timing.p99:8.3f} ms  n={timing.n}",
            flush=True,
        )
    load = Timing(1, loaded_ms, loaded_ms, loaded_ms, 0)
    out.append((f"loading the kept bars of every symbol (once, at start; {settings.mcp_kept_bars} a symbol)",
                load))
    raw.close()
    memory.detach()
    storage.close()
    return out


# --- report --------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib.metadata import version

    peer = {}
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        code = (
            "from importlib.metadata import version as v; import json; print(json.dumps({k: v(k) for k in "
            "('mcp-server-motherduck', 'fastmcp', 'mcp', 'duckdb')}))"
        )
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            peer = json.loads(out.stdout)
    ours = {k: version(k) for k in ("duckdb", "mcp", "fastapi", "uvicorn", "pydantic")}
    text = ", ".join(f"{k} {v}" for k, v in ours.items())
    peer_text = ", ".join(f"{k} {v}" for k, v in peer.items()) or "not installed"
    return {"python": platform.python_version(), "ours": text, "peer": peer_text}


TITLE = "MCP server latency vs mcp-server-motherduck"


def _verdict(label: str, name: str, t: Timing, peers: list[str], results: dict[str, dict[str, Timing]]) -> str:
    p50, p99 = TARGETS[label]
    met = t.error is None and t.p50 <= p50 and (p99 is None or t.p99 <= p99)
    faster = all(t.p50 < results[p][label].p50 for p in peers if label in results[p])
    verdict = ("yes" if faster else "no") if peers else "no peer measured"
    return (
        f"- {name}: {'met' if met else 'NOT met'} (p50 {t.p50:.2f}, p99 {t.p99:.2f}); faster than every peer "
        f"flavour at p50: {verdict}."
    )


def render(
    cases_: list[Case],
    results: dict[str, dict[str, Timing]],
    facts: dict[str, Any],
    build: dict[str, Any] | None,
    requests: int,
    parts: list[tuple[str, Timing]] | None = None,
    load_before: str = "?",
    loads: dict[str, str] | None = None,
    paths: dict[str, dict[str, int]] | None = None,
) -> str:
    v = versions()
    ours_names = [name for name, _ in OUR_FLAVOURS if name in results]
    cold = results.get("ours-cold", {})
    peers = [name for name in results if name not in ours_names]
    lines = [
        (
            f"`.venv/bin/python -m bench.bench_server` (bench/bench_server.py), {report.now_utc()}. Sequential requests over HTTP "
            f"on one keep-alive httpx client after a warm-up, up to {requests} per row; times in ms, "
            "client-side, request sent to body read (decoding the JSON on the client is not timed; every "
            "answer is decoded and its rows counted after the clock stops)."
        ),
        "",
        (
            f"- Machine: {report.machine()}; load average (1/5/15 min) at the start "
            f"{load_before}, at the end {report.load_average()} (other work shared the box); 1-minute load before → after "
            "each server's rows: " + ", ".join(f"{k} {v}" for k, v in (loads or {}).items())
        ),
        f"- Python {v['python']}; ours: {v['ours']}; peer (bench/.venv-peer): {v['peer']}",
        (
            f"- Database: {facts['trades']:,} trades of {facts['symbols']} symbols ({SYMBOL}: "
            f"{facts['symbol_trades']:,}), {facts['bars']:,} one-minute bars with signals "
            f"({facts['jumps']:,} jumps), "
            f"{_iso(facts['first_ns'])} to {_iso(facts['last_ns'])}, file {facts['file_bytes'] / 1e9:.2f} GB; "
            "windows (last hour, last 6 hours) end at the newest trade"
        ),
    ]
    if build:
        lines.append(
            f"- Build (once): generate {build['generate_s']:.0f} s, "
            f"load in time order {build['load_s']:.0f} s, "
            f"transform {build['transform_s']:.0f} s, total {build['total_s'] / 60:.1f} min"
            + (f" (+ top-up {build['top_up_s']:.0f} s)" if "top_up_s" in build else "")
        )
    lines += [
        (
            "- ours-cold = `microstructure serve` with `MCP_RESPONSE_CACHE_MS=0`: no response cache, every call "
            "runs its query (DuckDB's own buffers are warm, as for the peer); ours = the default cache "
            "(1000 ms): the same call repeated, so after the first call the answer comes from the cache while the "
            "data version is unchanged (`hours_back` calls and get_real_time_data are never cached). The "
            "rotating row calls get_trading_signals with a different (symbol, limit) every time: a miss each "
            "time, with the cache on. The http.client row sends the first call with Python's stdlib client "
            "(one keep-alive connection) instead of httpx, to show how much of a small time is the client's."
        ),
        (
            "- peer = mcp-server-motherduck defaults (read-only, a new DuckDB connection per query); "
            "peer-persistent = `--no-ephemeral-connections`; both with `--max-chars 10000000` so they "
            "return the same rows as ours, and with our DuckDB version installed over their pin "
            "(the file format differs); ratios are peer p50 / ours-cold p50"
        ),
    ]
    header = (
        "| call | "
        + " | ".join(f"{name} p50 / p99" for name in ours_names)
        + " | "
        + " | ".join(f"{p} p50 / p99 | {p}/ours-cold p50" for p in peers)
        + " | rows | n |"
    )
    lines += ["", header.replace("|  |", "|"), "|" + "---|" * (header.replace("|  |", "|").count("|") - 1)]
    labels = [case.label for case in cases_] + [ROTATING_LABEL, STDLIB_LABEL]
    for label in labels:
        timings = [results[name].get(label) for name in ours_names]
        if all(t is None for t in timings):
            continue
        row = f"| {label} |" + "".join(f" {'—' if t is None else t.cell()} |" for t in timings)
        base = cold.get(label)
        for p in peers:
            pt = results[p].get(label)
            if pt is None:
                row += " — | — |"
            elif pt.error is not None or base is None or base.error is not None:
                row += f" {pt.cell()} | — |"
            else:
                row += f" {pt.cell()} | {pt.p50 / base.p50:.1f}x |"
        shown = next(t for t in timings if t is not None)
        lines.append(row + f" {shown.rows} | {' / '.join(str(t.n) for t in timings if t is not None)} |")
    key = cases_[0].label
    for label, (p50, p99) in TARGETS.items():
        bound = f"p50 ≤ {p50:g} ms" + ("" if p99 is None else f", p99 ≤ {p99:g} ms")
        lines += ["", f"Target for {label} (issue 14, without the cache: ours-cold): {bound}, faster than the peer:"]
        for name in ours_names:
            t = results[name].get(label)
            if t is not None:
                lines.append(_verdict(label, name, t, peers, results))
    if paths:
        lines += ["", "How our servers answered (`microstructure_read_path` in `/metrics`: narrowed = a recent window "
                  "of the signal pages, memory = the newest rows kept in memory, sql = the plain query): "
                  + "; ".join(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                              for name, counts in paths.items())]
    if parts:
        lines += [
            "",
            (
                f"Where {key} and get_real_time_data(symbol) spend their time without the cache, in one process "
                "without HTTP (rows marked + include the row above; the HTTP rows above add uvicorn and the "
                "middleware):"
            ),
            "",
            "| step | p50 ms | p99 ms |",
            "|---|---|---|",
        ]
        lines += [f"| {label} | {t.p50:.2f} | {t.p99:.2f} |" for label, t in parts]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=50_000_000, help="trades in the database (default 50M)")
    parser.add_argument("--days", type=float, default=14.0, help="days of history ending at build time")
    parser.add_argument("--symbols", type=int, default=200, help="symbols (the 9 demo ones first)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per call and server")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds at most per call and server")
    parser.add_argument("--peer", choices=("both", "default", "persistent", "none"), default="both")
    parser.add_argument("--build-only", action="store_true", help="build the database and stop")
    parser.add_argument("--no-append", action="store_true", help="leave BENCHMARKS.md as it is")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process time breakdown")
    args = parser.parse_args(argv)

    db = DATA / f"bench_{args.trades}.duckdb"
    build = None
    if db.exists():
        print(f"[build] reusing {db.relative_to(ROOT)}", flush=True)
        info = db.with_suffix(".build.json")
        build = json.loads(info.read_text()) if info.exists() else None
        have = database_facts(db)["trades"]
        if have < args.trades:
            seconds = top_up(db, args.trades - have)
            if build is not None:
                build["top_up_s"] = build.get("top_up_s", 0.0) + seconds
                info.write_text(json.dumps(build))
    else:
        build = build_database(db, args.trades, args.days, args.symbols)
    if args.build_only:
        return 0
    load_before = report.load_average()
    facts = database_facts(db)
    symbols = _symbols(db)
    peers = {
        "both": ["peer", "peer-persistent"],
        "default": ["peer"],
        "persistent": ["peer-persistent"],
        "none": [],
    }[args.peer]
    all_cases, results, loads, paths = measure(db, args.requests, args.budget, peers, facts["last_ns"], symbols)
    parts = None if args.no_breakdown else breakdown(db, args.requests)
    section = render(all_cases, results, facts, build, args.requests, parts, load_before, loads, paths)
    print()
    print(section)
    if not args.no_append:
        report.replace_section(TITLE, section)
        print("BENCHMARKS.md: section replaced")
    return 0


def _symbols(db: Path) -> list[str]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT symbol FROM signal_state ORDER BY symbol").fetchall()]
    finally:
        con.close()


if __name__ == "__main__":
    sys.exit(main())
