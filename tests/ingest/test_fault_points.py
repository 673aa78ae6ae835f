"""The no-loss test at chosen fault points (issue 16): a real broker, a real ``load`` process stopped at a
point of the loop and killed there with SIGKILL, then a restart that drains the topic. Random kill times do
not reach the window between a write and its commit; these do, every time."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.load import FAULT_POINTS
from ingest.produce import ensure_topics
from tests.ingest.test_kafka_pipeline import (
    _committed_total,
    db_rows,
    drain,
    kafka_settings,
    produce_events,
    settings_env,
    stock_trade_events,
)
from tests.killed_at import kill_at

pytestmark = [pytest.mark.kafka, pytest.mark.duckdb]
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("fault_loader.py")
#: The 4th batch: three batches are written (and most committed) before the kill.
NTH = 4


def _killed_at(point: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a loader that stops at the ``NTH`` pass of ``point``; return once it is killed there."""
    env = {**env, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(SCRIPT), point, str(NTH)], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_at(process, point, 120, "the loader")
    return process


@pytest.mark.parametrize("point", [*FAULT_POINTS, "inside_write"])
def test_a_loader_killed_at_a_fault_point_loses_and_duplicates_nothing(kafka_bootstrap, tmp_path, point):
    # flush by size only, so the batches and the point's position are the same on every run
    settings = kafka_settings(kafka_bootstrap, tmp_path / f"{point}.duckdb", load_batch_rows=2000,
                              load_batch_seconds=3600)
    ensure_topics(kafka_bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    events = stock_trade_events(20_000, seed=21)
    produce_events(settings, events)
    loader = _killed_at(point, settings_env(settings))
    assert loader.returncode == -signal.SIGKILL

    (stored,), = db_rows(settings.duckdb_path, "SELECT count(*) FROM market_data")
    committed = _committed_total(settings)
    assert 0 < committed <= stored < len(events)  # killed mid-topic; every committed record is stored
    if point != "consumed":  # the kill landed after (part of) a write and before its commit
        assert stored > committed

    drain(settings)
    expected = {(e["sym"], e["x"], e["i"], e["t"] * 1_000_000) for e in events}
    rows = db_rows(settings.duckdb_path, "SELECT symbol, exchange, trade_id, ts_ns FROM market_data")
    assert len(rows) == len(expected)  # no duplicate (market_data declares no key: this counts them)
    assert set(rows) == expected  # and no loss
    assert _committed_total(settings) == len(events)
