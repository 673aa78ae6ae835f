"""``udx.transform``'s realized-spread hand-offs and the daily metrics' prepared read, called directly on the test's
thread (scripts/mutation group ``transform-plumbing``, run first there): mutmut maps a test only to the functions it
calls on its own thread, and ``run_transform`` calls these on its reader and compute pools, so the transform tests
do not speak for them under mutmut.

Checked against values written out here: which prints and quotes a symbol's realized rows get (cut exactly where
its rows resume: a print at the newest row's bar end and a quote at the stale limit kept, the ones before dropped),
that the market, the bars and the liquidity step's signing are passed on, that a deferred symbol outside the read's
realized set gets no rows, that a symbol without prints still gets its rows from no prints, and which storages the
daily metrics' trade half is read from beside the last commit. ``RealizedPlan.rows`` itself (the numbers) is
``tests/udx/test_realized_step.py``'s; a recording stand-in takes its place here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from udx._chunk_read import valid_prints
from udx.liquidity_step import Quotes
from udx.transform import _ChunkReads, _prepare_daily_metrics, _realized_rows, _realized_symbol

NS = 10**9


class _Plan:
    """A ``RealizedPlan`` stand-in: rows resume at ``resume`` (a symbol missing: 0), quotes ``stale`` ns before;
    :meth:`rows` records what it is given and returns a marker."""

    def __init__(self, resume: dict[str, int], stale: int) -> None:
        self.resume, self.stale = resume, stale
        self.calls: list[tuple[Any, ...]] = []

    def trades_from(self, symbol: str) -> int:
        return self.resume.get(symbol, 0)

    def quotes_from(self, symbol: str) -> int:
        return max(self.trades_from(symbol) - self.stale, 0)

    def rows(self, symbol: str, market: str, new_bar_ends: np.ndarray, trades: tuple[np.ndarray, ...],
             quotes: Quotes, signing: object = None) -> str:
        self.calls.append((symbol, market, new_bar_ends, trades, quotes, signing))
        return f"rows of {symbol}"


def _prints(ts: list[int]) -> tuple[np.ndarray, ...]:
    t = np.array(ts, np.int64)
    return t, 10.0 + t / NS, 100.0 + t / NS, t % 2 == 0, np.ones(t.size, np.bool_)


def _quotes(ts: list[int]) -> Quotes:
    t = np.array(ts, np.int64)
    return Quotes(t, 9.0 + t / NS, 11.0 + t / NS, 1.0 + t / NS, 2.0 + t / NS)


def _lists(arrays: tuple[np.ndarray, ...] | Quotes) -> list[list[float]]:
    if isinstance(arrays, Quotes):
        arrays = (arrays.ts, arrays.bid, arrays.ask, arrays.bid_size, arrays.ask_size)
    return [np.asarray(a).tolist() for a in arrays]


def test_realized_rows_get_the_prints_from_the_newest_row_and_the_quotes_from_the_stale_limit() -> None:
    plan = _Plan({"AA": 50 * NS}, stale=20 * NS)
    prints = _prints([10 * NS, 49 * NS, 50 * NS, 51 * NS, 70 * NS])
    quotes = _quotes([5 * NS, 29 * NS, 30 * NS, 31 * NS, 60 * NS])
    bars = np.array([60 * NS, 120 * NS], np.int64)
    signing = object()
    assert _realized_rows(plan, "AA", "crypto", bars, prints, quotes, signing) == "rows of AA"  # type: ignore[arg-type]
    ((symbol, market, new, trades, got, passed),) = plan.calls
    assert (symbol, market, passed) == ("AA", "crypto", signing)
    assert new.tolist() == [60 * NS, 120 * NS]
    assert _lists(trades) == _lists(_prints([50 * NS, 51 * NS, 70 * NS]))  # the print at the row's end kept
    assert _lists(got) == _lists(_quotes([30 * NS, 31 * NS, 60 * NS]))  # the quote at the stale limit kept


def test_realized_rows_of_a_symbol_without_a_row_get_every_print_and_quote_and_no_signing_by_default() -> None:
    plan = _Plan({}, stale=20 * NS)
    prints, quotes = _prints([0, 3 * NS, 4 * NS]), _quotes([0, 1 * NS])
    _realized_rows(plan, "BB", "stocks", np.empty(0, np.int64), prints, quotes)  # type: ignore[arg-type]
    ((_, market, _, trades, got, signing),) = plan.calls
    assert market == "stocks" and signing is None
    assert _lists(trades) == _lists(prints) and _lists(got) == _lists(quotes)


def _chunk(trades: dict, quotes: dict, realized: set[str]) -> _ChunkReads:
    return _ChunkReads(trades, quotes, frozenset(), frozenset(realized))


def test_a_deferred_symbol_gets_its_rows_from_its_valid_prints_and_quotes_since_its_newest_row() -> None:
    plan = _Plan({"AA": 50 * NS}, stale=20 * NS)
    ts = np.array([40 * NS, 50 * NS, 55 * NS, 60 * NS, 65 * NS], np.int64)
    px = np.array([10.0, 11.0, np.nan, 12.0, 13.0])  # the NaN print is not a valid one
    sz = np.array([1.0, 2.0, 3.0, -1.0, 5.0])  # nor the one of a negative size
    price_ok, volume_ok = np.array([True, True, True, True, False]), np.array([True, False, True, True, True])
    quotes = _quotes([20 * NS, 40 * NS, 70 * NS])
    chunk = _chunk({"AA": (ts, px, sz, price_ok, volume_ok)}, {"AA": quotes}, {"AA"})
    bars = {"AA": np.array([60 * NS], np.int64)}
    assert _realized_symbol("AA", chunk=chunk, realized=plan, deferred=bars,  # type: ignore[arg-type]
                            markets={"AA": "crypto"}) == "rows of AA"
    ((symbol, market, new, trades, got, signing),) = plan.calls
    assert (symbol, market, signing) == ("AA", "crypto", None)
    assert new.tolist() == [60 * NS]
    assert _lists(trades) == [[50 * NS, 65 * NS], [11.0, 13.0], [2.0, 5.0], [True, False], [False, True]]
    assert _lists(got) == _lists(_quotes([40 * NS, 70 * NS]))


def test_a_deferred_symbol_without_prints_or_quotes_gets_its_rows_from_none() -> None:
    plan = _Plan({"AA": 50 * NS}, stale=20 * NS)
    chunk = _chunk({}, {}, {"AA"})
    _realized_symbol("AA", chunk=chunk, realized=plan, deferred={"AA": np.empty(0, np.int64)},  # type: ignore[arg-type]
                     markets={"AA": "stocks"})
    ((_, _, _, trades, got, _),) = plan.calls
    assert [a.size for a in trades] == [0] * 5 and got.ts.size == 0
    assert trades[0].dtype == np.int64 and trades[3].dtype == np.bool_ and trades[4].dtype == np.bool_
    assert _lists(valid_prints(*trades)) == _lists(trades)


def test_a_deferred_symbol_the_read_left_out_gets_no_rows() -> None:
    plan = _Plan({"AA": 50 * NS}, stale=20 * NS)
    chunk = _chunk({"AA": _prints([60 * NS])}, {"AA": _quotes([55 * NS])}, {"BB"})
    assert _realized_symbol("AA", chunk=chunk, realized=plan, deferred={"AA": np.array([60 * NS])},  # type: ignore[arg-type]
                            markets={"AA": "stocks"}) is None
    assert plan.calls == []


class _Metrics:
    """A storage's daily-metrics methods, recording the prepared read."""

    def __init__(self, prepare: bool = True, write: bool = True) -> None:
        self.prepared: list[tuple[int, int, int | None]] = []
        if prepare:
            self.prepare_daily_metrics = self._prepare
        if write:
            self.write_daily_metrics = lambda *args, **kwargs: 0

    def _prepare(self, bar_seconds: int, watermark_ns: int, oldest_bar_ns: int | None) -> str:
        self.prepared.append((bar_seconds, watermark_ns, oldest_bar_ns))
        return "prepared"


def test_the_daily_metrics_trade_half_is_read_beside_the_last_commit_where_the_storage_writes_them() -> None:
    storage = _Metrics()
    assert _prepare_daily_metrics(storage, 60, 500 * NS, 120 * NS) == "prepared"  # type: ignore[arg-type]
    never = np.iinfo(np.int64).max  # no new bar this run: every final day
    assert _prepare_daily_metrics(storage, 60, 500 * NS, never) == "prepared"  # type: ignore[arg-type]
    assert _prepare_daily_metrics(storage, 60, 500 * NS, never - 1) == "prepared"  # type: ignore[arg-type]
    assert storage.prepared == [(60, 500 * NS, 120 * NS), (60, 500 * NS, None), (60, 500 * NS, never - 1)]


def test_no_daily_metrics_read_ahead_without_both_methods() -> None:
    for storage in (_Metrics(prepare=False), _Metrics(write=False), _Metrics(prepare=False, write=False)):
        assert _prepare_daily_metrics(storage, 60, 500 * NS, 120 * NS) is None  # type: ignore[arg-type]
        assert storage.prepared == []
