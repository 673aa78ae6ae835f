"""The synthetic market's session mode, thin symbols, clustering switch, jump truth and bad prints."""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import udx
from ingest.synthetic_market import (
    ERRONEOUS_CORRECTION,
    NS_PER_DAY,
    NS_PER_MIN,
    THIN_SYMBOLS,
    SymbolSpec,
    SyntheticMarket,
    session_intensity,
    session_variance,
)
from sql.contract import TRADES_SCHEMA

NEW_YORK = functools.partial(udx.session_bounds, "09:30-16:00 America/New_York")
JAN_2 = 1_704_153_600 * 10**9  # 2024-01-02 00:00 UTC, a Tuesday
L = 390
MINUTE_MID = (np.arange(L) + 0.5) / L


def utc_ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * 10**9


def liquid(n: int, tpm: float, vol: float = 0.02) -> tuple[SymbolSpec, ...]:
    """``n`` stocks at $400, one-tick spread: the cent grid and the bounce hardly touch 1-minute returns."""
    return tuple(SymbolSpec(f"L{i:02d}", "stocks", 400.0, vol, 1.0, 1, 3, trades_per_minute=tpm)
                 for i in range(n))


def of(table: pa.Table, symbol: str) -> pa.Table:
    return table.filter(pc.equal(table["symbol"], symbol))


def minute_log_prices(trades: pa.Table, symbol: str, opens: np.ndarray) -> np.ndarray:
    """Previous-tick log price at the end of each minute of each full session: shape (sessions, 390)."""
    t = of(trades, symbol)
    ts, price = t["ts_ns"].to_numpy(), t["price"].to_numpy()
    ends = opens[:, None] + NS_PER_MIN * np.arange(1, L + 1)
    last = np.searchsorted(ts, ends, side="left") - 1
    assert np.all(last >= 0)
    return np.log(price[last])


@pytest.fixture(scope="module")
def shape_run() -> tuple[pa.Table, np.ndarray, np.ndarray, tuple[SymbolSpec, ...]]:
    """20 stocks × 21 New York sessions, no clustering, no jumps: only the intraday shapes are left."""
    specs = liquid(20, 20.0)
    market = SyntheticMarket(1, 1.0, specs, session_bounds=NEW_YORK, clustering=False, jumps_per_day=0)
    trades, _ = market.history(JAN_2, JAN_2 + 30 * NS_PER_DAY)
    opens, closes = NEW_YORK(JAN_2, JAN_2 + 30 * NS_PER_DAY)
    return trades, opens, closes, specs


# --- shapes -------------------------------------------------------------------------------------------------


def test_the_documented_shapes_hit_their_targets_and_average_one_over_a_session():
    vol = np.sqrt(session_variance(np.array([0.0, 0.5, 1.0])))
    np.testing.assert_allclose(vol, [2.4, 0.85, 1.37], rtol=0.02)
    np.testing.assert_allclose(session_intensity(np.array([0.0, 0.5, 1.0])), [2.0, 0.75, 2.2], rtol=0.03)
    assert session_variance(MINUTE_MID).mean() == pytest.approx(1.0, abs=1e-12)
    assert session_intensity(MINUTE_MID).mean() == pytest.approx(1.0, abs=1e-12)


def test_realized_minute_variance_is_u_shaped_as_documented(shape_run):
    trades, opens, _, specs = shape_run
    r = np.concatenate([np.diff(minute_log_prices(trades, s.symbol, opens), axis=1) for s in specs])
    rv = (r**2).mean(axis=0)  # minute k + 1 of the session, k = 0..388
    v = session_variance(MINUTE_MID)[1:]
    windows = {"open": slice(0, 5), "midday": slice(175, 205), "close": slice(379, 389)}
    realized = {k: rv[w].mean() for k, w in windows.items()}
    model = {k: v[w].mean() for k, w in windows.items()}
    # ±15 %: each window averages ≥ 2000 squared Gaussian returns (standard error ≤ 3 %)
    assert realized["open"] / realized["midday"] == pytest.approx(model["open"] / model["midday"], rel=0.15)
    assert realized["close"] / realized["midday"] == pytest.approx(model["close"] / model["midday"], rel=0.15)
    # daily_vol is the standard deviation of a full session's return: the minute variances add up to it
    assert rv.sum() * L / (L - 1) == pytest.approx(0.02**2, rel=0.1)


