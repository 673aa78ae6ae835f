"""``udx/vertica_udx.py`` on tiny hand-made partitions: fast rules for the mutation group ``vertica-udx``.

Vertica cannot run here, so the UDx is driven through the SDK stand-ins of :mod:`tests.udx.vertica_sdk_doubles`.
The expectations are written by hand from the documented contract of the module (its docstrings,
``sql/vertica/transform/udx_signals_to_stage.sql``, the DDL widths of ``sql/vertica/``): which rows a partition
reads (trades, quotes, due bars, the newest realized row, symbol and the state on the first row, NULLs), which
rows it emits (counts, keys, order, the state and JSON columns on the last bar only, the realized carriers), the
parameters; the bar columns of a tiny partition against ``tests/reference/bars.py`` (no project code). Milliseconds
a test in plain Python (``UDX_DISABLE_NUMBA=1``); the comparison with ``run_transform`` over a real market stays in
``test_vertica_udx.py``.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sql.backend import SignalStateRow
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    LIQUIDITY_COLUMNS,
    MODEL_PARAMS_SCHEMA,
    SIGNALS_SCHEMA,
)
from tests.reference.bars import condition_rules, eligibility, make_bars
from tests.udx.vertica_sdk_doubles import FakeServer, FakeTypes, FakeWriter, run_udx
from udx import vertica_udx as vu

ROOT = Path(__file__).resolve().parents[2]
NS = 10**9
BAR = 60
DAY = 1_749_945_600 * NS  # 2025-06-15 00:00 UTC, a Sunday
T0 = DAY + 10 * 3_600 * NS
#: a tiny crypto partition: a tie in time, a bar without a trade (carried close), a print on a bar's start
TS = [T0 + 5 * NS, T0 + 20 * NS, T0 + 20 * NS, T0 + 70 * NS, T0 + 130 * NS, T0 + 250 * NS, T0 + 300 * NS,
      T0 + 360 * NS]
PX = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0, 102.5, 104.0]
SZ = [1.0, 2.0, 3.0, 1.0, 5.0, 2.0, 1.0, 1.0]
SETTINGS = json.dumps({"bar_seconds": BAR, "liquidity_horizon_seconds": 60,
                       "session_stocks": "00:00-24:00 UTC"})


def _kind(t: pa.DataType) -> str:
    """The UDx output kind of an Arrow type, as the module's docstring names them."""
    if t == pa.string():
        return "varchar"
    if t == pa.bool_():
        return "bool"
    if t in (pa.int64(), pa.int32()):
        return "int"
    assert t == pa.float64()
    return "float"


def _reference_bars(ts, px, sz, market="crypto", conditions=None, correction=None, final=None,
                    session=(DAY, DAY + 86_400 * NS)) -> list[dict]:
    rules = condition_rules()
    n = len(ts)
    flags = [eligibility(market, (conditions or [None] * n)[i], (correction or [None] * n)[i], rules)
             for i in range(n)]
    prints = [(ts[i], px[i], sz[i], *flags[i]) for i in range(n)]
    return make_bars(prints, [session], BAR * NS, ts[-1] if final is None else final)


def _same_bars(rows: list[dict], ref: list[dict]) -> None:
    assert [r["bar_end_ns"] for r in rows] == [r["bar_end_ns"] for r in ref]
    for got, want in zip(rows, ref, strict=True):
        assert got["n_trades"] == want["n_trades"] and got["volume"] == want["volume"]
        assert got["close"] == want["close"]
        assert got["log_return"] == pytest.approx(want["log_return"], rel=1e-12, abs=1e-15)
        if math.isnan(want["vwap"]):
            assert got["vwap"] is None or math.isnan(got["vwap"])
        else:
            assert got["vwap"] == pytest.approx(want["vwap"], rel=1e-12)
        assert got["bar_seconds"] == BAR


# --- output columns and the factories' declarations ------------------------------------------------------
def test_output_columns_are_the_contract_columns_in_the_documented_order() -> None:
    signals = [(f.name, _kind(f.type)) for f in SIGNALS_SCHEMA]
    liquidity = [(n, _kind(BAR_LIQUIDITY_SCHEMA.field(n).type)) for n in LIQUIDITY_COLUMNS]
    json_cols = [("state", "long"), ("model_params", "long"), ("intraday_profile", "long")]
    assert vu.output_columns(False) == signals[1:]
    assert signals[0] == ("symbol", "varchar") and ("jump_detected", "bool") in signals
    assert ("bar_end_ns", "int") in signals and ("bar_seconds", "int") in signals and ("vwap", "float") in signals
    assert vu.output_columns(True) == signals + json_cols
    assert vu.output_columns(True, True) == signals + liquidity + json_cols
    assert ("n_quotes", "int") in liquidity and ("kyle_lambda", "float") in liquidity
    assert vu.output_columns(True, True, True) == signals + liquidity + json_cols + [("bar_realized_spread", "long")]
    assert vu.output_columns(False, False, True) == signals[1:] + [("bar_realized_spread", "long")]
    assert vu.output_columns(keyed=False, quoted=True) == signals[1:] + liquidity


def _ddl_widths() -> dict[str, int]:
    text = (ROOT / "sql/vertica/staging/003_trading_signals_stage.sql").read_text()
    return {m.group(1): int(m.group(3)) for m in re.finditer(r"^\s*(\w+)\s+(LONG )?VARCHAR\((\d+)\)", text, re.M)}


FACTORIES = [(vu.BatchMicrostructureFactory, False, False, False),
             (vu.BatchMicrostructureResumeFactory, True, False, False),
             (vu.BatchMicrostructureQuotesFactory, True, True, False),
             (vu.BatchMicrostructureRealizedFactory, True, True, True)]


