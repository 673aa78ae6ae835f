"""A cache of tool results, keyed by tool and canonical arguments, valid while the data is unchanged.

The data version is the one row of the named query ``data_version`` (newest ``signal_state.updated_ns`` and
the row counts of trades and bars). It is read again at most every ``MCP_RESPONSE_CACHE_MS`` milliseconds;
an entry is served only while the version it was computed under is still the current one. So an answer is
at most that many milliseconds behind a change of the data, and its ``as_of`` stays the time it was
computed: the cache never re-stamps an old answer as new.

Only calls whose answer is a function of the data alone are cached: not ``hours_back`` (a window that moves
with the clock), not ``get_real_time_data`` (ages are relative to now), not the chart.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

import anyio.to_thread
import orjson

from sql.backend import Storage

__all__ = ["CACHEABLE_TOOLS", "ResponseCache", "cache_key"]

#: Tools whose answer, for a fixed (absolute) time window, depends on the stored data only.
CACHEABLE_TOOLS = frozenset({"get_enriched_data", "get_trading_signals", "get_jump_events", "get_symbol_metrics"})

#: Arguments that tie the answer to the clock.
_CLOCK_ARGUMENTS = ("hours_back",)


def cache_key(tool: str, arguments: Mapping[str, Any]) -> Hashable | None:
    """The key of a call whose answer may be cached, or ``None`` when it may not.

    Parameters
    ----------
    tool
        The tool's name.
    arguments
        The validated arguments (defaults filled in), so that equal calls get equal keys.
    """
    if tool not in CACHEABLE_TOOLS or any(arguments.get(name) is not None for name in _CLOCK_ARGUMENTS):
        return None
    try:
        return tool, orjson.dumps(dict(arguments), option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a value without a canonical JSON form: not cached
        return None


class ResponseCache:
    """Serialized results per call key, dropped when the data version changes (LRU beyond ``max_entries``)."""

    def __init__(self, storage: Storage, *, check_ms: int, max_entries: int = 4096) -> None:
        self._storage = storage
        self._check_ns = check_ms * 1_000_000
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Any, bytes]] = OrderedDict()
        self._version: Any = None
        self._checked_ns = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _read_version(self) -> Any:
        row = self._storage.query("data_version", {}, 1).rows
        return row[0] if row else None

    async def version(self) -> Any:
        """The current data version, read again when the last reading is older than the check interval."""
        now = time.monotonic_ns()
        if now - self._checked_ns >= self._check_ns:
            version = await anyio.to_thread.run_sync(self._read_version)
            with self._lock:
                if version != self._version:
                    self._entries.clear()
                self._version, self._checked_ns = version, now
        return self._version

    def get(self, key: Hashable, version: Any) -> bytes | None:
        """The cached result of ``key`` computed under ``version``, or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, version: Any, value: bytes) -> None:
        """Keep ``value`` for ``key``; it was computed after ``version`` was read."""
        with self._lock:
            if version != self._version:  # the data changed while it was computed
                return
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
