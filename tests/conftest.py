"""Shared fixtures: small settings and one DuckDB file of simulated market data with computed signals.

The file is built once per session by the real parts (synthetic market history → DuckDB → transform) and
closed again, so that tests may open it read-only, in this process or in a server subprocess.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pytest

from sql.contract import TRADES_SCHEMA
from sql.settings import Settings

if TYPE_CHECKING:
    from sql.duckdb_backend import DuckDBStorage

#: The simulated stocks trade around the clock, as in the demo.
DAY_SESSION = "00:00-24:00 UTC"


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def small_settings(path: Path, **overrides: object) -> Settings:
    """Settings for tests: small row caps, short time limit, the demo's 24-hour session; a chart limit that a
    chart worker's first start on a loaded box fits in (it includes importing matplotlib)."""
    values: dict[str, object] = {
        "duckdb_path": path,
        "session_stocks": DAY_SESSION,
        "mcp_max_rows": 100,
        "mcp_default_rows": 20,
        "mcp_query_timeout_ms": 2000,
        "mcp_chart_timeout_ms": 180_000,
        "mcp_port": free_port(),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def writable_copy(source: Path, directory: Path) -> tuple[DuckDBStorage, Settings]:
    """Open a writable copy of the DuckDB file ``source`` in ``directory``, with its :func:`small_settings`."""
    import shutil

    from sql.duckdb_backend import DuckDBStorage

    path = directory / source.name
    shutil.copyfile(source, path)
    settings = small_settings(path)
    return DuckDBStorage.open(settings), settings


def trades_from_parts(parts: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]) -> pa.Table:
    """Merge per-symbol ``(market, symbol, ts_ns, price, size)`` arrays into one time-ordered trades table."""
    market = np.concatenate([np.full(p[2].size, p[0], object) for p in parts])
    symbol = np.concatenate([np.full(p[2].size, p[1], object) for p in parts])
    ts, price, size = (np.concatenate([p[i] for p in parts]) for i in (2, 3, 4))
    order = np.argsort(ts, kind="stable")
    n = ts.size
    return pa.Table.from_arrays(
        [pa.array(market[order], pa.string()), pa.array(symbol[order], pa.string()), pa.array(ts[order]),
         pa.array(price[order]), pa.array(size[order]), pa.array(np.zeros(n, np.int32)),
         pa.array([str(i) for i in range(n)], pa.string()), pa.nulls(n, pa.string()), pa.nulls(n, pa.int32()),
         pa.array(np.arange(n, dtype=np.int64)), pa.nulls(n, pa.int32()), pa.nulls(n, pa.int64()),
         pa.array(ts[order]), pa.array(["sim"] * n, pa.string()), pa.nulls(n, pa.int32())],
        schema=TRADES_SCHEMA,
    )  # fmt: skip


def wait_for(ready, processes: list, logs: list[Path], seconds: float, what: str):
    """Poll ``ready()`` every half second until it returns a true value (returned); fail with the logs' tails
    when one of ``processes`` exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        tails = lambda: "\n".join(p.read_text()[-3000:] for p in logs if p.exists())  # noqa: E731
        assert all(p.poll() is None for p in processes), f"a process exited before {what}:\n{tails()}"
        assert time.monotonic() < deadline, f"no {what} within {seconds:.0f} s:\n{tails()}"
        value = ready()
        if value:
            return value
        time.sleep(0.5)


@contextmanager
def serving_app(app: object, port: int | None = None) -> Iterator[str]:
    """Run an ASGI ``app`` with uvicorn in a thread on 127.0.0.1 (a free port by default); yield its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serving(settings: Settings, storage: object) -> Iterator[str]:
    """Run the app built from ``settings`` and ``storage`` on ``settings.mcp_port``; yield its base URL."""
    from server.app import build_app

    with serving_app(build_app(settings, storage), settings.mcp_port) as url:  # type: ignore[arg-type]
        yield url


@pytest.fixture(scope="session")
def market_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed DuckDB file with 1.5 days of simulated trades ending now, and their signals."""
    from ingest.synthetic_market import SyntheticMarket
    from sql.duckdb_backend import DuckDBStorage
    from udx.transform import run_transform

    path = tmp_path_factory.mktemp("market") / "market.duckdb"
    settings = small_settings(path)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    end_ns = time.time_ns()
    trades, quotes = SyntheticMarket(seed=11, rate=4.0).history(end_ns - int(1.5 * 86_400e9), end_ns)
    storage.append_trades(trades)
    storage.append_quotes(quotes)
    run_transform(storage, settings)
    storage.close()
    return path


@pytest.fixture(scope="session")
def market_settings(market_db: Path) -> Settings:
    return small_settings(market_db)


@pytest.fixture(scope="session")
def market_storage(market_settings: Settings):
    """The market database opened read-only, as ``microstructure serve`` opens it."""
    from sql.duckdb_backend import DuckDBStorage

    storage = DuckDBStorage.open(market_settings, read_only=True)
    yield storage
    storage.close()


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory: pytest.TempPathFactory):
    """``tests/server/tiny_market.py``'s two-hour file and the file opened read-only, for modules that only read."""
    from sql.duckdb_backend import DuckDBStorage
    from tests.server.tiny_market import build_tiny_market

    path = build_tiny_market(tmp_path_factory.mktemp("tiny") / "tiny.duckdb")
    storage = DuckDBStorage.open(small_settings(path), read_only=True)
    yield path, storage
    storage.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _started_broker(workdir: Path):
    """A broker started with ``scripts/kafka-local`` in ``workdir``. In CI (``CI=true``) a broker that cannot be
    started fails the test; elsewhere the test is skipped with the reason."""
    import os

    from tests.kafka_broker import LocalBroker

    broker = LocalBroker(workdir)
    try:
        broker.start()
    except Exception as exc:  # noqa: BLE001 - turned into a failure (CI) or a skip, with the reason
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"no Kafka broker: {exc}")
        pytest.skip(f"no Kafka broker (set KAFKA_BOOTSTRAP_SERVERS or fix scripts/kafka-local): {exc}")
    return broker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory):
    """Bootstrap servers of a real Kafka broker: ``KAFKA_BOOTSTRAP_SERVERS``/``BROKERS`` if set, else one
    started with ``scripts/kafka-local`` for this session (:func:`_started_broker`)."""
    import os

    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("BROKERS")
    if given:
        yield given
        return
    broker = _started_broker(tmp_path_factory.mktemp("kafka"))
    yield broker.bootstrap
    broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path):
    """A broker of this test alone (a :class:`tests.kafka_broker.LocalBroker`), for tests that stop and start it."""
    broker = _started_broker(tmp_path / "broker")
    yield broker
    broker.stop()
