"""``udx.transform`` on a tiny DuckDB file, judged in a few seconds in plain Python (scripts/mutation group
``transform``): three symbols of test_pipeline_small.py's four one-hour sessions (a stock whose prints carry
Polygon conditions and corrections, two crypto pairs, a few invalid prints), the rows of one run against the
independent reference pipeline, runs on growing data and restarts against one run, the summary's counts and
the progress calls against counts made here from the trades, the stale-state reset, ``state_at`` and the daily
metrics of a symbol whose old trades arrive late.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from reference import bars as rb
from reference.pipeline import symbol_rows
from reference.sessions import sessions
from reference_db import assert_rows_equal, stored
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.settings import Settings
import dataclasses

from test_pipeline_small import FINAL, NS, SESSIONS, SPEC, make_prints
from test_pipeline_small import reference_config as small_config
from udx.state_cache import load_states
from udx.transform import liquidity_config, reset_stale_states, run_transform, signal_config, state_at

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

#: test_pipeline_small.py's windows where the settings allow them (GARCH and the VPIN CDF at their least)
SETTINGS = {"bar_seconds": 60, "lm_window": 10, "bns_window": 12, "garch_window": 250, "garch_min_obs": 50,
            "intensity_lookback": 10, "intensity_min_sessions": 2, "seasonal_sessions": 2,
            "vpin_buckets_per_day": 10, "vpin_window": 5, "vpin_cdf_window": 50, "acd_window": 150,
            "acd_min_obs": 100, "acd_bin_seconds": 1200, "profile_min_sessions": 1, "profile_bucket_minutes": 15,
            "transform_lateness_seconds": 2.0, "session_stocks": SPEC, "session_crypto": SPEC}
#: (conditions, correction, share): regular, odd lot (volume only), average price (volume only), contingent
#: (neither), corrected, cancelled (neither), corrected consolidated close (price only)
STOCK_KINDS = [(None, None, 0.83), ("37", None, 0.06), ("2", None, 0.03), ("14,37", None, 0.02), (None, 1, 0.02),
               (None, 8, 0.02), ("38", None, 0.02)]
#: symbol -> (market, make_prints arguments)
SYMBOLS = {"AAA": ("stocks", (21, 2.0, 4e-4, 0.0, 50.0, 0.02)), "X:BBB": ("crypto", (22, 1.2, 6e-4, 0.05)),
           "X:CCC": ("crypto", (23, 1.5, 3e-4))}
LAST_TS = FINAL + 2 * NS  # the newest trade: the watermark is FINAL


def _rows(symbol: str) -> list[tuple]:
    market, args = SYMBOLS[symbol]
    ts, px, sz, _, _ = make_prints(*args)
    rng = np.random.default_rng(len(symbol))
    kinds = rng.choice(len(STOCK_KINDS), ts.size, p=[k[2] for k in STOCK_KINDS])
    px = px.copy()
    if symbol == "X:BBB":  # invalid prints: skipped
        px[[5, 100, 101]] = [0.0, -1.0, np.nan]
    out = []
    for k, (t, p, s) in enumerate(zip(ts.tolist(), px.tolist(), sz.tolist(), strict=True)):
        cond, corr = STOCK_KINDS[kinds[k]][:2] if market == "stocks" else (None, None)
        out.append((market, symbol, t, p, s, f"{symbol}-{k}", cond, corr))
    return [r for r in out if r[2] < FINAL]


ALL = sorted([r for s in SYMBOLS for r in _rows(s)] + [("crypto", "X:CCC", LAST_TS, 1.0, 1.0, "last", None, None)],
             key=lambda r: r[2])


def _quotes() -> list[tuple]:
    """AAA's NBBO every 20 s around its last trade price (a spread of 10 bp), so that the bar liquidity and the
    realized spreads have quotes to work on."""
    rows = sorted((r for r in ALL if r[1] == "AAA"), key=lambda r: r[2])
    ts = np.array([r[2] for r in rows])
    px = np.array([r[3] for r in rows])
    out = []
    for t in range(int(ts[0]), FINAL, 20 * NS):
        k = int(np.searchsorted(ts, t, side="right")) - 1
        if k >= 0:
            out.append((t + 7, float(px[k]) * 0.9995, float(px[k]) * 1.0005))
    return out


QUOTES = _quotes()


def load(storage: object, lo: int, hi: int, without: str = "") -> None:
    """Append the trades (but ``without``'s) and AAA's quotes stamped in ``[lo, hi)``."""
    storage.append_trades(table([r for r in ALL if lo <= r[2] < hi and r[1] != without]))  # type: ignore[attr-defined]
    q = [r for r in QUOTES if lo <= r[0] < hi]
    if q:
        n = len(q)
        t = pa.array([r[0] for r in q], pa.int64())
        storage.append_quotes(pa.Table.from_arrays(  # type: ignore[attr-defined]
            [pa.array(["stocks"] * n), pa.array(["AAA"] * n), t, pa.array([r[1] for r in q], pa.float64()),
             pa.array([100.0] * n), pa.array([r[2] for r in q], pa.float64()), pa.array([200.0] * n),
             pa.array([1] * n, pa.int32()), pa.array([2] * n, pa.int32()), pa.nulls(n, pa.string()),
             pa.array(np.arange(n, dtype=np.int64)), pa.nulls(n, pa.int32()), t, pa.array(["sim"] * n)],
            schema=QUOTES_SCHEMA))


def table(rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    return pa.Table.from_arrays(
        [pa.array(cols[0], pa.string()), pa.array(cols[1], pa.string()), pa.array(cols[2], pa.int64()),
         pa.array(cols[3], pa.float64()), pa.array(cols[4], pa.float64()), pa.array([1] * n, pa.int32()),
         pa.array(cols[5], pa.string()), pa.array(cols[6], pa.string()), pa.nulls(n, pa.int32()),
         pa.array(np.arange(n, dtype=np.int64)), pa.nulls(n, pa.int32()), pa.nulls(n, pa.int64()),
         pa.array(cols[2], pa.int64()), pa.array(["sim"] * n, pa.string()), pa.array(cols[7], pa.int32())],
        schema=TRADES_SCHEMA)


def reference_config():  # noqa: ANN201
    return dataclasses.replace(small_config(), garch_window=250, garch_min_obs=50, vpin_cdf_window=50)


def settings(path: Path, **changes: object) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, **{**SETTINGS, **changes})  # type: ignore[arg-type]


def open_db(path: Path, **changes: object) -> tuple[object, Settings]:
    config = settings(path, **changes)
    storage = DuckDBStorage.open(config)
    storage.apply_schema()
    return storage, config


def prints_of(symbol: str, rows: list[tuple] = ALL) -> list[tuple]:
    """The reference's prints of ``symbol``: valid ones, with their eligibility, neither-kind prints left out
    (cancelled, erroneous)."""
    rules = rb.condition_rules()
    out = []
    for market, s, t, p, size, _, cond, corr in rows:
        if s != symbol or not (np.isfinite(p) and p > 0):
            continue
        sp, cv = rb.eligibility(market, cond, corr, rules)
        if sp or cv:
            out.append((t, p, size, sp, cv))
    return out


def dump(path: Path) -> tuple[list, ...]:
    """Every table the transform writes: signals, fits, daily metrics, bar liquidity, realized spreads."""
    with duckdb.connect(str(path), read_only=True) as con:
        sig = con.execute("SELECT * EXCLUDE (computed_at_ns) FROM trading_signals ORDER BY symbol, bar_end_ns"
                          ).fetchall()
        fits = con.execute("SELECT * EXCLUDE (fitted_at_ns) FROM model_params ORDER BY symbol, model, fit_end_ns"
                           ).fetchall()
        daily = con.execute("SELECT * EXCLUDE (computed_at_ns) FROM daily_metrics ORDER BY ALL").fetchall()
        liquidity = con.execute("SELECT * EXCLUDE (computed_at_ns) FROM bar_liquidity ORDER BY ALL").fetchall()
        realized = con.execute("SELECT * EXCLUDE (computed_at_ns) FROM bar_realized_spread ORDER BY ALL").fetchall()
    return _nan(sig), _nan(fits), _nan(daily), _nan(liquidity), _nan(realized)


def _nan(rows: list[tuple]) -> list[tuple]:
    """NaN as a text, so that equal rows compare equal."""
    return [tuple("NaN" if isinstance(v, float) and v != v else v for v in r) for r in rows]


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, list]:
    path = tmp_path_factory.mktemp("small") / "one.duckdb"
    storage, config = open_db(path)
    calls: list[tuple[int, int]] = []
    try:
        load(storage, 0, LAST_TS + 1)
        summary = run_transform(storage, config, progress=lambda d, t: calls.append((d, t)))
    finally:
        storage.close()
    return path, summary, calls


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_the_rows_equal_the_reference(one_run, symbol: str) -> None:
    path, _, _ = one_run
    got, fits = stored(path, symbol)
    cfg = reference_config()
    want, garch_windows, acd_windows, _ = symbol_rows(prints_of(symbol), cfg, FINAL,
                                                      [f[:3] for f in fits["garch11"]], [f[:3] for f in fits["acd11"]])
    assert len(got) > 150
    assert_rows_equal(got, want)
    assert [f[4] for f in fits["garch11"]] == [w.size for w in garch_windows]
    assert [f[4] for f in fits["acd11"]] == [len(w) for w in acd_windows]


def test_the_summary_counts_what_the_run_did(one_run) -> None:
    path, summary, calls = one_run
    sig, fits, _, liquidity, realized = dump(path)
    assert len(liquidity) == len(sig)  # one bar liquidity row per bar
    assert 0 < len(realized) < len(sig)  # the bars the watermark passed by the horizon
    assert summary.watermark_ns == FINAL == LAST_TS - 2 * NS
    assert summary.symbols == 3
    assert summary.bars == len(sig)
    assert summary.fits == len(fits) >= 6
    # the valid prints before the watermark
    assert summary.trades == sum(len([p for p in prints_of(s) if p[0] < FINAL]) for s in SYMBOLS) > 1000
    # the next bar of every symbol ends one minute after its last (40 minutes into the fourth session)
    with duckdb.connect(str(path), read_only=True) as con:
        ends = [r[0] for r in con.execute("SELECT max(bar_end_ns) FROM trading_signals GROUP BY symbol").fetchall()]
    assert summary.next_bar_end_ns == min(ends) + 60 * NS
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert str(summary).startswith(f"3 symbols, {len(sig)} bars, {len(fits)} model fits, {summary.trades} trades in ")


def _final_before(rows: list[tuple], cut: int) -> list[tuple]:
    return [r for r in rows if r[2] < cut]


#: the data arrive in pieces: cut inside a bar, after a session, in the weekend, inside the third session
CUTS = [SESSIONS[0][0] + 20 * 60 * NS + 7, SESSIONS[1][1] + 5 * 60 * NS, SESSIONS[2][0] - 86_400 * NS,
        SESSIONS[2][0] + 33 * 60 * NS + 1]


@pytest.mark.parametrize("per_commit", [100, 1])
def test_runs_on_growing_data_with_restarts_equal_one_run(one_run, tmp_path: Path, per_commit: int) -> None:
    path = tmp_path / "grow.duckdb"
    done = 0
    summaries = []
    for cut in [*CUTS, LAST_TS + 1]:
        storage, config = open_db(path)  # a restart: the states come from the file
        try:
            load(storage, done, cut)
            summaries.append(run_transform(storage, config, symbols_per_commit=per_commit))
        finally:
            storage.close()
        done = cut
    assert dump(path) == dump(one_run[0])
    sig, fits, *_ = dump(path)
    assert sum(s.bars for s in summaries) == len(sig) and sum(s.fits for s in summaries) == len(fits)
    # every print is read at least once (those of a bar not final yet again by the next run)
    assert sum(s.trades for s in summaries) >= one_run[1].trades
    assert summaries[-1].next_bar_end_ns == one_run[1].next_bar_end_ns


def test_a_run_in_one_process_after_another_reads_only_new_trades(tmp_path: Path) -> None:
    storage, config = open_db(tmp_path / "again.duckdb")
    try:
        storage.append_trades(table(ALL))
        first = run_transform(storage, config, symbols_per_commit=2)
        again = run_transform(storage, config)
        assert (again.symbols, again.bars, again.fits, again.trades) == (0, 0, 0, 0)
        assert again.next_bar_end_ns == first.next_bar_end_ns and again.watermark_ns == FINAL
        late = [("crypto", "X:CCC", LAST_TS + 3 * 60 * NS, 1.0, 1.0, "later", None, None)]
        storage.append_trades(table(late))
        last = {s: stored_state.last_bar_end_ns for s, stored_state in load_states(storage, 60).items()}
        third = run_transform(storage, config)
        watermark = LAST_TS + 3 * 60 * NS - 2 * NS
        assert third.watermark_ns == watermark
        # the valid prints each symbol reads: from the end of its last bar up to the new watermark
        assert third.trades == sum(len([p for p in prints_of(s, ALL + late) if last[s] <= p[0] < watermark])
                                   for s in SYMBOLS) > 0
        assert third.bars == 3 * 3  # every symbol: the three bars the watermark passed
        assert third.symbols == 3
    finally:
        storage.close()


def test_rows_and_fits_carry_the_given_time(tmp_path: Path) -> None:
    path = tmp_path / "now.duckdb"
    storage, config = open_db(path)
    try:
        storage.append_trades(table(ALL))
        run_transform(storage, config, now_ns=1_234_567_890_123)
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT DISTINCT computed_at_ns FROM trading_signals").fetchall() == [(1_234_567_890_123,)]
        assert con.execute("SELECT DISTINCT fitted_at_ns FROM model_params").fetchall() == [(1_234_567_890_123,)]


def test_the_callers_symbols_are_the_ones_computed(tmp_path: Path) -> None:
    path = tmp_path / "some.duckdb"
    storage, config = open_db(path)
    try:
        storage.append_trades(table(ALL))
        summary = run_transform(storage, config, symbols=[("crypto", "X:CCC")])
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT DISTINCT symbol FROM trading_signals").fetchall() == [("X:CCC",)]
    assert summary.symbols == 1


def test_no_trades_and_a_bad_chunk_size(tmp_path: Path) -> None:
    storage, config = open_db(tmp_path / "empty.duckdb")
    try:
        with pytest.raises(ValueError, match="symbols_per_commit must be >= 1, got 0"):
            run_transform(storage, config, symbols_per_commit=0)
        summary = run_transform(storage, config)
        assert (summary.symbols, summary.bars, summary.watermark_ns, summary.next_bar_end_ns) == (0, 0, None, None)
        assert isinstance(summary.seconds, float) and summary.seconds >= 0
        run_transform(storage, config, symbols_per_commit=1)  # one is allowed
    finally:
        storage.close()


def test_changed_settings_recompute_the_symbols_with_one_line(one_run, tmp_path: Path, caplog) -> None:
    """A window changed since the states were written: every symbol is recomputed from its first trade, one
    warning names them with the day their bars reached, and the rows equal a fresh run with the new window."""
    path = tmp_path / "stale.duckdb"
    storage, config = open_db(path)
    try:
        storage.append_trades(table(ALL))
        run_transform(storage, config)
    finally:
        storage.close()
    storage, config = open_db(path, lm_window=12)
    try:
        with caplog.at_level(logging.WARNING, logger="udx.transform"):
            summary = run_transform(storage, config)
    finally:
        storage.close()
    fresh = tmp_path / "fresh.duckdb"
    storage, config = open_db(fresh, lm_window=12)
    try:
        storage.append_trades(table(ALL))
        run_transform(storage, config)
    finally:
        storage.close()
    assert dump(path)[:2] == dump(fresh)[:2]
    assert summary.symbols == 3 and summary.bars == len(dump(fresh)[0])
    lines = [r.getMessage() for r in caplog.records if "recomputing" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("signal definitions or settings changed since the stored state of 3 symbol(s); "
                               "recomputing their signals: AAA (bars to 2024-03-12; ")
    reason = "stored signal state was computed with other settings (window: stored 10, wanted 12))"
    assert lines[0].endswith(f"AAA (bars to 2024-03-12; {reason}, X:BBB (bars to 2024-03-12; {reason}, "
                             f"X:CCC (bars to 2024-03-12; {reason}")
    assert not lines[0].endswith("more")


def test_reset_stale_states_names_and_clears_the_stale_symbols(tmp_path: Path) -> None:
    path = tmp_path / "reset.duckdb"
    storage, config = open_db(path)
    try:
        storage.append_trades(table(ALL))
        run_transform(storage, config)
        assert reset_stale_states(storage, config) == []
    finally:
        storage.close()
    storage, config = open_db(path, garch_window=300)
    try:
        assert reset_stale_states(storage, config) == ["AAA", "X:BBB", "X:CCC"]
        assert reset_stale_states(storage, config) == []
    finally:
        storage.close()
    assert dump(path)[0] == []


def test_each_market_is_judged_by_its_own_session(tmp_path: Path) -> None:
    """States of two markets with different sessions are each checked against their own market's settings."""
    storage, config = open_db(tmp_path / "markets.duckdb", session_crypto="08:30-09:30 America/New_York")
    try:
        storage.append_trades(table(ALL))
        run_transform(storage, config)
        assert reset_stale_states(storage, config) == []
        again = run_transform(storage, config)
        assert again.bars == 0
    finally:
        storage.close()


@pytest.mark.parametrize("with_liquidity", [False, True])
def test_state_at_is_the_state_of_a_run_to_that_time(one_run, tmp_path: Path, with_liquidity: bool) -> None:
    """``state_at`` from the stored trades equals the state a transform stores when its watermark is there (with
    ``liquidity``: the bar liquidity's arrays too), and its last bar is the reference's last bar before then."""
    end = SESSIONS[2][0] + 33 * 60 * NS
    path = tmp_path / "at.duckdb"
    storage, config = open_db(path)
    try:
        load(storage, 0, end)
        storage.append_trades(table([("crypto", "X:CCC", end + 2 * NS, 1.0, 1.0, "w", None, None)]))
        run_transform(storage, config)
        states = {s: stored_state.state for s, stored_state in load_states(storage, 60).items()}
    finally:
        storage.close()
    storage, config = open_db(one_run[0])
    try:
        for symbol, (market, _) in SYMBOLS.items():
            cfg = signal_config(config, market)
            got = state_at(storage, symbol, market, cfg, end, liquidity_config(config) if with_liquidity else None)
            want = rb.make_bars(prints_of(symbol), sessions(SPEC, SESSIONS[0][0], end), 60 * NS, end)
            assert got.last_bar_end_ns == want[-1]["bar_end_ns"] == states[symbol].last_bar_end_ns <= end
            assert got.last_close == want[-1]["close"]
            assert got.n_returns == len(want)
            assert got.last_session_open_ns == SESSIONS[2][0]
            assert got.config == cfg.fingerprint()
            liquidity_keys = set(states[symbol].arrays) - set(process_symbol_keys(cfg))
            assert liquidity_keys  # the stored state carries the bar liquidity's arrays
            assert set(got.arrays) == (set(states[symbol].arrays) if with_liquidity else set(process_symbol_keys(cfg)))
            for k in got.arrays:
                np.testing.assert_array_equal(got.arrays[k], states[symbol].arrays[k], err_msg=k)
        assert state_at(storage, "AAA", "stocks", signal_config(config, "stocks"), SESSIONS[0][0] + 30 * NS) is None
    finally:
        storage.close()


def process_symbol_keys(cfg: object) -> list[str]:
    from udx.pipeline import initial_state

    return list(initial_state(cfg))  # type: ignore[arg-type]


def test_daily_metrics_of_old_days_written_late(one_run, tmp_path: Path, caplog) -> None:
    """A symbol whose trades of finished days arrive after those days' metrics were written gets its metrics
    in the next run of the same process (the run names the oldest bar it wrote)."""
    path = tmp_path / "late.duckdb"
    storage, config = open_db(path)
    try:
        load(storage, 0, LAST_TS + 1, without="X:BBB")
        run_transform(storage, config)
        storage.append_trades(table([r for r in ALL if r[1] == "X:BBB"]))
        with caplog.at_level(logging.INFO, logger="udx.transform"):
            run_transform(storage, config)
    finally:
        storage.close()
    assert dump(path) == dump(one_run[0])
    late = [r for r in dump(path)[2] if r[0] == "X:BBB"]
    assert len(late) == 3  # the three days the watermark finished
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("daily metrics")] == \
        ["daily metrics of 3 final symbol day(s) written"]