@pytest.mark.parametrize(("factory", "keyed", "quoted", "realized"), FACTORIES)
def test_factories_declare_the_arguments_returns_and_parameters(factory, keyed, quoted, realized) -> None:
    args, out, sized, params = FakeTypes(), FakeTypes(), FakeTypes(), FakeTypes()
    f = factory()
    f.getPrototype(None, args, out)
    f.getReturnType(None, args, sized)
    f.getParameterType(None, params)
    want_args = ["addInt", "addFloat", "addFloat", "addVarchar", "addInt"]  # ts_ns, price, size, conditions, correction
    if keyed:
        want_args += ["addVarchar", "addLongVarchar"]  # symbol, state
    if quoted:
        want_args += ["addFloat"] * 4  # bid_price, bid_size, ask_price, ask_size
    if realized:
        want_args += ["addInt"]  # kind
    assert args.calls == [(a,) for a in want_args]
    columns = vu.output_columns(keyed, quoted, realized)
    adder = {"int": "addInt", "float": "addFloat", "bool": "addBool", "varchar": "addVarchar",
             "long": "addLongVarchar"}
    assert out.calls == [(adder[k],) for _, k in columns]
    widths = _ddl_widths()  # the stage's widths: what the INSERT of udx_signals_to_stage.sql puts them into
    want_sized = []
    for name, kind in columns:
        if kind in ("varchar", "long"):
            want_sized.append((adder[kind], widths[name], name))
        else:
            want_sized.append((adder[kind], name))
    assert sized.calls == want_sized
    assert widths["symbol"] == 32 and widths["state"] == 1_048_576
    # settings: Vertica's longest VARCHAR (65000 bytes) holds the settings JSON; market: 'stocks' or 'crypto'
    assert params.calls[0] == ("addVarchar", 65_000, "settings")
    assert params.calls[1][0] == "addVarchar" and params.calls[1][2] == "market" and params.calls[1][1] >= len("stocks")
    assert params.calls[2:] == [("addInt", "watermark_ns"), ("addInt", "computed_at_ns")]
    function = f.createTransformFunction(None)
    assert isinstance(function, vu.BatchMicrostructure)
    assert (function._keyed, function._quoted, function._realized) == (keyed, quoted, realized)


def test_the_function_flags_imply_each_other() -> None:
    assert (vu.BatchMicrostructure(False)._keyed, vu.BatchMicrostructure(False)._quoted) == (False, False)
    q = vu.BatchMicrostructure(False, True)
    assert (q._keyed, q._quoted, q._realized) == (True, True, False)
    r = vu.BatchMicrostructure(False, False, True)
    assert (r._keyed, r._quoted, r._realized) == (True, True, True)
    assert vu.BatchMicrostructure(True)._params == {}


def test_the_settings_parameter_budget_holds_the_default_settings() -> None:
    from sql.settings import Settings
    from sql.vertica_backend import udx_settings_json

    assert len(udx_settings_json(Settings(_env_file=None)).encode()) < 65_000  # type: ignore[call-arg]


# --- what processPartition reads (compute_partition replaced by a recorder) ----------------------------------
class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> vu.PartitionResult:
        self.calls.append((args, kwargs))
        return vu.PartitionResult(SIGNALS_SCHEMA.empty_table(), None, MODEL_PARAMS_SCHEMA.empty_table())


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    rec = _Recorder()
    monkeypatch.setattr(vu, "compute_partition", rec)
    return rec


PARAMS = {"settings": SETTINGS, "market": "crypto", "watermark_ns": T0 + 400 * NS, "computed_at_ns": 77}


def test_the_resume_form_reads_trades_nulls_symbol_and_the_first_rows_state(recorder: _Recorder) -> None:
    rows = [(T0, 10.0, 2.0, "12,37", 0, "SYM", '{"s": 1}'),
            (T0 + 1, None, 3.0, None, 0, "SYM", None),  # conditions NULL, correction not
            (None, 11.0, 1.0, None, None, "SYM", '{"s": 2}'),  # no time: not a trade (its state is not the first)
            (T0 + 2, 12.0, None, "37", 12, "SYM", '{"s": 3}')]
    names, out = run_udx(vu.BatchMicrostructureResumeFactory(), rows, PARAMS)
    assert out == [] and len(recorder.calls) == 1
    args, kwargs = recorder.calls[0]
    ts, px, sz = args
    assert ts == [T0, T0 + 1, T0 + 2] and all(type(t) is int for t in ts)
    assert px[0] == 10.0 and math.isnan(px[1]) and px[2] == 12.0
    assert sz[:2] == [2.0, 3.0] and math.isnan(sz[2])
    assert kwargs["conditions"] == ["12,37", None, "37"] and kwargs["correction"] == [0, 0, 12]
    assert kwargs["symbol"] == "SYM" and kwargs["state"] == '{"s": 1}'
    assert kwargs["quotes"] is None and kwargs["realized"] is None
    assert {k: kwargs[k] for k in ("settings_json", "market", "watermark_ns", "computed_at_ns")} == {
        "settings_json": SETTINGS, "market": "crypto", "watermark_ns": T0 + 400 * NS, "computed_at_ns": 77}
    assert type(kwargs["watermark_ns"]) is int and type(kwargs["computed_at_ns"]) is int


def test_the_state_and_symbol_are_the_first_given_even_after_null_rows(recorder: _Recorder) -> None:
    rows = [(T0, 10.0, 2.0, None, None, None, None), (T0 + 1, 10.0, 2.0, None, None, "A", None),
            (T0 + 2, 10.0, 2.0, None, None, "B", "first"), (T0 + 3, 10.0, 2.0, None, None, "C", "second")]
    run_udx(vu.BatchMicrostructureResumeFactory(), rows, PARAMS)
    kwargs = recorder.calls[0][1]
    assert kwargs["symbol"] == "A" and kwargs["state"] == "first"


def test_the_five_argument_form_has_no_symbol_nor_state(recorder: _Recorder) -> None:
    names, out = run_udx(vu.BatchMicrostructureFactory(), [(T0, 1.0, 1.0, None, None, "X", "state")], PARAMS)
    kwargs = recorder.calls[0][1]
    assert kwargs["symbol"] == "" and kwargs["state"] is None


def test_missing_parameters_take_their_defaults(recorder: _Recorder) -> None:
    run_udx(vu.BatchMicrostructureResumeFactory(), [(T0, 1.0, 1.0, None, None, "X", None)], {})
    kwargs = recorder.calls[0][1]
    assert {k: kwargs[k] for k in ("settings_json", "market", "watermark_ns", "computed_at_ns")} == {
        "settings_json": None, "market": "stocks", "watermark_ns": None, "computed_at_ns": None}


def test_a_server_without_a_parameter_reader_gives_the_defaults(recorder: _Recorder) -> None:
    class NoParams(FakeServer):
        def getParamReader(self) -> None:  # noqa: N802
            return None

    function = vu.BatchMicrostructure(True)
    function.setup(NoParams({}), None)
    assert function._params == {"settings_json": None, "market": "stocks", "watermark_ns": None,
                                "computed_at_ns": None}


