"""The Vertica UDx ``batch_microstructure`` driven through a stand-in for ``vertica_sdk``, against DuckDB.

Vertica's SDK exists only inside Vertica, so the reader, writer, parameter reader and column-type objects
here are test doubles with the SDK's method names. The trades are fed as ``udx_signals_to_stage.sql`` feeds
them (per symbol, ordered like ``trades_range``, from the end of the stored state up to the watermark, the
state on the first row) and the rows must equal what ``run_transform`` writes into a real DuckDB file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sql.contract import SIGNALS_SCHEMA, TRADES_SCHEMA
from sql.settings import Settings
from sql.vertica_backend import udx_settings_json
from tests.duckdb_one_pass import transform_in_one_pass
from tests.udx.vertica_sdk_doubles import FakeTypes
from tests.udx.vertica_sdk_doubles import run_udx as _run_udx
from udx import vertica_udx
from udx.transform import run_transform

DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
START = int(dt.datetime(2024, 3, 8, 12, tzinfo=dt.UTC).timestamp()) * NS  # Friday; NY DST starts on the 10th
END = START + 3 * 86_400 * NS
JUMP_NS = START + 30 * 3_600 * NS + 17 * NS
NOW_NS = 1_234_567
COMPUTED = [f.name for f in SIGNALS_SCHEMA if f.name not in ("symbol", "computed_at_ns")]
ROOT = Path(__file__).resolve().parents[2]


# --- data -------------------------------------------------------------------------------------------
def _trades() -> pa.Table:
    """Crypto around the clock, a stock with pre/after-market prints, same-time prints, a +3% crypto jump."""
    rng = np.random.default_rng(23)
    parts = []
    for market, symbol, n in (("crypto", "X:BTCUSD", 20_000), ("stocks", "AAPL", 4_000)):
        ts = np.sort(rng.integers(START, END, n))
        ts[1::7] = ts[0::7][: ts[1::7].size]  # ties in time: the order inside a tie decides the close
        ts = np.sort(ts)
        logp = np.cumsum(rng.normal(0, 2e-4, n))
        if market == "crypto":
            logp[ts >= JUMP_NS] += 0.03
        parts.append((market, symbol, ts, 100 * np.exp(logp), rng.integers(1, 100, n).astype(float)))
    market = np.concatenate([np.full(p[2].size, p[0], object) for p in parts])
    symbol = np.concatenate([np.full(p[2].size, p[1], object) for p in parts])
    ts, price, size = (np.concatenate([p[i] for p in parts]) for i in (2, 3, 4))
    n = ts.size
    seq = rng.permutation(n).astype(np.int64)  # sequence, not arrival order, breaks ties
    # sale conditions and corrections that keep prints from setting the price or from counting at all
    conditions = rng.choice(np.array([None, "37", "2", "22,37", "14"], object), n, p=[0.6, 0.25, 0.05, 0.05, 0.05])
    correction = np.where(rng.random(n) < 0.02, 8, 0).astype(np.int32)
    return pa.Table.from_arrays(
        [pa.array(market, pa.string()), pa.array(symbol, pa.string()), pa.array(ts), pa.array(price),
         pa.array(size), pa.array(rng.integers(0, 3, n).astype(np.int32)),
         pa.array([f"t{i}" for i in range(n)], pa.string()), pa.array(conditions, pa.string()),
         pa.nulls(n, pa.int32()),
         pa.array(seq), pa.nulls(n, pa.int32()), pa.nulls(n, pa.int64()), pa.array(ts),
         pa.array(["sim"] * n, pa.string()), pa.array(correction)],
        schema=TRADES_SCHEMA,
    )


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    return _trades()


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=60, lm_window=20,  # type: ignore[call-arg]
                    transform_lateness_seconds=2.0, session_stocks="09:30-16:00 America/New_York")


@pytest.fixture(scope="module")
def duckdb_rows(tmp_path_factory: pytest.TempPathFactory, trades: pa.Table) -> dict[str, list[tuple]]:
    """``run_transform`` on a real DuckDB file: the reference rows per symbol."""
    settings = _settings(tmp_path_factory.mktemp("duck") / "ref.duckdb")
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    storage.append_trades(trades)
    run_transform(storage, settings, now_ns=NOW_NS)
    storage.close()
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        rows = con.execute(f"SELECT symbol, {', '.join(COMPUTED)}, computed_at_ns FROM trading_signals "
                           "ORDER BY symbol, bar_end_ns").fetchall()
    out: dict[str, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row[1:])
    assert set(out) == {"AAPL", "X:BTCUSD"} and all(len(v) > 100 for v in out.values())
    return out


def _partition(trades: pa.Table, symbol: str, start_ns: int, end_ns: int, state: str | None) -> list[tuple]:
    """The rows udx_signals_to_stage.sql feeds one partition: (ts_ns, price, size, conditions, correction,
    symbol, state-on-first)."""
    t = trades.filter(pa.compute.equal(trades["symbol"], symbol)).to_pydict()
    rows = [(t["ts_ns"][i], t["price"][i], t["size"][i], t["sequence"][i], t["exchange"][i], t["trade_id"][i],
             t["conditions"][i], t["correction"][i])
            for i in range(len(t["ts_ns"])) if start_ns <= t["ts_ns"][i] < end_ns]
    rows.sort(key=lambda r: (r[0], r[3] is None, r[3], r[4], r[5]))  # ORDER BY ts_ns, sequence NULLS LAST, ...
    return [(r[0], r[1], r[2], r[6], r[7], symbol, state if i == 0 else None) for i, r in enumerate(rows)]


def _assert_same(udx_rows: list[dict[str, Any]], ref: list[tuple]) -> None:
    assert len(udx_rows) == len(ref)
    for got, want in zip(udx_rows, ref, strict=True):
        for name, expected in zip([*COMPUTED, "computed_at_ns"], want, strict=True):
            value = got[name]
            if isinstance(expected, float) and value is not None:
                if math.isnan(expected):
                    assert math.isnan(value), name
                else:
                    assert value == pytest.approx(expected, rel=1e-12, abs=0.0), (name, got, want)
            else:
                assert value == expected, (name, value, expected)


# --- tests ------------------------------------------------------------------------------------------
def test_vertica_udx_matches_the_duckdb_transform(trades: pa.Table, duckdb_rows, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "unused.duckdb")
    watermark = int(pa.compute.max(trades["ts_ns"]).as_py()) - 2 * NS
    for symbol, market in (("X:BTCUSD", "crypto"), ("AAPL", "stocks")):
        params = {"settings": udx_settings_json(settings), "market": market, "watermark_ns": watermark,
                  "computed_at_ns": NOW_NS}
        names, out = _run_udx(vertica_udx.BatchMicrostructureResumeFactory(),
                              _partition(trades, symbol, 0, watermark, None), params)
        assert names == [f.name for f in SIGNALS_SCHEMA] + ["state", "model_params", "intraday_profile"]
        rows = [dict(zip(names, r, strict=True)) for r in out]
        assert {r["symbol"] for r in rows} == {symbol}
        _assert_same(rows, duckdb_rows[symbol])
        assert [r["state"] is not None for r in rows] == [False] * (len(rows) - 1) + [True]


def test_vertica_udx_resumes_from_its_state_like_one_pass(trades: pa.Table, duckdb_rows, tmp_path: Path) -> None:
    """Two runs, the second fed the first's state (as signal_state would hold it), give the one-pass rows."""
    settings = _settings(tmp_path / "unused.duckdb")
    final = int(pa.compute.max(trades["ts_ns"]).as_py()) - 2 * NS
    for symbol, market in (("X:BTCUSD", "crypto"), ("AAPL", "stocks")):
        rows: list[dict[str, Any]] = []
        state, start = None, 0
        for watermark in (START + 40 * 3_600 * NS + 123, START + 50 * 3_600 * NS, final):
            params = {"settings": udx_settings_json(settings), "market": market, "watermark_ns": watermark,
                      "computed_at_ns": NOW_NS}
            names, out = _run_udx(vertica_udx.BatchMicrostructureResumeFactory(),
                                  _partition(trades, symbol, start, watermark, state), params)
            part = [dict(zip(names, r, strict=True)) for r in out]
            if part:
                state = part[-1]["state"]
                start = json.loads(state)["last_bar_end_ns"]
                assert start == part[-1]["bar_end_ns"]
            rows += part
        _assert_same(rows, duckdb_rows[symbol])


