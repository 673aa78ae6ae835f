"""``udx.transform``'s per-symbol compute, its stale-state check and reset, and the daily metrics' write, called
directly on the test's thread (scripts/mutation group ``transform-plumbing``, run first there): ``run_transform``
calls ``_compute_symbol`` on its compute pool, where mutmut maps no test to it, and the transform files cost
minutes a mutant in plain Python.

One tiny market per module: a stock's prints every 7 s over 25 minutes of the 09:30-10:30 New York session of
7 March 2024 (a NaN-priced, a negative-size and two prints that neither set the price nor count
in volume among them, a print exactly at a resume point) and its quotes
every 5 s from a minute before. Checked against values written out here (bar counts, bar ends, trade counts, the
reset line's reasons) and against :func:`udx.pipeline.process_symbol` / :func:`udx.liquidity_step.
signed_liquidity_columns` run by hand on the valid prints the spec says a pass reads (those at or after the
symbol's start, README "Signals": invalid prints skipped): the numbers themselves are those modules' tests'.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from reference.sessions import sessions
from sql.backend import SignalStateRow
from sql.settings import Settings
from udx.liquidity_step import Quotes, signed_liquidity_columns
from udx.pipeline import SignalConfig, process_symbol
from udx.state import StateError, SymbolState
from udx.state_cache import Stored
import udx.transform as transform
from udx.transform import (_ChunkReads, _compute_symbol, _Entry, _stored_state, _write_daily_metrics, _write_realized,
                           liquidity_config, reset_stale_states, signal_config)

NS = 10**9
SPEC = "09:30-10:30 America/New_York"
OPEN = sessions(SPEC, 1_709_769_600 * NS, 1_709_769_600 * NS + 86_400 * NS)[0][0]  # 14:30 UTC, 7 March 2024
MIN = 60 * NS
CFG = SignalConfig(bar_seconds=60, session=SPEC, bars_per_session=60, lm_window=10, lm_threshold=3.0, bns_window=12)
T0 = OPEN + 5 * MIN  # first print 09:35:00
W = OPEN + 25 * MIN  # the watermark: 09:55, 25 final bars
LIQ = liquidity_config(Settings(_env_file=None, bar_seconds=60))  # type: ignore[call-arg]


def _market() -> tuple[tuple[np.ndarray, ...], Quotes]:
    ts = T0 + 7 * NS * np.arange(215, dtype=np.int64)  # 09:35:00 .. 09:59:58 (past the watermark)
    k = np.arange(ts.size)
    px = 100.0 + 0.01 * ((k * 37) % 23) - 0.005 * ((k * 11) % 7)
    sz = 1.0 + (k % 5)
    px[10] = np.nan  # not a valid print
    sz[20] = -1.0  # nor this one
    price_ok, volume_ok = k % 9 != 4, k % 13 != 6
    qt = T0 - MIN + 5 * NS * np.arange(320, dtype=np.int64)
    j = np.arange(qt.size)
    mid = 100.05 + 0.01 * ((j * 29) % 17) - 0.08
    return (ts, px, sz, price_ok, volume_ok), Quotes(qt, mid - 0.02, mid + 0.02, 100.0 + j % 3, 200.0 - j % 4)


PRINTS, QUOTES = _market()


def _valid(start: int = 0) -> tuple[np.ndarray, ...]:
    """The valid prints at or after ``start``, selected by hand (finite positive price, finite size >= 0, and
    setting the price or counting in volume)."""
    ts, px, sz, price_ok, volume_ok = PRINTS
    keep = np.isfinite(px) & (px > 0) & np.isfinite(sz) & (sz >= 0) & (price_ok | volume_ok) & (ts >= start)
    return ts[keep], px[keep], sz[keep], price_ok[keep], volume_ok[keep]


def _quotes_since(start: int) -> Quotes:
    keep = QUOTES.ts >= start
    return Quotes(*(np.asarray(a)[keep] for a in (QUOTES.ts, QUOTES.bid, QUOTES.ask, QUOTES.bid_size,
                                                  QUOTES.ask_size)))


class _Plan:
    """A ``RealizedPlan`` stand-in recording what :meth:`rows` is given (rows resume at 0: every print)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def trades_from(self, symbol: str) -> int:
        return 0

    def quotes_from(self, symbol: str) -> int:
        return 0

    def rows(self, symbol: str, market: str, new_bars: np.ndarray, trades: tuple[np.ndarray, ...], quotes: Quotes,
             signing: object = None) -> str:
        self.calls.append((symbol, market, new_bars, trades, quotes, signing))
        return f"rows of {symbol}"


