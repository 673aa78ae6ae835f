"""Previous-tick bars (udx.bars): rules a caller feels, against the plain twin ``tests/naive.bars``.

Fast cases for what only the slow resume-in-pieces test of test_bars.py reached: a resumed call given the
trades before the cut too (a print exactly at the cut), a cut at the boundary of contiguous full-day sessions,
real epoch-nanosecond times; plus a session without a price-setting print between two that have one, a first
print exactly at the close of a session that had none, 1 ns bars, and each argument's error message.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import naive
from udx.bars import Bars, bars

FIELDS = Bars._fields
DAY = 86_400 * 10**9
T0 = 1_764_547_200 * 10**9  # 2025-12-01 00:00 UTC: epoch nanoseconds as the transform passes them


def _rows(b: Bars) -> list[tuple]:
    return list(zip(*(getattr(b, f).tolist() for f in FIELDS), strict=True))


def _naive(*args, **kwargs) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [tuple(row[f] for f in FIELDS) for row in naive.bars(*args, **kwargs)]


def _same(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert all(u == v or (isinstance(u, float) and math.isnan(u) and math.isnan(v))
                   for u, v in zip(x, y, strict=True)), (x, y)


def _resumed_with_every_trade(ts, px, sz, so, sc, bar_ns, cuts) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Each call gets all trades (also those before the cut, which it must ignore) and the last bar emitted."""
    rows: list[tuple] = []
    end = close = None
    for cut in cuts:
        b = bars(ts, px, sz, so, sc, bar_ns, final_before_ns=cut, resume_end_ns=end, resume_close=close)
        if b.bar_end_ns.size:
            end, close = int(b.bar_end_ns[-1]), float(b.close[-1])
        rows.extend(_rows(b))
    return rows


@pytest.mark.parametrize(("open_ns", "bar"), [
    (T0 + 9 * 3600 * 10**9, 60 * 10**9),
    (T0 + 9 * 3600 * 10**9 + 123_456_789, 60 * 10**9 + 7),  # nanosecond grid: exact integer bar ends
])
def test_a_resumed_call_ignores_the_trades_before_the_cut_and_keeps_a_print_exactly_at_it(open_ns: int,
                                                                                          bar: int) -> None:
    so, sc = [open_ns], [open_ns + 3600 * 10**9]
    rng = np.random.default_rng(3)
    offsets = np.sort(np.concatenate([rng.integers(0, 3600, 150) * 10**9, [5 * bar, 5 * bar, 11 * bar]]))
    ts = so[0] + offsets
    px = 100.0 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], ts.size))
    sz = rng.integers(1, 300, ts.size).astype(float)
    one = _rows(bars(ts, px, sz, so, sc, bar))
    _same(one, _naive(ts, px, sz, so, sc, bar))
    for cuts in ([so[0] + 5 * bar, so[0] + 11 * bar, sc[0]], [so[0] + 2 * bar, so[0] + 3 * bar, so[0] + 40 * bar, sc[0]]):
        _same(_resumed_with_every_trade(ts, px, sz, so, sc, bar, cuts), one)


def test_a_cut_at_the_boundary_of_contiguous_days_starts_the_next_day_at_its_first_print() -> None:
    # full-day UTC sessions touch: the second day's first bar is measured against its opening print, never
    # against the first day's close, also when the run resumes exactly at the boundary
    bar = 300 * 10**9
    so, sc = [T0, T0 + DAY], [T0 + DAY, T0 + 2 * DAY]
    ts = np.array([T0 + 10 * bar + 7, T0 + 40 * bar, T0 + DAY + 3 * bar + 1, T0 + DAY + 3 * bar + 9, T0 + DAY + 9 * bar])
    px = np.array([100.0, 101.0, 110.0, 111.0, 109.0])
    sz = np.ones(5)
    one = _rows(bars(ts, px, sz, so, sc, bar))
    _same(one, _naive(ts, px, sz, so, sc, bar))
    second = [r for r in one if r[1] == T0 + DAY]
    assert second[0][0] == T0 + DAY + 4 * bar and second[0][-1] == pytest.approx(math.log(111.0 / 110.0), rel=1e-12)
    _same(_resumed_with_every_trade(ts, px, sz, so, sc, bar, [T0 + DAY, T0 + 2 * DAY]), one)


def test_a_session_without_a_price_setting_print_is_skipped_and_later_sessions_still_get_bars() -> None:
    so, sc = [0, 1000, 2000], [500, 1500, 2500]
    ts = [10, 120, 1100, 2050, 2300]
    px = [10.0, 10.5, 11.0, 12.0, 12.5]
    sz = [1.0] * 5
    sets_price = [True, True, False, True, True]  # the middle session has only an odd lot
    got = _rows(bars(ts, px, sz, so, sc, 100, sets_price=sets_price))
    _same(got, _naive(ts, px, sz, so, sc, 100, sets_price=sets_price))
    assert {r[1] for r in got} == {0, 2000}


