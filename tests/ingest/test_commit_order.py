"""The loader's commit order in process on a real broker: at every fault point the committed offsets never
pass the stored rows, after each write and before its commit the batch is stored and not committed, and a
drain ends with every record stored once and committed (the same points with SIGKILL in a separate process:
``test_fault_points.py``; in process here so that the mutation run of ``ingest/load.py`` sees it)."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from ingest.load import FAULT_POINTS, Loader
from sql.duckdb_backend import DuckDBStorage
from tests.ingest.test_kafka_pipeline import _committed_total, _produced

pytestmark = [pytest.mark.kafka, pytest.mark.duckdb]

N = 3000
ROWS = 500
#: Records no decoder takes: dead-lettered, and their batches committed only once the dead letters are durable.
BAD = [b"{not json", b"[1,2]", b'"just a string"']


def test_offsets_are_committed_only_after_their_batch_is_written(kafka_bootstrap, tmp_path):
    settings, events = _produced(kafka_bootstrap, tmp_path / "order.duckdb", N, seed=21, batch_rows=ROWS)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for value in BAD:
        producer.produce(settings.kafka_trades_topic, value, b"bad")
    assert producer.flush(60) == 0
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    seen: list[tuple[str, int, int]] = []

    def check(point: str) -> None:
        assert point in FAULT_POINTS
        stored = storage.fetch_one("SELECT count(*) FROM market_data")[0]
        committed = _committed_total(settings)
        seen.append((point, stored, committed))
        assert committed <= stored + len(BAD), seen  # the bad records are committed without a row
        if point == "consumed":
            assert len(loader._inflight) < 2, seen  # at most two batches written and not committed
        if point == "written":
            # this batch is stored, its offsets are not committed yet (unless it held only dead letters)
            assert committed < stored or stored == len(events), seen

    loader = Loader(settings, storage, topics=[settings.kafka_trades_topic], drain=True, fault=check)
    summary = loader.run()
    stored = storage.fetch_one("SELECT count(*), count(DISTINCT (symbol, exchange, trade_id, ts_ns)) "
                               "FROM market_data")  # fmt: skip
    storage.close()
    assert stored == (len(events), len(events))
    assert _committed_total(settings) == len(events) + len(BAD)
    written = [s for s in seen if s[0] == "written"]
    consumed = [s for s in seen if s[0] == "consumed"]
    assert len(written) == len(consumed) == summary.batches == summary.commits >= N // ROWS
    assert [s[1] for s in written] == sorted(s[1] for s in written)  # each write adds rows, in order
    assert summary.records == len(events) + len(BAD) and summary.trades_added == len(events)
    assert summary.commit_failures == 0 and summary.dead_lettered == len(BAD)


def test_a_second_drain_finds_nothing_to_load(kafka_bootstrap, tmp_path):
    settings, events = _produced(kafka_bootstrap, tmp_path / "again.duckdb", 1200, seed=22, batch_rows=ROWS)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    try:
        first = Loader(settings, storage, topics=[settings.kafka_trades_topic], drain=True).run()
        second = Loader(settings, storage, topics=[settings.kafka_trades_topic], drain=True).run()
    finally:
        storage.close()
    assert first.records == first.trades_added == len(events) and first.commits >= 1
    assert second.records == 0 and second.batches == 0 and second.commits == 0