def test_a_partition_without_a_trade_emits_nothing(recorder: _Recorder) -> None:
    names, out = run_udx(vu.BatchMicrostructureResumeFactory(), [(None, 1.0, 1.0, None, None, "X", "s")], PARAMS)
    assert out == [] and recorder.calls == []
    # the 11-argument form: a quote alone is no trade either
    names, out = run_udx(vu.BatchMicrostructureQuotesFactory(),
                         [(T0, None, None, None, None, "X", None, 1.0, 1.0, 2.0, 1.0)], PARAMS)
    assert out == [] and recorder.calls == []


def test_the_quotes_form_tells_quotes_by_their_null_price(recorder: _Recorder) -> None:
    rows = [(T0, None, None, None, None, "Q", "st", 99.0, 5.0, 101.0, 6.0),
            (T0 + 1, 100.0, 2.0, None, None, "Q", None, None, None, None, None),
            (None, None, None, None, None, "Q", None, 1.0, 1.0, 2.0, 2.0),  # a quote without time: dropped
            (T0 + 2, None, None, None, None, "Q", None, None, 7.0, 102.0, None),
            (T0 + 3, 101.0, None, None, None, "Q", None, None, None, None, None)]  # a price: a trade, size or not
    run_udx(vu.BatchMicrostructureQuotesFactory(), rows, PARAMS)
    args, kwargs = recorder.calls[0]
    assert args[0] == [T0 + 1, T0 + 3] and args[1] == [100.0, 101.0] and args[2][0] == 2.0 and math.isnan(args[2][1])
    assert kwargs["state"] == "st" and kwargs["symbol"] == "Q" and kwargs["realized"] is None
    quotes = kwargs["quotes"]
    assert quotes.schema == vu.QUOTE_COLUMNS
    assert quotes.to_pylist() == [
        {"ts_ns": T0, "bid_price": 99.0, "bid_size": 5.0, "ask_price": 101.0, "ask_size": 6.0},
        {"ts_ns": T0 + 2, "bid_price": None, "bid_size": 7.0, "ask_price": 102.0, "ask_size": None}]


def test_the_quotes_form_without_quotes_passes_an_empty_quote_table(recorder: _Recorder) -> None:
    run_udx(vu.BatchMicrostructureQuotesFactory(),
            [(T0 + 1, 100.0, 2.0, None, None, "Q", None, None, None, None, None)], PARAMS)
    quotes = recorder.calls[0][1]["quotes"]
    assert quotes.schema == vu.QUOTE_COLUMNS and quotes.num_rows == 0


def test_the_realized_form_reads_each_rows_kind(recorder: _Recorder) -> None:
    rows = [(T0 - 120 * NS, None, None, None, None, "R", "st", None, None, None, None, 2),  # due, carries the state
            (T0 - 60 * NS, 99.5, -1.0, None, None, "R", None, None, None, None, None, 3),  # the newest realized row
            (T0 - 60 * NS, None, None, None, None, "R", None, None, None, None, None, 2),
            (T0, None, None, None, None, "R", None, 99.0, 5.0, 101.0, 6.0, 1),  # a quote
            (T0 + 1, 100.0, 2.0, "37", 0, "R", None, None, None, None, None, 0),  # a trade
            (T0 + 2, None, 1.0, None, None, "R", None, None, None, None, None, 0),  # a trade without price: a trade
            (T0 + 3, 101.0, 1.0, None, None, "R", None, None, None, None, None, None)]  # no kind: a trade
    run_udx(vu.BatchMicrostructureRealizedFactory(), rows, PARAMS)
    args, kwargs = recorder.calls[0]
    assert args[0] == [T0 + 1, T0 + 2, T0 + 3] and args[1][0] == 100.0 and math.isnan(args[1][1])
    assert kwargs["conditions"] == ["37", None, None] and kwargs["correction"] == [0, None, None]
    assert kwargs["state"] == "st" and kwargs["symbol"] == "R"
    assert kwargs["quotes"].to_pylist() == [{"ts_ns": T0, "bid_price": 99.0, "bid_size": 5.0, "ask_price": 101.0,
                                             "ask_size": 6.0}]
    feed = kwargs["realized"]
    assert isinstance(feed, vu.RealizedFeed) and feed.due.dtype == np.int64
    assert feed.due.tolist() == [T0 - 120 * NS, T0 - 60 * NS]
    assert feed.resume == (T0 - 60 * NS, 99.5, -1) and type(feed.resume[2]) is int


def test_the_realized_form_without_due_bars_feeds_an_empty_int64_plan(recorder: _Recorder) -> None:
    run_udx(vu.BatchMicrostructureRealizedFactory(),
            [(T0, 100.0, 2.0, None, None, "R", None, None, None, None, None, 0)], PARAMS)
    feed = recorder.calls[0][1]["realized"]
    assert feed.due.dtype == np.int64 and feed.due.size == 0 and feed.resume is None


def test_the_realized_form_with_due_bars_only_still_computes(recorder: _Recorder) -> None:
    rows = [(T0 - 60 * NS, None, 0.0, None, None, "R", None, None, None, None, None, 3),  # no tick price yet
            (T0, None, None, None, None, "R", None, None, None, None, None, 2)]
    run_udx(vu.BatchMicrostructureRealizedFactory(), rows, PARAMS)
    args, kwargs = recorder.calls[0]
    assert args[0] == [] and kwargs["realized"].due.tolist() == [T0]
    assert kwargs["realized"].resume == (T0 - 60 * NS, None, 0)
    assert kwargs["quotes"].num_rows == 0


# --- what _write emits -------------------------------------------------------------------------------------
def _signal_rows(symbol: str, ends: list[int]) -> pa.Table:
    rows = []
    for i, end in enumerate(ends):
        row: dict[str, Any] = {f.name: None for f in SIGNALS_SCHEMA}
        row.update(symbol=symbol, bar_end_ns=end, bar_seconds=BAR, n_trades=3 + i, volume=2.5 + i, vwap=None,
                   close=101.25 + i, log_return=-0.5, jump_detected=bool(i % 2), trading_signal="HOLD",
                   signal_reason=f"why {i}", computed_at_ns=9, vpin=0.25)
        rows.append(row)
    return pa.Table.from_pylist(rows, SIGNALS_SCHEMA)


