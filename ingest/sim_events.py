"""The synthetic market's chunks as Polygon WebSocket events, encoded column-wise: the simulator's fast path.

:meth:`ingest.synthetic_market.SyntheticMarket.advance_batch` hands this module one step's chunks (one per
symbol and segment); :func:`encode_chunks` turns them into an :class:`EventBatch`: each event's JSON text, in
the order Polygon would deliver them, built with Arrow string kernels over whole columns instead of a ``dict``
and an ``orjson`` call per event. The events are those of the per-event reference (the simulator tests'
``tests/reference/polygon_events.py``): the same keys in the same order, the same JSON types, the same values.

Events (Polygon's field names; polygon notes §1.4):

- ``Q``: ``ev sym bx bp bs ax ap as c t q z``; ``T``: ``ev sym x i z p s t q`` then ``c`` (a list, when the
  print has conditions) and ``trfi`` / ``trft`` (trades reported on exchange 4);
- ``XQ``: ``ev pair bp bs ap as t x r``; ``XT``: ``ev pair p t s c i x r``.

Each trade's quote sorts before it, a post-trade quote (quote dynamics) after it; events of one step are ordered
by their millisecond ``t``, then by their place in their chunk (``2k``, ``2k + 1``, ``2k + 1.5`` for the ``k``-th
trade's quote, trade, post-trade quote), then by chunk: the order of the former stable sort of ``(t, place)``.

Numbers: integers as integers; a float field (prices, crypto sizes) always carries a decimal point, so it reads
back as a float: values on a grid of 10^-2 or 10^-8 are written from their exact integer count of that unit
(``190.10``: the same double as ``190.1``), any other value with Arrow's shortest round-trip text, ``.0``
added where it has neither a point nor an exponent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from ingest.synthetic_market import SymbolSpec, _Chunk

__all__ = ["CHANNEL_NAMES", "KIND_CONDITION", "TRF_ID", "EventBatch", "encode_chunks"]

#: ``ev`` of each channel code of :attr:`EventBatch.channel`.
CHANNEL_NAMES = ("T", "Q", "XT", "XQ")
_T, _Q, _XT, _XQ = range(4)
_CHANNEL_CODE = {name: code for code, name in enumerate(CHANNEL_NAMES)}
#: FINRA Nasdaq TRF Carteret, for trades reported on exchange 4.
TRF_ID = 202
#: Sale condition of each bad-print kind (0: none): regular, average price, prior reference, out of
#: sequence, erroneous.
KIND_CONDITION = (0, 2, 22, 33, 0)
# ``,"c":[...]`` of a stock trade by 2 · kind + odd lot (odd lots carry 37)
_CONDITION_TEXT = [
    "" if not (code or odd) else ',"c":' + orjson.dumps(([code] if code else []) + ([37] if odd else [])).decode()
    for code in KIND_CONDITION for odd in (0, 1)
]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """One step's events, time-ordered: their JSON texts and what a subscription selects them by.

    Attributes
    ----------
    text
        Each event's JSON object followed by a comma (``{...},``), one string per event.
    market
        0 stocks, 1 crypto, per event (int8).
    channel
        Index into :data:`CHANNEL_NAMES` per event (int8).
    symbol
        Index into :attr:`symbols` per event (int32).
    symbols
        The symbol names.
    """

    text: pa.StringArray
    market: np.ndarray
    channel: np.ndarray
    symbol: np.ndarray
    symbols: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.text)

    def select(self, mask: np.ndarray) -> EventBatch:
        """The events where ``mask`` is true, in order."""
        keep = pa.array(mask, pa.bool_())
        return EventBatch(pc.filter(self.text, keep), self.market[mask], self.channel[mask], self.symbol[mask],
                          self.symbols)

    def frames(self, size: int) -> list[bytes]:
        """JSON arrays of ``size`` events each (the last one shorter), as the simulator sends them."""
        n = len(self.text)
        if n == 0:
            return []
        text = self.text
        offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset:text.offset + n + 1]
        data = memoryview(text.buffers()[2])
        cuts = offsets[np.r_[np.arange(0, n, size), n]].tolist()
        return [b"".join((b"[", data[a:b - 1], b"]")) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def events(self) -> list[dict[str, Any]]:
        """The events as dicts (``orjson.loads`` of their texts)."""
        frames = self.frames(max(len(self.text), 1))
        return orjson.loads(frames[0]) if frames else []


_SMALL = 4096
_SMALL_TEXT = pa.array([str(k) for k in range(_SMALL)], pa.string())  # "0" .. "4095"
_CENTS_TEXT = pa.array([f"{k:02d}" for k in range(100)], pa.string())  # "00" .. "99"


def _ints(values: np.ndarray) -> pa.Array:
    """Decimal texts of integers (small non-negative ones looked up, the rest cast)."""
    values = np.asarray(values, np.int64)
    if values.size and values.min() >= 0 and values.max() < _SMALL:
        return pc.take(_SMALL_TEXT, pa.array(values))
    return pc.cast(pa.array(values), pa.string())


def _floats(values: np.ndarray) -> pa.Array:
    """JSON float texts of ``values`` (module docstring, "Numbers")."""
    values = np.asarray(values, np.float64)
    if values.size and values.min() >= 0.0 and values.max() < 1e7:
        for places in (2, 8):
            unit = 10**places
            scaled = np.rint(values * unit)
            if np.array_equal(scaled / unit, values):
                count = scaled.astype(np.int64)
                whole = _ints(count // unit)
                if places == 2:
                    fraction = pc.take(_CENTS_TEXT, pa.array(count % unit))
                else:
                    fraction = pc.utf8_slice_codeunits(_ints(count % unit + unit), 1)  # zero-padded
                return pc.binary_join_element_wise(whole, fraction, ".")
    text = pc.cast(pa.array(values), pa.string())
    plain = pc.invert(pc.match_substring_regex(text, "[.eEn]"))
    return pc.if_else(plain, pc.binary_join_element_wise(text, ".0", ""), text)


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


@dataclass(slots=True)
class _Rows:
    """One kind of event over the step's chunks: texts and sort keys."""

    text: list[pa.Array]
    t_ms: list[np.ndarray]
    place: list[np.ndarray]
    chunk: list[np.ndarray]
    channel: list[np.ndarray]
    symbol: list[np.ndarray]


