"""``bench.bench_freshness.timed_write``: the bench tells the feed's writes in which DuckDB checkpointed from
the others by the WAL file, which only a checkpoint makes smaller."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from bench.bench_freshness import timed_write
from sql.contract import TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = [pytest.mark.duckdb]


def _trades(first_id: int, n: int) -> pa.Table:
    rows = [{"market": "stocks", "symbol": "AAPL", "ts_ns": 1_712_325_600_000_000_000 + k, "price": 190.0,
             "size": 100.0, "exchange": 4, "trade_id": str(first_id + k), "received_ns": 1, "source": "sim"}
            for k in range(n)]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=TRADES_SCHEMA)


def test_a_write_is_told_checkpointed_only_when_duckdb_checkpointed_during_it(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    storage.apply_schema()
    wal = Path(f"{path}.wal")
    try:
        storage.checkpoint()  # the schema's own WAL written out: the writes below start from an empty one

        took, checkpointed, grew = timed_write(storage.append_trades, _trades(0, 500), wal)
        assert not checkpointed
        assert grew > 0 and grew == wal.stat().st_size  # the WAL held nothing before
        assert took > 0

        size = wal.stat().st_size
        _, checkpointed, grew = timed_write(storage.append_trades, _trades(500, 500), wal)
        assert not checkpointed and grew == wal.stat().st_size - size > 0

        def append_then_checkpoint(table: pa.Table) -> None:
            storage.append_trades(table)
            storage.checkpoint()

        _, checkpointed, grew = timed_write(append_then_checkpoint, _trades(1000, 500), wal)
        assert checkpointed
        assert grew == (wal.stat().st_size if wal.exists() else 0)  # what is in the WAL since the checkpoint
        assert storage.fetch_one("SELECT count(*) FROM market_data")[0] == 1500
    finally:
        storage.close()


def test_the_demo_runs_past_its_realized_spread_horizon_unless_told_the_default() -> None:
    from bench.bench_freshness import HORIZON_S, demo_settings, main

    assert demo_settings(10, 20) == {"BAR_SECONDS": "10", "LIQUIDITY_HORIZON_SECONDS": "20"}
    assert demo_settings(5, None) == {"BAR_SECONDS": "5"}  # the code's default horizon
    # the bench's default horizon is shorter than its window (43 s of backfill, then the polling): bars are due
    assert HORIZON_S < 43
    with pytest.raises(SystemExit):  # the flags exist (argparse exits on --help)
        main(["--help"])


def test_realized_rows_are_counted_by_the_pass_that_wrote_them(tmp_path: Path) -> None:
    from bench.bench_freshness import realized_written

    path = tmp_path / "r.duckdb"
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    storage.apply_schema()
    try:
        for k, computed_at in enumerate([100, 199, 200, 250, 299, 300, 400]):
            storage.execute_write(
                "INSERT INTO bar_realized_spread (symbol, bar_end_ns, bar_seconds, horizon_seconds, n_trades, "
                "matched_volume, tick_sign, computed_at_ns) VALUES ('AAPL', $end, 10, 20, 1, 1.0, 0, $at)",
                {"end": 10 * (k + 1), "at": computed_at})
    finally:
        storage.close()
    assert realized_written(path, 200, 300) == 3  # 200, 250, 299: from the first, before the last
    assert realized_written(path, 0, 100) == 0