def _liquidity_rows(symbol: str, ends: list[int]) -> pa.Table:
    rows = []
    for i, end in enumerate(ends):
        row: dict[str, Any] = {f.name: None for f in BAR_LIQUIDITY_SCHEMA}
        row.update(symbol=symbol, bar_end_ns=end, bar_seconds=BAR, n_quotes=4 + i, quoted_spread=0.01 * (i + 1),
                   buy_volume=1.0, sell_volume=2.0, signed_volume=-1.0, computed_at_ns=9)
        rows.append(row)
    return pa.Table.from_pylist(rows, BAR_LIQUIDITY_SCHEMA)


def _realized_rows(symbol: str, n: int) -> pa.Table:
    return pa.Table.from_pylist([{"symbol": symbol, "bar_end_ns": T0 + i * BAR * NS, "bar_seconds": BAR,
                                  "horizon_seconds": 60, "n_trades": i, "matched_volume": 1.5,
                                  "realized_spread": None if i == 0 else 0.1 * i, "price_impact": 0.3,
                                  "tick_price": 100.0 + i, "tick_sign": -1, "computed_at_ns": 9}
                                 for i in range(n)], BAR_REALIZED_SPREAD_SCHEMA)


FITS = pa.Table.from_pylist([{"symbol": "S", "model": "garch", "bar_seconds": BAR, "fit_start_ns": 1, "fit_end_ns": 2,
                              "n_obs": 30, "omega": 0.1, "alpha": 0.2, "beta": 0.7, "loglik": -1.5,
                              "converged": True, "scale": 1.0, "fitted_at_ns": 3, "fingerprint": "f"}],
                            MODEL_PARAMS_SCHEMA)
PROFILES = pa.Table.from_pylist([{"symbol": "S", "bar_seconds": BAR, "session_open_ns": 0, "bucket": 1,
                                  "minutes_after_open": 30, "factor": 1.25, "n_obs": 4, "sessions": 2,
                                  "fallback": False, "computed_at_ns": 9}], INTRADAY_PROFILE_SCHEMA)


def _written(result: vu.PartitionResult, keyed: bool, quoted: bool = False,
             realized_symbol: str | None = None) -> list[dict[str, Any]]:
    columns = vu.output_columns(keyed, quoted, realized_symbol is not None)
    writer = FakeWriter(len(columns))
    if not quoted and realized_symbol is None:
        vu._write(writer, result, keyed)  # the defaults: no liquidity, no realized rows
    else:
        vu._write(writer, result, keyed, quoted, realized_symbol)
    return [dict(zip([n for n, _ in columns], r, strict=True)) for r in writer.rows]


def _expected_signal(row: dict[str, Any], keyed: bool) -> dict[str, Any]:
    return {k: v for k, v in row.items() if keyed or k != "symbol"}


def test_write_emits_one_row_a_bar_with_the_json_columns_on_the_last_only() -> None:
    signals = _signal_rows("S", [T0, T0 + BAR * NS, T0 + 2 * BAR * NS])
    result = vu.PartitionResult(signals, '{"state": 1}', FITS, PROFILES)
    rows = _written(result, True)
    assert len(rows) == 3
    for got, want in zip(rows, signals.to_pylist(), strict=True):
        assert {k: got[k] for k in want} == want
        assert all(type(got[k]) is type(want[k]) for k in want)
    assert [r["state"] for r in rows] == [None, None, '{"state": 1}']
    assert [r["model_params"] is None for r in rows] == [True, True, False]
    assert [r["intraday_profile"] is None for r in rows] == [True, True, False]
    assert json.loads(rows[-1]["model_params"]) == FITS.to_pylist()
    assert json.loads(rows[-1]["intraday_profile"]) == PROFILES.to_pylist()


def test_write_of_one_bar_puts_the_state_on_it_and_an_empty_result_writes_nothing() -> None:
    rows = _written(vu.PartitionResult(_signal_rows("S", [T0]), "st", MODEL_PARAMS_SCHEMA.empty_table()), True)
    assert len(rows) == 1 and rows[0]["state"] == "st" and rows[0]["model_params"] is None
    assert rows[0]["intraday_profile"] is None
    assert _written(vu.PartitionResult(SIGNALS_SCHEMA.empty_table(), None, MODEL_PARAMS_SCHEMA.empty_table()),
                    True) == []


def test_write_without_the_realized_column_writes_no_carrier() -> None:
    signals = _signal_rows("S", [T0])
    rows = _written(vu.PartitionResult(signals, "st", FITS, realized=_realized_rows("S", 2)), True)
    assert len(rows) == 1 and rows[0]["bar_end_ns"] == T0


def test_write_unkeyed_has_no_symbol_nor_state() -> None:
    signals = _signal_rows("S", [T0, T0 + BAR * NS])
    rows = _written(vu.PartitionResult(signals, "st", FITS), False)
    assert rows == [_expected_signal(r, False) for r in signals.to_pylist()]


def test_write_quoted_puts_each_bars_liquidity_beside_it() -> None:
    ends = [T0, T0 + BAR * NS]
    liquidity = _liquidity_rows("S", ends)
    rows = _written(vu.PartitionResult(_signal_rows("S", ends), "st", FITS, liquidity=liquidity), True, True)
    for got, want in zip(rows, liquidity.to_pylist(), strict=True):
        assert {k: got[k] for k in LIQUIDITY_COLUMNS} == {k: want[k] for k in LIQUIDITY_COLUMNS}
        assert type(got["n_quotes"]) is int
    assert [r["n_quotes"] for r in rows] == [4, 5] and [r["quoted_spread"] for r in rows] == [0.01, 0.02]


def test_write_refuses_liquidity_rows_of_other_bars() -> None:
    result = vu.PartitionResult(_signal_rows("S", [T0, T0 + BAR * NS]), "st", FITS,
                                liquidity=_liquidity_rows("S", [T0, T0 + 2 * BAR * NS]))
    with pytest.raises(RuntimeError, match="^batch_microstructure: bar liquidity rows do not match the bars$"):
        _written(result, True, True)
    short = vu.PartitionResult(_signal_rows("S", [T0, T0 + BAR * NS]), "st", FITS,
                               liquidity=_liquidity_rows("S", [T0]))
    with pytest.raises(RuntimeError, match="do not match the bars"):
        _written(short, True, True)


