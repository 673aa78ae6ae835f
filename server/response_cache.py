"""A cache of tool results, keyed by tool and canonical arguments, valid while the data is unchanged.

The data version is the one row of the named query ``data_version`` (newest ``signal_state.updated_ns`` and
the row counts of trades and bars). It is read again at most every ``MCP_RESPONSE_CACHE_MS`` milliseconds;
an entry is served only while the version it was computed under is still the current one. So an answer is
at most that many milliseconds behind a change of the data, and its ``as_of`` stays the time it was
computed: the cache never re-stamps an old answer as new.

Only calls whose answer is a function of the data alone are cached: not ``hours_back`` (a window that moves
with the clock), not ``get_real_time_data`` (ages are relative to now), not the chart.

Memory is bounded in bytes, not entries: the entries' keys and answers together stay within
``MCP_RESPONSE_CACHE_BYTES`` (the least recently used go first), and an answer larger than a
:data:`LARGEST_ENTRY_FRACTION` of that budget is not kept at all, so one page cannot empty the cache.
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

__all__ = ["CACHEABLE_TOOLS", "LARGEST_ENTRY_FRACTION", "ResponseCache", "cache_key"]

#: Tools whose answer, for a fixed (absolute) time window, depends on the stored data only.
CACHEABLE_TOOLS = frozenset({"get_enriched_data", "get_trading_signals", "get_jump_events", "get_symbol_metrics"})

#: An answer above this fraction of the byte budget is not cached (1/8: 8 MiB of the default 64 MiB).
LARGEST_ENTRY_FRACTION = 1 / 8

#: Bytes counted per entry beyond its key and answer (the entry's tuple and the dictionary's slot).
ENTRY_OVERHEAD_BYTES = 200

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
    """Serialized results per call key, dropped when the data version changes, within a byte budget (LRU).

    Parameters
    ----------
    storage
        Answers the ``data_version`` query.
    check_ms
        How often the data version is read again.
    max_bytes
        Budget of the keys and answers kept, each counted with :data:`ENTRY_OVERHEAD_BYTES`; an answer
        above ``max_bytes * LARGEST_ENTRY_FRACTION`` is never kept.
    """

    def __init__(self, storage: Storage, *, check_ms: int, max_bytes: int) -> None:
        self._storage = storage
        self._check_ns = check_ms * 1_000_000
        self.max_bytes = max_bytes
        self.largest_entry_bytes = int(max_bytes * LARGEST_ENTRY_FRACTION)
        self._entries: OrderedDict[Hashable, tuple[Any, bytes, int]] = OrderedDict()
        self._version: Any = None
        self._checked_ns: int | None = None  # never read: the first call reads (monotonic time may be < the interval)
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.not_kept = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _read_version(self) -> Any:
        row = self._storage.query("data_version", {}, 1).rows
        return row[0] if row else None

    async def version(self) -> Any:
        """The current data version, read again when the last reading is older than the check interval."""
        now = time.monotonic_ns()
        if self._checked_ns is None or now - self._checked_ns >= self._check_ns:
            version = await anyio.to_thread.run_sync(self._read_version)
            with self._lock:
                if version != self._version:
                    self._entries.clear()
                    self.bytes = 0
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
        """Keep ``value`` for ``key``; it was computed after ``version`` was read.

        Not kept when the data changed meanwhile or when ``value`` is above the largest entry size; the least
        recently used entries go until the budget holds the new one.
        """
        size = _entry_bytes(key, value)
        with self._lock:
            if version != self._version:  # the data changed while it was computed
                return
            if size > self.largest_entry_bytes:
                self.not_kept += 1
                return
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.bytes -= previous[2]
            while self._entries and self.bytes + size > self.max_bytes:
                self.bytes -= self._entries.popitem(last=False)[1][2]
            self._entries[key] = (version, value, size)
            self.bytes += size


def _entry_bytes(key: Hashable, value: bytes) -> int:
    """Bytes an entry is counted for: its answer, its key's canonical arguments and a fixed overhead."""
    arguments = key[1] if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], bytes) else b""
    return len(value) + len(arguments) + ENTRY_OVERHEAD_BYTES
