"""Counters of the Kafka processes (``stream``, ``load``, ``replay``): one statistics line and Prometheus.

Every long-running process logs one statistics line every ``STATS_INTERVAL_SECONDS`` (DESIGN §3) and exposes
the same numbers as Prometheus metrics. A :class:`PipelineStats` is a plain set of counters that the owning
loop updates (single writer; readers on other threads see a recent value, which is all a metric needs). The
:class:`_Collector` registered once in the default Prometheus registry reads every live ``PipelineStats`` at
scrape time, so metrics cost nothing on the hot path:

==============================================  ======  ===============================================
metric                                          type    meaning
==============================================  ======  ===============================================
``microstructure_consumed_total{role}``         counter records read (Polygon events, Kafka records, file rows)
``microstructure_produced_total{role}``         counter records handed to Kafka (stream, replay) or rows
                                                        written to the database (load)
``microstructure_parse_errors_total{role}``     counter records that could not be parsed
``microstructure_dead_lettered_total{role}``    counter records written to a ``<topic>.dlq``
``microstructure_delivery_failures_total``      counter Kafka deliveries that failed for good
``microstructure_spooled_total{role}``          counter events written to the stream's spool because Kafka
                                                        did not confirm them (sent first at the next start)
``microstructure_batches_total{role}``          counter batches written (load) / flushed (stream)
``microstructure_lag{role}``                    gauge   load: records behind the high watermarks;
                                                        stream/replay: messages queued in the producer
``microstructure_batch_latency_seconds{role}``  gauge   average seconds per batch since the last line
==============================================  ======  ===============================================

:func:`serve_metrics` starts ``prometheus_client``'s HTTP server on ``METRICS_HOST:METRICS_PORT`` (0 = off);
the embedded demo/run process leaves it off and its HTTP server may expose the registry on ``/metrics``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["PipelineStats", "StatsReporter", "serve_metrics"]

log = logging.getLogger(__name__)

_COUNTERS = ("consumed", "produced", "parse_errors", "dead_lettered", "delivery_failures", "spooled", "batches")


@dataclass(eq=False)
class PipelineStats:
    """Counters of one pipeline role since the process started."""

    role: str
    consumed: int = 0
    produced: int = 0
    parse_errors: int = 0
    dead_lettered: int = 0
    delivery_failures: int = 0
    spooled: int = 0
    batches: int = 0
    lag: int = 0
    batch_seconds_total: float = 0.0
    _line_batches: int = field(default=0, repr=False)
    _line_seconds: float = field(default=0.0, repr=False)
    _line_consumed: int = field(default=0, repr=False)
    _line_at: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        _LIVE.add(self)

    def add_batch(self, seconds: float) -> None:
        """Count one batch that took ``seconds`` from its first record to durable."""
        self.batches += 1
        self.batch_seconds_total += seconds

    @property
    def average_batch_latency_s(self) -> float:
        """Average batch latency since the previous statistics line (0 without batches)."""
        n = self.batches - self._line_batches
        return (self.batch_seconds_total - self._line_seconds) / n if n else 0.0

    def line(self) -> str:
        """The statistics line; starts a new averaging window for rate and latency."""
        now = time.monotonic()
        rate = (self.consumed - self._line_consumed) / max(now - self._line_at, 1e-9)
        text = (
            f"{self.role}: consumed={self.consumed} ({rate:.0f}/s) produced={self.produced} "
            f"parse_errors={self.parse_errors} dead_lettered={self.dead_lettered} "
            f"delivery_failures={self.delivery_failures} spooled={self.spooled} lag={self.lag} batches={self.batches} "
            f"avg_batch_latency={self.average_batch_latency_s:.3f}s"
        )
        self._line_batches, self._line_seconds = self.batches, self.batch_seconds_total
        self._line_consumed, self._line_at = self.consumed, now
        return text


_LIVE: weakref.WeakSet[PipelineStats] = weakref.WeakSet()


class _Collector(Collector):
    """Reads every live :class:`PipelineStats` at scrape time."""

    def collect(self) -> Iterator[Metric]:
        live = list(_LIVE)
        for name in _COUNTERS:
            family = CounterMetricFamily(f"microstructure_{name}", f"{name.replace('_', ' ')}", labels=["role"])
            for stats in live:
                family.add_metric([stats.role], getattr(stats, name))
            yield family
        lag = GaugeMetricFamily("microstructure_lag", "records behind (load) or queued (producer)",
                                labels=["role"])
        latency = GaugeMetricFamily("microstructure_batch_latency_seconds", "average seconds per batch",
                                    labels=["role"])
        for stats in live:
            lag.add_metric([stats.role], stats.lag)
            latency.add_metric([stats.role], stats.batch_seconds_total / stats.batches if stats.batches else 0.0)
        yield lag
        yield latency


_REGISTERED = threading.Lock()
_collector: _Collector | None = None


def _register() -> None:
    global _collector
    with _REGISTERED:
        if _collector is None:
            _collector = _Collector()
            REGISTRY.register(_collector)


_register()


def serve_metrics(host: str, port: int) -> None:
    """Serve the default Prometheus registry on ``http://host:port/metrics``; ``port`` 0 does nothing."""
    if port:
        start_http_server(port, addr=host)
        log.info("Prometheus metrics on http://%s:%d/metrics", host, port)


class StatsReporter:
    """Logs ``stats.line()`` every ``interval_s`` seconds from a daemon thread until :meth:`stop`."""

    def __init__(self, stats: PipelineStats, interval_s: float, logger: logging.Logger | None = None) -> None:
        self.stats = stats
        self.interval_s = interval_s
        self._log = logger or log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stats-{stats.role}", daemon=True)

    def __enter__(self) -> StatsReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._log.info("%s", self.stats.line())

    def stop(self) -> None:
        """Stop the thread and log a final line."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._log.info("%s (final)", self.stats.line())