def test_trade_counts_per_minute_are_u_shaped_as_documented(shape_run):
    trades, opens, _, specs = shape_run
    ts = trades["ts_ns"].to_numpy()
    session = np.searchsorted(opens, ts, side="right") - 1
    minute = (ts - opens[session]) // NS_PER_MIN
    per_minute = np.bincount(minute, minlength=L) / (len(opens) * len(specs))
    w = session_intensity(MINUTE_MID) * 20.0
    for window in (slice(0, 10), slice(175, 205), slice(380, 390)):
        assert per_minute[window].mean() == pytest.approx(w[window].mean(), rel=0.05)


# --- sessions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [utc_ns(2024, 3, 7), utc_ns(2024, 10, 31)], ids=["march", "november"])
def test_trades_and_quotes_happen_only_inside_sessions_across_dst(start):
    end = start + 6 * NS_PER_DAY
    market = SyntheticMarket(2, 1.0, liquid(2, 5.0) + THIN_SYMBOLS, session_bounds=NEW_YORK)
    trades, quotes = market.history(start, end)
    opens, closes = NEW_YORK(start, end)
    assert len(opens) == 4  # Thu, Fri, Mon, Tue
    # the clocks change on the weekend: 14:30 UTC opens before it, 13:30 after (the other way in November)
    assert len({o // 10**9 % 86_400 for o in opens}) == 2
    for table in (trades, quotes):
        ts = table["ts_ns"].to_numpy()
        k = np.searchsorted(opens, ts, side="right") - 1
        assert np.all(k >= 0) and np.all(ts < closes[k])
    ts = of(trades, "L00")["ts_ns"].to_numpy()
    for o, c in zip(opens, closes, strict=True):  # every session trades from its open to its close
        assert np.any((ts >= o) & (ts < o + 5 * NS_PER_MIN))
        assert np.any((ts >= c - 5 * NS_PER_MIN) & (ts < c))


def test_a_half_day_closes_early_with_the_same_shape_by_time_since_the_open():
    half_day = utc_ns(2024, 11, 29, 18)  # the day after Thanksgiving closes at 13:00 New York time

    def bounds(start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]:
        opens, closes = NEW_YORK(start_ns, end_ns)
        closes = np.where((closes > half_day) & (closes - half_day < NS_PER_DAY // 2), half_day, closes)
        return opens, closes

    start = utc_ns(2024, 11, 29)
    market = SyntheticMarket(3, 1.0, liquid(4, 30.0), session_bounds=bounds)
    trades, _ = market.history(start, start + NS_PER_DAY)
    ts = trades["ts_ns"].to_numpy()
    assert ts.max() < half_day and np.any(ts >= half_day - 2 * NS_PER_MIN)
    # 210 minutes of the full-session intensity curve, no close ramp
    expected = 4 * 30.0 * session_intensity(MINUTE_MID[:210]).sum()
    assert trades.num_rows == pytest.approx(expected, rel=0.1)


def test_live_advance_follows_the_sessions():
    close = utc_ns(2024, 1, 2, 21)  # 16:00 New York time
    market = SyntheticMarket(4, 1.0, liquid(3, 600.0), session_bounds=NEW_YORK)
    market.history(close - 10 * NS_PER_MIN, close - 3 * 10**9)
    events = []
    for step in range(1, 9):
        events += market.advance(close - 3 * 10**9 + step * 10**9)
    times = [e["t"] * 1_000_000 for e in events if e["ev"] == "T"]
    assert times and max(times) < close and min(times) >= close - 3 * 10**9


# --- per-symbol rates ---------------------------------------------------------------------------------------


def test_thin_symbols_trade_at_their_own_rate():
    market = SyntheticMarket(5, 1.0, liquid(1, 30.0) + THIN_SYMBOLS, session_bounds=NEW_YORK)
    trades, _ = market.history(JAN_2, JAN_2 + 60 * NS_PER_DAY)
    n_sessions = len(NEW_YORK(JAN_2, JAN_2 + 60 * NS_PER_DAY)[0])
    for spec in THIN_SYMBOLS:
        per_minute = of(trades, spec.symbol).num_rows / (n_sessions * L)
        # Hawkes bursts make counts ~5× overdispersed: ≥ 3000 trades give a ~4 % standard error
        assert per_minute == pytest.approx(spec.trades_per_minute, rel=0.15), spec.symbol


def test_trades_per_minute_is_over_the_whole_day_in_24_hour_mode():
    specs = (*liquid(1, 1.0), SymbolSpec("X", "stocks", 10.0, 0.02, 1.0, 3, 3))
    trades, _ = SyntheticMarket(6, 2.0, specs).history(JAN_2, JAN_2 + 10 * NS_PER_DAY)
    assert of(trades, "L00").num_rows / (10 * 1440) == pytest.approx(1.0, rel=0.1)
    assert of(trades, "X").num_rows / (10 * 86_400) == pytest.approx(2.0, rel=0.1)  # rate goes to the rest


# --- clustering ---------------------------------------------------------------------------------------------


def squared_return_acf(trades: pa.Table, specs: tuple[SymbolSpec, ...], opens: np.ndarray) -> float:
    """Mean autocorrelation (lags 1–5, within sessions) of squared minute returns over the intraday shape."""
    r = np.concatenate([np.diff(minute_log_prices(trades, s.symbol, opens), axis=1) for s in specs])
    z = r / np.sqrt(session_variance(MINUTE_MID)[1:])
    x = z**2 - (z**2).mean()
    return float(np.mean([np.sum(x[:, :-k] * x[:, k:]) / np.sum(x * x) for k in range(1, 6)]))


def test_without_clustering_squared_returns_are_uncorrelated_and_with_it_they_are_not(shape_run):
    trades, opens, _, specs = shape_run
    flat = squared_return_acf(trades, specs, opens)
    clustered_specs = liquid(10, 20.0)
    market = SyntheticMarket(1, 1.0, clustered_specs, session_bounds=NEW_YORK, jumps_per_day=0)
    clustered = squared_return_acf(market.history(JAN_2, JAN_2 + 30 * NS_PER_DAY)[0], clustered_specs, opens)
    bound = 2 / np.sqrt(len(opens) * len(specs) * (L - 1))  # ~0.005: 95 % band of an iid series
    assert abs(flat) < 3 * bound, flat
    assert clustered > 0.05, clustered


# --- jumps --------------------------------------------------------------------------------------------------


def test_jumps_per_day_zero_means_no_jumps_and_default_jumps_fall_inside_sessions():
    none = SyntheticMarket(7, 1.0, liquid(3, 5.0), session_bounds=NEW_YORK, jumps_per_day=0)
    none.history(JAN_2, JAN_2 + 10 * NS_PER_DAY)
    assert all(none.jumps(f"L{i:02d}").num_rows == 0 for i in range(3))
    some = SyntheticMarket(7, 1.0, liquid(3, 5.0), session_bounds=NEW_YORK)
    some.history(JAN_2, JAN_2 + 10 * NS_PER_DAY)
    opens, closes = NEW_YORK(JAN_2, JAN_2 + 10 * NS_PER_DAY)
    truth = some.jumps("L00")
    assert truth.num_rows >= len(opens)  # 1 + Poisson(1) per session
    t = truth["time_ns"].to_numpy()
    k = np.searchsorted(opens, t, side="right") - 1
    assert np.all(t < closes[k]) and not pc.any(truth["injected"]).as_py()
    assert np.all(np.abs(truth["log_size"].to_numpy()) >= 12 * truth["local_sigma"].to_numpy())


def test_an_injected_jump_shows_in_prices_with_its_size_in_local_sigmas():
    specs = liquid(2, 60.0)
    market = SyntheticMarket(8, 1.0, specs, session_bounds=NEW_YORK, jumps_per_day=0)
    at = {"L00": (utc_ns(2024, 1, 3, 16, 0) + 12_345_678_901, 8.0),  # 11:00 New York time
          "L01": (utc_ns(2024, 1, 4, 14, 31) + 7_000_000_000, -6.0)}  # a minute after the open
    for symbol, (t, sigmas) in at.items():
        market.inject_jump(symbol, t, sigmas)
    trades, quotes = market.history(JAN_2, JAN_2 + 4 * NS_PER_DAY)
    for symbol, (t, sigmas) in at.items():
        truth = market.jumps(symbol).to_pylist()
        assert len(truth) == 1 and truth[0]["injected"] and truth[0]["time_ns"] == t
        assert truth[0]["log_size"] == pytest.approx(sigmas * truth[0]["local_sigma"], rel=1e-12)
        q = of(quotes, symbol)
        mid = np.log((q["bid_price"].to_numpy() + q["ask_price"].to_numpy()) / 2)
        after = int(np.searchsorted(of(trades, symbol)["ts_ns"].to_numpy(), t))  # quote k precedes trade k
        seen = (mid[after] - mid[after - 1]) / truth[0]["local_sigma"]
        assert seen == pytest.approx(sigmas, abs=1.0)  # the diffusion over a second or two adds ~0.2 σ


def test_the_local_sigma_of_a_jump_includes_the_intraday_shape():
    market = SyntheticMarket(9, 1.0, liquid(1, 5.0), session_bounds=NEW_YORK, clustering=False,
                             jumps_per_day=0)
    open_ns = utc_ns(2024, 1, 2, 14, 30)
    for minute in (0, 200, 389):
        market.inject_jump("L00", open_ns + minute * NS_PER_MIN + 10**9, 1.0)
    market.history(JAN_2, JAN_2 + NS_PER_DAY)
    sigma = market.jumps("L00")["local_sigma"].to_numpy()
    expected = 0.02 / np.sqrt(L) * np.sqrt(session_variance(MINUTE_MID[[0, 200, 389]]))
    np.testing.assert_allclose(sigma, expected, rtol=1e-12)


def test_an_injected_jump_outside_the_sessions_is_refused():
    market = SyntheticMarket(9, 1.0, liquid(1, 5.0), session_bounds=NEW_YORK)
    market.inject_jump("L00", utc_ns(2024, 1, 2, 3), 5.0)
    with pytest.raises(ValueError, match="outside every session"):
        market.history(JAN_2, JAN_2 + NS_PER_DAY)


# --- bad prints ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_run() -> tuple[pa.Table, pa.Table, pa.Table, np.ndarray]:
    specs = liquid(5, 20.0)
    market = SyntheticMarket(10, 1.0, specs, session_bounds=NEW_YORK, bad_print_rate=0.02)
    trades, quotes = market.history(JAN_2, JAN_2 + 14 * NS_PER_DAY)
    truth = pa.concat_tables([market.bad_prints(s.symbol).append_column(
        "symbol", pa.repeat(pa.scalar(s.symbol), market.bad_prints(s.symbol).num_rows)) for s in specs])
    return trades, quotes, truth, NEW_YORK(JAN_2, JAN_2 + 14 * NS_PER_DAY)[0]


def test_bad_prints_are_the_requested_fraction_with_the_documented_conditions(bad_run):
    trades, _, truth, _ = bad_run
    assert truth.num_rows / trades.num_rows == pytest.approx(0.02, rel=0.1)
    kind = dict(zip(zip(truth["symbol"].to_pylist(), truth["trade_id"].to_pylist(), strict=True),
                    truth["kind"].to_pylist(), strict=True))
    allowed = {"regular": {None, "37"}, "average_price": {"2", "2,37"}, "prior_reference": {"22", "22,37"},
               "out_of_sequence": {"33", "33,37"}, "erroneous": {None, "37"}}
    rows = trades.select(["symbol", "trade_id", "conditions"]).to_pylist()
    kinds = [kind.get((r["symbol"], r["trade_id"]), "regular") for r in rows]
    assert all(r["conditions"] in allowed[k] for r, k in zip(rows, kinds, strict=True))
    assert set(kinds) == set(allowed)
    if "correction" in TRADES_SCHEMA.names:
        correction = trades["correction"].to_pylist()
        pairs = zip(correction, kinds, strict=True)
        assert all((c == ERRONEOUS_CORRECTION) == (k == "erroneous") for c, k in pairs)
        assert all(c in (0, ERRONEOUS_CORRECTION) for c in correction)


def test_bad_prints_are_priced_stale_or_off_the_market(bad_run):
    trades, quotes, truth, opens = bad_run
    checked = {"average_price": 0, "stale": 0, "erroneous": 0}
    for symbol in ("L00", "L03"):
        t, q = of(trades, symbol), of(quotes, symbol)
        bad = of(truth, symbol)
        kinds = dict(zip(bad["trade_id"].to_pylist(), bad["kind"].to_pylist(), strict=True))
        ids, ts, price = t["trade_id"].to_pylist(), t["ts_ns"].to_numpy(), t["price"].to_numpy()
        mid = (q["bid_price"].to_numpy() + q["ask_price"].to_numpy()) / 2
        regular = np.array([i not in kinds for i in ids])
        reg_ts, reg_price = ts[regular], price[regular]
        for k in np.flatnonzero(~regular):
            kind = kinds[ids[k]]
            if ts[k] < opens[1]:
                continue  # the first session has little past to be stale from
            if kind == "erroneous":
                off = abs(price[k] / mid[k] - 1)
                assert 0.0199 <= off <= 0.1001
                checked["erroneous"] += 1
            elif kind == "average_price":  # a VWAP of the last 10-120 minutes lies within their range
                window = reg_price[(reg_ts >= ts[k] - 120 * NS_PER_MIN) & (reg_ts < ts[k])]
                assert window.min() - 1e-4 <= price[k] <= window.max() + 1e-4
                checked["average_price"] += 1
            else:  # the last regular print at or before t - delay, delay 2 minutes to 4 hours (clock)
                earlier = reg_price[(reg_ts <= ts[k] - 2 * NS_PER_MIN) & (reg_ts >= ts[k] - 240 * NS_PER_MIN)]
                last_before = reg_price[reg_ts < ts[k] - 240 * NS_PER_MIN][-1:]  # after a night: prior close
                assert np.any(np.isclose(np.concatenate([earlier, last_before]), price[k], rtol=0, atol=1e-9))
                checked["stale"] += 1
    assert min(checked.values()) > 20, checked


def test_live_bad_prints_carry_their_conditions_and_none_is_erroneous():
    market = SyntheticMarket(11, 1.0, liquid(2, 600.0), session_bounds=NEW_YORK, bad_print_rate=0.2)
    noon = utc_ns(2024, 1, 2, 17)
    market.history(noon - 30 * NS_PER_MIN, noon)
    before = {s: market.bad_prints(s).num_rows for s in ("L00", "L01")}
    events = []
    for step in range(1, 31):
        events += market.advance(noon + step * 10**9)
    codes = [tuple(e.get("c", ())) for e in events if e["ev"] == "T"]
    assert {c[0] for c in codes if c and c[0] != 37} == {2, 22, 33}
    assert all(set(c) <= {2, 22, 33, 37} for c in codes)
    for symbol, n in before.items():
        live_kinds = market.bad_prints(symbol)["kind"].to_pylist()[n:]
        assert live_kinds and "erroneous" not in live_kinds


# --- determinism --------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_session_tables_and_truth():
    def run(seed: int) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
        market = SyntheticMarket(seed, 1.0, liquid(2, 20.0) + THIN_SYMBOLS, session_bounds=NEW_YORK,
                                 bad_print_rate=0.01)
        market.inject_jump("L01", utc_ns(2024, 1, 3, 17), -7.0)
        trades, quotes = market.history(JAN_2, JAN_2 + 5 * NS_PER_DAY)
        return trades, quotes, market.jumps("L01"), market.bad_prints("L00")

    a, b, c = run(12), run(12), run(13)
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert not a[0].equals(c[0])
