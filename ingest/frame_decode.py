"""Whole WebSocket frames → trade and quote columns in one typed decode: the feed's fast path.

The reference decoder, :meth:`ingest.normalize.FrameBatch.add_frame`, parses a frame with ``orjson`` and then
validates each event in Python (~10 µs an event). :class:`FastFrameBatch` decodes the whole frame (a JSON array
of ``T`` / ``Q`` / ``XT`` / ``XQ`` events) with one ``msgspec`` call into typed structs whose constraints *are*
the reference decoder's rules (types, 32- and 64-bit ranges, positive prices and timestamps, non-negative sizes,
non-empty symbols and ids), and builds the Arrow columns from those structs once per batch, at :meth:`take`.

All or nothing per frame: a frame the typed decode does not accept whole goes, whole, to the reference decoder,
which alone decides rejects, their reasons and the status events (so the dead-letter path, the counters and the
log lines are exactly those of the reference). Handed to the reference are frames with a status event, an
unknown ``ev``, any event the typed decode refuses (a rule broken, a wrong type, a field the reference would not
read but the typed decode checks, such as ``t`` beside ``t_ns``), text that is not valid JSON for either reader
(invalid UTF-8, lone surrogates: the two readers refuse the same; a non-ASCII frame's UTF-8 is checked first, as
msgspec does not check the text of the fields it skips), or an ``ev`` given twice with two values
(msgspec refuses it; orjson would keep the last). Every integer must fit 64 bits (orjson reads a longer one
as a float, which the reference refuses where it wants an integer; those in ``2**63 .. 2**64 - 1``, which
orjson reads as integers, go to the reference too).

Rows keep the order the reference gives them: when a frame goes to the reference, the rows decoded so far are
sealed into a table first, so :meth:`take` returns the same tables, row for row, as the reference would.
``tests/ingest/test_frame_decode.py`` checks that on random frames, malformed ones included (Hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

import msgspec
import pyarrow as pa
from msgspec import UNSET, Meta, Struct, UnsetType, field

from ingest.normalize import FrameBatch, Normalized, StatusEvent
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA

__all__ = ["FastFrameBatch"]

_NS_PER_MS = 1_000_000
_INT64_MAX = 2**63 - 1
_INT32 = Meta(ge=-(2**31), le=2**31 - 1)
Int32 = Annotated[int, _INT32]
Int64 = Annotated[int, Meta(ge=-(2**63), le=_INT64_MAX)]
Ms = Annotated[int, Meta(gt=0, le=_INT64_MAX // _NS_PER_MS)]
Ns = Annotated[int, Meta(gt=0, le=_INT64_MAX)]
Text = Annotated[str, Meta(min_length=1)]
Price = Annotated[float, Meta(gt=0.0)]
NonNegative = Annotated[float, Meta(ge=0.0)]
Conditions = Int64 | tuple[Int64, ...] | None  # a tuple: hashable, so its text is made once


class _StockTrade(Struct, tag_field="ev", tag="T", kw_only=True, gc=False):
    market: ClassVar[str] = "stocks"
    sym: Text
    p: Price
    s: NonNegative
    x: Int32
    i: Text | Int64
    t: Ms | None = None
    t_ns: Ns | None = None
    c: Conditions = None
    z: Int32 | None = None
    q: Int64 | None = None
    trfi: Int32 | None = None
    trft: Ms | None = None
    trft_ns: Ns | None = None
    corr: Int32 | None | UnsetType = field(default=UNSET, name="_corr")

    def __post_init__(self) -> None:
        if self.t_ns is None and self.t is None:
            raise ValueError("neither t nor t_ns")


class _CryptoTrade(Struct, tag_field="ev", tag="XT", kw_only=True, gc=False):
    market: ClassVar[str] = "crypto"
    t_ns: ClassVar[None] = None
    z: ClassVar[None] = None
    q: ClassVar[None] = None
    trfi: ClassVar[None] = None
    trft: ClassVar[None] = None
    trft_ns: ClassVar[None] = None
    corr: ClassVar[None] = None
    sym: Text = field(name="pair")
    p: Price
    s: NonNegative
    x: Int32
    t: Ms
    i: Text | Int64 | None = None
    c: Conditions = None


class _StockQuote(Struct, tag_field="ev", tag="Q", kw_only=True, gc=False):
    market: ClassVar[str] = "stocks"
    sym: Text
    bp: NonNegative
    bs: NonNegative
    ap: NonNegative
    as_: NonNegative = field(name="as")
    t: Ms | None = None
    t_ns: Ns | None = None
    bx: Int32 | None = None
    ax: Int32 | None = None
    c: Conditions = None
    q: Int64 | None = None
    z: Int32 | None = None

    def __post_init__(self) -> None:
        if self.t_ns is None and self.t is None:
            raise ValueError("neither t nor t_ns")


class _CryptoQuote(Struct, tag_field="ev", tag="XQ", kw_only=True, gc=False):
    market: ClassVar[str] = "crypto"
    t_ns: ClassVar[None] = None
    c: ClassVar[None] = None
    q: ClassVar[None] = None
    z: ClassVar[None] = None
    sym: Text = field(name="pair")
    bp: NonNegative
    bs: NonNegative
    ap: NonNegative
    as_: NonNegative = field(name="as")
    t: Ms
    bx: Int32 | None = field(default=None, name="x")  # one exchange for both sides

    @property
    def ax(self) -> int | None:
        """The ask exchange: the event's one exchange ``x``."""
        return self.bx