def _chunk(signals: bool = True, realized: bool = False, quotes: bool = True) -> _ChunkReads:
    return _ChunkReads({"AA": PRINTS}, {"AA": QUOTES} if quotes else {},
                       frozenset({"AA"} if signals else ()), frozenset({"AA"} if realized else ()))


def _compute(entry: _Entry, chunk: _ChunkReads, liquidity: Any = None, realized: Any = None) -> Any:
    return _compute_symbol(entry, chunk=chunk, watermark=W, bar_ns=MIN, liquidity=liquidity, realized=realized,
                           markets={"AA": "stocks"})


def _lists(arrays: Any) -> list[list[float]]:
    if isinstance(arrays, Quotes):
        arrays = (arrays.ts, arrays.bid, arrays.ask, arrays.bid_size, arrays.ask_size)
    return [np.asarray(a).tolist() for a in arrays]


def _same_columns(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]), err_msg=name)


# --- _compute_symbol ---------------------------------------------------------------------------------------------


def test_the_market_of_these_tests() -> None:
    ts = PRINTS[0]
    assert ts.size == 215 and int(ts[-1]) == OPEN + 30 * MIN - 2 * NS  # 09:59:58
    assert int((ts < W).sum()) == 172  # 09:35:00 .. 09:54:57, every 7 s
    assert _valid()[0].size == 211  # k = 10 (NaN), 20 (size -1), 58 and 175 (neither)


def test_a_symbol_the_read_returned_no_prints_for_computes_nothing() -> None:
    chunk = _ChunkReads({}, {"AA": QUOTES}, frozenset({"AA"}), frozenset({"AA"}))
    plan = _Plan()
    got = _compute(_Entry("AA", CFG, None, 0), chunk, LIQ, plan)
    assert (got.result, got.liquidity, got.realized, got.trades) == (None, None, None, 0)
    assert plan.calls == []


def test_a_first_pass_writes_the_final_bars_of_the_valid_prints() -> None:
    got = _compute(_Entry("AA", CFG, None, 0), _chunk())
    bars = got.result.columns["bar_end_ns"]
    # the first bar ends 09:36; 09:36 .. 09:55 are final at the watermark (20 bars)
    assert bars.tolist() == [OPEN + m * MIN for m in range(6, 26)]
    assert got.trades == 211  # every valid print read counts, also the ones past the watermark
    want = process_symbol(*_valid()[:3], CFG, None, W, sets_price=_valid()[3], counts_volume=_valid()[4])
    _same_columns(got.result.columns, want.columns)
    assert got.liquidity is None and got.realized is None  # no liquidity config, no realized plan


def test_a_resumed_pass_reads_from_its_start_and_continues_the_state_exactly() -> None:
    first = _compute(_Entry("AA", CFG, None, 0), _chunk())
    cut = OPEN + 12 * MIN  # a print at 09:42:00 exactly (T0 + 60 * 7 s): the resume keeps it
    assert cut in PRINTS[0].tolist()
    head = process_symbol(*_valid()[:3], CFG, None, cut, sets_price=_valid()[3], counts_volume=_valid()[4])
    assert head.state.last_bar_end_ns == cut
    got = _compute(_Entry("AA", CFG, head.state, cut), _chunk())
    assert got.trades == int((_valid()[0] >= cut).sum()) == 154
    assert got.result.columns["bar_end_ns"].tolist() == [OPEN + m * MIN for m in range(13, 26)]
    for name, col in first.result.columns.items():  # two passes write the one pass's rows
        if name not in ("computed_at_ns",):
            np.testing.assert_array_equal(np.asarray(got.result.columns[name]), np.asarray(col)[7:], err_msg=name)


