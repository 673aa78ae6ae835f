"""``microstructure replay <spool>``: a stream's spool (Polygon JSON lines, :mod:`ingest.spool`) → Kafka or the
database, like a ``trades_v1`` flat file.

Each line is one Polygon event or one frame of events. Through Kafka the events go to the trades and quotes
topics unchanged, header ``source=replay``; without Kafka they are normalized (:class:`ingest.normalize.FrameBatch`)
and appended. Either way the dedupe key makes a rerun, or the resend of an event Kafka had already taken, add
nothing. Malformed lines are rejected with the reason (logged, counted as skipped), never sent.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ingest.normalize import FrameBatch
from ingest.spool import events_of_lines, read_lines

if TYPE_CHECKING:
    from ingest.produce import EventProducer
    from ingest.replay import ReplaySummary
    from sql.backend import Storage

__all__ = ["is_spool_file", "replay_spool"]

log = logging.getLogger(__name__)

_HEADERS = {"source": b"replay"}


def is_spool_file(path: Path) -> bool:
    """Whether ``path`` holds JSON lines (its first non-blank byte opens an object or array), not a CSV."""
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    return head[:1] in (b"{", b"[")


def replay_spool(path: Path, *, storage: Storage | None = None, producer: EventProducer | None = None
                 ) -> ReplaySummary:
    """Send the events of the spool file ``path`` to Kafka (``producer``, flushed before returning) or append
    them to the database (``storage``); exactly one of the two is given."""
    from ingest.replay import ReplaySummary

    if (storage is None) == (producer is None):
        raise ValueError("give exactly one of storage and producer")
    started = time.monotonic()
    lines, torn = read_lines(path)
    events = events_of_lines(lines)
    summary = ReplaySummary(str(path), rows=len(events), skipped=torn)
    statuses: list[Any] = []
    if producer is not None:
        rejects: list[Any] = []
        trades, quotes = producer.send_events(events, _HEADERS, statuses, rejects)
        producer.flush(300)
        summary.sent = trades + quotes
    else:
        assert storage is not None
        batch = FrameBatch("replay")
        batch.add_frame(orjson.dumps(events), time.time_ns())
        normalized = batch.take()
        rejects = normalized.rejects
        summary.added = storage.append_trades(normalized.trades) + storage.append_quotes(normalized.quotes)
    for reject in rejects:
        log.warning("replay %s: skipped (%s): %s", path, reject.reason, reject.raw[:300])
    summary.skipped += len(rejects)
    summary.rows -= len(statuses)
    summary.seconds = time.monotonic() - started
    return summary