def test_write_realized_carriers_follow_the_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vu, "REALIZED_ROWS_PER_CARRIER", 2)
    ends = [T0, T0 + BAR * NS]
    realized = _realized_rows("S", 5)
    result = vu.PartitionResult(_signal_rows("S", ends), "st", FITS, liquidity=_liquidity_rows("S", ends),
                                realized=realized)
    rows = _written(result, True, True, "S")
    assert len(rows) == 2 + 3
    assert all(r["bar_realized_spread"] is None and r["bar_end_ns"] is not None for r in rows[:2])
    assert rows[1]["state"] == "st" and rows[0]["state"] is None
    for r in rows[2:]:
        assert {k for k, v in r.items() if v is not None} == {"symbol", "bar_realized_spread"}
        assert r["symbol"] == "S"
    got = [json.loads(r["bar_realized_spread"]) for r in rows[2:]]
    want = realized.to_pylist()
    assert got == [want[0:2], want[2:4], want[4:5]]
    # without new bars: carriers only
    alone = vu.PartitionResult(SIGNALS_SCHEMA.empty_table(), None, MODEL_PARAMS_SCHEMA.empty_table(),
                               realized=_realized_rows("S", 1))
    rows = _written(alone, True, True, "S")
    assert len(rows) == 1 and rows[0]["symbol"] == "S" and json.loads(rows[0]["bar_realized_spread"])[0]["n_trades"] == 0
    # a realized form with nothing to carry writes no carrier
    assert _written(vu.PartitionResult(SIGNALS_SCHEMA.empty_table(), None, MODEL_PARAMS_SCHEMA.empty_table()),
                    True, True, "S") == []


def test_the_json_columns_are_compact_and_none_without_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = vu.PartitionResult(SIGNALS_SCHEMA.empty_table(), None, MODEL_PARAMS_SCHEMA.empty_table())
    assert empty.model_params_json() is None and empty.profiles_json() is None and empty.realized_json() == []
    full = vu.PartitionResult(SIGNALS_SCHEMA.empty_table(), None, FITS, PROFILES, realized=_realized_rows("S", 3))
    for text, rows in ((full.model_params_json(), FITS.to_pylist()), (full.profiles_json(), PROFILES.to_pylist()),
                       (full.realized_json()[0], _realized_rows("S", 3).to_pylist())):
        assert json.loads(text) == rows
        assert ", " not in text and '": ' not in text  # compact: the carriers stay small
    assert vu.REALIZED_ROWS_PER_CARRIER == 1000
    monkeypatch.setattr(vu, "REALIZED_ROWS_PER_CARRIER", 1)
    assert [json.loads(t) for t in full.realized_json()] == [[r] for r in _realized_rows("S", 3).to_pylist()]


# --- the partition storages ----------------------------------------------------------------------------
def _storage(**kwargs: Any) -> vu.PartitionStorage:
    args = dict(market="crypto", symbol="S", ts_ns=[1, 5, 5, 9], price=[1.0, 2.0, 3.0, 4.0], size=[1, 2, 3, 4],
                state=None, bar_seconds=BAR, watermark_ns=42)
    args.update(kwargs)
    return vu.PartitionStorage(**args)


def test_partition_storage_answers_the_storage_methods() -> None:
    s = _storage()
    assert s.newest_trade_ns() == 42 and type(s.newest_trade_ns()) is int
    assert s.trade_symbols() == [("crypto", "S")]
    assert s.load_signal_states(BAR) == {}
    t = s.read_trades("S", 5, 9)
    assert t.column_names == ["ts_ns", "price", "size", "conditions", "correction"]
    assert t.column("ts_ns").to_pylist() == [5, 5] and t.column("price").to_pylist() == [2.0, 3.0]
    assert t.column("size").to_pylist() == [2.0, 3.0] and t.column("size").type == pa.float64()
    assert t.column("ts_ns").type == pa.int64() and t.column("price").type == pa.float64()
    assert t.column("conditions").to_pylist() == [None, None] and t.column("conditions").type == pa.string()
    assert t.column("correction").to_pylist() == [None, None] and t.column("correction").type == pa.int32()
    assert s.read_trades("S", 0, 5).column("ts_ns").to_pylist() == [1]
    assert s.read_trades("S", 6, 100).column("ts_ns").to_pylist() == [9]
    assert s.read_trades("S", 9, 9).num_rows == 0
    c = _storage(conditions=["12", None, "37", "2"], correction=[0, 1, None, 12]).read_trades("S", 1, 6)
    assert c.column("conditions").to_pylist() == ["12", None, "37"] and c.column("correction").to_pylist() == [0, 1, None]
    s.reset_signals(["S"], BAR)
    s.close()


def test_partition_storage_reads_int64_times_and_float64_prices_whatever_it_was_given() -> None:
    s = _storage(ts_ns=np.array([1, 5], np.int32), price=[3, 4], size=np.array([1, 2], np.int32))
    t = s.read_trades("S", 0, 10)
    assert t.schema.field("ts_ns").type == pa.int64() and t.schema.field("price").type == pa.float64()
    assert t.schema.field("size").type == pa.float64() and t.column("price").to_pylist() == [3.0, 4.0]
    q = vu.QuotedPartitionStorage("crypto", "S", [1, 2], [1.0, 2.0], [1.0, 1.0], None, BAR, 42,
                                  conditions=["12", "37"], correction=[None, 1], quotes=_quotes([1]))
    assert q.read_trades("S", 0, 10).column("conditions").to_pylist() == ["12", "37"]
    assert q.read_trades("S", 0, 10).column("correction").to_pylist() == [None, 1]


def test_partition_storage_refuses_trades_out_of_time_order_only() -> None:
    with pytest.raises(ValueError, match=r"^batch_microstructure needs its partition ordered by ts_ns "
                                         r"\(OVER \(\.\.\. ORDER BY ts_ns\)\)$"):
        _storage(ts_ns=[2, 1], price=[1.0, 1.0], size=[1.0, 1.0])
    _storage(ts_ns=[3, 3], price=[1.0, 1.0], size=[1.0, 1.0])  # ties are in order
    _storage(ts_ns=[3], price=[1.0], size=[1.0])


