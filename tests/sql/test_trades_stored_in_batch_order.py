"""``append_trades`` stores a batch's new trades in the batch's order (``insert_trades``: ``ORDER BY batch_pos``).

The transform reads a chunk's trades unsorted and orders them on the client when each symbol's rows are stored
in time order (:mod:`sql.stored_order`); a symbol stored out of order is read again with DuckDB's sort, which
cost most of a one-bar pass at 50k trades/s (BENCHMARKS.md, freshness, helper horizon). DuckDB's parallel
insert of the dedupe anti-join's output moved blocks of a large batch (rows ~0.1 s back every ~180 rows of a
symbol); the order a feed delivers (time order within a batch) is kept. Checked against the plain rule: the
batch's rows, in order, less those whose dedupe key is stored already or came earlier in the batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sql.contract import TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = [pytest.mark.duckdb]

T0 = 1_712_325_600_000_000_000
SYMBOLS = ["AAPL", "MSFT", "NVDA", "SPY"]


def _batch(first: int, n: int, seed: int) -> list[dict]:
    """``n`` trades of 4 symbols interleaved at random, in time order (ms stamps, several per ms)."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, len(SYMBOLS), n)
    ts = T0 + np.sort(rng.integers(0, n // 4, n)) * 1_000_000
    return [{"market": "stocks", "symbol": SYMBOLS[s], "ts_ns": int(t), "price": 100.0 + k % 7, "size": 1.0 + k % 5,
             "exchange": 4, "trade_id": str(first + k), "sequence": first + k, "received_ns": 1, "source": "sim"}
            for k, (s, t) in enumerate(zip(symbols.tolist(), ts.tolist(), strict=True))]  # fmt: skip


def _table(rows: list[dict]) -> pa.Table:
    """The rows as the feed's decode hands them over: a table of many small record batches (frames)."""
    whole = pa.Table.from_pylist(rows, schema=TRADES_SCHEMA)
    return pa.Table.from_batches(whole.slice(k, 100).to_batches()[0] for k in range(0, len(rows), 100))


def _key(row: dict) -> tuple:
    return row["market"], row["symbol"], row["exchange"], row["trade_id"], row["ts_ns"]


def test_a_batch_is_stored_in_its_order_less_the_trades_stored_already(tmp_path: Path) -> None:
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=tmp_path / "o.duckdb"))  # type: ignore[call-arg]
    storage.apply_schema()
    try:
        first = _batch(0, 3_000, 1)
        storage.append_trades(_table(first))
        second = _batch(3_000, 60_000, 2)
        second[10_000:10_000] = [dict(second[5])]  # a repeat within the batch: the first one counts
        second[20_000:20_000] = [dict(first[7]), dict(first[2_999])]  # stored already
        storage.append_trades(_table(second))
        stored = storage.fetch_all("SELECT market, symbol, exchange, trade_id, ts_ns FROM market_data ORDER BY rowid")
    finally:
        storage.close()
    seen: set[tuple] = set()
    expected = []
    for row in first + second:  # the plain rule: each key once, where it first came
        if _key(row) not in seen:
            seen.add(_key(row))
            expected.append(_key(row))
    assert len(stored) == len(expected) == 63_000
    assert [tuple(r) for r in stored] == expected
