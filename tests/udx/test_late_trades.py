"""README "Signals": a bar is final once the newest trade is TRANSFORM_LATENESS_SECONDS past its end; trades
arriving later than that are stored but do not change a bar already written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import trades_from_parts
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage
NS = 10**9
T0 = 1_710_000_000 * NS  # a whole minute


def _trades(ts: np.ndarray, price: np.ndarray):
    return trades_from_parts([("crypto", "X:BTCUSD", ts, price, np.full(ts.size, 10.0))])


def _rows(storage) -> list[tuple]:  # type: ignore[no-untyped-def]
    return storage._cursor().execute(
        "SELECT * EXCLUDE (computed_at_ns) FROM trading_signals ORDER BY bar_end_ns").fetchall()


def test_a_late_trade_is_stored_but_changes_no_final_bar(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, duckdb_path=tmp_path / "late.duckdb", bar_seconds=60, lm_window=5,
                        transform_lateness_seconds=2.0)  # type: ignore[call-arg]
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    rng = np.random.default_rng(5)
    ts = np.sort(T0 + rng.integers(0, 30 * 60 * NS, 600))
    storage.append_trades(_trades(ts, 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, ts.size)))))
    run_transform(storage, settings)
    before = _rows(storage)
    last_end = before[-1][1]
    # a print inside the second bar (long final), far off the market, then newer trades
    late = _trades(np.array([T0 + 90 * NS, ts[-1] + 60 * NS, ts[-1] + 200 * NS]), np.array([150.0, 100.0, 100.0]))
    assert storage.append_trades(late) == 3  # stored (the dedupe key holds the time stamp)
    run_transform(storage, settings)
    after = _rows(storage)
    (stored,), = storage._cursor().execute("SELECT count(*) FROM market_data WHERE price = 150.0").fetchall()
    storage.close()
    assert stored == 1
    assert after[: len(before)] == before  # every bar written before is unchanged, the late print's bar too
    assert len(after) > len(before) and after[len(before)][1] > last_end
