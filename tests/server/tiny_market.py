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

    Two hours are too short for the Lee-Mykland window, so every bar would be HOLD without a jump: of each
    symbol's rising bars and of its falling bars, every 13th is then stamped a jump (statistic of the return's
    sign; size 9, 13, 7, 11, 5, then again, for its 1st, 2nd, ... jump of that direction), and every 5th bar
    with a return is a BUY or SELL by the return's sign, so the filters of the read paths have rows to choose
    between. Counted per symbol and direction, not on the clock's minutes: the tape ends now, and the jumps
    stamped on minutes divisible by 13 left MSFT no falling one at some instants (Friday 2027-01-01 12:30:20 UTC
    with a moved clock). Every 5th, not fewer: before the open it is thin enough that one symbol's two hours
    held no falling 11th bar (a CI run at 04:50 New York time).
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
        "UPDATE trading_signals AS s SET jump_detected = true, lee_mykland_stat = sign(s.log_return) * "
        "(5 + (j.k // 13 * 4) % 10) FROM (SELECT symbol, bar_seconds, bar_end_ns, row_number() OVER "
        "(PARTITION BY symbol, bar_seconds, log_return > 0 ORDER BY bar_end_ns) AS k FROM trading_signals "
        "WHERE log_return <> 0) AS j WHERE (s.symbol, s.bar_seconds, s.bar_end_ns) = (j.symbol, j.bar_seconds, "
        "j.bar_end_ns) AND j.k % 13 = 0")
    storage.execute_write(
        "UPDATE trading_signals SET trading_signal = CASE WHEN log_return > 0 THEN 'BUY' ELSE 'SELL' END "
        "WHERE log_return <> 0 AND bar_end_ns // 60000000000 % 5 = 0")
    storage.close()
    return path
