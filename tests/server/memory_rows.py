"""Hand-written rows for the fast rule tests of the rows kept in memory (``test_*_memory_rules.py``,
``test_latest_rules.py``): ``trading_signals``, trades, ``bar_liquidity`` and ``bar_realized_spread`` rows written
straight to an empty DuckDB file (no transform: milliseconds a write), so that every case can be compared with the
named SQL queries over the same file.

The base market (:func:`base_signals`) is five symbols on the 60 s grid whose names sort differently in bytes and
case-insensitively (``AAPL < B < ZZ < a < ab``), with different bar counts and gaps, bars that end at the same
instant across symbols (the page order's tie on ``symbol DESC``), every signal type, and jumps of both signs and
sizes, one without a statistic and one without a return.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from conftest import small_settings
from sql.backend import SignalStateRow
from sql.contract import BAR_LIQUIDITY_SCHEMA, BAR_REALIZED_SPREAD_SCHEMA, SIGNALS_SCHEMA, TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage

__all__ = ["BAR", "NS", "SYMBOLS", "T0", "base_signals", "bar", "listener_failures", "liquidity", "open_copy", "realized",
           "realized_table", "signals", "states_of", "template", "trade", "trades"]

BAR = 60
NS = 1_000_000_000
T0 = 1_800_000_000 * NS  # 2027-01-15: a grid instant (divisible by 60 s)
SYMBOLS = ["AAPL", "B", "ZZ", "a", "ab"]
SIGNALS = ("HOLD", "BUY", "SELL", "HOLD", "HOLD")


def bar(symbol: str, end_ns: int, *, ret: float | None = 0.001, jump: bool = False, stat: float | None = 1.0,
        signal: str = "HOLD", close: float = 100.0, grid: int = BAR, tag: int = 0) -> dict[str, Any]:
    """One ``trading_signals`` row (:data:`sql.contract.SIGNALS_SCHEMA`); ``tag`` marks a rewrite (``n_trades``)."""
    return {"symbol": symbol, "bar_end_ns": end_ns, "bar_seconds": grid, "n_trades": 10 + tag, "volume": 500.0 + tag,
            "vwap": close, "close": close, "log_return": ret, "garch_sigma": 0.01, "standardized_return": 0.1,
            "lee_mykland_stat": stat, "jump_threshold": 4.0, "jump_detected": jump, "bns_stat": 0.5,
            "trade_intensity_zscore": 0.2, "conditional_duration": 1.1, "acd_surprise": 0.3, "vpin": 0.4,
            "vpin_cdf": 0.5, "trading_signal": signal, "signal_reason": f"reason {tag}", "computed_at_ns": 1}


def signals(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=SIGNALS_SCHEMA)


def states_of(rows: Sequence[dict[str, Any]]) -> list[SignalStateRow]:
    """The states a commit of ``rows`` stores: each symbol's (and grid's) newest bar end."""
    newest: dict[tuple[str, int], int] = {}
    for r in rows:
        key = (r["symbol"], r["bar_seconds"])
        newest[key] = max(newest.get(key, r["bar_end_ns"]), r["bar_end_ns"])
    return [SignalStateRow(s, g, end, "{}") for (s, g), end in sorted(newest.items())]


def base_signals() -> list[dict[str, Any]]:
    """The base market's bars (module docstring), deterministic."""
    rng = random.Random(7)
    rows = []
    counts = {"AAPL": 30, "B": 12, "ZZ": 25, "a": 3, "ab": 18}
    for k, (symbol, n) in enumerate(counts.items()):
        end = T0 + k * 2 * BAR * NS  # later symbols end later; their bars still overlap in time
        for i in range(n):
            end -= (1 + (i % 4 == 3) * 2) * BAR * NS  # a gap of two bars after every 4th
            ret = rng.choice([-0.02, -0.001, 0.0, 0.001, 0.03])
            jump = (i + k) % 4 == 0
            stat = None if (symbol, i) == ("ZZ", 2) else round(rng.uniform(-12, 12), 1) if jump else rng.uniform(-2, 2)
            if (symbol, i) == ("AAPL", 8):
                ret = None
            rows.append(bar(symbol, end, ret=ret, jump=jump, stat=stat, signal=SIGNALS[(i * 3 + k) % 5]))
    return rows


