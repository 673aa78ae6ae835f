"""Where the server's memory goes under ``bench_load``'s mix: RSS beside DuckDB's, Python's and glibc's own counts.

Run ``.venv/bin/python -m bench.bench_load_memory [--clients 200] [--seconds 20] [--workers 40 4] [--no-append]``.

Each ``--workers`` value (``MCP_WORKER_THREADS``; 40 is anyio's default, what the server had before the
setting) is measured in a fresh process of its own, one after the other, and the results are printed as a
table and written to BENCHMARKS.md. In that process the server runs in-process (the same ``http_config`` as ``serve``, on the same fixture file), so its
DuckDB instance can be asked for ``duckdb_memory()`` (the analyst SQL guard refuses that function over HTTP)
and glibc for ``mallinfo2()``; ``tracemalloc`` traces Python's allocations during the load. The load is
``bench_load``'s generator in its own process. One call of each kind is made first, as ``bench_load`` does.
Prints, never asserts.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from typing import Any

import uvicorn

from bench import bench_load as load
from bench import report
from server.http_server import http_config
from server.listen import bind_listener
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

MIB = 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]  # fmt: skip


def glibc_heap() -> dict[str, float]:
    """glibc's heap in MiB: ``held`` (arenas and mmapped blocks), ``in use`` and ``free`` (held, not returned)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {"held": (info.arena + info.hblkhd) / MIB, "in use": (info.uordblks + info.hblkhd) / MIB,
            "free": info.fordblks / MIB}  # fmt: skip


def duckdb_memory(storage: DuckDBStorage) -> float:
    """MiB DuckDB's buffer manager accounts for (``duckdb_memory()``), all tags together."""
    cursor = storage._root.cursor()  # noqa: SLF001 - a bench looks inside
    try:
        return float(cursor.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]) / MIB  # type: ignore[index]
    finally:
        cursor.close()


def snapshot(storage: DuckDBStorage) -> dict[str, Any]:
    return {"rss": load.rss_bytes(os.getpid()) / MIB, "duckdb": duckdb_memory(storage), "glibc": glibc_heap(),
            "threads": threading.active_count()}  # fmt: skip


def measure(clients: int, seconds: float, workers: int) -> dict[str, Any]:
    """Serve the fixture file in this process with ``workers`` threads, load it, return the memory counts."""
    db = load.DATA / "load_fixture.duckdb"
    facts = load.fixture_database(db)
    settings = Settings(duckdb_path=db, mcp_port=load.free_port(), session_stocks=load.DAY_SESSION,  # type: ignore[call-arg]
                        mcp_worker_threads=workers)  # fmt: skip
    storage = DuckDBStorage.open(settings, read_only=True)
    server = uvicorn.Server(http_config(settings, storage))
    listener = bind_listener("127.0.0.1", settings.mcp_port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{settings.mcp_port}"
    try:
        load.warm_up(url, facts["newest_ns"])
        tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
        before = snapshot(storage)
        counts = load._in_process(load.run_load, url, clients, seconds, 0.05, load.CHART_WEIGHT, facts["newest_ns"])
        after = snapshot(storage)
        python_growth = (tracemalloc.get_traced_memory()[0] - traced_before) / MIB
    finally:
        server.should_exit = True
        thread.join(30)
        storage.close()
    return {"workers": workers, "requests": sum(counts.values()), "before": before, "after": after,
            "python": python_growth, "load": report.load_average()}  # fmt: skip


def _row(r: dict[str, Any]) -> str:
    b, a = r["before"], r["after"]
    glibc = "; ".join(f"{k} {a['glibc'][k] - b['glibc'][k]:+.1f}" for k in ("held", "in use", "free"))
    return (f"| {r['workers']} | {r['requests']:,} | {b['threads']} → {a['threads']} | {b['rss']:.0f} → {a['rss']:.0f} "
            f"(**{a['rss'] - b['rss']:+.1f}**) | {b['duckdb']:.1f} → {a['duckdb']:.1f} | {r['python']:+.1f} | {glibc} "
            f"| {(a['rss'] - b['rss']) - (a['glibc']['held'] - b['glibc']['held']):+.1f} | {r['load']} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[40, 4], help="MCP_WORKER_THREADS values")
    parser.add_argument("--one", action="store_true", help="measure one --workers value here, print JSON")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.clients, args.seconds, args.workers[0])))
        return 0
    date, load_start = report.now_utc(), report.load_average()
    results = []
    for workers in args.workers:  # a fresh process each: memory a run leaves behind is not the next one's
        done = subprocess.run([sys.executable, "-m", "bench.bench_load_memory", "--one", "--workers", str(workers),
                               "--clients", str(args.clients), "--seconds", str(args.seconds)],
                              capture_output=True, text=True, check=True, cwd=load.ROOT)  # fmt: skip
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    rows = "\n".join(_row(r) for r in results)
    body = f"""`.venv/bin/python -m bench.bench_load_memory` (bench/bench_load_memory.py), {date}.

- Machine: {report.machine()}; load average at the start {load_start} (shared box; the load generator runs beside the server on the same 2 cores)
- {report.versions("duckdb", "uvicorn", "anyio")}
- The server in the measuring process (same `http_config` as `serve`, fixture file `bench/data/load_fixture.duckdb`), one call of each kind first; then {args.clients} closed-loop clients of `bench_load` for {args.seconds:.0f} s (5 % forged or oversized). Counts after the load minus before it; MiB.

| MCP_WORKER_THREADS | requests | threads | RSS | DuckDB `duckdb_memory()` | Python objects (tracemalloc) | glibc heap (mallinfo2) | RSS outside glibc's heap (stacks, other allocators) | load average at the end |
|---|---|---|---|---|---|---|---|---|
{rows}

DuckDB's buffer manager holds no more after the load than before and Python's objects grow by under 1 MiB:
the growth is native memory. Part is glibc's heap, most of it memory glibc keeps as free (fragmented, not
returned to the system); the rest is outside glibc's count: thread stacks and allocators glibc does not see
(DuckDB's allocations while a query runs among them; not measured apart here). Each worker thread adds a
stack, a glibc arena and a DuckDB cursor, so fewer of them (`MCP_WORKER_THREADS`) grow less; what remains
is not in this project's Python objects.
"""
    report.publish("Server memory under load: where RSS growth goes (issue 15)", body, write=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
