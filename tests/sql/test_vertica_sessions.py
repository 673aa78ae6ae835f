"""Vertica sessions: the connect timeout bounds connecting only, every statement is bounded by a RUNTIMECAP.

vertica-python keeps its ``connection_timeout`` on the socket for every later read, and Vertica sends nothing
while a statement runs, so a connect timeout left in place would cut every statement at that length. These
tests run the real vertica-python client over real sockets against :class:`tests.sql.vertica_wire.WireServer`
(a local stand-in that speaks the login and simple-query messages, nothing more). The ``vertica``-marked test
runs the same check against a real server where VERTICA_HOST is set.
"""

from __future__ import annotations

import os
import re

import pytest

from sql.settings import Settings
from sql.vertica_backend import SOCKET_SLACK_SECONDS, VerticaStorage, connect_options
from tests.sql.vertica_wire import WireServer

CONNECT_S = 0.2


pytestmark = pytest.mark.filterwarnings("ignore:TLS is not configured on the server:UserWarning")


def _settings(port: int, **overrides: object) -> Settings:
    fields = {"db_backend": "vertica", "vertica_host": "127.0.0.1", "vertica_port": port,
              "vertica_connect_timeout_seconds": CONNECT_S, "mcp_query_timeout_ms": 3000,
              "vertica_write_timeout_seconds": 120, **overrides}
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg, arg-type]


def _statements(server: WireServer) -> list[str]:
    """The statements the server received, without comment lines and the final semicolon."""
    return [" ".join(line for line in q.splitlines() if not line.startswith("--")).rstrip(";")
            for q in server.queries]


def test_the_connect_option_is_the_connect_timeout_setting() -> None:
    options = connect_options(_settings(5433, vertica_connect_timeout_seconds=2.5))
    assert options["connection_timeout"] == 2.5 and options["autocommit"] is False


def test_a_statement_outlasting_the_connect_timeout_is_answered() -> None:
    # the server answers the SLEEP statement after 5 connect timeouts; a socket still at the connect timeout
    # would give up first ("timed out")
    with WireServer(slow_seconds=5 * CONNECT_S) as server:
        storage = VerticaStorage.open(_settings(server.port))
        try:
            with storage._write() as cursor:
                cursor.execute("SELECT SLEEP(1)")
            assert "SELECT SLEEP(1)" in server.queries
        finally:
            storage.close()


def test_writer_and_reader_sessions_carry_their_runtimecap_and_a_socket_timeout_just_above_it() -> None:
    with WireServer() as server:
        storage = VerticaStorage.open(_settings(server.port))
        try:
            with storage._reader.connection() as reader:
                assert reader.socket.gettimeout() == 3.0 + SOCKET_SLACK_SECONDS
            with storage._writer.connection() as writer:  # type: ignore[union-attr]
                assert writer.socket.gettimeout() == 120 + SOCKET_SLACK_SECONDS
        finally:
            storage.close()
    statements = _statements(server)
    caps = [q for q in statements if "RUNTIMECAP" in q]
    assert caps == ["SET SESSION RUNTIMECAP '3000 milliseconds'", "SET SESSION RUNTIMECAP '120 seconds'"]
    # the reader session is READ ONLY before its cap is set; the writer's cap comes before its staging tables
    assert statements.index(caps[0]) > statements.index("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    writer_setup = statements[statements.index(caps[1]):]
    assert any(re.match(r"CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS \w+_stage", q) for q in writer_setup)


@pytest.mark.vertica
@pytest.mark.skipif(not os.environ.get("VERTICA_HOST"), reason="VERTICA_HOST is not set: no Vertica server")
def test_vertica_a_statement_longer_than_the_connect_timeout_completes() -> None:
    settings = Settings(db_backend="vertica", vertica_connect_timeout_seconds=1)  # VERTICA_* from the environment
    storage = VerticaStorage.open(settings)
    try:
        with storage._write() as cursor:
            cursor.execute("SELECT SLEEP(3)")  # three connect timeouts of silence, then one row
            assert len(cursor.fetchall()) == 1
    finally:
        storage.close()
