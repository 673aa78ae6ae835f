"""The one storage interface every process talks to; each SQL dialect implements it in its own module.

Writers (ingest, the transform) and the read-only server see only this protocol. Which dialect runs is
decided once, in :func:`open_storage`, from ``Settings.db_backend``: no other module branches on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from sql.settings import Settings

__all__ = ["DatabaseHeld", "QueryResult", "SignalStateRow", "SqlResult", "StatementError", "signal_states_by_symbol",
           "Storage", "StorageError", "QueryTimeout", "WriteListener", "open_storage"]


class StorageError(RuntimeError):
    """The database refused or failed an operation."""


class DatabaseHeld(StorageError):
    """Another process holds the database file (DuckDB allows one process per file).

    ``pid`` is the holder's process id when the database named it, else ``None``.
    """

    def __init__(self, message: str, *, path: str, pid: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid


class QueryTimeout(StorageError):
    """A read query ran past ``MCP_QUERY_TIMEOUT_MS`` and was interrupted."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a named read query, at most ``limit`` of them.

    ``truncated`` is true when the query had more rows than were returned (it fetched ``limit + 1``).
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


class StatementError(ValueError):
    """The database rejected an analyst's statement itself (syntax, unknown column, bad cast, ...).

    Its message is DuckDB's or Vertica's text about the statement the analyst wrote: safe and useful to show.
    """


@dataclass(frozen=True, slots=True)
class SqlResult:
    """The first rows of an analyst's statement (:meth:`Storage.run_sql`).

    ``columns`` pairs each column name with its SQL type as the database names it; ``table`` holds at most
    ``limit`` rows with the types the database returned; ``truncated`` is true when the statement had more.
    """

    columns: list[tuple[str, str]]
    table: pa.Table
    truncated: bool


@dataclass(frozen=True, slots=True)
class SignalStateRow:
    """What the transform stored for one symbol on one grid (``signal_state``)."""

    symbol: str
    bar_seconds: int
    last_bar_end_ns: int
    state: str


def signal_states_by_symbol(rows: Sequence[Sequence[Any]]) -> dict[str, SignalStateRow]:
    """Key the rows of the ``signal_states`` query (symbol, bar_seconds, last_bar_end_ns, state) by symbol."""
    return {str(r[0]): SignalStateRow(str(r[0]), int(r[1]), int(r[2]), str(r[3])) for r in rows}


class WriteListener(Protocol):
    """Told of every write a storage commits, in commit order, under the storage's lock of that write (DuckDB:
    trade appends and the other writes have a lock each, so a trade's call may overlap another's).

    For state kept in memory beside the database (``server/tools/latest.py``). The calls come after the
    commit, on the writing thread: they must be quick and must not write.
    """

    def attached(self) -> None:
        """Called once when added, under the write lock, before any write is told: read what to keep."""

    def trades_written(self, batch: pa.Table) -> None:
        """``append_trades(batch)`` committed (the batch as given, before duplicates were skipped)."""

    def signals_written(self, signals: pa.Table, states: Sequence[SignalStateRow]) -> None:
        """``commit_signals`` committed these rows and states."""

    def signals_reset(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """``reset_signals`` deleted the bars and states of ``symbols``."""

    def realized_written(self, rows: pa.Table) -> None:
        """``write_realized_spread(rows)``, or ``commit_signals(..., realized=rows)``, committed and added rows
        (``rows`` as given: a bar whose row was stored already keeps it). Optional: a listener without this method
        is not told."""

    def write_failed(self, error: BaseException) -> None:
        """A call above raised ``error``; what the listener holds may be out of date."""


class Storage(Protocol):
    """A database holding the tables and views of DESIGN §5."""

    def apply_schema(self) -> None:
        """Create every table and view that does not exist yet; safe to run any number of times."""

    def append_trades(self, batch: pa.Table) -> int:
        """Append trades (``sql.contract.TRADES_SCHEMA``), skipping known keys; return rows added."""

    def append_quotes(self, batch: pa.Table) -> int:
        """Append quotes (``sql.contract.QUOTES_SCHEMA``); return rows added."""

    def trade_symbols(self) -> list[tuple[str, str]]:
        """Return ``(market, symbol)`` for every symbol with at least one trade."""

    def newest_trade_ns(self) -> int | None:
        """Return the largest ``ts_ns`` in ``market_data``, or ``None`` when it is empty."""

    def read_trades(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        """Return ``ts_ns, price, size, conditions, correction`` of ``symbol`` with ``start_ns <= ts_ns < end_ns``,
        time-ordered."""

    def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
        """Return the stored transform state of every symbol on the ``bar_seconds`` grid."""

    def commit_signals(
        self, signals: pa.Table, states: Sequence[SignalStateRow], model_params: pa.Table | None = None,
        profiles: pa.Table | None = None, liquidity: pa.Table | None = None, realized: pa.Table | None = None,
    ) -> int | None:
        """Write signal rows (``SIGNALS_SCHEMA``), model fits (``MODEL_PARAMS_SCHEMA``), intraday profiles
        (``INTRADAY_PROFILE_SCHEMA``), bar liquidity (``BAR_LIQUIDITY_SCHEMA``), realized spreads
        (``BAR_REALIZED_SPREAD_SCHEMA``; a bar whose row is stored already keeps it, a bar not stored gets none)
        and the states that follow them in one transaction. Returns the ``updated_ns`` stamp the states were
        written with when the storage stamps them (:mod:`udx.state_cache` keeps them in memory then), else None."""

    def reset_signals(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """Delete the signals, fits, profiles and states of ``symbols`` on the ``bar_seconds`` grid (the transform
        then recomputes them from their first trade)."""

    def rewind_signals(self, states: Sequence[SignalStateRow]) -> None:
        """For each state, delete its symbol's bars, fits and profiles after ``last_bar_end_ns`` and store the
        state, in one transaction (the transform then recomputes from there: ``transform --recompute --since``)."""

    def query(self, name: str, params: Mapping[str, Any], limit: int) -> QueryResult:
        """Run the named read query ``name`` with bound ``params``; at most ``limit`` rows, time-limited."""

    def run_sql(self, sql: str, limit: int) -> SqlResult:
        """Run an analyst's statement, checked by ``server.sql_guard``, read-only and time-limited; keep at
        most ``limit`` rows. Raises :class:`StatementError` when the database rejects the statement,
        :class:`QueryTimeout` past the time limit."""

    def reopen(self) -> None:
        """Close and reconnect, releasing what the client library holds for the connection (the loader calls
        it every ``LOAD_REOPEN_ROWS`` rows written)."""

    def close(self) -> None:
        """Release the connection."""


def open_storage(settings: Settings, *, read_only: bool = False) -> Storage:
    """Open the backend named by ``settings.db_backend``.

    Parameters
    ----------
    settings
        The process settings.
    read_only
        Open without write access (the server when no writer shares its process).
    """
    if settings.db_backend == "duckdb":
        from sql.duckdb_backend import DuckDBStorage

        return DuckDBStorage.open(settings, read_only=read_only)
    if settings.db_backend == "vertica":
        from sql.vertica_backend import VerticaStorage

        return VerticaStorage.open(settings, read_only=read_only)
    raise StorageError(f"DB_BACKEND={settings.db_backend!r} is not supported; use 'duckdb' or 'vertica'")
