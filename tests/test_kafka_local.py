"""``scripts/kafka-local start`` against a port that is already served: the same broker is reused, a broker
on another data dir is refused (a test must never attach to somebody else's cluster by port reuse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_broker import LocalBroker

pytestmark = pytest.mark.kafka


def test_start_reuses_its_own_broker_and_refuses_another_data_dir(tmp_path: Path) -> None:
    with LocalBroker(tmp_path / "a") as broker:
        again = broker.run("start", 120)
        assert again.returncode == 0 and "already running" in again.stderr
        other = dict(broker.env, KAFKA_DATA_DIR=str(tmp_path / "b" / "data"))
        refused = LocalBroker(tmp_path / "b")
        refused.env = other
        done = refused.run("start", 120)
        assert done.returncode == 1, done.stderr
        assert f"not {tmp_path / 'b' / 'data'}" in done.stderr and "KAFKA_PORT" in done.stderr
        assert not (tmp_path / "b" / "data").exists()
        status = broker.run("status", 30)
        assert status.returncode == 0 and f"bootstrap=127.0.0.1:{broker.port}" in status.stdout
