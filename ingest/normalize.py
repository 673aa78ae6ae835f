"""Polygon WebSocket frames → Arrow tables of the storage contract (pure: no I/O, no clock, no logging).

A Polygon frame is a JSON array of events, each tagged by ``ev`` (polygon notes §1.3–1.4). This module turns
frames into rows of :data:`sql.contract.TRADES_SCHEMA` and :data:`sql.contract.QUOTES_SCHEMA`:

========  ========  ===========================================================================
``ev``    market    fields read
========  ========  ===========================================================================
``T``     stocks    ``sym x i z p s c t q trfi trft`` (and ``t_ns trft_ns _corr`` from ``ingest.replay``)
``Q``     stocks    ``sym bx bp bs ax ap as c t q z`` (``i``, the indicators, has no column; ``t_ns``)
``XT``    crypto    ``pair p t s c i x`` (``i`` is optional; ``r`` is Polygon's receive time, unused)
``XQ``    crypto    ``pair bp bs ap as t x`` (``x`` is both the bid and the ask exchange)
========  ========  ===========================================================================

Timestamps ``t``/``trft`` are Unix milliseconds and become ``*_ns`` by ``× 1_000_000``. A ``T`` event made
from a flat file (``ingest.replay``) also carries ``t_ns``/``trft_ns``, the exact nanoseconds, which win; so
does a ``Q`` event made from a ``quotes_v1`` file (``ingest.quotes_flatfile``).
``correction`` (Polygon's correction indicator; the WebSocket has none) comes from the key ``_corr`` of such
events (:data:`CORRECTION_KEY`): its value when the key is there (``null``: NULL; an
integer within 32 bits, else a reject), 0 when it is absent from an event with ``t_ns`` (the replay leaves
regular trades' 0 out), NULL otherwise and for crypto. Condition lists are
stored comma-joined (``"12,37"``), an empty or missing list as null. A crypto trade without ``i`` gets the
deterministic id ``"~<price>x<size>"`` so that distinct trades in the same millisecond keep distinct dedupe
keys (``market, symbol, exchange, trade_id, ts_ns``) while a re-delivered event still collapses onto its twin.

Status events (``"ev": "status"``) are returned separately as :class:`StatusEvent`: they steer the feed
(``auth_failed``, ``max_connections``, ``force_disconnect``, ``slow_consumer``) and are not data.

Nothing malformed ever raises out of this module: a frame that is not JSON or not an array, and an event with
a missing field (``null`` counts as missing), a wrong type, a non-positive trade price, a negative size or
an integer too large for its 32-bit column (exchange, tape, TRF id), becomes a :class:`Reject`
carrying the raw text and a precise reason. Valid events of the same frame are kept.

Speed: :class:`FrameBatch` accumulates plain Python column lists over many frames and builds one
``pa.table`` per column set when the caller takes the batch, never one table per row or per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA

__all__ = [
    "CORRECTION_KEY",
    "FrameBatch",
    "Normalized",
    "Reject",
    "StatusEvent",
    "normalize_frame",
    "normalize_frames",
]

_NS_PER_MS = 1_000_000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Our key for the flat file's ``correction`` in ``T`` events (``ingest.replay_json``): Polygon's keys are
#: lowercase letters, so a leading underscore cannot clash with one it adds.
CORRECTION_KEY = "_corr"
#: Raw text kept in a reject is cut to this many characters (a whole bad frame can be 1 MiB).
MAX_RAW_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Reject:
    """An event or frame that could not be normalized: its raw text and why."""

    raw: str
    reason: str


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A Polygon ``{"ev": "status", ...}`` event (connected, auth_*, success, slow_consumer, ...)."""

    status: str
    message: str


@dataclass(slots=True)
class Normalized:
    """The result of normalizing one or more frames."""

    trades: pa.Table
    quotes: pa.Table
    statuses: list[StatusEvent] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


class _Bad(Exception):
    """Internal: an event failed validation; ``args[0]`` is the reason."""


def _raw_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "…"


def _event_text(event: Any) -> str:
    try:
        return _raw_text(orjson.dumps(event))
    except TypeError:  # pragma: no cover - orjson output of parsed JSON always serializes
        return repr(event)[:MAX_RAW_CHARS]


# --- field readers: each returns the value or raises _Bad with a precise reason -------------------------

_MISSING = object()


def _get(ev: dict[str, Any], key: str) -> Any:
    value = ev.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise _Bad(f"missing field {key!r}")
    return value


def _type_name(value: Any) -> str:
    return type(value).__name__


