"""PolygonFeed with the real polygon-api-client WebSocketClient against the simulator, into real DuckDB."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable

import duckdb
import pytest

from ingest import feed as feed_module
from ingest.feed import MAX_BATCH_FACTOR, PolygonAuthError, PolygonFeed
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
def db_path(tmp_path):
    return tmp_path / "t.duckdb"


@pytest.fixture
def storage(db_path):
    store = DuckDBStorage.open(Settings(duckdb_path=db_path), read_only=False)
    store.apply_schema()
    yield store
    with contextlib.suppress(Exception):
        store.close()


@pytest.fixture
async def simulator() -> AsyncIterator[PolygonSimulator]:
    async with PolygonSimulator(SyntheticMarket(seed=11, rate=400.0), api_key=KEY) as sim:
        yield sim


def make_feed(sim: PolygonSimulator, market: str, subscriptions: list[str], sink, *, key: str = KEY,
              batch_rows: int = 200, batch_seconds: float = 0.2) -> PolygonFeed:
    return PolygonFeed(api_key=key, feed=sim.feed, market=market, subscriptions=subscriptions, sink=sink,
                       secure=False, batch_rows=batch_rows, batch_seconds=batch_seconds, source="sim")


async def wait_until(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


async def stop(task: asyncio.Task) -> None:
    """Cancel a feed's run() and wait for its graceful flush."""
    task.cancel()
    async with asyncio.timeout(10):
        with contextlib.suppress(asyncio.CancelledError):
            await task


def read_back(db_path, storage, sql: str) -> list[tuple]:
    storage.close()
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(sql).fetchall()


async def test_stocks_and_crypto_trades_arrive_with_correct_fields_once(simulator, storage, db_path):
    stocks = make_feed(simulator, "stocks", ["T.*", "Q.AAPL"], storage)
    crypto = make_feed(simulator, "crypto", ["XT.BTC-USD", "XT.ETH-USD", "XQ.*"], storage)
    tasks = [asyncio.create_task(stocks.run()), asyncio.create_task(crypto.run())]
    await wait_until(lambda: stocks.stats.trades >= 300 and crypto.stats.trades >= 30
                     and crypto.stats.quotes > 0)
    for task in tasks:
        await stop(task)

    assert stocks.stats.rejects == crypto.stats.rejects == 0
    assert stocks.stats.dropped_frames == crypto.stats.dropped_frames == 0
    stored_trades = stocks.stats.trades + crypto.stats.trades
    # Each simulated trade is unique: anything the dedupe collapsed would have been delivered twice.
    stored_quotes = stocks.stats.quotes + crypto.stats.quotes
    assert stocks.stats.rows_added + crypto.stats.rows_added == stored_trades + stored_quotes
    (count, keys, markets, sources, bad), = read_back(db_path, storage, """
        SELECT count(*),
               count(DISTINCT (market, symbol, exchange, trade_id, ts_ns)),
               list(DISTINCT market ORDER BY market),
               list(DISTINCT source),
               coalesce(list(struct_pack(symbol, price, size, ts_ns, received_ns)) FILTER (
                   WHERE price <= 0 OR size <= 0 OR abs(price * 100 - round(price * 100)) > 1e-6
                      OR ts_ns % 1000000 <> 0 OR received_ns < ts_ns - 1000000000), [])
        FROM market_data""")  # fmt: skip
    # prices on the cent grid (a double like 0.29 is 28.999999999999996 cents: compare with a tolerance),
    # whole-millisecond SIP times, received after the event (1 s of clock slack)
    assert count == keys == stored_trades
    assert markets == ["crypto", "stocks"] and sources == ["sim"] and bad == [], bad
    with duckdb.connect(str(db_path), read_only=True) as con:
        crypto_rows = con.execute("""SELECT DISTINCT symbol, tape IS NULL, sequence IS NULL FROM market_data
                                     WHERE market = 'crypto' ORDER BY symbol""").fetchall()
        assert crypto_rows == [("BTC-USD", True, True), ("ETH-USD", True, True)]
        stock_symbols = {s for (s,) in con.execute(
            "SELECT DISTINCT symbol FROM market_data WHERE market = 'stocks'").fetchall()}
        assert stock_symbols <= {"AAPL", "MSFT", "NVDA", "TSLA", "SPY", "AMZN", "GOOGL"}
        assert len(stock_symbols) > 3
        (out_of_order,) = con.execute("""
            SELECT count(*) FROM (
                SELECT ts_ns - lag(ts_ns) OVER (PARTITION BY symbol ORDER BY sequence) AS dt
                FROM market_data WHERE market = 'stocks') WHERE dt < 0""").fetchone()
        assert out_of_order == 0
        quote_symbols = {s for (s,) in con.execute(
            "SELECT DISTINCT symbol FROM quotes WHERE market = 'stocks'").fetchall()}
        assert quote_symbols == {"AAPL"}
        (crossed,) = con.execute("SELECT count(*) FROM quotes WHERE bid_price >= ask_price").fetchone()
        assert crossed == 0


