"""bar_realized_spread through the transform on a real DuckDB file: a bar gets its row only once the watermark is
the horizon past its end, once, never changed; runs on data arriving in pieces == one pass; the rows are the
kernels over the whole symbol; reset, rewind and a changed horizon; and the values against the simulator's
truth (realized + impact == effective per trade, mean impact vs the simulator's permanent impact, which is 0)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.conditions import print_eligibility
from sql.contract import BAR_REALIZED_SPREAD_SCHEMA
from sql.settings import Settings
from udx.nbbo import prevailing_quotes
from udx.realized import realized_bars, realized_trades
from udx.trade_sign import lee_ready
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
BAR = 60
H = 300
END = 1_750_000_000 * NS - (1_750_000_000 % BAR) * NS  # on the bar grid; times pinned, never the wall clock
START = END - 60 * 60 * NS
COLUMNS = [f.name for f in BAR_REALIZED_SPREAD_SCHEMA if f.name != "computed_at_ns"]
STOCKS = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2]
MARKET = SyntheticMarket(5, 20.0, STOCKS, quote_dynamics=True, record_truth=True)
TRADES, QUOTES = MARKET.history(START, END)


def _settings(path: Path, **extra: object) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=BAR, session_stocks="00:00-24:00 UTC",  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, **extra)


def _rows(path: Path, columns: list[str] = COLUMNS) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT {', '.join(columns)} FROM bar_realized_spread "
                           "ORDER BY symbol, bar_end_ns").fetchall()


def _run(path: Path, cuts: list[int], **extra: object) -> list[int]:
    """Load trades and quotes in the pieces ``cuts`` make, a transform after each; return the watermarks."""
    settings_ = _settings(path, **extra)
    storage = DuckDBStorage.open(settings_)
    marks = []
    try:
        storage.apply_schema()
        bounds = [START, *cuts, END + 1]
        for k, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
            for table, add in ((TRADES, storage.append_trades), (QUOTES, storage.append_quotes)):
                add(table.filter(pc.and_(pc.greater_equal(table["ts_ns"], lo), pc.less(table["ts_ns"], hi))))
            marks.append(run_transform(storage, settings_, now_ns=k + 1).watermark_ns)
    finally:
        storage.close()
    return marks


def _same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(
        u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))
        for x, y in zip(a, b, strict=True) for u, v in zip(x, y, strict=True))


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("one") / "one.duckdb"
    (watermark,) = _run(path, [])
    return path, watermark


def test_a_bar_gets_its_row_once_the_watermark_is_the_horizon_past_its_end(one_pass):
    path, watermark = one_pass
    with duckdb.connect(str(path), read_only=True) as con:
        bars = con.execute("SELECT symbol, bar_end_ns FROM trading_signals ORDER BY symbol, bar_end_ns").fetchall()
    rows = _rows(path)
    assert [(r[0], r[1]) for r in rows] == [b for b in bars if b[1] + H * NS <= watermark]
    assert len(rows) > 80 and len(rows) < len(bars)  # the last H of bars wait
    assert all(r[3] == H for r in rows)
    filled = [r for r in rows if r[4] > 0]
    assert len(filled) > len(rows) * 0.9 and all(r[6] is not None and r[7] is not None for r in filled)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 59 * 60 - 1), min_size=1, max_size=4, unique=True))
def test_runs_on_pieces_cut_anywhere_equal_one_pass(one_pass, tmp_path_factory, seconds):
    path = tmp_path_factory.mktemp("inc") / "inc.duckdb"
    _run(path, [START + s * NS for s in sorted(seconds)])
    assert _same(_rows(path), _rows(one_pass[0]))


def test_a_written_row_never_changes_and_later_runs_only_add(tmp_path):
    path = tmp_path / "later.duckdb"
    cut = START + 30 * BAR * NS
    _run(path, [cut])
    stamped = _rows(path, ["symbol", "bar_end_ns", "computed_at_ns"])
    first = [r for r in stamped if r[2] == 1]
    assert first and all(r[1] + H * NS < cut for r in first)  # run 1 wrote only bars its watermark allowed
    assert any(r[2] == 2 for r in stamped)


def test_the_rows_are_the_kernels_over_the_whole_symbol(one_pass):
    path, _ = one_pass
    for spec in STOCKS:
        rows = [r for r in _rows(path) if r[0] == spec.symbol]
        ends = np.array([r[1] for r in rows], np.int64)
        t = TRADES.filter(pc.equal(TRADES["symbol"], spec.symbol))
        q = QUOTES.filter(pc.equal(QUOTES["symbol"], spec.symbol))
        keep = t["ts_ns"].to_numpy() < ends[-1]
        ts, px, sz = (t[c].to_numpy()[keep] for c in ("ts_ns", "price", "size"))
        sets_price, counts_volume = print_eligibility(t["conditions"], t["correction"], "stocks")
        qts, qb, qa = (q[c].to_numpy() for c in ("ts_ns", "bid_price", "ask_price"))
        p = prevailing_quotes(ts, qts, qb, qa, 300 * NS)
        side = lee_ready(px, p.bid, p.ask, p.flags, sets_price=sets_price[keep]).side
        per_trade = realized_trades(ts, px, side, qts, qb, qa, H * NS, 300 * NS)
        b = realized_bars(ends - BAR * NS, ends, ts, np.where(counts_volume[keep], sz, 0.0), per_trade)
        got = np.array([[np.nan if x is None else x for x in r[4:8]] for r in rows], float)
        np.testing.assert_array_equal(got, np.column_stack([b.n_trades, b.volume, b.realized_spread,
                                                            b.price_impact]))


def test_reset_rewind_and_a_changed_horizon_rewrite_the_rows(tmp_path):
    from sql.backend import SignalStateRow

    path = tmp_path / "r.duckdb"
    _run(path, [])
    before = _rows(path)
    storage = DuckDBStorage.open(_settings(path))
    try:
        storage.apply_schema()
        state = storage.load_signal_states(BAR)[STOCKS[0].symbol]
        cut = state.last_bar_end_ns - 20 * BAR * NS
        storage.rewind_signals([SignalStateRow(STOCKS[0].symbol, BAR, cut, state.state)])
        storage.reset_signals([STOCKS[1].symbol], BAR)
        left = storage.fetch_all("SELECT symbol, max(bar_end_ns) FROM bar_realized_spread GROUP BY symbol")
    finally:
        storage.close()
    assert left == [(STOCKS[0].symbol, cut)]
    (watermark,) = _run(path, [], liquidity_horizon_seconds=120)  # the reset symbol's bars are written again
    after = _rows(path)
    with duckdb.connect(str(path), read_only=True) as con:
        bars = con.execute("SELECT symbol, bar_end_ns FROM trading_signals ORDER BY symbol, bar_end_ns").fetchall()
    assert [(r[0], r[1]) for r in after] == [b for b in bars if b[1] + 120 * NS <= watermark]
    assert all(r[3] == 120 for r in after)
    assert len([r for r in after if r[0] == STOCKS[1].symbol]) > len([r for r in before if r[0] == STOCKS[1].symbol])


def test_realized_plus_impact_is_the_effective_spread_and_the_impact_is_the_efficient_prices(one_pass):
    """The simulator (ingest/synthetic_market.py) draws a trade's side from the efficient-price move that its own
    quote already holds and lets no trade move the efficient price afterwards: its permanent impact is 0 in
    expectation, and over a sample it is the efficient (true) mid's move in the trade's direction,
    2q(m*[t+H] - m*[t])/m*[t]. The measured mean impact is that sample's within 5 % of the effective spread (the
    quotes round the efficient mid to ticks), and trade by trade the two go together; every trade's realized + impact
    is its effective spread."""
    for spec in STOCKS:
        truth = MARKET.trade_truth(spec.symbol)
        t = TRADES.filter(pc.equal(TRADES["symbol"], spec.symbol))
        assert t["trade_id"].to_pylist() == truth["trade_id"].to_pylist()
        q = QUOTES.filter(pc.equal(QUOTES["symbol"], spec.symbol))
        ts, px = t["ts_ns"].to_numpy(), t["price"].to_numpy()
        sets_price, _ = print_eligibility(t["conditions"], t["correction"], "stocks")  # the transform's flags
        qts, qb, qa = (q[c].to_numpy() for c in ("ts_ns", "bid_price", "ask_price"))
        p = prevailing_quotes(ts, qts, qb, qa, 300 * NS)
        side = lee_ready(px, p.bid, p.ask, p.flags, sets_price=sets_price).side
        r = realized_trades(ts, px, side, qts, qb, qa, H * NS, 300 * NS)
        ok = ~np.isnan(r.realized_spread) & (ts + H * NS < END)
        normal = ok & (truth["quote_kind"].to_numpy(zero_copy_only=False) == "normal")
        published_mid = 0.5 * (truth["quote_bid"].to_numpy() + truth["quote_ask"].to_numpy())
        same_quote = normal & (r.mid == published_mid)  # m_t is the quote published for the trade, except where
        assert same_quote.sum() > 0.99 * normal.sum()  # an earlier trade's update in between is newer
        true_side = truth["side"].to_numpy()
        at_quote = normal & truth["at_quote"].to_numpy(zero_copy_only=False)
        assert (side[at_quote] == true_side[at_quote]).mean() >= 0.9
        effective = 2 * true_side * (px - published_mid) / published_mid  # the truth's own effective spread
        agree = same_quote & (side == true_side)
        assert agree.sum() > 0.8 * normal.sum()
        np.testing.assert_allclose(r.realized_spread[agree] + r.price_impact[agree], effective[agree],
                                   rtol=1e-12, atol=1e-16)
        true_mid = truth["true_mid"].to_numpy()
        later = np.searchsorted(ts, ts + H * NS, side="left") - 1  # the last trade (its quote) before t + H
        true_impact = 2 * side * (true_mid[later] - true_mid) / true_mid
        assert ok.sum() > 10_000
        measured, signed_effective = r.price_impact[ok].mean(), (r.realized_spread + r.price_impact)[ok].mean()
        assert abs(measured - true_impact[ok].mean()) < 0.05 * signed_effective
        assert np.corrcoef(r.price_impact[ok], true_impact[ok])[0, 1] > 0.95  # trade by trade, not just on average


@pytest.mark.parametrize("seed", range(4))
def test_the_tick_state_after_each_bar_is_lee_readys_after_those_prints(seed):
    from udx.realized_step import tick_states_after
    from udx.trade_sign import TickState

    rng = np.random.default_rng(seed)
    px = 10 + rng.integers(-3, 4, 200) * 0.01
    before = TickState() if seed % 2 else TickState(10.0, -1)
    counts = np.sort(rng.integers(0, px.size + 1, 30))
    last_price, last_tick = tick_states_after(px, before, counts)
    nan = np.full(px.size, np.nan)
    for k, p, s in zip(counts, last_price, last_tick, strict=True):
        want = lee_ready(px[:k], nan[:k], nan[:k], np.ones(k, np.uint8), before).state
        assert (p == want.last_price or (math.isnan(p) and math.isnan(want.last_price))) and s == want.last_tick


def _thin_tables():
    """One thin symbol: a quote every 20 s (its mid steps by a cent), a trade every 7 s at the ask, bid or mid, so
    the prevailing quote of a run's first trade is often stamped before the run's first bar."""
    import pyarrow as pa

    from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA

    rng = np.random.default_rng(3)
    qts = np.arange(START + 5 * NS, END, 20 * NS)
    mid = 50 + np.cumsum(rng.choice([-0.01, 0.01], qts.size))
    tts = np.arange(START + 1 * NS, END, 7 * NS)
    k = np.searchsorted(qts, tts, side="left") - 1
    m = np.where(k >= 0, mid[np.maximum(k, 0)], 50.0)
    px = np.round(m + rng.choice([-0.01, 0.0, 0.01], tts.size), 2)
    n, nq = tts.size, qts.size
    trades = pa.table({"market": ["stocks"] * n, "symbol": ["THIN"] * n, "ts_ns": tts, "price": px,
                       "size": np.full(n, 100.0), "exchange": np.full(n, 4, np.int32),
                       "trade_id": [str(i) for i in range(n)], "conditions": [None] * n,
                       "tape": np.full(n, 1, np.int32), "sequence": np.arange(n), "trf_id": [None] * n,
                       "trf_ts_ns": [None] * n, "received_ns": tts, "source": ["sim"] * n, "correction": [None] * n},
                      schema=TRADES_SCHEMA)
    quotes = pa.table({"market": ["stocks"] * nq, "symbol": ["THIN"] * nq, "ts_ns": qts, "bid_price": mid - 0.01,
                       "bid_size": np.full(nq, 100.0), "ask_price": mid + 0.01, "ask_size": np.full(nq, 100.0),
                       "bid_exchange": [None] * nq, "ask_exchange": [None] * nq, "conditions": [None] * nq,
                       "sequence": np.arange(nq), "tape": [None] * nq, "received_ns": qts, "source": ["sim"] * nq},
                      schema=QUOTES_SCHEMA)
    return trades, quotes


def test_a_thin_symbol_cut_at_every_bar_equals_one_pass(tmp_path, monkeypatch):
    trades, quotes = _thin_tables()
    counts = _count_heads(monkeypatch)  # its prints are read apart, its quotes then from the stale limit
    monkeypatch.setattr(sys.modules[__name__], "TRADES", trades)
    monkeypatch.setattr(sys.modules[__name__], "QUOTES", quotes)
    one, every = tmp_path / "one.duckdb", tmp_path / "every.duckdb"
    _run(one, [])
    _run(every, [START + m * BAR * NS for m in range(1, 60)])
    rows = _rows(one)
    assert [r[0] for r in rows] == ["THIN"] * len(rows) and len(rows) > 40 and sum(r[4] for r in rows) > 300
    assert _same(_rows(every), rows)
    assert sum(counts) >= 40


def _count_heads(monkeypatch) -> list[int]:
    """Spy on the transform's reads: how many symbols each chunk read had their realized-spread prints read apart."""
    import udx.transform as transform

    counts: list[int] = []
    real = transform.read_with_heads

    def spy(storage, trade_starts, quote_starts, heads, *args):
        counts.append(len(heads))
        return real(storage, trade_starts, quote_starts, heads, *args)

    monkeypatch.setattr(transform, "read_with_heads", spy)
    return counts