_Trade = _StockTrade | _CryptoTrade
_Quote = _StockQuote | _CryptoQuote
_DECODER = msgspec.json.Decoder(list[_StockTrade | _StockQuote | _CryptoTrade | _CryptoQuote])


def _conditions(c: int | tuple[int, ...] | None) -> str | None:
    """The reference's text of ``c``: an integer as it is, a list comma-joined, an empty list as null."""
    if c is None or type(c) is int:
        return None if c is None else str(c)
    return ",".join(map(str, c)) if c else None


#: ``c`` (an integer, a tuple or ``None``) -> its text: a feed repeats a few condition sets, each made once.
_CONDITION_TEXTS: dict[int | tuple[int, ...] | None, str | None] = {None: None}
_MAX_CONDITION_TEXTS = 4096


def _condition_texts(values: list[int | tuple[int, ...] | None]) -> list[str | None]:
    """:func:`_conditions` of each of ``values``, each distinct value's text made once (the trades' and the
    quotes' tables are built on two threads: each reads the shared texts into a dict of its own)."""
    known = _CONDITION_TEXTS
    texts = {c: known[c] if c in known else _conditions(c) for c in set(values)}
    if len(known) < _MAX_CONDITION_TEXTS:
        known.update(texts)
    return [texts[c] for c in values]


def _trade_id(e: _Trade) -> str:
    i = e.i
    if type(i) is str:
        return i
    return str(i) if i is not None else f"~{e.p!r}x{e.s!r}"


def _trades_table(events: list[_Trade], received: list[int], source: str) -> pa.Table:
    """The trades' rows (:data:`TRADES_SCHEMA`): one list per column read off the structs, each distinct
    conditions set's text made once."""
    n = len(events)
    columns: dict[str, Any] = {
        "market": [e.market for e in events],
        "symbol": [e.sym for e in events],
        "ts_ns": [e.t_ns if e.t_ns is not None else e.t * _NS_PER_MS for e in events],
        "price": [e.p for e in events],
        "size": [e.s for e in events],
        "exchange": [e.x for e in events],
        "trade_id": [e.i if type(e.i) is str else _trade_id(e) for e in events],
        "conditions": _condition_texts([e.c for e in events]),
        "tape": [e.z for e in events],
        "sequence": [e.q for e in events],
        "trf_id": [e.trfi for e in events],
        "trf_ts_ns": [e.trft_ns if e.trft_ns is not None else (None if e.trft is None else e.trft * _NS_PER_MS)
                      for e in events],
        "received_ns": received,
        "source": pa.repeat(pa.scalar(source, pa.string()), n),
        "correction": [(0 if e.t_ns is not None else None) if e.corr is UNSET else e.corr for e in events],
    }
    return pa.table(columns, schema=TRADES_SCHEMA)


def _quotes_table(events: list[_Quote], received: list[int], source: str) -> pa.Table:
    """The quotes' rows (:data:`QUOTES_SCHEMA`), built as :func:`_trades_table` builds the trades'."""
    n = len(events)
    columns: dict[str, Any] = {
        "market": [e.market for e in events],
        "symbol": [e.sym for e in events],
        "ts_ns": [e.t_ns if e.t_ns is not None else e.t * _NS_PER_MS for e in events],
        "bid_price": [e.bp for e in events],
        "bid_size": [e.bs for e in events],
        "ask_price": [e.ap for e in events],
        "ask_size": [e.as_ for e in events],
        "bid_exchange": [e.bx for e in events],
        "ask_exchange": [e.ax for e in events],
        "conditions": _condition_texts([e.c for e in events]),
        "sequence": [e.q for e in events],
        "tape": [e.z for e in events],
        "received_ns": received,
        "source": pa.repeat(pa.scalar(source, pa.string()), n),
    }
    return pa.table(columns, schema=QUOTES_SCHEMA)


