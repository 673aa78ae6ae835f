"""The server under load (issue 15, point 6): 200 concurrent clients for 60 s, then beyond the connection cap.

Run ``.venv/bin/python -m bench.bench_load [--clients 200] [--seconds 60] [--no-append]``:

1. builds (once; reused when present) ``bench/data/load_fixture.duckdb``, the size of the tests' fixture:
   1.5 days of synthetic trades (``SyntheticMarket(seed=11, rate=4.0)``) and their signals;
2. starts ``microstructure serve`` on it (read-only, default settings: ``MCP_MAX_CONNECTIONS=256``, the
   response cache on) with this checkout's code;
3. baseline: a prober process alone asks ``/health`` every 20 ms for ``--baseline`` seconds;
4. load: ``--clients`` closed-loop clients in one load-generator process beside the server (each its own
   keep-alive connection, no pause between requests) for ``--seconds``: every read tool and the SQL tool on
   the MCP short path (``tools/call`` POSTed to ``/mcp``), their REST mirrors, a few real MCP SDK sessions
   (``mcp.Client``: initialize, then ``call_tool`` in a loop), and ``--bad`` of the requests forged or
   oversized (forged cursors, a body over 1 MiB, a 5000-digit ``start``, limits over the cap, malformed
   JSON, a foreign Host, write SQL, injection-shaped symbols). The prober keeps asking ``/health`` meanwhile;
   the server's RSS is sampled every 0.5 s;
5. beyond the cap: ``cap + --beyond`` clients, each on its own connection, ask ``get_real_time_data`` over
   REST for ``--beyond-seconds``; a client answered 503 waits its ``Retry-After`` and reconnects;
6. prints a table and replaces its section of ``BENCHMARKS.md`` (``--no-append`` to leave it).

Windows are explicit and relative to the newest trade in the file, so an old file gives the same answers.
Like every bench here, this prints and never asserts: the targets are reported as met or not.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import multiprocessing as mp
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import report
from bench.bench_server import Server, _wait_listening, free_port

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
DAY_SESSION = "00:00-24:00 UTC"
NS_PER_S = 1_000_000_000
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA")
SDK_SESSIONS = 4
#: A chart is drawn by matplotlib (0.7-1 s of CPU on this box): by default drawn this much less often than
#: the other calls, as a dashboard would ask for it (``--chart-weight``).
CHART_WEIGHT = 0.05
TITLE = "Server under load: 200 clients, forged requests, beyond the connection cap (issue 15)"
ACCEPT = {"Accept": "application/json, text/event-stream"}


# --- database and server ---------------------------------------------------------------------------------


def fixture_database(path: Path) -> dict[str, Any]:
    """Build the fixture-size database at ``path`` unless it is there; return its facts."""
    import duckdb

    if not path.exists():
        from ingest.synthetic_market import SyntheticMarket
        from sql.duckdb_backend import DuckDBStorage
        from sql.settings import Settings
        from udx.transform import run_transform

        path.parent.mkdir(parents=True, exist_ok=True)
        settings = Settings(duckdb_path=path, session_stocks=DAY_SESSION)  # type: ignore[call-arg]
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        end_ns = time.time_ns()
        trades, quotes = SyntheticMarket(seed=11, rate=4.0).history(end_ns - int(1.5 * 86_400 * NS_PER_S), end_ns)
        storage.append_trades(trades)
        storage.append_quotes(quotes)
        run_transform(storage, settings)
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        trades, newest = con.execute("SELECT count(*), max(ts_ns) FROM market_data").fetchone()  # type: ignore[misc]
        bars = con.execute("SELECT count(*) FROM trading_signals").fetchone()[0]  # type: ignore[index]
    return {"trades": trades, "bars": bars, "newest_ns": newest, "bytes": path.stat().st_size}


def start_server(db: Path, logs: Path) -> Server:
    """Start ``microstructure serve`` on ``db`` with this checkout's code and default limits."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DUCKDB_PATH": str(db), "MCP_PORT": str(port),
           "MCP_HOST": "127.0.0.1", "SESSION_STOCKS": DAY_SESSION}  # fmt: skip
    for name in list(env):
        if name.startswith("MCP_") and name not in ("MCP_PORT", "MCP_HOST"):
            env.pop(name)  # the defaults are what is measured
    log = logs / "load-serve.log"
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "microstructure"), "serve"], env=env, cwd=logs,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    server = Server("serve", process, f"http://127.0.0.1:{port}", log)
    _wait_listening(server)
    return server


