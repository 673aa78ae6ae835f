"""``microstructure stream``: one Polygon market → Kafka, and nothing accepted is lost when the broker is away.

Start: wait for the broker (``ensure_topics``, interruptible), then send the spool (:mod:`ingest.spool`) first
and empty it once Kafka has confirmed every event of it; only then open the socket. Stop (SIGINT/SIGTERM): one
line at once says how many events Kafka has not confirmed, how long the stream waits for the broker
(``STREAM_STOP_WAIT_SECONDS``) and where they go; what Kafka has not confirmed by then is purged from the
producer into the spool (fsynced). A second signal skips the wait. The statistics line counts the spooled
events (``spooled=``) and the last line sums up: produced, confirmed by Kafka, in the spool.

``STREAM_SPOOL_MODE=always`` also writes every frame to a spool segment (fsynced) before producing it, so a
``SIGKILL`` loses nothing either (BENCHMARKS.md gives the cost and what ``on-failure`` loses to a ``SIGKILL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.produce import EventProducer, KafkaFeed, ensure_topics
from ingest.spool import Spool, WriteAhead, events_of_lines, read_lines
from ingest.stats import PipelineStats, StatsReporter, serve_metrics

if TYPE_CHECKING:
    from sql.settings import Settings

__all__ = ["StopSignals", "StreamSummary", "broker_ready", "log_summary", "resend_spool", "run_stream",
           "stream_producer"]

log = logging.getLogger(__name__)


@dataclass
class StreamSummary:
    """What one ``stream`` run did."""

    produced: int
    confirmed: int
    spooled: int
    lost: int
    spool: Path


class StopSignals:
    """First SIGINT/SIGTERM: say what the producer (if any yet) waits for, then stop; the next ones: stop waiting.

    ``stream`` and the embedded process (``demo``, ``run``, ``up`` with Kafka) install it; the embedded one sets
    :attr:`producer` once its feeds produce to Kafka.
    """

    def __init__(self, stop: asyncio.Event, producer: EventProducer | None = None) -> None:
        self.stop = stop
        self.producer = producer
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        producer = self.producer
        if self.count == 1:
            if producer is not None:
                log.warning("%s", producer.stop_notice())
                producer.stopping.set()
            self.stop.set()
        elif producer is not None and not producer.abandon.is_set():
            log.warning("stopping now: %d unconfirmed events go to the spool %s", len(producer),
                        producer.spool.path if producer.spool else "(none)")
            producer.abandon.set()


def resend_spool(producer: EventProducer, spool: Spool, headers: dict[str, bytes]) -> int:
    """Send the spool's events (segments first, oldest first) and wait until Kafka confirms them; return how
    many were sent. The spool is then rewritten to hold exactly those Kafka did not take (none, usually)."""
    files = spool.pending_files()
    if not files:
        return 0
    lines: list[bytes] = []
    for path in files:
        lines.extend(read_lines(path)[0])
    events = events_of_lines(lines)
    statuses: list[Any] = []
    rejects: list[Any] = []
    log.info("sending the %d spooled events of %s first", len(events), ", ".join(str(p) for p in files))
    trades, quotes = producer.send_events(events, headers, statuses, rejects)
    for reject in rejects:
        log.warning("spool %s: not sent (%s): %s", spool.path, reject.reason, reject.raw[:300])
    producer.wait_confirmed()
    undelivered, producer.undelivered = producer.undelivered, []
    spool.replace(files, undelivered)
    producer.stats.spooled += len(undelivered)
    if undelivered:
        log.warning("%d of the %d spooled events are still not confirmed by Kafka: kept in %s", len(undelivered),
                    trades + quotes, spool.path)
    else:
        log.info("Kafka confirmed the %d spooled events; %s emptied", trades + quotes, spool.path)
    return trades + quotes


def stream_producer(settings: Settings, stats: PipelineStats, spool: Spool) -> EventProducer:
    """The producer of ``stream``: undelivered events go to ``spool``; in ``STREAM_SPOOL_MODE=always`` frames
    are written ahead (:class:`ingest.spool.WriteAhead`), and each message's callback hears of its success."""
    always = settings.stream_spool_mode == "always"
    producer = EventProducer.from_settings(settings, stats, **({"delivery.report.only.error": False} if always else {}))
    producer.spool = spool
    producer.keep_undelivered = True
    producer.stop_wait_s = settings.stream_stop_wait_seconds
    if always:
        producer.write_ahead = WriteAhead(spool, producer.report_undelivered)
    return producer


