"""``udx.transform``'s small helpers called directly on tiny inputs (scripts/mutation group ``transform-helpers``):
the settings -> :class:`SignalConfig` / ``LiquidityConfig`` mapping, the read groups, the stale-state reset
(its one log line and what it resets), the replanning of a reset symbol, the chunk read plan on a tiny DuckDB
file (which symbols compute, which write realized spreads, from where each symbol's trades and quotes are
read), ``_since``, ``_day`` and the summary line.

Expected values come from the settings and the spec (README "Signals", ``spec/signals.md`` §2.2-§2.3: ``n`` =
ceil(session length / bar), ``K = ceil(sqrt(252 n))``, the Lee-Mykland threshold from
``tests/reference/stats.py``; sessions from ``tests/reference/sessions.py``), never from the functions under
test. In plain Python each test takes milliseconds, so a mutant of these helpers is judged in about a second
(``test_transform_small.py`` costs 30-65 s a surviving mutant).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from reference import stats
from reference.sessions import nominal_bars, sessions
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.settings import Settings
from udx.liquidity_step import Quotes
from udx.pipeline import SignalConfig
from udx.realized_step import RealizedPlan
from udx.signal_rule import RuleConfig
from udx.state import StateError, SymbolState
from udx.state_cache import Stored
from udx.transform import (TransformSummary, _day, _Entry, _read_groups, _read_plan, _read_realized, _replanned,
                           _reset, _since, liquidity_config, signal_config)

NS = 10**9
SPEC = "09:30-10:30 America/New_York"  # 60 one-minute bars; New York time (EST on 7 March 2024)

#: every setting signal_config maps, each with its own value (a field read from the wrong setting shows)
DISTINCT = {"bar_seconds": 7, "garch_window": 2001, "garch_min_obs": 251, "intensity_lookback": 61,
            "vpin_buckets_per_day": 51, "vpin_window": 52, "vpin_cdf_window": 1003, "acd_window": 2004,
            "acd_min_obs": 505, "acd_bin_seconds": 1806, "seasonal_sessions": 21, "profile_bucket_minutes": 16,
            "profile_min_sessions": 4, "intensity_min_sessions": 11, "signal_vpin_cdf_hold": 0.85,
            "signal_momentum_z": 2.5, "signal_intensity_z": 1.5, "lm_alpha": 0.05}


def settings(**changes: object) -> Settings:
    return Settings(_env_file=None, **changes)  # type: ignore[arg-type]


# --- signal_config, liquidity_config ----------------------------------------------------------------------


def test_signal_config_of_stocks_maps_every_setting() -> None:
    s = settings(**DISTINCT)
    cfg = signal_config(s, "stocks")
    n = -(-23_400 // 7)  # 09:30-16:00 is 23,400 s: ceil(23,400 / 7) = 3,343 bars
    assert n == nominal_bars("09:30-16:00 America/New_York", 7) == 3343
    assert cfg.session == "09:30-16:00 America/New_York"
    assert cfg.bars_per_session == n
    assert cfg.bar_seconds == 7
    assert cfg.lm_window == math.ceil(math.sqrt(252 * n))  # default K (spec §2.2)
    assert cfg.lm_threshold == pytest.approx(stats.lm_threshold(n, 0.05), rel=1e-12)
    assert cfg.bns_window == n  # default: one session
    expected = {"garch_window": 2001, "garch_min_obs": 251, "intensity_lookback": 61, "vpin_buckets_per_day": 51,
                "vpin_window": 52, "vpin_cdf_window": 1003, "acd_window": 2004, "acd_min_obs": 505,
                "acd_bin_seconds": 1806, "seasonal_sessions": 21, "profile_bucket_minutes": 16,
                "profile_min_sessions": 4, "intensity_min_sessions": 11}
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert cfg.rule == RuleConfig(vpin_cdf_hold=0.85, momentum_z=2.5, intensity_z=1.5, alpha=0.05)
    # the settings have no BNS form or bipower choice: the defaults of the spec (ratio, Huang-Tauchen)
    assert (cfg.bns_form, cfg.bns_bv) == ("ratio", "ht")


def test_signal_config_of_crypto_uses_the_crypto_session() -> None:
    cfg = signal_config(settings(bar_seconds=60, session_crypto="00:00-24:00 UTC"), "crypto")
    assert cfg.session == "00:00-24:00 UTC"
    assert cfg.bars_per_session == 1440
    assert cfg.lm_window == math.ceil(math.sqrt(252 * 1440))  # 603
    assert cfg.lm_threshold == pytest.approx(stats.lm_threshold(1440, 0.01), rel=1e-12)
    assert cfg.bns_window == 1440
    # any other market name is a stock market
    assert signal_config(settings(session_stocks=SPEC), "stocks").session == SPEC
    assert signal_config(settings(session_stocks=SPEC), "otc").session == SPEC


def test_signal_config_takes_the_windows_the_settings_give() -> None:
    cfg = signal_config(settings(session_stocks=SPEC, lm_window=17, bns_window=9), "stocks")
    assert (cfg.bars_per_session, cfg.lm_window, cfg.bns_window) == (60, 17, 9)
    # the threshold stays the one of n = bars per session whatever the window
    assert cfg.lm_threshold == pytest.approx(stats.lm_threshold(60, 0.01), rel=1e-12)


def test_signal_config_of_a_session_of_one_bar() -> None:
    # 09:30-10:30 in bars of an hour: one bar; K = ceil(sqrt(252)) = 16; BNS at least 3; no threshold for n < 3
    cfg = signal_config(settings(session_stocks=SPEC, bar_seconds=3600), "stocks")
    assert (cfg.bars_per_session, cfg.lm_window, cfg.bns_window) == (1, 16, 3)
    assert math.isnan(cfg.lm_threshold) and math.isnan(stats.lm_threshold(1, 0.01))
    # a session that is not a whole number of bars: the last bar is short, still counted (ceil)
    cfg = signal_config(settings(session_stocks=SPEC, bar_seconds=1440), "stocks")  # 3,600 / 1,440 = 2.5
    assert (cfg.bars_per_session, cfg.bns_window) == (3, 3)
    cfg = signal_config(settings(session_stocks=SPEC, bar_seconds=900), "stocks")  # 4 bars: BNS one session
    assert (cfg.bars_per_session, cfg.bns_window) == (4, 4)


def test_liquidity_config_in_ns_and_windows() -> None:
    cfg = liquidity_config(settings(quote_stale_seconds=300.0, roll_window=251, kyle_window=31, vpin_window=49))
    assert (cfg.stale_ns, cfg.roll_window, cfg.kyle_window, cfg.vpin_window) == (300 * NS, 251, 31, 49)
    assert isinstance(cfg.stale_ns, int)
    # 2.7 ns round to 3 ns (not cut to 2)
    assert liquidity_config(settings(quote_stale_seconds=2.7e-9)).stale_ns == 3


# --- TransformSummary.__str__ -------------------------------------------------------------------------------


def test_the_summary_line() -> None:
    s = TransformSummary(3, 120, 2.5, None, 7, 1_000_000)
    assert str(s) == "3 symbols, 120 bars, 7 model fits, 1000000 trades in 2.50 s (400,000 trades/s)"
    assert str(TransformSummary(1, 2, 0.5, 5, 0, 3)) == "1 symbols, 2 bars, 0 model fits, 3 trades in 0.50 s (6 trades/s)"
    # a run of no measurable time has no rate
    assert str(TransformSummary(0, 0, 0.0, None, 0, 9)) == "0 symbols, 0 bars, 0 model fits, 9 trades in 0.00 s (0 trades/s)"


# --- _read_groups -------------------------------------------------------------------------------------------


def test_read_groups_split_chunks_and_keep_the_first_small() -> None:
    plans = [list("abcdefg"), list("hij"), list("k")]
    assert _read_groups(plans, 2, 3) == [(0, ["a", "b"]), (0, ["c", "d", "e"]), (0, ["f", "g"]),
                                         (1, ["h", "i", "j"]), (2, ["k"])]
    # the first group is the run's first, wherever it starts; a group never spans two chunks
    assert _read_groups([[], list("abcd"), list("ef")], 1, 2) == [(1, ["a"]), (1, ["b", "c"]), (1, ["d"]),
                                                                   (2, ["e", "f"])]
    assert _read_groups([list("abc")], 5, 2) == [(0, ["a", "b", "c"])]
    assert _read_groups([], 5, 25) == []


# --- _day, _since -------------------------------------------------------------------------------------------


def test_day_is_the_utc_day() -> None:
    midnight = 1_710_115_200 * NS  # 2024-03-11T00:00:00Z (19,793 days of 86,400 s)
    assert midnight == 19_793 * 86_400 * NS
    assert _day(midnight) == "2024-03-11"
    assert _day(midnight - 1) == "2024-03-10"  # one ns before: still the day before, not rounded up
    assert _day(midnight + 86_400 * NS - 1) == "2024-03-11"
    assert _day(0) == "1970-01-01"


def test_day_is_the_utc_day_in_any_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine in New York time the day is still UTC's (midnight UTC is 19:00 the day before there)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert dt.datetime.fromtimestamp(1_710_115_200).day == 10  # the zone is in force
        assert _day(1_710_115_200 * NS) == "2024-03-11"
        assert _day(1_710_115_200 * NS - 1) == "2024-03-10"
    finally:
        monkeypatch.undo()
        time.tzset()


def _quotes(ts: list[int]) -> Quotes:
    t = np.array(ts, np.int64)
    return Quotes(t, t * 0.5 + 1.0, t * 0.5 + 2.0, t * 0.25 + 3.0, t * 0.25 + 4.0)


def _columns(q: Quotes) -> list[list[float]]:
    return [q.ts.tolist(), q.bid.tolist(), q.ask.tolist(), q.bid_size.tolist(), q.ask_size.tolist()]


@pytest.mark.parametrize(("start", "kept"), [(0, [10, 20, 20, 30]), (10, [10, 20, 20, 30]), (11, [20, 20, 30]),
                                             (20, [20, 20, 30]), (21, [30]), (30, [30]), (31, [])])
def test_since_keeps_the_quotes_at_or_after(start: int, kept: list[int]) -> None:
    q = _since(_quotes([10, 20, 20, 30]), start)
    assert _columns(q) == _columns(_quotes(kept))


# --- _reset ---------------------------------------------------------------------------------------------------


class _ResetStorage:
    """What ``prepare_recompute`` asks of a storage without an archive, recording the resets."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols
        self.resets: list[tuple[list[str], int]] = []

    def trade_symbols(self) -> list[tuple[str, str]]:
        return [("stocks", s) for s in self.symbols]

    def reset_signals(self, symbols: list[str], bar_seconds: int) -> None:
        self.resets.append((list(symbols), bar_seconds))