def test_partition_storage_gives_the_state_on_its_grid_only() -> None:
    state = json.dumps({"last_bar_end_ns": 123, "x": 1})
    s = _storage(state=state)
    assert s.load_signal_states(BAR) == {"S": SignalStateRow("S", BAR, 123, state)}
    assert type(s.load_signal_states(BAR)["S"].last_bar_end_ns) is int
    assert s.load_signal_states(BAR * 2) == {}
    assert _storage(state="{}").load_signal_states(BAR)["S"].last_bar_end_ns == 0


def test_partition_storage_keeps_only_what_has_rows() -> None:
    s = _storage()
    state = SignalStateRow("S", BAR, 1, "{}")
    s.commit_signals(SIGNALS_SCHEMA.empty_table(), [state], MODEL_PARAMS_SCHEMA.empty_table(),
                     INTRADAY_PROFILE_SCHEMA.empty_table(), BAR_LIQUIDITY_SCHEMA.empty_table(),
                     BAR_REALIZED_SPREAD_SCHEMA.empty_table())
    assert (s.signals, s.model_params, s.profiles, s.liquidity, s.realized) == ([], [], [], [], [])
    assert s.states == [state]
    s.commit_signals(SIGNALS_SCHEMA.empty_table(), [])
    assert s.states == [state]
    sig, liq, rea = _signal_rows("S", [T0]), _liquidity_rows("S", [T0]), _realized_rows("S", 1)
    s.commit_signals(sig, [state, state], FITS, PROFILES, liq, rea)
    assert s.signals == [sig] and s.model_params == [FITS] and s.profiles == [PROFILES]
    assert s.liquidity == [liq] and s.realized == [rea] and s.states == [state] * 3


def _quotes(ts: list[int]) -> pa.Table:
    return pa.table({"ts_ns": ts, "bid_price": [float(t) for t in ts], "bid_size": [1.0] * len(ts),
                     "ask_price": [t + 1.0 for t in ts], "ask_size": [2.0] * len(ts)}, schema=vu.QUOTE_COLUMNS)


def test_quoted_storage_reads_the_quotes_of_its_symbol_in_the_range() -> None:
    s = vu.QuotedPartitionStorage("crypto", "S", [1], [1.0], [1.0], None, BAR, 42, quotes=_quotes([2, 4, 4, 8]))
    got = s.read_quotes_many(["S"], 4, 8)
    assert got.column_names == ["symbol", *vu.QUOTE_COLUMNS.names]
    assert got.column("symbol").to_pylist() == ["S", "S"] and got.column("symbol").type == pa.string()
    assert got.column("ts_ns").to_pylist() == [4, 4] and got.column("ask_price").to_pylist() == [5.0, 5.0]
    assert s.read_quotes_many(["S"], 0, 4).column("ts_ns").to_pylist() == [2]
    assert s.read_quotes_many(["S"], 5, 100).column("ts_ns").to_pylist() == [8]
    other = s.read_quotes_many(["T"], 0, 100)
    assert other.num_rows == 0 and other.schema == got.schema
    assert s.read_quotes_many(["T", "S"], 0, 100).num_rows == 4
    with pytest.raises(ValueError, match=r"^batch_microstructure needs its quotes ordered by ts_ns "
                                         r"\(OVER \(\.\.\. ORDER BY ts_ns\)\)$"):
        vu.QuotedPartitionStorage("crypto", "S", [1], [1.0], [1.0], None, BAR, 42, quotes=_quotes([4, 2]))
    vu.QuotedPartitionStorage("crypto", "S", [1], [1.0], [1.0], None, BAR, 42, quotes=_quotes([4, 4]))
    vu.QuotedPartitionStorage("crypto", "S", [1], [1.0], [1.0], None, BAR, 42, quotes=_quotes([4]))


def test_realized_storage_answers_the_fed_plan() -> None:
    feed = vu.RealizedFeed(np.array([300, 100, 200, 400], np.int64), (50, 99.5, -1))
    s = vu.RealizedPartitionStorage("crypto", "S", [1], [1.0], [1.0], None, BAR, 42, quotes=_quotes([]),
                                    realized=feed)
    due, resume = s.realized_spread_due(BAR, 30, 300)
    assert due.to_pylist() == [{"symbol": "S", "bar_end_ns": e} for e in (100, 200, 300)]
    assert due.schema == pa.schema([("symbol", pa.string()), ("bar_end_ns", pa.int64())])
    assert resume.to_pylist() == [{"symbol": "S", "bar_end_ns": 50, "tick_price": 99.5, "tick_sign": -1,
                                   "min_horizon": 30, "max_horizon": 30}]
    assert resume.schema == pa.schema([("symbol", pa.string()), ("bar_end_ns", pa.int64()),
                                       ("tick_price", pa.float64()), ("tick_sign", pa.int32()),
                                       ("min_horizon", pa.int32()), ("max_horizon", pa.int32())])
    other_due, other_resume = s.realized_spread_due(BAR * 2, 30, 1000)
    assert other_due.num_rows == 0 and other_resume.num_rows == 0
    assert other_due.schema == due.schema and other_resume.schema == resume.schema
    fresh = vu.RealizedPartitionStorage("crypto", "S", [1], [1.0], [1.0], None, BAR, 42, quotes=_quotes([]),
                                        realized=vu.RealizedFeed(np.array([], np.int64)))
    due, resume = fresh.realized_spread_due(BAR, 30, 300)
    assert due.num_rows == 0 and resume.num_rows == 0 and resume.schema == other_resume.schema


def test_settings_never_read_a_dotenv_file_of_the_nodes_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LM_WINDOW=3\nBAR_SECONDS=7200\n")
    default = vu._settings(None)
    assert default.lm_window != 3 and default.bar_seconds != 7200


def test_settings_force_no_lateness_and_take_the_json() -> None:
    s = vu._settings(None)
    assert s.transform_lateness_seconds == 0.0
    s = vu._settings(json.dumps({"bar_seconds": 120, "lm_window": 7, "transform_lateness_seconds": 5.0}))
    assert (s.bar_seconds, s.lm_window, s.transform_lateness_seconds) == (120, 7, 0.0)
    assert vu._settings(json.dumps({"bar_seconds": 120}), bar_seconds=30).bar_seconds == 30
    assert vu._settings("", bar_seconds=None).bar_seconds == vu._settings(None).bar_seconds


