"""Previous-tick bars and sessions: kernel vs twin vs naive, empty bars, session edges, DST, resuming."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

# tests/ is not a package (no __init__.py), so load the naive twins by path; putting tests/ on sys.path
# would let the folder tests/udx shadow the udx package.
_spec = importlib.util.spec_from_file_location("naive", Path(__file__).resolve().parents[1] / "naive.py")
assert _spec is not None and _spec.loader is not None
naive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naive)

from udx.bars import Bars, _bars, _bars_python, bars  # noqa: E402
from udx.sessions import next_bar_end_ns, parse_session, session_bounds  # noqa: E402

NS = 10**9
NY = "09:30-16:00 America/New_York"
UTC_DAY = "00:00-24:00 UTC"
FIELDS = ("bar_end_ns", "session_open_ns", "n_trades", "n_priced", "last_price_ns", "volume", "vwap", "close",
          "log_return")


def _ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: str = "UTC") -> int:
    from zoneinfo import ZoneInfo

    local = dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))
    return int(local.timestamp()) * NS


def _random_trades(rng: np.random.Generator, lo: int, hi: int, n: int, *, tick: int = 1):
    ts = np.sort(rng.integers(lo, hi, n)) // tick * tick
    price = np.round(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n))), 2)
    size = rng.integers(1, 500, n).astype(np.float64)
    size[rng.random(n) < 0.05] = 0.0  # zero-size prints: counted, no volume
    return ts.astype(np.int64), price, size


def _as_rows(b: Bars) -> list[tuple]:
    return list(zip(*(getattr(b, f).tolist() for f in FIELDS), strict=True))


def _naive_rows(*args, **kwargs) -> list[tuple]:
    return [tuple(row[f] for f in FIELDS) for row in naive.bars(*args, **kwargs)]


def _same(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert all((u == v) or (isinstance(u, float) and math.isnan(u) and math.isnan(v)) for u, v in
                   zip(x, y, strict=True)), (x, y)


_rng = np.random.default_rng(7)
# (trades, session_open, session_close, bar_ns, final_before_ns)
test_data = [
    (([0, 5, 25], [100.0, 101.0, 99.0], [1.0, 3.0, 2.0]), [0], [40], 10, None),
    (([], [], []), [0], [40], 10, None),  # no trades: no bars
    (([10, 10, 10], [5.0, 6.0, 7.0], [1.0, 1.0, 1.0]), [0], [35], 10, None),  # trades at a bar end; short last bar
    (([3, 38], [5.0, 6.0], [0.0, 0.0]), [0], [40], 10, None),  # zero volume: vwap NaN
    (([-5, 2, 41, 45, 55, 99, 130], [1.0, 2.0, 9.0, 3.0, 4.0, 8.0, 5.0], [1.0] * 7), [0, 50, 120], [40, 100, 160],
     10, None),  # trades outside sessions ignored
    (([-5, 2, 41, 45, 55, 99, 130], [1.0, 2.0, 9.0, 3.0, 4.0, 8.0, 5.0], [1.0] * 7), [0, 50, 120], [40, 100, 160],
     10, 70),  # cut-off
    (_random_trades(_rng, 0, 10_000, 3_000), [100, 3_000, 6_000], [2_000, 5_500, 9_000], 37, None),
    (_random_trades(_rng, 0, 10_000, 300), [100, 3_000, 6_000], [2_000, 5_500, 9_000], 37, 5_000),
    (_random_trades(_rng, 0, 100_000, 200), [0, 30_000, 60_000], [30_000, 60_000, 90_000], 50, None),  # sparse
]


def _flags(n: int, seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """No flags (seed < 0), or random ones: ~20 % of prints set no price, ~10 % count no volume."""
    if seed < 0:
        return None, None
    rng = np.random.default_rng(seed)
    return rng.random(n) > 0.2, rng.random(n) > 0.1


@pytest.mark.parametrize("flag_seed", [-1, 3, 4])
@pytest.mark.parametrize(("trades", "so", "sc", "bar_ns", "cut"), test_data)
def test_kernel_matches_twin_and_naive(trades, so, sc, bar_ns, cut, flag_seed) -> None:
    sets_price, counts_volume = _flags(len(trades[0]), flag_seed)
    got = bars(*trades, so, sc, bar_ns, final_before_ns=cut, sets_price=sets_price, counts_volume=counts_volume)
    _same(_as_rows(got), _naive_rows(*trades, so, sc, bar_ns, final_before_ns=cut, sets_price=sets_price,
                                     counts_volume=counts_volume))
    ts, px, sz = (np.asarray(a, dtype=d) for a, d in zip(trades, (np.int64, np.float64, np.float64), strict=True))
    so_a, sc_a = np.asarray(so, np.int64), np.asarray(sc, np.int64)
    ok_p = np.ones(ts.size, np.bool_) if sets_price is None else sets_price
    ok_v = np.ones(ts.size, np.bool_) if counts_volume is None else counts_volume
    cap = 5000
    cutoff = np.iinfo(np.int64).max if cut is None else cut
    outs = []
    for kernel in (_bars_python, _bars):
        out = [np.empty(cap, np.int64) for _ in range(5)] + [np.empty(cap) for _ in range(4)]
        m = kernel(ts, px, sz, ok_p, ok_v, so_a, sc_a, bar_ns, cutoff, np.iinfo(np.int64).min, 1.0, *out)
        outs.append([list(zip(*(o[:m].tolist() for o in out), strict=True))])
    _same(outs[0][0], outs[1][0])
    _same(outs[0][0], _as_rows(got))


def test_a_print_that_may_not_set_the_price_never_sets_a_close_or_a_return() -> None:
    # an average-price print far from the market (flag False) between two regular prints
    ts, px, sz = [0, 12, 15, 25], [100.0, 80.0, 80.0, 101.0], [1.0, 500.0, 5.0, 2.0]
    b = bars(ts, px, sz, [0], [40], 10, sets_price=[True, False, False, True],
             counts_volume=[True, True, False, True])
    assert b.close.tolist() == [100.0, 100.0, 101.0, 101.0]
    assert b.log_return.tolist()[:2] == [0.0, 0.0]
    assert b.n_trades.tolist() == [1, 1, 1, 0] and b.volume.tolist() == [1.0, 500.0, 2.0, 0.0]
    assert b.n_priced.tolist() == [1, 0, 1, 0]


def test_a_session_starts_at_its_first_price_setting_print() -> None:
    b = bars([1, 15, 33], [50.0, 100.0, 102.0], [7.0, 1.0, 1.0], [0], [40], 10, sets_price=[False, True, True])
    assert b.bar_end_ns.tolist() == [20, 30, 40]  # the odd lot at 1 opens nothing and is left out
    assert b.log_return[0] == 0.0 and b.volume.tolist() == [1.0, 0.0, 1.0]


def test_doc_example_values() -> None:
    b = bars([0, 5, 25], [100.0, 101.0, 99.0], [1.0, 3.0, 2.0], [0], [40], 10)
    assert b.n_trades.tolist() == [2, 0, 1, 0]
    assert b.volume.tolist() == [4.0, 0.0, 2.0, 0.0]
    assert b.close.tolist() == [101.0, 101.0, 99.0, 99.0]
    # first bar against the session's first print (100), empty bars carry the close: return 0
    assert b.log_return.tolist() == [math.log(101) - math.log(100), 0.0, math.log(99) - math.log(101), 0.0]


def test_bars_start_at_the_bar_of_the_first_trade_and_overnight_return_is_absent() -> None:
    b = bars([25, 130], [10.0, 20.0], [1.0, 1.0], [0, 100], [40, 140], 10)
    assert b.bar_end_ns.tolist() == [30, 40, 140]
    assert b.log_return.tolist() == [0.0, 0.0, 0.0]  # 10 -> 20 across sessions never appears


def _in_pieces(trades, so, sc, bar_ns, cuts, *, all_trades: bool) -> list[tuple]:
    ts, px, sz = (np.asarray(a) for a in trades)
    rows: list[tuple] = []
    end = close = None
    for cut in cuts:
        keep = slice(None) if all_trades or end is None else ts >= end
        b = bars(ts[keep], px[keep], sz[keep], so, sc, bar_ns, final_before_ns=cut, resume_end_ns=end,
                 resume_close=close)
        if b.bar_end_ns.size:
            end, close = int(b.bar_end_ns[-1]), float(b.close[-1])
        rows.extend(_as_rows(b))
    return rows


@pytest.mark.parametrize(("trades", "so", "sc", "bar_ns", "cut"), test_data)
def test_resuming_in_pieces_equals_one_pass(trades, so, sc, bar_ns, cut) -> None:
    one = _as_rows(bars(*trades, so, sc, bar_ns, final_before_ns=cut))
    last = max(sc) if cut is None else cut
    for step in (1, 7, bar_ns, 3 * bar_ns + 1, 1000):
        step = max(step, (last - min(so)) // 1000)  # at most ~1000 pieces
        cuts = [*range(min(so) - 1, last, step), last]
        _same(_in_pieces(trades, so, sc, bar_ns, cuts, all_trades=False), one)
        _same(_in_pieces(trades, so, sc, bar_ns, cuts, all_trades=True), one)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_resume_split_points_property(seed: int, cuts: list[int]) -> None:
    trades = _random_trades(np.random.default_rng(seed), 0, 10_000, 80)
    so, sc = [100, 3_000, 6_000], [2_000, 5_500, 9_000]
    one = _as_rows(bars(*trades, so, sc, 37))
    _same(_in_pieces(trades, so, sc, 37, [*sorted(cuts), 10_000], all_trades=False), one)


def test_validation_names_the_argument() -> None:
    with pytest.raises(ValueError, match="ts_ns must be non-decreasing"):
        bars([2, 1], [1.0, 1.0], [1.0, 1.0], [0], [10], 5)
    with pytest.raises(ValueError, match="price must be finite and > 0"):
        bars([1], [0.0], [1.0], [0], [10], 5)
    with pytest.raises(ValueError, match="size must be finite"):
        bars([1], [1.0], [-1.0], [0], [10], 5)
    for bad in (np.nan, np.inf, -np.inf, -1.0):  # anywhere in the batch, not only first
        with pytest.raises(ValueError, match="price must be finite and > 0"):
            bars([1, 2, 3], [1.0, 1.0, bad], [1.0, 1.0, 1.0], [0], [10], 5)
        with pytest.raises(ValueError, match="size must be finite and >= 0"):
            bars([1, 2, 3], [1.0, 1.0, 1.0], [1.0, bad, 1.0], [0], [10], 5)
    with pytest.raises(ValueError, match="ts_ns must be non-decreasing"):
        bars([1, 2, 2, 1], [1.0] * 4, [1.0] * 4, [0], [10], 5)
    with pytest.raises(ValueError, match="equal lengths"):
        bars([1, 2], [1.0], [1.0], [0], [10], 5)
    with pytest.raises(ValueError, match="bar_ns must be >= 1"):
        bars([1], [1.0], [1.0], [0], [10], 0)
    with pytest.raises(ValueError, match="must not overlap"):
        bars([1], [1.0], [1.0], [0, 5], [10, 20], 5)
    with pytest.raises(ValueError, match="session_close_ns > session_open_ns"):
        bars([1], [1.0], [1.0], [10], [10], 5)
    with pytest.raises(ValueError, match="resume_end_ns and resume_close"):
        bars([1], [1.0], [1.0], [0], [10], 5, resume_end_ns=5)
    with pytest.raises(ValueError, match="ts_ns must be one-dimensional"):
        bars([[1]], [[1.0]], [[1.0]], [0], [10], 5)


# --- sessions --------------------------------------------------------------------------------------------


def test_parse_session_specs() -> None:
    s = parse_session(NY)
    assert (s.open_minute, s.close_minute, s.tz_name, s.every_day) == (570, 960, "America/New_York", False)
    assert parse_session(UTC_DAY).every_day and parse_session(UTC_DAY).close_minute == 1440
    assert parse_session(NY).nominal_seconds == 23_400


@pytest.mark.parametrize("spec", ["9:30 to 16:00 America/New_York", "16:00-09:30 America/New_York",
                                  "09:30-24:30 UTC", "25:00-26:00 UTC", "09:30-16:00 Mars/Olympus", "09:30-16:00"])
def test_parse_session_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="session spec"):
        parse_session(spec)


def test_new_york_sessions_follow_dst_and_skip_weekends() -> None:
    # 2024-03-10 (Sunday) New York moves from EST (UTC-5) to EDT (UTC-4)
    opens, closes = session_bounds(NY, _ns(2024, 3, 8), _ns(2024, 3, 12))
    assert opens.tolist() == [_ns(2024, 3, 8, 14, 30), _ns(2024, 3, 11, 13, 30)]
    assert closes.tolist() == [_ns(2024, 3, 8, 21, 0), _ns(2024, 3, 11, 20, 0)]
    # 2024-11-03 (Sunday) back to EST
    opens, _ = session_bounds(NY, _ns(2024, 11, 1), _ns(2024, 11, 5))
    assert opens.tolist() == [_ns(2024, 11, 1, 13, 30), _ns(2024, 11, 4, 14, 30)]


def test_full_day_utc_sessions_run_every_day() -> None:
    opens, closes = session_bounds(UTC_DAY, _ns(2024, 3, 9, 12), _ns(2024, 3, 11, 1))  # Sat noon .. Mon 01:00
    assert opens.tolist() == [_ns(2024, 3, 9), _ns(2024, 3, 10), _ns(2024, 3, 11)]
    assert closes.tolist() == [_ns(2024, 3, 10), _ns(2024, 3, 11), _ns(2024, 3, 12)]


def test_session_bounds_of_an_empty_range() -> None:
    opens, closes = session_bounds(NY, 5, 5)
    assert opens.size == closes.size == 0 and opens.dtype == np.int64


def test_minute_bars_across_the_dst_change_in_new_york() -> None:
    rng = np.random.default_rng(3)
    opens, closes = session_bounds(NY, _ns(2024, 3, 8), _ns(2024, 3, 12))
    parts = [_random_trades(rng, int(o) - 3_600 * NS, int(c) + 3_600 * NS, 5_000, tick=1000)
             for o, c in zip(opens, closes, strict=True)]
    ts, px, sz = (np.concatenate(p) for p in zip(*parts, strict=True))
    inside = np.zeros(ts.size, bool)
    for o, c in zip(opens, closes, strict=True):
        inside |= (ts >= o) & (ts < c)
    b = bars(ts, px, sz, opens, closes, 60 * NS)
    _same(_as_rows(b), _naive_rows(ts, px, sz, opens, closes, 60 * NS))
    for o in opens:
        mine = b.session_open_ns == o
        first = ts[inside & (ts >= o)][0]
        assert mine.sum() == 390 - (first - o) // (60 * NS)  # full grid from the first trade's bar
        assert b.bar_end_ns[mine][-1] == o + 390 * 60 * NS
    assert b.n_trades.sum() == inside.sum()  # pre- and after-market trades ignored
    assert b.bar_end_ns[b.session_open_ns == opens[1]][0] >= _ns(2024, 3, 11, 13, 31)


@pytest.mark.parametrize("spec, bar_s", [(NY, 60), (NY, 420), (UTC_DAY, 300), (UTC_DAY, 7)])
def test_next_bar_end_is_the_next_bar_the_kernel_emits(spec: str, bar_s: int) -> None:
    # every session starts with a print at its open, so the kernel emits its whole grid (420 s leaves a short
    # last bar in New York, 7 s one at midnight); the DST change and a weekend lie inside
    rng = np.random.default_rng(bar_s)
    opens, closes = session_bounds(spec, _ns(2024, 3, 8), _ns(2024, 3, 12))
    ts = np.sort(np.concatenate([opens, rng.integers(int(opens[0]), int(closes[-1]), 2_000)]))
    b = bars(ts, np.full(ts.size, 10.0), np.ones(ts.size), opens, closes, bar_s * NS)
    ends = b.bar_end_ns
    picks = np.unique(np.concatenate([rng.integers(0, ends.size - 1, 300), [ends.size - 2],
                                      np.flatnonzero(np.isin(ends[:-1], closes))]))
    for i in picks:
        assert next_bar_end_ns(spec, bar_s * NS, int(ends[i])) == ends[i + 1]
        assert next_bar_end_ns(spec, bar_s * NS, int(ends[i + 1]) - 1) == ends[i + 1]
    before = int(opens[0]) - 5 * NS  # before the first print: a lower bound of the first bar's end
    assert before < next_bar_end_ns(spec, bar_s * NS, before) <= ends[0]
    with pytest.raises(ValueError, match="bar_ns must be >= 1"):
        next_bar_end_ns(spec, 0, before)
