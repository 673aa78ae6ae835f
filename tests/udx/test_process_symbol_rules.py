"""``udx.pipeline.process_symbol``'s contract beyond the rows of ``test_pipeline_small.py``: the types of the
columns it hands to storage (the ``trading_signals`` DDL), the per-bar VPIN bucket size it hands to the
liquidity step (``udx/liquidity_step.py`` reads ``columns["vpin_bucket"]``), the opening print of a session whose
first prints set no price, and each ACD fit's record (window span, size, ``converged``, ``scale``), on seven short
sessions (more than VPIN's five sessions of history) against ``tests/reference`` alone.

Small inputs (seven 20-minute sessions of 60 s bars, a few hundred prints) so that scripts/mutation's
``pipeline-fast`` group judges a mutant of ``udx/pipeline.py`` in a second or two in plain Python.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pytest

from reference import stats
from reference.pipeline import Config, acd_refit_spans, symbol_rows
from reference.sessions import sessions
from reference_db import assert_rows_equal
from udx.pipeline import SignalConfig, process_symbol

NS = 10**9
SPEC = "09:30-09:50 America/New_York"  # 20 bars of 60 s
START = int(dt.datetime(2024, 3, 4, tzinfo=dt.UTC).timestamp()) * NS  # Mon 4 March 2024: seven weekdays to Tue 12
SESSIONS = sessions(SPEC, START, START + 9 * 86_400 * NS)
FINAL = SESSIONS[-1][1] + NS
N_PER = 20
DDL = Path(__file__).resolve().parents[2] / "sql" / "duckdb" / "schema" / "003_trading_signals.sql"


def signal_config() -> SignalConfig:
    return SignalConfig(bar_seconds=60, session=SPEC, bars_per_session=N_PER, lm_window=5,
                        lm_threshold=stats.lm_threshold(N_PER, 0.01), bns_window=6, garch_window=30,
                        garch_min_obs=15, intensity_lookback=6, vpin_buckets_per_day=5, vpin_window=3,
                        vpin_cdf_window=10, acd_window=60, acd_min_obs=30, acd_bin_seconds=600,
                        seasonal_sessions=2, profile_bucket_minutes=5, profile_min_sessions=1,
                        intensity_min_sessions=2)


def reference_config() -> Config:
    return Config(session=SPEC, bar_seconds=60, lm_window=5, lm_alpha=0.01, bns_window=6, garch_window=30,
                  garch_min_obs=15, intensity_lookback=6, intensity_min_sessions=2, seasonal_sessions=2,
                  vpin_buckets_per_day=5, intensity_half_window=5 // 2, vpin_window=3, vpin_cdf_window=10,
                  acd_window=60, acd_min_obs=30, acd_bin_seconds=600, profile_min_sessions=1,
                  profile_bucket_minutes=5)


def make_prints(seed: int = 5) -> tuple[np.ndarray, ...]:
    """``ts, px, sz, sets_price, counts_volume``: ~3 prints a minute in and a little around each session, the
    session volume growing from one session to the next (so each session's bucket size differs)."""
    rng = np.random.default_rng(seed)
    parts, sizes = [], []
    for k, (o, c) in enumerate(SESSIONS):
        n = rng.poisson(3 * (c - o + 4 * 60 * NS) / (60 * NS))
        parts.append(rng.integers(o - 2 * 60 * NS, c + 2 * 60 * NS, n))
        sizes.append(rng.integers(1, 100, n) * (k + 1))
    order = np.argsort(np.concatenate(parts), kind="stable")
    ts = np.concatenate(parts)[order]
    sz = np.concatenate(sizes)[order].astype(np.float64)
    px = 50.0 * np.exp(np.cumsum(5e-4 * rng.standard_normal(ts.size)))
    kind = rng.choice(4, ts.size, p=[0.85, 0.08, 0.04, 0.03])
    return ts, px, sz, (kind == 0) | (kind == 3), (kind == 0) | (kind == 1)


def reference_rows(fits: list) -> list[dict]:
    ts, px, sz, sp, cv = make_prints()
    prints = list(zip(ts.tolist(), px.tolist(), sz.tolist(), sp.tolist(), cv.tolist(), strict=True))
    rows, _, _, _ = symbol_rows(prints, reference_config(), FINAL,
                                [(f.omega, f.alpha, f.beta) for f in fits if f.model == "garch11"],
                                [(f.omega, f.alpha, f.beta) for f in fits if f.model == "acd11"])
    return rows


def one_pass():  # noqa: ANN201
    ts, px, sz, sp, cv = make_prints()
    return process_symbol(ts, px, sz, signal_config(), None, FINAL, sets_price=sp, counts_volume=cv)


def as_rows(columns: dict) -> list[dict]:
    lists = {k: (v.to_pylist() if hasattr(v, "to_pylist") else np.asarray(v).tolist()) for k, v in columns.items()}
    return [{k: lists[k][i] for k in lists} for i in range(len(lists["bar_end_ns"]))]


def _ddl_types() -> dict[str, str]:
    """``column -> SQL type`` of the ``trading_signals`` table, read from its DDL text."""
    body = DDL.read_text().split("(", 1)[1]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\w+)\s+([A-Z]+)", body, re.MULTILINE)}


