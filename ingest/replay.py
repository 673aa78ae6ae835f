"""Polygon flat files (``us_stocks_sip/trades_v1`` CSV, plain or ``.gz``) → Kafka or straight into the database.

``quotes_v1`` files are replayed the same way (reader, size units and events in :mod:`ingest.quotes_flatfile`):
each file's kind is told by its header row (:func:`ingest.quotes_flatfile.flat_file_kind`), every file is
checked before the first is replayed, and a file of neither kind stops the replay with one line naming it.

Columns (polygon notes §3): ``ticker, conditions, correction, exchange, id, participant_timestamp, price,
sequence_number, sip_timestamp, size, tape, trf_id, trf_timestamp``; timestamps are Unix **nanoseconds**,
``conditions`` a quoted comma list (``"12,37"``), ``trf_id``/``trf_timestamp`` 0 when the trade was not
reported through a TRF, ``correction`` 0 for a regular trade (other values mark corrected, cancelled or
erroneous prints; stored as ``market_data.correction``, NULL only when a row's cell is empty or the file has
no such column). Files are read with ``pyarrow.csv`` in blocks of ``block_bytes``.

Two destinations, the same rows:

* **Kafka** (``KAFKA_BOOTSTRAP_SERVERS`` set): every row becomes the WebSocket ``T`` event it would have been
  (``sym x i z p s c t q`` and ``trfi``/``trft`` when reported, ``t``/``trft`` in ms) plus two fields the
  WebSocket does not send, ``t_ns`` and ``trft_ns``, the exact nanosecond timestamps; the normalizer prefers
  them, so nothing is lost; a non-zero ``correction`` travels as our key ``_corr`` (:mod:`ingest.replay_json`).
  Messages go to ``KAFKA_TRADES_TOPIC``, key = ticker, header ``source=replay``; ``microstructure load`` then
  writes them like any streamed trade. The values are built column-wise
  (:mod:`ingest.replay_json`) on a worker thread, one batch ahead, while the caller's thread produces the
  previous batch with one ``produce()`` per row (:meth:`ingest.produce.EventProducer.send_many`).
* **Database** (no Kafka): the same columns are built vectorized and appended directly.

A row without ticker, id, exchange, positive price, non-negative size or positive ``sip_timestamp``, or whose
``correction`` is not an integer within 32 bits, is not a trade: the database path skips and counts it, the
Kafka path sends it and the loader dead-letters it. Either
way a rerun of the same file adds nothing: rows carry the dedupe key (``stocks``, ticker, exchange, id,
``sip_timestamp``). A one-line progress bar (bytes read of the file, rows, rows/s) goes to stderr.
"""

from __future__ import annotations

import concurrent.futures
import csv
import gzip
import logging
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingest.quotes_flatfile import (
    SizeUnit,
    csv_reader,
    flat_file_kind,
    quote_values,
    quotes_table,
    read_quotes_v1,
)
from ingest.replay_json import correction_values, trade_event, trade_values
from ingest.replay_spool import is_spool_file, replay_spool
from ingest.stats import PipelineStats
from sql.contract import TRADES_SCHEMA

if TYPE_CHECKING:
    from ingest.produce import EventProducer
    from sql.backend import Storage

__all__ = ["ReplaySummary", "read_trades_v1", "replay_file", "trades_table", "trade_events"]

log = logging.getLogger(__name__)

COLUMNS = ("ticker", "conditions", "correction", "exchange", "id", "participant_timestamp", "price",
           "sequence_number", "sip_timestamp", "size", "tape", "trf_id", "trf_timestamp")
#: ``correction`` is read as text and checked by :func:`ingest.replay_json.correction_values`, so a bad cell
#: skips its row instead of failing the file.
_TYPES = {"ticker": pa.string(), "conditions": pa.string(), "correction": pa.string(), "exchange": pa.int32(),
          "id": pa.string(), "participant_timestamp": pa.int64(), "price": pa.float64(),
          "sequence_number": pa.int64(), "sip_timestamp": pa.int64(), "size": pa.float64(),
          "tape": pa.int32(), "trf_id": pa.int32(), "trf_timestamp": pa.int64()}
_HEADERS = {"source": b"replay"}
T = TypeVar("T")


@dataclass
class ReplaySummary:
    """What one file replay did."""

    path: str
    rows: int = 0
    sent: int = 0
    added: int = 0
    skipped: int = 0
    seconds: float = 0.0


