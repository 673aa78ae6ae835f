"""Timeline of one ``run_transform``: wall and thread CPU of each phase per thread (reads, computing, batch
building, each statement of the commit and of the parts written ahead into it, daily metrics and the read of their
trade half, the closing checkpoint), to see what runs serially.

Run: ``PYTHONPATH=TREE .venv/bin/python bench/transform_timeline.py DB [--symbols-per-commit N] [--groups] [--pieces]``
(``--pieces``: also the reads' parts, the bar liquidity's and realized rows' kernels, the batch's tables) on a file of
``bench_signals.build_file`` (a copy is transformed; ``DB`` stays as it is). ``TREE`` may be another code tree (e.g.
``git archive main`` unpacked): the phases are wrapped by name where that tree has them. Prints only; thread CPU
leaves out DuckDB's own threads (process CPU counts them).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path
from typing import Any

EVENTS: list[tuple[str, str, float, float, float]] = []  # thread, phase, start, end, thread CPU
_T0 = [0.0]


def _record(thread: str, phase: str, start: float, cpu: float) -> None:
    EVENTS.append((thread, phase, start - _T0[0], time.perf_counter() - _T0[0], time.thread_time() - cpu))


def _wrap(owner: Any, name: str, phase: str | None = None) -> None:
    """Record every call of ``owner.name`` (left alone when the tree has no such name)."""
    f = getattr(owner, name, None)
    if f is None:
        return

    @wraps(f)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return f(*args, **kwargs)
        finally:
            _record(threading.current_thread().name, phase or name, start, cpu)

    setattr(owner, name, timed)


class _TimedCursor:
    """A DuckDB cursor whose statements are recorded by their ``-- name:`` (or first word)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return self._cursor.execute(sql, *args, **kwargs)
        finally:
            name = next((line[8:].strip() for line in sql.splitlines() if line.startswith("-- name:")),
                        sql.strip().split()[0])
            _record(threading.current_thread().name, f"sql {name}", start, cpu)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--symbols-per-commit", type=int, default=100)
    parser.add_argument("--groups", action="store_true",
                        help="also print each read group's read and compute spans, and the parts written")
    parser.add_argument("--pieces", action="store_true",
                        help="also time the pieces of the reads, the bar liquidity and the realized rows (nested "
                             "in the phases above: their CPU is counted in those too)")
    args = parser.parse_args()
    import udx._commit_batch as commits
    import udx.state as state
    import udx.transform as transform
    import udx.warm as warm
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings

    cursor = DuckDBStorage._cursor
    DuckDBStorage._cursor = lambda self: _TimedCursor(cursor(self))  # type: ignore[method-assign]
    for name in ("load_states", "plan_realized", "_read_plan", "_compute_symbol", "_write_daily_metrics"):
        _wrap(transform, name)
    _wrap(commits.Batch, "add", "Batch.add")
    _wrap(commits.Batch, "commit", "Batch.commit")
    _wrap(state.SymbolState, "to_json", "SymbolState.to_json")
    _wrap(DuckDBStorage, "commit_signals")
    _wrap(transform, "_prepare_daily_metrics")
    _wrap(warm, "_load_cached", "load cached kernels")  # the thread udx.warm starts (named by the tree)
    _wrap(commits.Batch, "take", "Batch.take")
    _wrap(commits.Batch, "commit_in", "Batch.commit_in")
    import sql.duckdb_backend as backend
    transaction = getattr(backend, "SignalsTransaction", None)
    if transaction is not None:  # a tree that writes a chunk's read groups ahead into one transaction
        _wrap(transaction, "add", "SignalsTransaction.add")
        _wrap(transaction, "commit", "SignalsTransaction.commit")
        upsert = DuckDBStorage._upsert_signal_batches  # type: ignore[attr-defined]
        DuckDBStorage._upsert_signal_batches = (  # type: ignore[attr-defined]
            lambda self, cursor, batches: upsert(self, _TimedCursor(cursor), batches))
    if args.pieces:
        _wrap_pieces()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / args.db.name
        shutil.copy(args.db, copy)
        st = Settings(_env_file=None, duckdb_path=copy, session_stocks="00:00-24:00 UTC")  # type: ignore[call-arg]
        storage = DuckDBStorage.open(st)
        cpu0 = time.process_time()
        _T0[0] = time.perf_counter()
        summary = transform.run_transform(storage, st, symbols_per_commit=args.symbols_per_commit)
        wall, cpu = time.perf_counter() - _T0[0], time.process_time() - cpu0
        wal = copy.with_name(copy.name + ".wal")
        wal_mb = wal.stat().st_size / 1e6 if wal.exists() else 0.0
        start = time.perf_counter()
        storage.close()
        closing = time.perf_counter() - start
    print(f"{transform.__file__}: {summary}")
    print(f"run wall {wall:.3f} s, process CPU {cpu:.3f} s; write-ahead log before close {wal_mb:.1f} MB; "
          f"close (checkpoint) {closing:.3f} s")
    phases: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, float("inf"), 0.0])
    for thread, phase, a, b, c in EVENTS:
        p = phases[(thread.rsplit("_", 1)[0], phase)]
        p[0] += 1
        p[1] += b - a
        p[2] += c
        p[3] = min(p[3], a)
        p[4] = max(p[4], b)
    print(f"{'thread':20s} {'phase':34s} {'calls':>5s} {'wall s':>7s} {'cpu s':>6s}  from-to (s after the start)")
    for (thread, phase), (n, w, c, a, b) in sorted(phases.items(), key=lambda kv: kv[1][3]):
        print(f"{thread:20s} {phase:34s} {n:5.0f} {w:7.3f} {c:6.3f}  {a:6.3f}-{b:6.3f}")
    computed = [b for _, phase, _, b, _ in EVENTS if phase == "_compute_symbol"]
    if computed:
        print(f"serial tail after the last symbol computed: {wall - max(computed):.3f} s of {wall:.3f} s")
    if args.groups:
        _print_groups(transform)


