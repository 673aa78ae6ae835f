"""What the stdio bridge adds to a tool call: stdio client -> ``serve --transport stdio`` -> the owner's ``/mcp``.

Run ``.venv/bin/python -m bench.bench_owner [--requests 300]``:

1. starts ``microstructure up --simulate --roles stream,transform,serve`` on a fresh DuckDB file in a temporary
   directory (``SIM_HISTORY_DAYS`` 1, response cache off: ``MCP_RESPONSE_CACHE_MS=0``, so every call runs its
   query) and waits for its runtime file and a healthy ``/health``;
2. times ``tools/call get_trading_signals(symbol, limit=100)`` sequentially, alternating in rounds of 20:
   POSTed straight to the owner's ``/mcp`` on one keep-alive client (the baseline), and written as a JSON-RPC
   line to a ``serve --transport stdio`` process bridged to the owner, reading its answer line;
3. prints p50/p99 and the ratio to the baseline, and replaces its section of ``BENCHMARKS.md``
   (``--no-append`` to leave it).

It prints and never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import load_average, machine, now_utc, publish, versions

TITLE = "stdio bridge to the owner (issue 14)"
CALL = {"name": "get_trading_signals", "arguments": {"symbol": "AAPL", "limit": 100}}
EXECUTABLE = str(Path(sys.executable).with_name("microstructure"))


def _start_owner(workdir: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    env = {**os.environ, "DUCKDB_PATH": str(workdir / "bench.duckdb"), "MCP_PORT": "0", "SIM_PORT": "0",
           "SIM_HISTORY_DAYS": "1", "MCP_RESPONSE_CACHE_MS": "0", "KAFKA_BOOTSTRAP_SERVERS": "",
           "SESSION_STOCKS": "00:00-24:00 UTC"}  # fmt: skip
    log = (workdir / "up.log").open("w")
    owner = subprocess.Popen([EXECUTABLE, "up", "--simulate", "--roles", "stream,transform,serve"], env=env,
                             stdout=log, stderr=log, cwd=workdir)  # fmt: skip
    runtime = workdir / "bench.duckdb.owner.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and owner.poll() is None:
        if runtime.exists():
            url = json.loads(runtime.read_text())["url"]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return owner, url, env
            except httpx.TransportError:
                pass
        time.sleep(0.5)
    owner.kill()
    raise SystemExit("the owner did not become healthy:\n" + (workdir / "up.log").read_text()[-3000:])


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="calls per path (default 300)")
    parser.add_argument("--no-append", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    started, load = now_utc(), load_average()
    with tempfile.TemporaryDirectory() as tmp:
        owner, url, env = _start_owner(Path(tmp))
        bridge: subprocess.Popen[bytes] = subprocess.Popen(
            [EXECUTABLE, "serve", "--transport", "stdio"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)  # fmt: skip
        client = httpx.Client(headers={"accept": "application/json, text/event-stream"}, timeout=30)
        direct: list[float] = []
        bridged: list[float] = []
        try:
            def via_http(number: int) -> None:
                client.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": number, "method": "tools/call",
                                                "params": CALL}).raise_for_status()  # fmt: skip

            def via_bridge(number: int) -> None:
                line = json.dumps({"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": CALL})
                bridge.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
                bridge.stdin.flush()  # type: ignore[union-attr]
                answer = json.loads(bridge.stdout.readline())  # type: ignore[union-attr]
                if answer.get("id") != number or "result" not in answer:
                    raise SystemExit(f"the bridge answered {answer}")

            for number in range(20):  # warm-up of both paths
                via_http(number)
                via_bridge(number)
            number = 100
            while len(direct) < args.requests:
                for path, samples in ((via_http, direct), (via_bridge, bridged)):
                    for _ in range(20):
                        number += 1
                        began = time.perf_counter()
                        path(number)
                        samples.append(time.perf_counter() - began)
        finally:
            client.close()
            bridge.stdin.close()  # type: ignore[union-attr]
            bridge.wait(30)
            owner.send_signal(signal.SIGTERM)
            owner.wait(60)
    (d50, d99), (b50, b99) = _percentiles(direct), _percentiles(bridged)
    body = f"""`.venv/bin/python -m bench.bench_owner --requests {args.requests}` (bench/bench_owner.py), {started}.

- Machine: {machine()}; load average at the start {load}
- {versions("mcp", "httpx2", "duckdb", "uvicorn")}

A running `up --simulate --roles stream,transform,serve` (1 day of simulated history, live feed, transform
every second, response cache off) owns the file. `tools/call get_trading_signals(symbol="AAPL", limit=100)`,
{len(direct)} sequential calls per path, alternating in rounds of 20:

| path | p50 ms | p99 ms | p50 vs direct |
|---|---|---|---|
| JSON-RPC POST straight to the owner's `/mcp` (baseline) | {d50:.2f} | {d99:.2f} | 1.00x |
| one line on stdin of `serve --transport stdio`, bridged to the owner | {b50:.2f} | {b99:.2f} | {b50 / d50:.2f}x |

The bridge adds p50 {b50 - d50:.2f} ms per call (its own HTTP hop, JSON parse and line write)."""
    publish(TITLE, body, write=not args.no_append)


if __name__ == "__main__":
    main()