def test_every_row_equals_the_reference_over_seven_sessions() -> None:
    got = one_pass()
    want = reference_rows(got.fits)
    assert len(want) > 6 * N_PER  # the first session from its first print's bar on, every later one whole
    assert_rows_equal(as_rows(got.columns), want)


def test_the_columns_have_the_types_of_the_trading_signals_table() -> None:
    """Each column handed to storage has the numpy / Arrow type of its DDL type (BIGINT int64, DOUBLE float64,
    BOOLEAN bool, VARCHAR string); the table's own columns (symbol, grid, computed time) are the writer's."""
    got = one_pass().columns
    ddl = _ddl_types()
    assert ddl["jump_detected"] == "BOOLEAN" and ddl["bar_end_ns"] == "BIGINT"  # the DDL was read
    stored = set(ddl) - {"symbol", "bar_seconds", "computed_at_ns"}
    assert set(got) == stored | {"session_open_ns", "vpin_bucket"}
    numpy_kind = {"BIGINT": np.dtype(np.int64), "DOUBLE": np.dtype(np.float64), "BOOLEAN": np.dtype(np.bool_)}
    for name in sorted(stored):
        if ddl[name] == "VARCHAR":
            assert str(got[name].type) == "string", name
        else:
            assert got[name].dtype == numpy_kind[ddl[name]], name
    assert got["session_open_ns"].dtype == np.int64
    assert got["jump_detected"].any()  # both values occur
    assert not got["jump_detected"].all()


def test_the_vpin_bucket_is_the_sessions_bucket_size_of_the_reference() -> None:
    """``vpin_bucket`` (read by the liquidity step): per bar, its session's V = the mean volume of up to five
    earlier sessions / ``vpin_buckets_per_day`` (NaN in the first session), as ``reference.stats.vpin_params``."""
    got = one_pass()
    want = reference_rows(got.fits)
    _, sizes, _ = stats.vpin_params(want, 5)
    np.testing.assert_allclose(got.columns["vpin_bucket"], sizes, rtol=1e-12, atol=0)
    v = np.asarray(sizes)
    first = got.columns["session_open_ns"] == SESSIONS[0][0]
    assert np.isnan(v[first]).all() and np.isfinite(v[~first]).all()
    # by hand for the last session: five earlier sessions (the 2nd to the 6th) of the seven
    vol = {o: sum(r["volume"] for r in want if r["session_open_ns"] == o) for o, _ in SESSIONS}
    last = got.columns["session_open_ns"] == SESSIONS[-1][0]
    expect = sum(vol[o] for o, _ in SESSIONS[1:6]) / 5 / 5
    assert math.isclose(float(got.columns["vpin_bucket"][last][0]), expect, rel_tol=1e-12)
    assert len(set(np.round(v[~first], 6))) == 6  # each later session has its own size


