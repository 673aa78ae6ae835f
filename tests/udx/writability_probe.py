"""Run the transform over markets that take its different read paths and print, as one JSON line, the argument
types each ``udx`` kernel was dispatched with in this process (numba's own record, ``Dispatcher.signatures``):
``{"module.kernel": [[flag, ...], ...]}``, one list per signature, one flag per argument: ``"ro"`` a read-only
array, ``"rw"`` a writable one, ``null`` not an array.

Run in a new process (``tests/udx/test_one_writability.py``): a process that called kernels before holds their
signatures already, and warming (:mod:`udx.warm`) would load every cached one. Argument: a scratch directory.

Paths taken (module docstring of :mod:`udx._chunk_read`): one read per symbol and one scan for many, trades and
quotes stored grouped by symbol and interleaved (put in order on the client), prints filtered out (a cancelled
correction, a non-positive price) or not, a symbol without quotes, a crypto pair (eligibility made, not read),
runs in pieces so states are carried (from the process's cache and, in a new storage, from the stored row),
realized spreads due from the signals' reads and deferred (read apart with heads), and a read of many rows
(DuckDB hands it over in more than one Arrow chunk).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from udx import warm

warm._started.set()  # no warming: each kernel loads at its first call, so a signature here is one called

from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket  # noqa: E402
from sql.duckdb_backend import DuckDBStorage  # noqa: E402
from sql.settings import Settings  # noqa: E402
from udx.transform import run_transform  # noqa: E402

NS = 10**9
BAR = 60
END = 1_750_000_000 * NS - (1_750_000_000 % BAR) * NS
STOCKS = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:3]
CRYPTO = tuple(s for s in DEFAULT_SYMBOLS if s.market == "crypto")[:1]


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=BAR,  # type: ignore[call-arg]
                    session_stocks="00:00-24:00 UTC", transform_lateness_seconds=0.0,
                    liquidity_horizon_seconds=120, garch_min_obs=50, acd_min_obs=50)


def _market(seed: int, hours: float, rate: float) -> tuple[pa.Table, pa.Table]:
    start = END - int(hours * 3600) * NS
    return SyntheticMarket(seed, rate, (*STOCKS, *CRYPTO), quote_dynamics=True).history(start, END)


def _filtered(trades: pa.Table) -> pa.Table:
    """Some prints no statistic may use: a cancelled correction, a zero price."""
    rng = np.random.default_rng(3)
    n = trades.num_rows
    bad = rng.random(n) < 0.01
    zero = rng.random(n) < 0.005
    correction = pc.if_else(pa.array(bad), pa.scalar(8, pa.int32()), trades["correction"])
    price = pc.if_else(pa.array(zero), pa.scalar(0.0), trades["price"])
    trades = trades.set_column(trades.schema.get_field_index("correction"), "correction", correction)
    return trades.set_column(trades.schema.get_field_index("price"), "price", price)


def _by_time(table: pa.Table) -> pa.Table:
    """The rows interleaved across symbols by time (as a live feed stores them)."""
    return table.take(pc.sort_indices(table, [("ts_ns", "ascending")]))


def _by_symbol(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, [("symbol", "ascending"), ("ts_ns", "ascending")]))


def _run_in_pieces(path: Path, trades: pa.Table, quotes: pa.Table, steps: int, reopen: bool) -> None:
    """Append the market up to ``steps`` bars before its end, then a bar at a time, running the transform after
    each (the last ones in the steady state: the realized spreads due are read apart, with heads); ``reopen``: a
    new storage (and so states read from their stored rows) every second run."""
    cuts = [int(pc.min(trades["ts_ns"]).as_py()), *(END - k * BAR * NS for k in range(steps, 0, -1)), END + 1]
    settings = _settings(path)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    try:
        for k, (lo, hi) in enumerate(zip(cuts, cuts[1:], strict=False)):
            for table, append in ((trades, storage.append_trades), (quotes, storage.append_quotes)):
                ts = table["ts_ns"]
                append(table.filter(pc.and_(pc.greater_equal(ts, int(lo)), pc.less(ts, int(hi)))))
            run_transform(storage, settings, now_ns=1)
            if reopen and k % 2 == 1:
                storage.close()
                storage = DuckDBStorage.open(settings)
    finally:
        storage.close()


#: How often each path was taken (the test checks every one was).
PATHS = dict.fromkeys(("prints filtered out", "read in two or more Arrow chunks", "heads joined in front",
                       "signed without quotes", "signed with quotes"), 0)


def _counting() -> None:
    """Count the paths taken, wrapping the functions that take them where the transform looks them up."""
    from udx import _chunk_read, transform

    valid, joined, heads, signed = (transform.valid_prints, _chunk_read._joined, transform.read_with_heads,
                                    transform.signed_liquidity_columns)

    def valid_prints(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        out = valid(*arrays)
        PATHS["prints filtered out"] += out[0].size < arrays[0].size
        return out

    def _joined(column: pa.ChunkedArray) -> np.ndarray:
        PATHS["read in two or more Arrow chunks"] += column.num_chunks > 1
        return joined(column)

    def read_with_heads(*args: object, **kwargs: object) -> object:
        PATHS["heads joined in front"] += bool(args[3])
        return heads(*args, **kwargs)

    def signed_liquidity_columns(*args: object) -> object:
        PATHS["signed with quotes" if args[7].ts.size else "signed without quotes"] += 1  # type: ignore[attr-defined]
        return signed(*args)

    transform.valid_prints, _chunk_read._joined = valid_prints, _joined
    transform.read_with_heads, transform.signed_liquidity_columns = read_with_heads, signed_liquidity_columns


def main(scratch: Path) -> None:
    _counting()
    trades, quotes = _market(5, 2.0, 20.0)
    no_quotes = STOCKS[-1].symbol  # a symbol whose quotes are never stored
    quotes = quotes.filter(pc.not_equal(quotes["symbol"], no_quotes))
    # grouped by symbol, clean prints, one run, then in pieces with states carried
    _run_in_pieces(scratch / "grouped.duckdb", _by_symbol(trades), _by_symbol(quotes), 0, False)
    _run_in_pieces(scratch / "pieces.duckdb", _by_symbol(trades), _by_symbol(quotes), 5, True)
    # interleaved by time (put in order on the client), prints filtered out, in pieces
    _run_in_pieces(scratch / "interleaved.duckdb", _by_time(_filtered(trades)), _by_time(quotes), 4, True)
    # many rows in one read: more than one Arrow chunk
    big_trades, big_quotes = _market(7, 1.0, 600.0)
    _run_in_pieces(scratch / "big.duckdb", _by_time(_filtered(big_trades)), _by_time(big_quotes), 1, False)
    from numba.core import types
    from numba.core.registry import CPUDispatcher

    kernels: dict[str, CPUDispatcher] = {}
    for name, module in list(sys.modules.items()):
        if name == "udx" or name.startswith("udx."):
            kernels.update((f"{v.py_func.__module__}.{k}", v) for k, v in vars(module).items()
                           if isinstance(v, CPUDispatcher) and v.py_func.__module__ == name)
    out = {}
    for label, d in sorted(kernels.items()):
        if d.signatures:
            out[label] = [
                [("rw" if t.mutable else "ro") if isinstance(t, types.Array) else None for t in sig]
                for sig in d.signatures]
    print(json.dumps({"kernels": out, "paths": PATHS}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
