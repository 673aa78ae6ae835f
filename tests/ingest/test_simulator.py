"""The synthetic market (determinism, stylized facts) and the simulator's Polygon protocol."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ingest.simulator import PolygonSimulator
from ingest.synthetic_market import NS_PER_DAY, NS_PER_MIN, SyntheticMarket
from sql.contract import QUOTES_SCHEMA, TRADE_KEY, TRADES_SCHEMA

START = (1_700_000_000 * 10**9 // NS_PER_DAY) * NS_PER_DAY  # 2023-11-14 00:00 UTC
HOUR = 3600 * 10**9
SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "SPY", "AMZN", "GOOGL", "BTC-USD", "ETH-USD"]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def two_days() -> tuple[pa.Table, pa.Table]:
    return SyntheticMarket(seed=7, rate=20.0).history(START, START + 2 * NS_PER_DAY)


def one_minute_returns(trades: pa.Table, symbol: str) -> np.ndarray:
    """Log returns of previous-tick closes on the 1-minute grid."""
    t = trades.filter(pc.equal(trades["symbol"], symbol))
    ts, price = t["ts_ns"].to_numpy(), t["price"].to_numpy()
    order = np.argsort(ts, kind="stable")
    ts, price = ts[order], price[order]
    minute_ends = START + NS_PER_MIN * np.arange(1, 2 * 1440 + 1)
    last = np.searchsorted(ts, minute_ends, side="left") - 1
    return np.diff(np.log(price[np.maximum(last, 0)]))


def robust_sigma(r: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


# --- determinism --------------------------------------------------------------------------------------------


def test_same_seed_and_range_give_identical_history():
    a = SyntheticMarket(seed=3, rate=30.0).history(START, START + 2 * HOUR)
    b = SyntheticMarket(seed=3, rate=30.0).history(START, START + 2 * HOUR)
    assert a[0].num_rows > 100_000
    assert a[0].equals(b[0]) and a[1].equals(b[1])


def test_history_is_a_function_of_seed_and_range_not_of_earlier_calls():
    market = SyntheticMarket(seed=3, rate=30.0)
    market.history(START, START + HOUR)
    market.advance(START + HOUR + 10**9)
    again = market.history(START, START + 2 * HOUR)
    assert again[0].equals(SyntheticMarket(seed=3, rate=30.0).history(START, START + 2 * HOUR)[0])


def test_different_seed_gives_different_history():
    a = SyntheticMarket(seed=3, rate=30.0).history(START, START + HOUR)[0]
    b = SyntheticMarket(seed=4, rate=30.0).history(START, START + HOUR)[0]
    assert not a.equals(b)
    assert a["price"].to_numpy()[-1000:].tolist() != b["price"].to_numpy()[-1000:].tolist()


# --- shape of the output ------------------------------------------------------------------------------------


def test_history_tables_have_the_contract_schemas_and_every_symbol(two_days):
    trades, quotes = two_days
    assert trades.schema == TRADES_SCHEMA and quotes.schema == QUOTES_SCHEMA
    assert set(pc.unique(trades["symbol"]).to_pylist()) == set(SYMBOLS)
    assert set(pc.unique(trades["source"]).to_pylist()) == {"sim"}
    assert pc.min(trades["ts_ns"]).as_py() >= START
    assert pc.max(trades["ts_ns"]).as_py() < START + 2 * NS_PER_DAY
    assert np.all(trades["ts_ns"].to_numpy() % 1_000_000 == 0)  # whole milliseconds, like the feed's ``t``


def test_mean_rate_is_the_requested_rate(two_days):
    trades, _ = two_days
    assert trades.num_rows / (2 * 86_400) == pytest.approx(20.0, rel=0.15)


def test_prices_are_positive_on_the_cent_grid_and_quotes_bracket_trades(two_days):
    trades, quotes = two_days
    for column in (trades["price"], quotes["bid_price"], quotes["ask_price"]):
        cents = column.to_numpy() * 100
        assert np.all(cents > 0)
        np.testing.assert_allclose(cents, np.round(cents), atol=1e-6)
    bid, ask = quotes["bid_price"].to_numpy(), quotes["ask_price"].to_numpy()
    assert np.all(bid < ask)
    price = trades["price"].to_numpy()  # history emits one quote per trade, in the same order
    assert np.all((bid - 1e-9 <= price) & (price <= ask + 1e-9))
    assert trades["size"].to_numpy().min() > 0


def test_dedupe_keys_are_unique_and_sequences_increase(two_days):
    trades, _ = two_days
    keys = trades.group_by(list(TRADE_KEY)).aggregate([([], "count_all")])
    assert keys.num_rows == trades.num_rows
    for symbol in ("AAPL", "SPY"):
        seq = trades.filter(pc.equal(trades["symbol"], symbol))["sequence"].to_numpy()
        assert np.all(np.diff(seq) > 0)


# --- stylized facts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_volatility_clusters(two_days, symbol):
    r = one_minute_returns(two_days[0], symbol)
    s = robust_sigma(r)
    x = np.clip(r, -5 * s, 5 * s) ** 2  # jumps would swamp the estimate
    x = x - x.mean()
    acf = [float(np.dot(x[:-k], x[k:]) / np.dot(x, x)) for k in (1, 2, 3, 4, 5)]
    bound = 2 / np.sqrt(len(x))  # 95 % band of an iid series
    assert np.mean(acf) > 2 * bound, acf


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_jumps_stand_out_at_one_minute(two_days, symbol):
    r = one_minute_returns(two_days[0], symbol)
    assert np.max(np.abs(r)) / robust_sigma(r) > 8


def test_intraday_intensity_is_u_shaped(two_days):
    hours = (two_days[0]["ts_ns"].to_numpy() - START) // HOUR % 24
    per_hour = np.bincount(hours, minlength=24)
    edges, middle = per_hour[[0, 1, 22, 23]].mean(), per_hour[10:14].mean()
    assert edges / middle > 1.8  # the model's U is 3× at midnight vs noon UTC
    assert per_hour.min() > 0


def test_arrivals_come_in_bursts(two_days):
    trades = two_days[0].filter(pc.equal(two_days[0]["symbol"], "SPY"))
    ts = trades["ts_ns"].to_numpy()
    noon = ts[(ts >= START + 12 * HOUR) & (ts < START + 13 * HOUR)]
    per_second = np.bincount((noon - START - 12 * HOUR) // 10**9, minlength=3600)
    assert per_second.var() / per_second.mean() > 1.5  # a Poisson process would give 1


def test_history_builds_days_of_backfill_at_a_high_rate():
    """2 days × 50 trades/s ≈ 8.6 M trades in one call (its speed is measured in bench/, not asserted here)."""
    trades, _ = SyntheticMarket(seed=1, rate=50.0).history(START, START + 2 * NS_PER_DAY)
    assert trades.num_rows > 7_000_000


# --- live continuation --------------------------------------------------------------------------------------


def test_live_events_continue_history_without_key_collisions():
    market = SyntheticMarket(seed=5, rate=500.0)
    trades, _ = market.history(START, START + HOUR)
    events = market.advance(START + HOUR + 10**9 // 2)
    events += market.advance(START + HOUR + 10**9)
    stock_trades = [e for e in events if e["ev"] == "T"]
    assert stock_trades and any(e["ev"] == "XT" for e in events)
    aapl_hist = trades.filter(pc.equal(trades["symbol"], "AAPL"))
    live_aapl = [e for e in stock_trades if e["sym"] == "AAPL"]
    assert min(int(e["i"]) for e in live_aapl) > max(map(int, aapl_hist["trade_id"].to_pylist()))
    assert min(e["q"] for e in live_aapl) > pc.max(aapl_hist["sequence"]).as_py()
    assert abs(np.log(live_aapl[0]["p"] / aapl_hist["price"].to_numpy()[-1])) < 0.01  # same price path
    assert all(START + HOUR <= e["t"] * 1_000_000 < START + HOUR + 10**9 for e in stock_trades)
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)


def test_live_events_carry_polygon_field_names_and_types():
    market = SyntheticMarket(seed=5, rate=2000.0)
    market.history(START, START + 60 * 10**9)
    events = market.advance(START + 61 * 10**9)
    by_type = {ev: [e for e in events if e["ev"] == ev] for ev in ("T", "Q", "XT", "XQ")}
    assert all(by_type.values()), {k: len(v) for k, v in by_type.items()}
    for e in by_type["T"]:
        assert {"ev", "sym", "x", "i", "z", "p", "s", "t", "q"} <= set(e)
        assert set(e) <= {"ev", "sym", "x", "i", "z", "p", "s", "t", "q", "c", "trfi", "trft"}
        assert isinstance(e["i"], str) and isinstance(e["s"], int) and isinstance(e["t"], int)
        assert all(isinstance(c, int) for c in e.get("c", []))
    for e in by_type["Q"]:
        assert set(e) == {"ev", "sym", "bx", "bp", "bs", "ax", "ap", "as", "c", "t", "q", "z"}
        assert e["bp"] < e["ap"]
    for e in by_type["XT"]:
        assert set(e) == {"ev", "pair", "p", "t", "s", "c", "i", "x", "r"} and isinstance(e["s"], float)
        assert e["c"] in ([1], [2])
    for e in by_type["XQ"]:
        assert set(e) == {"ev", "pair", "bp", "bs", "ap", "as", "t", "x", "r"}


# --- protocol -----------------------------------------------------------------------------------------------


async def recv_json(ws) -> list[dict]:
    return orjson.loads(await asyncio.wait_for(ws.recv(), 5))


async def recv_status(ws) -> list[dict]:
    """Next frame that carries status events (data frames may interleave after a subscription)."""
    while True:
        events = await recv_json(ws)
        if events and events[0]["ev"] == "status":
            return events


@pytest.mark.anyio
async def test_connect_auth_and_subscribe_statuses():
    async with PolygonSimulator(SyntheticMarket(1, 300.0), api_key="secret") as sim:
        async with connect(f"ws://{sim.feed}/stocks") as ws:
            assert await recv_json(ws) == [
                {"ev": "status", "status": "connected", "message": "Connected Successfully"}
            ]
            await ws.send(orjson.dumps({"action": "subscribe", "params": "T.*"}).decode())
            assert (await recv_json(ws))[0]["status"] == "auth_required"
            await ws.send(orjson.dumps({"action": "auth", "params": "secret"}).decode())
            (auth,) = await recv_json(ws)
            assert auth == {"ev": "status", "status": "auth_success", "message": "authenticated"}
            await ws.send(orjson.dumps({"action": "subscribe", "params": "T.*,Q.AAPL,XT.BTC-USD"}).decode())
            statuses = [(await recv_status(ws))[0] for _ in range(3)]
            assert [(s["status"], s["message"]) for s in statuses] == [
                ("success", "subscribed to: T.*"),
                ("success", "subscribed to: Q.AAPL"),
                ("error", "invalid subscription: XT.BTC-USD"),  # a crypto channel on /stocks
            ]
            await ws.send(orjson.dumps({"action": "unsubscribe", "params": "Q.AAPL"}).decode())
            assert (await recv_status(ws))[0]["message"] == "unsubscribed to: Q.AAPL"


@pytest.mark.anyio
async def test_wrong_key_gets_auth_failed_and_a_close():
    async with PolygonSimulator(SyntheticMarket(1, 100.0), api_key="secret") as sim:
        async with connect(f"ws://{sim.feed}/crypto") as ws:
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "auth", "params": "wrong"}).decode())
            assert (await recv_json(ws))[0]["status"] == "auth_failed"
            with pytest.raises(ConnectionClosed):
                await recv_json(ws)
            assert ws.close_code == 1008


@pytest.mark.anyio
async def test_data_frames_hold_only_subscribed_channels_and_symbols():
    async with PolygonSimulator(SyntheticMarket(1, 3000.0), api_key=None) as sim:
        async with connect(f"ws://{sim.feed}/stocks") as ws:
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "auth", "params": "anything"}).decode())
            assert (await recv_json(ws))[0]["status"] == "auth_success"
            await ws.send(orjson.dumps({"action": "subscribe", "params": "T.*,Q.MSFT"}).decode())
            events: list[dict] = []
            async with asyncio.timeout(10):
                while not ({"T", "Q"} <= {e["ev"] for e in events} and len(events) > 200):
                    events += [e for e in await recv_json(ws) if e["ev"] != "status"]
            assert {e["ev"] for e in events} == {"T", "Q"}
            assert {e["sym"] for e in events if e["ev"] == "Q"} == {"MSFT"}
            assert len({e["sym"] for e in events if e["ev"] == "T"}) > 3
            trade = next(e for e in events if e["ev"] == "T")
            assert {"sym", "x", "i", "z", "p", "s", "t", "q"} <= set(trade)


@pytest.mark.anyio
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_permessage_deflate_is_offered_only_when_asked(compression):
    async with PolygonSimulator(SyntheticMarket(1, 3000.0), compression=compression) as sim:
        async with connect(f"ws://{sim.feed}/stocks") as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
            assert (extensions is not None and "permessage-deflate" in extensions) == (compression is not None)
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "auth", "params": "k"}).decode())
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "subscribe", "params": "T.*"}).decode())
            async with asyncio.timeout(10):
                while not [e for e in await recv_json(ws) if e["ev"] == "T"]:
                    pass


@pytest.mark.anyio
async def test_crypto_path_serves_xt_and_xq_for_explicit_pairs():
    async with PolygonSimulator(SyntheticMarket(2, 3000.0)) as sim:
        async with connect(f"ws://{sim.feed}/crypto") as ws:
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "auth", "params": "k"}).decode())
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "subscribe", "params": "XT.ETH-USD,XQ.*"}).decode())
            events: list[dict] = []
            async with asyncio.timeout(10):
                while len({e["ev"] for e in events}) < 2 or len(events) < 50:
                    events += [e for e in await recv_json(ws) if e["ev"] != "status"]
            assert {e["pair"] for e in events if e["ev"] == "XT"} == {"ETH-USD"}
            assert {e["ev"] for e in events} == {"XT", "XQ"}


@pytest.mark.anyio
async def test_unknown_path_is_refused():
    async with PolygonSimulator(SyntheticMarket(1, 10.0)) as sim:
        async with connect(f"ws://{sim.feed}/options") as ws:
            assert (await recv_json(ws))[0]["status"] == "error"
            with pytest.raises(ConnectionClosed):
                await recv_json(ws)


@pytest.mark.anyio
async def test_port_zero_binds_a_free_port_and_stop_closes_it():
    sim = PolygonSimulator(SyntheticMarket(1, 10.0), port=0)
    await sim.start()
    port = sim.port
    assert port > 0
    await sim.stop()
    with pytest.raises(OSError):
        async with connect(f"ws://127.0.0.1:{port}/stocks", open_timeout=2):
            pass


class _Counted:
    """An event source of ``n`` stock trades, ``per_step`` per ``advance`` call (the flood-mode protocol)."""

    def __init__(self, n: int, per_step: int) -> None:
        self.left, self.per_step, self.next_id, self.calls = n, per_step, 1, 0

    def advance(self, to_ns: int) -> list[dict]:
        self.calls += 1
        if self.calls == 1:
            return []  # the simulator's start only positions the market
        k = min(self.left, self.per_step)
        self.left -= k
        events = [{"ev": "T", "sym": "AAPL", "x": 4, "i": str(self.next_id + j), "z": 3, "p": 190.0, "s": 1,
                   "t": to_ns // 1_000_000, "q": self.next_id + j} for j in range(k)]
        self.next_id += k
        return events


@pytest.mark.anyio
async def test_flood_mode_runs_ahead_of_the_clock_and_waits_for_a_slow_reader():
    source = _Counted(6000, 500)
    # A tiny per-connection queue and a reader that pauses: real-time mode would drop it as slow.
    async with PolygonSimulator(source, flood=True, tick_seconds=10.0, max_queued_frames=2) as sim:
        async with connect(f"ws://{sim.feed}/stocks") as ws:
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "auth", "params": "k"}).decode())
            await recv_json(ws)
            calls_before_subscribing = source.calls
            await ws.send(orjson.dumps({"action": "subscribe", "params": "T.*"}).decode())
            ids: list[int] = []
            async with asyncio.timeout(20):
                while len(ids) < 6000:
                    ids += [int(e["i"]) for e in await recv_json(ws) if e["ev"] == "T"]
                    if len(ids) == 1000:
                        await asyncio.sleep(0.5)
    assert calls_before_subscribing <= 1  # nothing is generated before a subscription (the first call positions)
    assert ids == list(range(1, 6001))  # every event, in order, none dropped
    assert sim.events_sent["stocks"] == 6000 and sim.first_data_ns is not None


@pytest.mark.anyio
@pytest.mark.parametrize("level", [1, 6])
async def test_frames_are_deflated_at_the_level_asked(level):
    """The simulator deflates at ``deflate_level`` (its default 1: about half the CPU of zlib's 6), with
    websockets' other settings (12-bit windows); the client reads the frames."""
    async with PolygonSimulator(SyntheticMarket(4, 3000.0), deflate_level=level) as sim:
        async with connect(f"ws://{sim.feed}/stocks") as ws:
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "auth", "params": "k"}).decode())
            await recv_json(ws)
            await ws.send(orjson.dumps({"action": "subscribe", "params": "T.*,Q.*"}).decode())
            async with asyncio.timeout(10):
                while not [e for e in await recv_json(ws) if e["ev"] == "T"]:
                    pass
            (client,) = sim._clients
            (deflate,) = client.ws.protocol.extensions
            assert deflate.name == "permessage-deflate"
            assert deflate.compress_settings["level"] == level
            assert deflate.remote_max_window_bits == deflate.local_max_window_bits == 12
    assert PolygonSimulator(SyntheticMarket(4, 3000.0)).deflate_level == 1