class FastFrameBatch(FrameBatch):
    """A :class:`ingest.normalize.FrameBatch` that decodes whole frames with one typed call (module docstring).

    Parameters
    ----------
    source
        Value of the ``source`` column (``"ws"``, ``"sim"`` or ``"replay"``).

    Examples
    --------
    >>> batch = FastFrameBatch("sim")
    >>> batch.add_frame(b'[{"ev":"T","sym":"MSFT","x":4,"i":"1","p":114.125,"s":100,"c":[0,12],'
    ...                 b'"t":1536036818784},{"ev":"Q","sym":"MSFT","bp":114.12,"bs":2,"ap":114.13,"as":3,'
    ...                 b'"c":0,"t":1536036818785}]', 1536036818790000000)
    >>> out = batch.take()
    >>> out.trades.column("conditions")[0].as_py(), out.quotes.column("conditions")[0].as_py()
    ('0,12', '0')
    """

    def __init__(self, source: str = "ws") -> None:
        super().__init__(source)
        self._fast_trades: list[_Trade] = []
        self._fast_trades_received: list[int] = []
        self._fast_quotes: list[_Quote] = []
        self._fast_quotes_received: list[int] = []
        self._trade_chunks: list[pa.Table] = []
        self._quote_chunks: list[pa.Table] = []
        self._sealed_trades = 0
        self._sealed_quotes = 0
        #: Frames decoded by the typed decode and by the reference decoder since this batch was made.
        self.fast_frames = 0
        self.reference_frames = 0

    @property
    def n_trades(self) -> int:
        """Trades accumulated since the last :meth:`take`."""
        return self._sealed_trades + len(self._fast_trades) + super().n_trades

    @property
    def n_quotes(self) -> int:
        """Quotes accumulated since the last :meth:`take`."""
        return self._sealed_quotes + len(self._fast_quotes) + super().n_quotes

    def add_frame(self, frame: bytes | str, received_ns: int) -> None:
        """:meth:`ingest.normalize.FrameBatch.add_frame` (same parameters), with one typed decode of the whole
        frame; a frame that decode refuses goes whole to the reference (module docstring)."""
        events = self._decode(frame)
        if events is None:
            self.reference_frames += 1
            self._seal_fast()
            super().add_frame(frame, received_ns)
            return
        self.fast_frames += 1
        if self._t["ts_ns"] or self._q["ts_ns"]:  # the reference decoder's rows come first
            self._seal_reference()
        for event in events:
            if type(event) is _StockTrade or type(event) is _CryptoTrade:
                self._fast_trades.append(event)
                self._fast_trades_received.append(received_ns)
            else:
                self._fast_quotes.append(event)
                self._fast_quotes_received.append(received_ns)

    @staticmethod
    def _decode(frame: bytes | str) -> list[_Trade | _Quote] | None:
        """The frame's events, or ``None`` when the reference decoder must read it."""
        if isinstance(frame, bytes) and not frame.isascii():
            try:  # msgspec skips the fields it does not read without checking their UTF-8; orjson refuses the frame
                frame.decode("utf-8")
            except UnicodeDecodeError:
                return None
        try:
            return _DECODER.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeEncodeError):  # the last: a str frame with a
            return None  # lone surrogate (msgspec encodes it; orjson gives the reject)

    def _seal_fast(self) -> None:
        """Turn the typed rows decoded so far into tables, so that rows keep their order."""
        if self._fast_trades:
            self._trade_chunks.append(_trades_table(self._fast_trades, self._fast_trades_received, self.source))
            self._sealed_trades += len(self._fast_trades)
            self._fast_trades, self._fast_trades_received = [], []
        if self._fast_quotes:
            self._quote_chunks.append(_quotes_table(self._fast_quotes, self._fast_quotes_received, self.source))
            self._sealed_quotes += len(self._fast_quotes)
            self._fast_quotes, self._fast_quotes_received = [], []

    def _seal_reference(self) -> None:
        """Turn the reference decoder's rows so far into tables (its statuses and rejects stay)."""
        statuses: list[StatusEvent] = self.statuses
        rejects = self.rejects
        taken = super().take()
        self.statuses, self.rejects = statuses, rejects
        for chunks, table in ((self._trade_chunks, taken.trades), (self._quote_chunks, taken.quotes)):
            if table.num_rows:
                chunks.append(table)
        self._sealed_trades += taken.trades.num_rows
        self._sealed_quotes += taken.quotes.num_rows

    def take_trades_first(self) -> tuple[Normalized, Callable[[], pa.Table]]:
        """:meth:`take`, with the quotes' table left to build: the result's ``quotes`` is empty and the returned
        function builds the quotes :meth:`take` would have returned (it may run on another thread, e.g. while
        the trades are written: ``ingest.feed``). The batch starts empty at once, as after :meth:`take`."""
        quotes, received, source = self._fast_quotes, self._fast_quotes_received, self.source
        self._fast_quotes, self._fast_quotes_received = [], []
        taken = self.take()  # the quotes sealed before (a reference frame between) come first
        chunks = [taken.quotes] if taken.quotes.num_rows else []

        def build() -> pa.Table:
            if not quotes:
                return taken.quotes
            fast = _quotes_table(quotes, received, source)
            return pa.concat_tables([*chunks, fast]) if chunks else fast

        return Normalized(taken.trades, QUOTES_SCHEMA.empty_table(), taken.statuses, taken.rejects), build

    def take(self) -> Normalized:
        """Build the tables from everything accumulated, return them and start an empty batch."""
        self._seal_fast()
        self._seal_reference()
        trades = pa.concat_tables(self._trade_chunks) if self._trade_chunks else TRADES_SCHEMA.empty_table()
        quotes = pa.concat_tables(self._quote_chunks) if self._quote_chunks else QUOTES_SCHEMA.empty_table()
        result = Normalized(trades, quotes, self.statuses, self.rejects)
        self._trade_chunks, self._quote_chunks = [], []
        self._sealed_trades = self._sealed_quotes = 0
        self.statuses, self.rejects = [], []
        return result
