"""Which prints move Lee-Ready's tick state (issues 13, 19): only those that may set the price.

The view ``enriched_market_data`` runs the tick rule over the price-setting prints and compares a print that may
not set the price (an odd lot, condition 37) with the last one that did; the transform's :func:`udx.trade_sign.
lee_ready` and :func:`udx.realized_step.tick_states_after` must do the same, so ``bar_liquidity``'s signed volume
and ``bar_realized_spread``'s tick state agree with the view. Checked on a hand-built series where the two rules
differ (a hand-worked answer), against the plain references (``tests/reference/liquidity.py``,
``tests/reference/realized.py``) on random series, kernel against its plain twin, in pieces against one pass,
and through the transform on a real DuckDB file against the view's ``trade_side``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sql.contract import TRADES_SCHEMA
from sql.settings import Settings
from tests.reference import liquidity as ref_liq
from tests.reference import realized as ref_real
from udx import trade_sign
from udx.realized_step import tick_states_after
from udx.trade_sign import AT_MIDPOINT, TICK_ONLY, TickState, lee_ready

NS = 10**9
# (price, may set the price, side by the view's rule worked by hand, side if every print moved the state)
HAND = [
    (10.00, False, 0, 0),    # no price-setting print yet: the last change, none
    (10.00, True, 0, 0),     # the first price-setting print: no change yet
    (10.01, True, 1, 1),
    (10.03, False, 1, 1),    # odd lot above 10.01: up; the state stays at 10.01, up
    (10.01, True, 1, -1),    # equal to the last price-setting price: the last change, up (not down from 10.03)
    (9.99, False, -1, -1),
    (10.01, True, 1, 1),
    (10.00, True, -1, -1),
    (10.02, False, 1, 1),    # ---- bar 2 from here
    (10.00, True, -1, -1),
    (10.01, False, 1, 1),
    (10.01, False, 1, 1),
    (10.00, True, -1, -1),
    (9.98, False, -1, -1),
    (10.00, True, -1, 1),    # equal to 10.00: down (not up from the odd lot at 9.98)
    (10.00, False, -1, 1),
    (10.01, False, 1, 1),
]
BAR_1 = 9  # the first nine prints are in bar 1
HAND_PX = np.array([h[0] for h in HAND])
HAND_SET = np.array([h[1] for h in HAND])
HAND_SIDE = [h[2] for h in HAND]
# the state after each bar, by hand: last price-setting price, last change among them
HAND_STATES = [(10.00, -1), (10.00, -1)]


def _no_quotes(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.full(n, np.nan), np.full(n, np.nan), np.ones(n, np.uint8)


def _twin(px, bid, ask, flags, sets, state: TickState) -> tuple[np.ndarray, np.ndarray, tuple[float, int]]:
    side, out = np.empty(px.size, np.int8), np.empty(px.size, np.uint8)
    carried = trade_sign._lee_ready_python(px, bid, ask, flags, sets, state.last_price, state.last_tick, side, out)
    return side, out, carried


def test_the_hand_series_is_the_hand_worked_answer_and_the_two_rules_differ_on_it():
    assert ref_liq.tick_sides(HAND_PX.tolist(), HAND_SET.tolist()) == HAND_SIDE  # the reference agrees by hand
    old = ref_liq.tick_sides(HAND_PX.tolist(), [True] * len(HAND))
    assert old == [h[3] for h in HAND] and old != HAND_SIDE  # the case where it matters
    bid, ask, flags = _no_quotes(HAND_PX.size)
    s = lee_ready(HAND_PX, bid, ask, flags, sets_price=HAND_SET)
    assert s.side.tolist() == HAND_SIDE
    assert s.flags.tolist() == [1 | TICK_ONLY] * len(HAND)
    assert (s.state.last_price, s.state.last_tick) == HAND_STATES[-1]
    side, out, carried = _twin(HAND_PX, bid, ask, flags, HAND_SET, TickState())
    assert side.tolist() == HAND_SIDE and out.tolist() == s.flags.tolist() and carried == HAND_STATES[-1]


def test_at_the_midpoint_the_same_tick_rule_decides():
    bid, ask = HAND_PX - 0.005, HAND_PX + 0.005  # every print at its quote's midpoint
    s = lee_ready(HAND_PX, bid, ask, np.zeros(HAND_PX.size, np.uint8), sets_price=HAND_SET)
    assert s.side.tolist() == HAND_SIDE and s.flags.tolist() == [AT_MIDPOINT] * len(HAND)


def test_the_state_after_each_bar_is_the_hand_worked_one():
    p, t = tick_states_after(HAND_PX, TickState(), np.array([0, BAR_1, HAND_PX.size]), HAND_SET)
    assert math.isnan(p[0]) and t[0] == 0
    assert list(zip(p[1:].tolist(), t[1:].tolist(), strict=True)) == HAND_STATES
    for k, want in zip((BAR_1, HAND_PX.size), HAND_STATES, strict=True):
        assert ref_real.tick_state_after(HAND_PX[:k].tolist(), HAND_SET[:k].tolist()) == want


def _random(seed: int) -> tuple[np.ndarray, np.ndarray, TickState]:
    rng = np.random.default_rng(seed)
    n = 300
    px = np.round(10 + rng.integers(-3, 4, n) * 0.01, 2)
    sets = rng.random(n) < (0.2, 0.6, 0.95)[seed % 3]
    state = (TickState(), TickState(10.0, -1), TickState(10.01, 0), TickState(9.99, 1))[seed % 4]
    return px, sets, state


def _before(state: TickState) -> tuple[float | None, int]:
    return (None if math.isnan(state.last_price) else state.last_price), state.last_tick


@pytest.mark.parametrize("seed", range(8))
def test_random_series_equal_the_reference_in_the_kernel_its_twin_and_in_pieces(seed):
    px, sets, state = _random(seed)
    bid, ask, flags = _no_quotes(px.size)
    want = ref_liq.tick_sides(px.tolist(), sets.tolist(), *_before(state))
    whole = lee_ready(px, bid, ask, flags, state, sets)
    assert whole.side.tolist() == want
    side, out, carried = _twin(px, bid, ask, flags, sets, state)
    assert side.tolist() == want and out.tolist() == whole.flags.tolist()
    end_price, end_tick = ref_real.tick_state_after(px.tolist(), sets.tolist(), *_before(state))
    want_state = TickState(math.nan if end_price is None else end_price, end_tick)
    assert _same_state(whole.state, want_state) and _same_state(TickState(*carried), want_state)
    cuts = np.sort(np.random.default_rng(seed + 100).integers(0, px.size + 1, 5))
    parts, carried_state = [], state
    for a, b in zip([0, *cuts], [*cuts, px.size], strict=True):
        s = lee_ready(px[a:b], bid[a:b], ask[a:b], flags[a:b], carried_state, sets[a:b])
        parts.append(s.side)
        carried_state = s.state
    assert np.concatenate(parts).tolist() == want
    assert _same_state(carried_state, whole.state)


def _same_state(a: TickState, b: TickState) -> bool:
    return a.last_tick == b.last_tick and (a.last_price == b.last_price
                                           or (math.isnan(a.last_price) and math.isnan(b.last_price)))


@pytest.mark.parametrize("seed", range(8))
def test_the_states_after_each_count_are_the_references(seed):
    px, sets, state = _random(seed)
    counts = np.sort(np.random.default_rng(seed).integers(0, px.size + 1, 40))
    last_price, last_tick = tick_states_after(px, state, counts, sets)
    for k, p, t in zip(counts, last_price, last_tick, strict=True):
        want_price, want_tick = ref_real.tick_state_after(px[:k].tolist(), sets[:k].tolist(), *_before(state))
        assert t == want_tick
        assert (math.isnan(p) and want_price is None) or p == want_price


# --- through the transform, against the view -----------------------------------------------------------------

T0 = 1_750_000_000 * NS - (1_750_000_000 % 60) * NS  # on the minute grid
SYMBOL = "TCK"
SIZES = [100.0 if s else 10.0 + i for i, s in enumerate(HAND_SET)]  # odd lots of distinct sizes


def _trade_rows() -> list[dict]:
    stamps = [T0 + (i + 1) * NS if i < BAR_1 else T0 + 60 * NS + (i - BAR_1 + 1) * NS for i in range(len(HAND))]
    rows = [(t, float(p), sz, None if s else "37") for t, p, s, sz in zip(stamps, HAND_PX, HAND_SET, SIZES,
                                                                         strict=True)]
    rows.append((T0 + 20 * 60 * NS, 10.0, 100.0, None))  # moves the watermark past both bars and the horizon
    return [{"market": "stocks", "symbol": SYMBOL, "ts_ns": t, "price": p, "size": sz, "exchange": 1,
             "trade_id": f"t{i}", "conditions": c, "tape": 3, "sequence": i, "trf_id": None, "trf_ts_ns": None,
             "received_ns": t + 1, "source": "sim", "correction": 0} for i, (t, p, sz, c) in enumerate(rows)]


def _run(path: Path, cuts: list[int]) -> tuple[list[tuple], list[tuple], list[tuple]]:
    from sql.duckdb_backend import DuckDBStorage
    from udx.transform import run_transform

    settings = Settings(_env_file=None, duckdb_path=path, bar_seconds=60,  # type: ignore[call-arg]
                        session_stocks="00:00-24:00 UTC", transform_lateness_seconds=0.0,
                        liquidity_horizon_seconds=60)
    trades = _trade_rows()
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        for lo, hi in zip([0, *cuts], [*cuts, 2**62], strict=True):
            part = [t for t in trades if lo <= t["ts_ns"] < hi]
            storage.append_trades(pa.Table.from_pylist(part, schema=TRADES_SCHEMA))
            run_transform(storage, settings, now_ns=1)
        ends = {"s": SYMBOL, "a": T0 + 60 * NS, "b": T0 + 120 * NS}
        view = storage.fetch_all("SELECT ts_ns, trade_side, size, counts_volume FROM enriched_market_data "
                                 "WHERE symbol = $s AND bar_seconds = 60 ORDER BY ts_ns", {"s": SYMBOL})
        liq = storage.fetch_all("SELECT bar_end_ns, signed_volume, buy_volume, sell_volume FROM bar_liquidity "
                                "WHERE symbol = $s AND bar_end_ns IN ($a, $b) ORDER BY bar_end_ns", ends)
        real = storage.fetch_all("SELECT bar_end_ns, tick_price, tick_sign FROM bar_realized_spread "
                                 "WHERE symbol = $s AND bar_end_ns IN ($a, $b) ORDER BY bar_end_ns", ends)
    finally:
        storage.close()
    return view, liq, real


@pytest.mark.duckdb
@pytest.mark.parametrize("cuts", [[], [T0 + 62 * NS, T0 + 65 * NS]], ids=["one-pass", "in-pieces"])
def test_bar_liquidity_and_realized_state_follow_the_views_trade_side(tmp_path, cuts):
    view, liq, real = _run(tmp_path / "t.duckdb", cuts)
    assert [r[1] for r in view[:len(HAND)]] == HAND_SIDE  # the view's rule is the hand-worked one
    bars = [(T0, T0 + 60 * NS), (T0 + 60 * NS, T0 + 120 * NS)]
    from_view = ref_liq.signed_volume(bars, [(t, sz, side) for t, side, sz, counts in view if counts])
    by_hand = [sum(SIZES[i] * HAND_SIDE[i] for i in range(BAR_1)),
               sum(SIZES[i] * HAND_SIDE[i] for i in range(BAR_1, len(HAND)))]
    assert from_view == by_hand
    assert [r[0] for r in liq] == [e for _, e in bars]
    assert [r[1] for r in liq] == from_view
    assert [r[2] - r[3] for r in liq] == from_view
    assert [(r[1], r[2]) for r in real] == HAND_STATES


def test_the_realized_step_shares_the_liquidity_signing_only_with_the_same_sets_price_flags():
    from udx.liquidity_step import Quotes, Signing, shared_signing
    from udx.nbbo import CarriedQuote, prevailing_quotes

    ts, q = np.arange(HAND_PX.size, dtype=np.int64), Quotes.empty()
    p = prevailing_quotes(ts, q.ts, q.bid, q.ask, 10)
    signing = Signing(ts, HAND_PX, q, CarriedQuote(), TickState(), p,
                      lee_ready(HAND_PX, p.bid, p.ask, p.flags, TickState(), HAND_SET), HAND_SET)
    got = shared_signing(signing, ts, HAND_PX, q, TickState(), HAND_SET.copy())
    assert got is not None and got[1].side.tolist() == HAND_SIDE
    assert shared_signing(signing, ts, HAND_PX, q, TickState(), np.ones(HAND_PX.size, np.bool_)) is None
    assert shared_signing(signing, ts, HAND_PX, q, TickState()) is None
