"""``/health`` reports the Kafka lag: from the broker for a plain server, from the loader in a hosting process."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
import uvicorn

from conftest import free_port, serving, small_settings
from ingest.stats import PipelineStats
from server.app import build_app
from server.embedded import EmbeddedStatus


def _produce(bootstrap: str, topic: str, partitions: int, records: int) -> None:
    from confluent_kafka import Producer

    from ingest.produce import ensure_topics

    ensure_topics(bootstrap, [topic], partitions)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(records):
        producer.produce(topic, key=str(i % partitions).encode(), value=b"{}", partition=i % partitions)
    assert producer.flush(30) == 0


def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


@pytest.mark.kafka
def test_a_plain_server_reports_the_loader_groups_lag_read_from_the_broker(kafka_bootstrap, market_db, market_storage):
    tag = uuid.uuid4().hex[:8]
    trades, quotes, group = f"h-{tag}.trades", f"h-{tag}.quotes", f"h-{tag}"
    _produce(kafka_bootstrap, trades, 2, 10)  # 5 records per partition
    _produce(kafka_bootstrap, quotes, 1, 4)
    _commit(kafka_bootstrap, group, trades, {0: 5, 1: 2})  # partition 1: 3 left; quotes: nothing committed
    settings = small_settings(market_db, kafka_bootstrap_servers=kafka_bootstrap, kafka_group_id=group,
                              kafka_trades_topic=trades, kafka_quotes_topic=quotes)  # fmt: skip
    with serving(settings, market_storage) as url:
        response = httpx.get(f"{url}/health", timeout=30)
        assert response.status_code == 200
        kafka = response.json()["kafka"]
        assert kafka["source"] == "broker" and kafka["group"] == group
        assert kafka["topics"] == {trades: 3, quotes: 4} and kafka["lag"] == 7
        _commit(kafka_bootstrap, group, quotes, {0: 4})
        again = httpx.get(f"{url}/health", timeout=30).json()["kafka"]
        assert again["lag"] == 7 and again["age_seconds"] > 0  # one reading is reused for a few seconds


def test_a_plain_server_with_an_unreachable_broker_says_so_and_stays_healthy(market_db, market_storage):
    settings = small_settings(market_db, kafka_bootstrap_servers="127.0.0.1:1")
    with serving(settings, market_storage) as url:
        response = httpx.get(f"{url}/health", timeout=30)
    assert response.status_code == 200  # the data is served; the lag is just not known
    assert response.json()["kafka"]["lag"] is None and response.json()["kafka"]["error"]


def test_a_hosting_process_reports_its_loaders_lag_and_still_answers_503_while_starting(market_db, market_storage):
    status = EmbeddedStatus(mode="demo")
    stats = PipelineStats("load")
    stats.lag, stats.consumed = 42, 1000
    status.loader_stats = stats
    settings = small_settings(market_db, mcp_port=free_port())
    app = build_app(settings, market_storage, status=status.as_dict)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.mcp_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.02)
    try:
        url = f"http://127.0.0.1:{settings.mcp_port}/health"
        starting = httpx.get(url)
        assert starting.status_code == 503 and starting.json()["kafka"]["lag"] == 42
        status.ready = True
        stats.lag = 0
        body = httpx.get(url).json()
        assert body["ok"] is True and body["kafka"] == {"source": "loader", "lag": 0, "consumed": 1000,
                                                         "dead_lettered": 0, "parse_errors": 0}  # fmt: skip
    finally:
        server.should_exit = True
        thread.join(10)