@pytest.mark.parametrize("n", [1, 10, 12])
def test_reset_says_one_line_and_resets_the_stale_symbols(n: int, caplog: pytest.LogCaptureFixture) -> None:
    names = [f"S{k:02d}" for k in range(n)][::-1]  # stale in the order found, not sorted
    stale = {s: f"{s} (why {s})" for s in names}
    storage = _ResetStorage(sorted(names) + ["OTHER"])
    with caplog.at_level(logging.INFO):
        _reset(storage, settings(bar_seconds=30), stale)  # type: ignore[arg-type]
    assert storage.resets == [(sorted(names), 30)]  # those only (not OTHER), from their first trade
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    shown = ", ".join(f"{s} (why {s})" for s in names[:10])
    more = f", and {n - 10} more" if n > 10 else ""
    assert lines == [f"signal definitions or settings changed since the stored state of {n} symbol(s); "
                     f"recomputing their signals: {shown}{more}"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


# --- _replanned -----------------------------------------------------------------------------------------------

CFG = SignalConfig(bar_seconds=60, session=SPEC, bars_per_session=60, lm_window=10, lm_threshold=3.0, bns_window=12)
DAYS = sessions(SPEC, 1_709_769_600 * NS, 1_709_769_600 * NS + 2 * 86_400 * NS)  # Thu 7 and Fri 8 March 2024


def _entry(symbol: str = "AA", state: SymbolState | None = None, start: int = 123) -> _Entry:
    return _Entry(symbol, CFG, state, start)


def _state(end: int, config: dict | None = None) -> SymbolState:
    return SymbolState(CFG.fingerprint() if config is None else config, end, 1.5, DAYS[0][0], 7, {})


def test_the_sessions_of_the_replanning_tests() -> None:
    # 09:30 New York on 7 March 2024 is 14:30 UTC (EST); a day later the next open
    assert DAYS[0][0] == int(dt.datetime(2024, 3, 7, 14, 30, tzinfo=dt.UTC).timestamp()) * NS
    assert DAYS[1][0] == DAYS[0][0] + 86_400 * NS and DAYS[0][1] == DAYS[0][0] + 3600 * NS


def test_replanned_without_a_state_starts_from_the_first_trade() -> None:
    due = {"AA": 5}
    entry = _entry(state=_state(DAYS[0][0] + 600 * NS))
    out = _replanned(entry, {"BB": Stored(DAYS[0][0], _state(DAYS[0][0]))}, due, 60 * NS)
    assert out == _Entry("AA", CFG, None, 0, True)
    assert due == {"AA": 5}


def test_replanned_from_the_rewound_state_sets_its_next_bar() -> None:
    end = DAYS[0][0] + 10 * 60 * NS  # 09:40
    state = _state(end)
    due: dict[str, int] = {}
    out = _replanned(_entry(), {"AA": Stored(end, state)}, due, 120 * NS)
    assert out == _Entry("AA", CFG, state, end, True)
    assert due == {"AA": DAYS[0][0] + 12 * 60 * NS}  # bars of 120 s end at 09:32, ..., 09:40, 09:42
    # rewound to a close: the next bar is the next session's first
    close = DAYS[0][1]
    out = _replanned(_entry(), {"AA": Stored(close, _state(close))}, due, 60 * NS)
    assert (out.state.last_bar_end_ns, out.start, out.computes) == (close, close, True)  # type: ignore[union-attr]
    assert due == {"AA": DAYS[1][0] + 60 * NS}


def test_replanned_keeps_a_state_of_other_settings_and_computes_nothing() -> None:
    other = dataclasses.replace(CFG, lm_window=11).fingerprint()
    state = _state(DAYS[0][0], other)
    kept = _state(DAYS[0][0] + 60 * NS)
    due = {"AA": 9}
    out = _replanned(_entry(state=kept, start=77), {"AA": Stored(DAYS[0][0], state)}, due, 60 * NS)
    assert out == _Entry("AA", CFG, kept, 77, False)
    assert due == {"AA": 9}


def test_replanned_raises_the_error_of_a_state_that_cannot_be_read() -> None:
    error = StateError("signal state is not valid JSON: test")
    with pytest.raises(StateError) as info:
        _replanned(_entry(), {"AA": Stored(DAYS[0][0], None, error)}, {}, 60 * NS)
    assert info.value is error


# --- _read_plan on a tiny DuckDB file ---------------------------------------------------------------------------

T0 = DAYS[0][0] + 600 * NS  # trades every 10 s from T0 (300 s), quotes every 10 s from 60 s before, 5 s late
W = T0 + 200 * NS  # the watermark
TRADED = {"AA": ("stocks", 10.0), "BB": ("stocks", 20.0), "CC": ("crypto", 30.0), "DD": ("stocks", 40.0),
          "EE": ("stocks", 50.0), "FF": ("crypto", 60.0), "GG": ("stocks", 70.0)}
MARKETS = {s: m for s, (m, _) in TRADED.items()}


def _trade_ts() -> np.ndarray:
    return T0 + 10 * NS * np.arange(30, dtype=np.int64)


def _quote_ts() -> np.ndarray:
    return T0 - 60 * NS + 5 * NS + 10 * NS * np.arange(36, dtype=np.int64)


def _trades_table() -> pa.Table:
    rows = [(m, s, int(t), base + k, float(k + 1)) for s, (m, base) in TRADED.items()
            for k, t in enumerate(_trade_ts())]
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(cols[0], pa.string()), pa.array(cols[1], pa.string()), pa.array(cols[2], pa.int64()),
         pa.array(cols[3], pa.float64()), pa.array(cols[4], pa.float64()), pa.array([1] * n, pa.int32()),
         pa.array([f"t{k}" for k in range(n)]), pa.nulls(n, pa.string()), pa.nulls(n, pa.int32()),
         pa.array(np.arange(n, dtype=np.int64)), pa.nulls(n, pa.int32()), pa.nulls(n, pa.int64()),
         pa.array(cols[2], pa.int64()), pa.array(["sim"] * n), pa.nulls(n, pa.int32())], schema=TRADES_SCHEMA)


