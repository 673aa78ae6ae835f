"""Prometheus metrics of the server: requests, errors and latency per tool and transport, and the HTTP
connections the server refused or closed for its limits (apart from the tool counts).

Each app owns its :class:`ServerMetrics` (its own registry), so several apps in one process, as in the
tests, do not collide. ``GET /metrics`` renders the registry in the Prometheus text format.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServerMetrics:
    """Counters and a latency histogram per tool and transport (``mcp`` or ``rest``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "microstructure_tool_requests", "Tool calls", ["tool", "transport"], registry=self.registry
        )
        self.errors = Counter(
            "microstructure_tool_errors", "Tool calls that ended in an error", ["tool", "transport"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "microstructure_tool_latency_seconds", "Tool call latency", ["tool", "transport"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.read_paths = Counter(
            "microstructure_read_path", "How reads were answered: narrowed (a recent time window), memory "
            "(the newest rows kept in memory) or sql (the plain query, the fallback)", ["tool", "path"],
            registry=self.registry,
        )  # fmt: skip
        self.connection_limits = Counter(
            "microstructure_http_limited", "HTTP connections refused or closed by a limit: over_capacity (503 with "
            "Retry-After beyond MCP_MAX_CONNECTIONS), over_ceiling (closed at once beyond twice as many), "
            "header_timeout, body_timeout (408), stream_idle (an SSE stream ended), keep_alive (idle, closed)",
            ["reason"], registry=self.registry,
        )  # fmt: skip
        self.open_connections = Gauge(
            "microstructure_http_connections", "HTTP connections open now", registry=self.registry
        )
        self.cache_bytes = Gauge(
            "microstructure_response_cache_bytes", "Bytes the response cache holds (its own accounting)",
            registry=self.registry,
        )  # fmt: skip
        self.cache_entries = Gauge(
            "microstructure_response_cache_entries", "Answers the response cache holds", registry=self.registry
        )

    def count_limit(self, reason: str) -> None:
        """Count one connection refused or closed by a limit (``over_capacity``, ``header_timeout``, ...)."""
        self.connection_limits.labels(reason).inc()

    def count_path(self, tool: str, path: str) -> None:
        """Count one read of ``tool`` answered by ``path`` (``narrowed``, ``memory`` or ``sql``)."""
        self.read_paths.labels(tool, path).inc()

    @contextmanager
    def observe(self, tool: str, transport: str) -> Iterator[None]:
        """Count one call of ``tool`` and time it; an exception counts as an error and propagates."""
        self.requests.labels(tool, transport).inc()
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self.errors.labels(tool, transport).inc()
            raise
        finally:
            self.latency.labels(tool, transport).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        """Return the metrics in the Prometheus text exposition format."""
        return generate_latest(self.registry)
