"""Polygon flat files ``us_stocks_sip/quotes_v1`` (CSV, plain or ``.gz``) → ``QUOTES_SCHEMA`` rows or ``Q`` events.

Columns (the REST ``Quote`` model's fields, which the flat files repeat; polygon notes §3)::

    ticker, ask_exchange, ask_price, ask_size, bid_exchange, bid_price, bid_size, conditions, indicators,
    participant_timestamp, sequence_number, sip_timestamp, tape, trf_timestamp

Timestamps are Unix nanoseconds; ``conditions``/``indicators`` quoted comma lists (``indicators`` has no
column in ``quotes``). A side with no quote has price 0 (and size 0); it is kept as read, and the trade ↔ quote
join (:mod:`udx.nbbo`) flags it one-sided.

**Size units.** Polygon publishes ``bid_size``/``ask_size`` in *round lots* up to 2025-11-02 and in *shares*
from 2025-11-03 on, in REST, WebSocket and flat files alike (polygon.io/blog/change-stocks-quotes-round-lots-to-shares,
2025-10-27: the SEC's Market Data Infrastructure rules; the new round-lot tiers are 100/40/10/1 shares by
price). ``quotes.bid_size``/``ask_size`` hold **shares**. ``QUOTE_SIZE_UNIT`` says how to read a file:
``auto`` (default) decides per row by its ``sip_timestamp``: before :data:`SHARES_FROM_NS`
(2025-11-03 00:00 America/New_York) the size is lots × :data:`ROUND_LOT_SHARES` (100, the round lot of
nearly every NMS stock before the change; the few listed with a 10-share lot are overstated 10×), from then on
shares as read; ``round_lots`` and ``shares`` force one reading for the whole file.

Two destinations, as for trades (:mod:`ingest.replay`): the database (:func:`quotes_table`, vectorized) or
Kafka (:func:`quote_values`: one WebSocket ``Q`` event per row, ``t`` in ms plus ``t_ns``, the exact
nanoseconds the loader prefers; sizes already in shares; built column-wise by Arrow, odd rows by the
reference :func:`quote_event`). A row without ticker, with a negative price or
size or a non-positive ``sip_timestamp`` is not a quote: the database path skips and counts it, the Kafka
path sends it and the loader dead-letters it. The ``quotes`` table keeps no dedupe key: replaying the same
file twice stores its quotes twice (the prevailing quote of a trade is the same either way), except those of
days retention archived, which the archive's files hold already (:mod:`sql.archive_dedupe`).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest.replay_json import _CONDITIONS, _NEEDS_ESCAPE, _size_text
from sql.contract import QUOTES_SCHEMA

__all__ = [
    "QUOTE_COLUMNS",
    "ROUND_LOT_SHARES",
    "SHARES_FROM_NS",
    "SizeUnit",
    "FlatFileKind",
    "UnknownFlatFile",
    "csv_reader",
    "flat_file_kind",
    "quote_event",
    "quote_values",
    "quotes_table",
    "read_quotes_v1",
    "size_multiplier",
]

QUOTE_COLUMNS = ("ticker", "ask_exchange", "ask_price", "ask_size", "bid_exchange", "bid_price", "bid_size",
                 "conditions", "indicators", "participant_timestamp", "sequence_number", "sip_timestamp", "tape",
                 "trf_timestamp")
#: The columns a ``quotes_v1`` file must have (the others are read when present).
_REQUIRED = ("ticker", "ask_price", "ask_size", "bid_price", "bid_size", "sip_timestamp")
#: The columns that tell a ``trades_v1`` file (ingest.replay.COLUMNS, less the optional ``correction``).
_TRADE_MARKERS = ("ticker", "exchange", "id", "price", "size", "sip_timestamp")
_TYPES = {"ticker": pa.string(), "ask_exchange": pa.int32(), "ask_price": pa.float64(), "ask_size": pa.float64(),
          "bid_exchange": pa.int32(), "bid_price": pa.float64(), "bid_size": pa.float64(),
          "conditions": pa.string(), "indicators": pa.string(), "participant_timestamp": pa.int64(),
          "sequence_number": pa.int64(), "sip_timestamp": pa.int64(), "tape": pa.int32(),
          "trf_timestamp": pa.int64()}
#: 2025-11-03 00:00 America/New_York (EST, UTC-5) = 05:00 UTC: sizes are shares from here on.
SHARES_FROM_NS = 1_762_146_000_000_000_000
ROUND_LOT_SHARES = 100.0
_NS_PER_MS = 1_000_000

FlatFileKind = Literal["trades", "quotes"]
SizeUnit = Literal["auto", "shares", "round_lots"]


class UnknownFlatFile(ValueError):
    """A file whose header is neither ``trades_v1`` nor ``quotes_v1``."""


def _header(path: Path) -> list[str]:
    with (gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")) as fh:
        line = fh.readline(1 << 16).decode("utf-8", errors="replace").strip()
    return next(csv.reader([line]), [])


def flat_file_kind(path: Path) -> FlatFileKind:
    """``"trades"`` or ``"quotes"``, from the header row of ``path`` (plain or ``.gz`` CSV).

    Raises
    ------
    UnknownFlatFile
        The header names neither kind's columns; the message is one line naming the file and the header.
    """
    try:
        header = _header(path)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise UnknownFlatFile(f"{path}: cannot read a CSV header ({exc})") from None
    names = set(header)
    if all(c in names for c in _REQUIRED):
        return "quotes"
    if all(c in names for c in _TRADE_MARKERS):
        return "trades"
    shown = ",".join(header)[:200] or "(empty)"
    raise UnknownFlatFile(f"{path}: not a Polygon trades_v1 or quotes_v1 file (header: {shown})")


def csv_reader(stream: Any, types: dict[str, pa.DataType], columns: list[str], block_bytes: int
               ) -> pacsv.CSVStreamingReader:
    """A streaming Arrow CSV reader of ``columns`` (typed by ``types``, empty strings null) in blocks of
    ``block_bytes``: how both flat-file kinds are read."""
    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=block_bytes),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                             include_columns=columns),
    )


def read_quotes_v1(path: Path, raw: IO[bytes] | None = None, block_bytes: int = 16 << 20
                   ) -> Iterator[pa.RecordBatch]:
    """Yield record batches of a ``quotes_v1`` file with every column of :data:`QUOTE_COLUMNS` (absent
    optional columns all null), in that order; ``raw`` is the opened file (default: open ``path``)."""
    present = set(_header(path))
    columns = [c for c in QUOTE_COLUMNS if c in present]
    stream: Any = raw if raw is not None else path.open("rb")
    if path.name.endswith(".gz"):
        stream = gzip.GzipFile(fileobj=stream)
    reader = csv_reader(stream, _TYPES, columns, block_bytes)
    try:
        for batch in reader:
            yield pa.RecordBatch.from_arrays(
                [batch[c] if c in present else pa.nulls(batch.num_rows, _TYPES[c]) for c in QUOTE_COLUMNS],
                names=list(QUOTE_COLUMNS))
    finally:
        stream.close()


def size_multiplier(sip_ns: pa.Array, unit: SizeUnit) -> pa.Array:
    """Shares per unit of ``bid_size``/``ask_size`` for each row: 1 or :data:`ROUND_LOT_SHARES` (module
    docstring); ``auto`` decides by ``sip_ns`` against :data:`SHARES_FROM_NS`."""
    if unit == "shares":
        return pa.repeat(pa.scalar(1.0), len(sip_ns))
    if unit == "round_lots":
        return pa.repeat(pa.scalar(ROUND_LOT_SHARES), len(sip_ns))
    if unit != "auto":
        raise ValueError(f"quote size unit must be auto, shares or round_lots, got {unit!r}")
    lots = pc.fill_null(pc.less(sip_ns, SHARES_FROM_NS), False)
    return pc.if_else(lots, ROUND_LOT_SHARES, 1.0)


def _valid(batch: pa.RecordBatch) -> pa.Array:
    valid = pc.and_kleene(pc.is_valid(batch["ticker"]), pc.not_equal(batch["ticker"], ""))
    for name in ("bid_price", "ask_price", "bid_size", "ask_size"):
        valid = pc.and_kleene(valid, pc.greater_equal(batch[name], 0.0))
    valid = pc.and_kleene(valid, pc.greater(batch["sip_timestamp"], 0))
    return pc.fill_null(valid, False)


def quotes_table(batch: pa.RecordBatch, received_ns: int, unit: SizeUnit = "auto") -> tuple[pa.Table, int]:
    """The valid rows of a ``quotes_v1`` batch as a ``QUOTES_SCHEMA`` table (sizes in shares), and how many
    rows were skipped."""
    rows = batch.filter(_valid(batch))
    n = rows.num_rows
    mult = size_multiplier(rows["sip_timestamp"], unit)
    conditions = rows["conditions"]
    conditions = pc.if_else(pc.equal(conditions, ""), pa.scalar(None, pa.string()), conditions)
    table = pa.table({
        "market": pa.repeat(pa.scalar("stocks"), n),
        "symbol": rows["ticker"],
        "ts_ns": rows["sip_timestamp"],
        "bid_price": rows["bid_price"],
        "bid_size": pc.multiply(rows["bid_size"], mult),
        "ask_price": rows["ask_price"],
        "ask_size": pc.multiply(rows["ask_size"], mult),
        "bid_exchange": rows["bid_exchange"],
        "ask_exchange": rows["ask_exchange"],
        "conditions": conditions,
        "sequence": rows["sequence_number"],
        "tape": rows["tape"],
        "received_ns": pa.repeat(pa.scalar(received_ns, pa.int64()), n),
        "source": pa.repeat(pa.scalar("replay"), n),
    }, schema=QUOTES_SCHEMA)
    return table, batch.num_rows - n


def _conditions_value(text: str | None) -> list[int] | str | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        return text  # sent as read: the loader dead-letters it with the reason


def _whole(x: float | None) -> float | int | None:
    return int(x) if x is not None and x == x and x.is_integer() and abs(x) < 2**53 else x


def quote_event(ticker: str | None, ask_ex: int | None, ask: float | None, ask_size: float | None,
                bid_ex: int | None, bid: float | None, bid_size: float | None, conditions: str | None,
                sip_ns: int | None, seq: int | None, tape: int | None, mult: float) -> dict[str, Any]:
    """One ``quotes_v1`` row as the WebSocket ``Q`` event it would have been, sizes in shares (``mult``
    shares per unit, :func:`size_multiplier`), plus ``t_ns``: the exact SIP nanoseconds."""
    event: dict[str, Any] = {
        "ev": "Q", "sym": ticker, "bx": bid_ex, "bp": bid,
        "bs": _whole(bid_size * mult) if bid_size is not None else None,
        "ax": ask_ex, "ap": ask, "as": _whole(ask_size * mult) if ask_size is not None else None,
        "t": sip_ns // _NS_PER_MS if sip_ns is not None else None, "t_ns": sip_ns, "q": seq, "z": tape,
    }
    cond = _conditions_value(conditions)
    if cond is not None:
        event["c"] = cond
    return event


def _reference_values(batch: pa.RecordBatch, mult: list[float]) -> list[bytes]:
    cols = [batch[name].to_pylist() for name in ("ticker", "ask_exchange", "ask_price", "ask_size",
                                                   "bid_exchange", "bid_price", "bid_size", "conditions",
                                                   "sip_timestamp", "sequence_number", "tape")]
    dumps = orjson.dumps
    return [dumps(quote_event(*row, m)) for row, m in zip(zip(*cols, strict=True), mult, strict=True)]


def _clean(batch: pa.RecordBatch) -> pa.Array:
    """Rows the column path writes exactly: every field present and finite, a ticker JSON needs not escape,
    conditions a plain comma list of integers (or empty), a non-negative ``sip_timestamp``."""
    ok = pc.invert(pc.match_substring_regex(batch["ticker"], _NEEDS_ESCAPE))
    for name in ("ask_exchange", "bid_exchange", "sequence_number", "tape", "sip_timestamp"):
        ok = pc.and_kleene(ok, pc.is_valid(batch[name]))
    for name in ("ask_price", "ask_size", "bid_price", "bid_size"):
        ok = pc.and_kleene(ok, pc.is_finite(batch[name]))
    conditions = batch["conditions"]
    plain = pc.or_kleene(pc.equal(conditions, ""), pc.match_substring_regex(conditions, _CONDITIONS))
    ok = pc.and_kleene(ok, pc.fill_null(plain, True))
    ok = pc.and_kleene(ok, pc.greater_equal(batch["sip_timestamp"], 0))
    return pc.fill_null(ok, False)


def _column_values(batch: pa.RecordBatch, mult: pa.Array) -> pa.Array:
    """The :func:`quote_event` JSON of every row, built column-wise (meaningful on :func:`_clean` rows)."""
    def text(column: pa.Array) -> pa.Array:
        return pc.cast(column, pa.string())

    conditions = pc.fill_null(batch["conditions"], "")
    c_piece = pc.if_else(pc.equal(conditions, ""), "",
                         pc.binary_join_element_wise(',"c":[', conditions, "]", ""))
    pieces = ['{"ev":"Q","sym":"', batch["ticker"], '","bx":', text(batch["bid_exchange"]),
              ',"bp":', text(batch["bid_price"]), ',"bs":', _size_text(pc.multiply(batch["bid_size"], mult)),
              ',"ax":', text(batch["ask_exchange"]), ',"ap":', text(batch["ask_price"]),
              ',"as":', _size_text(pc.multiply(batch["ask_size"], mult)),
              ',"t":', text(pc.divide(batch["sip_timestamp"], _NS_PER_MS)), ',"t_ns":', text(batch["sip_timestamp"]),
              ',"q":', text(batch["sequence_number"]), ',"z":', text(batch["tape"]), c_piece, "}"]
    return pc.binary_join_element_wise(*pieces, "")


def quote_values(batch: pa.RecordBatch, unit: SizeUnit = "auto") -> tuple[list[str], list[bytes]]:
    """``(keys, values)`` of a batch for the quotes topic: key = ticker, value = the :func:`quote_event` JSON.

    Built column-wise by Arrow (a few hundred ns a row); a row the column path cannot vouch for (a missing or
    non-finite field, a ticker JSON must escape, conditions that are not a list of integers, a negative time)
    goes through :func:`quote_event` instead, in place. Prices and sizes are spelt by Arrow's shortest
    round-trip formatter (``170`` for ``170.0``): the same numbers as ``orjson`` writes, maybe spelt otherwise.
    """
    mult = size_multiplier(batch["sip_timestamp"], unit)
    clean = _clean(batch)
    built = pc.fill_null(_column_values(batch, mult), "") if batch.num_rows else pa.array([], pa.string())
    values: list[bytes] = [v.encode() for v in built.to_pylist()]
    dirty = np.flatnonzero(~clean.to_numpy(zero_copy_only=False))
    if dirty.size:
        rows = pa.array(dirty)
        fixed = _reference_values(batch.take(rows), pc.take(mult, rows).to_pylist())
        for k, value in zip(dirty.tolist(), fixed, strict=True):
            values[k] = value
    keys = [t or "" for t in batch["ticker"].to_pylist()]
    return keys, values