# --- compute_partition on a tiny partition against tests/reference/bars.py ---------------------------------------
def test_compute_partition_emits_the_reference_bars_up_to_the_newest_trade() -> None:
    r = vu.compute_partition(TS, PX, SZ, symbol="X:A", market="crypto", settings_json=SETTINGS, computed_at_ns=7)
    rows = r.signals.to_pylist()
    _same_bars(rows, _reference_bars(TS, PX, SZ))
    assert len(rows) == 6 and rows[-1]["bar_end_ns"] == T0 + 360 * NS  # the print at a bar's end makes it final
    assert {row["symbol"] for row in rows} == {"X:A"} and {row["computed_at_ns"] for row in rows} == {7}
    assert json.loads(r.state)["last_bar_end_ns"] == T0 + 360 * NS
    assert r.liquidity.num_rows == 0 and r.realized.num_rows == 0
    assert r.liquidity.schema == BAR_LIQUIDITY_SCHEMA and r.realized.schema == BAR_REALIZED_SPREAD_SCHEMA
    assert r.model_params.schema == MODEL_PARAMS_SCHEMA and r.profiles.schema == INTRADAY_PROFILE_SCHEMA


def test_compute_partition_takes_the_watermark_and_the_time_given() -> None:
    final = T0 + 200 * NS
    before = time.time_ns()
    r = vu.compute_partition(TS, PX, SZ, symbol="X:A", market="crypto", settings_json=SETTINGS, watermark_ns=final)
    after = time.time_ns()
    rows = r.signals.to_pylist()
    _same_bars(rows, _reference_bars(TS, PX, SZ, final=final))
    assert rows[-1]["bar_end_ns"] == T0 + 180 * NS
    assert all(before <= row["computed_at_ns"] <= after for row in rows)


def test_compute_partition_without_trades_is_empty() -> None:
    r = vu.compute_partition([], [], [], market="crypto", settings_json=SETTINGS)
    assert r.signals.num_rows == 0 and r.state is None and r.signals.schema == SIGNALS_SCHEMA
    assert r.model_params.num_rows == 0 and r.profiles.num_rows == 0
    with pytest.raises(ValueError, match="ordered by ts_ns"):
        vu.compute_partition([2, 1], [1.0, 1.0], [1.0, 1.0], settings_json=SETTINGS)


def test_compute_partition_uses_the_settings_market_conditions_and_corrections() -> None:
    cond = [None, "37", "2", None, "12", None, None, None]
    corr = [None, 0, None, 12, None, None, None, 1]
    r = vu.compute_partition(TS, PX, SZ, symbol="S", market="stocks", settings_json=SETTINGS, computed_at_ns=7,
                             conditions=cond, correction=corr, watermark_ns=T0 + 400 * NS)
    _same_bars(r.signals.to_pylist(), _reference_bars(TS, PX, SZ, "stocks", cond, corr, final=T0 + 400 * NS))
    # stocks in the default session (09:30-16:00 New York): 10:00 UTC is before the open, no bar
    assert vu.compute_partition(TS, PX, SZ, market="stocks").signals.num_rows == 0
    assert vu.compute_partition(TS, PX, SZ).signals.num_rows == 0  # the default market: stocks
    late = [t + 86_400 * NS + 4 * 3_600 * NS for t in TS]  # Monday 14:00 UTC: 10:00 in New York, in the session
    assert vu.compute_partition(late, PX, SZ).signals.num_rows > 0
    assert set(vu.compute_partition(TS, PX, SZ, market="crypto").signals.column("symbol").to_pylist()) == {""}
    assert vu.compute_partition(TS, PX, SZ, market="crypto").signals.num_rows == 6  # default bar: 60 s
    wide = vu.compute_partition(TS, PX, SZ, market="crypto", settings_json=json.dumps({"bar_seconds": 120}))
    assert [row["bar_end_ns"] for row in wide.signals.to_pylist()] == [T0 + k * 120 * NS for k in (1, 2, 3)]


def test_compute_partition_resumes_from_the_state_it_returned() -> None:
    whole = vu.compute_partition(TS, PX, SZ, symbol="S", market="crypto", settings_json=SETTINGS, computed_at_ns=7)
    first = vu.compute_partition(TS[:4], PX[:4], SZ[:4], symbol="S", market="crypto", settings_json=SETTINGS,
                                 computed_at_ns=7, watermark_ns=T0 + 120 * NS)
    start = json.loads(first.state)["last_bar_end_ns"]
    assert start == T0 + 120 * NS
    rest = [i for i in range(len(TS)) if TS[i] >= start]
    second = vu.compute_partition([TS[i] for i in rest], [PX[i] for i in rest], [SZ[i] for i in rest], symbol="S",
                                  market="crypto", settings_json=SETTINGS, computed_at_ns=7, state=first.state)
    assert first.signals.to_pylist() + second.signals.to_pylist() == whole.signals.to_pylist()
    assert second.state == whole.state


QUOTES = pa.table({"ts_ns": [T0, T0 + 100 * NS, T0 + 110 * NS], "bid_price": [99.0, 100.0, 100.5],
                   "bid_size": [1.0, 1.0, 2.0], "ask_price": [101.0, 102.0, 101.5], "ask_size": [2.0, 1.0, 2.0]},
                  schema=vu.QUOTE_COLUMNS)


def test_compute_partition_with_quotes_gives_each_bar_its_liquidity_row() -> None:
    r = vu.compute_partition(TS, PX, SZ, symbol="S", market="crypto", settings_json=SETTINGS, computed_at_ns=7,
                             quotes=QUOTES)
    ends = r.signals.column("bar_end_ns").to_pylist()
    assert r.liquidity.column("bar_end_ns").to_pylist() == ends and len(ends) == 6
    starts = [e - BAR * NS for e in ends]
    qts = QUOTES.column("ts_ns").to_pylist()
    assert r.liquidity.column("n_quotes").to_pylist() == [sum(s <= q < s + BAR * NS for q in qts) for s in starts]
    assert set(r.liquidity.column("symbol").to_pylist()) == {"S"}
    assert r.liquidity.column("quoted_spread").to_pylist()[0] == pytest.approx(2 / 100)  # (101 - 99) / 100
    assert r.realized.num_rows == 0
    empty = vu.compute_partition(TS, PX, SZ, symbol="S", market="crypto", settings_json=SETTINGS,
                                 quotes=vu.QUOTE_COLUMNS.empty_table())
    assert empty.liquidity.num_rows == 6 and set(empty.liquidity.column("n_quotes").to_pylist()) == {0}


