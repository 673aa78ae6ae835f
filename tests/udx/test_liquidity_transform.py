"""bar_liquidity through the transform on a real DuckDB file: one row per bar written with trading_signals,
incremental runs on data arriving in pieces cut at bar boundaries == one pass, trading_signals unchanged by
quotes, symbols without quotes, the rows against the kernels called directly, reset and rewind."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.conditions import print_eligibility
from sql.contract import BAR_LIQUIDITY_SCHEMA, SIGNALS_SCHEMA
from sql.settings import Settings
from udx.impact import kyle_bars, roll_bars
from udx.liquidity import liquidity_bars
from udx.nbbo import prevailing_quotes
from udx.trade_sign import lee_ready
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
BAR = 60
END = 1_750_000_000 * NS - (1_750_000_000 % BAR) * NS  # on the bar grid
START = END - 90 * 60 * NS
LIQ_COLUMNS = [f.name for f in BAR_LIQUIDITY_SCHEMA if f.name != "computed_at_ns"]
SIGNAL_COLUMNS = [f.name for f in SIGNALS_SCHEMA if f.name != "computed_at_ns"]
STOCKS = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2]


def _settings(path: Path, **extra: object) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=BAR, session_stocks="00:00-24:00 UTC",  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, roll_window=50, kyle_window=10, **extra)


def _market():
    m = SyntheticMarket(5, 20.0, STOCKS, quote_dynamics=True, record_truth=True)
    trades, quotes = m.history(START, END)
    return trades, quotes


TRADES, QUOTES = _market()
NO_QUOTES_SYMBOL = STOCKS[1].symbol  # its quotes are never loaded


def _quotes() -> object:
    return QUOTES.filter(pc.not_equal(QUOTES["symbol"], NO_QUOTES_SYMBOL))


def _dump(path: Path) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        liq = con.execute(f"SELECT {', '.join(LIQ_COLUMNS)} FROM bar_liquidity "
                          "ORDER BY symbol, bar_end_ns").fetchall()
        sig = con.execute(f"SELECT {', '.join(SIGNAL_COLUMNS)} FROM trading_signals "
                          "ORDER BY symbol, bar_end_ns").fetchall()
    return liq, sig


def _same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(
        u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))
        for x, y in zip(a, b, strict=True) for u, v in zip(x, y, strict=True))


def _run(path: Path, cuts: list[int], quotes: bool = True) -> tuple[list[tuple], list[tuple]]:
    settings_ = _settings(path)
    storage = DuckDBStorage.open(settings_)
    try:
        storage.apply_schema()
        bounds = [START, *cuts, END + 1]
        q = _quotes()
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            storage.append_trades(TRADES.filter(pc.and_(pc.greater_equal(TRADES["ts_ns"], lo),
                                                        pc.less(TRADES["ts_ns"], hi))))
            if quotes:
                storage.append_quotes(q.filter(pc.and_(pc.greater_equal(q["ts_ns"], lo), pc.less(q["ts_ns"], hi))))
            run_transform(storage, settings_, now_ns=1)
    finally:
        storage.close()
    return _dump(path)


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple], list[tuple]]:
    return _run(tmp_path_factory.mktemp("one") / "one.duckdb", [])


def test_every_bar_written_has_its_liquidity_row(one_pass):
    liq, sig = one_pass
    assert len(sig) > 100
    assert [(r[0], r[1]) for r in liq] == [(r[0], r[1]) for r in sig]
    quoted = [r for r in liq if r[0] != NO_QUOTES_SYMBOL]
    assert sum(r[3] for r in quoted) > 1000  # n_quotes
    assert all(r[4] is not None and r[4] > 0 for r in quoted if r[3] > 0)  # quoted spread
    assert sum(r[13] is not None for r in quoted) > len(quoted) // 2  # kyle lambda once its window fills


def test_a_symbol_without_quotes_has_no_quote_measures_and_tick_signed_volume(one_pass):
    liq, _ = one_pass
    rows = [r for r in liq if r[0] == NO_QUOTES_SYMBOL]
    assert rows and all(r[3] == 0 and r[4] is None and r[5] is None and r[10] is None for r in rows)
    assert sum(r[5 + 1] + r[7] for r in rows) > 0  # buy + sell volume by the tick rule
    assert any(r[11] is not None for r in rows) and any(r[12] is not None for r in rows)  # amihud, roll


def test_quotes_change_no_trading_signals_value(one_pass, tmp_path):
    _, without = _run(tmp_path / "noq.duckdb", [], quotes=False)
    assert _same(without, one_pass[1])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 89), min_size=1, max_size=4, unique=True))
def test_incremental_runs_on_pieces_cut_at_bar_boundaries_equal_one_pass(one_pass, tmp_path_factory, minutes):
    cuts = [START + m * BAR * NS for m in sorted(minutes)]
    liq, sig = _run(tmp_path_factory.mktemp("inc") / "inc.duckdb", cuts)
    assert _same(sig, one_pass[1])
    assert _same(liq, one_pass[0])


def test_the_rows_are_the_kernels_over_the_whole_symbol(one_pass):
    liq, sig = one_pass
    symbol = STOCKS[0].symbol
    t = TRADES.filter(pc.equal(TRADES["symbol"], symbol))
    q = QUOTES.filter(pc.equal(QUOTES["symbol"], symbol))
    ends = np.array([r[1] for r in sig if r[0] == symbol], np.int64)
    ts, px, sz = (t[c].to_numpy() for c in ("ts_ns", "price", "size"))
    keep = ts < ends[-1]
    ts, px, sz = ts[keep], px[keep], sz[keep]
    qk = q["ts_ns"].to_numpy() < ends[-1]
    qts, qb, qa = (q[c].to_numpy()[qk] for c in ("ts_ns", "bid_price", "ask_price"))
    stale = 300 * NS
    p = prevailing_quotes(ts, qts, qb, qa, stale)
    sets_price, _ = print_eligibility(t["conditions"], t["correction"], "stocks")  # odd lots (37) do not
    sets_price = sets_price[keep]
    assert 0 < sets_price.sum() < sets_price.size
    s = lee_ready(px, p.bid, p.ask, p.flags, sets_price=sets_price)
    lb = liquidity_bars(ends - BAR * NS, ends, ts, px, sz, s.side, p.bid, p.ask, p.flags, qts, qb, qa, stale,
                        quote_bid_size=q["bid_size"].to_numpy()[qk], quote_ask_size=q["ask_size"].to_numpy()[qk])
    roll, _ = roll_bars([], ts[sets_price], px[sets_price], ends, 50)
    rows = [r for r in liq if r[0] == symbol]
    got = {name: np.array([np.nan if r[k] is None else r[k] for r in rows], float)
           for k, name in enumerate(LIQ_COLUMNS) if k >= 3}
    for name in ("quoted_spread", "effective_spread", "buy_volume", "sell_volume", "order_imbalance",
                 "depth_imbalance"):
        np.testing.assert_array_equal(got[name], getattr(lb, name), err_msg=name)
    np.testing.assert_array_equal(got["roll_spread"], roll)
    bars = [r for r in sig if r[0] == symbol]
    col = {name: np.array([np.nan if r[k] is None else r[k] for r in bars], float)
           for k, name in enumerate(SIGNAL_COLUMNS) if name in ("log_return", "vwap", "volume")}
    dollar_volume = col["vwap"] * col["volume"]
    np.testing.assert_allclose(got["amihud"], np.abs(col["log_return"]) / dollar_volume, rtol=1e-15)
    kyle, _, _ = kyle_bars([], [], col["log_return"], lb.signed_dollar_volume, 10)
    np.testing.assert_array_equal(got["kyle_lambda"], kyle)
    assert np.isfinite(kyle).sum() > 50
    n_quotes = np.searchsorted(qts, ends) - np.searchsorted(qts, ends - BAR * NS)
    np.testing.assert_array_equal(got["n_quotes"], n_quotes)


def test_reset_and_rewind_delete_bar_liquidity(tmp_path):
    from sql.backend import SignalStateRow

    path = tmp_path / "r.duckdb"
    _run(path, [])
    storage = DuckDBStorage.open(_settings(path))
    try:
        storage.apply_schema()
        state = storage.load_signal_states(BAR)[STOCKS[0].symbol]
        cut = state.last_bar_end_ns - 10 * BAR * NS
        storage.rewind_signals([SignalStateRow(STOCKS[0].symbol, BAR, cut, state.state)])
        storage.reset_signals([STOCKS[1].symbol], BAR)
        rows = storage.fetch_all("SELECT symbol, max(bar_end_ns) FROM bar_liquidity GROUP BY symbol")
    finally:
        storage.close()
    assert rows == [(STOCKS[0].symbol, cut)]


def test_the_state_a_recompute_rewinds_to_carries_the_liquidity_of_a_run_that_stopped_there(tmp_path):
    from udx.state import SymbolState
    from udx.transform import liquidity_config, signal_config, state_at

    cut = START + 47 * BAR * NS + 17 * NS  # mid-bar: the run stops at the last bar before its newest trade
    _run(tmp_path / "cut.duckdb", [cut])  # the pieces [START, cut) then the rest: states after the first run lost
    partial = tmp_path / "partial.duckdb"
    settings_ = _settings(partial)
    storage = DuckDBStorage.open(settings_)
    try:
        storage.apply_schema()
        storage.append_trades(TRADES.filter(pc.less(TRADES["ts_ns"], cut)))
        q = _quotes()
        storage.append_quotes(q.filter(pc.less(q["ts_ns"], cut)))
        watermark = run_transform(storage, settings_, now_ns=1).watermark_ns
        stopped = {s: SymbolState.from_json(r.state) for s, r in storage.load_signal_states(BAR).items()}
    finally:
        storage.close()
    full = DuckDBStorage.open(_settings(tmp_path / "cut.duckdb"))
    try:
        for spec in STOCKS:
            state = state_at(full, spec.symbol, "stocks", signal_config(settings_, "stocks"), watermark,
                             liquidity_config(settings_))
            want = stopped[spec.symbol]
            assert state is not None and state.last_bar_end_ns == want.last_bar_end_ns
            liq = sorted(k for k in want.arrays if k.startswith("liq_"))
            assert liq and liq == sorted(k for k in state.arrays if k.startswith("liq_"))
            for key in liq:
                np.testing.assert_array_equal(state.arrays[key], want.arrays[key], err_msg=key)
    finally:
        full.close()
