"""What a client is told when the database fails (``server/errors.py``), called directly (issue 16 point 4).

Fast direct tests (milliseconds, no database, no server: the mutation group ``server-errors`` of
``scripts/mutation``). The expected texts are written here by hand from the module's documented contract and the
guide's security point 7 (internal errors never verbatim): a time limit and a chart worker's failure keep their
own message and log nothing; any other storage error is ``the database failed (error id <8 hex>); the server log
has the detail`` with a fresh id, and the log line ``database error <id> in <where>: <repr of the text>`` at
ERROR on ``microstructure.server`` holds the database's words under the same id.
"""

from __future__ import annotations

import logging
import re

import pytest

from server.chart_pool import ChartFailed
from server.errors import client_message
from sql.backend import DatabaseHeld, QueryTimeout, StorageError

SECRET = "Catalog Error: Table with name trading_signals_v2 does not exist!\nLINE 1: SELECT * FROM /srv/x.duckdb"
GENERIC = re.compile(r"the database failed \(error id ([0-9a-f]{8})\); the server log has the detail")


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("microstructure")]


@pytest.mark.parametrize("exc", [StorageError(SECRET), DatabaseHeld(SECRET, path="/srv/x.duckdb", pid=7)])
def test_a_database_failure_is_a_generic_message_whose_id_names_the_logged_detail(caplog, exc):
    caplog.set_level(logging.DEBUG)
    message = client_message(exc, "get_trading_signals")
    match = GENERIC.fullmatch(message)
    assert match, message
    assert "trading_signals_v2" not in message and "/srv" not in message
    error_id = match.group(1)
    (record,) = _records(caplog)
    assert record.name == "microstructure.server"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"database error {error_id} in get_trading_signals: {SECRET!r}"
    assert "\n" not in record.getMessage()  # %r: one line whatever the text
    assert record.exc_info is None


def test_each_failure_gets_a_fresh_id(caplog):
    caplog.set_level(logging.DEBUG)
    ids = [GENERIC.fullmatch(client_message(StorageError("boom"), "/api/v1/jumps")).group(1) for _ in range(20)]
    assert len(set(ids)) == 20
    logged = [r.getMessage() for r in _records(caplog)]
    assert logged == [f"database error {i} in /api/v1/jumps: 'boom'" for i in ids]


@pytest.mark.parametrize("exc", [
    QueryTimeout("query ran past MCP_QUERY_TIMEOUT_MS=2000"),
    QueryTimeout("chart ran past MCP_CHART_TIMEOUT_MS=9000"),
    ChartFailed("the chart worker died (exit code -9)"),
])  # fmt: skip
def test_a_time_limit_or_a_chart_failure_keeps_its_message_and_logs_nothing(caplog, exc):
    caplog.set_level(logging.DEBUG)
    assert client_message(exc, "get_chart") == str(exc)
    assert _records(caplog) == []


def test_an_error_without_text_is_still_generic(caplog):
    caplog.set_level(logging.DEBUG)
    message = client_message(StorageError(), "query")
    error_id = GENERIC.fullmatch(message).group(1)
    assert [r.getMessage() for r in _records(caplog)] == [f"database error {error_id} in query: ''"]
