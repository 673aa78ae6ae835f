"""What a recompute deletes on Vertica, over the real vertica-python client and real sockets against
:class:`tests.sql.vertica_wire.WireServer` (it records statements and answers none with rows: this proves which
statements run with which values, nothing about their SQL, which ``test_vertica_archive_parity.py`` checks on a
real server). A symbol recomputed must lose its ``daily_metrics`` rows with its bars, as on DuckDB."""

from __future__ import annotations

import pytest

from sql.backend import SignalStateRow
from sql.settings import Settings
from sql.vertica_backend import VerticaStorage
from tests.sql.vertica_wire import WireServer

pytestmark = pytest.mark.filterwarnings("ignore:TLS is not configured on the server:UserWarning")


def _storage(port: int) -> VerticaStorage:
    settings = Settings(_env_file=None, db_backend="vertica", vertica_host="127.0.0.1",  # type: ignore[call-arg]
                        vertica_port=port, vertica_connect_timeout_seconds=2.0, mcp_query_timeout_ms=3000)
    return VerticaStorage.open(settings)


def _deletes(server: WireServer) -> list[str]:
    code = [" ".join(line for line in q.splitlines() if not line.startswith("--")) for q in server.queries]
    return [c.split(" WHERE")[0].removeprefix("DELETE FROM ") for c in code if c.startswith("DELETE FROM")]


def test_a_reset_deletes_the_daily_metrics_with_the_bars() -> None:
    with WireServer() as server:
        storage = _storage(server.port)
        try:
            storage.reset_signals(["AAPL"], 60)
        finally:
            storage.close()
    assert _deletes(server) == ["trading_signals", "model_params", "intraday_profile", "bar_liquidity",
                                "bar_realized_spread", "daily_metrics", "signal_state"]
    assert any("daily_metrics WHERE symbol = 'AAPL' AND bar_seconds = 60" in q for q in server.queries)


def test_a_rewind_deletes_the_daily_metrics_after_the_state() -> None:
    with WireServer() as server:
        storage = _storage(server.port)
        try:
            storage.rewind_signals([SignalStateRow("AAPL", 60, 1_700_000_000_000_000_000, "{}")])
        finally:
            storage.close()
    assert _deletes(server) == ["trading_signals", "model_params", "intraday_profile", "bar_liquidity",
                                "bar_realized_spread", "daily_metrics"]  # the state is stored (MERGE), not deleted
    assert any("last_bar_end_ns > 1700000000000000000" in q for q in server.queries)

