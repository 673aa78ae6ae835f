"""The simulator's column-wise event encoding (``ingest.sim_events``) against the per-event reference.

Every step's events must be those of ``tests/reference/polygon_events.py`` (the dict-per-event builder, from the
polygon notes) over the same chunks: the same events in the same order, the same keys in the same order, the
same JSON types and values. The frames must be JSON arrays of those events that the feed's typed decoder takes
whole and ``polygon-api-client`` parses into its own models.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import orjson
import pytest
from polygon.websocket.models import CryptoQuote, CryptoTrade, EquityQuote, EquityTrade, Market
from polygon.websocket.models import parse as polygon_parse

from ingest.frame_decode import FastFrameBatch
from ingest.normalize import FrameBatch
from ingest.sim_events import _floats, encode_chunks
from ingest.synthetic_market import DEFAULT_SYMBOLS, THIN_SYMBOLS, SyntheticMarket
from tests.reference.polygon_events import step_events

START = 1_712_325_600 * 1_000_000_000
STEP = 50_000_000

MARKETS = {
    "default": {},
    "quote dynamics, bad prints, thin symbols": {
        "quote_dynamics": True, "bad_print_rate": 0.05, "symbols": DEFAULT_SYMBOLS + THIN_SYMBOLS},
}


def typed(events: list[dict[str, Any]]) -> list[list[tuple[str, str, Any]]]:
    """Each event's fields in order, with the JSON type each value reads back as."""
    return [[(key, type(value).__name__, value) for key, value in event.items()] for event in events]


def stepped(market: SyntheticMarket, steps: int) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """``(advance, reference)`` per 50 ms step after 20 s of history; the reference is built from the chunks
    the market recorded for the step (``record_truth``)."""
    market.history(START - 20 * 10**9, START, rate=1000.0)
    seen = {spec.symbol: len(market._state(spec.symbol).truth_log) for spec in market.symbols}
    out = []
    for k in range(1, steps + 1):
        got = market.advance(START + k * STEP)
        chunks = []
        for spec in market.symbols:
            log = market._state(spec.symbol).truth_log
            chunks += [(spec.symbol, spec.market, spec.tape, chunk) for chunk in log[seen[spec.symbol]:]]
            seen[spec.symbol] = len(log)
        out.append((got, step_events(chunks)))
    return out


@pytest.mark.parametrize("name", list(MARKETS))
def test_advance_gives_the_reference_events_with_their_types_and_key_order(name):
    market = SyntheticMarket(3, 20_000.0, record_truth=True, **MARKETS[name])
    kinds = set()
    for got, want in stepped(market, 6):
        assert want and typed(got) == typed(want)
        kinds |= {e["ev"] for e in got} | {"c" for e in got if e["ev"] == "T" and "c" in e}
        kinds |= {"trfi" for e in got if "trfi" in e}
    assert kinds == {"T", "Q", "XT", "XQ", "c", "trfi"}


def test_frames_are_arrays_of_the_next_events_in_order():
    market = SyntheticMarket(8, 20_000.0)
    market.advance(START)
    batch = market.advance_batch(START + 4 * STEP)
    frames = batch.frames(37)
    parsed = [orjson.loads(frame) for frame in frames]
    assert [len(f) for f in parsed[:-1]] == [37] * (len(parsed) - 1) and 1 <= len(parsed[-1]) <= 37
    assert [e for f in parsed for e in f] == batch.events()
    stocks = batch.select(batch.market == 0)
    assert [e for f in stocks.frames(100) for e in orjson.loads(f)] == [
        e for e in batch.events() if e["ev"] in ("T", "Q")]
    assert [batch.symbols[s] for s in stocks.symbol] == [e["sym"] for e in stocks.events()]
    empty = encode_chunks([], [])
    assert len(empty) == 0 and empty.frames(10) == [] and empty.events() == []


@pytest.mark.parametrize("values", [
    [190.0, 190.1, 190.01, 0.01, 3.0, 1e-8, 0.12345678, 65_000.0],  # the 10^-2 and 10^-8 grids
    [190.1234, 1e-9, 2.5e-5, 1e7 + 0.5, 1e22, 123456789.0, 0.30000000000000004],  # neither
    [-1.5, -190.0, 0.0, 5e-324],
])
def test_float_texts_read_back_as_the_same_floats(values):
    text = ",".join(_floats(np.array(values)).to_pylist())
    back = orjson.loads("[" + text + "]")
    assert back == values and all(type(v) is float for v in back)


