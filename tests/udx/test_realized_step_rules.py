"""udx.realized_step called directly (no transform run, milliseconds a test): the tick state after each bar, the
bar starts of the session grid, one symbol's rows, the due bars per symbol and the plan's methods.

The expected values come from tests/reference/realized.py (Huang-Stoll realized spread and price impact, the
tick state) on hand-built prints whose Lee-Ready sides are set by hand from the quote rule (above the prevailing
midpoint: buy, below: sell, at it: the tick rule), and from the module's documented contract (a bar is due when
it ends at or before the watermark minus the horizon; prints resume at the newest row's bar end, quotes
``QUOTE_STALE_SECONDS`` before them).
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sql.contract import BAR_REALIZED_SPREAD_SCHEMA
from sql.settings import Settings
from tests.reference import liquidity as ref_liquidity
from tests.reference import realized as ref
from udx import realized_step
from udx.liquidity_step import Quotes, Signing
from udx.nbbo import CarriedQuote, prevailing_quotes
from udx.realized_step import RealizedPlan, plan_realized, tick_states_after
from udx.trade_sign import TickState, lee_ready

NS = 10**9
BAR = 60
H = 30
STALE = 100.0
DAY = 1_750_032_000 * NS  # Monday 2025-06-16 00:00 UTC
T0 = DAY + 10 * 3_600 * NS  # a bar boundary of the 24-hour UTC session


def _settings(**extra: object) -> Settings:
    values: dict[str, object] = {"bar_seconds": BAR, "liquidity_horizon_seconds": H, "quote_stale_seconds": STALE,
                                 "session_stocks": "00:00-24:00 UTC", **extra}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- tick_states_after -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_tick_states_after_each_count_are_the_tick_rules_over_the_price_setting_prints(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    px = 10 + rng.integers(-2, 3, n) * 0.01
    flags = rng.random(n) < 0.7 if seed % 3 else None
    before = [TickState(), TickState(10.0, -1), TickState(10.01, 1)][seed % 3]
    counts = np.sort(rng.integers(0, n + 1, 12))
    counts[0], counts[-1] = 0, n  # nothing seen yet, and everything
    got_price, got_tick = tick_states_after(px, before, counts, flags)
    assert got_price.dtype == np.float64 and got_tick.dtype == np.int32
    sets = [True] * n if flags is None else flags.tolist()
    before_price = None if math.isnan(before.last_price) else before.last_price
    for k, p, s in zip(counts.tolist(), got_price.tolist(), got_tick.tolist(), strict=True):
        want_price, want_tick = ref.tick_state_after(px[:k].tolist(), sets[:k], before_price, before.last_tick)
        assert (p == want_price or (want_price is None and math.isnan(p))) and s == want_tick, (k, p, s)


def test_a_print_that_may_not_set_the_price_leaves_the_state_as_it_was() -> None:
    px = np.array([10.00, 10.05, 9.90, 10.01])
    price, tick = tick_states_after(px, TickState(10.02, 1), np.array([1, 2, 3, 4]),
                                    np.array([True, False, False, True]))
    # 10.00 (down from 10.02), 10.05 and 9.90 ignored, 10.01 (up from 10.00)
    assert price.tolist() == [10.00, 10.00, 10.00, 10.01] and tick.tolist() == [-1, -1, -1, 1]


def test_an_unchanged_price_keeps_the_last_non_zero_change() -> None:
    price, tick = tick_states_after(np.array([10.0, 10.0, 10.0, 9.99, 9.99]), TickState(9.99, -1),
                                    np.array([1, 2, 3, 4, 5]))
    assert price.tolist() == [10.0, 10.0, 10.0, 9.99, 9.99] and tick.tolist() == [1, 1, 1, -1, -1]
    price, tick = tick_states_after(np.array([10.0, 10.0]), TickState(10.0, -1), np.array([2]))
    assert price.tolist() == [10.0] and tick.tolist() == [-1]  # equal to the carried price: the carried sign


def test_no_prints_leave_the_state_before() -> None:
    price, tick = tick_states_after(np.empty(0), TickState(10.0, 1), np.array([0, 0]))
    assert price.tolist() == [10.0, 10.0] and tick.tolist() == [1, 1]
    price, tick = tick_states_after(np.array([10.0]), TickState(10.0, -1), np.array([0, 1]), np.array([False]))
    assert price.tolist() == [10.0, 10.0] and tick.tolist() == [-1, -1]
    price, tick = tick_states_after(np.array([10.0, 10.1]), TickState(), np.array([1, 2]))
    assert price.tolist() == [10.0, 10.1] and tick.tolist() == [0, 1]  # the first print alone: no change yet


# --- _starts ---------------------------------------------------------------------------------------------------


def _at(day: str, hhmm: str, zone: str) -> int:
    return int(dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ZoneInfo(zone)).timestamp()) * NS


def test_bar_starts_follow_each_sessions_grid_and_a_short_last_bar() -> None:
    """New York 09:30-16:00 on two days (the session's 390 minutes are 55 bars of 7 minutes and one of 5), the
    last bar ending at the close."""
    bar = 7 * 60 * NS
    ends, want = [], []
    for day in ("2024-03-08", "2024-03-11"):  # the Friday before US DST and the Monday after
        open_, close = _at(day, "09:30", "America/New_York"), _at(day, "16:00", "America/New_York")
        for k in (1, 2, 30):
            ends.append(open_ + k * bar)
            want.append(open_ + (k - 1) * bar)
        ends.append(open_ + 30 * bar + 1)  # a bar end off the grid: the grid point before it
        want.append(open_ + 30 * bar)
        ends.append(close)
        want.append(open_ + 55 * bar)
    got = realized_step._starts(np.array(ends, np.int64), "09:30-16:00 America/New_York", bar)
    assert_array_equal(got, want)


def test_bar_starts_of_a_day_long_session_at_midnight() -> None:
    bar = BAR * NS
    ends = np.array([DAY + bar, DAY + 86_400 * NS, DAY + 86_400 * NS + bar, DAY + 2 * 86_400 * NS], np.int64)
    got = realized_step._starts(ends, "00:00-24:00 UTC", bar)
    assert_array_equal(got, ends - bar)


# --- _due_by_symbol --------------------------------------------------------------------------------------------


def test_the_due_bars_are_split_by_symbol_in_order() -> None:
    due = pa.Table.from_batches([
        pa.record_batch({"symbol": ["AAA", "AAA", "BBB"], "bar_end_ns": pa.array([1, 2, 5], pa.int64())}),
        pa.record_batch({"symbol": ["BBB", "CCC"], "bar_end_ns": pa.array([7, 9], pa.int64())}),
    ])
    got = realized_step._due_by_symbol(due)
    assert list(got) == ["AAA", "BBB", "CCC"]
    assert [v.tolist() for v in got.values()] == [[1, 2], [5, 7], [9]]
    assert all(v.dtype == np.int64 for v in got.values())
    empty = pa.table({"symbol": pa.array([], pa.string()), "bar_end_ns": pa.array([], pa.int64())})
    assert realized_step._due_by_symbol(empty) == {}


# --- one symbol's rows -----------------------------------------------------------------------------------------

# quotes (s after T0, bid, ask); prints (s after T0, price, size, may set the price, counts in volume, side)
QUOTES = [(0, 9.99, 10.01), (40, 10.00, 10.02), (70, 10.02, 10.04), (100, 10.01, 10.03), (150, 9.98, 10.00),
          (200, 10.00, 10.02), (260, 10.01, 10.03)]
PRINTS = [
    (5, 10.01, 100.0, True, True, 1),      # mid 10.00: buy
    (20, 9.99, 200.0, True, True, -1),     # sell
    (45, 10.02, 300.0, True, False, 1),    # mid 10.01: buy, not in volume (weight 0)
    (65, 10.00, 100.0, False, True, -1),   # mid 10.01: sell; may not set the price
    (80, 10.04, 50.0, True, True, 1),      # mid 10.03: buy
    (110, 10.01, 100.0, True, True, -1),   # mid 10.02: sell
    (130, 10.02, 100.0, True, True, 1),    # at the mid 10.02: tick rule, up from 10.01
    (170, 9.98, 100.0, True, True, -1),    # mid 9.99: sell
    (179, 10.00, 100.0, False, True, 1),   # mid 9.99: buy
    (185, 10.05, 100.0, True, True, 1),    # after the last due bar: not read
    (230, 10.00, 100.0, True, True, -1),
]


def _quotes(rows: list[tuple[int, float, float]] = QUOTES) -> Quotes:
    return Quotes(np.array([T0 + s * NS for s, _, _ in rows], np.int64), np.array([b for _, b, _ in rows]),
                  np.array([a for _, _, a in rows]), np.full(len(rows), 100.0), np.full(len(rows), 100.0))


def _trades(rows: list[tuple] = PRINTS) -> tuple[np.ndarray, ...]:
    return (np.array([T0 + r[0] * NS for r in rows], np.int64), np.array([r[1] for r in rows]),
            np.array([r[2] for r in rows]), np.array([r[3] for r in rows]), np.array([r[4] for r in rows]))


def _want(ends_s: list[int], before: TickState, rows: list[tuple] = PRINTS, horizon: int = H,
          stale: float = STALE) -> list[tuple]:
    """The expected columns from tests/reference/realized.py, for bars ending at ``ends_s`` (s after T0)."""
    trades = [(T0 + r[0] * NS, r[1], r[5]) for r in rows]
    sizes = [r[2] if r[4] else 0.0 for r in rows]
    quotes = [(T0 + s * NS, b, a) for s, b, a in QUOTES]
    values = ref.trade_values(trades, quotes, horizon * NS, round(stale * NS))
    bars = [(T0 + (e - BAR) * NS, T0 + e * NS) for e in ends_s]
    means = ref.bar_means(bars, trades, sizes, values)
    out = []
    for (_, end), (rs, pi, n, vol) in zip(bars, means, strict=True):
        seen = [r for r in rows if T0 + r[0] * NS < end]
        before_price = None if math.isnan(before.last_price) else before.last_price
        price, tick = ref.tick_state_after([r[1] for r in seen], [r[3] for r in seen], before_price,
                                           before.last_tick)
        out.append((end, rs, pi, n, vol, math.nan if price is None else price, tick))
    return out


def _check(table: pa.Table, want: list[tuple], symbol: str = "XYZ", computed_at: int = 77,
           horizon: int = H) -> None:
    assert table.schema == BAR_REALIZED_SPREAD_SCHEMA
    col = table.to_pydict()
    m = len(want)
    assert col["symbol"] == [symbol] * m and col["bar_end_ns"] == [w[0] for w in want]
    assert col["bar_seconds"] == [BAR] * m and col["horizon_seconds"] == [horizon] * m
    assert col["computed_at_ns"] == [computed_at] * m
    assert col["n_trades"] == [w[3] for w in want]
    assert_allclose(col["matched_volume"], [w[4] for w in want], rtol=1e-12)
    nan = [math.nan if v is None else v for v in col["realized_spread"]]
    assert_allclose(nan, [w[1] for w in want], rtol=1e-9, atol=1e-15, equal_nan=True)
    nan = [math.nan if v is None else v for v in col["price_impact"]]
    assert_allclose(nan, [w[2] for w in want], rtol=1e-9, atol=1e-15, equal_nan=True)
    prices = [math.nan if v is None else v for v in col["tick_price"]]
    assert_allclose(prices, [w[5] for w in want], rtol=0, equal_nan=True)
    assert col["tick_sign"] == [w[6] for w in want]


def test_the_hand_sides_are_those_of_the_quote_and_tick_rules() -> None:
    ts, px, _, ok, _ = _trades()
    q = _quotes()
    now = prevailing_quotes(ts, q.ts, q.bid, q.ask, round(STALE * NS))
    assert lee_ready(px, now.bid, now.ask, now.flags, TickState(), ok).side.tolist() == [r[5] for r in PRINTS]


def _plan(due: dict[str, list[int]] | None = None, resume: dict[str, dict] | None = None,
          until_s: int = 180, **extra: object) -> RealizedPlan:
    return RealizedPlan({k: np.array([T0 + e * NS for e in v], np.int64) for k, v in (due or {}).items()},
                        resume or {}, T0 + until_s * NS, _settings(**extra), 77)


def test_the_rows_of_stored_due_bars_are_the_references() -> None:
    plan = _plan({"XYZ": [60, 120, 180]})
    table = plan.rows("XYZ", "stocks", np.empty(0, np.int64), _trades(), _quotes())
    _check(table, _want([60, 120, 180], TickState()))
    assert table.column("n_trades").to_pylist() == [2, 3, 3]  # the print out of volume (at 45 s) is not matched


def test_stored_and_new_bars_are_written_together_up_to_the_watermark_minus_the_horizon() -> None:
    plan = _plan({"XYZ": [60]}, until_s=180)
    new = np.array([T0 + 120 * NS, T0 + 180 * NS, T0 + 240 * NS], np.int64)  # 240 is not due yet
    _check(plan.rows("XYZ", "stocks", new, _trades(), _quotes()), _want([60, 120, 180], TickState()))
    only_new = _plan({}, until_s=180).rows("XYZ", "stocks", new, _trades(), _quotes())
    _check(only_new, _want([120, 180], TickState()))
    just_before = _plan({}, until_s=179).rows("XYZ", "stocks", new, _trades(), _quotes())
    _check(just_before, _want([120], TickState()))


def test_no_due_bar_gives_no_rows() -> None:
    plan = _plan({"OTHER": [60]}, until_s=100)
    assert plan.rows("XYZ", "stocks", np.array([T0 + 120 * NS], np.int64), _trades(), _quotes()) is None
    assert plan.rows("XYZ", "stocks", np.empty(0, np.int64), _trades(), _quotes()) is None


@pytest.mark.parametrize("before", [TickState(10.03, 1), TickState(math.nan, -1), TickState(10.0, -1)])
def test_a_symbol_resumed_after_its_newest_row_gets_the_rows_of_its_later_prints(before: TickState) -> None:
    rows = [r for r in PRINTS if r[0] >= 60]
    price = None if math.isnan(before.last_price) else before.last_price
    plan = _plan({"XYZ": [120, 180]}, {"XYZ": {"symbol": "XYZ", "bar_end_ns": T0 + 60 * NS, "tick_price": price,
                                               "tick_sign": before.last_tick}})
    table = plan.rows("XYZ", "stocks", np.empty(0, np.int64), _trades(rows), _quotes())
    _check(table, _want([120, 180], before, rows))


@pytest.mark.parametrize(("before", "side"), [((10.03, 1), -1), ((10.01, -1), 1), ((None, -1), -1), ((10.02, 1), 1)])
def test_the_carried_tick_state_signs_a_midpoint_print_and_stands_after_prints_that_set_no_price(
        before: tuple[float | None, int], side: int) -> None:
    """Resumed after the bar ending at 60 s with only two prints: one that may not set the price (65 s, below the
    mid: a sell by the quote rule) and one at the midpoint (130 s: the tick rule against the carried state, the
    print at 65 s not entering it). The tick state after the first bar is the carried one."""
    assert ref_liquidity.tick_sides([10.00, 10.02], [False, True], before[0], before[1])[1] == side
    rows = [PRINTS[3], (*PRINTS[6][:5], side)]
    plan = _plan({"XYZ": [120, 180]}, {"XYZ": {"symbol": "XYZ", "bar_end_ns": T0 + 60 * NS, "tick_price": before[0],
                                               "tick_sign": before[1]}})
    table = plan.rows("XYZ", "stocks", np.empty(0, np.int64), _trades(rows), _quotes())
    state = TickState(math.nan if before[0] is None else before[0], before[1])
    _check(table, _want([120, 180], state, rows))
    first = table.to_pydict()
    assert (first["tick_price"][0], first["tick_sign"][0]) == before  # None: no price-setting print yet


def test_a_bar_without_matched_prints_and_a_state_without_a_price_are_null_not_nan() -> None:
    plan = _plan({"XYZ": [60, 240]}, until_s=240)
    rows = [PRINTS[3]]  # one print, in the first bar, that sets no price
    table = plan.rows("XYZ", "stocks", np.empty(0, np.int64), _trades(rows), _quotes())
    got = table.to_pydict()
    assert got["n_trades"] == [0, 0] and got["matched_volume"] == [0.0, 0.0]  # 65 s is after the bar ending at 60
    assert got["realized_spread"] == [None, None] and got["price_impact"] == [None, None]
    assert got["tick_price"] == [None, None] and got["tick_sign"] == [0, 0]
    assert table.column("realized_spread").null_count == 2


def test_the_rows_read_the_horizon_and_stale_limit_of_the_settings() -> None:
    plan = _plan({"XYZ": [60, 120, 180]}, liquidity_horizon_seconds=55, quote_stale_seconds=35.5)
    table = plan.rows("XYZ", "stocks", np.empty(0, np.int64), _trades(), _quotes())
    want = _want([60, 120, 180], TickState(), horizon=55, stale=35.5)
    _check(table, want, horizon=55)
    assert want != _want([60, 120, 180], TickState())  # both settings change some value here


def test_a_bar_starts_on_the_grid_of_its_markets_session() -> None:
    """Two-minute bars and a stocks session opening at 10:01 UTC: the bar ending at T0 + 180 s started at T0 + 60 s
    (six prints with weight); on the crypto session's grid (24 h, from midnight) it started at T0 + 120 s (three)."""
    plan = _plan({"XYZ": [180]}, bar_seconds=120, session_stocks="10:01-16:00 UTC")
    stocks = plan.rows("XYZ", "stocks", np.empty(0, np.int64), _trades(), _quotes()).to_pydict()
    crypto = plan.rows("XYZ", "crypto", np.empty(0, np.int64), _trades(), _quotes()).to_pydict()
    assert stocks["n_trades"] == [6] and crypto["n_trades"] == [3] and stocks["bar_seconds"] == [120]
    trades = [(T0 + r[0] * NS, r[1], r[5]) for r in PRINTS]
    values = ref.trade_values(trades, [(T0 + s * NS, b, a) for s, b, a in QUOTES], H * NS, round(STALE * NS))
    sizes = [r[2] if r[4] else 0.0 for r in PRINTS]
    for got, start in ((stocks, 60), (crypto, 120)):
        want = ref.bar_means([(T0 + start * NS, T0 + 180 * NS)], trades, sizes, values)[0]
        assert_allclose([got["realized_spread"][0], got["price_impact"][0]], want[:2], rtol=1e-9)


def _signing(ts: np.ndarray, px: np.ndarray, ok: np.ndarray, quotes: Quotes, tick: TickState,
             flip: bool = False) -> Signing:
    now = prevailing_quotes(ts, quotes.ts, quotes.bid, quotes.ask, round(STALE * NS))
    signed = lee_ready(px, now.bid, now.ask, now.flags, tick, ok)
    if flip:
        signed = type(signed)(-signed.side, signed.flags, signed.state)
    return Signing(ts, px, quotes, CarriedQuote(), tick, now, signed, ok)


def test_a_signing_that_provably_holds_reused_and_one_that_does_not_is_ignored() -> None:
    ts, px, sz, ok, vol = _trades()
    q = _quotes()
    plan = _plan({"XYZ": [60, 120, 180]})
    want = _want([60, 120, 180], TickState())
    _check(plan.rows("XYZ", "stocks", np.empty(0, np.int64), (ts, px, sz, ok, vol), q, _signing(ts, px, ok, q,
                                                                                              TickState())), want)
    # the same inputs with every side flipped: the rows take the signing's sides, so they show its use
    flipped = plan.rows("XYZ", "stocks", np.empty(0, np.int64), (ts, px, sz, ok, vol), q,
                        _signing(ts, px, ok, q, TickState(), flip=True)).to_pydict()
    assert_allclose(flipped["realized_spread"], [-w[1] for w in want], rtol=1e-9)
    # a signing from another tick state is not the same values: computed here
    other = _signing(ts, px, ok, q, TickState(10.5, -1), flip=True)
    _check(plan.rows("XYZ", "stocks", np.empty(0, np.int64), (ts, px, sz, ok, vol), q, other), want)


# --- the plan --------------------------------------------------------------------------------------------------


def test_prints_resume_at_the_newest_rows_end_and_quotes_the_stale_limit_before() -> None:
    plan = _plan({}, {"XYZ": {"symbol": "XYZ", "bar_end_ns": T0 + 60 * NS, "tick_price": 10.0, "tick_sign": 1},
                      "NEW": {"symbol": "NEW", "bar_end_ns": 40 * NS, "tick_price": None, "tick_sign": 0}},
                 quote_stale_seconds=12.25)
    assert plan.trades_from("XYZ") == T0 + 60 * NS and isinstance(plan.trades_from("XYZ"), int)
    assert plan.quotes_from("XYZ") == T0 + 60 * NS - 12_250_000_000
    assert plan.trades_from("ABC") == 0 and plan.quotes_from("ABC") == 0  # no row: from the first print
    assert plan.quotes_from("NEW") == 40 * NS - 12_250_000_000
    early = _plan({}, {"E": {"symbol": "E", "bar_end_ns": 5 * NS, "tick_price": None, "tick_sign": 0}})
    assert early.quotes_from("E") == 0  # never before the epoch


def test_a_symbol_is_wanted_when_stored_bars_are_due_or_its_next_bar_would_be() -> None:
    plan = _plan({"DUE": [60]}, until_s=180)
    assert plan.wants("DUE", T0 + 10_000 * NS)
    assert plan.wants("NEW", None)  # no state yet: its next bar is not known
    assert plan.wants("X", T0 + 180 * NS) and plan.wants("X", T0 + 120 * NS)
    assert not plan.wants("X", T0 + 180 * NS + 1)


class _Storage:
    """A storage with ``realized_spread_due`` (recording its arguments) and ``read_quotes_many``."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def realized_spread_due(self, bar_seconds: int, horizon_seconds: int, until_ns: int) -> tuple[pa.Table, pa.Table]:
        self.calls.append((bar_seconds, horizon_seconds, until_ns))
        due = pa.table({"symbol": ["A", "A", "B"], "bar_end_ns": pa.array([60, 120, 60], pa.int64())})
        resume = pa.table({"symbol": ["A", "C"], "bar_end_ns": pa.array([0, 600], pa.int64()),
                           "tick_price": [10.0, None], "tick_sign": pa.array([1, 0], pa.int32())})
        return due, resume

    def read_quotes_many(self) -> None:  # pragma: no cover - only its presence is read
        raise AssertionError


def test_the_plan_of_a_pass_asks_the_storage_for_bars_due_at_the_watermark_minus_the_horizon() -> None:
    storage = _Storage()
    settings = _settings(bar_seconds=120, liquidity_horizon_seconds=45)
    plan = plan_realized(storage, settings, 10_000 * NS, 5)
    assert storage.calls == [(120, 45, 10_000 * NS - 45 * NS)]
    assert plan is not None and plan.until_ns == 10_000 * NS - 45 * NS and plan.computed_at == 5
    assert plan.settings is settings
    assert {k: v.tolist() for k, v in plan.due.items()} == {"A": [60, 120], "B": [60]}
    assert plan.trades_from("C") == 600 and plan.resume["A"]["tick_price"] == 10.0
    assert plan.resume["C"] == {"symbol": "C", "bar_end_ns": 600, "tick_price": None, "tick_sign": 0}


def test_a_storage_that_keeps_no_realized_spreads_has_no_plan() -> None:
    class NoQuotes:
        def realized_spread_due(self, *args: object) -> None:
            raise AssertionError

    assert plan_realized(object(), _settings(), NS, 1) is None
    assert plan_realized(NoQuotes(), _settings(), NS, 1) is None
