"""udx._chunk_read.read_with_heads: the realized-spread prints of a symbol read apart from its main reads, with its
quotes from a lookback before them and from a lookback before the horizon after them. Compared with a plain
search over every quote from the stale limit (what a read without a head holds): for every head print ``t``,
the newest quote strictly before ``t`` and before ``t + H`` is the same quote (or, in both, none usable: none,
or older than the stale limit), on dense, sparse and gapped quotes; the main reads are the direct reads."""

from __future__ import annotations

import bisect

import numpy as np
import pyarrow as pa
import pytest

from udx._chunk_read import Head, read_with_heads
from udx.liquidity_step import Quotes

NS = 10**9
H = 300 * NS
STALE = 300 * NS
LOOKBACK = NS


class _Reads:
    """A storage answering ``read_trades`` and ``read_quotes_many`` from in-memory tables, by plain filtering,
    and counting the quote rows it hands back."""

    def __init__(self, trades: dict[str, np.ndarray], quotes: dict[str, np.ndarray]) -> None:
        self.trades, self.quotes, self.quote_rows = trades, quotes, 0

    def read_trades(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        ts = self.trades.get(symbol, np.empty(0, np.int64))
        ts = ts[(ts >= start_ns) & (ts < end_ns)]
        return pa.table({"ts_ns": ts, "price": 10.0 + ts % 7 / 100, "size": np.full(ts.size, 100.0)})

    def read_quotes_many(self, symbols: list[str], start_ns: int, end_ns: int) -> pa.Table:
        cols: dict[str, list] = {"symbol": [], "ts_ns": [], "bid_price": [], "bid_size": [], "ask_price": [],
                                 "ask_size": []}
        for s in sorted(set(symbols), key=str.encode):
            ts = self.quotes.get(s, np.empty(0, np.int64))
            ts = ts[(ts >= start_ns) & (ts < end_ns)]
            cols["symbol"] += [s] * ts.size
            cols["ts_ns"] += ts.tolist()
            cols["bid_price"] += (ts % 1000 / 10).tolist()  # the quote's own stamp in its prices: which quote it is
            cols["ask_price"] += (ts % 1000 / 10 + 0.01).tolist()
            cols["bid_size"] += [1.0] * ts.size
            cols["ask_size"] += [2.0] * ts.size
        self.quote_rows += len(cols["ts_ns"])
        return pa.table({k: pa.array(v, pa.int64() if k == "ts_ns" else pa.string() if k == "symbol" else
                                     pa.float64()) for k, v in cols.items()})


def _usable_before(quote_ts: list[int], x: int) -> int | None:
    """The stamp of the newest quote strictly before ``x`` (``quote_ts`` sorted) when it is at most STALE old;
    ``None`` otherwise."""
    k = bisect.bisect_left(quote_ts, x)
    return quote_ts[k - 1] if k and x - quote_ts[k - 1] <= STALE else None


def _case(rng: np.random.Generator, kind: str, r: int, e: int, w: int) -> np.ndarray:
    if kind == "dense":
        return np.unique(rng.integers(r - STALE, w, 20_000))
    if kind == "sparse":  # a quote every ~20 s: rarely one within the lookback
        return np.unique(rng.integers(r - STALE, w, (w - r + STALE) // (20 * NS)))
    if kind == "gap_before":  # none within the lookback before the first prints, one within the stale limit
        q = np.unique(rng.integers(r - STALE, w, 20_000))
        return q[(q < r - 10 * NS) | (q >= r + 2 * NS)]
    if kind == "gap_later":  # none within the lookback before the first print plus H
        q = np.unique(rng.integers(r - STALE, w, 20_000))
        return q[(q < r + H - 30 * NS) | (q >= e + H)]
    if kind == "at_first":  # the newest quote before the first print is past the lookback; one at that print
        q = np.unique(rng.integers(r - STALE, w, 20_000))
        return np.unique(np.concatenate([q[(q < r - 10 * NS) | (q > r)], [r]]))
    if kind == "at_later":  # the same at the first print plus H: the main read's first quote is at it
        q = np.unique(rng.integers(r - STALE, w, 20_000))
        return np.unique(np.concatenate([q[(q < r + H - 30 * NS) | (q > r + H)], [r + H]]))
    if kind == "one_main":  # the main read (from a lookback before the first print plus H) holds one quote
        q = np.unique(rng.integers(r - STALE, e, 20_000))
        return np.concatenate([q, [r + H - NS // 2]])
    if kind == "one_quote":  # a single quote, within the lookback before the first print
        return np.array([r - NS // 2], np.int64)
    return np.empty(0, np.int64)  # "none"


@pytest.mark.parametrize("kind", ["dense", "sparse", "gap_before", "gap_later", "none", "at_first", "at_later",
                                  "one_main", "one_quote"])
@pytest.mark.parametrize("seed", [0, 1])
def test_each_head_print_finds_the_quote_a_read_from_the_stale_limit_finds(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bar = 10 * NS
    r = 1_000_000 * NS  # the newest realized row's end
    e = r + 2 * bar  # the last due bar's end
    w = e + H + 5 * bar  # the watermark
    start = w - bar  # the signals' start
    first = [r, r + NS]  # prints at the head's start, before any quote of it in the gapped cases
    trades = {s: np.unique(np.concatenate([first, rng.integers(r, w, 3000)])) for s in ("A", "B")}
    quotes = {"A": _case(rng, kind, r, e, w), "B": np.unique(rng.integers(r - STALE, w, 20_000))}
    storage = _Reads(trades, quotes)
    heads = {"A": Head(r, e, r - LOOKBACK, r + H, r - STALE), "B": Head(r, e, r - LOOKBACK, r + H, r - STALE)}
    quote_starts = {"A": min(start, r + H - LOOKBACK), "B": min(start, r + H - LOOKBACK)}
    got_trades, got_quotes = read_with_heads(storage, {"A": start}, quote_starts, heads, w, {}, True)
    for symbol in ("A", "B"):
        ts = trades[symbol]
        head_prints = ts[(ts >= r) & (ts < e)]
        # trades: the head's prints, then the main read's (A computes signals; B only realized spreads)
        want = np.concatenate([head_prints, ts[ts >= start]]) if symbol == "A" else head_prints
        assert got_trades[symbol][0].tolist() == want.tolist()
        q = got_quotes.get(symbol)
        q_ts = [] if q is None else q.ts.tolist()
        assert q_ts == sorted(set(q_ts))  # in time order, no quote twice
        if q is not None:
            assert q.bid.tolist() == [t % 1000 / 10 for t in q_ts]  # each quote's values with its stamp
        every = quotes[symbol][quotes[symbol] >= r - STALE].tolist()
        for t in [*first, *head_prints[:: max(head_prints.size // 200, 1)].tolist()]:
            for x in (t, t + H):
                assert _usable_before(q_ts, x) == _usable_before(every, x), (symbol, kind, x - r)
        if symbol == "A":  # the signals' quotes from their start are the direct read's
            assert [x for x in q_ts if x >= start] == [x for x in every if start <= x < w]
    if kind == "dense":  # both symbols read apart: far fewer quotes than from the stale limit
        assert storage.quote_rows < 0.2 * sum(int(((v >= r - STALE) & (v < w)).sum()) for v in quotes.values())


def test_each_heads_prints_end_at_its_own_until_or_where_its_main_read_starts() -> None:
    r = 1_000_000 * NS
    ts = r + NS * np.arange(0, 200, 3)  # a print every 3 s
    storage = _Reads({s: ts for s in ("A", "B", "C")}, {})
    heads = {"A": Head(r, r + 20 * NS, r - LOOKBACK, r + H, r - STALE),  # the longest: the head read's end
             "B": Head(r, r + 10 * NS, r - LOOKBACK, r + H, r - STALE),  # read to A's end, cut at its own
             "C": Head(r, r + 20 * NS, r - LOOKBACK, r + H, r - STALE)}  # its signals' read starts inside its head
    got, quotes = read_with_heads(storage, {"C": r + 15 * NS}, dict.fromkeys(heads, r + H - LOOKBACK), heads,
                                  r + 200 * NS, {}, False)
    assert got["A"][0].tolist() == ts[ts < r + 20 * NS].tolist()
    assert got["B"][0].tolist() == ts[ts < r + 10 * NS].tolist()
    assert got["C"][0].tolist() == ts.tolist()  # the head's to r + 15 s, then the main read's: each print once
    for symbol in heads:  # prices with their prints
        assert got[symbol][1].tolist() == (10.0 + got[symbol][0] % 7 / 100).tolist()
    assert quotes == {} and storage.quote_rows == 0  # none asked for


def test_given_main_quotes_are_taken_and_only_the_others_read() -> None:
    r = 1_000_000 * NS
    q = r + NS * np.arange(0, 100, 5)
    storage = _Reads({}, {"A": q, "B": q})
    given = {"A": Quotes(q[4:] + 1, np.full(16, 9.0), np.full(16, 9.5), np.ones(16), np.ones(16))}
    _, quotes = read_with_heads(storage, {}, {"A": r + 20 * NS, "B": r + 20 * NS}, {}, r + 100 * NS, {}, True, given)
    assert set(quotes) == {"A", "B"}
    assert quotes["A"].ts.tolist() == (q[4:] + 1).tolist() and quotes["A"].bid.tolist() == [9.0] * 16
    assert quotes["B"].ts.tolist() == q[4:].tolist() and quotes["B"].bid.tolist() == (q[4:] % 1000 / 10).tolist()
    assert storage.quote_rows == 16  # B's only
    # no quotes wanted: none read, none given back
    _, quotes = read_with_heads(storage, {}, {"A": r, "B": r}, {}, r + 100 * NS, {}, False, given)
    assert quotes == {} and storage.quote_rows == 16
