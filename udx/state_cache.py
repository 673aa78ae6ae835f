"""The transform's per-symbol states kept in memory between passes, checked against the stored row every pass.

Reading a stored state back (:meth:`udx.state.SymbolState.from_json`: JSON and the base64 of every window, about
1 MB and 3 ms a symbol at 10 s bars when measured, before the windows were zlib-compressed) on every pass of ``transform --follow`` or the demo was a quarter of the
transform thread's time at 50k trades/s (BENCHMARKS.md, "Freshness of the demo"). A storage that stamps each
write of a state (``signal_state_stamps``, ``load_signal_states_of``, and ``commit_signals`` returning the
``updated_ns`` it wrote: :class:`sql.duckdb_backend.DuckDBStorage`) gets a cache per storage object:

* after a chunk's commit, :func:`remember` keeps each state written with the stamp it was written with;
* :func:`load_states` reads only the stamps (and last bar ends), uses a kept state where the stored row still
  has the stamp and bar end it was kept with, and reads and decodes every other state (the first pass, and any
  other writer: a reset deletes the row, a rewind or recompute or another storage object on the file writes
  another stamp, a restart starts with an empty cache) and keeps it with its stamp.

The stored row stays the truth: a kept state is used only while the row is the very write it came from, and
a failed commit keeps nothing. The kept arrays are made read-only, so code that would change a carried state in
place (instead of copying it, as :func:`udx.pipeline.process_symbol` does) fails loudly instead of changing
the next pass's input. A storage without stamps (Vertica, the UDx's) reads and decodes every state each pass,
as before. At most :data:`BUDGET_BYTES` of arrays are kept per storage; states beyond are read each pass.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any, NamedTuple

from sql.backend import SignalStateRow
from udx.state import StateError, SymbolState

__all__ = ["BUDGET_BYTES", "Stored", "forget", "load_states", "remember"]

#: Bytes of state arrays kept per storage object (the demo's 9 symbols at 10 s bars hold about 9 MB).
BUDGET_BYTES = 1 << 30


class Stored(NamedTuple):
    """A symbol's stored state: where it ends and the state (``None`` with ``error`` when it cannot be read)."""

    last_bar_end_ns: int
    state: SymbolState | None
    error: StateError | None = None


class _Cache:
    """The states kept for one storage object: (symbol, bar seconds) -> (stamp, state, bytes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, int], tuple[int, SymbolState, int]] = {}
        self.nbytes = 0

    def drop(self, key: tuple[str, int]) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.nbytes -= entry[2]

    def keep(self, key: tuple[str, int], stamp: int, state: SymbolState) -> None:
        self.drop(key)
        size = sum(a.nbytes for a in state.arrays.values())
        if self.nbytes + size > BUDGET_BYTES:
            return
        for array in state.arrays.values():
            array.flags.writeable = False
        self.entries[key] = (stamp, state, size)
        self.nbytes += size


_CACHES: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache_of(storage: Any) -> _Cache | None:
    """The cache of a storage that stamps its states, ``None`` for any other."""
    if not hasattr(storage, "signal_state_stamps") or not hasattr(storage, "load_signal_states_of"):
        return None
    with _CACHES_LOCK:
        cache = _CACHES.get(storage)
        if cache is None:
            cache = _CACHES[storage] = _Cache()
        return cache


def _decoded(row: SignalStateRow) -> Stored:
    try:
        return Stored(row.last_bar_end_ns, SymbolState.from_json(row.state))
    except StateError as exc:
        return Stored(row.last_bar_end_ns, None, exc)


def load_states(storage: Any, bar_seconds: int) -> dict[str, Stored]:
    """The stored state of every symbol on the ``bar_seconds`` grid, from memory where the stored row is still the
    write it was kept from (module docstring).

    Parameters
    ----------
    storage
        A :class:`sql.backend.Storage`; one with ``signal_state_stamps`` gets the cache.
    bar_seconds
        The grid.

    Returns
    -------
    dict
        Symbol -> :class:`Stored`. A state that cannot be read has ``state=None`` and its ``error``.
    """
    cache = _cache_of(storage)
    if cache is None:
        return {symbol: _decoded(row) for symbol, row in storage.load_signal_states(bar_seconds).items()}
    stamps: dict[str, tuple[int, int]] = storage.signal_state_stamps(bar_seconds)
    out: dict[str, Stored] = {}
    missing: list[str] = []
    with cache.lock:
        for key in [k for k in cache.entries if k[1] == bar_seconds and k[0] not in stamps]:
            cache.drop(key)  # deleted (a reset)
        for symbol, (end, stamp) in stamps.items():
            entry = cache.entries.get((symbol, bar_seconds))
            if entry is not None and entry[0] == stamp and entry[1].last_bar_end_ns == end:
                out[symbol] = Stored(end, entry[1])
            else:
                missing.append(symbol)
    if missing:
        rows: dict[str, tuple[SignalStateRow, int]] = storage.load_signal_states_of(bar_seconds, missing)
        with cache.lock:
            for symbol, (row, stamp) in rows.items():
                stored = out[symbol] = _decoded(row)
                if stored.state is not None:
                    cache.keep((symbol, bar_seconds), stamp, stored.state)
                else:
                    cache.drop((symbol, bar_seconds))
    return out


def remember(storage: Any, bar_seconds: int, stamp: Any, states: Iterable[tuple[str, SymbolState]]) -> None:
    """Keep ``states`` (symbol, state) as written by a commit that stamped them ``stamp``; nothing when the
    storage does not stamp its states (``stamp`` not an ``int``). Call only after the commit succeeded."""
    cache = _cache_of(storage)
    if cache is None or not isinstance(stamp, int) or isinstance(stamp, bool):
        return
    with cache.lock:
        for symbol, state in states:
            cache.keep((symbol, bar_seconds), stamp, state)


def forget(storage: Any) -> None:
    """Drop every state kept for ``storage`` (the next pass reads them all)."""
    with _CACHES_LOCK:
        _CACHES.pop(storage, None)