#: ``module: names`` timed by ``--pieces`` where the tree has them (each name as the module calls it).
PIECES = {
    "udx._chunk_read": ("read_chunk", "read_quotes", "arrays_of"),
    "sql.duckdb_backend": ("symbol_arrays", "order_stored"),
    "sql.stored_order": ("stored_runs",),
    "udx.transform": ("valid_prints", "process_symbol", "signed_liquidity_columns", "_realized_rows"),
    "udx.liquidity_step": ("prevailing_quotes", "lee_ready", "liquidity_bars", "roll_bars", "kyle_bars",
                           "vpin_lee_ready_step", "amihud"),
    "udx.realized_step": ("shared_signing", "prevailing_quotes", "lee_ready", "realized_trades", "realized_bars",
                          "tick_states_after", "_starts"),
    "udx._commit_batch": ("_liquidity_table", "_signals_table"),
}


def _wrap_pieces() -> None:
    """Time the :data:`PIECES` (phase ``module.name``) and the DuckDB reads of trades and quotes."""
    import importlib

    from sql.duckdb_backend import DuckDBStorage
    for module, names in PIECES.items():
        owner = importlib.import_module(module)
        for name in names:
            _wrap(owner, name, f"{module.rsplit('.', 1)[-1]}.{name}")
    for name in ("read_quote_arrays", "_quote_arrays", "read_trades_many"):
        _wrap(DuckDBStorage, name, f"DuckDBStorage.{name}")


def _print_groups(transform: Any) -> None:
    """Per read group (in order): when its read ran, when its symbols computed (first start, last end) and the
    compute threads' busy time in it; then each write on the commit thread. A group whose compute starts when its
    read ends waited for the reader; a read that ends long before waited for the compute."""
    events = sorted(EVENTS, key=lambda e: e[2])
    reads = [e for e in events if e[1] == "_read_plan"]
    computes = [e for e in events if e[1] == "_compute_symbol"]
    first, size = getattr(transform, "_FIRST_READ_SYMBOLS", 0), getattr(transform, "_READ_SYMBOLS", 0)
    if not first or not size or len(reads) < 1:
        return
    bounds = [0, *range(first, len(computes), size), len(computes)]  # one chunk: groups of _read_groups
    print(f"{'group':>5s} {'symbols':>7s} {'read from-to':>15s} {'compute from-to':>15s} {'busy s':>7s}")
    for g, (a, b) in enumerate(zip(bounds, bounds[1:])):
        part = computes[a:b]
        read = f"{reads[g][2]:6.3f}-{reads[g][3]:6.3f}" if g < len(reads) else ""
        print(f"{g:5d} {b - a:7d} {read:>15s} {min(e[2] for e in part):6.3f}-{max(e[3] for e in part):6.3f} "
              f"{sum(e[3] - e[2] for e in part):7.3f}")
    for thread, phase, a, b, _ in events:
        if thread.startswith("transform-commit") and not phase.startswith("sql"):
            print(f"  {phase:30s} {a:6.3f}-{b:6.3f}")


if __name__ == "__main__":
    main()
