"""The simulator's CPU per event: its market advanced and its frames cut and deflated, this tree against another.

Run ``.venv/bin/python -m bench.bench_simulator [--sim-rate 34032] [--seconds 10] [--repeat 3] [--baseline PATH]``.
For each code (this tree, and with ``--baseline`` the checkout at PATH, e.g. ``git archive main`` unpacked),
alternately, a fresh process (``PYTHONPATH`` = that code) does what ``microstructure simulate`` does every
50 ms for ``--seconds`` of the market, with one connection per market subscribed to everything (the demo's
feeds): it advances ``SyntheticMarket(seed, SIM_RATE)`` (default symbols, 24-hour days) to the step's end and
hands the events to that code's own ``PolygonSimulator._publish`` (frames of 100 events, queued), then
deflates each frame as the connection would (permessage-deflate, zlib level 1, 12-bit window, memLevel 5,
context kept). The market starts at ``--start`` (UTC, default 2026-12-05 02:00, where SIM_RATE 34,032 offers
~50k trades/s); 1 s of steps first to warm up. Reported: CPU time of the process (``time.process_time``) per
event (trades and quotes alike) and per trade offered, split into market + frames and deflate, best of
``--repeat``; the socket writes and the event loop are left out (the same in both codes). Like every bench here
it prints and never asserts, and replaces its section of ``BENCHMARKS.md`` (``--no-write`` to leave it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import report

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Simulator: CPU per event"
STEP_NS = 50_000_000
NS = 1_000_000_000


async def _run(sim_rate: float, seconds: float, start_ns: int) -> dict[str, Any]:
    """One code's measurement, in this process (``--worker``)."""
    from ingest.simulator import PolygonSimulator, _Client
    from ingest.synthetic_market import SyntheticMarket

    market = SyntheticMarket(7, sim_rate)
    sim = PolygonSimulator(market, max_events_per_frame=100)
    clients = [_Client(ws=None, market=m, queue=asyncio.Queue(),  # type: ignore[arg-type]
                       subs={c: {"*"} for c in chans})
               for m, chans in (("stocks", ("T", "Q")), ("crypto", ("XT", "XQ")))]
    sim._clients.update(clients)
    advance = getattr(sim, "_advance", market.advance)  # this tree: encoded batches; before: dicts
    deflaters = [zlib.compressobj(1, zlib.DEFLATED, -12, 5) for _ in clients]
    market.advance(start_ns)
    totals = {"events": 0, "trades": 0, "frames": 0, "raw_bytes": 0, "deflated_bytes": 0,
              "publish_s": 0.0, "deflate_s": 0.0}
    warm = int(NS // STEP_NS)
    steps = int(seconds * NS // STEP_NS)
    for k in range(1, warm + steps + 1):
        t0 = time.process_time()
        events = advance(start_ns + k * STEP_NS)
        await sim._publish(events)
        t1 = time.process_time()
        frames = []
        for client, deflater in zip(clients, deflaters, strict=True):
            while not client.queue.empty():
                frame = client.queue.get_nowait()
                frames.append(frame)
                deflater.compress(frame if isinstance(frame, bytes) else frame.encode())
                deflater.flush(zlib.Z_SYNC_FLUSH)
        t2 = time.process_time()
        if k > warm:
            totals["publish_s"] += t1 - t0
            totals["deflate_s"] += t2 - t1
            totals["events"] += len(events)
            totals["frames"] += len(frames)
            totals["raw_bytes"] += sum(len(f) for f in frames)
            for frame in frames:
                text = frame if isinstance(frame, bytes) else frame.encode()
                totals["trades"] += text.count(b'"ev":"T"') + text.count(b'"ev":"XT"')
    return totals


def _worker(args: argparse.Namespace) -> int:
    start_ns = int(datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc).timestamp()) * NS
    print(json.dumps(asyncio.run(_run(args.sim_rate, args.seconds, start_ns))))
    return 0


def measure(code: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one worker with ``code`` first on the path; return its totals."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(  # this file run as a script: the worker imports only ``code``'s packages
        [sys.executable, str(Path(__file__).resolve()), "--worker", "--sim-rate", str(args.sim_rate),
         "--seconds", str(args.seconds), "--start", args.start],
        cwd=code, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sim-rate", type=float, default=34_032.0, help="SIM_RATE of the market")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of the market measured")
    parser.add_argument("--start", default="2026-12-05T02:00:00", help="UTC time the market starts at")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    codes = [("this tree", ROOT)] + ([(f"baseline {args.baseline}", args.baseline)] if args.baseline else [])
    load_before = os.getloadavg()[0]
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.repeat):
        for label, code in codes:
            run = measure(code, args)
            run["total_s"] = run["publish_s"] + run["deflate_s"]
            print(f"{label}: {run['events']:,} events, market + frames {1e6 * run['publish_s'] / run['events']:.2f} "
                  f"µs an event, deflate {1e6 * run['deflate_s'] / run['events']:.2f} µs")
            if label not in best or run["total_s"] < best[label]["total_s"]:
                best[label] = run
    load_after = os.getloadavg()[0]
    rows = []
    first = best["this tree"]
    for label, _ in codes:
        r = best[label]
        per = {key: 1e6 * r[key] / r["events"] for key in ("publish_s", "deflate_s", "total_s")}
        ratio = (first["total_s"] / first["events"]) / (r["total_s"] / r["events"])
        rows.append(
            f"| {label} | {r['events']:,} | {r['events'] / args.seconds:,.0f} | {r['trades'] / args.seconds:,.0f} | "
            f"{per['publish_s']:.2f} | {per['deflate_s']:.2f} | {per['total_s']:.2f} | "
            f"{per['total_s'] * r['events'] / r['trades']:.2f} | {r['raw_bytes'] / r['events']:.1f} | "
            f"{ratio:.2f}x |")
    section = "\n".join([
        f"`.venv/bin/python -m bench.bench_simulator --sim-rate {args.sim_rate:g} --seconds {args.seconds:g} "
        f"--repeat {args.repeat}{f' --baseline {args.baseline}' if args.baseline else ''}` (bench/bench_simulator.py), "
        f"{report.now_utc()}. What `microstructure simulate` spends per event at the demo's rate, apart from the "
        f"socket: the market advanced every 50 ms from {args.start} UTC (seed 7, the 9 default symbols), its events "
        "handed to each code's own `PolygonSimulator._publish` (one connection per market subscribed to everything, "
        "frames of 100 events), each frame deflated as permessage-deflate at level 1 would; each code in its own "
        f"process, alternated, best of {args.repeat}; CPU time of one process (`time.process_time`).",
        "",
        f"- Machine: {report.machine()}; load average {load_before:.1f} → {load_after:.1f} (1 min, before → after)",
        f"- {report.versions('numpy', 'orjson', 'pyarrow')}",
        "",
        "| code | events | events/s of the market | trades/s offered | market + frames µs an event | deflate µs an "
        "event | total µs an event | total µs a trade offered | bytes an event (frames) | this tree vs it |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    report.publish(TITLE, section + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