def test_compute_partition_with_a_realized_plan_gives_the_due_bars_rows() -> None:
    horizon_until = TS[-1] - 60 * NS  # watermark minus LIQUIDITY_HORIZON_SECONDS
    feed = vu.RealizedFeed(np.array([T0], np.int64))
    r = vu.compute_partition(TS, PX, SZ, symbol="S", market="crypto", settings_json=SETTINGS, computed_at_ns=7,
                             quotes=QUOTES, realized=feed)
    ends = r.realized.column("bar_end_ns").to_pylist()
    new = [e for e in r.signals.column("bar_end_ns").to_pylist() if e <= horizon_until]
    assert ends == [T0, *new] and len(new) == 5
    assert set(r.realized.column("computed_at_ns").to_pylist()) == {7}
    assert set(r.realized.column("horizon_seconds").to_pylist()) == {60}
    assert r.liquidity.num_rows == 6
    # quotes default to none: the realized rows are made all the same, without a midpoint
    bare = vu.compute_partition(TS, PX, SZ, symbol="S", market="crypto", settings_json=SETTINGS, realized=feed)
    assert bare.realized.column("bar_end_ns").to_pylist() == ends
    assert set(bare.realized.column("realized_spread").to_pylist()) == {None}
    assert bare.liquidity.num_rows == 6


# --- the whole UDx on the tiny partition ---------------------------------------------------------------------
def _rows_of(factory: Any, rows: list[tuple], params: dict[str, Any]) -> list[dict[str, Any]]:
    names, out = run_udx(factory, rows, params)
    return [dict(zip(names, r, strict=True)) for r in out]


def test_the_resume_form_emits_the_reference_bars_with_the_state_last() -> None:
    feed = [(TS[i], PX[i], SZ[i], None, None, "X:A", None) for i in range(len(TS))]
    rows = _rows_of(vu.BatchMicrostructureResumeFactory(), feed,
                    {"settings": SETTINGS, "market": "crypto", "watermark_ns": T0 + 400 * NS, "computed_at_ns": 5})
    _same_bars(rows, _reference_bars(TS, PX, SZ, final=T0 + 400 * NS))
    assert {r["symbol"] for r in rows} == {"X:A"} and {r["computed_at_ns"] for r in rows} == {5}
    assert [r["state"] is None for r in rows] == [True] * (len(rows) - 1) + [False]
    assert json.loads(rows[-1]["state"])["last_bar_end_ns"] == rows[-1]["bar_end_ns"]
    assert all(r["model_params"] is None for r in rows[:-1])


def test_the_realized_form_emits_bars_liquidity_and_carriers() -> None:
    feed = [(T0 - 60 * NS, None, None, None, None, "S", None, None, None, None, None, 2)]
    feed += [(QUOTES["ts_ns"][0].as_py(), None, None, None, None, "S", None, 99.0, 1.0, 101.0, 2.0, 1)]
    feed += [(TS[i], PX[i], SZ[i], None, None, "S", None, None, None, None, None, 0) for i in range(len(TS))]
    rows = _rows_of(vu.BatchMicrostructureRealizedFactory(), feed,
                    {"settings": SETTINGS, "market": "crypto", "computed_at_ns": 5})
    bars = [r for r in rows if r["bar_end_ns"] is not None]
    assert len(bars) == 6 and all(r["n_quotes"] is not None for r in bars)
    assert [r["n_quotes"] for r in bars] == [1, 0, 0, 0, 0, 0]
    carriers = rows[6:]
    assert len(carriers) == 1 and carriers[0]["symbol"] == "S"
    realized = json.loads(carriers[0]["bar_realized_spread"])
    assert [x["bar_end_ns"] for x in realized] == [T0 - 60 * NS] + [r["bar_end_ns"] for r in bars[:5]]


def test_the_realized_form_of_a_null_symbol_carries_an_empty_one() -> None:
    feed = [(T0, None, None, None, None, None, None, None, None, None, None, 2)]  # one due bar, nothing else
    rows = _rows_of(vu.BatchMicrostructureRealizedFactory(), feed, {"settings": SETTINGS, "market": "crypto",
                                                                    "watermark_ns": T0 + 400 * NS})
    assert len(rows) == 1 and rows[0]["symbol"] == "" and rows[0]["bar_end_ns"] is None
    assert [r["bar_end_ns"] for r in json.loads(rows[0]["bar_realized_spread"])] == [T0]


def test_compute_partition_returns_the_fits_and_profiles_made_on_the_way() -> None:
    """Three days of hourly crypto bars: past ``GARCH_MIN_OBS`` (50) the GARCH fit, past one session the profile."""
    n = 3 * 24 * 4
    ts = DAY + np.arange(n) * 900 * NS + 7 * NS
    px = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 1e-3, n)))
    settings = json.dumps({"bar_seconds": 3600, "garch_min_obs": 50, "profile_min_sessions": 1,
                           "profile_bucket_minutes": 60})
    r = vu.compute_partition(ts, px, np.ones(n), symbol="S", market="crypto", settings_json=settings, computed_at_ns=3)
    assert r.signals.num_rows == 3 * 24 - 1
    fits = r.model_params.to_pylist()
    assert fits and {f["symbol"] for f in fits} == {"S"} and {f["bar_seconds"] for f in fits} == {3600}
    assert all(f["n_obs"] >= 50 for f in fits) and r.model_params.schema == MODEL_PARAMS_SCHEMA
    profiles = r.profiles.to_pylist()
    assert profiles and {p["symbol"] for p in profiles} == {"S"} and {p["computed_at_ns"] for p in profiles} == {3}
    assert r.profiles.schema == INTRADAY_PROFILE_SCHEMA
    names, out = run_udx(vu.BatchMicrostructureResumeFactory(),
                         [(int(ts[i]), float(px[i]), 1.0, None, None, "S", None) for i in range(n)],
                         {"settings": settings, "market": "crypto", "computed_at_ns": 3})
    last = dict(zip(names, out[-1], strict=True))
    assert json.loads(last["model_params"]) == fits and json.loads(last["intraday_profile"]) == profiles