def test_the_frames_decode_whole_in_the_feed_and_in_polygon_api_client():
    market = SyntheticMarket(5, 20_000.0, quote_dynamics=True, bad_print_rate=0.05)
    market.advance(START)
    batch = market.advance_batch(START + 4 * STEP)
    fast, reference = FastFrameBatch("ws"), FrameBatch("ws")
    parsed = []
    for code, name in ((0, Market.Stocks), (1, Market.Crypto)):
        for frame in batch.select(batch.market == code).frames(100):
            fast.add_frame(frame, START + 5 * STEP)
            reference.add_frame(frame, START + 5 * STEP)
            parsed += polygon_parse(orjson.loads(frame), logging.getLogger("test"), name)
    assert fast.reference_frames == 0 and fast.fast_frames > 0
    got, want = fast.take(), reference.take()
    assert got.trades.equals(want.trades) and got.quotes.equals(want.quotes) and not want.rejects
    events = batch.events()
    assert got.trades.num_rows == sum(e["ev"] in ("T", "XT") for e in events)
    assert len(parsed) == len(events)
    kinds = {EquityTrade: "T", EquityQuote: "Q", CryptoTrade: "XT", CryptoQuote: "XQ"}
    assert [kinds[type(m)] for m in parsed] == [e["ev"] for e in events if e["ev"] in ("T", "Q")] + [
        e["ev"] for e in events if e["ev"] in ("XT", "XQ")]
    trade = next(m for m in parsed if isinstance(m, EquityTrade))
    first = next(e for e in events if e["ev"] == "T")
    assert (trade.symbol, trade.price, trade.size, trade.id, trade.timestamp) == (
        first["sym"], first["p"], first["s"], first["i"], first["t"])


@pytest.mark.anyio
async def test_the_simulator_sends_each_connection_the_encoded_events_it_subscribed_to():
    """An encoded batch through ``PolygonSimulator._publish``: whole-market and named subscriptions get the same
    frames, a partial one only its channels and symbols, each frame the next events of its market in order."""
    import asyncio

    from ingest.simulator import PolygonSimulator, _Client

    market = SyntheticMarket(8, 20_000.0)
    market.advance(START)
    batch = market.advance_batch(START + 4 * STEP)
    events = batch.events()
    sim = PolygonSimulator(SyntheticMarket(8, 1.0), max_events_per_frame=37, max_queued_frames=100_000)
    stocks = market.symbols_of("stocks")
    subscriptions = {
        "whole": ("stocks", {"T": {"*"}, "Q": {"*"}}),
        "named": ("stocks", {"T": set(stocks), "Q": set(stocks)}),
        "crypto whole": ("crypto", {"XT": {"*"}, "XQ": {"*"}}),
        "some": ("stocks", {"T": {"*"}, "Q": {stocks[1], "NOPE"}}),
        "one pair": ("crypto", {"XT": {"ETH-USD"}, "XQ": set()}),
    }
    clients = {}
    for name, (path, subs) in subscriptions.items():
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(100_000)
        clients[name] = _Client(ws=None, market=path, queue=queue, subs=subs)  # type: ignore[arg-type]
        sim._clients.add(clients[name])
    await sim._publish(batch)
    frames = {name: [c.queue.get_nowait() for _ in range(c.queue.qsize())] for name, c in clients.items()}
    got = {name: [e for f in fs for e in orjson.loads(f)] for name, fs in frames.items()}
    assert frames["whole"] == frames["named"] and frames["whole"]
    assert all(len(orjson.loads(f)) == 37 for f in frames["whole"][:-1])
    assert got["whole"] == [e for e in events if e["ev"] in ("T", "Q")]
    assert got["crypto whole"] == [e for e in events if e["ev"] in ("XT", "XQ")]
    assert got["some"] == [e for e in events if e["ev"] == "T" or (e["ev"] == "Q" and e["sym"] == stocks[1])]
    assert got["one pair"] == [e for e in events if e["ev"] == "XT" and e["pair"] == "ETH-USD"] != []
    assert sim.events_sent == {"stocks": 2 * len(got["whole"]) + len(got["some"]),
                               "crypto": len(got["crypto whole"]) + len(got["one pair"])}
