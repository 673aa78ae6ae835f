"""The daily figures computed at request time give the same last bits on every call over the same rows.

DuckDB's threads add a group's rows in no fixed order, so a plain ``sum`` of doubles over more than one row group
differed in its last bits from one call to the next (a clean-clone run saw ``get_symbol_metrics``' REST page and
its tool page differ in ``quoted_spread``'s 17th digit). The daily formulas use compensated sums (``fsum``); these
tests read the same rows again and again on a file with several row groups and four threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import trades_from_parts
from sql.contract import QUOTES_SCHEMA
from sql.settings import Settings

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
START = 1_733_097_600 * NS  # 2024-12-02 00:00 UTC
N = 400_000  # rows per table: several DuckDB row groups (122,880 rows each)
CALLS = 12


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("sums") / "sums.duckdb"
    settings = Settings(_env_file=None, duckdb_path=path, duckdb_threads=4)  # type: ignore[call-arg]
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    rng = np.random.default_rng(77)
    ts = np.sort(rng.integers(START, START + 20 * 3600 * NS, N))
    price = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, N)))
    storage.append_trades(trades_from_parts([("stocks", "AAPL", ts, price, rng.integers(1, 500, N).astype(float))]))
    qts = np.unique(rng.integers(START, START + 20 * 3600 * NS, N))
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, qts.size)))
    half = mid * rng.uniform(1e-4, 1e-3, qts.size)
    n = qts.size
    storage.append_quotes(pa.table({
        "market": ["stocks"] * n, "symbol": ["AAPL"] * n, "ts_ns": qts, "bid_price": mid - half,
        "bid_size": [100.0] * n, "ask_price": mid + half, "ask_size": [200.0] * n,
        "bid_exchange": pa.array([4] * n, pa.int32()), "ask_exchange": pa.array([7] * n, pa.int32()),
        "conditions": [None] * n, "sequence": pa.array(range(n), pa.int64()), "tape": pa.array([3] * n, pa.int32()),
        "received_ns": qts + 5, "source": ["sim"] * n,
    }, schema=QUOTES_SCHEMA))  # fmt: skip
    yield storage
    storage.close()


def test_the_daily_spreads_are_the_same_on_every_call(storage):
    params = {"symbols": ["AAPL"], "start_ns": START, "end_ns": START + 86_400 * NS}
    answers = {tuple(storage.query("symbol_daily_spreads", params, 10).rows) for _ in range(CALLS)}
    assert len(answers) == 1, answers
    ((_, _, quoted, effective),) = answers.pop()
    assert quoted > 0 and effective > 0