def test_a_symbol_outside_the_signals_gets_only_its_realized_rows_from_every_valid_print() -> None:
    plan = _Plan()
    got = _compute(_Entry("AA", CFG, None, 0), _chunk(signals=False, realized=True), LIQ, plan)
    assert (got.result, got.liquidity, got.trades) == (None, None, 0)
    assert got.realized == "rows of AA"
    ((symbol, market, new, trades, quotes, signing),) = plan.calls
    assert (symbol, market, signing) == ("AA", "stocks", None)
    assert new.size == 0 and new.dtype == np.int64
    assert _lists(trades) == _lists(_valid()) and _lists(quotes) == _lists(QUOTES)


def test_no_realized_rows_without_a_plan_or_outside_the_reads_realized_set() -> None:
    plan = _Plan()
    assert _compute(_Entry("AA", CFG, None, 0), _chunk(realized=False), LIQ, plan).realized is None
    assert _compute(_Entry("AA", CFG, None, 0), _chunk(realized=True), LIQ, None).realized is None
    assert plan.calls == []


def test_bar_liquidity_signs_the_prints_from_the_start_with_the_quotes_from_the_start() -> None:
    cut = OPEN + 12 * MIN
    head = process_symbol(*_valid()[:3], CFG, None, cut, sets_price=_valid()[3], counts_volume=_valid()[4])
    plan = _Plan()
    got = _compute(_Entry("AA", CFG, head.state, cut), _chunk(realized=True), LIQ, plan)
    # by hand: the same pass, then its prints from the start signed against the quotes from the start
    again = process_symbol(*_valid()[:3], CFG, None, cut, sets_price=_valid()[3], counts_volume=_valid()[4])
    want = process_symbol(*_valid(cut)[:3], CFG, again.state, W, sets_price=_valid(cut)[3],
                          counts_volume=_valid(cut)[4])
    liq, signing = signed_liquidity_columns(want.columns, MIN, *_valid(cut), _quotes_since(cut), want.state.arrays,
                                            LIQ)
    assert got.liquidity is not None
    _same_columns(got.liquidity, liq)
    assert sorted(got.result.state.arrays) == sorted(want.state.arrays)  # the liq_* arrays carried in the state
    for name, arr in want.state.arrays.items():
        np.testing.assert_array_equal(got.result.state.arrays[name], arr, err_msg=name)
    ((_, _, new, trades, quotes, passed),) = plan.calls
    assert new.tolist() == [OPEN + m * MIN for m in range(13, 26)]  # this pass's new bars
    assert _lists(trades) == _lists(_valid()) and _lists(quotes) == _lists(QUOTES)  # the realized rows: all read
    assert type(passed) is type(signing)  # the signing handed on
    for field, value in zip(signing._fields, signing, strict=True):
        mine = getattr(passed, field)
        if isinstance(value, Quotes):
            mine, value = _lists(mine), _lists(value)
        elif dataclasses.is_dataclass(value):  # the carried quote: field by field
            mine, value = dataclasses.astuple(mine), dataclasses.astuple(value)
        else:
            mine, value = (mine,), (value,)
        for a, b in zip(mine, value, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=field)


def test_a_symbol_without_quotes_signs_from_none() -> None:
    got = _compute(_Entry("AA", CFG, None, 0), _chunk(quotes=False), LIQ)
    want = process_symbol(*_valid()[:3], CFG, None, W, sets_price=_valid()[3], counts_volume=_valid()[4])
    liq, _ = signed_liquidity_columns(want.columns, MIN, *_valid(), Quotes.empty(), want.state.arrays, LIQ)
    _same_columns(got.liquidity, liq)


def test_nothing_final_yet_writes_nothing() -> None:
    plan = _Plan()
    got = _compute_symbol(_Entry("AA", CFG, None, 0), chunk=_chunk(realized=True), watermark=T0 + 30 * NS, bar_ns=MIN,
                          liquidity=LIQ, realized=plan, markets={"AA": "stocks"})  # type: ignore[arg-type]
    assert (got.result, got.liquidity) == (None, None)
    assert got.trades == 211
    ((_, _, new, _, _, signing),) = plan.calls
    assert new.size == 0 and signing is None


# --- _stored_state and reset_stale_states ----------------------------------------------------------------------

OTHER = dataclasses.replace(CFG, lm_window=11).fingerprint()
UNREADABLE = StateError("signal state is not valid JSON: test; more")


def _state(config: dict | None = None, end: int = OPEN + 10 * MIN) -> SymbolState:
    return SymbolState(CFG.fingerprint() if config is None else config, end, 1.5, OPEN, 7, {})


