"""The transform with a NON-flat intraday volatility profile against the independent reference
(``tests/reference/profile.py``, written from the profile's documented formula): a U-shaped volatility (about
2.4 times the midday level at the open, 1.4 at the close), a profile from the second finished session on, and
every ``trading_signals`` column and every stored ``intraday_profile`` value compared.

Symbols: a liquid stock (4 prints a minute, a jump in its sixth session), a thin stock (0.4 a minute: buckets
that truncate at their mean absolute return or borrow from their neighbours) and a crypto pair whose UTC day
has the same U shape. Tolerances as in test_reference_pipeline.py; the profile itself rtol 1e-12.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from reference.pipeline import Config, symbol_rows
from reference.sessions import sessions
from reference_db import assert_rows_equal, stored, transformed, stored_profiles
from sql.contract import TRADES_SCHEMA

pytestmark = pytest.mark.duckdb
pytest.importorskip("duckdb")

NS = 10**9
START = int(dt.datetime(2024, 4, 1, 0, tzinfo=dt.UTC).timestamp()) * NS  # a Monday
END = START + 10 * 86_400 * NS  # eight New York sessions, ten UTC days
NY = "09:30-16:00 America/New_York"
DAY = "00:00-24:00 UTC"
SETTINGS = {"bar_seconds": 60, "lm_window": 20, "bns_window": 60, "garch_window": 300, "garch_min_obs": 100,
            "intensity_lookback": 30, "intensity_min_sessions": 2, "seasonal_sessions": 3,
            "vpin_buckets_per_day": 20, "vpin_window": 10, "vpin_cdf_window": 60, "profile_min_sessions": 2,
            "profile_bucket_minutes": 15, "transform_lateness_seconds": 2.0, "session_stocks": NY,
            "session_crypto": DAY}
SYMBOLS = {"UVOL": ("stocks", 4.0, 6.0), "UTHIN": ("stocks", 0.4, 0.0), "X:UDAY": ("crypto", 2.0, 0.0)}


def _u_shape(x: np.ndarray) -> np.ndarray:
    """Volatility multiplier over the fraction of the session elapsed."""
    return np.sqrt(0.55 + 5.0 * np.exp(-x / 0.04) + 1.3 * np.exp(-(1 - x) / 0.05))


def _symbol(rng: np.random.Generator, spec: str, per_minute: float, jump_sigmas: float) -> tuple[np.ndarray, ...]:
    ts_all, px_all = [], []
    logp = math.log(80.0)
    sigma = 3e-4  # per minute at the profile's level 1
    for s, (o, c) in enumerate(sessions(spec, START, END - 1)):
        if o < START or c > END:
            continue
        n = rng.poisson(per_minute * (c - o) / (60 * NS))
        t = np.sort(rng.integers(o, c, n))
        dt_min = np.diff(t, prepend=o) / (60 * NS)
        steps = sigma * _u_shape((t - o) / (c - o)) * np.sqrt(dt_min) * rng.standard_normal(n)
        if jump_sigmas and s == 5:
            steps[n // 2] += jump_sigmas * sigma * 2
        path = logp + np.cumsum(steps)
        logp = float(path[-1]) if n else logp
        ts_all.append(t)
        px_all.append(np.exp(path))
    ts = np.concatenate(ts_all)
    return ts, np.concatenate(px_all), rng.integers(1, 300, ts.size).astype(float)


def _table() -> pa.Table:
    rng = np.random.default_rng(1616)
    rows = []
    for symbol, (market, per_minute, jump) in SYMBOLS.items():
        ts, px, sz = _symbol(rng, NY if market == "stocks" else DAY, per_minute, jump)
        rows += [(market, symbol, t, p, s, f"{symbol}-{k}")
                 for k, (t, p, s) in enumerate(zip(ts.tolist(), px.tolist(), sz.tolist(), strict=True))]
    rows.sort(key=lambda r: r[2])
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    return pa.Table.from_arrays(
        [pa.array(cols[0], pa.string()), pa.array(cols[1], pa.string()), pa.array(cols[2], pa.int64()),
         pa.array(cols[3], pa.float64()), pa.array(cols[4], pa.float64()), pa.array([1] * n, pa.int32()),
         pa.array(cols[5], pa.string()), pa.nulls(n, pa.string()), pa.nulls(n, pa.int32()),
         pa.array(np.arange(n, dtype=np.int64)), pa.nulls(n, pa.int32()), pa.nulls(n, pa.int64()),
         pa.array(cols[2], pa.int64()), pa.array(["sim"] * n, pa.string()), pa.nulls(n, pa.int32())],
        schema=TRADES_SCHEMA)


@pytest.fixture(scope="module")
def computed(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, Path]:
    return transformed(_table(), tmp_path_factory.mktemp("profile") / "profile.duckdb", SETTINGS)


def _reference(trades: pa.Table, path: Path, symbol: str) -> tuple[list[dict], list[dict], dict]:
    sel = trades.filter(pa.compute.equal(trades["symbol"], symbol)).to_pylist()
    market = sel[0]["market"]
    cfg = Config(session=NY if market == "stocks" else DAY, bar_seconds=60, lm_window=20, lm_alpha=0.01,
                 bns_window=60, garch_window=300, garch_min_obs=100, intensity_lookback=30, intensity_min_sessions=2,
                 seasonal_sessions=3, vpin_buckets_per_day=20, vpin_window=10, vpin_cdf_window=60,
                 profile_min_sessions=2, profile_bucket_minutes=15, intensity_half_window=15 // 2)
    prints = [(r["ts_ns"], r["price"], r["size"], True, True) for r in sel]
    watermark = max(trades["ts_ns"].to_pylist()) - 2 * NS
    got, fits = stored(path, symbol)
    want, _, _, profiles = symbol_rows(prints, cfg, watermark, [f[:3] for f in fits["garch11"]],
                                       [f[:3] for f in fits["acd11"]])
    return got, want, profiles


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_every_row_equals_the_reference_with_a_u_shaped_profile(computed, symbol: str) -> None:
    got, want, _ = _reference(*computed, symbol)
    assert_rows_equal(got, want)


@pytest.mark.parametrize("symbol", list(SYMBOLS))
def test_the_stored_profiles_equal_the_reference(computed, symbol: str) -> None:
    trades, path = computed
    _, _, profiles = _reference(trades, path, symbol)
    got = stored_profiles(path, symbol)
    assert set(got) == set(list(profiles)[1:])  # every session after the first starts with an estimate
    for o, (factor, fallback) in got.items():
        assert fallback == (profiles[o] is None), o
        want = [1.0] * len(factor) if profiles[o] is None else profiles[o][0]
        np.testing.assert_allclose(factor, want, rtol=1e-12, atol=0, err_msg=str(o))


def test_the_profiles_are_u_shaped_and_not_flat(computed) -> None:
    """The comparison above is not vacuous: most sessions use an estimated profile, high at the open (the
    thin symbol pools its open with the next buckets, so 1.3 times the median rather than 2.4 times midday)."""
    _, path = computed
    for symbol in SYMBOLS:
        got = stored_profiles(path, symbol)
        estimated = [f for f, fallback in got.values() if not fallback]
        assert len(estimated) >= len(got) - 2, symbol
        for f in estimated:
            assert f[0] > 1.3 * float(np.median(f)), (symbol, f)