async def test_wrong_api_key_is_a_clear_error(simulator, storage):
    feed = make_feed(simulator, "stocks", ["T.*"], storage, key="not-the-key")
    with pytest.raises(PolygonAuthError, match=r"Polygon refused the API key \(auth_failed\)"):
        async with asyncio.timeout(10):
            await feed.run()
    assert feed.stats.trades == 0


async def test_cancellation_flushes_what_the_feed_holds(simulator, storage, db_path):
    feed = make_feed(simulator, "stocks", ["T.*"], storage, batch_rows=10**6, batch_seconds=60)
    task = asyncio.create_task(feed.run())
    await wait_until(lambda: feed.stats.frames >= 30)
    assert feed.stats.batches == 0  # neither the size nor the age limit was reached
    await stop(task)
    assert feed.stats.batches == 1 and feed.stats.trades > 0
    ((count,),) = read_back(db_path, storage, "SELECT count(*) FROM market_data")
    assert count == feed.stats.trades


async def test_batches_are_cut_by_size_and_by_age(simulator, storage):
    feed = make_feed(simulator, "stocks", ["T.*", "Q.*"], storage, batch_rows=50, batch_seconds=0.3)
    task = asyncio.create_task(feed.run())
    await wait_until(lambda: feed.stats.batches >= 5)
    await stop(task)
    s = feed.stats
    assert s.last_batch_latency_s is not None and 0 <= s.last_batch_latency_s < 5
    assert s.last_write_s is not None
    assert (s.trades + s.quotes) / s.batches < 200  # size-cut batches hold ~50 rows plus at most one frame


async def test_simulated_feed_roughly_honours_its_rate(simulator, storage):
    """Loose bounds (0.3×–3×): the U-shaped intraday pattern and bursts move the short-run rate."""
    stocks = make_feed(simulator, "stocks", ["T.*"], storage)
    crypto = make_feed(simulator, "crypto", ["XT.*"], storage)
    tasks = [asyncio.create_task(stocks.run()), asyncio.create_task(crypto.run())]
    await wait_until(lambda: stocks.stats.batches > 0 and crypto.stats.batches > 0)
    n0, t0 = stocks.stats.trades + crypto.stats.trades, time.monotonic()
    await asyncio.sleep(3.0)  # a rate needs an interval of wall-clock time
    n1, t1 = stocks.stats.trades + crypto.stats.trades, time.monotonic()
    for task in tasks:
        await stop(task)
    rate = (n1 - n0) / (t1 - t0)
    assert 0.3 * simulator.market.rate < rate < 3 * simulator.market.rate, rate


async def test_force_disconnect_is_logged_and_the_feed_reconnects(simulator, storage, caplog):
    caplog.set_level(logging.WARNING, logger="ingest.feed")
    feed = make_feed(simulator, "stocks", ["T.*"], storage)
    task = asyncio.create_task(feed.run())
    await wait_until(lambda: feed.stats.trades > 20)
    await simulator.kick("force_disconnect", "Forced disconnect.")
    before = feed.stats.trades
    await wait_until(lambda: feed.stats.trades > before + 50)
    await stop(task)
    assert any("force_disconnect" in r.getMessage() for r in caplog.records)
    assert feed.stats.rows_added == feed.stats.trades  # nothing delivered twice across the reconnect


async def test_malformed_frames_are_counted_and_logged_not_fatal(simulator, storage, caplog):
    caplog.set_level(logging.WARNING, logger="ingest.feed")
    feed = make_feed(simulator, "stocks", ["T.*"], storage)
    task = asyncio.create_task(feed.run())
    await wait_until(lambda: feed.stats.trades > 0)
    await feed._enqueue(b'[{"ev":"T","sym":"MSFT","p":-1}]')  # what the client's processor would hand over
    await feed._enqueue(b"{not json")
    await wait_until(lambda: feed.stats.rejects == 2)
    before = feed.stats.trades
    await wait_until(lambda: feed.stats.trades > before)  # still ingesting
    await stop(task)
    messages = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(messages) == 2 and "frame is not valid JSON" in messages[1]