def test_stored_state_continues_a_state_of_these_definitions() -> None:
    stale: dict[str, str] = {}
    state = _state()
    assert _stored_state(Stored(state.last_bar_end_ns, state), CFG, "AA", stale) is state
    assert _stored_state(None, CFG, "AA", stale) is None
    assert stale == {}


def test_stored_state_of_other_settings_or_unreadable_is_recorded_with_its_reason() -> None:
    stale: dict[str, str] = {}
    assert _stored_state(Stored(OPEN + 10 * MIN, _state(OTHER)), CFG, "AA", stale) is None
    assert _stored_state(Stored(OPEN - 86_400 * NS, None, UNREADABLE), CFG, "BB", stale) is None
    assert stale == {
        "AA": "AA (bars to 2024-03-07; stored signal state was computed with other settings "
              "(window: stored 11, wanted 10))",
        "BB": "BB (bars to 2024-03-06; signal state is not valid JSON: test)",
    }


class _Storage:
    """What ``reset_stale_states`` asks of a storage without an archive (stored states, traded symbols), recording
    the resets."""

    def __init__(self, states: dict[str, str], traded: list[tuple[str, str]]) -> None:
        self.states, self.traded = states, traded
        self.resets: list[tuple[list[str], int]] = []
        self.grids: list[int] = []

    def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
        self.grids.append(bar_seconds)
        return {s: SignalStateRow(s, bar_seconds, OPEN + 10 * MIN, text) for s, text in self.states.items()}

    def trade_symbols(self) -> list[tuple[str, str]]:
        return list(self.traded)

    def reset_signals(self, symbols: list[str], bar_seconds: int) -> None:
        self.resets.append((list(symbols), bar_seconds))


SETTINGS = Settings(_env_file=None, bar_seconds=60, session_stocks=SPEC)  # type: ignore[call-arg]


def test_reset_stale_states_resets_the_symbols_of_other_definitions_sorted(caplog: pytest.LogCaptureFixture) -> None:
    stocks, crypto = signal_config(SETTINGS, "stocks").fingerprint(), signal_config(SETTINGS, "crypto").fingerprint()
    assert stocks != crypto  # each market's own definitions (sessions differ)
    states = {"ZZ": _state(crypto).to_json(), "AA": _state(stocks).to_json(), "MM": _state(crypto).to_json(),
              "CC": "not json", "XX": _state(stocks).to_json()}
    traded = [("stocks", "ZZ"), ("stocks", "AA"), ("crypto", "X:BTC"), ("crypto", "MM"), ("stocks", "CC"),
              ("crypto", "XX"), ("stocks", "NEW")]
    storage = _Storage(states, traded)
    with caplog.at_level(logging.WARNING):
        assert reset_stale_states(storage, SETTINGS) == ["CC", "XX", "ZZ"]  # type: ignore[arg-type]
    assert storage.resets == [(["CC", "XX", "ZZ"], 60)]
    assert storage.grids[0] == 60  # the states of the settings' grid
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("signal definitions or settings changed since the stored state of 3 symbol(s)")
    assert "ZZ (bars to 2024-03-07; stored signal state was computed with other settings (" in line


def test_reset_stale_states_of_fitting_states_resets_nothing(caplog: pytest.LogCaptureFixture) -> None:
    stocks = signal_config(SETTINGS, "stocks").fingerprint()
    storage = _Storage({"AA": _state(stocks).to_json()}, [("stocks", "AA"), ("stocks", "BB")])
    with caplog.at_level(logging.INFO):
        assert reset_stale_states(storage, SETTINGS) == []  # type: ignore[arg-type]
    assert storage.resets == [] and caplog.records == []


# --- _write_daily_metrics ----------------------------------------------------------------------------------------


class _Metrics:
    """A storage's ``write_daily_metrics``, recording its calls and returning ``written``."""

    def __init__(self, written: int) -> None:
        self.written = written
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def write_daily_metrics(self, *args: Any, **kwargs: Any) -> int:
        self.calls.append((args, kwargs))
        return self.written


