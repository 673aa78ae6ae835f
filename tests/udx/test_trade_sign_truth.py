"""Lee-Ready against the simulator's truth (quote dynamics on): accuracy where trades print at the quotes, the
timing convention (strictly before beats at-or-before when trades trigger same-millisecond quote updates), and
replay of quotes_v1 + trades_v1 files into DuckDB followed by the join reproduces the simulator's quotes."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import udx
from ingest.replay import COLUMNS as TRADE_COLUMNS
from ingest.replay import replay_paths
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.conditions import print_eligibility
from sql.settings import Settings
from tests.ingest.quote_files import quotes_rows, write_quotes_v1
from udx.nbbo import prevailing_quotes
from udx.trade_sign import lee_ready

END = 1_750_000_000 * 10**9  # 2025-06-15: flat files of that day carry sizes in round lots
STALE_NS = 300 * 10**9
STOCKS = [s.symbol for s in DEFAULT_SYMBOLS if s.market == "stocks"]


@pytest.fixture(scope="module")
def market() -> tuple[SyntheticMarket, pa.Table, pa.Table]:
    m = SyntheticMarket(21, 40.0, quote_dynamics=True, record_truth=True)
    trades, quotes = m.history(END - 3 * 3600 * 10**9, END)
    return m, trades, quotes


def sign_symbol(trades: pa.Table, quotes: pa.Table, symbol: str, shift_ns: int = 0):
    """Join and sign one symbol; ``shift_ns`` = 1 turns the join into "at or before"."""
    t = trades.filter(pc.equal(trades["symbol"], symbol))
    q = quotes.filter(pc.equal(quotes["symbol"], symbol))
    ts = t["ts_ns"].to_numpy()
    p = prevailing_quotes(ts + shift_ns, q["ts_ns"].to_numpy(), q["bid_price"].to_numpy(),
                          q["ask_price"].to_numpy(), STALE_NS)
    sets_price, _ = print_eligibility(t["conditions"], t["correction"], "stocks")  # the transform's flags
    s = lee_ready(t["price"].to_numpy(), p.bid, p.ask, p.flags, sets_price=sets_price)
    return t, p, s


def accuracy(m: SyntheticMarket, trades: pa.Table, quotes: pa.Table, shift_ns: int = 0) -> tuple[float, float, int]:
    """(accuracy where the trade printed at the book's bid or ask, accuracy on all trades, trades counted)."""
    hits = total = hits_all = total_all = 0
    for symbol in STOCKS:
        t, _, s = sign_symbol(trades, quotes, symbol, shift_ns)
        truth = m.trade_truth(symbol)
        assert truth["trade_id"].to_pylist() == t["trade_id"].to_pylist()
        right = s.side == truth["side"].to_numpy()
        at = truth["at_quote"].to_numpy()
        hits, total = hits + int(right[at].sum()), total + int(at.sum())
        hits_all, total_all = hits_all + int(right.sum()), total_all + right.size
    return hits / total, hits_all / total_all, total


def test_lee_ready_is_right_at_least_nine_times_in_ten_where_trades_print_at_the_quotes(market):
    m, trades, quotes = market
    at_quotes, overall, counted = accuracy(m, trades, quotes)
    assert counted > 10_000
    assert at_quotes >= 0.9
    assert overall >= 0.8  # inside-the-spread prints lean on the tick rule


def test_strictly_before_signs_better_than_at_or_before(market):
    m, trades, quotes = market
    strict, _, _ = accuracy(m, trades, quotes)
    at_or_before, _, _ = accuracy(m, trades, quotes, shift_ns=1)
    assert strict > at_or_before + 0.02


def test_locked_and_crossed_quotes_are_published(market):
    m, _, quotes = market
    kinds = pc.value_counts(pa.concat_arrays([m.trade_truth(s)["quote_kind"].combine_chunks() for s in STOCKS]))
    counts = {k["values"]: k["counts"] for k in kinds.to_pylist()}
    assert counts["locked"] > 0 and counts["crossed"] > 0 and counts["normal"] > 100 * counts["locked"]
    spread = quotes["ask_price"].to_numpy() - quotes["bid_price"].to_numpy()
    assert (spread == 0).sum() >= counts["locked"] and (spread < 0).sum() >= counts["crossed"]


def test_spreads_widen_at_the_open():
    bounds = functools.partial(udx.session_bounds, "09:30-16:00 America/New_York")
    m = SyntheticMarket(4, 20.0, DEFAULT_SYMBOLS[:1], session_bounds=bounds, quote_dynamics=True,
                        record_truth=True, jumps_per_day=0)
    open_ns = 1_749_821_400 * 10**9  # Friday 2025-06-13 09:30 New York
    m.history(open_ns - 600 * 10**9, open_ns + 7200 * 10**9)
    truth = m.trade_truth("AAPL")
    minutes = (truth["ts_ns"].to_numpy() - open_ns) / 60e9
    spread = truth["book_ask"].to_numpy() - truth["book_bid"].to_numpy()
    assert minutes.min() >= 0  # nothing before the open
    first, later = minutes < 3, minutes > 60
    assert first.sum() > 50 and spread[first].mean() > 2.0 * spread[later].mean()


def test_spreads_widen_around_jumps():
    m = SyntheticMarket(4, 20.0, DEFAULT_SYMBOLS[:1], quote_dynamics=True, record_truth=True, jumps_per_day=0)
    jump_at = END - 3600 * 10**9
    m.inject_jump("AAPL", jump_at, 15.0)
    m.history(END - 2 * 3600 * 10**9, END)
    truth = m.trade_truth("AAPL")
    ts = truth["ts_ns"].to_numpy()
    spread = truth["book_ask"].to_numpy() - truth["book_bid"].to_numpy()
    near = np.abs(ts - jump_at) < 10 * 10**9
    far = np.abs(ts - jump_at) > 600 * 10**9
    assert near.sum() > 20 and spread[near].mean() > 2.0 * spread[far].mean()


def write_trades_v1(path: Path, trades: pa.Table) -> None:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(TRADE_COLUMNS)
        for r in trades.to_pylist():
            out.writerow([r["symbol"], r["conditions"] or "", r["correction"] or 0, r["exchange"], r["trade_id"],
                          r["ts_ns"] - 500, r["price"], r["sequence"], r["ts_ns"], int(r["size"]), r["tape"],
                          r["trf_id"] or 0, r["trf_ts_ns"] or 0])


@pytest.mark.duckdb
def test_replayed_flat_files_joined_in_the_database_give_the_simulators_quotes_and_sides(tmp_path):
    m = SyntheticMarket(9, 6.0, DEFAULT_SYMBOLS[:2], quote_dynamics=True, record_truth=True)
    trades, quotes = m.history(END - 1800 * 10**9, END)
    quotes_file, trades_file = tmp_path / "2025-06-15-quotes.csv.gz", tmp_path / "2025-06-15-trades.csv"
    write_quotes_v1(quotes_file, quotes_rows(quotes, lots=True))  # round lots, as Polygon wrote them then
    write_trades_v1(trades_file, trades)
    settings = Settings(duckdb_path=tmp_path / "r.duckdb")
    replay_paths(settings, [quotes_file, trades_file], progress=False)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        db_quotes = con.sql("SELECT * FROM quotes ORDER BY symbol, ts_ns, sequence").to_arrow_table()
        db_trades = con.sql("SELECT * FROM market_data ORDER BY symbol, ts_ns, sequence").to_arrow_table()
    assert db_quotes["bid_size"].to_pylist() == quotes.sort_by([("symbol", "ascending"), ("ts_ns", "ascending"),
                                                                  ("sequence", "ascending")])["bid_size"].to_pylist()
    for symbol in ("AAPL", "MSFT"):
        t, p, s = sign_symbol(db_trades, db_quotes, symbol)
        truth = m.trade_truth(symbol)
        assert truth["trade_id"].to_pylist() == t["trade_id"].to_pylist()
        own = truth["quote_ts_ns"].to_numpy() < truth["ts_ns"].to_numpy()  # its quote is stamped before it
        assert own.mean() > 0.9
        np.testing.assert_array_equal(p.bid[own], truth["quote_bid"].to_numpy()[own])
        np.testing.assert_array_equal(p.ask[own], truth["quote_ask"].to_numpy()[own])
        usable = own & (p.flags == 0) & truth["at_quote"].to_numpy()
        np.testing.assert_array_equal(s.side[usable], truth["side"].to_numpy()[usable])


def test_truth_without_quote_dynamics_agrees_with_the_crypto_side_the_tape_carries():
    m = SyntheticMarket(2, 20.0, record_truth=True)
    trades, quotes = m.history(END - 600 * 10**9, END)
    t = trades.filter(pc.equal(trades["symbol"], "BTC-USD"))
    truth = m.trade_truth("BTC-USD")
    assert truth.num_rows == t.num_rows > 100
    assert (np.where(truth["side"].to_numpy() > 0, "2", "1") == np.array(t["conditions"].to_pylist())).all()
    assert (truth["true_mid"].to_numpy() > 0).all() and not truth["at_quote"].to_numpy().all()
    assert truth["quote_bid"].to_pylist() == truth["book_bid"].to_pylist()
    assert set(truth["quote_kind"].to_pylist()) == {"normal"}
    with pytest.raises(ValueError, match="record_truth=True"):
        SyntheticMarket(2, 20.0).trade_truth("AAPL")
