"""What a client is told when the database fails: a generic message with a short error id, never the
database's own text (which may carry SQL, table layout or file paths); the detail goes to the log with the
same id, so an operator can find it.

A time limit (:class:`sql.backend.QueryTimeout`) is the caller's business and keeps its message, which names
``MCP_QUERY_TIMEOUT_MS`` (or ``MCP_CHART_TIMEOUT_MS``); so does a chart worker's failure
(:class:`server.chart_pool.ChartFailed`, logged where it happens), which holds no database text. REST, MCP
(SDK and short path, seed-style body included) and ``/health`` answer through :func:`client_message`.
"""

from __future__ import annotations

import logging
import secrets

from server.chart_pool import ChartFailed
from sql.backend import QueryTimeout, StorageError

__all__ = ["client_message"]

log = logging.getLogger("microstructure.server")


def client_message(exc: StorageError, where: str) -> str:
    """The message a client gets for ``exc``; logs the detail under a fresh error id unless it is a time limit.

    Parameters
    ----------
    exc
        What the storage raised.
    where
        What was being answered (a tool or route name), for the log line.

    Returns
    -------
    str
        ``str(exc)`` for a time limit or a chart worker's failure, else
        ``"the database failed (error id <8 hex>); ..."``.
    """
    if isinstance(exc, (QueryTimeout, ChartFailed)):
        return str(exc)
    error_id = secrets.token_hex(4)
    log.error("database error %s in %s: %r", error_id, where, str(exc))  # %r: one line whatever the text
    return f"the database failed (error id {error_id}); the server log has the detail"
