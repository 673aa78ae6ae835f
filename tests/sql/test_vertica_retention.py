"""Retention on a real Vertica (only where ``VERTICA_HOST`` is set): old day partitions move to
``market_data_archive``, are exported to Parquet under ``ARCHIVE_PATH`` (as the Vertica nodes see it), counted
in ``archive_manifest`` and dropped; nothing moves while a symbol's signals are not final there."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from sql.contract import TRADES_SCHEMA
from sql.settings import Settings

pytestmark = [pytest.mark.vertica, pytest.mark.skipif(
    not os.environ.get("VERTICA_HOST"), reason="VERTICA_HOST is not set: no Vertica server to test against")]

DAY = 86_400 * 10**9
START = 1_710_115_200 * 10**9  # 2024-03-11 00:00 UTC


def _trades(days: int, per_day: int) -> pa.Table:
    ts = np.concatenate([START + d * DAY + np.arange(per_day, dtype=np.int64) * 60 * 10**9 for d in range(days)])
    n = ts.size
    return pa.table({
        "market": ["stocks"] * n, "symbol": ["AAPL"] * n, "ts_ns": ts, "price": np.full(n, 100.0),
        "size": np.full(n, 10.0), "exchange": pa.array([4] * n, pa.int32()), "trade_id": [f"r{i}" for i in range(n)],
        "conditions": [None] * n, "tape": pa.array([3] * n, pa.int32()), "sequence": pa.array(range(n), pa.int64()),
        "trf_id": pa.array([None] * n, pa.int32()), "trf_ts_ns": pa.array([None] * n, pa.int64()),
        "received_ns": ts, "source": ["sim"] * n, "correction": pa.array([0] * n, pa.int32()),
    }, schema=TRADES_SCHEMA)  # fmt: skip


@pytest.fixture
def vertica(tmp_path):
    from sql.vertica_backend import VerticaStorage

    settings = Settings(db_backend="vertica", retain_trades_days=1, bar_seconds=60,  # type: ignore[call-arg]
                        archive_path=os.environ.get("VERTICA_ARCHIVE_PATH", str(tmp_path / "archive")))
    storage = VerticaStorage.open(settings)
    storage.apply_schema()
    with storage._write() as cursor:  # a clean slate: these tests own the tables of this schema
        for table in ("market_data", "market_data_archive", "trading_signals", "signal_state", "daily_metrics",
                      "archive_manifest"):
            cursor.execute(f"DELETE FROM {table}")
    yield storage, settings
    storage.close()


def _count(storage, sql: str) -> int:
    with storage._write() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchall()[0][0])


def test_old_days_move_export_and_drop_while_trades_all_keeps_them_until_the_drop(vertica) -> None:
    from sql.vertica_retention import archive_vertica

    storage, settings = vertica
    assert storage.append_trades(_trades(3, 100)) == 300
    with storage._write() as cursor:  # the transform's watermark past every trade
        cursor.execute("INSERT INTO signal_state VALUES ('AAPL', 60, :end, '{}', 0)", {"end": START + 4 * DAY})
    lines = archive_vertica(storage, settings)
    assert len(lines) == 1 and "200 rows" in lines[0]
    assert _count(storage, "SELECT COUNT(*) FROM market_data") == 100
    assert _count(storage, "SELECT COUNT(*) FROM market_data_archive") == 0
    assert _count(storage, "SELECT SUM(n_rows) FROM archive_manifest WHERE table_name = 'trades'") == 200
    assert archive_vertica(storage, settings) == []  # nothing older is left


def test_nothing_moves_while_signals_are_not_final(vertica) -> None:
    from sql.vertica_retention import archive_vertica

    storage, settings = vertica
    storage.append_trades(_trades(3, 10))
    lines = archive_vertica(storage, settings)
    assert lines == [f"trades: 1 symbol(s) not final before {lines[0].split('before ')[1].split(';')[0]}; nothing moved"]
    assert _count(storage, "SELECT COUNT(*) FROM market_data") == 30
