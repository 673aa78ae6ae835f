"""The newest bar and the last trade of every symbol, kept in memory: ``get_real_time_data`` without a query.

``get_real_time_data`` is the call a live client repeats, and its SQL (``real_time_data``) costs two scans
of wide row groups (~8 ms on the 50M-trade bench file), more than the HTTP exchange around it. A DuckDB file
has one writing process and every write of it goes through its :class:`sql.duckdb_backend.DuckDBStorage`,
so this process can keep the answer current instead of asking for it:

- when attached to the storage (under its write lock, so no write overlaps) it loads the rows with the SQL
  itself (``real_time_data`` for every symbol, and ``last_trades`` for the keys of the last trades);
- the storage then tells :class:`LatestRows` of every commit, in order, under its lock of the write (trades and
  the other writes have a lock each, so calls may overlap: the memory's own lock guards it;
  :class:`sql.backend.WriteListener`): committed signal states name each symbol's newest bar, appended trades
  may be a symbol's new last trade (the newest by ``(ts_ns, exchange, trade_id)``, the SQL's order; of
  duplicates in a batch the first, as the insert keeps it), a reset forgets its symbols; a bar's
  ``bar_realized_spread`` values (written once its horizon has passed, often after the bar) are read back with
  ``bar_realized_values`` when a newest bar is committed and when rows are written for a bar held;
- a call answers from memory what the SQL would answer: the same rows, symbols in order, the same last
  trades, also the SQL's rule that a last trade counts only at or after the oldest newest bar of the
  wanted symbols minus one bar, and ages against the same ``now_ns``.

A file opened read-only has no writer at all, so what was loaded stays true. A later load (after a failure)
overlapping a write is discarded and that call runs the SQL; a listener call that fails drops everything (the next call loads
again). The answer's path (``memory`` or ``sql``) is reported per call; ``tests/server/test_latest.py``
compares both paths row for row over random calls and writes. Storages without write listeners (Vertica:
other processes write) always run the SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from server.tools.kept import KeptRows
from sql.backend import SignalStateRow, Storage

__all__ = ["LatestRows"]

log = logging.getLogger("microstructure.server")

_NS = 1_000_000_000
#: The columns of the SQL's last trade, after the bar's columns.
_TRADE_COLUMNS = ("last_price", "last_size", "last_trade_ns", "last_trade", "trade_age_seconds", "signal_age_seconds")
#: The bar's ``bar_realized_spread`` columns, written after the bar: read back from the storage.
_REALIZED_COLUMNS = ("horizon_seconds", "realized_spread", "price_impact")


@dataclass(frozen=True, slots=True)
class _Trade:
    key: tuple[int, int, str]  # (ts_ns, exchange, trade_id): the SQL's order
    price: float
    size: float


class LatestRows(KeptRows):
    """Per symbol, the newest bar (every ``trading_signals`` column) and the last trade, current with the writes.

    Parameters
    ----------
    storage
        Where the rows are loaded from (and every call falls back to).
    bar_seconds
        The grid whose bars are kept.
    """

    def __init__(self, storage: Storage, bar_seconds: int) -> None:
        super().__init__(storage, bar_seconds)
        self._held: dict[str, dict[str, Any]] | None = None  # symbol -> newest bar; None: not loaded
        self._trades: dict[str, _Trade] = {}
        self._bar_columns: list[str] = []

    # --- the answer --------------------------------------------------------------------------------------
    def records(self, symbols: Sequence[str] | None, limit: int, now_ns: int) -> tuple[list[dict[str, Any]], bool] | None:
        """The SQL's records of ``real_time_data`` and whether more rows exist, or ``None`` (run the SQL).

        Records hold the query's columns; ``bar_end`` and ``last_trade`` are left for the caller to format.
        """
        if self._held is None and not self._load():
            return None
        with self._lock:
            bars = self._held
            if bars is None:
                return None
            wanted = sorted(bars) if symbols is None else sorted(s for s in set(symbols) if s in bars)
            chosen = [bars[s] for s in wanted]
            trades = [self._trades.get(s) for s in wanted]
        cutoff = min((bar["bar_end_ns"] for bar in chosen), default=0) - self._bar_seconds * _NS
        out = []
        for bar, trade in zip(chosen[: limit], trades, strict=False):
            record = dict(bar)
            record["bar_end"] = None
            if trade is None or trade.key[0] < cutoff:
                record.update(dict.fromkeys(_TRADE_COLUMNS))
            else:
                ts = trade.key[0]
                record.update(last_price=trade.price, last_size=trade.size, last_trade_ns=ts, last_trade=None,
                              trade_age_seconds=(now_ns - ts) / 1e9)
            record["signal_age_seconds"] = (now_ns - bar["bar_end_ns"]) / 1e9
            out.append(record)
        return out, len(chosen) > limit

    def newest_bar_end(self, symbols: Sequence[str] | None) -> tuple[int | None, int] | None:
        """The newest bar end of ``symbols`` (all: ``None``) and how many of them have a bar, as the named query
        ``newest_bar_end`` answers; ``None`` when nothing is loaded."""
        with self._lock:
            bars = self._held
            if bars is None:
                return None
            ends = [bar["bar_end_ns"] for symbol, bar in bars.items() if symbols is None or symbol in symbols]
        return (max(ends) if ends else None), len(ends)

    def _load(self) -> bool:
        """Read every symbol's row with the SQL; ``False`` when a write came in meanwhile (not loaded)."""
        with self._lock:
            writes = self._writes
        params = {"bar_seconds": self._bar_seconds}
        result = self._storage.query("real_time_data", {**params, "symbols": None, "now_ns": 0}, 10**9)
        last = self._storage.query("last_trades", params, 10**9)
        columns = [c for c in result.columns if c not in _TRADE_COLUMNS and c != "bar_end"]
        bars = {row[0]: dict(zip(columns, row, strict=False)) for row in result.rows}
        trades = {}
        for row in last.rows:
            record = dict(zip(last.columns, row, strict=True))
            trades[record["symbol"]] = _Trade((record["ts_ns"], record["exchange"], record["trade_id"]),
                                              record["price"], record["size"])
        with self._lock:
            if writes != self._writes:
                return False
            self._held, self._trades, self._bar_columns = bars, trades, columns
        return True

    # --- sql.backend.WriteListener -------------------------------------------------------------------------
    def trades_written(self, batch: pa.Table) -> None:
        """Keep each symbol's newest trade of ``batch`` when it is newer than the one held."""
        if not self._told() or batch.num_rows == 0:
            return
        newest = batch.group_by("symbol").aggregate([("ts_ns", "max")])
        position = pc.index_in(batch["symbol"], newest["symbol"].combine_chunks())
        is_top = pc.equal(batch["ts_ns"], pc.take(newest["ts_ns_max"], position))
        rows = batch.filter(is_top).select(["symbol", "ts_ns", "exchange", "trade_id", "price", "size"]).to_pylist()
        best: dict[str, _Trade] = {}
        for r in rows:  # in batch order: of equal keys the first stands, as the insert keeps it
            trade = _Trade((r["ts_ns"], r["exchange"], r["trade_id"]), r["price"], r["size"])
            held = best.get(r["symbol"])
            if held is None or trade.key > held.key:
                best[r["symbol"]] = trade
        with self._lock:
            for symbol, trade in best.items():
                held = self._trades.get(symbol)
                if held is None or trade.key > held.key:
                    self._trades[symbol] = trade

    def signals_written(self, signals: pa.Table, states: Sequence[SignalStateRow]) -> None:
        """Keep each state's newest bar (among ``signals``, or the one held when it is still the newest)."""
        mine = [s for s in states if s.bar_seconds == self._bar_seconds]
        if not self._told() or not mine:
            return
        found: dict[tuple[str, int], dict[str, Any]] = {}
        if signals.num_rows:
            ends = pa.array(sorted({s.last_bar_end_ns for s in mine}), pa.int64())
            candidates = signals.filter(pc.and_(pc.is_in(signals["bar_end_ns"], ends),
                                                pc.equal(signals["bar_seconds"], self._bar_seconds)))
            for row in candidates.to_pylist():
                found[(row["symbol"], row["bar_end_ns"])] = row
        with self._lock:
            columns = self._bar_columns
        fresh = {state.symbol: {c: None if c in _REALIZED_COLUMNS else row[c] for c in columns} for state in mine
                 if (row := found.get((state.symbol, state.last_bar_end_ns))) is not None}
        self._with_realized(fresh)
        with self._lock:
            bars = self._held
            if bars is None:
                return
            for state in mine:
                held = bars.get(state.symbol)
                if state.symbol in fresh:
                    bars[state.symbol] = fresh[state.symbol]
                elif held is None or held["bar_end_ns"] != state.last_bar_end_ns:
                    log.info("the newest bar of %s is not among the rows committed: reloading", state.symbol)
                    self._held = None
                    return

    def realized_written(self, rows: pa.Table) -> None:
        """Read the ``bar_realized_spread`` values of the held bars among ``rows`` back from the storage."""
        if not self._told():
            return
        written = set(zip(rows["symbol"].to_pylist(), rows["bar_seconds"].to_pylist(), rows["bar_end_ns"].to_pylist(),
                          strict=True))  # fmt: skip
        with self._lock:
            if self._held is None:
                return
            touched = {symbol: dict(bar) for symbol, bar in self._held.items()
                       if (symbol, self._bar_seconds, bar["bar_end_ns"]) in written}
        if not touched:
            return
        self._with_realized(touched)
        with self._lock:
            bars = self._held
            if bars is None:
                return
            for symbol, bar in touched.items():  # replaced whole: a reader may hold the old record
                if symbol in bars and bars[symbol]["bar_end_ns"] == bar["bar_end_ns"]:
                    bars[symbol] = bar

    def _with_realized(self, bars: dict[str, dict[str, Any]]) -> None:
        """Set each bar's :data:`_REALIZED_COLUMNS` (in place) to its stored ``bar_realized_spread`` row (NULL: none)."""
        if not bars:
            return
        ends = [bar["bar_end_ns"] for bar in bars.values()]
        result = self._storage.query("bar_realized_values", {
            "symbols": sorted(bars), "bar_seconds": self._bar_seconds, "start_ns": min(ends), "end_ns": max(ends)},
            10**9)  # fmt: skip
        stored = {(row[0], row[1]): row[2:] for row in result.rows}
        for symbol, bar in bars.items():
            values = stored.get((symbol, bar["bar_end_ns"]), (None,) * len(_REALIZED_COLUMNS))
            bar.update(zip(_REALIZED_COLUMNS, values, strict=True))
