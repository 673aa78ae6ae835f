"""A quote delivered again after retention archived its day, on both dialects: it is not stored twice (a quote,
which carries no id, is the same when every column but ``received_ns`` and ``source`` is, NULL equal to NULL),
before and after its day is dropped; a genuinely new quote of that day (another price, sequence or time) is stored
and leaves with the next retention pass.

DuckDB runs on a real file with its Parquet archive (:mod:`sql.archive`); Vertica's retention
(:mod:`sql.vertica_retention`: days moved to ``quotes_archive``, exported to Parquet, keys kept in
``quotes_archive_keys``, dropped) runs on the stand-in of :mod:`tests.sql.vertica_on_duckdb` where no server is,
and on a real Vertica where ``VERTICA_HOST`` is set. The trades' twin is ``test_late_prints_after_archive``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sql.contract import QUOTES_SCHEMA
from tests.sql.real_vertica import needs_vertica, real_vertica
from tests.sql.test_late_prints_after_archive import DAY, DAYS, START, TRADES, _parquet_rows, _settings, _with
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB
from udx.transform import run_transform


def _quotes(n_per_day: int = 120) -> pa.Table:
    rng = np.random.default_rng(19)
    ts = np.concatenate([START + d * DAY + np.sort(rng.integers(0, DAY, n_per_day)) for d in range(DAYS)])
    n = ts.size
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, n)))
    every_third = [i % 3 == 0 for i in range(n)]  # NULL sequence and conditions: keys compare NULL equal to NULL
    return pa.table({
        "market": ["stocks"] * n, "symbol": ["AAPL"] * n, "ts_ns": ts,
        "bid_price": np.round(mid - 0.01, 2), "bid_size": rng.integers(1, 9, n) * 100.0,
        "ask_price": np.round(mid + 0.01, 2), "ask_size": rng.integers(1, 9, n) * 100.0,
        "bid_exchange": pa.array([12] * n, pa.int32()), "ask_exchange": pa.array([11] * n, pa.int32()),
        "conditions": [None if k else "1" for k in every_third],
        "sequence": pa.array([None if k else i for i, k in enumerate(every_third)], pa.int64()),
        "tape": pa.array([3] * n, pa.int32()), "received_ns": ts + 1000, "source": ["sim"] * n,
    }, schema=QUOTES_SCHEMA)  # fmt: skip


QUOTES = _quotes()
DAY_ONE = QUOTES.filter(pc.less(QUOTES["ts_ns"], START + DAY))
LIVE_DAY_ONE = f"SELECT count(*) FROM quotes WHERE ts_ns < {START + DAY}"


class _Backend:
    """One dialect: its storage, its retention pass, and the quotes of day one it holds (live, and in all)."""

    def __init__(self, storage: Any, archive: Callable[[], object], live_day_one: Callable[[], int],
                 archive_root: Path) -> None:
        self.storage, self.archive, self.live_day_one = storage, archive, live_day_one
        self.day_one_quotes = lambda: live_day_one() + _parquet_rows(archive_root / "quotes", "2024-03-11")


@pytest.fixture(params=["duckdb", "vertica"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Backend]:
    if request.param == "duckdb":
        from sql.archive import archive
        from sql.duckdb_backend import DuckDBStorage

        settings = _settings(tmp_path, retain_quotes_days=1, duckdb_path=tmp_path / "live.duckdb")
        storage = DuckDBStorage.open(settings)
        storage.apply_schema()
        yield _Backend(storage, lambda: archive(storage, settings),
                       lambda: int(storage.fetch_all(LIVE_DAY_ONE)[0][0]), settings.archive_root())
    else:
        from sql.vertica_backend import VerticaStorage
        from sql.vertica_retention import archive_vertica

        settings = _settings(tmp_path, retain_quotes_days=1, db_backend="vertica")
        db = VerticaOnDuckDB()
        storage = VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60,
                                 pool_size=1)
        yield _Backend(storage, lambda: archive_vertica(storage, settings),
                       lambda: int(db.rows(LIVE_DAY_ONE)[0][0]), settings.archive_root())
    storage.close()


def test_a_redelivered_quote_of_an_archived_day_is_not_stored_and_a_new_one_is(backend: _Backend) -> None:
    storage = backend.storage
    storage.append_trades(TRADES)  # the bars that make the quotes' days final
    assert storage.append_quotes(QUOTES) == QUOTES.num_rows
    run_transform(storage, _settings(Path("/unused")), now_ns=1)
    backend.archive()
    assert backend.live_day_one() == 0 and backend.day_one_quotes() == DAY_ONE.num_rows  # exported, then gone

    assert storage.append_quotes(DAY_ONE) == 0  # a replay of the day
    n = 3
    again = _with(DAY_ONE.slice(0, n), received_ns=[1, 2, 3], source=["kafka"] * n)
    assert storage.append_quotes(again) == 0  # another arrival and source: still the same quotes
    first = DAY_ONE.slice(1, 1)  # sequence and conditions set
    late = pa.concat_tables([_with(first, bid_price=[first["bid_price"][0].as_py() + 0.01]),  # another price
                             _with(first, sequence=[10**6]),  # another sequence
                             _with(first, conditions=[None]),  # NULL where the archived quote has a value
                             _with(first, ts_ns=[first["ts_ns"][0].as_py() + 1])])  # a nanosecond on
    assert storage.append_quotes(late) == late.num_rows
    assert backend.live_day_one() == late.num_rows

    backend.archive()  # the next pass moves the new quotes out with their day
    assert backend.live_day_one() == 0 and backend.day_one_quotes() == DAY_ONE.num_rows + late.num_rows
    assert storage.append_quotes(pa.concat_tables([late, DAY_ONE])) == 0  # and they are deduped from there too


def test_a_quote_of_a_moved_day_is_looked_up_in_quotes_archive() -> None:
    # a day moved and not yet exported (a retention run stopped after the move): its quotes are still rows
    db = VerticaOnDuckDB()
    db.append("quotes_archive", DAY_ONE)
    late = _with(DAY_ONE.slice(0, 1), ask_size=[1.0])
    db.put("quotes_stage", pa.concat_tables([_with(DAY_ONE, received_ns=[7] * DAY_ONE.num_rows), late]))
    assert db.run("queries", "insert_quotes") == [(1,)]
    assert db.rows("SELECT ask_size FROM quotes") == [(1.0,)]


def test_keys_are_kept_once_and_a_day_dropped_before_keys_were_kept_refuses_every_quote() -> None:
    db = VerticaOnDuckDB()
    db.append("quotes_archive", DAY_ONE)
    span = {"start_ns": START, "end_ns": START + DAY}
    assert db.run("retention", "keep_keys_quotes", span) == [(DAY_ONE.num_rows,)]
    assert db.run("retention", "keep_keys_quotes", span) == [(0,)]  # a rerun after a crash keeps nothing twice

    # migration 005 lists the days dropped before (manifest rows, no archive rows); there nothing can be told apart
    manifest = ("INSERT INTO archive_manifest VALUES ('quotes', 'stocks', DATE '2024-03-12', 'AAPL', 'p', 'p', 120,"
                f" 0, '', {START + DAY}, {START + 2 * DAY - 1}, 1, true)")
    db.con.execute(manifest)
    db.con.execute(manifest.replace("2024-03-12", "2024-03-11").replace(str(START + DAY), str(START), 1)
                   .replace(str(START + 2 * DAY - 1), str(START + DAY - 1)))  # still in quotes_archive: not dropped
    for _ in range(2):
        db.run("migrations", "quotes_archive_keys")
    assert db.rows("SELECT market, symbol, day FROM quotes_unkeyed_days") == [("stocks", "AAPL", dt.date(2024, 3, 12))]
    day_two = QUOTES.filter(pc.and_(pc.greater_equal(QUOTES["ts_ns"], START + DAY),
                                    pc.less(QUOTES["ts_ns"], START + 2 * DAY)))
    day_three = QUOTES.filter(pc.greater_equal(QUOTES["ts_ns"], START + 2 * DAY)).slice(0, 1)
    db.put("quotes_stage", pa.concat_tables([day_two.slice(0, 2), day_three]))
    assert db.run("queries", "insert_quotes") == [(1,)]  # the quote of 03-13 only
    assert db.rows("SELECT ts_ns FROM quotes") == [(day_three["ts_ns"][0].as_py(),)]


@pytest.mark.vertica
@needs_vertica
def test_on_a_real_vertica_a_redelivered_quote_of_a_dropped_day_is_not_stored(tmp_path: Path) -> None:
    from sql.vertica_retention import archive_vertica

    settings = _settings(tmp_path, retain_quotes_days=1, db_backend="vertica",
                         archive_path=os.environ.get("VERTICA_ARCHIVE_PATH", str(tmp_path / "archive")))
    with real_vertica(settings) as storage:
        storage.append_trades(TRADES)
        storage.append_quotes(QUOTES)
        run_transform(storage, settings, now_ns=1)
        archive_vertica(storage, settings)
        assert storage.append_quotes(DAY_ONE) == 0
        late = _with(DAY_ONE.slice(0, 1), bid_size=[1.0])
        assert storage.append_quotes(late) == 1
        archive_vertica(storage, settings)
        assert storage.append_quotes(late) == 0