def test_daily_metrics_are_written_from_the_oldest_new_bar_with_what_was_prepared(
        caplog: pytest.LogCaptureFixture) -> None:
    storage = _Metrics(3)
    never = np.iinfo(np.int64).max
    with caplog.at_level(logging.INFO, logger="udx.transform"):
        _write_daily_metrics(storage, 60, W, OPEN, "read")  # type: ignore[arg-type]
        _write_daily_metrics(storage, 60, W, never)  # type: ignore[arg-type]  # no new bar: every final day
        _write_daily_metrics(storage, 30, W, never - 1, None)  # type: ignore[arg-type]
    assert storage.calls == [((60, W, OPEN), {"prepared": "read"}), ((60, W, None), {}), ((30, W, never - 1), {})]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "daily metrics of 3 final symbol day(s) written")] * 3


def test_no_daily_metrics_line_when_none_written_and_nothing_on_a_storage_without_them(
        caplog: pytest.LogCaptureFixture) -> None:
    storage = _Metrics(0)
    with caplog.at_level(logging.DEBUG, logger="udx.transform"):
        _write_daily_metrics(storage, 60, W, OPEN)  # type: ignore[arg-type]
        _write_daily_metrics(object(), 60, W, OPEN, "read")  # type: ignore[arg-type]
    assert storage.calls == [((60, W, OPEN), {})]
    assert caplog.records == []


# --- _write_realized --------------------------------------------------------------------------------------------


class _Writer:
    """``BackgroundCommits`` stand-in: the batches submitted, in order."""

    def __init__(self) -> None:
        self.batches: list[Any] = []

    def submit(self, batch: Any) -> None:
        self.batches.append(batch)


@pytest.mark.parametrize(("names", "per_commit", "commits"), [
    ([], 2, []),
    (["EE", "AA", "CC", "BB", "DD"], 2, [["rows of AA", "rows of BB"], ["rows of DD"], ["rows of EE"]]),
    (["EE", "AA", "CC", "BB", "DD"], 3, [["rows of AA", "rows of BB"], ["rows of DD", "rows of EE"]]),
    (["EE", "AA", "CC", "BB", "DD"], 10, [["rows of AA", "rows of BB", "rows of DD", "rows of EE"]]),
])
def test_deferred_realized_rows_are_read_in_groups_in_name_order_and_committed_per_symbols_per_commit(
        monkeypatch: pytest.MonkeyPatch, names: list[str], per_commit: int, commits: list[list[str]]) -> None:
    """Five deferred symbols read two at a time (``_READ_SYMBOLS`` made 2): groups AA BB, CC DD, EE, each with
    the pass's watermark, markets, plan and kept quotes; CC's read leaves it out of the realized set (no rows, but
    it counts towards a commit's symbols); a commit after every ``symbols_per_commit`` symbols and one for the
    rest, each batch of the run's grid and stamp."""
    monkeypatch.setattr(transform, "_READ_SYMBOLS", 2)
    reads: list[tuple[Any, ...]] = []
    kept = {"AA": (T0, QUOTES)}

    def read(storage: Any, group: list[str], deferred: Any, watermark: int, markets: Any, realized: Any,
             given: Any = None) -> _ChunkReads:
        reads.append((storage, list(group), deferred, watermark, markets, realized, given))
        return _ChunkReads({s: PRINTS for s in group}, {s: QUOTES for s in group}, frozenset(),
                           frozenset(s for s in group if s != "CC"))

    monkeypatch.setattr(transform, "_read_realized", read)
    plan, writer, storage = _Plan(), _Writer(), object()
    deferred = {s: np.array([OPEN + 6 * MIN], np.int64) for s in names}
    markets = {s: "stocks" for s in names}
    with ThreadPoolExecutor(1) as reader, ThreadPoolExecutor(2) as computer:
        _write_realized(storage, plan, deferred, W, markets, reader, computer, writer,  # type: ignore[arg-type]
                        per_commit, 60, 1234, kept)
    ordered = sorted(names)
    assert [r[1] for r in reads] == [ordered[k:k + 2] for k in range(0, len(ordered), 2)]
    assert all(r[0] is storage and r[2] is deferred and r[3] == W and r[4] is markets and r[5] is plan
               and r[6] is kept for r in reads)
    assert [b._realized for b in writer.batches] == commits
    assert all((b._bar_seconds, b._computed_at) == (60, 1234) for b in writer.batches)
    assert sorted(c[0] for c in plan.calls) == [s for s in ordered if s != "CC"]
