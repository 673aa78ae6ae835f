"""What the embedded transform loop knows of the trades without a query: the symbols and the newest time.

The transform needs, each pass, every symbol with trades (``trade_symbols``: a scan of every trade, ~1 s on
50M trades) and is worth running only once the watermark (newest trade - ``TRANSFORM_LATENESS_SECONDS``) has
reached the end of the next bar (:attr:`udx.transform.TransformSummary.next_bar_end_ns`). A
:class:`TradeWatch` is a :class:`sql.backend.WriteListener` of the storage: it reads both once when attached
(while the storage holds every lock of its writes) and keeps them current from every trade batch written; :meth:`wake_when`
calls back, on the writing thread, as soon as a written trade reaches a given time, so the loop starts a
pass when a bar becomes final instead of polling. A failed listener call forgets the symbols (the transform
asks the storage again) and wakes the waiter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sql.backend import SignalStateRow, Storage

__all__ = ["TradeWatch"]


class TradeWatch:
    """The symbols with trades and the newest trade time of ``storage``, current with its writes.

    Parameters
    ----------
    storage
        A storage that tells of its writes (``add_write_listener``); :meth:`attach` adds the watch to it.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._lock = threading.Lock()
        self._symbols: dict[str, str] | None = None  # symbol -> market; None: ask the storage
        self._newest_ns: int | None = None
        self._wake_at: int | None = None
        self._wake: Callable[[], None] | None = None

    @classmethod
    def attach(cls, storage: Storage) -> TradeWatch | None:
        """A watch told of the writes of ``storage``, or ``None`` when it cannot tell (Vertica)."""
        add = getattr(storage, "add_write_listener", None)
        if add is None:
            return None
        watch = cls(storage)
        add(watch)
        return watch

    def detach(self) -> None:
        """Stop being told of writes and forget any waiter."""
        self.wake_when(None, None)
        remove = getattr(self._storage, "remove_write_listener", None)
        if remove is not None:
            remove(self)

    def symbols(self) -> list[tuple[str, str]] | None:
        """``(market, symbol)`` of every symbol with trades, or ``None`` when not known (ask the storage)."""
        with self._lock:
            return None if self._symbols is None else [(m, s) for s, m in self._symbols.items()]

    @property
    def newest_ns(self) -> int | None:
        """The newest trade time written, ``None`` before any trade."""
        return self._newest_ns

    def wake_when(self, newest_ns: int | None, wake: Callable[[], None] | None) -> None:
        """Call ``wake()`` once, as soon as a trade at or after ``newest_ns`` is stored (now, if one is).

        ``wake`` runs on the thread that wrote the trade, under the storage's lock of trade appends: it must be
        quick.
        A later call replaces the earlier waiter; ``None`` removes it.
        """
        with self._lock:
            if wake is not None and newest_ns is not None and self._newest_ns is not None \
                    and self._newest_ns >= newest_ns:  # fmt: skip
                self._wake_at, self._wake = None, None
            else:
                self._wake_at, self._wake, wake = newest_ns, wake, None
        if wake is not None:
            wake()

    # --- sql.backend.WriteListener -------------------------------------------------------------------------
    def attached(self) -> None:
        """Read the symbols and the newest trade time (no write can come in meanwhile)."""
        symbols = self._storage.trade_symbols()
        newest = self._storage.newest_trade_ns()
        with self._lock:
            self._symbols = {symbol: market for market, symbol in symbols}
            self._newest_ns = newest

    def trades_written(self, batch: pa.Table) -> None:
        """Keep new symbols and a newer newest time; wake the waiter once its time is reached."""
        newest = pc.max(batch.column("ts_ns")).as_py()
        names = pc.unique(batch.column("symbol")).to_pylist()
        wake = None
        with self._lock:
            if self._symbols is not None:
                for symbol in names:
                    if symbol not in self._symbols:
                        row = pc.index(batch.column("symbol"), symbol).as_py()
                        self._symbols[symbol] = batch.column("market")[row].as_py()
            if newest is not None and (self._newest_ns is None or newest > self._newest_ns):
                self._newest_ns = newest
            if self._wake is not None and self._wake_at is not None and self._newest_ns is not None \
                    and self._newest_ns >= self._wake_at:  # fmt: skip
                wake, self._wake, self._wake_at = self._wake, None, None
        if wake is not None:
            wake()

    def signals_written(self, signals: pa.Table, states: Sequence[SignalStateRow]) -> None:
        """Signals change nothing here."""

    def signals_reset(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """A reset changes no trade."""

    def write_failed(self, error: BaseException) -> None:
        """Forget the symbols (the transform asks the storage) and wake the waiter: a pass finds out."""
        with self._lock:
            self._symbols = None
            wake, self._wake, self._wake_at = self._wake, None, None
        if wake is not None:
            wake()