def trade(symbol: str, ts_ns: int, *, exchange: int = 1, trade_id: str = "t", price: float = 100.0,
          size: float = 1.0) -> dict[str, Any]:
    return {"market": "stocks", "symbol": symbol, "ts_ns": ts_ns, "price": price, "size": size, "exchange": exchange,
            "trade_id": trade_id, "conditions": None, "tape": None, "sequence": None, "trf_id": None,
            "trf_ts_ns": None, "received_ns": ts_ns, "source": "sim", "correction": None}


def trades(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=TRADES_SCHEMA)


def realized(symbol: str, end_ns: int, value: float, *, grid: int = BAR) -> dict[str, Any]:
    """A ``bar_realized_spread`` row of one bar."""
    return {"symbol": symbol, "bar_end_ns": end_ns, "bar_seconds": grid, "horizon_seconds": 300, "n_trades": 2,
            "matched_volume": 3.0, "realized_spread": value, "price_impact": -value / 2, "tick_price": None,
            "tick_sign": 0, "computed_at_ns": 1}


def realized_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=BAR_REALIZED_SPREAD_SCHEMA)


def liquidity(symbol: str, end_ns: int, value: float, *, grid: int = BAR) -> pa.Table:
    """A ``bar_liquidity`` row of one bar, every measure from ``value``."""
    row = {"symbol": symbol, "bar_end_ns": end_ns, "bar_seconds": grid, "n_quotes": 4, "quoted_spread": value,
           "effective_spread": value / 2, "buy_volume": 1.0, "sell_volume": 2.0, "signed_volume": -1.0,
           "order_imbalance": -1 / 3, "depth_imbalance": 0.25, "amihud": value * 3, "roll_spread": None,
           "kyle_lambda": value * 5, "computed_at_ns": 1, "vpin_lee_ready": 0.6}
    return pa.Table.from_pylist([row], schema=BAR_LIQUIDITY_SCHEMA)


def template(directory: Path, rows: Sequence[dict[str, Any]] | None = None) -> Path:
    """An empty DuckDB file with the schema (and ``rows`` committed with their states), closed."""
    path = directory / "template.duckdb"
    storage = DuckDBStorage.open(small_settings(path, duckdb_threads=1))
    storage.apply_schema()
    if rows:
        storage.commit_signals(signals(rows), states_of(rows))
    storage.close()
    return path


def open_copy(source: Path, directory: Path, name: str) -> DuckDBStorage:
    """A writable copy of ``source`` (milliseconds: the tiny files)."""
    path = directory / f"{name}.duckdb"
    shutil.copyfile(source, path)
    return DuckDBStorage.open(small_settings(path, duckdb_threads=1))


def listener_failures(caplog) -> list[str]:
    """The storage's log lines of listener calls that raised during the test's call (the listener then forgets what
    it holds); asked at teardown, where ``caplog.records`` holds the teardown's own lines only."""
    return [r.getMessage() for r in caplog.get_records("call") if r.getMessage().startswith("write listener")]


@contextmanager
def writable_copy(source: Path, directory: Path, caplog) -> Iterator[DuckDBStorage]:
    """A writable copy of ``source`` for one test; on leaving, no listener call may have failed on it (a failure is
    hidden by the reload that follows, so the answers alone would not show it)."""
    storage = open_copy(source, directory, "fresh")
    yield storage
    storage.close()
    assert listener_failures(caplog) == []


class FirstQueryInterrupted:
    """A storage whose first ``query`` runs ``meanwhile()`` before answering (a write or reset told while a load
    reads); every query is then answered by ``storage``."""

    def __init__(self, storage: DuckDBStorage, meanwhile: Callable[[], object]) -> None:
        self._storage, self._meanwhile, self._told = storage, meanwhile, False

    def query(self, name: str, params: dict[str, Any], limit: int | None):
        if not self._told:
            self._told = True
            self._meanwhile()
        return self._storage.query(name, params, limit)

