"""A read-only server on a file that older code wrote and no writer has opened since: every tool answers.

The file has the layout of an old commit (``tests/data/layouts/``): no ``bar_liquidity``, ``view_settings``,
``daily_metrics``, ``quote_book`` or ``liquidity_signals``. A reader cannot migrate it; the tools must still
give the rows it holds (bar liquidity and quote measures empty) instead of "Table ... does not exist".
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from conftest import small_settings
from server.app import build_app
from server.tools import market
from sql.archive_paths import archived_tables
from sql.duckdb_backend import DuckDBStorage

LAYOUTS = Path(__file__).resolve().parents[1] / "data" / "layouts"
BAR = 60
T0 = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC
SYMBOL = "AAPL"


def _old_file(path: Path, layout: str, version: int) -> Path:
    """Ten trades and two bars of AAPL in ``layout``, stamped at schema ``version`` as that code's writer did."""
    with duckdb.connect(str(path)) as con:
        con.execute((LAYOUTS / f"{layout}.sql").read_text(encoding="utf-8"))
        con.execute("INSERT INTO schema_version VALUES (?, 'created', 1)", (version,))
        for i in range(10):
            con.execute("INSERT INTO market_data VALUES ('stocks', ?, ?, ?, 100.0, 4, ?, NULL, 3, ?, NULL, NULL,"
                        " ?, 'sim', 0)", (SYMBOL, T0 + i * 10**10, 190.0 + i / 10, f"t{i}", i, T0 + i * 10**10))
        for bar_end, signal in ((T0 + 60 * 10**9, "HOLD"), (T0 + 120 * 10**9, "BUY")):
            con.execute("INSERT INTO trading_signals VALUES (?, ?, 60, 5, 500.0, 190.2, 190.4, 0.001, 0.01, 0.1,"
                        " 0.2, 4.0, false, 0.3, 0.4, 12.0, 1.1, 0.5, 0.6, ?, 'test bar', 9)",
                        (SYMBOL, bar_end, signal))
        con.execute("INSERT INTO signal_state VALUES (?, 60, ?, '{}', 9)", (SYMBOL, T0 + 120 * 10**9))
    return path


@pytest.fixture(scope="module")
def old_storage(tmp_path_factory: pytest.TempPathFactory):
    path = _old_file(tmp_path_factory.mktemp("old") / "old.duckdb", "duckdb_f582240", 3)
    storage = DuckDBStorage.open(small_settings(path), read_only=True)
    yield path, storage
    storage.close()


def test_every_tool_answers_from_the_old_file(old_storage) -> None:
    _, storage = old_storage
    signals = market.trading_signals(storage, limit=10, bar_seconds=BAR, start=0)
    assert [row.trading_signal for row in signals.rows] == ["BUY", "HOLD"]
    assert market.trading_signals(storage, limit=10, bar_seconds=BAR, symbol=SYMBOL, start=0).count == 2
    enriched = market.enriched_data(storage, symbol=SYMBOL, limit=20, bar_seconds=BAR, start=0)
    assert enriched.count == 10 and enriched.rows[0].price == pytest.approx(190.9)
    assert market.jump_events(storage, limit=5, bar_seconds=BAR, start=0).count == 0
    metrics = market.symbol_metrics(storage, limit=5, bar_seconds=BAR, start=0)
    assert [row.symbol for row in metrics.rows] == [SYMBOL]
    realtime = market.real_time_data(storage, limit=5, bar_seconds=BAR)
    assert realtime.count == 1 and realtime.rows[0].trading_signal == "BUY"
    assert realtime.rows[0].last_price == pytest.approx(190.9) and realtime.rows[0].n_quotes is None


def test_the_read_only_server_answers_every_route(old_storage) -> None:
    path, storage = old_storage
    app = build_app(small_settings(path, mcp_allowed_hosts="testserver"), storage)
    with TestClient(app) as client:
        for route, params in (("trading-signals", {"start": 0}), ("jump-events", {"start": 0}),
                              ("enriched-data", {"symbol": SYMBOL, "start": 0}),
                              ("symbol-metrics", {"start": 0}), ("real-time-data", {})):  # fmt: skip
            response = client.get(f"/api/v1/{route}", params=params)
            assert response.status_code == 200, (route, response.text)
            assert response.json()["count"] > 0 or route == "jump-events", route


def test_the_old_file_is_left_as_it_was(old_storage) -> None:
    _, storage = old_storage
    tables = {name for (name,) in storage.fetch_all(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()")}
    assert "market_data" in tables
    assert not {"bar_liquidity", "view_settings", "daily_metrics", "quote_book"} & tables


def test_the_archive_views_answer_from_the_old_file(old_storage) -> None:
    _, storage = old_storage
    held = {"trades_all": 10, "quotes_all": 0, "signals_all": 2, "bar_liquidity_all": 0, "bar_realized_spread_all": 0}
    assert {t.view for t in archived_tables()} == set(held)  # a table joining the archive joins this test
    for view, rows in held.items():
        assert storage.fetch_all(f"SELECT count(*) FROM {view}") == [(rows,)], view
    joined = storage.fetch_all("SELECT count(*), count(l.n_quotes) FROM signals_all AS s LEFT JOIN bar_liquidity_all"
                               " AS l USING (symbol, bar_seconds, bar_end_ns)")
    assert joined == [(2, 0)]


def test_a_reader_of_a_file_before_the_lee_ready_vpin_serves_its_bar_liquidity_with_that_column_null(
        tmp_path: Path) -> None:
    path = _old_file(tmp_path / "v4.duckdb", "duckdb_57de66c", 4)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO bar_liquidity VALUES (?, ?, 60, 7, 0.001, 0.002, 300.0, 200.0, 100.0, 0.2, 0.1,"
                    " 1e-9, 0.01, 2e-6, 9)", (SYMBOL, T0 + 120 * 10**9))
    storage = DuckDBStorage.open(small_settings(path), read_only=True)
    try:
        rows = market.trading_signals(storage, limit=10, bar_seconds=BAR, start=0).rows
        assert [(r.order_imbalance, r.vpin_lee_ready) for r in rows] == [(0.2, None), (None, None)]
        realtime = market.real_time_data(storage, limit=5, bar_seconds=BAR).rows
        assert realtime[0].order_imbalance == 0.2 and realtime[0].vpin_lee_ready is None
        assert storage.fetch_all("SELECT order_imbalance, vpin_lee_ready FROM liquidity_signals") == [(0.2, None)]
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:  # the file is left as it was
        assert "vpin_lee_ready" not in {r[0] for r in con.execute("DESCRIBE bar_liquidity").fetchall()}