def _quotes_table() -> pa.Table:
    rows = [(MARKETS[s], s, int(t), base + k, base + k + 0.5) for s in ("AA", "BB", "CC", "GG")
            for base in [TRADED[s][1]] for k, t in enumerate(_quote_ts())]
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(cols[0]), pa.array(cols[1]), pa.array(cols[2], pa.int64()), pa.array(cols[3], pa.float64()),
         pa.array([100.0] * n), pa.array(cols[4], pa.float64()), pa.array([200.0] * n), pa.array([1] * n, pa.int32()),
         pa.array([2] * n, pa.int32()), pa.nulls(n, pa.string()), pa.array(np.arange(n, dtype=np.int64)),
         pa.nulls(n, pa.int32()), pa.array(cols[2], pa.int64()), pa.array(["sim"] * n)], schema=QUOTES_SCHEMA)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    duckdb_backend = pytest.importorskip("sql.duckdb_backend")
    path: Path = tmp_path_factory.mktemp("helpers") / "tiny.duckdb"
    db = duckdb_backend.DuckDBStorage.open(settings(duckdb_path=path))
    db.apply_schema()
    db.append_trades(_trades_table())
    db.append_quotes(_quotes_table())
    yield db
    db.close()


def _read(trades: dict, symbol: str) -> tuple[list[int], list[float]]:
    ts, px = trades[symbol][0], trades[symbol][1]
    return np.asarray(ts).tolist(), np.asarray(px).tolist()