@pytest.mark.parametrize("rule", [True, False])
def test_rule_or_not_the_liquidity_step_finds_its_columns(rule: bool) -> None:
    ts, px, sz, sp, cv = make_prints()
    got = process_symbol(ts, px, sz, signal_config(), None, FINAL, rule=rule, sets_price=sp, counts_volume=cv)
    for name in ("vpin_bucket", "session_open_ns", "bar_end_ns", "volume", "close"):
        assert got.columns[name].size == got.columns["bar_end_ns"].size > 6 * N_PER, name


def test_a_session_opens_at_its_first_price_setting_print_at_or_after_the_open() -> None:
    """The first prints at or after each later session's open may not set a price (volume only, or neither):
    the opening print (the session's reference point) is the first one that may, never a print before the open
    (reference: ``tests/reference/bars.py``, every row as the reference)."""
    ts, px, sz, sp, cv = make_prints()
    cases = 0
    for o, _ in SESSIONS[1:]:
        k = int(np.searchsorted(ts, o, side="left"))
        sp[k:k + 2] = False  # the first two prints at or after the open set no price
        cv[k] = False  # the first counts in nothing
        before = int(np.flatnonzero(sp[:k])[-1])
        cases += bool(px[before] != px[k + 2]) and ts[before] < o <= ts[k]
    assert cases == len(SESSIONS) - 1  # a priced print before each open, at another price than the opening one
    got = process_symbol(ts, px, sz, signal_config(), None, FINAL, sets_price=sp, counts_volume=cv)
    prints = list(zip(ts.tolist(), px.tolist(), sz.tolist(), sp.tolist(), cv.tolist(), strict=True))
    want, _, _, _ = symbol_rows(prints, reference_config(), FINAL,
                                [(f.omega, f.alpha, f.beta) for f in got.fits if f.model == "garch11"],
                                [(f.omega, f.alpha, f.beta) for f in got.fits if f.model == "acd11"])
    assert_rows_equal(as_rows(got.columns), want)


def test_the_acd_fits_record_their_window_as_the_reference() -> None:
    """Each ``acd11`` record (a ``model_params`` row): the times of the events ending the first and the last
    adjusted duration of its window and the window's size (``reference.pipeline.acd_refit_spans``), ``converged``
    a bool (BOOLEAN NOT NULL), ``scale`` the fit's standardisation ``sqrt(mean(x))`` of the window (ACD is GARCH on
    ``sqrt(x)``, whose ``e2`` is ``x``)."""
    ts, px, sz, sp, cv = make_prints()
    got = process_symbol(ts, px, sz, signal_config(), None, FINAL, sets_price=sp, counts_volume=cv)
    prints = list(zip(ts.tolist(), px.tolist(), sz.tolist(), sp.tolist(), cv.tolist(), strict=True))
    rows, _, windows, _ = symbol_rows(prints, reference_config(), FINAL,
                                      [(f.omega, f.alpha, f.beta) for f in got.fits if f.model == "garch11"],
                                      [(f.omega, f.alpha, f.beta) for f in got.fits if f.model == "acd11"])
    spans = acd_refit_spans(rows, prints, 60 * NS, N_PER, 600, 30, 60)
    acd = [f for f in got.fits if f.model == "acd11"]
    assert len(acd) == len(spans) == len(windows) >= 4
    assert any(n < 60 for _, _, n in spans) and any(n == 60 for _, _, n in spans)  # a short and a full window
    for f, (first, last, n), x in zip(acd, spans, windows, strict=True):
        assert (f.fit_start_ns, f.fit_end_ns, f.n_obs) == (first, last, n)
        assert type(f.converged) is bool
        assert math.isclose(f.scale, math.sqrt(np.mean(x)), rel_tol=1e-12)
