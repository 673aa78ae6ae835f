"""The feed's frame decode: the typed whole-frame decode against the per-event reference, in one process.

``.venv/bin/python -m bench.bench_frame_decode [--seconds S] [--rate R] [--repeat N] [--no-write]``

The simulator's market (``SyntheticMarket``, 9 symbols, ``--rate`` trades/s and as many quotes) is advanced for
``--seconds`` of simulated time and its events are framed as the simulator frames them (100 events a frame,
compact JSON bytes). Each decoder then takes every frame (``add_frame``) and builds the batch's tables
(``take``), as the feed's drain does; the two alternate, ``--repeat`` times, and the best run of each is
reported, in µs of one core per event and per trade (one trade comes with one quote). Both must give the same
tables (checked). Writes the section "## Frame decode of the feed (issue 14)" of ``BENCHMARKS.md``. Timings
print, never assert.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import orjson

from bench import report
from ingest.frame_decode import FastFrameBatch
from ingest.normalize import FrameBatch
from ingest.synthetic_market import SyntheticMarket

TITLE = "Frame decode of the feed (issue 14)"
START_NS = 1_712_325_600_000_000_000  # 2024-04-05 14:00 UTC, mid-session
STEP_NS = 50_000_000  # the simulator advances its market every 50 ms
EVENTS_PER_FRAME = 100


def simulated_frames(rate: float, seconds: float) -> tuple[list[bytes], int, int]:
    """Frames of the simulator's events over ``seconds``; return them, the events and the trades."""
    market = SyntheticMarket(9, rate)
    market.advance(START_NS)
    events = []
    for k in range(1, int(seconds * 1e9 / STEP_NS) + 1):
        events += market.advance(START_NS + k * STEP_NS)
    frames = [orjson.dumps(events[k:k + EVENTS_PER_FRAME]) for k in range(0, len(events), EVENTS_PER_FRAME)]
    return frames, len(events), sum(e["ev"] in ("T", "XT") for e in events)


def decode(cls: type[FrameBatch], frames: list[bytes]) -> tuple[float, object]:
    """Seconds of CPU time ``cls`` takes over ``frames`` (add every frame, then take), and what it took."""
    batch = cls("sim")
    started = time.process_time()
    for k, frame in enumerate(frames):
        batch.add_frame(frame, START_NS + k)
    out = batch.take()
    return time.process_time() - started, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_frame_decode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20_000.0, help="SIM_RATE of the simulated market")
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds of events")
    parser.add_argument("--repeat", type=int, default=5, help="alternated runs of each decoder (best kept)")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    frames, n_events, n_trades = simulated_frames(args.rate, args.seconds)
    load_before = os.getloadavg()[0]
    best = {"reference": float("inf"), "typed": float("inf")}
    outs = {}
    for _ in range(args.repeat):
        for name, cls in (("reference", FrameBatch), ("typed", FastFrameBatch)):
            seconds, outs[name] = decode(cls, frames)
            best[name] = min(best[name], seconds)
    ref, typed = outs["reference"], outs["typed"]
    same = ref.trades.equals(typed.trades) and ref.quotes.equals(typed.quotes)  # type: ignore[attr-defined]
    load_after = os.getloadavg()[0]
    us = {name: 1e6 * s / n_events for name, s in best.items()}
    ratio = best["reference"] / best["typed"]
    print(f"{n_events:,} events ({n_trades:,} trades) in {len(frames):,} frames: reference {us['reference']:.2f} µs an "
          f"event, typed {us['typed']:.2f} µs; {ratio:.1f}x; same tables: {same}; load {load_before:.1f} → "
          f"{load_after:.1f}")  # fmt: skip
    section = "\n".join([
        f"`.venv/bin/python -m bench.bench_frame_decode --rate {args.rate:g} --seconds {args.seconds:g} --repeat "
        f"{args.repeat}` (bench/bench_frame_decode.py), {report.now_utc()}. The simulator's events ({n_events:,}: "
        f"{n_trades:,} trades and their quotes, 9 symbols) in {len(frames):,} frames of {EVENTS_PER_FRAME} events; "
        "each decoder adds every frame and takes the batch's tables, as the feed's drain does; alternated, best of "
        f"{args.repeat}, CPU time of one core (`time.process_time`).",
        "",
        f"- Machine: {report.machine()}; load average {load_before:.1f} → {load_after:.1f} (1 min, before → after)",
        f"- {report.versions('msgspec', 'orjson', 'pyarrow')}",
        "",
        "| decoder | µs an event | µs a trade (with its quote) | events/s of one core | vs reference |",
        "|---|---|---|---|---|",
        f"| reference `FrameBatch` (orjson, then Python per event) | {us['reference']:.2f} | "
        f"{2 * us['reference']:.2f} | {1e6 / us['reference']:,.0f} | 1.00x |",
        f"| typed `FastFrameBatch` (msgspec per frame, Arrow at take) | {us['typed']:.2f} | {2 * us['typed']:.2f} | "
        f"{1e6 / us['typed']:,.0f} | {ratio:.2f}x |",
        "",
        f"Same tables from both: {same}.",
    ])  # fmt: skip
    report.publish(TITLE, section + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