def _columns(parts: list[tuple[int, int, _Chunk]]) -> dict[str, np.ndarray]:
    """The chunks' columns end to end, with each row's symbol, chunk number and index in its chunk."""
    out: dict[str, np.ndarray] = {}
    for name in ("ts_ns", "quote_ts_ns", "price", "size", "exchange", "trade_id", "seq", "side", "odd_lot", "bid",
                 "ask", "bid_size", "ask_size", "bid_ex", "ask_ex", "latency_ns"):
        out[name] = np.concatenate([getattr(c, name) for _, _, c in parts])
    out["kind"] = np.concatenate([np.zeros(c.ts_ns.size, np.int8) if c.kind is None else c.kind
                                  for _, _, c in parts])
    dynamic = any(c.quote_bid is not None for _, _, c in parts)
    for name, fallback in (("quote_bid", "bid"), ("quote_ask", "ask"), ("post_bid", None), ("post_ask", None)):
        if dynamic:
            out[name] = np.concatenate([getattr(c, name) if getattr(c, name) is not None
                                        else getattr(c, fallback) if fallback else np.full(c.ts_ns.size, np.nan)
                                        for _, _, c in parts])
        elif fallback:
            out[name] = out[fallback]
    out["symbol"] = np.concatenate([np.full(c.ts_ns.size, s, np.int32) for s, _, c in parts])
    out["chunk"] = np.concatenate([np.full(c.ts_ns.size, n, np.int32) for _, n, c in parts])
    out["index"] = np.concatenate([np.arange(c.ts_ns.size) for _, _, c in parts])
    out["t_ms"] = out["ts_ns"] // 1_000_000
    out["q_ms"] = out["quote_ts_ns"] // 1_000_000
    out["recv_ms"] = (out["ts_ns"] + out["latency_ns"]) // 1_000_000
    return out