def test_vertica_udx_five_argument_form_is_the_same_without_key_and_state(trades, duckdb_rows, tmp_path) -> None:
    settings = _settings(tmp_path / "unused.duckdb")
    watermark = int(pa.compute.max(trades["ts_ns"]).as_py()) - 2 * NS
    names, out = _run_udx(vertica_udx.BatchMicrostructureFactory(), _partition(trades, "AAPL", 0, watermark, None),
                          {"settings": udx_settings_json(settings), "watermark_ns": watermark,
                           "computed_at_ns": NOW_NS})
    assert names == [f.name for f in SIGNALS_SCHEMA if f.name != "symbol"]
    _assert_same([dict(zip(names, r, strict=True)) for r in out], duckdb_rows["AAPL"])


def test_vertica_udx_factory_declares_what_it_writes() -> None:
    for factory, n_args in ((vertica_udx.BatchMicrostructureFactory(), 5),
                            (vertica_udx.BatchMicrostructureResumeFactory(), 7),
                            (vertica_udx.BatchMicrostructureQuotesFactory(), 11),
                            (vertica_udx.BatchMicrostructureRealizedFactory(), 12)):
        args, out, sized, params = FakeTypes(), FakeTypes(), FakeTypes(), FakeTypes()
        factory.getPrototype(None, args, out)
        factory.getReturnType(None, args, sized)
        factory.getParameterType(None, params)
        assert [c[0] for c in args.calls][:5] == ["addInt", "addFloat", "addFloat", "addVarchar", "addInt"]
        assert len(args.calls) == n_args
        assert [c[0] for c in out.calls] == [c[0] for c in sized.calls]  # prototype and sized types agree
        assert [c[-1] for c in params.calls] == ["settings", "market", "watermark_ns", "computed_at_ns"]
        kinds = {c[-1]: c[0] for c in sized.calls}
        assert kinds["bar_end_ns"] == "addInt" and kinds["jump_detected"] == "addBool"
        assert kinds["vwap"] == "addFloat" and kinds["signal_reason"] == "addVarchar"
        if n_args >= 11:  # the quotes, and the bar liquidity beside the signals
            assert [c[0] for c in args.calls][7:11] == ["addFloat"] * 4
            assert kinds["n_quotes"] == "addInt" and kinds["kyle_lambda"] == "addFloat"
        if n_args == 12:  # the row kind, and the realized rows as JSON last
            assert args.calls[11][0] == "addInt" and sized.calls[-1][0] == "addLongVarchar"
            assert sized.calls[-1][-1] == "bar_realized_spread"
        else:
            assert "bar_realized_spread" not in kinds


