"""What the rows kept in memory beside a DuckDB file share: attaching to the storage, loading, forgetting.

:class:`KeptRows` is a :class:`sql.backend.WriteListener`: attached to a storage that tells of its writes, it
loads (its subclass's ``_load``) when attached, while the storage holds every lock of its writes, counts every
write it is told of (a lazy load that saw the count change is discarded; writes of different kinds may be told at
once, each under its own lock: :mod:`sql.duckdb_backend`), forgets the symbols of a reset and everything after a failed call.
Subclasses (:mod:`server.tools.latest`, :mod:`server.tools.jump_memory`) hold per symbol in ``_held``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, TypeVar

import pyarrow as pa

from sql.backend import SignalStateRow, Storage

__all__ = ["KeptRows"]

log = logging.getLogger("microstructure.server")

K = TypeVar("K", bound="KeptRows")


class KeptRows:
    """Per symbol rows of one grid kept beside ``storage`` (``_held``; ``None``: nothing loaded).

    Parameters
    ----------
    storage
        Where the rows are loaded from.
    bar_seconds
        The grid kept.
    """

    def __init__(self, storage: Storage, bar_seconds: int) -> None:
        self._storage = storage
        self._bar_seconds = bar_seconds
        self._lock = threading.Lock()
        self._held: dict[str, Any] | None = None
        self._writes = 0  # writes told so far: a load that saw this number change is discarded

    @classmethod
    def attach(cls: type[K], storage: Storage, bar_seconds: int, **options: Any) -> K | None:
        """An instance (given ``options``) told of the writes of ``storage``, or ``None`` when it cannot tell
        (Vertica)."""
        add = getattr(storage, "add_write_listener", None)
        if add is None:
            return None
        kept = cls(storage, bar_seconds, **options)
        add(kept)
        return kept

    def detach(self) -> None:
        """Stop being told of the storage's writes (when the app or server keeping this shuts down)."""
        remove = getattr(self._storage, "remove_write_listener", None)
        if remove is not None:
            remove(self)

    def _load(self) -> bool:
        """Read the rows with the SQL; ``False`` when nothing was kept."""
        raise NotImplementedError

    def _told(self) -> bool:
        """Count one write; whether rows are held (so the write must be applied)."""
        with self._lock:
            self._writes += 1
            return self._held is not None

    # --- sql.backend.WriteListener -------------------------------------------------------------------------
    def attached(self) -> None:
        """Load now, while no write can come in (a load that fails is tried again by the first call)."""
        try:
            self._load()
        except Exception:  # noqa: BLE001 - logged; the first call loads again or runs the SQL
            log.exception("loading the rows kept in memory failed; the first call tries again")

    def trades_written(self, batch: pa.Table) -> None:
        """Trades change nothing here unless a subclass says otherwise."""
        self._told()

    def signals_written(self, signals: pa.Table, states: Sequence[SignalStateRow]) -> None:
        """Bars change nothing here unless a subclass says otherwise."""
        self._told()

    def realized_written(self, rows: pa.Table) -> None:
        """Realized spreads change nothing here unless a subclass says otherwise."""
        self._told()

    def signals_reset(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """Forget the rows of ``symbols`` (the transform writes their bars again)."""
        with self._lock:
            self._writes += 1
            if self._held is not None and bar_seconds == self._bar_seconds:
                for symbol in symbols:
                    self._held.pop(symbol, None)

    def write_failed(self, error: BaseException) -> None:
        """Forget everything: the next call loads again."""
        with self._lock:
            self._writes += 1
            self._held = None
