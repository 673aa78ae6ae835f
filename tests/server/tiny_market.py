"""A small DuckDB file for in-process server tests: two hours of five simulated stocks and their signals.

Built by the real parts like ``conftest.market_db`` (synthetic market -> DuckDB -> transform) but over two
hours of AAPL, MSFT, NVDA, TSLA and SPY instead of 1.5 days of nine symbols, so a module builds it in about a
second even with the kernels in plain Python (the mutation runs: ``scripts/mutation``).
"""

from __future__ import annotations

import time
from pathlib import Path

from conftest import small_settings
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

__all__ = ["build_tiny_market", "empty_database"]


def empty_database(path: Path) -> tuple[DuckDBStorage, Settings]:
    """A writable DuckDB file with the schema and views and no rows, and its small settings."""
    settings = small_settings(path)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    return storage, settings


def build_tiny_market(path: Path, *, hours: float = 2.0) -> Path:
    """Write ``hours`` of simulated trades ending now and their signals to ``path``; close it again.

    Two hours are too short for the Lee-Mykland window, so every bar would be HOLD without a jump: every
    13th bar with a return is then stamped a jump (statistic of the return's sign, 5 to 14 in size) and every
    5th BUY or SELL by the return's sign, so the filters of the read paths have rows to choose between. Every
    5th, not fewer: the tape ends now, and before the open it is thin enough that one symbol's two hours held
    no falling 11th bar (a CI run at 04:50 New York time).
    """
    from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
    from udx.transform import run_transform

    storage, settings = empty_database(path)
    end_ns = time.time_ns()
    trades, quotes = SyntheticMarket(seed=11, rate=1.0, symbols=DEFAULT_SYMBOLS[:5]).history(end_ns - int(hours * 3600e9), end_ns)
    storage.append_trades(trades)
    storage.append_quotes(quotes)
    run_transform(storage, settings)
    storage.execute_write(
        "UPDATE trading_signals SET jump_detected = true, "
        "lee_mykland_stat = sign(log_return) * (5 + bar_end_ns // 60000000000 % 10) "
        "WHERE log_return <> 0 AND bar_end_ns // 60000000000 % 13 = 0")
    storage.execute_write(
        "UPDATE trading_signals SET trading_signal = CASE WHEN log_return > 0 THEN 'BUY' ELSE 'SELL' END "
        "WHERE log_return <> 0 AND bar_end_ns // 60000000000 % 5 = 0")
    storage.close()
    return path