async def broker_ready(settings: Settings, producer: EventProducer) -> bool:
    """Wait for the broker and the topics (created when missing); ``False`` when the producer is stopped first
    (a stop signal while the broker is away), :func:`ingest.produce.ensure_topics` raising after its wait."""
    assert settings.kafka_bootstrap_servers
    topics = [settings.kafka_trades_topic, settings.kafka_quotes_topic]
    return await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap_servers, topics, settings.kafka_partitions,
                                   5.0, stop=producer.stopping)  # fmt: skip


def log_summary(name: str, producer: EventProducer) -> StreamSummary:
    """Log the last line of a producing run (produced, confirmed by Kafka, spooled, lost) and return it."""
    stats = producer.stats
    spool = producer.spool.path if producer.spool is not None else Path("(none)")
    summary = StreamSummary(stats.produced, stats.produced - producer.undelivered_total, stats.spooled,
                            producer.lost, spool)
    log.info("%s stopped: %d events produced, %d confirmed by Kafka, %d written to the spool %s%s", name,
             summary.produced, summary.confirmed, summary.spooled, summary.spool,
             f", {summary.lost} LOST (the spool could not be written)" if summary.lost else
             " (sent first at the next start)" if summary.spooled else "")  # fmt: skip
    return summary


async def run_stream(settings: Settings, *, simulate: bool = False, stop: asyncio.Event | None = None
                     ) -> StreamSummary:
    """``microstructure stream``: one Polygon market → Kafka until ``stop`` (or SIGINT/SIGTERM) is set.

    ``simulate`` serves the market from an in-process simulator (``SIM_RATE``, ``SIM_SEED``) instead of
    ``POLYGON_FEED``; rows are then tagged ``sim``.

    Raises
    ------
    ValueError
        ``KAFKA_BOOTSTRAP_SERVERS`` or ``POLYGON_API_KEY`` (without ``simulate``) is not set.
    ingest.spool.SpoolBusy
        Another stream holds the spool.
    """
    if not settings.kafka_bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set: 'microstructure stream' produces to Kafka")
    if not simulate and settings.polygon_api_key is None:
        raise ValueError("POLYGON_API_KEY is not set: 'microstructure stream' needs a Polygon key (or --simulate)")
    stop = stop or asyncio.Event()
    stats = PipelineStats("stream")
    source = "sim" if simulate else "ws"
    with Spool(settings.spool_path()) as spool:
        producer = stream_producer(settings, stats, spool)
        loop = asyncio.get_running_loop()
        handler = StopSignals(stop, producer)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, handler)
        try:
            if await broker_ready(settings, producer):
                serve_metrics(settings.metrics_host, settings.metrics_port)
                with StatsReporter(stats, settings.stats_interval_seconds, log):
                    await asyncio.to_thread(resend_spool, producer, spool, {"source": source.encode()})
                    if not producer.stopping.is_set():
                        await _stream(settings, producer, source, stop, simulate=simulate)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return log_summary("stream", producer)


async def _stream(settings: Settings, producer: EventProducer, source: str, stop: asyncio.Event, *,
                  simulate: bool) -> None:
    """The feed into ``producer`` until ``stop``; the feed's drain finishes the producer on its way out."""
    subscriptions = [s.strip() for s in settings.polygon_subscriptions.split(",") if s.strip()]
    async with contextlib.AsyncExitStack() as stack:
        if simulate:
            from ingest.simulator import PolygonSimulator
            from ingest.synthetic_market import SyntheticMarket

            sim = PolygonSimulator(SyntheticMarket(settings.sim_seed, settings.sim_rate), settings.sim_host, 0)
            await stack.enter_async_context(sim)
            feed_host, secure, key = sim.feed, False, "sim"
        else:
            assert settings.polygon_api_key is not None
            feed_host, secure = settings.polygon_feed, settings.polygon_secure
            key = settings.polygon_api_key.get_secret_value()
        feed = KafkaFeed(producer=producer, source=source, api_key=key, feed=feed_host,
                         market=settings.polygon_market, subscriptions=subscriptions, secure=secure,
                         max_reconnects=None)
        task = asyncio.create_task(feed.run(), name="stream")
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
