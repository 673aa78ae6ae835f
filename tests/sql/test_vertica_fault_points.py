"""The Vertica loader's staging step as a fault point (issue 16's fault points on the Vertica backend): an append
COPYs its batch into a session stage, then moves it into the table and commits. A failure or a kill between the
two stores nothing and leaves no staged row behind; the batch delivered again is stored once.

Where no Vertica server runs, the backend writes through the stand-in of :mod:`tests.sql.vertica_on_duckdb`; the
kill test runs a real ``load`` process against a real Kafka broker and kills it with SIGKILL at the point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest.produce import ensure_topics
from sql.vertica_backend import FAULT_POINTS, VerticaStorage
from tests.ingest.test_kafka_pipeline import kafka_settings, produce_events, settings_env, stock_trade_events
from tests.killed_at import kill_at
from tests.sql.test_vertica_storage import trades
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("vertica_fault_loader.py")
NTH = 4  # the 4th append: three batches are stored (and most committed) before the kill


class _Stop(Exception):
    pass


def test_a_failure_at_the_staged_point_stores_nothing_and_a_retry_stores_the_batch_once() -> None:
    seen: list[str] = []

    def fault(point: str) -> None:
        seen.append(point)
        if len(seen) == 1:
            raise _Stop(point)

    db = VerticaOnDuckDB()
    storage = VerticaStorage(db.connect, read_only=False, query_timeout_ms=3000, write_timeout_s=60, pool_size=1,
                             fault=fault)
    try:
        with pytest.raises(_Stop):
            storage.append_trades(trades(50))
        assert db.rows("SELECT count(*) FROM market_data") == [(0,)]
        assert db.rows("SELECT count(*) FROM market_data_stage") == [(0,)]  # rolled back with the session's write
        assert storage.append_trades(trades(50)) == 50
        assert storage.append_trades(trades(50)) == 0
    finally:
        storage.close()
    assert seen == ["staged"] * 3 and FAULT_POINTS == ("staged",)


def _start(db: Path, point: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(db), point, str(NTH)],
                            env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.kafka
def test_a_vertica_loader_killed_at_the_staged_point_loses_and_duplicates_nothing(kafka_bootstrap, tmp_path) -> None:
    db = tmp_path / "vertica.duckdb"
    settings = kafka_settings(kafka_bootstrap, tmp_path / "unused.duckdb", load_batch_rows=2000,
                              load_batch_seconds=3600)  # flush by size only: the same batches on every run
    ensure_topics(kafka_bootstrap, [settings.kafka_trades_topic, settings.kafka_quotes_topic], 3)
    events = stock_trade_events(12_000, seed=16)
    produce_events(settings, events)
    env = settings_env(settings)

    kill_at(_start(db, "staged", env), "staged", 180, "the loader")
    with duckdb.connect(str(db)) as con:  # what survived the kill: committed batches, no staged row
        (stored,), (staged,) = (con.execute(f"SELECT count(*) FROM {t}").fetchall()[0]
                                for t in ("market_data", "market_data_stage"))
    assert 0 < stored < len(events) and staged == 0

    done = subprocess.run([sys.executable, str(SCRIPT), str(db), "drain", "1"], env={**env, "PYTHONPATH": str(ROOT)},
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {(e["sym"], e["x"], e["i"], e["t"] * 1_000_000) for e in events}
    with duckdb.connect(str(db)) as con:
        rows = con.execute("SELECT symbol, exchange, trade_id, ts_ns FROM market_data").fetchall()
    assert len(rows) == len(expected)  # no duplicate
    assert set(rows) == expected  # and no loss