def revision() -> str:
    """The checked-out branch and commit the server runs (``git``), e.g. ``main at 1a2b3c4``."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return f"{git('rev-parse', '--abbrev-ref', 'HEAD')} at {git('rev-parse', '--short', 'HEAD')}"


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024  # type: ignore[union-attr]


def limited(url: str) -> dict[str, int]:
    """The server's ``microstructure_http_limited_total`` by reason (connections refused or closed by a limit)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {m.group(1): int(float(m.group(2)))
            for m in re.finditer(r'^microstructure_http_limited_total\{reason="(\w+)"\} (\S+)$', text, re.M)}


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


# --- requests --------------------------------------------------------------------------------------------


def _rpc(tool: str, arguments: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                         "params": {"name": tool, "arguments": arguments}})  # fmt: skip


def _forged_cursor(tool: str, key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"t": tool, "k": key})).decode().rstrip("=")


def good_requests(newest_ns: int) -> list[tuple[str, str, str, bytes | None, dict[str, Any] | None]]:
    """``(label, method, path, body, params)`` of the well-formed requests, every tool on both transports."""
    start = str(newest_ns - 6 * 3600 * NS_PER_S)
    end = str(newest_ns)
    sql = "SELECT symbol, count(*) AS bars, avg(vpin) AS vpin FROM trading_signals GROUP BY symbol ORDER BY symbol"
    calls: list[tuple[str, str, str, bytes | None, dict[str, Any] | None]] = []
    for symbol in SYMBOLS:
        window = {"symbol": symbol, "start": start, "end": end}
        mcp_args = {
            "get_enriched_data": {**window, "limit": 100},
            "get_trading_signals": {**window, "limit": 100},
            "get_jump_events": {"symbol": symbol, "limit": 100},
            "get_symbol_metrics": {**window, "limit": 50},
            "get_real_time_data": {"symbol": symbol},
        }
        for tool, arguments in mcp_args.items():
            calls.append((f"mcp {tool}", "POST", "/mcp", _rpc(tool, arguments), None))
        rest = {"enriched-data": {**window, "limit": 100}, "trading-signals": {**window, "limit": 100},
                "jump-events": {"symbol": symbol, "limit": 100}, "symbol-metrics": {**window, "limit": 50},
                "real-time-data": {"symbol": symbol}}  # fmt: skip
        for route, params in rest.items():
            calls.append((f"rest {route}", "GET", f"/api/v1/{route}", None, params))
    calls.append(("mcp query", "POST", "/mcp", _rpc("query", {"sql": sql, "limit": 50}), None))
    calls.append(("rest sql", "POST", "/api/v1/sql", orjson.dumps({"sql": sql, "limit": 50}), None))
    calls.append(("mcp get_chart", "POST", "/mcp", _rpc("get_chart", {"symbol": "AAPL", "hours_back": 2,
                                                                      "max_bars": 120}), None))  # fmt: skip
    calls.append(("rest chart", "GET", "/api/v1/chart/AAPL.png", None, {"start": start, "max_bars": "120"}))
    return calls


def bad_requests(newest_ns: int) -> list[tuple[str, str, str, bytes | None, dict[str, Any] | None]]:
    """Forged or oversized requests (what a hostile or broken client sends)."""
    forged = _forged_cursor("get_trading_signals", ["1 OR 1=1", "x' --"])
    forged_metrics = _forged_cursor("get_symbol_metrics", [12345, "A"])
    return [
        ("bad forged cursor mcp", "POST", "/mcp", _rpc("get_trading_signals", {"symbol": "AAPL", "cursor": forged}), None),
        ("bad forged cursor rest", "GET", "/api/v1/trading-signals", None, {"symbol": "AAPL", "cursor": forged}),
        ("bad forged metrics cursor", "GET", "/api/v1/symbol-metrics", None, {"symbol": "AAPL", "cursor": forged_metrics}),
        ("bad body over 1 MiB", "POST", "/mcp", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":'
         b'"query","arguments":{"sql":"' + b"x" * (1 << 20) + b'"}}}', None),
        ("bad 5000-digit start", "POST", "/mcp", _rpc("get_enriched_data", {"symbol": "AAPL", "start": "9" * 5000}), None),
        ("bad limit over the cap", "GET", "/api/v1/enriched-data", None, {"symbol": "AAPL", "limit": "1000000"}),
        ("bad malformed JSON", "POST", "/mcp", b'{"jsonrpc": "2.0", "method": "tools/call", "params": {', None),
        ("bad write SQL", "POST", "/api/v1/sql", orjson.dumps({"sql": "DELETE FROM market_data"}), None),
        ("bad injection symbol", "GET", "/api/v1/trading-signals", None, {"symbol": "AAPL' OR 1=1 --"}),
        ("bad foreign Host", "GET", "/health", None, {"host": "evil.example"}),
    ]  # fmt: skip