def test_vertica_udx_ad_hoc_defaults_and_empty_partitions() -> None:
    ts = START + np.arange(0, 5_000) * 7 * NS
    result = vertica_udx.compute_partition(ts, 100 + np.sin(np.arange(ts.size)), np.ones(ts.size),
                                           market="crypto")
    assert result.signals.num_rows > 0 and result.state is not None
    assert result.signals.column("bar_end_ns").to_pylist()[-1] <= int(ts[-1])  # default watermark: newest trade
    empty = vertica_udx.compute_partition([], [], [], market="crypto")
    assert empty.signals.num_rows == 0 and empty.state is None
    with pytest.raises(ValueError, match="ordered by ts_ns"):
        vertica_udx.compute_partition([2, 1], [1.0, 1.0], [1.0, 1.0])


@pytest.mark.parametrize("mode", ["no-numba", "jit-disabled"])
def test_vertica_udx_runs_without_numba_and_gives_the_same_rows(mode: str) -> None:
    """On Vertica nodes without numba the kernels' plain-Python twins run: the same rows to 1e-12.

    (Not bit for bit: the GARCH recursion compiled by numba and its Python twin differ in the last bits,
    ~3e-15 relative, measured.)
    """
    code = (
        "import json, sys, warnings\n"
        "if sys.argv[1] == 'no-numba': sys.modules['numba'] = None\n"
        "warnings.simplefilter('ignore')\n"
        "import numpy as np\n"
        "from udx import _jit, vertica_udx\n"
        f"ts = {START} + np.arange(0, 3000) * 11 * 10**9\n"
        "r = vertica_udx.compute_partition(ts, 100 * np.exp(np.cumsum(np.sin(np.arange(3000)) * 1e-3)),"
        " np.ones(3000), market='crypto', computed_at_ns=1)\n"
        "print(json.dumps({'numba': 'numba' in sys.modules and sys.modules['numba'] is not None,"
        " 'jit': _jit.jit_enabled(), 'rows': r.signals.to_pydict()}))\n"
    )
    env = {**os.environ, "UDX_DISABLE_NUMBA": "1"} if mode == "jit-disabled" else dict(os.environ)
    twin = json.loads(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                     cwd=ROOT, env=env, check=True).stdout)
    jitted = json.loads(subprocess.run([sys.executable, "-c", code, "jit"], capture_output=True, text=True,
                                       cwd=ROOT, env=dict(os.environ), check=True).stdout)
    assert jitted["numba"] and jitted["jit"]
    assert (not twin["numba"]) if mode == "no-numba" else (not twin["jit"])
    assert twin["rows"].keys() == jitted["rows"].keys() and len(twin["rows"]["bar_end_ns"]) > 100
    for name, want in jitted["rows"].items():
        got = twin["rows"][name]
        if SIGNALS_SCHEMA.field(name).type == pa.float64():
            np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float), rtol=1e-12,
                                       atol=0, err_msg=name)
        else:
            assert got == want, name


