"""bar_liquidity.vpin_lee_ready through the transform on a real DuckDB file, over several short sessions (V comes
from earlier sessions): values once the buckets fill, runs on pieces cut anywhere equal one pass, and the stored
values are the reference (tests/reference/stats.py, written from the paper) over the trades' Lee-Ready sides and the
stored bars' volumes. Against the simulator's true sides: bench/bench_vpin_lr.py."""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
import pytest

import udx
from reference import stats as ref
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
SESSION = "00:00-00:30 UTC"  # short sessions at fixed times: no wall clock
END = (1_750_000_000 // 86400 + 1) * 86400 * NS + 3600 * NS
START = END - 6 * 86400 * NS  # weekdays only: four sessions
STOCKS = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2]
MARKET = SyntheticMarket(7, 20.0, STOCKS, session_bounds=functools.partial(udx.session_bounds, SESSION),
                         full_session_minutes=30, quote_dynamics=True)
TRADES, QUOTES = MARKET.history(START, END)


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=60, session_stocks=SESSION,  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, vpin_buckets_per_day=20, vpin_window=5)


def _run(path: Path, cuts: list[int]) -> list[tuple]:
    """Transform the market appended in pieces cut at ``cuts``; (symbol, bar end, vpin_lee_ready, vpin) rows."""
    settings_ = _settings(path)
    storage = DuckDBStorage.open(settings_)
    try:
        storage.apply_schema()
        bounds = [START, *cuts, END + 1]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            for table, append in ((TRADES, storage.append_trades), (QUOTES, storage.append_quotes)):
                append(table.filter(pc.and_(pc.greater_equal(table["ts_ns"], lo), pc.less(table["ts_ns"], hi))))
            run_transform(storage, settings_, now_ns=1)
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT l.symbol, l.bar_end_ns, l.vpin_lee_ready, s.vpin FROM bar_liquidity AS l "
                           "JOIN trading_signals AS s USING (symbol, bar_seconds, bar_end_ns) "
                           "ORDER BY l.symbol, l.bar_end_ns").fetchall()


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    path = tmp_path_factory.mktemp("one") / "one.duckdb"
    rows = _run(path, [])
    ONE_PASS_FILE.append(path)
    return rows


ONE_PASS_FILE: list[Path] = []


def test_values_appear_once_the_buckets_fill_and_lie_in_zero_one(one_pass) -> None:
    for spec in STOCKS:
        rows = [r for r in one_pass if r[0] == spec.symbol]
        values = np.array([np.nan if r[2] is None else r[2] for r in rows])
        assert np.isnan(values[:30]).all()  # the first session has no bucket size
        ok = ~np.isnan(values)
        assert ok.sum() > 60 and (values[ok] >= 0).all() and (values[ok] <= 1).all()
        assert sum(r[3] is not None for r in rows) > 60  # the BVC vpin beside it


def test_runs_on_pieces_cut_anywhere_equal_one_pass(one_pass, tmp_path: Path) -> None:
    day = 86400 * NS
    cuts = [START + day + 600 * NS + 17 * NS, START + 2 * day + 1234 * NS, START + 2 * day + 1500 * NS,
            START + 3 * day + 60 * NS]
    got = _run(tmp_path / "pieces.duckdb", cuts)
    assert [r[:2] for r in got] == [r[:2] for r in one_pass]
    assert np.array_equal(np.array([np.nan if r[2] is None else r[2] for r in got]),
                          np.array([np.nan if r[2] is None else r[2] for r in one_pass]), equal_nan=True)



def test_the_stored_values_are_the_reference_over_the_lee_ready_sides(one_pass) -> None:
    from sql.conditions import print_eligibility
    from udx.nbbo import prevailing_quotes
    from udx.trade_sign import lee_ready

    path = ONE_PASS_FILE[0]
    stale_ns = round(_settings(path).quote_stale_seconds * NS)
    day = 86400 * NS
    for spec in STOCKS:
        with duckdb.connect(str(path), read_only=True) as con:
            bars = con.execute("SELECT bar_end_ns, volume FROM trading_signals WHERE symbol = ? ORDER BY bar_end_ns",
                               [spec.symbol]).fetchall()
            t = con.sql("SELECT ts_ns, price, size, conditions, correction FROM market_data WHERE symbol = ? "
                        "ORDER BY ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id",
                        params=[spec.symbol]).to_arrow_table()
            q = con.execute("SELECT ts_ns, bid_price, ask_price FROM quotes WHERE symbol = ? ORDER BY ts_ns",
                            [spec.symbol]).fetchnumpy()
        price_ok, volume_ok = print_eligibility(t["conditions"], t["correction"], "stocks")
        ts, px, sz = (t[c].to_numpy() for c in ("ts_ns", "price", "size"))
        keep = (price_ok | volume_ok) & (ts < bars[-1][0])
        ts, px, sz, price_ok, volume_ok = ts[keep], px[keep], sz[keep], price_ok[keep], volume_ok[keep]
        p = prevailing_quotes(ts, q["ts_ns"], q["bid_price"], q["ask_price"], stale_ns)
        side = lee_ready(px, p.bid, p.ask, p.flags, sets_price=price_ok).side
        ends = np.array([b[0] for b in bars], np.int64)
        bar_of = np.searchsorted(ends, ts, side="right")
        trades = [(int(b), int(s), float(v)) for b, s, v, ok in zip(bar_of, side, sz, volume_ok, strict=True) if ok]
        rows = [{"session_open_ns": (end - 1) // day * day, "volume": volume} for end, volume in bars]
        want = ref.vpin_lee_ready(rows, trades, 20, 5)
        got = [np.nan if r[2] is None else r[2] for r in one_pass if r[0] == spec.symbol]
        assert sum(not np.isnan(w) for w in want) > 60
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)