class GatedSink:
    """The real storage, with its first ``append_trades`` held until ``release`` is set; it records the rows
    (trades + quotes) of every write, in order."""

    def __init__(self, storage: DuckDBStorage) -> None:
        self.storage = storage
        self.release = threading.Event()
        self.entered = threading.Event()
        self.writes: list[int] = []

    def append_trades(self, batch):
        self.writes.append(batch.num_rows)
        if len(self.writes) == 1:
            self.entered.set()
            self.release.wait(30)
        return self.storage.append_trades(batch)

    def append_quotes(self, batch):
        self.writes[-1] += batch.num_rows
        return self.storage.append_quotes(batch)


async def test_a_slow_feed_batch_is_written_by_its_age(simulator, storage, db_path):
    """At a low rate no batch reaches batch_rows: each is written once its first frame is batch_seconds old."""
    feed = make_feed(simulator, "stocks", ["T.*"], storage, batch_rows=10**6, batch_seconds=0.2)
    task = asyncio.create_task(feed.run())
    await wait_until(lambda: feed.stats.batches >= 3)
    assert feed.stats.trades < 3 * 10**6 and feed.stats.trades > 0  # not one batch was full
    await stop(task)
    ((count,),) = read_back(db_path, storage, "SELECT count(*) FROM market_data")
    assert count == feed.stats.trades


async def test_what_arrives_during_a_write_goes_in_the_next_write_whole(storage, db_path):
    """One write in flight: batches falling due meanwhile are not written separately but together once it
    ends, never beyond MAX_BATCH_FACTOR x batch_rows plus the frames of one wake-up; nothing is lost."""
    rows_per_frame = 100
    async with PolygonSimulator(SyntheticMarket(seed=5, rate=4000.0), api_key=KEY,
                                max_events_per_frame=rows_per_frame) as sim:
        sink = GatedSink(storage)
        feed = make_feed(sim, "stocks", ["T.*", "Q.*"], sink, batch_rows=50, batch_seconds=0.05)
        task = asyncio.create_task(feed.run())
        await wait_until(lambda: sink.entered.is_set())
        sent = sim.events_sent["stocks"]
        bound = 50 * MAX_BATCH_FACTOR + feed_module._FRAMES_PER_WAKE * rows_per_frame
        await wait_until(lambda: sim.events_sent["stocks"] >= sent + bound + 3000)  # more than one write may take
        assert sink.writes[1:] == [] and feed.stats.batches == 0  # still the one write, nothing beside it
        sink.release.set()
        await wait_until(lambda: len(sink.writes) >= 3)
        await stop(task)
    assert sink.writes[1] >= 50 * MAX_BATCH_FACTOR  # what fell due during the first write, in one write
    assert sink.writes[1] <= bound
    assert feed.stats.dropped_frames == 0
    ((count,),) = read_back(db_path, storage, "SELECT count(*) FROM market_data")
    assert count == feed.stats.trades


async def test_a_batch_is_built_and_written_on_the_writer_thread_never_on_the_event_loop(
    simulator, storage, db_path, monkeypatch
):
    """Building a batch's tables is Python per event: done on the event loop it would hold up the socket and
    every HTTP answer, so it runs on the feed's writer thread, like the write. The real ``take`` runs; the
    wrapper only notes the thread, and the final flush (on cancellation) is built there too."""
    threads: list[str] = []
    real_take = feed_module.FastFrameBatch.take

    def noting_take(self):
        threads.append(threading.current_thread().name)
        return real_take(self)

    monkeypatch.setattr(feed_module.FastFrameBatch, "take", noting_take)
    feed = make_feed(simulator, "stocks", ["T.*", "Q.*"], storage, batch_rows=50, batch_seconds=0.1)
    task = asyncio.create_task(feed.run())
    await wait_until(lambda: feed.stats.batches >= 3)
    await stop(task)
    assert len(threads) >= 3
    assert all(name.startswith("polygon-feed-writer") for name in threads), threads
    ((count,),) = read_back(db_path, storage, "SELECT count(*) FROM market_data")
    assert count == feed.stats.trades > 0


