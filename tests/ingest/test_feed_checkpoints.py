"""The feed checkpoints DuckDB on its writer's schedule (``ingest/feed.py`` module docstring): right after a
batch's quotes once the WAL passes ``CHECKPOINT_WAL_BYTES``, after a write when no batch is due from
``IDLE_CHECKPOINT_WAL_BYTES``; never between a batch's trades and its quotes; nothing lost or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable

import duckdb
import pyarrow as pa
import pytest

from ingest import feed as feed_module
from ingest.feed import CHECKPOINT_WAL_BYTES, IDLE_CHECKPOINT_WAL_BYTES, PolygonFeed
from ingest.simulator import PolygonSimulator
from ingest.synthetic_market import SyntheticMarket
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

KEY = "test-key"
pytestmark = [pytest.mark.anyio, pytest.mark.duckdb]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def storage(tmp_path):
    store = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=tmp_path / "t.duckdb"))
    store.apply_schema()
    yield store
    with contextlib.suppress(Exception):
        store.close()


class Recording:
    """The real storage, recording in order each trades write (``T``), quotes write (``Q``) and checkpoint asked
    for (``C`` with its WAL size), the WAL size before each, and the thread that asked."""

    def __init__(self, storage: DuckDBStorage) -> None:
        self.storage = storage
        self.calls: list[tuple[str, int | None]] = []
        self.threads: set[str] = set()

    def append_trades(self, batch: pa.Table) -> int:
        self.calls.append(("T", None))
        return self.storage.append_trades(batch)

    def append_quotes(self, batch: pa.Table) -> int:
        self.calls.append(("Q", None))
        return self.storage.append_quotes(batch)

    def checkpoint_if_over(self, wal_bytes: int) -> bool:
        self.calls.append(("C", wal_bytes))
        self.threads.add(threading.current_thread().name)
        return self.storage.checkpoint_if_over(wal_bytes)


async def run_feed(sink, *, rate: float, batch_rows: int, batch_seconds: float,
                   until: Callable[[PolygonFeed], bool]) -> PolygonFeed:
    async with PolygonSimulator(SyntheticMarket(seed=3, rate=rate), api_key=KEY) as sim:
        feed = PolygonFeed(api_key=KEY, feed=sim.feed, market="stocks", subscriptions=["T.*", "Q.*"], sink=sink,
                           secure=False, batch_rows=batch_rows, batch_seconds=batch_seconds, source="sim")
        task = asyncio.create_task(feed.run())
        async with asyncio.timeout(30):
            while not until(feed):
                await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return feed


def stored_counts(storage: DuckDBStorage) -> tuple[int, int, int]:
    """Trades, distinct trade keys and quotes in the file."""
    (trades, keys), = storage.fetch_all(
        "SELECT count(*), count(DISTINCT (market, symbol, exchange, trade_id, ts_ns)) FROM market_data")
    (quotes,), = storage.fetch_all("SELECT count(*) FROM quotes")
    return trades, keys, quotes


def test_storage_checkpoints_only_from_the_wal_size_asked(storage: DuckDBStorage) -> None:
    storage.checkpoint()
    assert storage.wal_bytes() == 0
    storage.execute_write("CREATE TABLE scratch AS SELECT range AS i FROM range(20000)")
    size = storage.wal_bytes()
    assert size > 0
    assert storage.checkpoint_if_over(size + 1) is False
    assert storage.wal_bytes() == size  # not written out
    assert storage.checkpoint_if_over(size) is True
    assert storage.wal_bytes() == 0
    (rows,), = storage.fetch_all("SELECT count(*) FROM scratch")
    assert rows == 20000


def test_duckdb_checkpoints_by_itself_only_beyond_the_feed_s_sizes(storage: DuckDBStorage) -> None:
    """The feed's sizes lie below DuckDB's own threshold, else DuckDB would checkpoint first, inside a commit."""
    (text,), = storage.fetch_all("SELECT current_setting('checkpoint_threshold')")
    number, unit = re.fullmatch(r"([\d.]+) (\w+)", text).groups()  # type: ignore[union-attr]
    threshold = float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
    assert IDLE_CHECKPOINT_WAL_BYTES < CHECKPOINT_WAL_BYTES < threshold


async def test_a_busy_feed_checkpoints_after_a_batch_s_quotes_never_between_its_writes(storage, monkeypatch):
    """Every batch is due at once (batch_rows 1): the writer is never idle, so it checkpoints only right after
    a batch's quotes (its trades are visible by then), at CHECKPOINT_WAL_BYTES; with that size set to 1 byte
    every batch's WAL is written out, and every trade and quote is stored once. (A batch of one frame may hold
    only trades or only quotes.)"""
    monkeypatch.setattr(feed_module, "CHECKPOINT_WAL_BYTES", 1)
    monkeypatch.setattr(feed_module, "IDLE_CHECKPOINT_WAL_BYTES", 10**15)
    sink = Recording(storage)
    feed = await run_feed(sink, rate=2000.0, batch_rows=1, batch_seconds=10.0,
                          until=lambda f: f.stats.checkpoints >= 4)
    kinds = "".join(kind for kind, _ in sink.calls)
    assert re.fullmatch(r"(T?Q?C)+", kinds), kinds  # one check after each batch's writes (a frame: T, Q or both)
    assert re.search(r"TC+Q", kinds) is None, kinds  # never between a batch's trades and its quotes
    assert all(name.startswith("polygon-feed-writer") for name in sink.threads), sink.threads
    assert feed.stats.checkpoints >= 4
    trades, keys, quotes = stored_counts(storage)
    assert trades == keys == feed.stats.trades > 0 and quotes == feed.stats.quotes > 0
    assert storage.wal_bytes() < 2**20  # the last batch's WAL at most


async def test_a_slow_feed_checkpoints_when_no_batch_is_due_from_the_idle_size(storage, monkeypatch):
    """No batch is ever full (batch_rows huge): after each write the writer is idle, and it checkpoints from
    IDLE_CHECKPOINT_WAL_BYTES (here 1 byte) before the next batch falls due; the after-quotes size is not
    reached (here 1 PB), so every checkpoint done is an idle one."""
    monkeypatch.setattr(feed_module, "CHECKPOINT_WAL_BYTES", 10**15)
    monkeypatch.setattr(feed_module, "IDLE_CHECKPOINT_WAL_BYTES", 1)
    sink = Recording(storage)
    feed = await run_feed(sink, rate=400.0, batch_rows=10**6, batch_seconds=0.1,
                          until=lambda f: f.stats.checkpoints >= 3)
    idle = [i for i, (kind, size) in enumerate(sink.calls) if kind == "C" and size == 1]
    assert len(idle) >= 3
    assert all(sink.calls[i - 1] == ("C", 10**15) for i in idle)  # right after a write's own check
    assert re.search(r"TC+Q", "".join(kind for kind, _ in sink.calls)) is None
    trades, keys, quotes = stored_counts(storage)
    assert trades == keys == feed.stats.trades > 0 and quotes == feed.stats.quotes > 0


async def test_a_feed_below_both_sizes_never_checkpoints(storage):
    sink = Recording(storage)
    feed = await run_feed(sink, rate=400.0, batch_rows=50, batch_seconds=0.1, until=lambda f: f.stats.batches >= 3)
    assert feed.stats.checkpoints == 0
    assert {size for kind, size in sink.calls if kind == "C"} <= {CHECKPOINT_WAL_BYTES, IDLE_CHECKPOINT_WAL_BYTES}
    assert storage.wal_bytes() > 0


async def test_a_failed_checkpoint_leaves_the_feed_running(storage, caplog):
    """A checkpoint is upkeep: the data is committed before it; a failing one is logged and the feed goes on."""

    class Failing(Recording):
        def checkpoint_if_over(self, wal_bytes: int) -> bool:
            super().checkpoint_if_over(wal_bytes)
            raise duckdb.IOException("disk on fire")

    sink = Failing(storage)
    feed = await run_feed(sink, rate=400.0, batch_rows=50, batch_seconds=0.1, until=lambda f: f.stats.batches >= 4)
    assert feed.stats.checkpoints == 0
    assert "checkpoint failed" in caplog.text
    trades, keys, _ = stored_counts(storage)
    assert trades == keys == feed.stats.trades > 0