def _expected_trades(symbol: str, start: int, end: int = W) -> tuple[list[int], list[float]]:
    """The symbol's trades stamped in ``[start, end)``: times and prices as the table above makes them."""
    ts = _trade_ts()
    keep = (ts >= start) & (ts < end)
    return ts[keep].tolist(), (TRADED[symbol][1] + np.flatnonzero(keep)).tolist()


def _expected_quotes(start: int) -> list[int]:
    ts = _quote_ts()
    return ts[(ts >= start) & (ts < W)].tolist()


def _plan() -> tuple[list[_Entry], dict[str, int]]:
    """AA and FF compute (FF from just before the watermark, no trades there), BB's next bar ends exactly at the
    watermark (computes), CC's after it, DD computes nothing, EE starts at the watermark."""
    plan = [_Entry("AA", CFG, None, T0 + 50 * NS), _Entry("BB", CFG, None, T0 + 30 * NS),
            _Entry("CC", CFG, None, T0), _Entry("DD", CFG, None, T0 + 10 * NS, False), _Entry("EE", CFG, None, W),
            _Entry("FF", CFG, None, W - 1)]
    return plan, {"BB": W, "CC": W + 1, "FF": W - 60 * NS}


@pytest.mark.duckdb
def test_read_plan_reads_the_symbols_that_may_write_a_bar(storage: object) -> None:
    plan, due = _plan()
    reads = _read_plan(storage, plan, W, dict(due), MARKETS, True, None)  # type: ignore[arg-type]
    assert reads.signals == frozenset({"AA", "BB", "FF"})
    assert reads.realized == frozenset()
    assert set(reads.trades) == {"AA", "BB", "FF"}
    assert _read(reads.trades, "AA") == _expected_trades("AA", T0 + 50 * NS)
    assert _read(reads.trades, "BB") == _expected_trades("BB", T0 + 30 * NS)
    assert _read(reads.trades, "FF") == ([], [])
    assert reads.quotes["AA"].ts.tolist() == _expected_quotes(T0 + 50 * NS)
    assert reads.quotes["BB"].ts.tolist() == _expected_quotes(T0 + 30 * NS)
    assert reads.quotes["BB"].bid[0] == 20.0 + 9  # the quote at T0 + 35 s: the 10th from T0 - 55 s
    assert not {"CC", "DD", "EE"} & set(reads.quotes)
    # without quotes wanted (a storage without them): none read
    assert _read_plan(storage, plan, W, dict(due), MARKETS, False, None).quotes == {}  # type: ignore[arg-type]