async def test_a_batch_s_trades_are_committed_while_its_quotes_table_is_still_being_built(
    simulator, storage, db_path, monkeypatch
):
    """Trades first: the quotes' table of a batch is built on the quotes thread while its trades are written, so
    the trades are committed (and visible to ``get_real_time_data``) without waiting for it; the quotes are then
    written, after the trades of their batch and before the next batch. The quotes' build of the first batches
    is held until the trades of the batch are in the database (at most 10 s: code that built the quotes before
    writing the trades would wait that long, then see no trade)."""
    import ingest.frame_decode as frame_decode

    real_quotes_table = frame_decode._quotes_table
    seen: list[tuple[str, int, int]] = []  # (thread, trade writes and quote writes done when it began)
    order: list[str] = []
    trades_written = threading.Event()

    def held_quotes_table(events, received, source):
        trades_written.wait(10)
        seen.append((threading.current_thread().name, order.count("T"), order.count("Q")))
        trades_written.clear()
        return real_quotes_table(events, received, source)

    class Recording:
        def append_trades(self, batch):
            added = storage.append_trades(batch)
            order.append("T")
            trades_written.set()
            return added

        def append_quotes(self, batch):
            order.append("Q")
            return storage.append_quotes(batch)

    monkeypatch.setattr(frame_decode, "_quotes_table", held_quotes_table)
    feed = make_feed(simulator, "stocks", ["T.*", "Q.*"], Recording(), batch_rows=50, batch_seconds=0.1)
    task = asyncio.create_task(feed.run())
    await wait_until(lambda: feed.stats.batches >= 3)
    await stop(task)
    assert len(seen) >= 3
    assert all(name.startswith("polygon-feed-writer-quotes") for name, _, _ in seen), seen
    assert all(t == q + 1 for _, t, q in seen), seen  # the batch's trades were committed, its quotes not yet
    assert "".join(order).replace("TQ", "") == ""  # each batch: its trades, then its quotes
    ((trades,), (quotes,)) = (read_back(db_path, storage, "SELECT count(*) FROM market_data")[0],
                              read_back(db_path, storage, "SELECT count(*) FROM quotes")[0])
    assert trades == feed.stats.trades > 0 and quotes == feed.stats.quotes > 0


async def test_frames_waiting_in_the_queue_are_taken_without_a_getter_each_none_lost_or_doubled(storage, db_path):
    """Frames already queued when the drain wakes are taken off the queue directly (no getter task and wait per
    wake-up: at 50k trades/s those cost about as much as decoding the frame); every one is stored once, with
    the rows the reference decoder makes of it."""
    import orjson
    import pyarrow as pa

    from ingest.normalize import FrameBatch

    market = SyntheticMarket(seed=3, rate=20_000.0)
    start = 1_712_325_600 * 1_000_000_000
    market.advance(start)
    events = []
    for k in range(1, 41):
        events += market.advance(start + k * 50_000_000)
    frames = [orjson.dumps(events[k:k + 100]) for k in range(0, len(events), 100)]
    feed = PolygonFeed(api_key=KEY, feed="127.0.0.1:1", market="stocks", subscriptions=["T.*"], sink=storage,
                       batch_rows=500, batch_seconds=0.05, source="sim")
    for k, frame in enumerate(frames):
        feed._queue.put_nowait((frame, start + k))
    feed._queue.put_nowait(feed_module._STOP)
    gets = 0
    real_get = feed._queue.get

    async def counted_get():
        nonlocal gets
        gets += 1
        return await real_get()

    feed._queue.get = counted_get  # type: ignore[method-assign]
    feed._writer = feed_module.ThreadPoolExecutor(max_workers=1)
    try:
        await asyncio.wait_for(feed._drain(), 60)
    finally:
        feed._writer.shutdown(wait=True)
    assert len(frames) > 3 * feed_module._FRAMES_PER_WAKE
    assert gets <= 1  # every frame was waiting: none needed a getter
    reference = FrameBatch("sim")
    for k, frame in enumerate(frames):
        reference.add_frame(frame, start + k)
    expected = reference.take()
    key = "market, symbol, exchange, trade_id, ts_ns"
    stored = read_back(db_path, storage, f"SELECT {key}, price, size, conditions, received_ns FROM market_data "
                                         f"ORDER BY {key}")
    want = sorted(zip(*(expected.trades.column(c).to_pylist() for c in
                        ("market", "symbol", "exchange", "trade_id", "ts_ns", "price", "size", "conditions",
                         "received_ns")), strict=True))
    assert feed.stats.frames == len(frames)
    assert feed.stats.trades == expected.trades.num_rows == len(stored)
    assert stored == want
    assert isinstance(expected.quotes, pa.Table) and feed.stats.quotes == expected.quotes.num_rows