def _per_symbol(texts: list[str], symbol: np.ndarray) -> pa.Array:
    return pc.take(pa.array(texts, pa.string()), pa.array(symbol))


def _stock_events(specs: Sequence[SymbolSpec], c: dict[str, np.ndarray], rows: _Rows) -> None:
    sym = c["symbol"]
    names = [orjson.dumps(s.symbol).decode() for s in specs]
    tapes = [orjson.dumps(s.tape).decode() for s in specs]
    bx, ax = _ints(c["bid_ex"]), _ints(c["ask_ex"])
    bs, as_ = _ints(c["bid_size"]), _ints(c["ask_size"])
    t = _ints(c["t_ms"])
    quote_head = _per_symbol(['{"ev":"Q","sym":' + n + ',"bx":' for n in names], sym)
    tape_tail = _per_symbol([',"z":' + z + "}," for z in tapes], sym)
    # the trade's quote, then the trade
    rows.text.append(_join(quote_head, bx, ',"bp":', _floats(c["quote_bid"]), ',"bs":', bs, ',"ax":', ax,
                           ',"ap":', _floats(c["quote_ask"]), ',"as":', as_, ',"c":1,"t":', _ints(c["q_ms"]),
                           ',"q":', _ints(c["seq"] - 1), tape_tail))
    _keys(rows, c, c["q_ms"], 0, _Q)
    trf = c["exchange"] == 4
    trf_text = pc.if_else(pa.array(trf), _join(',"trfi":' + str(TRF_ID) + ',"trft":', _ints(c["t_ms"] - 1)), "")
    conditions = pc.take(pa.array(_CONDITION_TEXT, pa.string()),
                         pa.array(2 * c["kind"].astype(np.int64) + c["odd_lot"]))
    rows.text.append(_join(_per_symbol(['{"ev":"T","sym":' + n + ',"x":' for n in names], sym),
                           _ints(c["exchange"]), ',"i":"', _ints(c["trade_id"]), '","z":',
                           _per_symbol(tapes, sym), ',"p":', _floats(c["price"]), ',"s":', _ints(c["size"]),
                           ',"t":', t, ',"q":', _ints(c["seq"]), conditions, trf_text, "},"))
    _keys(rows, c, c["t_ms"], 2, _T)
    post = np.flatnonzero(~np.isnan(c["post_bid"])) if "post_bid" in c else np.empty(0, np.int64)
    if post.size:
        at = pa.array(post)
        rows.text.append(_join(pc.take(quote_head, at), pc.take(bx, at), ',"bp":', _floats(c["post_bid"][post]),
                               ',"bs":', pc.take(bs, at), ',"ax":', pc.take(ax, at), ',"ap":',
                               _floats(c["post_ask"][post]), ',"as":', pc.take(as_, at), ',"c":1,"t":',
                               pc.take(t, at), ',"q":', _ints(c["seq"][post]), pc.take(tape_tail, at)))
        _keys(rows, c, c["t_ms"], 3, _Q, post)