# --- load generator (its own process) --------------------------------------------------------------------


def _client(url: str) -> httpx.AsyncClient:
    """One client's own connection (``verify=False``: plain HTTP; loading the CA bundle per client costs ~0.1 s)."""
    return httpx.AsyncClient(base_url=url, timeout=60, verify=False, limits=httpx.Limits(max_connections=1))


async def _http_client(url: str, calls: list[Any], bad: list[Any], bad_share: float, chart_weight: float,
                       stop_at: float, counts: Counter[str], seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    weights = [chart_weight if "chart" in call[0] else 1.0 for call in calls]
    async with _client(url) as client:
        while time.monotonic() < stop_at:
            label, method, path, body, params = (rng.choice(bad) if rng.random() < bad_share
                                                 else rng.choices(calls, weights)[0])  # fmt: skip
            headers = {**ACCEPT, "Content-Type": "application/json"}
            if params and "host" in params:
                headers["Host"] = params["host"]
                params = None
            try:
                answer = await client.request(method, path, content=body, params=params, headers=headers)
                status = str(answer.status_code)
                if answer.status_code == 503 and "retry-after" in answer.headers:
                    status = "503 with Retry-After"
            except httpx.HTTPError as exc:
                status = f"client error {type(exc).__name__}"
            counts[f"{label}\t{status}"] += 1


async def _sdk_client(url: str, stop_at: float, counts: Counter[str], seed: int) -> None:
    from mcp import Client

    rng = random.Random(seed)
    tools = [("get_trading_signals", {"symbol": "AAPL", "limit": 50}), ("get_real_time_data", {}),
             ("get_jump_events", {"limit": 50}), ("get_symbol_metrics", {"symbol": "MSFT", "limit": 20})]  # fmt: skip
    try:
        async with Client(f"{url}/mcp") as client:
            while time.monotonic() < stop_at:
                name, arguments = rng.choice(tools)
                try:
                    result = await client.call_tool(name, arguments)
                    status = "tool error" if result.is_error else "ok"
                except Exception as exc:  # noqa: BLE001 - counted by kind
                    status = f"client error {type(exc).__name__}"
                counts[f"sdk {name}\t{status}"] += 1
    except Exception as exc:  # noqa: BLE001 - a session that cannot start is counted
        counts[f"sdk session\tfailed {type(exc).__name__}"] += 1


def run_load(url: str, clients: int, seconds: float, bad_share: float, chart_weight: float, newest_ns: int,
             out: Any) -> None:  # fmt: skip
    """Load-generator process: ``clients`` closed-loop clients for ``seconds``; send the counts to ``out``."""
    importlib.import_module("mcp")  # imported before the clock starts (seconds on a busy box)

    calls, bad = good_requests(newest_ns), bad_requests(newest_ns)
    counts: Counter[str] = Counter()

    async def main() -> None:
        stop_at = time.monotonic() + seconds
        sdk = min(SDK_SESSIONS, clients)
        tasks = [_sdk_client(url, stop_at, counts, i) for i in range(sdk)]
        tasks += [_http_client(url, calls, bad, bad_share, chart_weight, stop_at, counts, i)
                  for i in range(clients - sdk)]  # fmt: skip
        await asyncio.gather(*tasks)

    asyncio.run(main())
    out.send(dict(counts))


def run_beyond_cap(url: str, clients: int, seconds: float, out: Any) -> None:
    """Load-generator process: ``clients`` clients, one connection each, honouring ``Retry-After``."""
    counts: Counter[str] = Counter()
    refused_clients: set[int] = set()

    async def one(i: int, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            async with _client(url) as client:
                while time.monotonic() < stop_at:
                    try:
                        answer = await client.get("/api/v1/real-time-data", params={"symbol": SYMBOLS[i % 4]})
                    except httpx.HTTPError as exc:
                        counts[f"client error {type(exc).__name__}"] += 1
                        break
                    retry = answer.headers.get("retry-after")
                    counts[f"{answer.status_code}" + (" with Retry-After" if retry else "")] += 1
                    if answer.status_code == 503:
                        refused_clients.add(i)
                        await asyncio.sleep(float(retry or 1))
                        break  # the server closed the connection: a new one

    async def main() -> None:
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(one(i, stop_at) for i in range(clients)))

    asyncio.run(main())
    counts["clients refused at least once"] = len(refused_clients)
    out.send(dict(counts))


def run_prober(url: str, stop: Any, out: Any) -> None:
    """Prober process: ``GET /health`` every 20 ms on one keep-alive connection; send the latencies (s)."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                statuses[str(client.get("/health").status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[f"client error {type(exc).__name__}"] += 1
            latencies.append(time.perf_counter() - started)
            stop.wait(0.02)
    out.send((latencies, dict(statuses)))


# --- measurement -----------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def probe_health(url: str, seconds: float | None, during: Any = None) -> tuple[list[float], dict[str, int]]:
    """Run the prober process for ``seconds``, or while ``during()`` runs; return its latencies and statuses."""
    stop = mp.Event()
    receive, send = mp.Pipe(duplex=False)
    prober = mp.Process(target=run_prober, args=(url, stop, send))
    prober.start()
    if during is not None:
        during()
    else:
        time.sleep(seconds or 0)
    stop.set()
    result = receive.recv()
    prober.join()
    return result


def warm_up(url: str, newest_ns: int) -> None:
    """Send each request once, so that first-call costs (imports, DuckDB's first reads) are not counted as growth."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for _, method, path, body, params in [*good_requests(newest_ns), *bad_requests(newest_ns)]:
            if params and "host" in params:
                continue
            client.request(method, path, content=body, params=params,
                           headers={**ACCEPT, "Content-Type": "application/json"})  # fmt: skip


def _in_process(target: Any, *args: Any) -> dict[str, int]:
    receive, send = mp.Pipe(duplex=False)
    worker = mp.Process(target=target, args=(*args, send))
    worker.start()
    counts = receive.recv()
    worker.join()
    return counts


class RssSampler:
    """Samples a process's RSS every half second in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_bytes(self.pid))
            self._stop.wait(0.5)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _status_table(counts: dict[str, int]) -> tuple[str, Counter[str]]:
    by_kind: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for key, n in counts.items():
        label, status = key.split("\t")
        kind = label if label.startswith("bad ") else label.split(" ")[0]
        by_kind.setdefault(kind, Counter())[status] += n
        totals[status] += n
    lines = ["| requests | answers (status: count) | total |", "|---|---|---|"]
    for kind in sorted(by_kind, key=lambda k: (k.startswith("bad "), k)):
        answers = ", ".join(f"{s}: {n:,}" for s, n in sorted(by_kind[kind].items()))
        lines.append(f"| {kind} | {answers} | {sum(by_kind[kind].values()):,} |")
    return "\n".join(lines), totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--bad", type=float, default=0.05, help="share of forged or oversized requests")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of /health alone")
    parser.add_argument("--beyond", type=int, default=50, help="clients beyond MCP_MAX_CONNECTIONS (256)")
    parser.add_argument("--beyond-seconds", type=float, default=15.0)
    parser.add_argument("--chart-weight", type=float, default=CHART_WEIGHT,
                        help="how often a chart is asked for relative to another call")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)

    db = DATA / "load_fixture.duckdb"
    facts = fixture_database(db)
    load_start = report.load_average()
    date = report.now_utc()
    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server = start_server(db, logs)
    try:
        rss_started = rss_bytes(server.process.pid)
        warm_up(server.url, facts["newest_ns"])
        alone, alone_status = probe_health(server.url, args.baseline)
        rss_before = rss_bytes(server.process.pid)
        with RssSampler(server.process.pid) as rss:
            holder: dict[str, dict[str, int]] = {}
            loaded, loaded_status = probe_health(server.url, None, during=lambda: holder.setdefault("counts", _in_process(
                run_load, server.url, args.clients, args.seconds, args.bad, args.chart_weight, facts["newest_ns"])))  # fmt: skip
        rss_after = rss_bytes(server.process.pid)
        threads = len(os.listdir(f"/proc/{server.process.pid}/task"))
        cache_bytes = metric(server.url, "microstructure_response_cache_bytes")
        closed_by_limits = limited(server.url)
        load_mid = report.load_average()
        refused_before = metric(server.url, 'microstructure_http_limited_total{reason="over_capacity"}')
        beyond = _in_process(run_beyond_cap, server.url, 256 + args.beyond, args.beyond_seconds)
        refused = metric(server.url, 'microstructure_http_limited_total{reason="over_capacity"}') - refused_before
    finally:
        server.stop()
    load_end = report.load_average()

    table, totals = _status_table(holder["counts"])
    answered = sum(totals.values())
    server_errors = {s: n for s, n in totals.items() if s[:1] == "5"}
    client_errors = {s: n for s, n in totals.items() if s.startswith("client error")}
    growth = (rss_after - rss_before) / 2**20
    peak = (max(rss.samples) - rss_before) / 2**20
    h_alone = (_percentile(alone, 0.5), _percentile(alone, 0.99))
    h_load = (_percentile(loaded, 0.5), _percentile(loaded, 0.99))
    beyond_5xx = {s: n for s, n in beyond.items() if s[:1] == "5"}
    body = f"""`.venv/bin/python -m bench.bench_load` (bench/bench_load.py), {date}.

- Machine: {report.machine()}; load average (1/5/15 min) at the start {load_start}, after the load {load_mid}, at the end {load_end} (the box is shared with other work; the load generator and the prober run beside the server on the same 2 cores)
- {report.versions("duckdb", "mcp", "fastapi", "uvicorn", "httptools", "uvloop", "httpx")}
- Database: the tests' fixture size, `bench/data/load_fixture.duckdb`: {facts['trades']:,} synthetic trades over 1.5 days, {facts['bars']:,} one-minute bars with signals, file {facts['bytes'] / 2**20:.0f} MiB; windows end at its newest trade
- Server: `microstructure serve` ({revision()}) with default settings (`MCP_MAX_CONNECTIONS=256`, `MCP_WORKER_THREADS=4`, `MCP_HEALTH_MAX_AGE_MS=1000`, response cache on, 64 MiB)
- Load: {args.clients} closed-loop clients for {args.seconds:.0f} s in one asyncio process, each on its own keep-alive connection, no pause: {args.clients - SDK_SESSIONS} send every read tool and `query` on the MCP short path (`tools/call` POSTed to `/mcp`) and their REST mirrors (4 symbols, explicit 6-hour windows; charts of 120 bars, drawn {args.chart_weight:g} times as often as another call) with {args.bad:.0%} of requests forged or oversized; {SDK_SESSIONS} are MCP SDK sessions (`mcp.Client`, `call_tool` in a loop)
- `/health` prober: its own process, one keep-alive connection, a request every 20 ms: {args.baseline:.0f} s alone first (the baseline, same server, same run), then during the load

{table}

- Answered: {answered:,} requests in {args.seconds:.0f} s ({answered / args.seconds:,.0f}/s); 5xx: {server_errors or 'none'}; client-side errors: {client_errors or 'none'}; connections the server refused or closed by a limit (`microstructure_http_limited_total`): {closed_by_limits or 'none'}
- Server RSS: {rss_started / 2**20:.0f} MiB started, {rss_before / 2**20:.0f} MiB after one call of each kind (imports, DuckDB's first reads) = before the load, {rss_after / 2**20:.0f} MiB after (growth {growth:+.0f} MiB, peak {peak:+.0f} MiB); {threads} threads in the server after the load; response cache {cache_bytes / 2**20:.1f} MiB by its own count

| `/health` | requests | statuses | p50 ms | p99 ms |
|---|---|---|---|---|
| alone (baseline) | {len(alone):,} | {alone_status} | {h_alone[0]:.2f} | {h_alone[1]:.2f} |
| under load | {len(loaded):,} | {loaded_status} | {h_load[0]:.2f} | {h_load[1]:.2f} |
| under load / alone | | | {h_load[0] / h_alone[0]:.1f}x | {h_load[1] / h_alone[1]:.1f}x |

Beyond the cap: {256 + args.beyond} clients (cap 256 + {args.beyond}), each on its own connection, `GET /api/v1/real-time-data` for {args.beyond_seconds:.0f} s; a client answered 503 waits its `Retry-After` and reconnects: {dict(sorted(beyond.items()))}; the server counted {refused:.0f} refusals apart (`microstructure_http_limited_total{{reason="over_capacity"}}`).

Targets (issue 15, point 6): no 5xx under load: {'met' if not server_errors else 'NOT met (' + str(server_errors) + ')'}; RSS growth ≤ 100 MiB: {'met' if growth <= 100 else 'NOT met'} ({growth:+.0f} MiB); `/health` p99 ≤ 100 ms: {'met' if h_load[1] <= 100 else 'NOT met'} ({h_load[1]:.1f} ms); beyond the cap 503 with `Retry-After` and nothing else 5xx: {'met' if beyond_5xx and set(beyond_5xx) == {'503 with Retry-After'} else 'NOT met (' + str(beyond_5xx) + ')'}.
"""
    report.publish(TITLE, body, write=not args.no_append)
    return 0


if __name__ == "__main__":
    sys.exit(main())
