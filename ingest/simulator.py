"""A local WebSocket server speaking Polygon's protocol, fed by a :class:`SyntheticMarket`.

It behaves like ``wss://socket.polygon.io/<market>`` as far as ``polygon-api-client`` can tell (polygon
notes §1.2–1.4), so the real client and the real feed code run against it unchanged:

1. on connect to ``/stocks`` or ``/crypto``: ``[{"ev":"status","status":"connected",...}]``;
2. ``{"action":"auth","params":KEY}`` → ``auth_success``, or ``auth_failed`` and a close (code 1008) when the
   simulator was built with an ``api_key`` and ``KEY`` differs; other actions before auth get
   ``auth_required``;
3. ``{"action":"subscribe","params":"T.*,Q.AAPL"}`` → one ``success`` status per topic
   (``"subscribed to: T.AAPL"``); ``unsubscribe`` → ``"unsubscribed to: ..."``. Channels are ``T``/``Q`` on
   ``/stocks`` and ``XT``/``XQ`` on ``/crypto``; a symbol is explicit or ``*``;
4. data: JSON arrays of several events each, only the subscribed channels and symbols.

One producer task advances the market every ``tick_seconds`` to the wall clock, takes its events encoded as
JSON text column-wise (:meth:`SyntheticMarket.advance_batch`, :mod:`ingest.sim_events`) and hands every
connection the frames it subscribed to through a bounded per-connection queue with its own writer task. A
connection whose queue overflows gets ``slow_consumer`` and is closed with code 1008, as Polygon does;
:meth:`PolygonSimulator.kick` sends any disconnect status (``force_disconnect``, ``max_connections``) to every
connection and closes it, so reconnect handling can be tested.

**Flood mode** (``flood=True``, for benchmarks such as ``bench/bench_ingest.py``): the market's clock no
longer follows the wall clock but steps ahead by ``tick_seconds`` as fast as the connections take the frames;
stepping starts once a connection has subscribed to something, and a connection whose queue is full is
waited for instead of being dropped as a slow consumer, so every event reaches every subscriber. Any object
with the market's ``advance(to_ns)`` method can be the source (:class:`EventSource`), e.g. events prepared
before a measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from ingest.sim_events import CHANNEL_NAMES, EventBatch
from ingest.synthetic_market import SyntheticMarket

if TYPE_CHECKING:
    from sql.settings import Settings

__all__ = ["CHANNELS", "EventSource", "PolygonSimulator", "run_simulator"]

log = logging.getLogger(__name__)

#: Channels each market path serves, and the field naming the symbol in their events.
CHANNELS: dict[str, dict[str, str]] = {
    "stocks": {"T": "sym", "Q": "sym"},
    "crypto": {"XT": "pair", "XQ": "pair"},
}
_POLICY_VIOLATION = 1008


def _status(status: str, message: str) -> dict[str, str]:
    return {"ev": "status", "status": status, "message": message}


def _frame(*events: dict[str, Any]) -> str:
    return orjson.dumps(list(events)).decode()


class EventSource(Protocol):
    """What the simulator serves: :class:`SyntheticMarket` or anything advancing the same way.

    A source that also has ``advance_batch(to_ns) -> EventBatch`` (the market does) is advanced with it: its
    events come already encoded (:mod:`ingest.sim_events`); any other source's event dicts are encoded once
    each with ``orjson``."""

    def advance(self, to_ns: int) -> list[dict[str, Any]]:
        """Polygon events up to ``to_ns`` (Unix ns), time-ordered; the first call may only position."""


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    market: str
    queue: asyncio.Queue[bytes | None]
    subs: dict[str, set[str]] = field(default_factory=dict)
    authed: bool = False

    def wants(self, channel: str, symbol: str) -> bool:
        symbols = self.subs.get(channel)
        return bool(symbols) and ("*" in symbols or symbol in symbols)  # type: ignore[operator]


def _wanted(client: _Client, batch: EventBatch) -> np.ndarray:
    """Which events of ``batch`` (of the client's market) the client subscribed to."""
    mask = np.zeros(len(batch), bool)
    for channel, symbols in client.subs.items():
        if not symbols or channel not in CHANNEL_NAMES:
            continue
        of_channel = batch.channel == CHANNEL_NAMES.index(channel)
        if "*" not in symbols:
            codes = [k for k, name in enumerate(batch.symbols) if name in symbols]
            of_channel &= np.isin(batch.symbol, codes)
        mask |= of_channel
    return mask


class PolygonSimulator:
    """Serve a :class:`SyntheticMarket` over the Polygon WebSocket protocol.

    Parameters
    ----------
    market
        The market; the simulator advances it to the wall clock (or, flooding, ahead of it).
    host, port
        Where to listen; port 0 picks a free port (read it back from :attr:`port`).
    api_key
        When given, ``auth`` with any other key fails with ``auth_failed``; when ``None`` any key passes.
    tick_seconds
        How often the market is advanced and frames are sent.
    max_events_per_frame
        Largest number of events in one frame.
    max_queued_frames
        Frames one connection may have waiting before it is dropped as a ``slow_consumer``.
    clock
        Wall clock in Unix nanoseconds (injectable for tests).
    flood
        Serve as fast as possible instead of in real time (module docstring, "Flood mode").
    compression
        ``"deflate"``: offer permessage-deflate, as ``websockets`` servers do by default (clients such as
        ``polygon-api-client`` accept it); ``None``: plain frames. Deflate costs the simulator ~2 µs and the
        client ~1 µs of CPU per trade in flood mode (frames of 100 trades).
    deflate_level
        zlib level of the frames the simulator deflates (websockets' other settings kept: 12-bit windows,
        ``memLevel`` 5). The default 1 deflates a frame of the demo's events in about half the CPU of zlib's
        default level 6 (~1.7 against ~3.3 µs a trade with its quote, frames 4.6 against 6.6 times smaller);
        the client inflates either alike, and the events are the same.
    """

    def __init__(
        self,
        market: SyntheticMarket | EventSource,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        *,
        tick_seconds: float = 0.05,
        max_events_per_frame: int = 100,
        max_queued_frames: int = 2000,
        clock: Callable[[], int] = time.time_ns,
        flood: bool = False,
        compression: str | None = "deflate",
        deflate_level: int = 1,
    ) -> None:
        if not 0 <= deflate_level <= 9:
            raise ValueError(f"deflate_level must be 0..9, got {deflate_level}")
        self.market = market
        self.flood = flood
        self.compression = compression
        self.deflate_level = deflate_level
        self.host = host
        self._requested_port = port
        self.api_key = api_key
        self.tick_seconds = tick_seconds
        self.max_events_per_frame = max_events_per_frame
        self.max_queued_frames = max_queued_frames
        self.clock = clock
        self._server: Server | None = None
        self._producer: asyncio.Task[None] | None = None
        self._clients: set[_Client] = set()
        #: Events sent since start, per market (for tests and the statistics line).
        self.events_sent: dict[str, int] = {"stocks": 0, "crypto": 0}
        #: Wall-clock time (Unix ns) the first data frame was handed to a connection.
        self.first_data_ns: int | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def feed(self) -> str:
        """``host:port``, the ``feed`` argument of ``polygon.WebSocketClient`` (with ``secure=False``)."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind the socket and start producing market data."""
        extensions = None
        if self.compression == "deflate":  # websockets' own factory and settings, only the level changed
            extensions = [ServerPerMessageDeflateFactory(
                server_max_window_bits=12, client_max_window_bits=12,
                compress_settings={"memLevel": 5, "level": self.deflate_level})]
        self._server = await serve(self._handle, self.host, self._requested_port, max_size=2**20,
                                   compression=self.compression, extensions=extensions)
        self.market.advance(self.clock())  # positions a market without history at "now"
        self._producer = asyncio.create_task(self._produce(), name="polygon-simulator-producer")
        log.info("Polygon simulator on ws://%s/stocks and /crypto", self.feed)

    async def stop(self) -> None:
        """Stop producing, close every connection and the listening socket."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
            self._producer = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        """Start if needed and serve until cancelled."""
        if self._server is None:
            await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    async def __aenter__(self) -> PolygonSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def kick(self, status: str = "force_disconnect", message: str = "Forced disconnect.") -> None:
        """Send ``status`` to every connection and close each with code 1008 (clients should reconnect)."""
        for client in list(self._clients):
            with contextlib.suppress(ConnectionClosed):
                await client.ws.send(_frame(_status(status, message)))
                await client.ws.close(_POLICY_VIOLATION, status)

    # --- one connection ----------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        path = (ws.request.path if ws.request is not None else "/").split("?", 1)[0].strip("/")
        if path not in CHANNELS:
            await ws.send(_frame(_status("error", f"unknown market path '/{path}'")))
            await ws.close(_POLICY_VIOLATION, "unknown market")
            return
        client = _Client(ws, path, asyncio.Queue(self.max_queued_frames))
        await ws.send(_frame(_status("connected", "Connected Successfully")))
        writer = asyncio.create_task(self._write(client))
        self._clients.add(client)
        try:
            async for message in ws:
                if not await self._on_message(client, message):
                    break
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _on_message(self, client: _Client, message: str | bytes) -> bool:
        """Answer one client message; return ``False`` when the connection must end."""
        ws = client.ws
        try:
            request = orjson.loads(message)
            action, params = request["action"], request.get("params", "")
        except (orjson.JSONDecodeError, TypeError, KeyError):
            await ws.send(_frame(_status("error", "invalid message")))
            return True
        if action == "auth":
            if self.api_key is not None and params != self.api_key:
                await ws.send(_frame(_status("auth_failed", "authentication failed")))
                await ws.close(_POLICY_VIOLATION, "authentication failed")
                return False
            client.authed = True
            await ws.send(_frame(_status("auth_success", "authenticated")))
            return True
        if action not in ("subscribe", "unsubscribe"):
            await ws.send(_frame(_status("error", f"unknown action {action!r}")))
            return True
        if not client.authed:
            await ws.send(_frame(_status("auth_required", "You must authenticate before any other request.")))
            return True
        replies = []
        for topic in str(params).split(","):
            topic = topic.strip()
            channel, _, symbol = topic.partition(".")
            if channel not in CHANNELS[client.market] or not symbol:
                replies.append(_status("error", f"invalid subscription: {topic}"))
            elif action == "subscribe":
                client.subs.setdefault(channel, set()).add(symbol)
                replies.append(_status("success", f"subscribed to: {topic}"))
            else:
                symbols = client.subs.get(channel, set())
                if symbol == "*":
                    symbols.clear()
                else:
                    symbols.discard(symbol)
                replies.append(_status("success", f"unsubscribed to: {topic}"))
        for reply in replies:
            await ws.send(_frame(reply))
        return True

    async def _write(self, client: _Client) -> None:
        while True:
            frame = await client.queue.get()
            if frame is None:
                return
            try:
                await client.ws.send(frame, text=True)
            except ConnectionClosed:
                return

    # --- the producer ------------------------------------------------------------------------------------

    async def _produce(self) -> None:
        if self.flood:
            await self._flood()
        while True:
            await asyncio.sleep(self.tick_seconds)
            events = self._advance(self.clock())
            if len(events) and self._clients:
                await self._publish(events)

    async def _flood(self) -> None:
        step_ns = max(1, int(self.tick_seconds * 1e9))
        to_ns = self.clock()
        while True:
            if not any(any(c.subs.values()) for c in self._clients):
                await asyncio.sleep(0.01)
                continue
            to_ns += step_ns
            events = self._advance(to_ns)
            if len(events):
                await self._publish(events)
                await asyncio.sleep(0)  # let the writers and the socket run between steps
            else:
                await asyncio.sleep(0.01)  # a source with nothing left must not spin

    async def _put(self, client: _Client, frame: bytes) -> bool:
        """Queue ``frame`` for ``client``; ``False`` when the client was dropped or went away."""
        if self.first_data_ns is None:
            self.first_data_ns = time.time_ns()
        if not self.flood:
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                await self._drop_slow(client)
                return False
            return True
        while True:  # flooding: wait for the connection instead of dropping it
            try:
                client.queue.put_nowait(frame)
                return True
            except asyncio.QueueFull:
                if client not in self._clients:
                    return False
                await asyncio.sleep(0.001)

    def _advance(self, to_ns: int) -> EventBatch | list[dict[str, Any]]:
        advance_batch = getattr(self.market, "advance_batch", None)
        if advance_batch is not None:
            return advance_batch(to_ns)  # type: ignore[no-any-return]
        return self.market.advance(to_ns)

    async def _publish(self, events: EventBatch | list[dict[str, Any]]) -> None:
        """Hand each connection the frames of the events it subscribed to, ``max_events_per_frame`` a frame.

        A connection subscribed to every channel of its market with ``*`` (the demo's feeds) gets its market's
        events in frames cut once for all such connections; any other connection gets its events chosen by
        channel and symbol. Each event is encoded once: an :class:`EventBatch` comes encoded, event dicts (a
        source without ``advance_batch``) are encoded with ``orjson``, a frame at a time where a connection
        takes them all. The frames are JSON arrays of the events, the same bytes either way."""
        if not isinstance(events, EventBatch):
            await self._publish_dicts(events)
            return
        size = self.max_events_per_frame
        by_market: dict[str, EventBatch] = {}
        whole: dict[str, list[bytes]] = {}  # market -> the frames of all its events
        for client in list(self._clients):
            if client.market not in by_market:
                code = 1 if client.market == "crypto" else 0
                by_market[client.market] = events.select(events.market == code)
            mine = by_market[client.market]
            everything = {channel for channel, symbols in client.subs.items() if "*" in symbols}
            if everything >= CHANNELS[client.market].keys():
                if client.market not in whole:
                    whole[client.market] = mine.frames(size)
                frames, count = whole[client.market], len(mine)
            else:
                chosen = mine.select(_wanted(client, mine))
                frames, count = chosen.frames(size), len(chosen)
            await self._send(client, frames, count)

    async def _publish_dicts(self, events: list[dict[str, Any]]) -> None:
        """:meth:`_publish` of event dicts: one ``orjson`` call a frame for a whole-market connection."""
        by_market: dict[str, list[dict[str, Any]]] = {"stocks": [], "crypto": []}
        stock_channels = CHANNELS["stocks"]
        for event in events:
            by_market["stocks" if event["ev"] in stock_channels else "crypto"].append(event)
        size = self.max_events_per_frame
        whole: dict[str, list[bytes]] = {}  # market -> the frames of all its events
        encoded: dict[str, list[tuple[str, str, bytes]]] = {}  # market -> (channel, symbol, event) of each
        for client in list(self._clients):
            mine = by_market[client.market]
            everything = {channel for channel, symbols in client.subs.items() if "*" in symbols}
            if everything >= CHANNELS[client.market].keys():
                if client.market not in whole:
                    whole[client.market] = [orjson.dumps(mine[k:k + size]) for k in range(0, len(mine), size)]
                frames, count = whole[client.market], len(mine)
            else:
                if client.market not in encoded:
                    names = CHANNELS[client.market]
                    encoded[client.market] = [(e["ev"], e[names[e["ev"]]], orjson.dumps(e)) for e in mine]
                chosen = [raw for channel, symbol, raw in encoded[client.market]
                          if channel in everything or client.wants(channel, symbol)]
                frames = [b"[" + b",".join(chosen[k:k + size]) + b"]" for k in range(0, len(chosen), size)]
                count = len(chosen)
            await self._send(client, frames, count)

    async def _send(self, client: _Client, frames: list[bytes], count: int) -> None:
        for frame in frames:
            if not await self._put(client, frame):
                return
        self.events_sent[client.market] += count

    async def _drop_slow(self, client: _Client) -> None:
        log.warning("simulator: dropping a slow consumer on /%s", client.market)
        self._clients.discard(client)
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(_frame(_status("slow_consumer", "Slow consumer: the client fell behind.")))
            await client.ws.close(_POLICY_VIOLATION, "slow consumer")


async def _serve_until_signal(settings: Settings) -> None:
    market = SyntheticMarket(settings.sim_seed, settings.sim_rate)
    api_key = settings.polygon_api_key.get_secret_value() if settings.polygon_api_key is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with PolygonSimulator(market, settings.sim_host, settings.sim_port, api_key) as sim:
        log.info("simulating %.0f trades/s (seed %d) on ws://%s/stocks and ws://%s/crypto",
                 settings.sim_rate, settings.sim_seed, sim.feed, sim.feed)
        await stop.wait()
    log.info("simulator stopped")


def run_simulator(settings: Settings) -> None:
    """Serve the simulated Polygon feed on ``sim_host:sim_port`` until SIGINT or SIGTERM.

    Parameters
    ----------
    settings
        Uses ``sim_host``, ``sim_port``, ``sim_seed``, ``sim_rate`` and, when set, ``polygon_api_key`` as the
        only key the simulator accepts.
    """
    asyncio.run(_serve_until_signal(settings))
