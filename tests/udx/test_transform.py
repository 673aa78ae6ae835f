"""The incremental transform against a real DuckDB file: micro-batches and restarts equal one pass."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
import zlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import importlib.util

from conftest import trades_from_parts
from sql.contract import SIGNALS_SCHEMA
from sql.settings import Settings
from udx import bars, lm_threshold, session_bounds
from udx.pipeline import DEFINITIONS
from udx.state import StateError, SymbolState
from udx.transform import run_transform

_spec = importlib.util.spec_from_file_location("naive", Path(__file__).resolve().parents[1] / "naive.py")
naive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naive)

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
START = int(dt.datetime(2024, 3, 8, 12, tzinfo=dt.UTC).timestamp()) * NS  # Friday; NY DST starts on the 10th
END = START + 4 * 86_400 * NS  # through Tuesday noon UTC
JUMP_NS = START + 30 * 3_600 * NS + 17 * NS  # Saturday 18:00:17 UTC, crypto only
COLUMNS = [f.name for f in SIGNALS_SCHEMA if f.name != "computed_at_ns"]


def _settings(path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"duckdb_path": path, "bar_seconds": 60, "lm_window": 20,
                                 "transform_lateness_seconds": 2.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _trades() -> pa.Table:
    """Crypto around the clock, a stock with pre/after-market prints; one +3% jump in the crypto."""
    rng = np.random.default_rng(11)
    parts = []
    for market, symbol, n in (("crypto", "X:BTCUSD", 60_000), ("stocks", "AAPL", 8_000)):
        ts = np.sort(rng.integers(START, END, n))
        logp = np.cumsum(rng.normal(0, 2e-4, n))
        if market == "crypto":
            logp[ts >= JUMP_NS] += 0.03
            ts[np.searchsorted(ts, JUMP_NS)] = JUMP_NS
        parts.append((market, symbol, ts, 100 * np.exp(logp), rng.integers(1, 100, n).astype(float)))
    return trades_from_parts(parts)


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    return _trades()


def _open(settings: Settings):
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    return storage


def _signals(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT {', '.join(COLUMNS)} FROM trading_signals "
                           "ORDER BY symbol, bar_seconds, bar_end_ns").fetchall()


def _states(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT symbol, bar_seconds, last_bar_end_ns, state FROM signal_state "
                           "ORDER BY symbol").fetchall()


def _one_pass(tmp_path: Path, trades: pa.Table, **overrides: object) -> Path:
    settings = _settings(tmp_path / "one.duckdb", **overrides)
    storage = _open(settings)
    storage.append_trades(trades)
    summary = run_transform(storage, settings, now_ns=1)
    storage.close()
    assert summary.symbols == 2 and summary.bars > 0
    return settings.duckdb_path


def _same_rows(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert all(u == v or (isinstance(u, float) and math.isnan(u) and math.isnan(v))
                   for u, v in zip(x, y, strict=True)), (x, y)


def test_micro_batches_equal_one_pass(tmp_path: Path, trades: pa.Table) -> None:
    one = _one_pass(tmp_path, trades)
    settings = _settings(tmp_path / "micro.duckdb")
    storage = _open(settings)
    rng = np.random.default_rng(5)
    cuts = np.unique(np.concatenate([rng.integers(0, trades.num_rows, 100), [trades.num_rows]]))
    lo = 0
    for hi in cuts:
        storage.append_trades(trades.slice(lo, hi - lo))
        run_transform(storage, settings)
        lo = hi
    run_transform(storage, settings)  # an idle run changes nothing
    storage.close()
    _same_rows(_signals(settings.duckdb_path), _signals(one))
    assert _states(settings.duckdb_path) == _states(one)


def test_each_pass_writes_every_final_bar_and_reads_nothing_before_the_next_bar_end(
        tmp_path: Path, trades: pa.Table) -> None:
    one = _one_pass(tmp_path, trades)
    ends = np.array(sorted(row[1] for row in _signals(one)), np.int64)  # (symbol, bar_end_ns, ...) of one pass
    settings = _settings(tmp_path / "skip.duckdb")
    storage = _open(settings)
    rng = np.random.default_rng(8)
    starts = np.sort(rng.choice(trades.num_rows - 20, 40, replace=False))
    cuts = np.unique(np.concatenate([starts + k for k in range(12)] + [[trades.num_rows]]))  # runs of one trade
    written = skipped = 0
    due: int | None = None
    lo = 0
    for hi in cuts:
        storage.append_trades(trades.slice(lo, hi - lo))
        lo = hi
        summary = run_transform(storage, settings)
        written += summary.bars
        assert summary.watermark_ns is not None
        assert written == np.count_nonzero(ends <= summary.watermark_ns)  # every final bar, no later one
        if due is not None and summary.watermark_ns < due:
            assert summary.trades == 0 and summary.bars == 0  # nothing due: no trade read
            skipped += 1
        due = summary.next_bar_end_ns
        assert due is not None and due > summary.watermark_ns
        later = ends[ends > summary.watermark_ns]
        assert later.size == 0 or due <= later[0]  # a lower bound of the next bar written
    storage.close()
    assert skipped > 100  # most single-trade appends complete no bar
    _same_rows(_signals(settings.duckdb_path), _signals(one))
    assert _states(settings.duckdb_path) == _states(one)


def test_restart_from_stored_state_equals_one_pass(tmp_path: Path, trades: pa.Table) -> None:
    one = _one_pass(tmp_path, trades)
    settings = _settings(tmp_path / "restart.duckdb")
    for lo, hi in ((0, 3_000), (3_000, 31_111), (31_111, trades.num_rows)):
        storage = _open(settings)  # a fresh process each time: only the database carries state
        storage.append_trades(trades.slice(lo, hi - lo))
        run_transform(storage, settings)
        storage.close()
    _same_rows(_signals(settings.duckdb_path), _signals(one))
    assert _states(settings.duckdb_path) == _states(one)


def _as_version_2(text: str) -> str:
    """A stored version 3 state as the version 2 writer stored it: each array's zlib stream unpacked (the format
    of :mod:`udx.state`, read with json, base64 and zlib alone)."""
    doc = json.loads(text)
    assert doc["v"] == 3
    doc["v"] = 2
    for name, value in doc["arrays"].items():
        kind, data = value.split(":", 1)
        doc["arrays"][name] = f"{kind}:{base64.b64encode(zlib.decompress(base64.b64decode(data))).decode()}"
    return json.dumps(doc)


def test_a_run_continues_states_stored_by_the_version_2_writer_to_the_one_pass_rows(
        tmp_path: Path, trades: pa.Table, caplog: pytest.LogCaptureFixture) -> None:
    one = _one_pass(tmp_path, trades)
    settings = _settings(tmp_path / "upgrade.duckdb")
    storage = _open(settings)
    storage.append_trades(trades.slice(0, 31_111))
    run_transform(storage, settings)
    storage.close()
    with duckdb.connect(str(settings.duckdb_path)) as con:  # what the code before version 3 stored
        for symbol, text in con.execute("SELECT symbol, state FROM signal_state").fetchall():
            con.execute("UPDATE signal_state SET state = ? WHERE symbol = ?", [_as_version_2(text), symbol])
        assert {json.loads(t)["v"] for (t,) in con.execute("SELECT state FROM signal_state").fetchall()} == {2}
    storage = _open(settings)  # a new process: the states are read from the rows
    storage.append_trades(trades.slice(31_111, trades.num_rows - 31_111))
    with caplog.at_level(logging.WARNING, logger="udx.transform"):
        summary = run_transform(storage, settings)
    storage.close()
    assert summary.symbols == 2
    assert "recomputing" not in caplog.text  # continued from the stored states, not recomputed from the start
    assert summary.trades < trades.num_rows - 20_000  # from each state's last bar on (39,812), not all 68,000
    _same_rows(_signals(settings.duckdb_path), _signals(one))
    assert _states(settings.duckdb_path) == _states(one)  # written again as version 3, as one pass writes them


def test_rows_match_the_kernels_and_the_injected_jump_is_detected(tmp_path: Path, trades: pa.Table) -> None:
    # a flat profile (fewer sessions than PROFILE_MIN_SESSIONS) so the scaled returns are the returns over the
    # elapsed time: the profile has its own tests (test_seasonality.py)
    rows = [dict(zip(COLUMNS, r, strict=True))
            for r in _signals(_one_pass(tmp_path, trades, profile_min_sessions=100))]
    btc = [r for r in rows if r["symbol"] == "X:BTCUSD"]
    # recompute from the kernels directly
    sel = trades.filter(pa.compute.equal(trades["symbol"], "X:BTCUSD"))
    ts = sel["ts_ns"].to_numpy()
    watermark = int(trades["ts_ns"].to_numpy().max()) - 2 * NS
    so, sc = session_bounds("00:00-24:00 UTC", int(ts[0]), watermark)
    b = bars(ts, sel["price"].to_numpy(), sel["size"].to_numpy(), so, sc, 60 * NS, final_before_ns=watermark)
    assert [r["bar_end_ns"] for r in btc] == b.bar_end_ns.tolist()
    assert [r["close"] for r in btc] == b.close.tolist()
    bar_rows = naive.bars(ts, sel["price"].to_numpy(), sel["size"].to_numpy(), so, sc, 60 * NS,
                          final_before_ns=watermark)
    first = {int(o): (int(ts[k]), float(sel["price"].to_numpy()[k]))
             for o, k in zip(so, np.searchsorted(ts, so), strict=True) if k < ts.size}
    tested = naive.tested_returns(bar_rows, first, 60 * NS)
    u = np.array([v for _, v, _ in tested])
    stat = np.full(len(btc), np.nan)
    stat[[i for i, _, _ in tested]] = naive.lee_mykland_stat(u, 20)
    got = np.array([np.nan if r["lee_mykland_stat"] is None else r["lee_mykland_stat"] for r in btc])
    np.testing.assert_allclose(got, stat, rtol=1e-12, equal_nan=True)
    assert all(r["lee_mykland_stat"] is None and not r["jump_detected"] for r in btc if r["n_trades"] == 0)
    # the critical value is for the tests a session holds: 1440 bars in the first, then the mean number of
    # tested bars of the sessions before
    sess = np.searchsorted(so, b.bar_end_ns - 1, side="right") - 1
    per_session = np.bincount(sess[[i for i, _, _ in tested]], minlength=so.size)
    want = [lm_threshold(max(3, math.floor(per_session[:k].mean() + 0.5)) if k else 1440, 0.01)
            for k in sess.tolist()]
    assert [r["jump_threshold"] for r in btc] == want
    assert len(set(want)) > 1
    jump_bar = (JUMP_NS // (60 * NS) + 1) * 60 * NS
    (hit,) = [r for r in btc if r["bar_end_ns"] == jump_bar]
    crit = hit["jump_threshold"]
    assert hit["jump_detected"] and hit["trading_signal"] == "SELL"
    assert hit["signal_reason"] == f"jump up: LM {hit['lee_mykland_stat']:.2f} > {crit:.2f} (alpha 0.01); fade it"
    # the injected jump is the largest |L| (small K = 20 gives heavy-tailed L, so other bars may flag too)
    assert abs(hit["lee_mykland_stat"]) == np.nanmax(np.abs(stat))
    assert btc[0]["signal_reason"] == "no signal: LM window not full (0 of 20 returns)"
    (i0, u0, _), (i1, _, w1) = tested[:2]
    assert btc[i0]["garch_sigma"] is None
    assert btc[i1]["garch_sigma"] == pytest.approx(abs(u0) * math.sqrt(w1), rel=1e-12)
    for column in ("garch_sigma", "standardized_return", "bns_stat", "trade_intensity_zscore",
                   "conditional_duration", "acd_surprise", "vpin", "vpin_cdf"):
        assert sum(r[column] is not None for r in btc) > len(btc) // 4, column


def test_stock_bars_stay_inside_new_york_sessions(tmp_path: Path, trades: pa.Table) -> None:
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in _signals(_one_pass(tmp_path, trades))]
    aapl = [r for r in rows if r["symbol"] == "AAPL"]
    opens, closes = session_bounds("09:30-16:00 America/New_York", START, END)
    assert len(opens) == 2  # Friday and Monday (after the DST change); Tuesday opens after END
    for r in aapl:
        assert any(o < r["bar_end_ns"] <= c for o, c in zip(opens, closes, strict=True))
    friday = [r for r in aapl if r["bar_end_ns"] <= closes[0]]
    assert all(r["jump_threshold"] == lm_threshold(390, 0.01) for r in friday)  # before any finished session
    # then the one for Friday's tested bars, at most its bars
    (later,) = {r["jump_threshold"] for r in aapl if r["bar_end_ns"] > closes[0]}
    assert later in [lm_threshold(n, 0.01) for n in range(3, len(friday) + 1)]
    monday = [r["bar_end_ns"] for r in aapl if opens[1] < r["bar_end_ns"] <= closes[1]]
    assert monday[-1] == closes[1] and len(monday) <= 390


def test_changed_window_recomputes_from_the_first_trade_with_one_line(
        tmp_path: Path, trades: pa.Table, caplog: pytest.LogCaptureFixture) -> None:
    path = _one_pass(tmp_path, trades)
    settings = _settings(path, lm_window=30)
    storage = _open(settings)
    try:
        with caplog.at_level("WARNING", logger="udx.transform"):
            run_transform(storage, settings, now_ns=1)
    finally:
        storage.close()
    lines = [r.getMessage() for r in caplog.records if "recomputing" in r.getMessage()]
    assert len(lines) == 1 and "2 symbol(s)" in lines[0] and "window" in lines[0]
    assert "AAPL (bars to 2024-03-1" in lines[0] and "X:BTCUSD (bars to 2024-03-12" in lines[0]
    fresh = _settings(tmp_path / "fresh.duckdb", lm_window=30)
    storage = _open(fresh)
    storage.append_trades(trades)
    run_transform(storage, fresh, now_ns=1)
    storage.close()
    _same_rows(_signals(path), _signals(fresh.duckdb_path))
    assert _states(path) == _states(fresh.duckdb_path)


def test_a_state_of_older_definitions_is_recomputed(tmp_path: Path, trades: pa.Table) -> None:
    path = _one_pass(tmp_path, trades)
    with duckdb.connect(str(path)) as con:  # what the code before the definitions changed stored
        con.execute("UPDATE signal_state SET state = replace(state, ?, ?)",
                    [f'"definitions":{DEFINITIONS}', f'"definitions":{DEFINITIONS - 1}'])
        con.execute("UPDATE trading_signals SET vpin = -1")
    storage = _open(_settings(path))
    run_transform(storage, _settings(path), now_ns=1)
    storage.close()
    _same_rows(_signals(path), _signals(_one_pass(tmp_path / "again", trades)))


def test_state_json_round_trips_exactly() -> None:
    tail = np.array([1e-300, -0.0, math.pi, 5e-324, math.nan, math.inf, -math.nan])
    state = SymbolState({"bar_seconds": 60, "session": "00:00-24:00 UTC"}, 120 * NS, 0.1 + 0.2, 60 * NS, 7,
                        {"ret": tail, "ends": np.array([-(2**63), 2**63 - 1], np.int64),
                         "counts": np.array([0, 7, 65535], np.uint16)})
    back = SymbolState.from_json(state.to_json())
    assert back.to_json() == state.to_json()
    assert back.arrays["ret"].tobytes() == tail.tobytes()
    assert back.arrays["ends"].dtype == np.int64 and back.arrays["ends"].tolist() == [-(2**63), 2**63 - 1]
    assert back.arrays["counts"].dtype == np.uint16 and back.arrays["counts"].tolist() == [0, 7, 65535]
    assert back.last_close == 0.1 + 0.2
    with pytest.raises(StateError, match="version"):
        SymbolState.from_json('{"v": 99}')
    with pytest.raises(StateError, match="not valid JSON"):
        SymbolState.from_json("{")
    with pytest.raises(StateError, match="session: stored"):
        back.check_fits({"bar_seconds": 60, "session": "09:30-16:00 America/New_York"})


def test_empty_database_does_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "empty.duckdb")
    storage = _open(settings)
    summary = run_transform(storage, settings)
    storage.close()
    assert (summary.symbols, summary.bars, summary.watermark_ns) == (0, 0, None)




def test_recomputing_after_a_lost_state_replaces_the_stored_bars(tmp_path: Path, trades: pa.Table) -> None:
    # the state was deleted to recompute: every recomputed bar replaces its stored row (the table has no key
    # index; upsert_signals deletes by key before inserting), so one row per bar, with the new values
    settings = _settings(tmp_path / "db.duckdb")
    storage = _open(settings)
    storage.append_trades(trades)
    run_transform(storage, settings, now_ns=1)
    cursor = storage._cursor()
    before = cursor.execute("SELECT count(*) FROM trading_signals").fetchone()
    cursor.execute("DELETE FROM signal_state")
    cursor.execute("UPDATE trading_signals SET signal_reason = 'stale'")
    summary = run_transform(storage, settings, now_ns=2)
    assert summary.bars == before[0]
    assert cursor.execute("SELECT count(*), count(*) FILTER (signal_reason = 'stale'), min(computed_at_ns) "
                          "FROM trading_signals").fetchone() == (before[0], 0, 2)
    assert cursor.execute("SELECT count(DISTINCT (symbol, bar_seconds, bar_end_ns)) FROM trading_signals"
                          ).fetchone() == (before[0],)
    assert cursor.execute("SELECT count(*) FROM signal_state").fetchone() == (2,)
    storage.close()
