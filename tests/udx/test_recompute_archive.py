"""A recompute after retention archived old days (udx/recompute.py): the archived days keep their signals as
made, and the live part equals a fresh one-pass run over every trade with the new definitions, value by value."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from conftest import trades_from_parts
from sql.settings import Settings
from udx.recompute import prepare_recompute
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage
archive_module = pytest.importorskip("sql.archive")

NS = 10**9
DAY = 86_400 * NS
START = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS  # Monday
DAYS = 5
LIVE_FROM = START + 3 * DAY  # RETAIN_TRADES_DAYS=2 archives Monday to Wednesday
OLD, NEW = {"lm_window": 20}, {"lm_window": 30}  # the definitions change: another Lee-Mykland window
SIGNALS = "SELECT * EXCLUDE (computed_at_ns) FROM trading_signals ORDER BY ALL"
STATES = "SELECT symbol, bar_seconds, last_bar_end_ns, state FROM signal_state ORDER BY ALL"


def _settings(path: Path, definitions: dict[str, int], **more: object) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=60, transform_lateness_seconds=2.0,  # type: ignore[call-arg]
                    **definitions, **more)


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    rng = np.random.default_rng(14)
    parts = []
    for market, symbol, n in (("crypto", "X:BTCUSD", 12_000), ("stocks", "AAPL", 8_000)):
        ts = np.sort(rng.integers(START, START + DAYS * DAY, n))
        parts.append((market, symbol, ts, 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, n))),
                      rng.integers(1, 100, n).astype(float)))
    return trades_from_parts(parts)


def _clean(rows: list[tuple]) -> list[tuple]:
    return [tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in row) for row in rows]


def _rows(path: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return _clean(con.execute(query).fetchall())


def _one_pass(path: Path, trades: pa.Table, definitions: dict[str, int]) -> None:
    from tests.duckdb_one_pass import transform_in_one_pass  # after the importorskip above

    transform_in_one_pass(_settings(path, definitions), trades, now_ns=1).close()


def _old_pass(tmp_path: Path, trades: pa.Table) -> tuple[Path, list[tuple], Settings]:
    """A file transformed once with the old definitions, its signals, and its settings with RETAIN_TRADES_DAYS=2."""
    path = tmp_path / "x.duckdb"
    _one_pass(path, trades, OLD)
    return path, _rows(path, SIGNALS), _settings(path, OLD, retain_trades_days=2)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, trades: pa.Table) -> dict[str, list[tuple]]:
    """A file that kept every trade, transformed once with the new definitions."""
    path = tmp_path_factory.mktemp("fresh") / "fresh.duckdb"
    _one_pass(path, trades, NEW)
    return {"signals": _rows(path, SIGNALS), "states": _rows(path, STATES)}


@pytest.mark.parametrize("how", ["definitions change", "transform --recompute"])
def test_a_recompute_after_an_archive_keeps_archived_days_and_equals_one_pass_after_them(
        tmp_path: Path, trades: pa.Table, fresh: dict[str, list[tuple]], how: str,
        caplog: pytest.LogCaptureFixture) -> None:
    path, old, settings = _old_pass(tmp_path, trades)
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        report = archive_module.archive(storage, settings)
        assert report.partitions == 6 and not report.waiting  # three days of two symbols left the live file
        assert storage.archived_until() == {"AAPL": LIVE_FROM, "X:BTCUSD": LIVE_FROM}
        new = _settings(path, NEW, retain_trades_days=2)
        with caplog.at_level("WARNING"):
            if how == "transform --recompute":
                assert prepare_recompute(storage, new) == ["AAPL", "X:BTCUSD"]
            run_transform(storage, new, now_ns=1)
    finally:
        storage.close()
    lines = [r.getMessage() for r in caplog.records if "only after the archive" in r.getMessage()]
    assert len(lines) == 1 and "2 symbol(s)" in lines[0] and "archived to 2024-03-14T00:00Z" in lines[0]
    got = _rows(path, SIGNALS)
    kept = [r for r in old if r[1] <= LIVE_FROM]
    assert kept and [r for r in got if r[1] <= LIVE_FROM] == kept  # no archived day's signals vanish or change
    recomputed = [r for r in got if r[1] > LIVE_FROM]
    assert recomputed and recomputed == [r for r in fresh["signals"] if r[1] > LIVE_FROM]
    assert recomputed != [r for r in old if r[1] > LIVE_FROM]  # the new definitions did change the rows
    assert [r for r in fresh["signals"] if r[1] <= LIVE_FROM] != kept  # so kept rows are the old ones
    assert _rows(path, STATES) == fresh["states"]
    fits = _rows(path, "SELECT fingerprint LIKE '%\"window\":30%' AS new, count(*), max(fit_end_ns) "
                       "FROM model_params GROUP BY ALL ORDER BY ALL")
    assert [f[0] for f in fits] == [False, True] and fits[0][2] <= LIVE_FROM  # each fit names its definitions


def test_a_recompute_from_a_session_before_the_archive_starts_after_it(
        tmp_path: Path, trades: pa.Table, fresh: dict[str, list[tuple]]) -> None:
    path, old, settings = _old_pass(tmp_path, trades)
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        archive_module.archive(storage, settings)
        new = _settings(path, NEW, retain_trades_days=2)
        prepare_recompute(storage, new, ["X:BTCUSD"], since_ns=START + DAY)  # Tuesday: archived
        run_transform(storage, new, now_ns=1)
    finally:
        storage.close()
    got = _rows(path, SIGNALS)
    btc = [r for r in got if r[0] == "X:BTCUSD"]
    assert [r for r in btc if r[1] <= LIVE_FROM] == [r for r in old if r[0] == "X:BTCUSD" and r[1] <= LIVE_FROM]
    assert [r for r in btc if r[1] > LIVE_FROM] == [r for r in fresh["signals"]
                                                    if r[0] == "X:BTCUSD" and r[1] > LIVE_FROM]
    assert [r for r in got if r[1] <= LIVE_FROM] == [r for r in old if r[1] <= LIVE_FROM]  # AAPL's too (the
    # transform recomputes it by itself: its state has the old definitions)
