"""A late print of a day retention archived, on both dialects: a genuinely new print (another id, exchange or time)
is stored and leaves with the next retention pass; a re-delivery (the same dedupe key, whatever its sequence or
arrival) is not stored twice, before and after that pass.

DuckDB runs on a real file with its Parquet archive (:mod:`sql.archive`); Vertica's retention
(:mod:`sql.vertica_retention`, days exported to Parquet and dropped) runs on the stand-in of
:mod:`tests.sql.vertica_on_duckdb` where no server is, and on a real Vertica where ``VERTICA_HOST`` is set.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sql.contract import TRADES_SCHEMA
from sql.settings import Settings
from tests.sql.real_vertica import needs_vertica, real_vertica
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB
from udx.transform import run_transform

NS = 10**9
DAY = 86_400 * NS
START = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS  # a Monday; times pinned
DAYS = 3


def _trades(n_per_day: int = 240) -> pa.Table:
    rng = np.random.default_rng(18)
    ts = np.concatenate([START + d * DAY + np.sort(rng.integers(0, DAY, n_per_day)) for d in range(DAYS)])
    n = ts.size
    return pa.table({
        "market": ["stocks"] * n, "symbol": ["AAPL"] * n, "ts_ns": ts,
        "price": 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, n))), "size": rng.integers(1, 300, n).astype(float),
        "exchange": pa.array([4] * n, pa.int32()), "trade_id": [f"t{i}" for i in range(n)],
        "conditions": [None] * n, "tape": pa.array([3] * n, pa.int32()), "sequence": pa.array(range(n), pa.int64()),
        "trf_id": pa.array([None] * n, pa.int32()), "trf_ts_ns": pa.array([None] * n, pa.int64()),
        "received_ns": ts + 1000, "source": ["sim"] * n, "correction": pa.array([0] * n, pa.int32()),
    }, schema=TRADES_SCHEMA)  # fmt: skip


TRADES = _trades()
DAY_ONE = TRADES.filter(pc.less(TRADES["ts_ns"], START + DAY))


def _with(table: pa.Table, **columns: list[Any]) -> pa.Table:
    for name, values in columns.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))
    return table


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(_env_file=None, bar_seconds=60, lm_window=20,  # type: ignore[call-arg]
                    transform_lateness_seconds=2.0, session_stocks="00:00-24:00 UTC", retain_trades_days=1, archive_path=tmp_path / "archive",
                    **extra)


class _Backend:
    """One dialect: its storage, its retention pass, and every trade of day one it holds (live or archived)."""

    def __init__(self, storage: Any, archive: Callable[[], object], day_one_trades: Callable[[], int],
                 live_day_one: Callable[[], int]) -> None:
        self.storage, self.archive = storage, archive
        self.day_one_trades, self.live_day_one = day_one_trades, live_day_one


def _parquet_rows(root: Path, day: str) -> int:
    files = [p for p in root.rglob("*.parquet") if f"date={day}" in str(p) and ".staging" not in p.parts]
    if not files:
        return 0
    with duckdb.connect() as con:
        return int(con.execute("SELECT count(*) FROM read_parquet(?)", [[str(p) for p in files]]).fetchall()[0][0])


@pytest.fixture(params=["duckdb", "vertica"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Backend]:
    day = "2024-03-11"
    live = f"SELECT count(*) FROM market_data WHERE ts_ns < {START + DAY}"
    if request.param == "duckdb":
        from sql.archive import archive
        from sql.duckdb_backend import DuckDBStorage

        settings = _settings(tmp_path, duckdb_path=tmp_path / "live.duckdb")
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        count = lambda: int(storage.fetch_all(live)[0][0])  # noqa: E731
        yield _Backend(storage, lambda: archive(storage, settings),
                       lambda: count() + _parquet_rows(settings.archive_root() / "trades", day), count)
    else:
        from sql.vertica_backend import VerticaStorage
        from sql.vertica_retention import archive_vertica

        settings = _settings(tmp_path, db_backend="vertica")
        db = VerticaOnDuckDB()
        storage = VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60,
                                 pool_size=1)
        count = lambda: int(db.rows(live)[0][0])  # noqa: E731
        yield _Backend(storage, lambda: archive_vertica(storage, settings),
                       lambda: count() + _parquet_rows(settings.archive_root() / "trades", day), count)
    storage.close()


def test_a_new_late_print_of_an_archived_day_is_kept_and_a_redelivery_is_not(backend: _Backend) -> None:
    storage = backend.storage
    assert storage.append_trades(TRADES) == TRADES.num_rows
    run_transform(storage, _settings(Path("/unused")), now_ns=1)
    backend.archive()
    assert backend.live_day_one() == 0 and backend.day_one_trades() == DAY_ONE.num_rows  # exported, then gone

    assert storage.append_trades(DAY_ONE) == 0  # a replay of the day
    again = _with(DAY_ONE.slice(0, 3), sequence=[10**6, 10**6 + 1, 10**6 + 2], received_ns=[1, 2, 3])
    assert storage.append_trades(again) == 0  # the same keys, another sequence and arrival: still a re-delivery
    first = DAY_ONE.slice(0, 1)
    late = pa.concat_tables([_with(first, trade_id=["late-id"]),  # another id
                             _with(first, exchange=[11]),  # the same id on another exchange
                             _with(first, ts_ns=[first["ts_ns"][0].as_py() + 1])])  # the same id a nanosecond on
    assert storage.append_trades(late) == 3
    assert storage.append_trades(late) == 0  # stored now: live dedupe
    assert backend.live_day_one() == 3

    backend.archive()  # the next pass moves the late prints out with their day
    assert backend.live_day_one() == 0 and backend.day_one_trades() == DAY_ONE.num_rows + 3
    assert storage.append_trades(pa.concat_tables([late, DAY_ONE])) == 0  # and they are deduped from there too


def test_a_day_dropped_before_keys_were_kept_refuses_every_trade_of_it(tmp_path: Path) -> None:
    # migration 004 lists the days dropped before; there a new print cannot be told from a re-delivery
    db = VerticaOnDuckDB()
    manifest = ("INSERT INTO archive_manifest VALUES ('trades', 'stocks', DATE '2024-03-11', 'AAPL', 'p', 'p', 240, 0,"
                f" '', {START}, {START + DAY - 1}, 1, true)")
    db.con.execute(manifest)
    db.con.execute(manifest.replace("2024-03-11", "2024-03-12").replace(str(START), str(START + DAY), 1)
                   .replace(str(START + DAY - 1), str(START + 2 * DAY - 1)))
    db.append("market_data_archive", TRADES.filter(pc.greater_equal(TRADES["ts_ns"], START + DAY)).slice(0, 1))
    for _ in range(2):  # a rerun after a crash lists nothing twice
        db.run("migrations", "market_data_archive_keys")
    assert db.rows("SELECT market, symbol, day FROM market_data_unkeyed_days") == [
        ("stocks", "AAPL", dt.date(2024, 3, 11))]  # 03-12 still has rows in market_data_archive: not dropped
    db.put("market_data_stage", pa.concat_tables([_with(DAY_ONE.slice(0, 1), trade_id=["new"]), TRADES.slice(
        DAY_ONE.num_rows + 5, 1)]))
    assert db.run("queries", "insert_trades") == [(1,)]  # the print of 03-12 only
    assert db.rows(f"SELECT count(*) FROM market_data WHERE ts_ns < {START + DAY}") == [(0,)]


@pytest.mark.vertica
@needs_vertica
def test_on_a_real_vertica_a_late_print_of_a_dropped_day_is_kept_and_a_redelivery_is_not(tmp_path: Path) -> None:
    from sql.vertica_retention import archive_vertica

    settings = _settings(tmp_path, db_backend="vertica",
                         archive_path=os.environ.get("VERTICA_ARCHIVE_PATH", str(tmp_path / "archive")))
    with real_vertica(settings) as storage:
        storage.append_trades(TRADES)
        run_transform(storage, settings, now_ns=1)
        archive_vertica(storage, settings)
        assert storage.append_trades(DAY_ONE) == 0
        assert storage.append_trades(_with(DAY_ONE.slice(0, 1), trade_id=["late-id"])) == 1
        archive_vertica(storage, settings)
        assert storage.append_trades(_with(DAY_ONE.slice(0, 1), trade_id=["late-id"])) == 0