@pytest.mark.duckdb
def test_read_plan_of_one_symbol(storage: object) -> None:
    reads = _read_plan(storage, [_Entry("CC", CFG, None, T0 + 100 * NS)], W, {}, MARKETS, True, None)  # type: ignore[arg-type]
    assert reads.signals == frozenset({"CC"})
    assert _read(reads.trades, "CC") == _expected_trades("CC", T0 + 100 * NS)
    assert reads.quotes["CC"].ts.tolist() == _expected_quotes(T0 + 100 * NS)


def _realized_plan() -> RealizedPlan:
    until = W - 50 * NS  # the watermark minus the horizon (FF's next bar, W - 60 s, is due; BB's, W, not)
    stale = 30  # s: the quotes of a realized spread start this long before its trades
    # GG's newest row ends after its start: its signals still need the trades from its start
    resume = {"AA": T0 + 20 * NS, "BB": T0 + 10 * NS, "CC": T0 + 100 * NS, "EE": T0 + 120 * NS, "GG": T0 + 150 * NS}
    return RealizedPlan(
        due={"CC": np.array([T0 + 120 * NS], np.int64), "EE": np.array([T0 + 180 * NS], np.int64)},
        resume={s: {"symbol": s, "bar_end_ns": end, "tick_price": None, "tick_sign": 0} for s, end in resume.items()},
        until_ns=until, settings=settings(quote_stale_seconds=float(stale)), computed_at=0)


