"""Analysts' SQL: one read-only statement over the documented tables and views, for the MCP tool ``query``,
``POST /api/v1/sql`` and any other caller (a CLI, the demo's tests).

:func:`run_analyst_sql` checks the statement (``server/sql_guard.py``), runs it through
:meth:`sql.backend.Storage.run_sql` (read-only, ``MCP_QUERY_TIMEOUT_MS``, at most ``limit + 1`` rows) and
cuts the rows to ``MCP_SQL_MAX_BYTES`` of JSON. The answer carries typed columns (name and SQL type as the
database names them), the rows as JSON values, ``count``, ``truncated`` (with ``truncated_by``: ``rows`` or
``bytes``), the JSON size of the rows and ``as_of``; the Arrow table beside it serves CSV, Arrow IPC and
Parquet with the same rows.

JSON values: timestamps as ISO-8601 strings, DECIMAL/HUGEINT as numbers (integers when integral), BLOB as
base64 (the standard alphabet, RFC 4648 section 4), NaN/Infinity as ``null``, lists and structs as arrays and
objects (their values by the same rules), anything else as its text.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pydantic_core
from pydantic import BaseModel, Field

from server.arguments import iso_utc
from server.sql_guard import DOCUMENTED_RELATIONS, check_read_only

if TYPE_CHECKING:
    from sql.backend import Storage
    from sql.settings import Settings

__all__ = ["MAX_SQL_CHARS", "MEDIA_TYPES", "ResultTooLarge", "SqlAnswer", "SqlColumn", "SqlPage", "encode",
           "run_analyst_sql", "tool_description"]  # fmt: skip

#: Longest statement accepted (characters).
MAX_SQL_CHARS = 100_000

Format = Literal["json", "csv", "arrow", "parquet"]

#: The media type of each answer format.
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}


class ResultTooLarge(ValueError):
    """Even the first row of the result passes ``MCP_SQL_MAX_BYTES``."""


class SqlColumn(BaseModel):
    """One result column."""

    name: str
    type: str = Field(description="SQL type as the database names it, e.g. BIGINT, DOUBLE, VARCHAR, TIMESTAMP")


class SqlPage(BaseModel):
    """The first rows of an analyst's statement."""

    columns: list[SqlColumn]
    rows: list[list[Any]] = Field(description="one array per row, values in column order")
    count: int = Field(description="number of rows returned")
    truncated: bool = Field(description="true when the statement had more rows than returned")
    truncated_by: Literal["rows", "bytes"] | None = Field(
        description="what cut the rows: the row limit, or MCP_SQL_MAX_BYTES of JSON; null when not truncated"
    )
    bytes: int = Field(description="size of the rows as JSON")
    as_of: str = Field(description="when this answer was computed, ISO-8601 UTC")


@dataclass(frozen=True, slots=True)
class SqlAnswer:
    """The JSON page and the same rows as an Arrow table (for CSV, Arrow IPC and Parquet)."""

    page: SqlPage
    table: pa.Table


def run_analyst_sql(storage: Storage, settings: Settings, sql: str, limit: int | None = None) -> SqlAnswer:
    """Check and run one read-only statement; return at most ``limit`` rows within ``MCP_SQL_MAX_BYTES``.

    Parameters
    ----------
    storage
        The database (DuckDB or Vertica, per ``settings.db_backend``).
    settings
        Supplies the dialect, ``MCP_MAX_ROWS`` (the cap of ``limit``), ``MCP_DEFAULT_ROWS`` and
        ``MCP_SQL_MAX_BYTES``.
    sql
        One SELECT over the documented tables and views.
    limit
        Rows wanted, 1 to ``MCP_MAX_ROWS``; ``MCP_DEFAULT_ROWS`` when omitted.

    Raises
    ------
    server.sql_guard.SqlRefused
        The statement is not one read-only query over the documented relations.
    sql.backend.StatementError
        The database rejected the statement (e.g. an unknown column).
    ResultTooLarge
        The first row alone passes ``MCP_SQL_MAX_BYTES``.
    sql.backend.QueryTimeout
        The statement ran past ``MCP_QUERY_TIMEOUT_MS``.
    """
    if limit is None:
        limit = min(settings.mcp_default_rows, settings.mcp_max_rows)
    if not 1 <= limit <= settings.mcp_max_rows:
        raise ValueError(f"limit must be 1-{settings.mcp_max_rows} (MCP_MAX_ROWS), not {limit}")
    if len(sql) > MAX_SQL_CHARS:
        raise ValueError(f"sql is {len(sql)} characters; at most {MAX_SQL_CHARS}")
    checked = check_read_only(sql, dialect=settings.db_backend)
    result = storage.run_sql(checked, limit)
    rows, size = _rows_within(result.table, settings.mcp_sql_max_bytes)
    by_bytes = len(rows) < result.table.num_rows
    page = SqlPage(
        columns=[SqlColumn(name=name, type=kind) for name, kind in result.columns],
        rows=rows,
        count=len(rows),
        truncated=result.truncated or by_bytes,
        truncated_by="bytes" if by_bytes else "rows" if result.truncated else None,
        bytes=size,
        as_of=iso_utc(time.time_ns()),
    )
    return SqlAnswer(page=page, table=result.table.slice(0, len(rows)))