def test_runs_a_bar_apart_read_the_horizon_apart_and_equal_one_pass(one_pass, tmp_path, monkeypatch):
    counts = _count_heads(monkeypatch)
    path = tmp_path / "bars.duckdb"
    _run(path, [START + m * BAR * NS for m in range(30, 60)])
    assert sum(counts) >= 2 * 20  # both symbols, once the horizon is behind the passes
    assert _same(_rows(path), _rows(one_pass[0]))



def _signal_ends(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT symbol, bar_end_ns FROM trading_signals ORDER BY symbol, bar_end_ns").fetchall()


def test_a_crash_between_the_signal_and_realized_commits_loses_no_row(one_pass, tmp_path):
    """The realized rows of stored due bars are committed after the pass's signals (udx.transform point 5): a pass
    killed between the two leaves its signals visible and those rows unwritten; the next pass (a restart) writes
    exactly the missing rows, each equal to a one-pass run's, and later passes end at one pass's rows."""
    path = tmp_path / "crash.duckdb"
    settings_ = _settings(path)
    first, second = START + 40 * BAR * NS, START + 42 * BAR * NS

    def step(lo: int, hi: int, now: int, kill: bool = False) -> int | None:
        storage = DuckDBStorage.open(settings_)
        try:
            storage.apply_schema()
            for table, add in ((TRADES, storage.append_trades), (QUOTES, storage.append_quotes)):
                add(table.filter(pc.and_(pc.greater_equal(table["ts_ns"], lo), pc.less(table["ts_ns"], hi))))
            if kill:
                real = storage.commit_signals

                def killed(signals, states, **more):
                    if not states and more.get("realized") is not None:  # the realized rows' own commit
                        raise RuntimeError("killed between the signal and the realized commits")
                    return real(signals, states, **more)

                storage.commit_signals = killed
                with pytest.raises(RuntimeError, match="killed between"):
                    run_transform(storage, settings_, now_ns=now)
                return storage.newest_trade_ns()
            return run_transform(storage, settings_, now_ns=now).watermark_ns
        finally:
            storage.close()

    w1 = step(START, first, 1)
    rows_before = _rows(path)
    w2 = step(first, second, 2, kill=True)  # lateness 0: the watermark is the newest trade
    assert max(e for _, e in _signal_ends(path)) > w1  # the killed pass's signals are visible
    assert _rows(path) == rows_before  # and none of its realized rows
    step(second, second, 3)  # the next pass, no new trade
    want = [r for r in _rows(one_pass[0]) if r[1] + H * NS <= w2]
    assert len(want) >= len(rows_before) + 2 * 2  # the killed pass left out rows of both symbols
    assert _same(_rows(path), want)
    step(second, END + 1, 4)
    assert _same(_rows(path), _rows(one_pass[0]))