# --- The realized-spread rows against tests/reference (issue 16 point 4: _compute_symbol's realized call) ------

def _book(symbol: str, rows: list[tuple]) -> list[tuple[int, float, float]]:
    """``symbol``'s NBBO every 20 s around its last trade price (10 bp wide), as ``(ts, bid, ask)``."""
    mine = sorted((r for r in rows if r[1] == symbol), key=lambda r: r[2])
    ts = np.array([r[2] for r in mine])
    px = np.array([r[3] for r in mine])
    out = []
    for t in range(int(ts[0]), FINAL, 20 * NS):
        k = int(np.searchsorted(ts, t, side="right")) - 1
        while k >= 0 and not (np.isfinite(px[k]) and px[k] > 0):  # quote around the last valid price
            k -= 1
        if k >= 0:
            out.append((t + 7, float(px[k]) * 0.9995, float(px[k]) * 1.0005))
    return out


def append_book(storage: object, market: str, symbol: str, book: list[tuple[int, float, float]]) -> None:
    n = len(book)
    t = pa.array([r[0] for r in book], pa.int64())
    storage.append_quotes(pa.Table.from_arrays(  # type: ignore[attr-defined]
        [pa.array([market] * n), pa.array([symbol] * n), t, pa.array([r[1] for r in book], pa.float64()),
         pa.array([100.0] * n), pa.array([r[2] for r in book], pa.float64()), pa.array([200.0] * n),
         pa.array([1] * n, pa.int32()), pa.array([2] * n, pa.int32()), pa.nulls(n, pa.string()),
         pa.array(np.arange(n, dtype=np.int64)), pa.nulls(n, pa.int32()), t, pa.array(["sim"] * n)],
        schema=QUOTES_SCHEMA))