@pytest.mark.duckdb
def test_read_plan_reads_for_the_signals_and_defers_the_realized_spreads_they_do_not_cover(storage: object) -> None:
    plan, due = _plan()
    plan.append(_Entry("GG", CFG, None, T0 + 40 * NS))
    reads = _read_plan(storage, plan, W, dict(due), MARKETS, True, _realized_plan())  # type: ignore[arg-type]
    assert reads.signals == frozenset({"AA", "BB", "FF", "GG"})
    # wanted: AA, GG (no state: next bar unknown), CC, EE (stored bars due), FF (next bar due once computed); BB's
    # next bar ends after until and none is due; DD computes nothing, none due. Only GG's rows resume at or after
    # its signals' start: its rows come from these reads; the others' after the signal commits
    assert reads.realized == frozenset({"GG"})
    assert reads.deferred == frozenset({"AA", "CC", "EE", "FF"})
    assert set(reads.trades) == {"AA", "BB", "FF", "GG"}
    assert _read(reads.trades, "GG") == _expected_trades("GG", T0 + 40 * NS)
    assert reads.quotes["GG"].ts.tolist() == _expected_quotes(T0 + 40 * NS)  # its stale limit, T0 + 120 s, is later
    assert _read(reads.trades, "AA") == _expected_trades("AA", T0 + 50 * NS)  # its own start, not its row's end
    assert reads.quotes["AA"].ts.tolist() == _expected_quotes(T0 + 50 * NS)
    assert set(reads.quotes) == {"AA", "BB", "GG"}  # FF has no quotes


