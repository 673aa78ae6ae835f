"""Every array the transform's reads and joins hand the compute is read-only (:mod:`udx._read_only`), on each path:
one scan for many symbols or one read per symbol, reads handed back in chunks of three rows, prints filtered out,
a crypto pair, a symbol never stored, quotes as DuckDB's arrays or cut from a table, a head joined in front of a
main read, quotes empty or joined; the realized spreads' bar ends (stored, new or both) and shifted times. Direct
and small (a tiny DuckDB file), beside ``test_one_writability.py``'s run of the whole transform."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sql.settings import Settings
from tests.udx.test_chunk_read_rules import _Chunked, tiny_file  # reads in chunks of three rows; a tiny file
from udx import realized, realized_step
from udx._chunk_read import Head, read_chunk, read_quotes, read_with_heads, valid_prints
from udx._read_only import read_only
from udx.liquidity_step import Quotes
from udx.realized_step import RealizedPlan

pytestmark = pytest.mark.duckdb

T0 = 1_709_820_000 * 10**9
END = T0 + 1_000
MARKETS = {"A": "stocks", "B": "stocks", "X:BTCUSD": "crypto"}


def _trades() -> list[dict[str, Any]]:
    rows = []
    for t in range(T0, T0 + 900, 7):
        for k, symbol in enumerate(MARKETS):
            price = 0.0 if symbol == "A" and t % 5 == 0 else 10.0 + k  # A has prints no statistic may use
            rows.append({"market": MARKETS[symbol], "symbol": symbol, "ts_ns": t + k, "price": price, "size": 5.0,
                         "exchange": 1, "trade_id": f"{symbol}{t}", "conditions": None, "tape": None,
                         "sequence": None, "trf_id": None, "trf_ts_ns": None, "received_ns": t, "source": "sim",
                         "correction": 0})
    return rows  # interleaved across symbols


def _quotes() -> list[dict[str, Any]]:
    return [{"market": "stocks", "symbol": symbol, "ts_ns": t, "bid_price": 9.99, "bid_size": 1.0,
             "ask_price": 10.01, "ask_size": 2.0, "bid_exchange": 1, "ask_exchange": 2, "conditions": None,
             "sequence": t - T0, "tape": None, "received_ns": t, "source": "sim"}
            for t in range(T0, T0 + 950, 5) for symbol in ("A", "B")]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    db = tiny_file(tmp_path_factory.mktemp("read_only") / "tiny.duckdb", _trades(), _quotes())
    yield db
    db.close()


def _writable(arrays: object) -> list[int]:
    """The positions of the writable arrays among ``arrays`` (a tuple of arrays or a :class:`Quotes`)."""
    if isinstance(arrays, Quotes):
        arrays = (arrays.ts, arrays.bid, arrays.ask, arrays.bid_size, arrays.ask_size)
    return [k for k, a in enumerate(arrays) if a.flags.writeable]  # type: ignore[attr-defined]


@pytest.mark.parametrize("chunked", [False, True])
def test_trades_read_filtered_and_joined_are_read_only(storage, chunked):
    db = _Chunked(storage) if chunked else storage
    wanted = [(s, T0) for s in (*MARKETS, "NEVER")]
    many = read_chunk(db, wanted, END, MARKETS)
    one = read_chunk(db, [("A", T0 + 3)], END, MARKETS)  # one read of one symbol
    assert {s: _writable(a) for s, a in many.items()} == dict.fromkeys((*MARKETS, "NEVER"), [])
    assert _writable(one["A"]) == []
    kept = valid_prints(*many["A"])
    assert 0 < kept[0].size < many["A"][0].size  # prints were dropped: the copies
    assert _writable(kept) == []
    heads = {"A": Head(T0, T0 + 400, T0, T0 + 500, T0)}
    trades, quotes = read_with_heads(db, {"A": T0 + 600, "B": T0}, {"A": T0 + 600, "B": T0}, heads, END, MARKETS,
                                     True)
    assert trades["A"][0][0] < T0 + 400 < T0 + 600 <= trades["A"][0][-1]  # head and main joined
    assert {s: _writable(a) for s, a in trades.items()} == {"A": [], "B": []}
    assert {s: _writable(q) for s, q in quotes.items()} == {"A": [], "B": []}


@pytest.mark.parametrize("chunked", [False, True])
def test_quotes_read_empty_and_joined_are_read_only(storage, chunked):
    db = _Chunked(storage) if chunked else storage
    got = read_quotes(db, [("A", T0 + 1), ("B", T0), ("X:BTCUSD", T0)], END)
    assert sorted(got) == ["A", "B"] and got["A"].ts.size > 0
    assert {s: _writable(q) for s, q in got.items()} == {"A": [], "B": []}
    assert _writable(Quotes.empty()) == []
    assert _writable(got["A"].before(T0 + 100).followed_by(got["B"])) == []


def test_shifted_times_take_the_flag_of_the_trades_times(monkeypatch):
    seen: list[bool] = []
    real = realized.prevailing_quotes

    def spy(trade_ts: np.ndarray, *args: object) -> object:
        seen.append(trade_ts.flags.writeable)
        return real(trade_ts, *args)

    monkeypatch.setattr(realized, "prevailing_quotes", spy)
    q = np.array([5, 15, 25], np.int64), np.array([10.0, 10.0, 9.98]), np.array([10.02, 10.02, 10.0])
    for writable in (True, False):
        t, p, side = np.array([10, 20], np.int64), np.array([10.02, 9.99]), np.array([1, -1], np.int8)
        if not writable:
            read_only(t, p, side, *q)
        seen.clear()
        realized.realized_trades(t, p, side, *q, 10, 100)
        assert seen == [writable, writable]  # now, and a horizon later


@pytest.mark.parametrize("stored, new", [([60, 120], []), (None, [60, 120]), ([60], [120, 180])])
def test_realized_bar_ends_are_read_only_stored_new_or_both(monkeypatch, stored, new):
    seen: list[np.ndarray] = []
    monkeypatch.setattr(realized_step, "_symbol_rows", lambda symbol, ends, *args: seen.append(ends))
    due = {} if stored is None else {"A": np.array(stored, np.int64)}
    plan = RealizedPlan(due, {}, 150, Settings(_env_file=None), 0)  # type: ignore[call-arg]
    plan.rows("A", "stocks", np.array(new, np.int64), (), Quotes.empty())
    assert [e.tolist() for e in seen] == [[e for e in (stored or []) + new if e <= 150]]
    assert not seen[0].flags.writeable