REALIZED = ("SELECT symbol, bar_end_ns, bar_seconds, horizon_seconds, n_trades, matched_volume, realized_spread, "
            "price_impact, tick_price, tick_sign FROM bar_realized_spread ORDER BY symbol, bar_end_ns")


def realized_reference(symbol: str, rows: list[tuple], book: list[tuple[int, float, float]], ends: list[int],
                       bar_s: int, horizon_s: int, stale_s: float) -> list[tuple]:
    """``bar_realized_spread`` rows of ``symbol``'s bars ending at ``ends`` from tests/reference alone: its valid
    prints (a finite price > 0; cancelled and other neither-kind prints left out, README "Trades and quotes")
    signed by ``reference/quotes.py`` (quote rule, tick rule at the midpoint or without a usable quote, the tick
    state moved by price-setting prints only), realized spread and price impact per trade and their size-weighted
    bar means over the prints that count in volume (``reference/realized.py``), and the tick state after each
    bar's prints (``reference/realized.tick_state_after``). Bars are ``[end - bar, end)``."""
    from reference import quotes as rq
    from reference import realized as rr

    rules = rb.condition_rules()
    valid = []
    for seq, (market, s, t, p, size, tid, cond, corr) in enumerate(rows):
        if s == symbol and np.isfinite(p) and p > 0:
            sets_price, counts_volume = rb.eligibility(market, cond, corr, rules)
            if sets_price or counts_volume:
                valid.append({"market": market, "symbol": s, "ts_ns": t, "price": p, "size": size, "exchange": 1,
                              "trade_id": tid, "conditions": cond, "correction": corr, "sequence": seq,
                              "sets_price": sets_price, "counts_volume": counts_volume})
    valid.sort(key=rq.trade_order)
    quotes = [{"symbol": symbol, "ts_ns": t, "bid_price": b, "ask_price": a, "sequence": k, "received_ns": t}
              for k, (t, b, a) in enumerate(book)]
    stale_ns = round(stale_s * NS)
    signed = rq.trades_against_quotes(valid, quotes, stale_ns)
    trades = [(v["ts_ns"], v["price"], signed[(symbol, 1, v["trade_id"])].trade_side) for v in valid]
    values = rr.trade_values(trades, book, horizon_s * NS, stale_ns)
    weights = [v["size"] if v["counts_volume"] else 0.0 for v in valid]
    means = rr.bar_means([(e - bar_s * NS, e) for e in ends], trades, weights, values)
    out = []
    for end, (spread, impact, n, volume) in zip(ends, means, strict=True):
        before = [v for v in valid if v["ts_ns"] < end]
        tick_price, tick_sign = rr.tick_state_after([v["price"] for v in before], [v["sets_price"] for v in before])
        out.append((symbol, end, bar_s, horizon_s, n, volume, spread, impact, tick_price, tick_sign))
    return out