def _crypto_events(specs: Sequence[SymbolSpec], c: dict[str, np.ndarray], rows: _Rows) -> None:
    sym = c["symbol"]
    names = [orjson.dumps(s.symbol).decode() for s in specs]
    bs, as_ = _floats(c["bid_size"]), _floats(c["ask_size"])
    x, r, t = _ints(c["bid_ex"]), _ints(c["recv_ms"]), _ints(c["t_ms"])
    quote_head = _per_symbol(['{"ev":"XQ","pair":' + n + ',"bp":' for n in names], sym)
    rows.text.append(_join(quote_head, _floats(c["quote_bid"]), ',"bs":', bs, ',"ap":', _floats(c["quote_ask"]),
                           ',"as":', as_, ',"t":', _ints(c["q_ms"]), ',"x":', x, ',"r":', r, "},"))
    _keys(rows, c, c["q_ms"], 0, _XQ)
    side = pc.if_else(pa.array(c["side"] > 0), "2", "1")
    rows.text.append(_join(_per_symbol(['{"ev":"XT","pair":' + n + ',"p":' for n in names], sym),
                           _floats(c["price"]), ',"t":', t, ',"s":', _floats(c["size"]), ',"c":[', side,
                           '],"i":"', _ints(c["trade_id"]), '","x":', _ints(c["exchange"]), ',"r":', r, "},"))
    _keys(rows, c, c["t_ms"], 2, _XT)
    post = np.flatnonzero(~np.isnan(c["post_bid"])) if "post_bid" in c else np.empty(0, np.int64)
    if post.size:
        at = pa.array(post)
        rows.text.append(_join(pc.take(quote_head, at), _floats(c["post_bid"][post]), ',"bs":', pc.take(bs, at),
                               ',"ap":', _floats(c["post_ask"][post]), ',"as":', pc.take(as_, at), ',"t":',
                               pc.take(t, at), ',"x":', pc.take(x, at), ',"r":', pc.take(r, at), "},"))
        _keys(rows, c, c["t_ms"], 3, _XQ, post)


def _keys(rows: _Rows, c: dict[str, np.ndarray], t_ms: np.ndarray, place: int, channel: int,
          at: np.ndarray | None = None) -> None:
    """Sort keys of one kind of event: ``t``, place in the chunk (4k + 0 quote, 2 trade, 3 post-trade quote:
    the former 2k, 2k + 1, 2k + 1.5), chunk."""
    sel = slice(None) if at is None else at
    rows.t_ms.append(t_ms[sel])
    rows.place.append(4 * c["index"][sel] + place)
    rows.chunk.append(c["chunk"][sel])
    rows.symbol.append(c["symbol"][sel])
    rows.channel.append(np.full(rows.t_ms[-1].size, channel, np.int8))


def encode_chunks(specs: Sequence[SymbolSpec], parts: Sequence[tuple[int, _Chunk]]) -> EventBatch:
    """The events of ``parts`` (symbol index into ``specs``, chunk), in the order they were simulated.

    Parameters
    ----------
    specs
        The market's symbols.
    parts
        One step's chunks, in the market's order (symbol by symbol, segment by segment); ties between chunks
        in the time order keep this order.

    Returns
    -------
    EventBatch
        Every chunk's quotes and trades, time-ordered (module docstring).
    """
    rows = _Rows([], [], [], [], [], [])
    numbered = [(s, n, c) for n, (s, c) in enumerate(parts) if c.ts_ns.size]
    for market, build in (("stocks", _stock_events), ("crypto", _crypto_events)):
        mine = [p for p in numbered if specs[p[0]].market == market]
        if mine:
            build(specs, _columns(mine), rows)
    symbols = tuple(s.symbol for s in specs)
    if not rows.text:
        return EventBatch(pa.array([], pa.string()), np.empty(0, np.int8), np.empty(0, np.int8),
                          np.empty(0, np.int32), symbols)
    t_ms, place, chunk = (np.concatenate(v) for v in (rows.t_ms, rows.place, rows.chunk))
    order = np.lexsort((chunk, place, t_ms))
    channel, symbol = np.concatenate(rows.channel)[order], np.concatenate(rows.symbol)[order]
    text = pc.take(pa.concat_arrays([a.cast(pa.string()) for a in rows.text]), pa.array(order))
    return EventBatch(text, (channel >= _XT).astype(np.int8), channel, symbol, symbols)