@pytest.mark.duckdb
def test_read_plan_reads_the_realized_spreads_of_rows_resuming_exactly_at_the_signals_start(storage: object) -> None:
    # GG's newest row ends at T0 + 150 s, where its signals start: its rows come from the signals' reads
    reads = _read_plan(storage, [_Entry("GG", CFG, None, T0 + 150 * NS)], W, {}, MARKETS, True,  # type: ignore[arg-type]
                       _realized_plan())
    assert (reads.signals, reads.realized, reads.deferred) == ({"GG"}, {"GG"}, frozenset())
    assert _read(reads.trades, "GG") == _expected_trades("GG", T0 + 150 * NS)
    assert reads.quotes["GG"].ts.tolist() == _expected_quotes(T0 + 120 * NS)  # from its stale limit, 30 s before


@pytest.mark.duckdb
def test_the_deferred_realized_reads_start_at_each_symbols_newest_row(storage: object) -> None:
    deferred = {"AA": np.array([T0 + 60 * NS], np.int64), "BB": np.array([W], np.int64),
                "CC": np.empty(0, np.int64), "EE": np.empty(0, np.int64), "FF": np.array([W - 60 * NS], np.int64)}
    reads = _read_realized(storage, sorted(deferred), deferred, W, MARKETS, _realized_plan())  # type: ignore[arg-type]
    # BB's new bar ends after until and none of its stored bars is due: nothing to read
    assert reads.realized == frozenset({"AA", "CC", "EE", "FF"})
    assert set(reads.trades) == {"AA", "CC", "EE", "FF"}
    # the prints of the due bars (read apart, to the last due end) from the newest row's end
    assert _read(reads.trades, "AA") == _expected_trades("AA", T0 + 20 * NS, T0 + 60 * NS)
    assert _read(reads.trades, "CC") == _expected_trades("CC", T0 + 100 * NS, T0 + 120 * NS)
    assert _read(reads.trades, "EE") == _expected_trades("EE", T0 + 120 * NS, T0 + 180 * NS)
    assert _read(reads.trades, "FF") == _expected_trades("FF", 0)  # no row yet: from its first trade
    # no quote a horizon after the head is read (the horizon reaches past W): whole from the stale limit
    assert reads.quotes["AA"].ts.tolist() == _expected_quotes(T0 - 10 * NS)
    assert reads.quotes["CC"].ts.tolist() == _expected_quotes(T0 + 70 * NS)
    assert set(reads.quotes) == {"AA", "CC"}  # EE, FF have no quotes


def _stored_quotes(symbol: str, start: int, end: int = W, mark: float = 0.0) -> list[list[float]]:
    """The symbol's quotes stamped in ``[start, end)`` as the table above makes them (``mark`` added to both
    prices: quotes a signal read handed over, told apart from the ones read from the file)."""
    ts = _quote_ts()
    k = np.flatnonzero((ts >= start) & (ts < end))
    base = TRADED[symbol][1] + mark
    return [ts[k].tolist(), (base + k).tolist(), (base + k + 0.5).tolist(), [100.0] * k.size, [200.0] * k.size]


def _held(symbol: str, start: int) -> tuple[int, Quotes]:
    """What the signals of a deferred symbol read this pass: every quote from ``start`` to the watermark, marked."""
    ts, bid, ask, bid_size, ask_size = (np.array(c) for c in _stored_quotes(symbol, start, mark=1000.0))
    return start, Quotes(ts.astype(np.int64), bid, ask, bid_size, ask_size)


def _realized_heads() -> RealizedPlan:
    """Four symbols whose one due bar (``T0 + 60 s``) is read apart: rows resume at ``T0 + 26 s`` with a quote 1 s
    before it (``T0 + 25 s``), and on a 60 s horizon 1 s before that plus the horizon (``T0 + 85 s``)."""
    start = T0 + 26 * NS
    return RealizedPlan(
        due={}, resume={s: {"symbol": s, "bar_end_ns": start, "tick_price": None, "tick_sign": 0}
                        for s in ("AA", "BB", "CC", "GG")},
        until_ns=W - 60 * NS, settings=settings(quote_stale_seconds=30.0, liquidity_horizon_seconds=60),
        computed_at=0)