def assert_realized_equal(got: list[tuple], want: list[tuple]) -> None:
    """Keys, counts and the tick state exactly; matched volume to 1e-12 and the two means to 1e-9 relative (the
    project sums in another order); a mean without weight is NULL in the table and NaN in the reference."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:5] == w[:5] and g[8:] == w[8:], (g, w)
        assert g[5] == pytest.approx(w[5], rel=1e-12, abs=0.0), (g, w)
        for x, y in zip(g[6:8], w[6:8], strict=True):
            if y is None or np.isnan(y):
                assert x is None or np.isnan(x), (g, w)
            else:
                assert x == pytest.approx(y, rel=1e-9, abs=1e-15), (g, w)


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_the_realized_spread_rows_equal_the_reference(one_run, symbol: str) -> None:
    """One run's ``bar_realized_spread`` rows, value by value, against tests/reference: a row for every bar the
    watermark passed by the horizon, and its counts, means and tick state (AAA has quotes, so its means are
    defined; the crypto pairs have none: no trade has a midpoint, but their tick state is still kept)."""
    path, summary, _ = one_run
    config = settings(path)
    horizon = config.liquidity_horizon_seconds
    with duckdb.connect(str(path), read_only=True) as con:
        got = [r for r in con.execute(REALIZED).fetchall() if r[0] == symbol]
        bars = [e for (e,) in con.execute("SELECT bar_end_ns FROM trading_signals WHERE symbol = ? ORDER BY 1",
                                          [symbol]).fetchall()]
    ends = [e for e in bars if e + horizon * NS <= summary.watermark_ns]
    assert [r[1] for r in got] == ends and len(ends) > 150
    want = realized_reference(symbol, ALL, QUOTES if symbol == "AAA" else [], ends, 60, horizon,
                              config.quote_stale_seconds)
    assert_realized_equal(got, want)
    if symbol == "AAA":
        assert sum(r[4] for r in got) > 300 and sum(1 for r in got if r[6] is not None) > 100
    else:
        assert all(r[4] == 0 for r in got)


def test_realized_rows_of_a_market_on_its_own_session_grid(tmp_path: Path) -> None:
    """A crypto pair whose session opens a minute after the stocks' session, on two-minute bars: each realized
    row covers its bar of the crypto grid (``[end - 120 s, end)``), not a bar cut at the stocks' grid."""
    rows = [r for r in ALL if r[1] == "X:BBB"]
    book = _book("X:BBB", rows)
    path = tmp_path / "grid.duckdb"
    storage, config = open_db(path, bar_seconds=120, session_crypto="09:31-10:31 America/New_York")
    try:
        storage.append_trades(table(rows))
        append_book(storage, "crypto", "X:BBB", book)
        summary = run_transform(storage, config)
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        got = con.execute(REALIZED).fetchall()
    ends = [r[1] for r in got]
    assert len(ends) > 80 and all((e - SESSIONS[0][0]) % (120 * NS) == 60 * NS for e in ends)  # the crypto grid
    assert max(ends) + config.liquidity_horizon_seconds * NS <= summary.watermark_ns
    assert_realized_equal(got, realized_reference("X:BBB", rows, book, ends, 120, config.liquidity_horizon_seconds,
                                                  config.quote_stale_seconds))
    assert sum(r[4] for r in got) > 200


