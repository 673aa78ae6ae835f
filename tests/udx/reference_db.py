"""What the reference comparisons read back from a transformed DuckDB file, and how they compare rows
(shared by test_reference_pipeline.py and test_reference_profile.py)."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

#: rtol 1e-12: the same arithmetic up to summation order (see the test modules for why).
EXACT_COLUMNS = ("volume", "vwap", "close", "log_return", "lee_mykland_stat", "jump_threshold", "garch_sigma",
                 "standardized_return", "vpin", "vpin_cdf", "conditional_duration", "acd_surprise")


def transformed(trades: pa.Table, path: Path, settings: dict[str, object]) -> tuple[pa.Table, Path]:
    """Store ``trades`` in a new DuckDB file at ``path``, run the real transform with ``settings``, close it."""
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings
    from udx.transform import run_transform

    config = Settings(_env_file=None, duckdb_path=path, **settings)  # type: ignore[call-arg]
    storage = DuckDBStorage.open(config)
    try:
        storage.apply_schema()
        storage.append_trades(trades)
        run_transform(storage, config)
    finally:
        storage.close()
    return trades, path


def stored(path: Path, symbol: str) -> tuple[list[dict], dict[str, list[tuple]]]:
    """The ``trading_signals`` rows of ``symbol`` and its fits by model (``garch11``, ``acd11``)."""
    with duckdb.connect(str(path), read_only=True) as con:
        cur = con.execute("SELECT * FROM trading_signals WHERE symbol = ? ORDER BY bar_end_ns", [symbol])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        fits = {model: con.execute("SELECT omega, alpha, beta, loglik, n_obs, fit_end_ns FROM model_params "
                                   "WHERE symbol = ? AND model = ? ORDER BY fit_end_ns", [symbol, model]).fetchall()
                for model in ("garch11", "acd11")}
    return rows, fits


def stored_profiles(path: Path, symbol: str) -> dict[int, tuple[list[float], bool]]:
    """Per session the stored profile by bucket and whether it was the flat fallback."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT session_open_ns, factor, fallback FROM intraday_profile WHERE symbol = ? "
                           "ORDER BY session_open_ns, bucket", [symbol]).fetchall()
    out: dict[int, tuple[list[float], bool]] = {}
    for o, factor, fallback in rows:
        out.setdefault(o, ([], fallback))[0].append(factor)
    return out


def num(v: object) -> float:
    return math.nan if v is None else float(v)  # type: ignore[arg-type]


def assert_rows_equal(got: list[dict], want: list[dict]) -> None:
    """Bar ends, counts, flags, signals and reasons exactly; the numbers at rtol 1e-12, the intensity z-score at
    rtol 1e-10 / atol 1e-11, BNS at atol 1e-9."""
    assert [r["bar_end_ns"] for r in got] == [r["bar_end_ns"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert (g["n_trades"], g["trading_signal"], g["signal_reason"], g["jump_detected"]) == \
            (w["n_trades"], w["trading_signal"], w["signal_reason"], w["jump_detected"]), (g, w)
    for column in EXACT_COLUMNS:
        np.testing.assert_allclose([num(g[column]) for g in got], [w[column] for w in want], rtol=1e-12,
                                   atol=0, equal_nan=True, err_msg=column)
    # the reference takes the count's tail probabilities from scipy's distributions (incomplete beta), the
    # kernel sums them term by term: the two agree to ~1e-13 in z, not to the last bit
    np.testing.assert_allclose([num(g["trade_intensity_zscore"]) for g in got],
                               [w["trade_intensity_zscore"] for w in want], rtol=1e-10, atol=1e-11,
                               equal_nan=True, err_msg="trade_intensity_zscore")
    np.testing.assert_allclose([num(g["bns_stat"]) for g in got], [w["bns_stat"] for w in want], rtol=0,
                               atol=1e-9, equal_nan=True, err_msg="bns_stat")