def _jsonable(value: Any) -> Any:
    """One value as JSON, by the module's rules, the values inside lists and structs too (pydantic would give a
    DECIMAL inside a list as a string and a BLOB as URL-safe base64)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return pydantic_core.to_jsonable_python(value, inf_nan_mode="null", fallback=str)


def _rows_within(table: pa.Table, max_bytes: int) -> tuple[list[list[Any]], int]:
    """The table's rows as JSON values, as many as fit in ``max_bytes`` of JSON; and their size."""
    columns = [column.to_pylist() for column in table.columns]
    rows: list[list[Any]] = []
    size = 2  # the enclosing []
    for values in zip(*columns, strict=True):
        row = [_jsonable(v) for v in values]
        row_bytes = len(pydantic_core.to_json(row)) + (1 if rows else 0)
        if size + row_bytes > max_bytes:
            if not rows:
                raise ResultTooLarge(
                    f"the first row alone is {row_bytes} bytes of JSON, above MCP_SQL_MAX_BYTES={max_bytes}; "
                    "select fewer or narrower columns"
                )
            break
        rows.append(row)
        size += row_bytes
    return rows, size


def encode(answer: SqlAnswer, fmt: Format) -> bytes:
    """The answer in ``fmt``: the JSON page, CSV (header row; nested values as JSON), Arrow IPC stream or
    Parquet (the database's column types).

    Raises
    ------
    ValueError
        A column type the format cannot hold (e.g. an INTERVAL in Parquet).
    """
    if fmt == "json":
        return answer.page.model_dump_json().encode()
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([c.name for c in answer.page.columns])
        for row in answer.page.rows:
            writer.writerow([_csv_value(v) for v in row])
        return text.getvalue().encode()
    sink = io.BytesIO()
    try:
        if fmt == "arrow":
            with pa.ipc.new_stream(sink, answer.table.schema) as writer:
                writer.write_table(answer.table)
        else:
            import pyarrow.parquet as pq

            pq.write_table(answer.table, sink)
    except (pa.ArrowException, ValueError) as exc:
        raise ValueError(f"this result cannot be written as {fmt}: {exc}; try format json or csv") from None
    return sink.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list | dict) else value


_EXAMPLES = {
    "duckdb": [
        "SELECT symbol, count(*) AS trades, sum(size) AS volume FROM market_data "
        "WHERE ts_ns >= epoch_ns(now() - INTERVAL 1 HOUR) GROUP BY symbol ORDER BY trades DESC",
        "SELECT symbol, bar_end, close, garch_sigma, vpin_cdf, trading_signal FROM latest_signals "
        "ORDER BY vpin_cdf DESC NULLS LAST",
        "SELECT symbol, CAST(bar_end AS DATE) AS day, count(*) AS jumps, max(threshold_ratio) AS largest "
        "FROM jump_events GROUP BY ALL ORDER BY day DESC, jumps DESC",
        "SELECT symbol, make_timestamp(bar_end_ns // 1000) AS bar_end, vwap, avg(vwap) OVER "
        "(PARTITION BY symbol ORDER BY bar_end_ns ROWS 29 PRECEDING) AS vwap_30 FROM trading_signals "
        "WHERE symbol = 'AAPL' ORDER BY bar_end_ns DESC",
    ],
    "vertica": [
        "SELECT symbol, COUNT(*) AS trades, SUM(size) AS volume FROM market_data GROUP BY symbol ORDER BY trades DESC",
        "SELECT symbol, bar_end_ns, close, garch_sigma, vpin_cdf, trading_signal FROM latest_signals "
        "ORDER BY vpin_cdf DESC NULLS LAST",
    ],
}


def tool_description(settings: Settings) -> str:
    """The description of the MCP tool ``query``: what a model needs to write good SQL for this database."""
    dialect = "DuckDB" if settings.db_backend == "duckdb" else "Vertica"
    examples = "\n".join(f"- {e}" for e in _EXAMPLES[settings.db_backend])
    time_hint = (
        "make_timestamp(ts_ns // 1000) gives a TIMESTAMP, epoch_ns(now() - INTERVAL 1 HOUR) a bound"
        if settings.db_backend == "duckdb"
        else "TO_TIMESTAMP(ts_ns / 1e9) gives a TIMESTAMP"
    )
    return (
        f"Run one read-only SQL statement ({dialect} dialect) over the market data and signals and get typed "
        "rows. Only SELECT / WITH ... SELECT / VALUES over these tables and views: "
        f"{', '.join(sorted(DOCUMENTED_RELATIONS))}. Read the resource schema://views first for every column, "
        "its type and meaning. Times are BIGINT nanoseconds since the Unix epoch, UTC (*_ns columns); the "
        f"views add TIMESTAMP columns (ts, bar_end; session_date is a DATE); {time_hint}. Filter on symbol "
        "and a *_ns range, and aggregate in SQL: at most `limit` rows "
        f"(≤ {settings.mcp_max_rows}) and {settings.mcp_sql_max_bytes} bytes of JSON come back "
        "(truncated/truncated_by say when more existed), and a statement running longer than "
        f"{settings.mcp_query_timeout_ms} ms is cancelled. Refused with the reason: writes, DDL, "
        "COPY/ATTACH/INSTALL/LOAD/PRAGMA/SET, files and URLs (read_csv, read_parquet, 'file.csv'), system "
        f"catalogs and several statements. Examples:\n{examples}"
    )