def test_bars_due_after_the_close_get_their_realized_rows_in_a_run_without_new_bars(one_run, tmp_path: Path) -> None:
    """After the second session's close, a run whose watermark passed the close by the horizon writes the realized
    rows of the session's last bars, though no symbol can write a bar before the third session: it reads no
    print for signals (the summary's trades are the prints the signals read) and writes no bar; the rows equal
    those of one run over everything."""
    close = SESSIONS[1][1]
    path = tmp_path / "close.duckdb"
    storage, config = open_db(path)
    try:
        load(storage, 0, close + 60 * NS)
        first = run_transform(storage, config)
        load(storage, close + 60 * NS, close + 6 * 60 * NS)
        storage.append_trades(table([("crypto", "X:CCC", close + 6 * 60 * NS, 1.0, 1.0, "after", None, None)]))
        second = run_transform(storage, config)
    finally:
        storage.close()
    assert first.bars > 0 and first.watermark_ns < close + config.liquidity_horizon_seconds * NS
    assert (second.symbols, second.bars, second.fits, second.trades) == (0, 0, 0, 0)
    assert second.watermark_ns == close + 6 * 60 * NS - 2 * NS
    sig, _, _, _, realized = dump(path)
    want = [r for r in dump(one_run[0])[4] if r[1] <= close]
    assert realized == want
    assert {(r[0], r[1]) for r in realized} == {(r[0], r[1]) for r in sig}  # every bar, the last ones included
    assert len([r for r in realized if r[1] + config.liquidity_horizon_seconds * NS > first.watermark_ns]) >= 3 * 4