def test_a_first_print_exactly_at_the_close_of_a_session_without_prints_belongs_to_the_next() -> None:
    # 7 s bars do not divide the day: a print at the first day's close must not make a last, shorter bar of it
    bar = 7 * 10**9
    so, sc = [T0, T0 + DAY], [T0 + DAY, T0 + 2 * DAY]
    ts, px, sz = [T0 + DAY, T0 + DAY + 20 * 10**9], [50.0, 51.0], [2.0, 3.0]
    got = _rows(bars(ts, px, sz, so, sc, bar))
    _same(got, _naive(ts, px, sz, so, sc, bar))
    assert got and all(r[1] == T0 + DAY for r in got) and got[0][0] == T0 + DAY + bar


def test_one_nanosecond_bars_are_allowed() -> None:
    got = _rows(bars([0, 1, 1, 3], [10.0, 11.0, 12.0, 9.0], [1.0, 1.0, 2.0, 1.0], [0], [5], 1))
    _same(got, _naive([0, 1, 1, 3], [10.0, 11.0, 12.0, 9.0], [1.0, 1.0, 2.0, 1.0], [0], [5], 1))
    assert [r[0] for r in got] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("name", ["ts_ns", "price", "size", "session_open_ns", "session_close_ns"])
def test_a_two_dimensional_argument_is_named_in_the_error(name: str) -> None:
    args = {"ts_ns": [1], "price": [1.0], "size": [1.0], "session_open_ns": [0], "session_close_ns": [10]}
    args[name] = [args[name]]
    with pytest.raises(ValueError, match=rf"^{name} must be one-dimensional, got 2 dimensions$"):
        bars(args["ts_ns"], args["price"], args["size"], args["session_open_ns"], args["session_close_ns"], 5)


def test_a_session_one_nanosecond_longer_than_whole_bars_gets_its_last_short_bar() -> None:
    got = bars([0, 5, 20], [10.0, 10.2, 10.1], [1.0, 1.0, 1.0], [0, 100], [21, 121], 10)
    assert got.bar_end_ns.tolist() == [10, 20, 21] and got.close.tolist() == [10.2, 10.2, 10.1]
    assert got.bar_end_ns.dtype == got.session_open_ns.dtype == got.n_trades.dtype == np.int64


def test_a_resume_below_one_currency_unit_continues_the_grid() -> None:
    ts, px, sz = [1, 12, 25], [0.52, 0.5, 0.55], [100.0, 50.0, 10.0]
    one = _rows(bars(ts, px, sz, [0], [40], 10))
    first = bars(ts, px, sz, [0], [40], 10, final_before_ns=20)
    rest = bars(ts, px, sz, [0], [40], 10, resume_end_ns=20, resume_close=float(first.close[-1]))
    assert float(first.close[-1]) == 0.5
    _same(_rows(first) + _rows(rest), one)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"session_open_ns": [0, 20, 25], "session_close_ns": [10, 30, 40]},
     r"^sessions must be time-ordered and must not overlap$"),
    ({"session_open_ns": [0, 20], "session_close_ns": [10, 20]},
     r"^every session must have session_close_ns > session_open_ns$"),
    ({"resume_end_ns": 5}, r"^give both resume_end_ns and resume_close, or neither$"),
    ({"resume_end_ns": 5, "resume_close": 0.0}, r"^resume_close must be finite and > 0, got 0.0$"),
    ({"resume_end_ns": 5, "resume_close": math.nan}, r"^resume_close must be finite and > 0, got nan$"),
    ({"session_close_ns": [10, 20]}, r"^session_open_ns and session_close_ns must have equal lengths$"),
    ({"bar_ns": 0}, r"^bar_ns must be >= 1, got 0$"),
    ({"sets_price": [True, False]}, r"^sets_price must be one boolean per trade \(1\), got shape \(2,\)$"),
    ({"counts_volume": [[True]]}, r"^counts_volume must be one boolean per trade \(1\), got shape \(1, 1\)$"),
])
def test_bad_arguments_are_refused_with_their_exact_message(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"session_open_ns": [0], "session_close_ns": [10], "bar_ns": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        bars([1], [1.0], [1.0], args.pop("session_open_ns"), args.pop("session_close_ns"), args.pop("bar_ns"),
             **args)  # type: ignore[arg-type]