def test_vertica_udx_module_imports_without_the_vertica_sdk() -> None:
    assert vertica_udx.vertica_sdk is None
    assert vertica_udx.BatchMicrostructure.__mro__[1] is object


# --- bar liquidity: trades and quotes in one partition (issue 19) ------------------------------------
LIQ_BAR = 60
LIQ_END = 1_750_000_000 * NS - (1_750_000_000 % LIQ_BAR) * NS  # on the bar grid
LIQ_START = LIQ_END - 90 * 60 * NS


@pytest.fixture(scope="module")
def market() -> tuple[pa.Table, pa.Table]:
    from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket

    stocks = tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2]
    return SyntheticMarket(5, 20.0, stocks, quote_dynamics=True, record_truth=True).history(LIQ_START, LIQ_END)


def _liq_settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=LIQ_BAR, session_stocks="00:00-24:00 UTC",  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, roll_window=50, kyle_window=10)


def _quoted_partition(trades: pa.Table, quotes: pa.Table, symbol: str, end_ns: int) -> list[tuple]:
    """The rows udx_signals_to_stage.sql feeds the 11-argument form: trades (ordered as trades_range orders them)
    and quotes (price NULL; ordered as quotes_range_symbols orders them) merged by time, state NULL."""
    rows = []
    t = trades.filter(pa.compute.equal(trades["symbol"], symbol)).to_pydict()
    for i in range(len(t["ts_ns"])):
        if t["ts_ns"][i] < end_ns:
            key = (t["ts_ns"][i], 0, t["sequence"][i] is None, t["sequence"][i] or 0, t["exchange"][i],
                   t["trade_id"][i], 0)
            rows.append((key, (t["ts_ns"][i], t["price"][i], t["size"][i], t["conditions"][i], t["correction"][i],
                               symbol, None, None, None, None, None)))
    q = quotes.filter(pa.compute.equal(quotes["symbol"], symbol)).to_pydict()
    for i in range(len(q["ts_ns"])):
        if q["ts_ns"][i] < end_ns:
            key = (q["ts_ns"][i], 1, q["sequence"][i] is None, q["sequence"][i] or 0, 0, "", q["received_ns"][i])
            rows.append((key, (q["ts_ns"][i], None, None, None, None, symbol, None, q["bid_price"][i],
                               q["bid_size"][i], q["ask_price"][i], q["ask_size"][i])))
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