@pytest.mark.duckdb
def test_the_deferred_realized_reads_take_the_quotes_a_horizon_later_from_the_signals_reads(storage: object) -> None:
    deferred = {s: np.array([T0 + 60 * NS], np.int64) for s in ("AA", "BB", "CC", "GG")}
    # AA's signals read from before the split (T0 + 85 s): all taken from them; GG's and BB's from after it: the
    # quotes between read from the file up to the later of the two (T0 + 120 s), each cut at its own; CC: none kept
    kept = {"AA": _held("AA", T0 + 50 * NS), "GG": _held("GG", T0 + 100 * NS), "BB": _held("BB", T0 + 120 * NS)}
    reads = _read_realized(storage, ["AA", "BB", "CC", "GG"], deferred, W, MARKETS, _realized_heads(),  # type: ignore[arg-type]
                           kept)
    assert reads.realized == frozenset({"AA", "BB", "CC", "GG"})
    for symbol in ("AA", "BB", "CC", "GG"):  # the head's prints only: [T0 + 26 s, T0 + 60 s)
        assert _read(reads.trades, symbol) == _expected_trades(symbol, T0 + 26 * NS, T0 + 60 * NS)

    def joined(*parts: list[list[float]]) -> list[list[float]]:
        return [sum((p[c] for p in parts), []) for c in range(5)]

    head = {s: _stored_quotes(s, T0 + 25 * NS, T0 + 60 * NS) for s in deferred}  # from 1 s before the first print
    assert _columns(reads.quotes["AA"]) == joined(head["AA"], _stored_quotes("AA", T0 + 85 * NS, mark=1000.0))
    assert _columns(reads.quotes["GG"]) == joined(head["GG"], _stored_quotes("GG", T0 + 85 * NS, T0 + 100 * NS),
                                                  _stored_quotes("GG", T0 + 100 * NS, mark=1000.0))
    assert _columns(reads.quotes["BB"]) == joined(head["BB"], _stored_quotes("BB", T0 + 85 * NS, T0 + 120 * NS),
                                                  _stored_quotes("BB", T0 + 120 * NS, mark=1000.0))
    assert _columns(reads.quotes["CC"]) == joined(head["CC"], _stored_quotes("CC", T0 + 85 * NS))
    # without kept quotes every symbol reads its own, the same as CC's
    alone = _read_realized(storage, ["AA", "BB", "CC", "GG"], deferred, W, MARKETS, _realized_heads())  # type: ignore[arg-type]
    for symbol in ("AA", "BB", "GG"):
        assert _columns(alone.quotes[symbol]) == joined(head[symbol], _stored_quotes(symbol, T0 + 85 * NS))


@pytest.mark.duckdb
def test_deferred_reads_of_a_bar_due_exactly_at_until_of_bars_past_the_split_and_of_a_symbol_without_quotes(
        storage: object) -> None:
    plan = _realized_heads()
    plan.resume["EE"] = {"symbol": "EE", "bar_end_ns": T0 + 26 * NS, "tick_price": None, "tick_sign": 0}
    # CC's due bar ends after its split (T0 + 85 s): read whole, prints from its row, quotes from its stale limit;
    # DD (no row yet) has one new bar, ending exactly at until: due; EE has no quote at all, its signals' kept none
    deferred = {"CC": np.array([T0 + 120 * NS], np.int64), "DD": np.array([plan.until_ns], np.int64),
                "EE": np.array([T0 + 60 * NS], np.int64)}
    no_quotes = Quotes(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0), np.empty(0))
    reads = _read_realized(storage, ["CC", "DD", "EE"], deferred, W, MARKETS, plan,  # type: ignore[arg-type]
                           {"EE": (T0 + 100 * NS, no_quotes)})
    assert reads.realized == frozenset({"CC", "DD", "EE"})
    assert _read(reads.trades, "CC") == _expected_trades("CC", T0 + 26 * NS)
    assert _columns(reads.quotes["CC"]) == _stored_quotes("CC", T0 - 4 * NS)
    assert _read(reads.trades, "DD") == _expected_trades("DD", 0)
    assert _read(reads.trades, "EE") == _expected_trades("EE", T0 + 26 * NS, T0 + 60 * NS)
    assert reads.quotes.get("EE", no_quotes).ts.size == 0 and "DD" not in reads.quotes
