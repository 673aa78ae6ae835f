"""The scale-out storage backend: a Vertica database, the statements of ``sql/vertica/``.

Same interface as :mod:`sql.duckdb_backend` (:class:`sql.backend.Storage`); which one runs is decided in
:func:`sql.backend.open_storage` only.

- **Connections.** A small pool of ``vertica-python`` connections (``autocommit=False``), one borrowed per
  call, so the server's worker threads and the loader share one object. Every write is one transaction.
  ``VERTICA_CONNECT_TIMEOUT_SECONDS`` bounds connecting only: vertica-python applies its
  ``connection_timeout`` to every later read too, and Vertica sends nothing while a statement runs, so each new
  session's socket timeout is widened to its ``RUNTIMECAP`` plus :data:`SOCKET_SLACK_SECONDS`. Writer sessions
  carry ``RUNTIMECAP = VERTICA_WRITE_TIMEOUT_SECONDS``, reader sessions ``MCP_QUERY_TIMEOUT_MS``.
- **Appends** stream the Arrow batch with ``cursor.copy("COPY <table>_stage ... FROM STDIN ... NO COMMIT")``
  into a session-local temporary table (``sql/vertica/staging/``, ``ON COMMIT DELETE ROWS``), then run the
  named ``insert_*`` statement, which for trades inserts only keys not stored yet (the dedupe rule of
  DESIGN §5: at-least-once delivery + idempotent append), and commit.
- **Reads for the server** (:meth:`VerticaStorage.query`) use a separate reader pool whose sessions are
  ``READ ONLY`` and carry ``RUNTIMECAP`` = ``MCP_QUERY_TIMEOUT_MS`` (the server cancels from the client side
  too, a little later, in case the cap is not enforced); they fetch ``limit + 1`` rows to set ``truncated``.
  Run the server as a SELECT-only user (``scripts/vertica/create_reader.sql``) for a third barrier.
- **Transform.** The Storage protocol methods let :func:`udx.transform.run_transform` run client-side
  (trades over the wire, kernels in this process). :meth:`VerticaStorage.run_transform_in_database` runs the
  same computation inside Vertica through the ``batch_microstructure`` UDx (``udx/vertica_udx.py``), realized
  spreads included; both write a pass's rows, bar liquidity, fits, realized spreads and states in one transaction.

Values are bound client-side by ``vertica-python`` (``:name`` placeholders, named paramstyle); identifiers
never come from callers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from sql.backend import QueryResult, QueryTimeout, SignalStateRow, StorageError, signal_states_by_symbol
from sql.backend import SqlResult, StatementError
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    MODEL_PARAMS_SCHEMA,
    QUOTES_SCHEMA,
    SIGNALS_SCHEMA,
    TRADES_SCHEMA,
    signal_states_table,
)
from sql.conditions import conditions_table, corrections_table
from sql.migrations import CREATED, Migration, latest_version, pending, run_migration, stored_version
from sql.queries import load_registry, split_statements
from sql.view_settings import DEFAULT_VIEW_SETTINGS, view_setting_rows
from sql.watchdog import Watchdog

if TYPE_CHECKING:
    from sql.settings import Settings

__all__ = [
    "FAULT_POINTS",
    "SOCKET_SLACK_SECONDS",
    "InDatabaseTransformSummary",
    "VerticaStorage",
    "connect_options",
    "copy_rows",
    "copy_statement",
    "udx_settings_json",
]

_DIALECT = "vertica"
_NS = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS
_EPOCH_DAY = dt.date(1970, 1, 1)
#: What a recompute deletes per symbol on the grid (``reset_<table>``; ``rewind_<table>`` for all but the state).
_RESET_TABLES = ("trading_signals", "model_params", "intraday_profile", "bar_liquidity", "bar_realized_spread",
                 "daily_metrics", "signal_state")
log = logging.getLogger("microstructure.sql")

_TIMEOUT_MARKERS = ("run time cap", "runtimecap", "canceled", "cancelled", "interrupted")

#: Cancels, from the client side, server reads that outlive their RUNTIMECAP (one thread for the process).
_WATCHDOG = Watchdog()
#: A session's socket read timeout is its RUNTIMECAP plus this: Vertica cancels an overlong statement first and
#: answers with an error; the socket gives up only if the server never answers (host gone, network cut).
SOCKET_SLACK_SECONDS = 30.0


#: The points at which an append calls the storage's ``fault`` hook (:class:`VerticaStorage`).
FAULT_POINTS = ("staged",)


def _no_fault(point: str) -> None:
    """The production ``fault`` hook: nothing."""


def _vertica() -> Any:
    try:
        import vertica_python
    except ImportError as exc:  # pragma: no cover - vertica-python is a declared dependency
        raise StorageError("DB_BACKEND=vertica needs the vertica-python package (pip install vertica-python)") from exc
    return vertica_python


# --- COPY data -------------------------------------------------------------------------------------------
def copy_statement(table: str, columns: Sequence[str]) -> str:
    """Return the ``COPY ... FROM STDIN`` statement matching :func:`copy_rows` (no commit: the caller commits).

    The format is the one ``vertica-python``'s own ``executemany`` sends: ``|`` between fields, strings
    enclosed in ``'`` with ``\\``, ``|``, ``'`` and line breaks escaped by a backslash, an empty unenclosed field
    for NULL. ``ENFORCELENGTH`` rejects a string longer than its column instead of truncating it, and ``ABORT ON
    ERROR`` turns that rejection into an error of the whole batch.
    """
    return (
        f"COPY {table} ({', '.join(columns)}) FROM STDIN DELIMITER '|' ENCLOSED BY '''' "
        "ENFORCELENGTH ABORT ON ERROR NO COMMIT"
    )


def _field_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        column = column.cast(pa.string())  # large_string: the quotes and the other columns' text are string
        escaped = pc.replace_substring_regex(column, r"([\\|\n\r'])", r"\\\1")
        text = pc.binary_join_element_wise("'", escaped, "'", "")
    elif pa.types.is_floating(kind):
        finite = pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))  # NaN/inf -> NULL
        text = pc.cast(finite, pa.string())
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        text = pc.cast(column, pa.string())
    else:
        raise StorageError(f"no COPY text form for Arrow type {kind}")
    return pc.fill_null(text, "")


def copy_rows(table: pa.Table) -> str:
    """Render ``table`` as COPY text for :func:`copy_statement` (one line per row, ``|`` between fields).

    Floats are written in their shortest round-trip form, so every double loads bit for bit.
    """
    if table.num_rows == 0:
        return ""
    fields = [_field_text(table.column(i)) for i in range(table.num_columns)]
    lines = pc.binary_join_element_wise(*fields, "|") if len(fields) > 1 else fields[0]
    return "\n".join(lines.to_pylist()) + "\n"


def connect_options(settings: Settings) -> dict[str, Any]:
    """Return the ``vertica_python.connect`` options for ``settings``.

    ``connection_timeout`` is ``VERTICA_CONNECT_TIMEOUT_SECONDS``. vertica-python sets it on the socket for
    "establishing a TCP connection or read/write operation" and leaves it there, so the pool widens it once a
    session is up (:data:`SOCKET_SLACK_SECONDS`); statements are bounded by the session's ``RUNTIMECAP``.
    """
    return {
        "host": settings.vertica_host,
        "port": settings.vertica_port,
        "database": settings.vertica_db,
        "user": settings.vertica_user,
        "password": settings.vertica_pass.get_secret_value(),
        "autocommit": False,
        "connection_timeout": settings.vertica_connect_timeout_seconds,
    }


def udx_settings_json(settings: Settings) -> str:
    """The settings the UDx needs to compute exactly what the client-side transform computes, as JSON.

    Every field is passed (the transform may read any signal parameter); secrets are masked by pydantic in
    JSON mode and dropped here, so they never reach SQL text or query logs.
    """
    doc = settings.model_dump(mode="json")
    return json.dumps({k: v for k, v in doc.items() if v != "**********"}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class InDatabaseTransformSummary:
    """What one :meth:`VerticaStorage.run_transform_in_database` call did (like ``TransformSummary``)."""

    symbols: int
    bars: int
    seconds: float
    watermark_ns: int | None
    #: ``bar_realized_spread`` rows added
    realized: int = 0


#: Columns and Arrow types of the rows of ``quotes_range_symbols``, ``realized_spread_due`` and
#: ``realized_spread_resume``.
_QUOTE_COLUMNS = (("symbol", pa.string()), ("ts_ns", pa.int64()), ("bid_price", pa.float64()),
                  ("bid_size", pa.float64()), ("ask_price", pa.float64()), ("ask_size", pa.float64()))
_DUE_COLUMNS = (("symbol", pa.string()), ("bar_end_ns", pa.int64()))
_RESUME_COLUMNS = (("symbol", pa.string()), ("bar_end_ns", pa.int64()), ("tick_price", pa.float64()),
                   ("tick_sign", pa.int32()), ("min_horizon", pa.int32()), ("max_horizon", pa.int32()))


def _rows_table(rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
    """``rows`` (tuples in ``columns``' order) as an Arrow table of those names and types."""
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pa.table({name: pa.array(list(v), kind) for (name, kind), v in zip(columns, values, strict=True)})


# --- the pool ---------------------------------------------------------------------------------------------
class _Pool:
    """At most ``size`` open connections; a borrowed connection goes back unless it broke."""

    def __init__(self, connect: Any, size: int, on_open: Sequence[tuple[str, Mapping[str, Any]]],
                 read_timeout_s: float) -> None:
        self._connect = connect
        self._on_open = tuple(on_open)
        self._read_timeout_s = read_timeout_s
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._all: list[Any] = []

    def _open(self) -> Any:
        connection = self._connect()
        # the connect timeout stays on vertica-python's socket for every later read: widen it to the session's
        # RUNTIMECAP plus slack, or any statement that runs longer than connecting may take fails with "timed out"
        connection.socket.settimeout(self._read_timeout_s)
        cursor = connection.cursor()
        for statement, params in self._on_open:
            cursor.execute(statement, dict(params)) if params else cursor.execute(statement)
        connection.commit()
        with self._lock:
            self._all.append(connection)
        return connection

    @contextmanager
    def connection(self) -> Iterator[Any]:
        self._slots.acquire()
        connection = None
        try:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                connection = self._open()
            yield connection
        except BaseException:
            if connection is not None:
                self._discard(connection)
                connection = None
            raise
        finally:
            if connection is not None:
                self._idle.put(connection)
            self._slots.release()

    def _discard(self, connection: Any) -> None:
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail again; it is gone either way
            pass

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass


class VerticaStorage:
    """A Vertica database implementing :class:`sql.backend.Storage`.

    ``fault`` is a test hook for fault injection, as the loader's (:data:`ingest.load.FAULT_POINTS`): called with
    each point of :data:`FAULT_POINTS` a write passes, ``"staged"`` once the batch is COPYed into its session
    stage and before the statement moving it into the table and the commit (a kill there leaves nothing: the
    transaction and the stage's rows die with the session): in an append, and in :meth:`commit_signals` and
    :meth:`run_transform_in_database` once the realized rows are staged, before they and the states are
    written. ``None`` in production.
    """

    def __init__(self, connect: Any, *, read_only: bool, query_timeout_ms: int, write_timeout_s: int,
                 pool_size: int = 4, label: str = "the Vertica database",
                 view_settings: Mapping[str, int] | None = None, fault: Callable[[str], None] | None = None) -> None:
        self._read_only = read_only
        self._fault = fault or _no_fault
        self._view_settings = dict(DEFAULT_VIEW_SETTINGS if view_settings is None else view_settings)
        self._label = label  # names the database in messages
        self._metrics_final_before: dict[int, int] = {}  # grid -> final_before_ns daily_metrics is written to
        self._timeout_ms = int(query_timeout_ms)
        self._queries = load_registry(_DIALECT, "queries")
        session = load_registry(_DIALECT, "session")
        reader_setup = [
            (session["read_only"].text, {}),
            (session["runtimecap"].text, {"runtimecap": f"{self._timeout_ms} milliseconds"}),
        ]
        writer_setup = [(session["runtimecap"].text, {"runtimecap": f"{int(write_timeout_s)} seconds"})]
        writer_setup += [(s.text, {}) for s in load_registry(_DIALECT, "staging")]
        self._reader = _Pool(connect, pool_size, reader_setup, self._timeout_ms / 1000 + SOCKET_SLACK_SECONDS)
        self._writer = None if read_only else _Pool(connect, pool_size, writer_setup,
                                                    int(write_timeout_s) + SOCKET_SLACK_SECONDS)

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False, pool_size: int = 4) -> VerticaStorage:
        """Connect to ``VERTICA_HOST``:``VERTICA_PORT`` as ``VERTICA_USER``.

        Parameters
        ----------
        settings
            Supplies ``vertica_*`` (:func:`connect_options`, ``VERTICA_WRITE_TIMEOUT_SECONDS``) and
            ``mcp_query_timeout_ms``.
        read_only
            Reads only (the server): no writer pool, every session ``READ ONLY``.
        pool_size
            Connections per pool.
        """
        if not settings.vertica_host:
            raise StorageError("DB_BACKEND=vertica needs VERTICA_HOST (and VERTICA_PORT, VERTICA_DB, VERTICA_USER)")
        vertica_python = _vertica()
        options = connect_options(settings)

        def connect() -> Any:
            try:
                return vertica_python.connect(**options)
            except vertica_python.errors.Error as exc:
                raise StorageError(
                    f"cannot connect to Vertica at {settings.vertica_host}:{settings.vertica_port} "
                    f"(database {settings.vertica_db!r}, user {settings.vertica_user!r}): {exc}"
                ) from exc

        storage = cls(connect, read_only=read_only, query_timeout_ms=settings.mcp_query_timeout_ms,
                      pool_size=pool_size, write_timeout_s=settings.vertica_write_timeout_seconds,
                      label=f"VERTICA_DB {settings.vertica_db!r} at {settings.vertica_host}:{settings.vertica_port}",
                      view_settings=view_setting_rows(settings))
        with storage._reader.connection():  # fail now, not on the first request
            pass
        return storage

    def reopen(self) -> None:
        """Nothing to release: the rows a session writes are held by the server, not by this client."""

    def close(self) -> None:
        """Close every pooled connection."""
        self._reader.close()
        if self._writer is not None:
            self._writer.close()

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A writer cursor inside one transaction: committed on success, rolled back on any error."""
        if self._writer is None:
            raise StorageError("this storage was opened read-only")
        with self._writer.connection() as connection:
            cursor = connection.cursor()
            try:
                yield cursor
                connection.commit()
            except BaseException:
                try:
                    connection.rollback()
                except Exception:  # noqa: BLE001 - the connection is discarded by the pool anyway
                    pass
                raise

    # --- schema ------------------------------------------------------------------------------------------
    def apply_schema(self) -> None:
        """Create the tables (``IF NOT EXISTS``), reload the shipped reference rows (trade conditions and
        corrections), store the views' settings (:mod:`sql.view_settings`) and (re)create the views; safe to run any number of times.

        A new database is stamped with the newest schema version; one with pending migrations is refused
        (they run by ``microstructure vertica migrate``, :meth:`migrate`), and so is one newer than this code.

        Raises
        ------
        StorageError
            Pending migrations; :class:`sql.migrations.SchemaTooNew` when newer code migrated the database.
        """
        version = self.schema_version()
        todo = pending(_DIALECT, version, self._label) if version is not None else ()
        if todo:
            raise StorageError(
                f"{self._label} is at schema version {version}, this code needs {latest_version(_DIALECT)}: "
                "run `microstructure vertica migrate` first")
        self._create_tables(stamp=version is None)
        with self._write() as cursor:
            for name, table in (("trade_conditions", conditions_table()), ("trade_corrections", corrections_table())):
                cursor.execute(self._queries[f"clear_{name}"].text)
                self._copy(cursor, f"{name}_stage", table)
                cursor.execute(self._queries[f"load_{name}"].text)
            for name, value in self._view_settings.items():
                cursor.execute(self._queries["set_view_setting"].text, {"name": name, "value": value})
            for statement in load_registry(_DIALECT, "views"):
                cursor.execute(statement.text)

    def schema_version(self) -> int | None:
        """The database's schema version (:func:`sql.migrations.stored_version`); ``None`` for a new one."""
        def exists(table: str) -> bool:
            return bool(self._fetchall("table_exists", {"table_name": table})[0][0])

        recorded = self._fetchall("schema_version")[0][0] if exists("schema_version") else None
        return stored_version(recorded, exists("market_data"))

    def _create_tables(self, *, stamp: bool) -> None:
        """Run the schema files (``IF NOT EXISTS``); ``stamp`` a new database with the newest version."""
        with self._write() as cursor:
            for statement in load_registry(_DIALECT, "schema"):
                cursor.execute(statement.text)
            if stamp:
                self._record_migration(cursor, latest_version(_DIALECT), CREATED)

    def _record_migration(self, cursor: Any, version: int, name: str) -> None:
        cursor.execute(self._queries["record_migration"].text,
                       {"version": version, "name": name, "applied_at_ns": time.time_ns()})

    def migrate(self) -> list[Migration]:
        """Create missing tables and apply every pending migration of ``sql/vertica/migrations/``, in order.

        Each migration's statements and its ``schema_version`` row run in one session transaction; Vertica's
        DDL commits by itself, so the migrations are written to be rerun safely (``IF NOT EXISTS``) should
        one fail after its DDL and before its row. Returns the migrations applied (none for a new database,
        which is stamped with the newest version).

        Raises
        ------
        sql.migrations.SchemaTooNew
            When newer code migrated the database; nothing is changed.
        """
        version = self.schema_version()
        todo = pending(_DIALECT, version, self._label) if version is not None else ()
        self._create_tables(stamp=version is None)
        try:
            for migration in todo:
                with self._write() as cursor:
                    run = run_migration(cursor, _DIALECT, migration)
                    self._record_migration(cursor, migration.version, migration.name)
                log.info("%s: schema migration %03d %s %s", self._label, migration.version, migration.name,
                         "applied" if run else "not needed")
        except _vertica().errors.Error as exc:
            raise StorageError(f"migration {migration.version:03d} {migration.name} failed: {exc}") from exc
        return list(todo)

    # --- writes ------------------------------------------------------------------------------------------
    @staticmethod
    def _conform(batch: pa.Table, schema: pa.Schema) -> pa.Table:
        return batch if batch.schema == schema else batch.select(schema.names).cast(schema)

    @staticmethod
    def _copy(cursor: Any, stage: str, batch: pa.Table) -> None:
        cursor.copy(copy_statement(stage, batch.schema.names), copy_rows(batch))

    @staticmethod
    def _count(cursor: Any) -> int:
        row = cursor.fetchone()
        if row is not None and row[0] is not None:
            return int(row[0])
        return max(int(cursor.rowcount), 0)

    def _append(self, stage: str, query: str, batch: pa.Table, schema: pa.Schema) -> int:
        if batch.num_rows == 0:
            return 0
        batch = self._conform(batch, schema)
        try:
            with self._write() as cursor:
                self._copy(cursor, stage, batch)
                self._fault("staged")
                cursor.execute(self._queries[query].text)
                return self._count(cursor)
        except _vertica().errors.Error as exc:
            raise StorageError(f"{query} failed: {exc}") from exc

    def append_trades(self, batch: pa.Table) -> int:
        """Append trades, skipping rows whose dedupe key is stored already; return rows added."""
        return self._append("market_data_stage", "insert_trades", batch, TRADES_SCHEMA)

    def append_quotes(self, batch: pa.Table) -> int:
        """Append quotes; return rows added. Every quote of the batch is stored except one of a day retention
        moved or dropped that it holds already (``insert_quotes``: a quote, which carries no id, by every column
        but ``received_ns`` and ``source``; :mod:`sql.vertica_retention` keeps the dropped days' keys)."""
        return self._append("quotes_stage", "insert_quotes", batch, QUOTES_SCHEMA)

    def commit_signals(
        self, signals: pa.Table, states: Sequence[SignalStateRow], model_params: pa.Table | None = None,
        profiles: pa.Table | None = None, liquidity: pa.Table | None = None, realized: pa.Table | None = None,
    ) -> None:
        """Write signal rows, model fits, intraday profiles, bar liquidity, ``bar_realized_spread`` rows and the
        states that follow in one transaction.

        The realized rows go in as :meth:`write_realized_spread` puts them (``insert_bar_realized_spread``: a bar
        stored already keeps its row), after the signal rows, so a bar computed in this commit gets its row too.
        The ``staged`` fault point is passed once the realized rows are in their stage (every other table merged)
        and before they and the states are written.
        """
        now_ns = time.time_ns()
        try:
            with self._write() as cursor:
                if signals.num_rows:
                    self._copy(cursor, "trading_signals_stage", self._conform(signals, SIGNALS_SCHEMA))
                    cursor.execute(self._queries["upsert_signals"].text)
                if model_params is not None and model_params.num_rows:
                    self._copy(cursor, "model_params_stage", self._conform(model_params, MODEL_PARAMS_SCHEMA))
                    cursor.execute(self._queries["upsert_model_params"].text)
                if profiles is not None and profiles.num_rows:
                    self._copy(cursor, "intraday_profile_stage", self._conform(profiles, INTRADAY_PROFILE_SCHEMA))
                    cursor.execute(self._queries["upsert_intraday_profile"].text)
                if liquidity is not None and liquidity.num_rows:
                    self._copy(cursor, "bar_liquidity_stage", self._conform(liquidity, BAR_LIQUIDITY_SCHEMA))
                    cursor.execute(self._queries["upsert_bar_liquidity"].text)
                staged_realized = realized is not None and realized.num_rows > 0
                if staged_realized:
                    self._copy(cursor, "bar_realized_spread_stage",
                               self._conform(realized, BAR_REALIZED_SPREAD_SCHEMA))  # type: ignore[arg-type]
                self._fault("staged")
                if staged_realized:
                    cursor.execute(self._queries["insert_bar_realized_spread"].text)
                if states:
                    self._copy(cursor, "signal_state_stage", signal_states_table(states, now_ns))
                    cursor.execute(self._queries["upsert_signal_state"].text)
        except _vertica().errors.Error as exc:
            raise StorageError(f"commit_signals failed: {exc}") from exc

    def reset_signals(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """Delete the signals, fits, profiles, bar liquidity, daily metrics and states of ``symbols`` on the grid
        in one transaction."""
        self._metrics_final_before.clear()  # their days are written again once final
        try:
            with self._write() as cursor:
                for symbol in symbols:
                    for table in _RESET_TABLES:
                        cursor.execute(self._queries[f"reset_{table}"].text,
                                       {"symbol": symbol, "bar_seconds": bar_seconds})
        except _vertica().errors.Error as exc:
            raise StorageError(f"reset_signals failed: {exc}") from exc

    def rewind_signals(self, states: Sequence[SignalStateRow]) -> None:
        """Delete each state's symbol's bars, fits, profiles, bar liquidity and daily metrics after its
        ``last_bar_end_ns`` and store the state, in one transaction."""
        if not states:
            return
        self._metrics_final_before.clear()
        try:
            with self._write() as cursor:
                for state in states:
                    for table in (t for t in _RESET_TABLES if t != "signal_state"):
                        cursor.execute(self._queries[f"rewind_{table}"].text, {
                            "symbol": state.symbol, "bar_seconds": state.bar_seconds,
                            "after_ns": state.last_bar_end_ns})
                self._copy(cursor, "signal_state_stage", signal_states_table(states, time.time_ns()))
                cursor.execute(self._queries["upsert_signal_state"].text)
        except _vertica().errors.Error as exc:
            raise StorageError(f"rewind_signals failed: {exc}") from exc

    def realized_spread_due(self, bar_seconds: int, horizon_seconds: int,
                            until_ns: int) -> tuple[pa.Table, pa.Table]:
        """The bars ``bar_realized_spread`` may get now and where each symbol resumes (:mod:`udx.realized_step`),
        as :meth:`sql.duckdb_backend.DuckDBStorage.realized_spread_due`.

        Rows of another horizon than ``horizon_seconds`` are deleted first, in their own transaction (a changed
        setting recomputes them). Returns ``realized_spread_due`` (``symbol, bar_end_ns`` of the live bars ending
        at or before ``until_ns`` after each symbol's newest row) and ``realized_spread_resume`` (that newest row's
        end and tick state, and the range of the symbol's horizons).
        """
        params = {"bar_seconds": bar_seconds}
        resume = self._fetchall("realized_spread_resume", params)
        if self._drop_other_horizons(resume, bar_seconds, horizon_seconds):
            resume = self._fetchall("realized_spread_resume", params)
        due = self._fetchall("realized_spread_due", {**params, "until_ns": until_ns})
        return _rows_table(due, _DUE_COLUMNS), _rows_table(resume, _RESUME_COLUMNS)

    def _drop_other_horizons(self, resume: Sequence[Any] | None, bar_seconds: int, horizon_seconds: int) -> bool:
        """Delete the ``bar_realized_spread`` rows of another horizon (in their own transaction) when the
        ``realized_spread_resume`` rows (``None``: read them) show any; whether it did."""
        if resume is None:
            resume = self._fetchall("realized_spread_resume", {"bar_seconds": bar_seconds})
        if not ({int(r[4]) for r in resume} | {int(r[5]) for r in resume}) - {horizon_seconds}:
            return False
        try:
            with self._write() as cursor:
                cursor.execute(self._queries["delete_realized_other_horizon"].text,
                               {"bar_seconds": bar_seconds, "horizon_seconds": horizon_seconds})
                gone = self._count(cursor)
        except _vertica().errors.Error as exc:
            raise StorageError(f"delete_realized_other_horizon failed: {exc}") from exc
        log.warning("bar_realized_spread: %d row(s) of another horizon than %d s deleted; recomputing them",
                    gone, horizon_seconds)
        return True

    def write_realized_spread(self, rows: pa.Table) -> int:
        """Insert ``bar_realized_spread`` rows (:data:`sql.contract.BAR_REALIZED_SPREAD_SCHEMA`) in one transaction;
        a bar stored already keeps its row, a bar no longer live gets none. Returns rows added."""
        return self._append("bar_realized_spread_stage", "insert_bar_realized_spread", rows,
                            BAR_REALIZED_SPREAD_SCHEMA)

    def write_daily_metrics(self, bar_seconds: int, watermark_ns: int,
                            oldest_new_bar_ns: int | None = None) -> int:
        """Write the ``daily_metrics`` row of every (symbol, UTC day) on the grid that the watermark made
        final (its bars end before the start of the watermark's UTC day) and none yet; return rows written.

        One day per transaction, oldest first (``daily_metrics_pending`` names it, ``write_daily_metrics``
        writes it), as :meth:`sql.duckdb_backend.DuckDBStorage.write_daily_metrics` does.

        Parameters
        ----------
        bar_seconds
            The grid.
        watermark_ns
            The transform's watermark: bars ending at or before it are written, trades after it may still come.
        oldest_new_bar_ns
            The end of the oldest bar the caller wrote since its last call (``None``: none). Nothing is read
            when no day became final since the last call and no bar of a final day was written (the pending
            days' query reads every bar before the watermark's day).
        """
        final_before = watermark_ns // _NS_PER_DAY * _NS_PER_DAY
        if self._metrics_final_before.get(bar_seconds) == final_before and (
                oldest_new_bar_ns is None or oldest_new_bar_ns >= final_before):
            return 0
        added = 0
        try:
            while True:
                with self._write() as cursor:
                    cursor.execute(self._queries["daily_metrics_pending"].text,
                                   {"bar_seconds": bar_seconds, "final_before_ns": final_before})
                    (first,) = cursor.fetchone()
                    if first is None:
                        break
                    day = int(first) // _NS_PER_DAY * _NS_PER_DAY
                    cursor.execute(self._queries["write_daily_metrics"].text, {
                        "bar_seconds": bar_seconds, "from_ns": day,
                        "final_before_ns": min(day + _NS_PER_DAY, final_before), "computed_at_ns": time.time_ns()})
                    rows = self._count(cursor)
                if not rows:  # both statements see the same days; never loop on a day that writes nothing
                    raise StorageError(f"daily_metrics: the day from {first} ns was pending; nothing was written")
                added += rows
        except _vertica().errors.Error as exc:
            raise StorageError(f"write_daily_metrics failed: {exc}") from exc
        self._metrics_final_before[bar_seconds] = final_before
        return added

    def run_statement(self, folder: str, name: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Run the statement ``name`` of ``sql/vertica/<folder>/`` in its own writer transaction, bound to the
        ``params`` it declares; return its rows (maintenance such as ``sql/vertica_retention.py``)."""
        statement = load_registry(_DIALECT, folder)[name]
        try:
            with self._write() as cursor:
                cursor.execute(statement.text, {k: v for k, v in (params or {}).items() if k in statement.params})
                return list(cursor.fetchall()) if cursor.description else []
        except _vertica().errors.Error as exc:
            raise StorageError(f"{folder}/{name} failed: {exc}") from exc

    # --- reads for writers ---------------------------------------------------------------------------
    def _fetchall(self, name: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        pool = self._writer or self._reader
        with pool.connection() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(self._queries[name].text, dict(params or {}))
                return list(cursor.fetchall())
            finally:
                connection.rollback()

    def trade_symbols(self) -> list[tuple[str, str]]:
        """Return ``(market, symbol)`` for every symbol with trades."""
        return [(str(m), str(s)) for m, s in self._fetchall("trade_symbols")]

    def newest_trade_ns(self) -> int | None:
        """Return the newest trade time in ns, or ``None`` without trades."""
        (value,) = self._fetchall("newest_trade_ns")[0]
        return None if value is None else int(value)

    def read_trades(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        """Return ``ts_ns, price, size, conditions, correction`` of ``symbol`` in ``[start_ns, end_ns)`` in time
        order, as Arrow."""
        return self._trades_table(self._fetchall("trades_range", {"symbol": symbol, "start_ns": start_ns,
                                                                  "end_ns": end_ns}))

    @staticmethod
    def _trades_table(rows: Sequence[Any]) -> pa.Table:
        """``ts_ns, price, size, conditions, correction`` rows as Arrow."""
        ts, price, size, cond, corr = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 5
        return pa.table(
            {"ts_ns": pa.array(ts, pa.int64()), "price": pa.array(price, pa.float64()),
             "size": pa.array(size, pa.float64()), "conditions": pa.array(cond, pa.string()),
             "correction": pa.array(corr, pa.int32())}
        )

    def read_quotes_many(self, symbols: Sequence[str], start_ns: int, end_ns: int) -> pa.Table:
        """Return ``symbol, ts_ns, bid_price, bid_size, ask_price, ask_size`` of ``symbols``' quotes in
        ``[start_ns, end_ns)``, by symbol, each in time order (the transform's bar liquidity)."""
        rows = self._fetchall("quotes_range_symbols", {"symbols": list(symbols), "start_ns": start_ns,
                                                        "end_ns": end_ns})
        return _rows_table(rows, _QUOTE_COLUMNS)

    def read_trades_with_archive(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        """:meth:`read_trades` over live and moved trades (the view ``trades_all``: ``market_data`` and
        ``market_data_archive``): a recompute reads a symbol's history through it once retention moved old days.

        Raises
        ------
        StorageError
            When retention exported and dropped days of the range (``parquet_only_trade_days``): those trades
            are only in the Parquet export, which the database does not read back, so a state computed without
            them would not be the one-pass state.
        """
        params = {"symbol": symbol, "start_ns": start_ns, "end_ns": end_ns}
        days, newest = self._fetchall("parquet_only_trade_days", params)[0]
        if days:
            raise StorageError(
                f"{symbol}: the trades of {int(days)} day(s) through {newest} were exported to Parquet and dropped "
                "from market_data_archive; a recompute from its first trade cannot read them in Vertica "
                "(COPY the export back into market_data_archive to recompute it; its signals stay as made)")
        return self._trades_table(self._fetchall("trades_all_range", params))

    def archived_until(self) -> dict[str, int]:
        """Per symbol whose trades or signals retention moved out of the live tables (``archived_symbol_days``):
        the end (ns, exclusive) of the newest such UTC day. Its live trades are complete from there on."""
        return {str(symbol): (day - _EPOCH_DAY).days * _NS_PER_DAY + _NS_PER_DAY
                for symbol, day in self._fetchall("archived_symbol_days")}

    def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
        """Return the stored transform state per symbol on the ``bar_seconds`` grid."""
        return signal_states_by_symbol(self._fetchall("signal_states", {"bar_seconds": bar_seconds}))

    # --- reads for the server ------------------------------------------------------------------------
    def query(self, name: str, params: Mapping[str, Any], limit: int) -> QueryResult:
        """Run a named read query in a read-only, time-capped session; at most ``limit`` rows.

        Fetches ``limit + 1`` rows to tell whether more exist (``truncated``).
        """
        statement = self._queries[name]
        bound = {k: params[k] for k in statement.params if k in params}
        if "row_limit" in statement.params:
            bound["row_limit"] = limit + 1
        missing = set(statement.params) - set(bound)
        if missing:
            raise StorageError(f"query {name!r} misses parameters {sorted(missing)}")
        vertica_python = _vertica()
        with self._reader.connection() as connection:
            # the server-side RUNTIMECAP is the limit; this client-side cancel is the backstop
            try:
                with _WATCHDOG.watch(connection.cancel, self._timeout_ms / 1000 + 1.0):
                    cursor = connection.cursor()
                    cursor.execute(statement.text, bound)
                    columns = [d[0] for d in cursor.description or []]
                    rows = [tuple(r) for r in cursor.fetchmany(limit + 1)]
                    connection.rollback()
            except vertica_python.errors.Error as exc:
                if any(marker in str(exc).lower() for marker in _TIMEOUT_MARKERS):
                    raise QueryTimeout(
                        f"query {name!r} exceeded MCP_QUERY_TIMEOUT_MS={self._timeout_ms}"
                    ) from exc
                raise StorageError(f"query {name!r} failed: {exc}") from exc
        return QueryResult(columns=columns, rows=rows[:limit], truncated=len(rows) > limit)

    def run_sql(self, sql: str, limit: int) -> SqlResult:
        """Run an analyst's checked statement in a reader session (``READ ONLY``, ``RUNTIMECAP``); keep at most
        ``limit`` rows.

        The reader user's grants (SELECT only, ``scripts/vertica/create_reader.sql``) and the session are what
        guard here; ``server.sql_guard`` checks the statement type before. Vertica's error text about the
        statement (a rollback of the statement with a SQLSTATE of class 42, 22 or 0A) is returned as
        :class:`StatementError`; any other failure is reported without its text.
        """
        vertica_python = _vertica()
        with self._reader.connection() as connection:
            try:
                with _WATCHDOG.watch(connection.cancel, self._timeout_ms / 1000 + 1.0):
                    cursor = connection.cursor()
                    cursor.execute(sql)
                    description = cursor.description or []
                    rows = [tuple(r) for r in cursor.fetchmany(limit + 1)]
                    connection.rollback()
            except vertica_python.errors.Error as exc:
                if any(marker in str(exc).lower() for marker in _TIMEOUT_MARKERS):
                    raise QueryTimeout(f"the statement exceeded MCP_QUERY_TIMEOUT_MS={self._timeout_ms}") from exc
                if str(getattr(exc, "sqlstate", "") or "")[:2] in ("42", "22", "0A"):
                    raise StatementError(str(exc)) from exc
                log.warning("analyst SQL failed in the database: %s", exc)
                raise StorageError("the database failed running the statement (the server log has the detail)") from exc
        names = [str(d.name) for d in description]
        types = [str(d.type_name).upper() for d in description]
        arrays = [pa.array([row[i] for row in rows[:limit]]) for i in range(len(names))]
        table = pa.Table.from_arrays(arrays, names=names)
        return SqlResult(columns=list(zip(names, types, strict=True)), table=table, truncated=len(rows) > limit)

    # --- the transform inside Vertica ----------------------------------------------------------------
    def install_udx(self, library_path: str, depends_path: str) -> None:
        """Run ``sql/vertica/udx/install.sql``: (re)create the UDx library and ``batch_microstructure``.

        Parameters
        ----------
        library_path
            Path of ``udx/vertica_udx.py`` on the Vertica nodes (every node, or shared storage).
        depends_path
            ``DEPENDS`` glob of the site-packages holding ``udx``, ``sql`` and their dependencies on the
            nodes, e.g. ``/opt/microstructure/site-packages/*``.
        """
        install = load_registry(_DIALECT, "udx")["install"]
        with self._write() as cursor:
            for statement in split_statements(install.text):
                bound = {k: v for k, v in {"library_path": library_path, "depends_path": depends_path}.items()
                         if f":{k}" in statement}
                cursor.execute(statement, bound) if bound else cursor.execute(statement)

    def run_transform_in_database(
        self, settings: Settings, *, now_ns: int | None = None
    ) -> InDatabaseTransformSummary:
        """Compute every newly final bar of every symbol inside Vertica (the ``batch_microstructure`` UDx).

        Same watermark rule as :func:`udx.transform.run_transform`: ``W = newest trade -
        TRANSFORM_LATENESS_SECONDS``; per market one ``INSERT ... SELECT batch_microstructure(...) OVER
        (PARTITION BY symbol ORDER BY ts_ns, ...)`` stages the new bars (the caller resets symbols whose stored
        state other definitions wrote first: ``udx.transform.reset_stale_states``) and the state after each symbol's last
        bar (the UDx is fed each symbol's trades and quotes, so each bar comes with its bar liquidity), then
        ``upsert_signals``, ``staged_bar_liquidity`` + ``upsert_bar_liquidity``, ``upsert_model_params`` (the fits
        the UDx returned as JSON) and ``signal_states_from_stage`` write them, all in one transaction. Then the
        days the watermark made final get their ``daily_metrics`` rows (:meth:`write_daily_metrics`), as after
        the client-side transform.

        **Realized spreads** are written in the same transaction, by the same code as on DuckDB: the statement
        feeds each partition the symbol's realized plan (its stored bars due, ``realized_spread_due``, and its
        newest row, ``realized_spread_resume``; a UDx cannot read tables) with the trades and quotes from where
        the rows resume, and the UDx's ``run_transform`` computes the rows (:mod:`udx.realized_step`) and returns
        them as JSON after the symbol's bars (``staged_realized_spread``); they go in as
        :meth:`write_realized_spread` puts them, after the bars. Rows of another horizon are deleted first, in
        their own transaction, as the client-side transform's plan does. The alternative, computing the rows here
        after the statement from the stored rows, would read every trade of the due bars over the wire (all of
        them on a first run), which the in-database path exists to avoid. The ``staged`` fault point is passed
        once the realized rows are staged, before they and the states are written.
        """
        started = time.perf_counter()
        computed_at = time.time_ns() if now_ns is None else int(now_ns)
        newest = self.newest_trade_ns()
        if newest is None:
            return InDatabaseTransformSummary(0, 0, time.perf_counter() - started, None)
        watermark = int(newest) - round(settings.transform_lateness_seconds * _NS)
        by_market: dict[str, list[str]] = {}
        for market, symbol in self.trade_symbols():
            by_market.setdefault(market, []).append(symbol)
        self._drop_other_horizons(None, settings.bar_seconds, settings.liquidity_horizon_seconds)
        until = watermark - settings.liquidity_horizon_seconds * _NS  # udx.realized_step.plan_realized's
        transform = load_registry(_DIALECT, "transform")
        try:
            with self._write() as cursor:
                for market in sorted(by_market):
                    # settings last: vertica-python substitutes in dict order, and the JSON text must not be
                    # searched for the other placeholders (nor the symbols' text)
                    cursor.execute(
                        transform["udx_signals_to_stage"].text,
                        {"market": market, "bar_seconds": settings.bar_seconds, "watermark_ns": watermark,
                         "computed_at_ns": computed_at, "until_ns": until,
                         "stale_ns": round(settings.quote_stale_seconds * _NS), "symbols": by_market[market],
                         "settings": udx_settings_json(settings)},
                    )
                cursor.execute(transform["staged_summary"].text)
                bars, symbols, oldest = cursor.fetchone()
                bars, symbols = int(bars), int(symbols)
                cursor.execute(self._queries["upsert_signals"].text)
                cursor.execute(transform["staged_bar_liquidity"].text)
                cursor.execute(self._queries["upsert_bar_liquidity"].text)
                cursor.execute(transform["staged_model_params"].text)
                fits = [row for _, text in cursor.fetchall() for row in json.loads(text)]
                if fits:
                    self._copy(cursor, "model_params_stage", pa.Table.from_pylist(fits, MODEL_PARAMS_SCHEMA))
                    cursor.execute(self._queries["upsert_model_params"].text)
                cursor.execute(transform["staged_intraday_profile"].text)
                profiles = [row for _, text in cursor.fetchall() for row in json.loads(text)]
                if profiles:
                    self._copy(cursor, "intraday_profile_stage",
                               pa.Table.from_pylist(profiles, INTRADAY_PROFILE_SCHEMA))
                    cursor.execute(self._queries["upsert_intraday_profile"].text)
                cursor.execute(transform["staged_realized_spread"].text)
                realized = [row for _, text in cursor.fetchall() for row in json.loads(text)]
                if realized:
                    self._copy(cursor, "bar_realized_spread_stage",
                               pa.Table.from_pylist(realized, BAR_REALIZED_SPREAD_SCHEMA))
                self._fault("staged")
                added = 0
                if realized:
                    cursor.execute(self._queries["insert_bar_realized_spread"].text)
                    added = self._count(cursor)
                cursor.execute(transform["signal_states_from_stage"].text, {"updated_ns": time.time_ns()})
        except _vertica().errors.Error as exc:
            raise StorageError(f"in-database transform failed: {exc}") from exc
        written = self.write_daily_metrics(settings.bar_seconds, watermark, None if oldest is None else int(oldest))
        if written:
            log.info("daily metrics of %d final symbol day(s) written", written)
        return InDatabaseTransformSummary(symbols, bars, time.perf_counter() - started, watermark, added)