def _close(got: Any, want: Any) -> bool:
    if isinstance(want, float) and got is not None:
        return (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, rel=1e-12, abs=0.0)
    return got == want or (want is not None and isinstance(want, float) and math.isnan(want) and got is None)


def test_vertica_udx_with_quotes_writes_the_duckdb_transforms_bar_liquidity(market, tmp_path: Path) -> None:
    from sql.contract import LIQUIDITY_COLUMNS

    trades, quotes = market
    settings = _liq_settings(tmp_path / "ref.duckdb")
    transform_in_one_pass(settings, trades, quotes, now_ns=NOW_NS).close()
    watermark = int(pa.compute.max(trades["ts_ns"]).as_py())
    checked = 0
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        for symbol in sorted(set(trades["symbol"].to_pylist())):
            liq = con.execute(f"SELECT bar_end_ns, {', '.join(LIQUIDITY_COLUMNS)} FROM bar_liquidity "
                              "WHERE symbol = ? ORDER BY bar_end_ns", [symbol]).fetchall()
            sig = con.execute(f"SELECT {', '.join(COMPUTED)}, computed_at_ns FROM trading_signals "
                              "WHERE symbol = ? ORDER BY bar_end_ns", [symbol]).fetchall()
            params = {"settings": udx_settings_json(settings), "market": "stocks", "watermark_ns": watermark,
                      "computed_at_ns": NOW_NS}
            names, out = _run_udx(vertica_udx.BatchMicrostructureQuotesFactory(),
                                  _quoted_partition(trades, quotes, symbol, watermark), params)
            assert names == ([f.name for f in SIGNALS_SCHEMA] + list(LIQUIDITY_COLUMNS)
                             + ["state", "model_params", "intraday_profile"])
            rows = [dict(zip(names, r, strict=True)) for r in out]
            _assert_same(rows, sig)  # quotes change no signal
            assert len(rows) == len(liq) > 30
            for got, want in zip(rows, liq, strict=True):
                for name, expected in zip(["bar_end_ns", *LIQUIDITY_COLUMNS], want, strict=True):
                    assert _close(got[name], expected), (symbol, name, got[name], expected)
            assert sum(r["n_quotes"] for r in rows) > 0 and any(r["quoted_spread"] is not None for r in rows)
            checked += len(rows)
    assert checked > 60