@pytest.mark.anyio
async def test_frames_of_a_whole_market_subscription_equal_those_chosen_event_by_event():
    """A connection subscribed to every channel of its market with ``*`` gets frames encoded once for the whole
    market; one naming every symbol gets its events chosen one by one: the same bytes, and each frame is the
    next ``max_events_per_frame`` events of its market in order, as JSON."""
    from ingest.simulator import _Client

    start = 1_712_325_600 * 1_000_000_000
    market = SyntheticMarket(8, 20_000.0)
    market.advance(start)
    events = market.advance(start + 200_000_000)
    sim = PolygonSimulator(SyntheticMarket(8, 1.0), max_events_per_frame=37, max_queued_frames=100_000)
    stocks = market.symbols_of("stocks")
    subscriptions = {
        "whole": ("stocks", {"T": {"*"}, "Q": {"*"}}),
        "named": ("stocks", {"T": set(stocks), "Q": set(stocks)}),
        "crypto whole": ("crypto", {"XT": {"*"}, "XQ": {"*"}}),
        "some": ("stocks", {"T": {"*"}, "Q": {stocks[0]}}),
    }
    clients = {}
    for name, (path, subs) in subscriptions.items():
        clients[name] = _Client(ws=None, market=path, queue=asyncio.Queue(100_000), subs=subs)  # type: ignore[arg-type]
        sim._clients.add(clients[name])
    await sim._publish(events)
    frames = {name: [c.queue.get_nowait() for _ in range(c.queue.qsize())] for name, c in clients.items()}
    assert frames["whole"] == frames["named"] and frames["whole"]
    for name, channels in (("whole", {"T", "Q"}), ("crypto whole", {"XT", "XQ"})):
        want = [e for e in events if e["ev"] in channels]
        got = [orjson.loads(f) for f in frames[name]]
        assert [len(f) for f in got[:-1]] == [37] * (len(got) - 1)
        assert [e for f in got for e in f] == want
    some = [e for f in frames["some"] for e in orjson.loads(f)]
    assert some == [e for e in events if e["ev"] == "T" or (e["ev"] == "Q" and e["sym"] == stocks[0])]
    assert sim.events_sent["stocks"] == 2 * len([e for e in events if e["ev"] in {"T", "Q"}]) + len(some)