def _str(ev: dict[str, Any], key: str) -> str:
    value = _get(ev, key)
    if not isinstance(value, str) or not value:
        raise _Bad(f"field {key!r} must be a non-empty string, got {_type_name(value)} {value!r}")
    return value


def _int(ev: dict[str, Any], key: str) -> int:
    value = _get(ev, key)
    if type(value) is not int:  # bool is an int subclass: reject it too
        raise _Bad(f"field {key!r} must be an integer, got {_type_name(value)} {value!r}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise _Bad(f"field {key!r} is out of the 64-bit range, got {value}")
    return value


def _opt_int(ev: dict[str, Any], key: str) -> int | None:
    value = ev.get(key)
    if value is None:
        return None
    if type(value) is not int:
        raise _Bad(f"field {key!r} must be an integer, got {_type_name(value)} {value!r}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise _Bad(f"field {key!r} is out of the 64-bit range, got {value}")
    return value


def _int32(value: int | None, key: str) -> int | None:
    """``value`` when it fits the 32-bit column it goes to (exchange, tape, trf_id)."""
    if value is not None and not _INT32_MIN <= value <= _INT32_MAX:
        raise _Bad(f"field {key!r} is out of the 32-bit range, got {value}")
    return value


def _num(ev: dict[str, Any], key: str) -> float:
    value = _get(ev, key)
    if type(value) is not float and type(value) is not int:
        raise _Bad(f"field {key!r} must be a number, got {_type_name(value)} {value!r}")
    number = float(value)
    if not math.isfinite(number):  # pragma: no cover - JSON has no inf/nan literals
        raise _Bad(f"field {key!r} must be finite, got {value!r}")
    return number


def _ms(ev: dict[str, Any], key: str) -> int:
    value = _int(ev, key)
    if not 0 < value <= _INT64_MAX // _NS_PER_MS:
        raise _Bad(f"field {key!r} must be a positive Unix-ms timestamp, got {value}")
    return value * _NS_PER_MS


def _ns(ev: dict[str, Any], key: str) -> int:
    value = _int(ev, key)
    if value <= 0:
        raise _Bad(f"field {key!r} must be a positive Unix-ns timestamp, got {value}")
    return value


def _price(ev: dict[str, Any], key: str) -> float:
    value = _num(ev, key)
    if value <= 0.0:
        raise _Bad(f"non-positive price {key}={value!r}")
    return value


def _quote_price(ev: dict[str, Any], key: str) -> float:
    value = _num(ev, key)
    if value < 0.0:
        raise _Bad(f"negative price {key}={value!r}")
    return value


def _size(ev: dict[str, Any], key: str) -> float:
    value = _num(ev, key)
    if value < 0.0:
        raise _Bad(f"negative size {key}={value!r}")
    return value


def _conditions(ev: dict[str, Any], key: str) -> str | None:
    value = ev.get(key)
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    if not isinstance(value, list):
        raise _Bad(f"field {key!r} must be a list of integers, got {_type_name(value)} {value!r}")
    for item in value:
        if type(item) is not int:
            raise _Bad(f"field {key!r} must be a list of integers, got element {item!r}")
    return ",".join(map(str, value)) if value else None


def _trade_id(ev: dict[str, Any], *, required: bool, price: float, size: float) -> str:
    value = ev.get("i")
    if value is None:
        if required:
            raise _Bad("missing field 'i'")
        return f"~{price!r}x{size!r}"
    if isinstance(value, str) and value:
        return value
    if type(value) is int:
        return str(value)
    raise _Bad(f"field 'i' must be a string or integer id, got {_type_name(value)} {value!r}")


# --- the batch accumulator ----------------------------------------------------------------------------------


class FrameBatch:
    """Accumulates normalized rows over many frames; :meth:`take` builds the Arrow tables once.

    Parameters
    ----------
    source
        Value of the ``source`` column (``"ws"``, ``"sim"`` or ``"replay"``).
    """

    def __init__(self, source: str = "ws") -> None:
        self.source = source
        self.statuses: list[StatusEvent] = []
        self.rejects: list[Reject] = []
        self._reset_columns()
        self._handlers: dict[str, Callable[[dict[str, Any], int], None]] = {
            "T": self._stock_trade,
            "Q": self._stock_quote,
            "XT": self._crypto_trade,
            "XQ": self._crypto_quote,
        }

    def _reset_columns(self) -> None:
        self._t: dict[str, list[Any]] = {name: [] for name in TRADES_SCHEMA.names}
        self._q: dict[str, list[Any]] = {name: [] for name in QUOTES_SCHEMA.names}

    @property
    def n_trades(self) -> int:
        """Trades accumulated since the last :meth:`take`."""
        return len(self._t["ts_ns"])

    @property
    def n_quotes(self) -> int:
        """Quotes accumulated since the last :meth:`take`."""
        return len(self._q["ts_ns"])

    @property
    def n_rows(self) -> int:
        """Trades plus quotes accumulated since the last :meth:`take`."""
        return self.n_trades + self.n_quotes

    def add_frame(self, frame: bytes | str, received_ns: int) -> None:
        """Parse one frame (a JSON array of events) and append its rows, statuses and rejects.

        Parameters
        ----------
        frame
            The frame as received from the socket.
        received_ns
            Local receive time (Unix ns), stored in ``received_ns`` of every row of the frame.
        """
        try:
            events = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            self.rejects.append(Reject(_raw_text(frame), f"frame is not valid JSON: {exc}"))
            return
        if isinstance(events, dict):
            reason = "frame is a JSON object, expected an array of events"
            self.rejects.append(Reject(_raw_text(frame), reason))
            return
        if not isinstance(events, list):
            self.rejects.append(
                Reject(_raw_text(frame), f"frame is a JSON {_type_name(events)}, expected an array of events")
            )
            return
        for event in events:
            self.add_event(event, received_ns)

    def add_event(self, event: Any, received_ns: int) -> None:
        """Append one already-decoded event (a dict with ``ev``); malformed events become rejects."""
        if not isinstance(event, dict):
            reason = f"event is a JSON {_type_name(event)}, expected an object"
            self.rejects.append(Reject(_event_text(event), reason))
            return
        ev = event.get("ev")
        if ev == "status":
            status, message = event.get("status"), event.get("message", "")
            if not isinstance(status, str):
                self.rejects.append(Reject(_event_text(event), "status event without a string 'status'"))
                return
            self.statuses.append(StatusEvent(status, message if isinstance(message, str) else str(message)))
            return
        handler = self._handlers.get(ev) if isinstance(ev, str) else None
        if handler is None:
            reason = "event has no 'ev' field" if ev is None else f"unsupported event type ev={ev!r}"
            self.rejects.append(Reject(_event_text(event), reason))
            return
        try:
            handler(event, received_ns)
        except _Bad as bad:
            self.rejects.append(Reject(_event_text(event), f"{ev}: {bad.args[0]}"))

    # Each handler reads and validates every field first and appends only when all are good,
    # so a bad event never leaves a partial row behind.

    def _stock_trade(self, e: dict[str, Any], received_ns: int) -> None:
        symbol = _str(e, "sym")
        ts_ns = _ns(e, "t_ns") if e.get("t_ns") is not None else _ms(e, "t")
        price, size, exchange = _price(e, "p"), _size(e, "s"), _int32(_int(e, "x"), "x")
        trade_id = _trade_id(e, required=True, price=price, size=size)
        conditions, tape, seq = _conditions(e, "c"), _int32(_opt_int(e, "z"), "z"), _opt_int(e, "q")
        trf_id = _int32(_opt_int(e, "trfi"), "trfi")
        if e.get("trft_ns") is not None:
            trf_ts_ns: int | None = _ns(e, "trft_ns")
        else:
            trf_ts_ns = _ms(e, "trft") if e.get("trft") is not None else None
        if CORRECTION_KEY in e:
            correction = _int32(_opt_int(e, CORRECTION_KEY), CORRECTION_KEY)
        else:
            correction = 0 if e.get("t_ns") is not None else None
        self._append_trade("stocks", symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, seq,
                           trf_id, trf_ts_ns, received_ns, correction)

    def _crypto_trade(self, e: dict[str, Any], received_ns: int) -> None:
        symbol, ts_ns = _str(e, "pair"), _ms(e, "t")
        price, size, exchange = _price(e, "p"), _size(e, "s"), _int32(_int(e, "x"), "x")
        trade_id = _trade_id(e, required=False, price=price, size=size)
        conditions = _conditions(e, "c")
        self._append_trade("crypto", symbol, ts_ns, price, size, exchange, trade_id, conditions, None, None,
                           None, None, received_ns, None)

    def _append_trade(self, market: str, symbol: str, ts_ns: int, price: float, size: float, exchange: int,
                      trade_id: str, conditions: str | None, tape: int | None, seq: int | None,
                      trf_id: int | None, trf_ts_ns: int | None, received_ns: int,
                      correction: int | None) -> None:
        t = self._t
        t["market"].append(market)
        t["symbol"].append(symbol)
        t["ts_ns"].append(ts_ns)
        t["price"].append(price)
        t["size"].append(size)
        t["exchange"].append(exchange)
        t["trade_id"].append(trade_id)
        t["conditions"].append(conditions)
        t["tape"].append(tape)
        t["sequence"].append(seq)
        t["trf_id"].append(trf_id)
        t["trf_ts_ns"].append(trf_ts_ns)
        t["received_ns"].append(received_ns)
        t["source"].append(self.source)
        t["correction"].append(correction)

    def _stock_quote(self, e: dict[str, Any], received_ns: int) -> None:
        symbol = _str(e, "sym")
        ts_ns = _ns(e, "t_ns") if e.get("t_ns") is not None else _ms(e, "t")
        bid, bid_size = _quote_price(e, "bp"), _size(e, "bs")
        ask, ask_size = _quote_price(e, "ap"), _size(e, "as")
        bid_ex, ask_ex = _int32(_opt_int(e, "bx"), "bx"), _int32(_opt_int(e, "ax"), "ax")
        conditions, seq, tape = _conditions(e, "c"), _opt_int(e, "q"), _int32(_opt_int(e, "z"), "z")
        self._append_quote("stocks", symbol, ts_ns, bid, bid_size, ask, ask_size, bid_ex, ask_ex, conditions,
                           seq, tape, received_ns)

    def _crypto_quote(self, e: dict[str, Any], received_ns: int) -> None:
        symbol, ts_ns = _str(e, "pair"), _ms(e, "t")
        bid, bid_size = _quote_price(e, "bp"), _size(e, "bs")
        ask, ask_size = _quote_price(e, "ap"), _size(e, "as")
        exchange = _int32(_opt_int(e, "x"), "x")
        self._append_quote("crypto", symbol, ts_ns, bid, bid_size, ask, ask_size, exchange, exchange, None,
                           None, None, received_ns)

    def _append_quote(self, market: str, symbol: str, ts_ns: int, bid: float, bid_size: float, ask: float,
                      ask_size: float, bid_ex: int | None, ask_ex: int | None, conditions: str | None,
                      seq: int | None, tape: int | None, received_ns: int) -> None:
        q = self._q
        q["market"].append(market)
        q["symbol"].append(symbol)
        q["ts_ns"].append(ts_ns)
        q["bid_price"].append(bid)
        q["bid_size"].append(bid_size)
        q["ask_price"].append(ask)
        q["ask_size"].append(ask_size)
        q["bid_exchange"].append(bid_ex)
        q["ask_exchange"].append(ask_ex)
        q["conditions"].append(conditions)
        q["sequence"].append(seq)
        q["tape"].append(tape)
        q["received_ns"].append(received_ns)
        q["source"].append(self.source)

    def take(self) -> Normalized:
        """Build the tables from everything accumulated, return them and start an empty batch."""
        trades = pa.table(self._t, schema=TRADES_SCHEMA)
        quotes = pa.table(self._q, schema=QUOTES_SCHEMA)
        result = Normalized(trades, quotes, self.statuses, self.rejects)
        self._reset_columns()
        self.statuses, self.rejects = [], []
        return result


def normalize_frames(frames: Iterable[tuple[bytes | str, int]], source: str = "ws") -> Normalized:
    """Normalize many ``(frame, received_ns)`` pairs into one pair of tables.

    Parameters
    ----------
    frames
        Frames as received, each with its local receive time in Unix nanoseconds.
    source
        Value of the ``source`` column.

    Returns
    -------
    Normalized
        Trades (``TRADES_SCHEMA``), quotes (``QUOTES_SCHEMA``), status events and rejects, in arrival order.

    Examples
    --------
    >>> frame = (b'[{"ev":"T","sym":"MSFT","x":4,"i":"12345","z":3,"p":114.125,"s":100,"c":[0,12],'
    ...          b'"t":1536036818784,"q":3681328}]')
    >>> out = normalize_frames([(frame, 1536036818790000000)])
    >>> out.trades.column("ts_ns")[0].as_py(), out.trades.column("conditions")[0].as_py()
    (1536036818784000000, '0,12')
    """
    batch = FrameBatch(source)
    for frame, received_ns in frames:
        batch.add_frame(frame, received_ns)
    return batch.take()


def normalize_frame(frame: bytes | str, received_ns: int, source: str = "ws") -> Normalized:
    """Normalize one frame; see :func:`normalize_frames`."""
    return normalize_frames([(frame, received_ns)], source)