class _Counting:
    """A binary file object that counts the bytes read from it (for the progress bar)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.done = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.done += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()

    @property
    def closed(self) -> bool:
        return self.raw.closed


def _has_correction(path: Path) -> bool:
    """Whether the file's header names ``correction`` (every other column of :data:`COLUMNS` is required)."""
    with (gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")) as fh:
        header = fh.readline(1 << 16).decode("utf-8", errors="replace").strip()
    return "correction" in next(csv.reader([header]), [])


def read_trades_v1(path: Path, counter: _Counting | None = None, block_bytes: int = 16 << 20
                   ) -> Iterator[pa.RecordBatch]:
    """Yield record batches of a ``trades_v1`` file with the columns and types above, in that order; a file
    without ``correction`` gets the column, all null."""
    has_correction = _has_correction(path)
    columns = [c for c in COLUMNS if has_correction or c != "correction"]
    raw: Any = counter if counter is not None else path.open("rb")
    stream: Any = gzip.GzipFile(fileobj=raw) if path.name.endswith(".gz") else raw
    reader = csv_reader(stream, _TYPES, columns, block_bytes)
    try:
        for batch in reader:
            if not has_correction:
                batch = pa.RecordBatch.from_arrays(
                    [batch[c] if c != "correction" else pa.nulls(batch.num_rows, pa.string()) for c in COLUMNS],
                    names=list(COLUMNS))
            yield batch
    finally:
        stream.close()


def _null_if_zero(column: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(column, 0), pa.scalar(None, column.type), column)


def _valid(batch: pa.RecordBatch, bad_correction: pa.Array) -> pa.Array:
    valid = pc.and_kleene(pc.is_valid(batch["ticker"]), pc.is_valid(batch["id"]))
    valid = pc.and_kleene(valid, pc.is_valid(batch["exchange"]))
    valid = pc.and_kleene(valid, pc.greater(batch["price"], 0.0))
    valid = pc.and_kleene(valid, pc.greater_equal(batch["size"], 0.0))
    valid = pc.and_kleene(valid, pc.greater(batch["sip_timestamp"], 0))
    valid = pc.and_kleene(valid, pc.not_equal(batch["ticker"], ""))
    valid = pc.and_kleene(valid, pc.invert(bad_correction))
    return pc.fill_null(valid, False)


def trades_table(batch: pa.RecordBatch, received_ns: int) -> tuple[pa.Table, int]:
    """The valid rows of a ``trades_v1`` batch as a ``TRADES_SCHEMA`` table, and how many were skipped."""
    correction, bad_correction = correction_values(batch["correction"])
    valid = _valid(batch, bad_correction)
    rows = batch.filter(valid)
    correction = correction.filter(valid)
    n = rows.num_rows
    conditions = rows["conditions"]
    conditions = pc.if_else(pc.equal(conditions, ""), pa.scalar(None, pa.string()), conditions)
    table = pa.table({
        "market": pa.array(["stocks"] * n, pa.string()),
        "symbol": rows["ticker"],
        "ts_ns": rows["sip_timestamp"],
        "price": rows["price"],
        "size": rows["size"],
        "exchange": rows["exchange"],
        "trade_id": rows["id"],
        "conditions": conditions,
        "tape": rows["tape"],
        "sequence": rows["sequence_number"],
        "trf_id": _null_if_zero(rows["trf_id"]),
        "trf_ts_ns": _null_if_zero(rows["trf_timestamp"]),
        "received_ns": pa.array([received_ns] * n, pa.int64()),
        "source": pa.array(["replay"] * n, pa.string()),
        "correction": correction,
    }, schema=TRADES_SCHEMA)
    return table, batch.num_rows - n


def trade_events(batch: pa.RecordBatch) -> Iterator[tuple[str, bytes]]:
    """``(key, value)`` of each row, one row at a time (:func:`ingest.replay_json.trade_event`): the
    reference of :func:`ingest.replay_json.trade_values`, which the replay uses."""
    cols = [batch[name].to_pylist() for name in ("ticker", "exchange", "id", "tape", "price", "size",
                                                   "conditions", "sip_timestamp", "sequence_number",
                                                   "trf_id", "trf_timestamp", "correction")]
    dumps = orjson.dumps
    for row in zip(*cols, strict=True):
        yield row[0] or "", dumps(trade_event(*row))


def _nothing(batch: pa.RecordBatch) -> None:
    return None


def _ahead(batches: Iterator[pa.RecordBatch], build: Callable[[pa.RecordBatch], T]
           ) -> Iterator[tuple[pa.RecordBatch, T]]:
    """``(batch, build(batch))`` of each batch; the next batch is read and built on a worker thread while
    the caller handles this one (reading, Arrow kernels and the JSON build mostly run without the GIL)."""

    def step() -> tuple[pa.RecordBatch, T] | None:
        batch = next(batches, None)
        return None if batch is None else (batch, build(batch))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-read") as pool:
        try:
            pending = pool.submit(step)
            while (item := pending.result()) is not None:
                pending = pool.submit(step)
                yield item
        finally:
            pending.cancel()
            concurrent.futures.wait([pending])
            batches.close()  # type: ignore[attr-defined]


class _Progress:
    def __init__(self, path: Path, total: int, stream: IO[str] = sys.stderr) -> None:
        self.path, self.total, self.stream = path.name, max(total, 1), stream
        self.started = self.shown = time.monotonic()

    def show(self, done: int, rows: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.shown < 0.5:
            return
        self.shown = now
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 30)
        rate = rows / max(now - self.started, 1e-9)
        self.stream.write(f"\rreplay {self.path} [{bar:<30}] {frac:4.0%} {rows:,} rows {rate:,.0f}/s")
        if final:
            self.stream.write("\n")
        self.stream.flush()


def replay_file(path: Path, *, storage: Storage | None = None, producer: EventProducer | None = None,
                stats: PipelineStats | None = None, progress: bool = True,
                block_bytes: int = 16 << 20, quote_size_unit: SizeUnit = "auto") -> ReplaySummary:
    """Replay one ``trades_v1`` or ``quotes_v1`` file into Kafka (``producer``) or the database (``storage``).

    Exactly one of ``storage`` and ``producer`` is given. With a producer, its queue is flushed before
    returning, so every row is in Kafka (or counted as a delivery failure). ``quote_size_unit`` is how a
    quotes file's sizes read (``QUOTE_SIZE_UNIT``, :mod:`ingest.quotes_flatfile`).

    Raises
    ------
    ingest.quotes_flatfile.UnknownFlatFile
        The file's header is neither kind's.
    """
    if (storage is None) == (producer is None):
        raise ValueError("give exactly one of storage and producer")
    quotes = flat_file_kind(path) == "quotes"
    stats = stats or (producer.stats if producer is not None else PipelineStats("replay"))
    summary = ReplaySummary(str(path))
    started = time.monotonic()
    counter = _Counting(path.open("rb"))
    bar = _Progress(path, path.stat().st_size) if progress else None
    batches = read_quotes_v1(path, counter, block_bytes) if quotes else read_trades_v1(path, counter, block_bytes)
    build: Callable[[pa.RecordBatch], Any] = _nothing
    if producer is not None:
        build = (lambda b: quote_values(b, quote_size_unit)) if quotes else trade_values
    for batch, built in _ahead(batches, build):
        batch_started = time.monotonic()
        summary.rows += batch.num_rows
        stats.consumed += batch.num_rows
        if producer is not None:
            keys, values = built
            producer.send_many(producer.quotes_topic if quotes else producer.trades_topic, keys, values, _HEADERS)
            producer.poll(0)
            summary.sent += batch.num_rows
        else:
            assert storage is not None
            if quotes:
                table, skipped = quotes_table(batch, time.time_ns(), quote_size_unit)
            else:
                table, skipped = trades_table(batch, time.time_ns())
            summary.skipped += skipped
            stats.parse_errors += skipped
            added = storage.append_quotes(table) if quotes else storage.append_trades(table)
            summary.added += added
            stats.produced += added
        stats.add_batch(time.monotonic() - batch_started)
        if bar is not None:
            bar.show(counter.done, summary.rows)
    if producer is not None:
        producer.flush(300)
    summary.seconds = time.monotonic() - started
    if bar is not None:
        bar.show(counter.done, summary.rows, final=True)
    if summary.skipped:
        log.warning("replay %s: %d rows are not valid %s and were skipped", path, summary.skipped,
                    "quotes" if quotes else "trades")
    return summary


def replay_paths(settings: Any, paths: list[Path], *, progress: bool = True) -> list[ReplaySummary]:
    """``microstructure replay``: every file to Kafka when ``KAFKA_BOOTSTRAP_SERVERS`` is set, else the DB.

    Every file's kind is read first, so a file of neither kind stops the replay before anything is written
    (:class:`ingest.quotes_flatfile.UnknownFlatFile`); a file of JSON lines is a stream's spool
    (:mod:`ingest.replay_spool`).
    """
    kinds = ["spool" if is_spool_file(path) else flat_file_kind(path) for path in paths]
    unit = settings.quote_size_unit
    summaries = []
    if settings.kafka_bootstrap_servers:
        from ingest.produce import EventProducer, ensure_topics

        topics = {"trades": settings.kafka_trades_topic, "quotes": settings.kafka_quotes_topic}
        needed = {topics[k] for k in kinds if k != "spool"} | (set(topics.values()) if "spool" in kinds else set())
        ensure_topics(settings.kafka_bootstrap_servers, sorted(needed), settings.kafka_partitions)
        producer = EventProducer.from_settings(settings, PipelineStats("replay"))
        for path, kind in zip(paths, kinds, strict=True):
            if kind == "spool":
                summary = replay_spool(path, producer=producer)
            else:
                summary = replay_file(path, producer=producer, progress=progress, quote_size_unit=unit)
            log.info("replay %s: %d rows sent to %s in %.1f s", path, summary.sent,
                     topics.get(kind, "the trades and quotes topics"),
                     summary.seconds)
            summaries.append(summary)
        if producer.stats.delivery_failures:
            raise RuntimeError(f"{producer.stats.delivery_failures} rows could not be delivered to Kafka")
        return summaries
    from sql.backend import open_storage

    storage = open_storage(settings)
    try:
        storage.apply_schema()
        for path in paths:
            if is_spool_file(path):
                summary = replay_spool(path, storage=storage)
            else:
                summary = replay_file(path, storage=storage, progress=progress, quote_size_unit=unit)
            log.info("replay %s: %d rows, %d added, %d skipped in %.1f s", path, summary.rows, summary.added,
                     summary.skipped, summary.seconds)
            summaries.append(summary)
    finally:
        storage.close()
    return summaries