def test_vertica_udx_with_quotes_depth_imbalance_matches_the_reference_definition(market, tmp_path: Path) -> None:
    from tests.reference import liquidity as ref

    trades, quotes = market
    settings = _liq_settings(tmp_path / "unused.duckdb")
    symbol = sorted(set(trades["symbol"].to_pylist()))[0]
    watermark = int(pa.compute.max(trades["ts_ns"]).as_py())
    names, out = _run_udx(vertica_udx.BatchMicrostructureQuotesFactory(),
                          _quoted_partition(trades, quotes, symbol, watermark),
                          {"settings": udx_settings_json(settings), "market": "stocks", "watermark_ns": watermark,
                           "computed_at_ns": NOW_NS})
    rows = [dict(zip(names, r, strict=True)) for r in out]
    q = quotes.filter(pa.compute.equal(quotes["symbol"], symbol)).sort_by([("ts_ns", "ascending")]).to_pydict()
    book = [(q["ts_ns"][i], *(math.nan if q[c][i] is None else q[c][i]
                              for c in ("bid_price", "ask_price", "bid_size", "ask_size")))
            for i in range(len(q["ts_ns"]))]
    bars = [(r["bar_end_ns"] - LIQ_BAR * NS, r["bar_end_ns"]) for r in rows]
    want = ref.depth_imbalance(bars, book, round(settings.quote_stale_seconds * NS))
    got = [math.nan if r["depth_imbalance"] is None else r["depth_imbalance"] for r in rows]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, equal_nan=True)
    assert np.isfinite(got).sum() > 30


def test_vertica_udx_with_quotes_refuses_quotes_out_of_time_order() -> None:
    quotes = pa.table({"ts_ns": [2, 1], "bid_price": [1.0, 1.0], "bid_size": [1.0, 1.0], "ask_price": [2.0, 2.0],
                       "ask_size": [1.0, 1.0]}, schema=vertica_udx.QUOTE_COLUMNS)
    with pytest.raises(ValueError, match="quotes ordered by ts_ns"):
        vertica_udx.compute_partition([1, 2], [1.0, 1.0], [1.0, 1.0], quotes=quotes)


def test_vertica_udx_realized_form_returns_the_duckdb_transforms_realized_rows(market, tmp_path, monkeypatch) -> None:
    """The 12-argument form (trades kind 0, quotes kind 1, no realized row yet): after each symbol's bars, rows
    carrying only its ``bar_realized_spread`` rows as JSON (a few per row here, to cut them), equal to DuckDB's."""
    from sql.contract import BAR_REALIZED_SPREAD_SCHEMA

    trades, quotes = market
    settings = _liq_settings(tmp_path / "ref.duckdb")
    transform_in_one_pass(settings, trades, quotes, now_ns=NOW_NS).close()
    monkeypatch.setattr(vertica_udx, "REALIZED_ROWS_PER_CARRIER", 7)
    watermark = int(pa.compute.max(trades["ts_ns"]).as_py())
    names_sql = ", ".join(BAR_REALIZED_SPREAD_SCHEMA.names)
    for symbol in sorted(set(trades["symbol"].to_pylist())):
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            want = con.execute(f"SELECT {names_sql} FROM bar_realized_spread WHERE symbol = ? ORDER BY bar_end_ns",
                               [symbol]).fetchall()
            bars = con.execute("SELECT count(*) FROM trading_signals WHERE symbol = ?", [symbol]).fetchone()[0]
        feed = [(*r, 1 if r[1] is None else 0) for r in _quoted_partition(trades, quotes, symbol, watermark)]
        names, out = _run_udx(vertica_udx.BatchMicrostructureRealizedFactory(), feed,
                              {"settings": udx_settings_json(settings), "market": "stocks", "watermark_ns": watermark,
                               "computed_at_ns": NOW_NS})
        rows = [dict(zip(names, r, strict=True)) for r in out]
        assert names[-1] == "bar_realized_spread" and len(rows) > bars
        assert all(r["bar_realized_spread"] is None and r["bar_end_ns"] is not None for r in rows[:bars])
        carriers = rows[bars:]
        assert len(carriers) == -(-len(want) // 7) and len(want) > 30
        assert all({k for k, v in r.items() if v is not None} == {"symbol", "bar_realized_spread"} for r in carriers)
        got = [tuple(row[k] for k in BAR_REALIZED_SPREAD_SCHEMA.names)
               for r in carriers for row in json.loads(r["bar_realized_spread"])]
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert all(_close(a, b) for a, b in zip(g, w, strict=True)), (g, w)