class _NoDailyMetrics:
    """A storage that keeps no daily metrics: the DuckDB storage without ``write_daily_metrics``."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        if name == "write_daily_metrics":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_a_storage_without_daily_metrics_runs_and_the_seconds_are_the_runs_own(tmp_path: Path) -> None:
    """The transform runs on a storage that keeps no daily metrics (the other tables are written); and the
    summary's seconds are those of the call: at least 0 and at most the time measured around it (a bound, not a
    speed)."""
    import time

    path = tmp_path / "nodaily.duckdb"
    storage, config = open_db(path)
    try:
        storage.append_trades(table([r for r in ALL if r[1] == "X:CCC"]))
        before = time.perf_counter()
        summary = run_transform(_NoDailyMetrics(storage), config)
        outer = time.perf_counter() - before
        empty, empty_config = open_db(tmp_path / "empty.duckdb")
        try:
            before = time.perf_counter()
            nothing = run_transform(empty, empty_config)
            empty_outer = time.perf_counter() - before
        finally:
            empty.close()
    finally:
        storage.close()
    sig, _, daily, _, _ = dump(path)
    assert summary.bars == len(sig) > 150 and daily == []
    assert 0 <= summary.seconds <= outer
    assert nothing.watermark_ns is None and 0 <= nothing.seconds <= empty_outer
