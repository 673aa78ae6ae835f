"""The embedded storage backend: one DuckDB file, the statements of ``sql/duckdb/``.

DuckDB lets one process open a file for writing and then no other process may open it at all
(``notes/infra.md`` §4.2). So in embedded mode the writer (feed, transform) and the server share one
:class:`DuckDBStorage` in one process; each thread works through its own cursor. Reads for the server run
in a ``READ ONLY`` transaction, so even in the writer's process a read cannot change data, and each read
is interrupted when it passes the time limit. A server without a writer opens the file ``read_only``.

Appends are idempotent: ``market_data`` declares no key (an index on it would cost more than the append);
:meth:`DuckDBStorage.append_trades`, under the process's lock of market-data appends, adds only rows whose dedupe
key is not stored yet, so loading the same event twice leaves one row (at-least-once delivery + dedupe). Once retention
moved a day to the Parquet archive (:mod:`sql.archive`), a batch holding trades or quotes of that day is also
checked against the archived files of its symbols and days (:mod:`sql.archive_dedupe`), so an event delivered
again (a replay, a Kafka re-read) is not stored a second time, while one of that day that is really new is
stored (the next archive run moves it into a new part of its partition). Quotes carry no key in the live table.

Three locks order this process's writes: the appends of trades take the *market lock* (only they write
``market_data`` and ``trade_condition_sets``), those of quotes the *quotes lock* (``quotes``), every other write
(the transform's commits, realized spreads, metrics) the *write lock*, and maintenance (schema, archive,
checkpoint, listeners added) all three. So a trade's append never waits behind a transform commit or a feed's
quotes: DuckDB lets transactions of one instance append to different tables at once. Listeners are told of each
kind of write in commit order under its lock; a trade's and a signal's notifications may overlap (each listener
guards its own state).

Analysts' SQL (:meth:`DuckDBStorage.run_sql`) runs on the same instance, so the instance itself is opened
with ``enable_external_access = false`` and ``lock_configuration = true``: no statement of this process can
read or write a file or URL outside the database (``read_csv``, ``COPY``, ``ATTACH``, ``INSTALL``,
``FROM 'x.csv'``) or change a setting (``SET``), whatever passed the parser check of ``server/sql_guard.py``.
The one folder it may still read and write is the Parquet archive (``ARCHIVE_PATH``, DuckDB's
``allowed_directories``): the archive writes there and the ``*_all`` views read it; analysts reach it only
through those views (the parser check refuses ``read_parquet`` and file names).
Nothing here needs more: batches arrive as Arrow tables registered explicitly (``cursor.register``, still
allowed; only the implicit scan of Python variables is off), the shipped reference tables load through Python
(``sql/conditions.py``), flat-file replay parses files in Python, and spilling to the temporary directory and
the built-in extensions (ICU, JSON) keep working. Every instance is opened so, so the tests of ``ingest/`` and
``udx/`` (loader, replay, transform, the Kafka hop) run against such instances. ``SET threads`` is per
instance, not per connection, so an analyst query cannot get fewer threads than ingest; instead one analyst
statement runs at a time (a later one waits at most the time limit) and the time limit interrupts it
(``bench/bench_sql.py`` measures what it costs the loader).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import duckdb
from duckdb.sqltypes import DuckDBPyType
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.backend import (
    DatabaseHeld,
    QueryResult,
    QueryTimeout,
    SignalStateRow,
    SqlResult,
    StatementError,
    StorageError,
    WriteListener,
    signal_states_by_symbol,
)
from sql.archive_dedupe import ArchivedDays
from sql.archive_paths import archived_tables, check_archive_root, sql_literal, with_archive
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    MODEL_PARAMS_SCHEMA,
    QUOTES_SCHEMA,
    SIGNALS_SCHEMA,
    TRADES_SCHEMA,
    conform,
    signal_states_table,
    with_liquidity,
)
from sql.conditions import condition_sets_table, conditions_table, corrections_table
from sql.migrations import CREATED, Migration, SchemaTooNew, latest_version, pending, run_migration, stored_version
from sql.queries import load_registry
from sql.stored_order import grouped_arrays, merge_ordered, order_stored, symbol_arrays, time_arrays
from sql.view_settings import DEFAULT_VIEW_SETTINGS, view_setting_rows
from sql.watchdog import Watchdog
from sql.write_timeline import new_lock, one_lock

if TYPE_CHECKING:
    from sql.settings import Settings

__all__ = ["DuckDBStorage", "connect_file", "instance_config", "lock_down"]

log = logging.getLogger("microstructure.sql")

_DIALECT = "duckdb"

#: How DuckDB names the process holding a file's lock: ``Conflicting lock is held in <program> (PID 1234)``.
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in .*\(PID (\d+)\)")
_EPOCH_DAY = dt.date(1970, 1, 1)
_NS_PER_DAY = 86_400_000_000_000

#: What ``reset_signals`` deletes of a symbol (``rewind_signals``: all but its state, which it replaces).
_RESET_TABLES = ("trading_signals", "model_params", "intraday_profile", "bar_liquidity", "bar_realized_spread",
                 "signal_state", "daily_metrics")

#: Bytes 8-11 of every DuckDB database file (after the header's checksum).
_MAGIC = b"DUCK"

#: Interrupts the server's reads that pass their time limit (one thread for every query of the process).
_WATCHDOG = Watchdog()

#: Settings of every instance this module opens (see the module docstring), set in this order right after
#: opening (DuckDB takes ``allowed_directories`` only while external access is on, and none of them at connect
#: time together): the archive folder is the one place the instance may still read and write files
#: (``sql/archive.py`` writes Parquet there, the ``*_all`` views read it), then everything is locked.
_LOCK_DOWN = ("SET allowed_directories = [{archive}]", "SET enable_external_access = false",
              "SET lock_configuration = true")

#: DuckDB errors about the statement itself (parser, binder, catalog, conversion, unsupported, refused file
#: access, a write in the read-only transaction: it has no other transaction error); any other failure is the
#: database's, reported without its text.
_STATEMENT_ERRORS = (duckdb.ProgrammingError, duckdb.DataError, duckdb.NotSupportedError,
                     duckdb.PermissionException, duckdb.TransactionException)


#: The order of a symbol's quotes after ``ts_ns`` (``quotes_range_symbols``) and the columns the transform reads.
_QUOTE_KEY = ("ts_ns", "sequence", "received_ns")
_QUOTE_COLUMNS = ("ts_ns", "bid_price", "bid_size", "ask_price", "ask_size")


def instance_config(settings: Settings) -> dict[str, str | int | bool]:
    """The DuckDB configuration every connection of this module opens a file with.

    DuckDB shares one instance per file within a process and refuses a second connection to it with other
    settings: anything else that opens a file this process may hold passes the same configuration.
    """
    config: dict[str, str | int | bool] = {"threads": settings.duckdb_threads}
    if settings.duckdb_memory_limit:
        config["memory_limit"] = settings.duckdb_memory_limit
    return config


def _check_file(path: Path, *, read_only: bool) -> None:
    """Refuse a ``DUCKDB_PATH`` that cannot be a DuckDB database, with one line naming the cause.

    DuckDB itself would open a CSV or Parquet file as an empty in-memory database (and refuse that
    read-only with an unrelated message), so the file's magic bytes are read first.
    """
    where = f"DUCKDB_PATH {str(path)!r}"
    if path.is_dir():
        raise StorageError(f"{where} is a directory, not a DuckDB database file; point DUCKDB_PATH at a file")
    if not path.exists():
        if read_only:
            raise StorageError(f"{where} does not exist; run the demo or a loader first")
        return
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError as exc:
        raise StorageError(f"{where} cannot be read: {exc.strerror}") from exc
    if head[8:12] != _MAGIC:
        what = "an empty file" if not head else "not a DuckDB database file (a CSV, Parquet or other file?)"
        raise StorageError(f"{where} is {what}; point DUCKDB_PATH at a DuckDB file, or at a new path to create one")


def _open_error(path: Path, exc: duckdb.Error) -> StorageError:
    """The one-line error for a DuckDB file that passed :func:`_check_file` but did not open."""
    where = f"DUCKDB_PATH {str(path)!r}"
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Could not set lock" in detail:
        holder = _LOCK_HOLDER.search(str(exc))
        return DatabaseHeld(f"{str(path)!r} is held by another process: {detail}", path=str(path),
                            pid=int(holder.group(1)) if holder else None)  # fmt: skip
    if "Could not read enough bytes" in detail:
        return StorageError(f"{where} is truncated or damaged (DuckDB: {detail}); restore it from a copy")
    return StorageError(f"cannot open {where}: {detail}")


def connect_file(path: Path, *, read_only: bool, config: Mapping[str, str | int | bool]) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file ``path`` (not locked down: :func:`lock_down` does that).

    Raises
    ------
    DatabaseHeld
        When another process holds the file, with its PID when DuckDB names it.
    StorageError
        When DuckDB cannot open it for another reason.
    """
    try:
        return duckdb.connect(str(path), read_only=read_only, config=dict(config))
    except duckdb.Error as exc:
        raise _open_error(path, exc) from exc

def lock_down(connection: duckdb.DuckDBPyConnection, archive_root: Path) -> None:
    """Lock the instance of ``connection`` down (module docstring), leaving ``archive_root`` reachable; an
    instance this process locked already is left as it is."""
    if connection.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:  # type: ignore[index]
        return
    archive = sql_literal(f"{check_archive_root(archive_root)}/")
    for statement in _LOCK_DOWN:
        connection.execute(statement.format(archive=archive))


_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
_CREATE_VIEW = re.compile(r"CREATE OR REPLACE (VIEW|MACRO) (\w+)")
_TEMP_VIEW = re.compile(r"CREATE OR REPLACE TEMP VIEW (\w+)")  # a migrations/readers/ file's stand-in


def _schema_tables() -> list[tuple[str, str]]:
    """(table, CREATE statement) of each table the schema files create, in order."""
    found = ((_CREATE_TABLE.search(s.text), s.text) for s in load_registry(_DIALECT, "schema"))
    return [(match.group(1), text) for match, text in found if match is not None]


def _as_temporary(text: str) -> str:
    """A schema table's or a view's CREATE statement, creating a temporary one instead."""
    text = _CREATE_TABLE.sub(r"CREATE TEMP TABLE IF NOT EXISTS \1", text, count=1)
    return _CREATE_VIEW.sub(r"CREATE OR REPLACE TEMP \1 \2", text, count=1)


#: (registered view, upsert query) of commit_signals, in the order they run: the bars before their realized rows
#: (insert_bar_realized_spread keeps only rows of stored bars), the states last.
_SIGNAL_UPSERTS = (("signals_batch", "upsert_signals"), ("model_params_batch", "upsert_model_params"),
                   ("intraday_profile_batch", "upsert_intraday_profile"),
                   ("bar_liquidity_batch", "upsert_bar_liquidity"),
                   ("bar_realized_spread_batch", "insert_bar_realized_spread"),
                   ("signal_state_batch", "upsert_signal_state"))


def _signal_batches(signals: pa.Table, model_params: pa.Table | None, profiles: pa.Table | None,
                    liquidity: pa.Table | None, realized: pa.Table | None) -> dict[str, pa.Table]:
    """The tables of a ``commit_signals`` as its views, in their schemas (``None``: left out)."""
    if signals.schema != SIGNALS_SCHEMA and signals.num_rows:
        signals = signals.select(SIGNALS_SCHEMA.names).cast(SIGNALS_SCHEMA)
    if model_params is not None and model_params.schema != MODEL_PARAMS_SCHEMA and model_params.num_rows:
        model_params = model_params.select(MODEL_PARAMS_SCHEMA.names).cast(MODEL_PARAMS_SCHEMA)
    if profiles is not None and profiles.schema != INTRADAY_PROFILE_SCHEMA and profiles.num_rows:
        profiles = profiles.select(INTRADAY_PROFILE_SCHEMA.names).cast(INTRADAY_PROFILE_SCHEMA)
    batches = {"signals_batch": signals}
    if model_params is not None:
        batches["model_params_batch"] = model_params
    if profiles is not None:
        batches["intraday_profile_batch"] = profiles
    if liquidity is not None:
        batches["bar_liquidity_batch"] = conform(liquidity, BAR_LIQUIDITY_SCHEMA)
    if realized is not None:
        batches["bar_realized_spread_batch"] = conform(realized, BAR_REALIZED_SPREAD_SCHEMA)
    return batches


class SignalsTransaction:
    """One transaction of :meth:`DuckDBStorage.commit_signals`'s writes, taken in parts: :meth:`add` writes
    rows (each part as ``commit_signals`` writes its tables), :meth:`commit` the states and commits all at once;
    :meth:`rollback` (or a failed part) leaves the file as before. Listeners hear of the rows after the commit.

    The transaction has its own connection; the process's write lock is held while a part is written, not in
    between, so the process's other writers (the loader, on other tables) go on meanwhile (DuckDB: appends to
    different tables do not conflict). Use from one thread at a time.
    """

    def __init__(self, storage: DuckDBStorage) -> None:
        self._storage = storage
        self._cursor = storage._root.cursor()
        for statement in storage._cursor_setup:
            self._cursor.execute(statement)
        self._parts: list[dict[str, pa.Table]] = []
        self._open = False

    def add(self, signals: pa.Table, model_params: pa.Table | None = None, profiles: pa.Table | None = None,
            liquidity: pa.Table | None = None, realized: pa.Table | None = None) -> None:
        """Write rows as :meth:`DuckDBStorage.commit_signals` does (the states aside), uncommitted."""
        batches = _signal_batches(signals, model_params, profiles, liquidity, realized)
        self._storage._keep_floors_for(batches)
        self._write(batches)
        self._parts.append(batches)

    def commit(self, states: Sequence[SignalStateRow]) -> int:
        """Write ``states`` and commit everything added; return the states' ``updated_ns`` stamp."""
        storage = self._storage
        stamp = storage._state_stamp()
        self._write({"signal_state_batch": signal_states_table(states, stamp)}, commit=True)
        if storage._listeners and self._parts:
            merged = {view: pa.concat_tables([p[view] for p in self._parts if view in p])
                      for view in {v for p in self._parts for v in p}}
            storage._notify_signals(merged, states)
        return stamp

    def rollback(self) -> None:
        """Drop everything added (nothing when the transaction is closed already)."""
        if self._open:
            self._open = False
            try:
                with self._storage._write_lock:
                    self._cursor.execute("ROLLBACK")
            finally:
                self._cursor.close()

    def _write(self, batches: Mapping[str, pa.Table], *, commit: bool = False) -> None:
        """Register ``batches`` and run their upserts under the write lock (opening the transaction first, and
        committing it with ``commit``); a failure rolls everything back."""
        cursor = self._cursor
        for view, table in batches.items():
            cursor.register(view, table)
        try:
            with self._storage._write_lock:
                if not self._open:
                    cursor.execute("BEGIN TRANSACTION")
                    self._open = True
                try:
                    self._storage._upsert_signal_batches(cursor, batches)
                    if commit:
                        cursor.execute("COMMIT")
                        self._open = False
                except BaseException:
                    self._open = False
                    cursor.execute("ROLLBACK")
                    raise
        finally:
            for view in batches:
                cursor.unregister(view)
            if not self._open:
                cursor.close()


class DayTrades(NamedTuple):
    """The trade half of the daily metrics (``day_trades_final``: one row per symbol and UTC day) of the days
    from ``from_ns`` to ``final_before_ns``, read by :meth:`DuckDBStorage.prepare_daily_metrics`."""

    from_ns: int
    final_before_ns: int
    table: pa.Table


class DuckDBStorage:
    """A DuckDB database file implementing :class:`sql.backend.Storage`."""

    #: The last ``signal_state.updated_ns`` written by any storage object of this process (:meth:`_state_stamp`).
    _last_stamp = 0
    _stamp_lock = threading.Lock()
    #: Per database file (:attr:`_file_key`), ``(bar_seconds, horizon_seconds) ->`` the floor of
    #: :meth:`realized_spread_due` (shared by this process's storage objects on the file, so that any of them
    #: writing drops it), and a counter bumped by each drop.
    _realized_floors: ClassVar[dict[object, dict[tuple[int, int], int]]] = {}
    _realized_drops: ClassVar[dict[object, int]] = {}
    _floor_lock = threading.Lock()

    def __init__(self, connection: duckdb.DuckDBPyConnection, *, read_only: bool, query_timeout_s: float,
                 connect: Callable[[], duckdb.DuckDBPyConnection] | None = None, label: str = "the DuckDB file",
                 archive_root: Path | None = None, view_settings: Mapping[str, int] | None = None):
        self._root = connection
        self._view_settings = dict(DEFAULT_VIEW_SETTINGS if view_settings is None else view_settings)
        self.archive_root = archive_root  # the Parquet archive the *_all views read (None: they read no file)
        self._label = label  # names the file in messages (DUCKDB_PATH 'x.duckdb')
        self._connect = connect
        self._generation = 0  # bumped by reopen(): a thread's cursor of an older generation is replaced
        self._read_only = read_only
        self._query_timeout_s = query_timeout_s
        self._local = threading.local()
        #: Taken by every write but the feed's appends of ``market_data`` (trades, quotes): the transform's
        #: writes, maintenance. Taken before :attr:`_market_lock` by whoever needs both (:meth:`_exclusive`).
        self._write_lock = new_lock("write")
        #: Taken by the appends of trades (``market_data``, ``trade_condition_sets``): only they write those tables
        #: besides maintenance (which takes every lock), so the dedupe of ``insert_trades`` sees every committed
        #: trade, while a trade's append does not wait behind a transform commit or a batch's quotes (other tables:
        #: DuckDB appends of different transactions to different tables do not conflict).
        self._market_lock = self._write_lock if one_lock() else new_lock("market")  # one: a debug A/B
        #: Taken by the appends of quotes (``quotes``), for the same reasons.
        self._quotes_lock = self._write_lock if one_lock() else new_lock("quotes")
        self._analyst_slot = threading.Semaphore(1)  # one analyst statement at a time (module docstring)
        #: Whether a quote read has left a symbol out for a tie on ``ts_ns`` (or rows out of order): the reads
        #: after it take the columns that break such ties at once (:meth:`read_quote_arrays`).
        self._quote_ties = False
        #: Whether a quote read without ``rowid`` came as too many short runs (quotes stored interleaved, as a feed
        #: appends them): the reads after it take ``rowid`` at once (:meth:`read_quote_arrays`).
        self._quotes_interleaved = False
        self._queries = load_registry(_DIALECT, "queries")
        self._listeners: list[weakref.ref[WriteListener]] = []  # held weakly: a dropped app stops listening
        self._condition_sets: set[str] | None = None  # strings trade_condition_sets lists (writers; see the schema)
        self._archived = ArchivedDays(self._queries, archive_root, label)  # archived days appends check against
        self._metrics_final_before: dict[int, int] = {}  # grid -> final_before_ns daily_metrics is written to
        self._cursor_setup: tuple[str, ...] = ()  # run on each new cursor (a reader of an older file)
        self._file_key: object = ("object", id(self))  # the file, for the realized floors (open(): its path)

    @classmethod
    def open(cls, settings: Settings, *, read_only: bool = False) -> DuckDBStorage:
        """Open (and for writers create) the file at ``settings.duckdb_path``.

        Parameters
        ----------
        settings
            Supplies ``duckdb_path``, ``duckdb_threads``, ``duckdb_memory_limit``, ``mcp_query_timeout_ms`` and
            ``quote_stale_seconds`` (stored for the views, :mod:`sql.view_settings`).
        read_only
            Open the file read-only; fails when another process holds it for writing, and
            (:class:`sql.migrations.SchemaTooNew`) when newer code migrated it.
        """
        path = Path(settings.duckdb_path)
        _check_file(path, read_only=read_only)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        config = instance_config(settings)
        archive_root = check_archive_root(settings.archive_root())

        def connect() -> duckdb.DuckDBPyConnection:
            connection = connect_file(path, read_only=read_only, config=config)
            lock_down(connection, archive_root)
            return connection

        storage = cls(connect(), read_only=read_only, query_timeout_s=settings.mcp_query_timeout_ms / 1000,
                      connect=connect, label=f"DUCKDB_PATH {str(path)!r}", archive_root=archive_root,
                      view_settings=view_setting_rows(settings))
        storage._file_key = ("file", str(path.resolve()))
        if not read_only:  # another process may have written the file since this one last had it
            storage._drop_realized_floors()
        if read_only:  # a writer checks in apply_schema; a reader of a file newer code migrated is refused here
            cursor = storage._root.cursor()  # its own: the thread's cursor is for the caller's statements
            try:
                todo = pending(_DIALECT, storage._schema_version(cursor) or 0, storage._label)
                storage._cursor_setup = storage._reader_stand_ins(cursor, todo)
            except SchemaTooNew:
                storage.close()
                raise
            finally:
                cursor.close()
        return storage

    def _reader_stand_ins(self, cursor: duckdb.DuckDBPyConnection, todo: Sequence[Migration]) -> tuple[str, ...]:
        """What a reader's every cursor runs first on a file older code wrote and no writer opened since.

        Each table of the schema files the file lacks (``bar_liquidity``, ``daily_metrics`` ...) stands in
        as an empty temporary table of the newest columns, a table a pending migration (``todo``) widens as
        the temporary view of its ``migrations/readers/`` file (the new columns NULL), and every view as a
        temporary view of the newest definition (temporary objects come first in DuckDB's search path; the
        file is not touched). The tools then answer from the rows the file holds, the missing measures
        empty. A view the old tables cannot carry is left as the file has it. Nothing is needed (``()``) for
        a file at the newest layout.
        """
        kinds = dict(cursor.execute(self._queries["main_relations"].text).fetchall())  # name -> kind
        names = set(kinds)  # a table replaced by a view of that name is not missing
        tables = {name for name, kind in kinds.items() if kind == "BASE TABLE"}
        views = {name for name, kind in kinds.items() if kind == "VIEW"}
        missing = [(name, text) for name, text in _schema_tables() if name not in names]
        readers = load_registry(_DIALECT, "migrations/readers")
        widened = [readers[m.name].text for m in todo if m.name in readers.names()]
        widened = [text for text in widened if _TEMP_VIEW.search(text).group(1) in tables]  # type: ignore[union-attr]
        if not missing and not widened and all(s.name in views for s in load_registry(_DIALECT, "views")):
            return ()
        setup = [_as_temporary(text) for _, text in missing] + widened
        for statement in setup:
            cursor.execute(statement)
        kept = []
        for name, text in self._view_texts(cursor):
            temporary = _as_temporary(text)
            try:
                cursor.execute(temporary)
            except duckdb.Error as exc:
                log.warning("%s: the view %s stays as the file has it (%s)", self._label, name,
                            str(exc).splitlines()[0])
                continue
            kept.append(temporary)
        log.warning("%s was written by older code and is not migrated to %s yet (a writer's open does it): they "
                    "stand empty for this reader meanwhile (daily metrics are computed from the trades)",
                    self._label, ", ".join(name for name, _ in missing) or "the newest views")
        return (*setup, *kept)

    # --- connection handling ---------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None or self._local.generation != self._generation:
            cursor = self._root.cursor()
            for statement in self._cursor_setup:
                cursor.execute(statement)
            self._local.cursor, self._local.generation = cursor, self._generation
        return cursor

    def reopen(self) -> None:
        """Close the database and open it again, releasing what DuckDB frees only on close.

        A process that keeps appending grows by ~1 MiB per million rows it wrote (DuckDB's bookkeeping of the
        row groups it wrote, outside ``memory_limit``) and keeps the blocks it appended cached up to
        ``memory_limit``; closing releases both. For a process that is the file's only user, such as
        ``microstructure load``: a query running on another thread's cursor meanwhile would fail. Cursors
        are replaced on their thread's next call.
        """
        if self._connect is None:
            raise StorageError("this storage was not opened from a path and cannot reopen")
        with self._exclusive():
            self._root.close()
            self._root = self._connect()
            self._generation += 1

    def close(self) -> None:
        """Close the database; cursors of other threads become unusable."""
        if not self._read_only:
            self._drop_realized_floors()
        self._root.close()

    def add_write_listener(self, listener: WriteListener) -> None:
        """Tell ``listener`` of every write committed from now on (:class:`sql.backend.WriteListener`).

        This process is the file's only writer (DuckDB's lock), so the listeners see every change of the data.
        ``listener.attached()`` runs first, under the write lock, so that what it reads is not changed meanwhile.
        The storage holds ``listener`` weakly: once nothing else refers to it (the app or server that kept it
        is gone), it is no longer told; :meth:`remove_write_listener` stops it at once.
        """
        with self._exclusive():
            listener.attached()
            self._listeners.append(weakref.ref(listener))

    def remove_write_listener(self, listener: WriteListener) -> None:
        """Stop telling ``listener`` of writes (one that was not added, or was removed already, is ignored)."""
        with self._exclusive():
            self._listeners = [ref for ref in self._listeners if ref() not in (None, listener)]

    @property
    def write_listeners(self) -> tuple[WriteListener, ...]:
        """The listeners told of writes now, in the order they were added."""
        with self._write_lock:
            return tuple(listener for ref in self._listeners if (listener := ref()) is not None)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Every write lock (the write lock first, then the market lock, then the quotes lock): no write of this
        process runs meanwhile."""
        with self._write_lock:
            if self._market_lock is self._write_lock:  # MICROSTRUCTURE_ONE_WRITE_LOCK
                yield
            else:
                with self._market_lock, self._quotes_lock:
                    yield

    def _notify(self, event: str, *args: Any) -> None:
        """Call ``event`` on every listener that has it (under the lock of the write, after the commit); one that fails
        is told so and logged, and the write stands. Listeners no longer referenced elsewhere are dropped."""
        if any(ref() is None for ref in self._listeners):
            self._listeners = [ref for ref in self._listeners if ref() is not None]
        for ref in self._listeners:
            listener = ref()
            if listener is None:
                continue
            handler = getattr(listener, event, None)
            if handler is None:  # an optional event (realized_written) the listener does not take
                continue
            try:
                handler(*args)
            except Exception as exc:  # noqa: BLE001 - the data is committed; the listener drops what it holds
                log.exception("write listener %r failed on %s", listener, event)
                listener.write_failed(exc)

    # --- schema ----------------------------------------------------------------------------------------
    def apply_schema(self) -> None:
        """Bring the file to the newest layout (DESIGN §5); a second run changes nothing.

        The schema files create what is missing; a new file is stamped with the newest version, an older one
        gets each pending migration of ``sql/duckdb/migrations/`` once, each in its own transaction together
        with its ``schema_version`` row (:mod:`sql.migrations`); then the shipped reference rows are reloaded
        and the views recreated.

        Raises
        ------
        sql.migrations.SchemaTooNew
            When newer code migrated the file; nothing is changed.
        """
        cursor = self._cursor()
        version = self._schema_version(cursor)  # before the schema files: a new file has no market_data yet
        todo = pending(_DIALECT, version, self._label) if version is not None else ()
        for statement in load_registry(_DIALECT, "schema"):
            cursor.execute(statement.text)
        if version is None:
            with self._transaction(cursor, lock=self._exclusive()):
                self._record_migration(cursor, latest_version(_DIALECT), CREATED)
        for migration in todo:
            self._migrate(cursor, migration)
        self._load_reference_tables(cursor)
        for name, value in self._view_settings.items():
            cursor.execute(self._queries["set_view_setting"].text, {"name": name, "value": value})
        self.create_views()

    def create_views(self) -> None:
        """Create (or replace) every view of ``sql/duckdb/views``. A view over live and archived rows
        (``trades_all`` ...) reads the archive's Parquet files of its table once the manifest lists a placed
        file of it (:func:`sql.archive_paths.with_archive`); before, its archive branch stays empty
        (``read_parquet`` refuses a glob matching nothing)."""
        cursor = self._cursor()
        for _, text in self._view_texts(cursor):
            cursor.execute(text)

    def _view_texts(self, cursor: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
        """(name, CREATE statement) of every view of ``sql/duckdb/views`` in order, archive-aware."""
        archived = {row[0] for row in cursor.execute(
            load_registry(_DIALECT, "archive")["placed_tables"].text).fetchall()}
        texts = []
        for statement in load_registry(_DIALECT, "views"):
            table = next((t for t in archived_tables() if t.view == statement.name), None)
            if table is not None and table.folder in archived and self.archive_root is not None:
                texts.append((statement.name, with_archive(statement.text, table, self.archive_root)))
            else:
                texts.append((statement.name, statement.text))
        return texts

    def _schema_version(self, cursor: duckdb.DuckDBPyConnection) -> int | None:
        """The file's version (:func:`sql.migrations.stored_version`); ``None`` for a new file."""
        def exists(table: str) -> bool:
            return bool(cursor.execute(self._queries["table_exists"].text, {"table_name": table}).fetchone()[0])

        recorded = cursor.execute(self._queries["schema_version"].text).fetchone()[0] if exists("schema_version") \
            else None
        return stored_version(recorded, exists("market_data"))

    def _record_migration(self, cursor: duckdb.DuckDBPyConnection, version: int, name: str) -> None:
        cursor.execute(self._queries["record_migration"].text,
                       {"version": version, "name": name, "applied_at_ns": time.time_ns()})

    def _migrate(self, cursor: duckdb.DuckDBPyConnection, migration: Migration) -> None:
        """Apply one migration and record it in one transaction (skipping its statements when its ``when``
        check is false)."""
        with self._transaction(cursor, lock=self._exclusive()):
            run = run_migration(cursor, _DIALECT, migration)
            self._record_migration(cursor, migration.version, migration.name)
        log.info("%s: schema migration %03d %s %s", self._label, migration.version, migration.name,
                 "applied" if run else "not needed")

    def _load_reference_tables(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Replace the rows of ``trade_conditions`` and ``trade_corrections`` with the shipped ones, and decide
        the rules of every string ``trade_condition_sets`` lists again with them (an empty lookup first lists
        the strings ``market_data`` holds)."""
        strings = [text for (text,) in cursor.execute(self._queries["trade_condition_set_strings"].text).fetchall()]
        if not strings:
            with self._transaction(cursor, lock=self._exclusive()):
                cursor.execute(self._queries["list_stored_condition_sets"].text)
            strings = [text for (text,) in
                       cursor.execute(self._queries["trade_condition_set_strings"].text).fetchall()]
        batches = {"trade_conditions_stage": conditions_table(), "trade_corrections_stage": corrections_table(),
                   "condition_sets_stage": condition_sets_table(strings)}
        with self._transaction(cursor, batches, lock=self._exclusive()):
            for name in ("trade_conditions", "trade_corrections"):
                cursor.execute(self._queries[f"clear_{name}"].text)
                cursor.execute(self._queries[f"load_{name}"].text)
            cursor.execute(self._queries["decide_trade_condition_sets"].text)
        self._condition_sets = set(strings)

    def _new_condition_sets(self, cursor: duckdb.DuckDBPyConnection, conditions: pa.ChunkedArray) -> pa.Table | None:
        """The rules of the non-empty strings of ``conditions`` that ``trade_condition_sets`` does not list yet
        (``None`` when there are none)."""
        if self._condition_sets is None:  # a writer that did not apply the schema: learn what the file lists
            self._condition_sets = {text for (text,) in
                                    cursor.execute(self._queries["trade_condition_set_strings"].text).fetchall()}
        new = {text for text in pc.unique(conditions).to_pylist() if text} - self._condition_sets
        return condition_sets_table(new) if new else None

    @contextmanager
    def _transaction(self, cursor: duckdb.DuckDBPyConnection, batches: Mapping[str, pa.Table] | None = None,
                     committed: Callable[[], None] | None = None,
                     lock: AbstractContextManager[Any] | None = None, *,
                     keeps_realized_floors: bool = False) -> Iterator[None]:
        """One write transaction under ``lock`` (the process's write lock by default), with ``batches`` registered
        as views meanwhile: committed when the block ends (then ``committed()`` runs, still under the lock), rolled
        back when it raises. Unless ``keeps_realized_floors`` (a write that cannot move them:
        :meth:`_keep_floors_for`), the floors of :meth:`realized_spread_due` are dropped first and again at the
        commit (a floor computed meanwhile, from a snapshot without this write, is not kept past it)."""
        if not keeps_realized_floors:
            self._drop_realized_floors()
        for view, table in (batches or {}).items():
            cursor.register(view, table)
        try:
            with self._write_lock if lock is None else lock:
                cursor.execute("BEGIN TRANSACTION")
                try:
                    yield
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                if not keeps_realized_floors:
                    self._drop_realized_floors()
                if committed is not None:
                    committed()
        finally:
            for view in batches or {}:
                cursor.unregister(view)

    # --- writes ----------------------------------------------------------------------------------------
    def _insert_batch(self, view: str, query: str, batch: pa.Table, schema: pa.Schema,
                      committed: Callable[[pa.Table], None] | None = None) -> int:
        """Run the insert ``query`` reading ``batch`` as ``view``; rows added. ``committed(batch)`` runs after
        it, still under the write lock, when it added rows."""
        if batch.num_rows == 0:
            return 0
        if batch.schema != schema:
            batch = batch.select(schema.names).cast(schema)
        self._keep_floors_for({view: batch})
        cursor = self._cursor()
        cursor.register(view, batch)
        try:
            with self._write_lock:
                (added,) = cursor.execute(self._queries[query].text).fetchone()  # type: ignore[misc]
                if added and committed is not None:
                    committed(batch)
        finally:
            cursor.unregister(view)
        return int(added)

    def append_trades(self, batch: pa.Table) -> int:
        """Append trades, skipping rows whose dedupe key is stored already; return rows added.

        One transaction under the market lock (module docstring): ``insert_trades`` skips rows whose key
        (``market, symbol, exchange, trade_id, ts_ns``) is stored, and of rows sharing a key inside the batch
        adds only the first; the batch's new conditions strings join ``trade_condition_sets`` with their rules.
        ``market_data`` declares no key: the market lock makes this the only writer of the table, which keeps the key by construction (``sql/duckdb/schema``). Rows whose
        key an archived file holds are left out first (module docstring).
        """
        if batch.num_rows == 0:
            return 0
        if batch.schema != TRADES_SCHEMA:
            batch = batch.select(TRADES_SCHEMA.names).cast(TRADES_SCHEMA)
        batch = batch.append_column("batch_pos", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        cursor = self._cursor()
        batches = {"trades_batch": batch}
        new_sets = self._new_condition_sets(cursor, batch.column("conditions"))
        if new_sets is not None:
            batches["condition_sets_stage"] = new_sets
        added = 0
        written = batch

        def committed() -> None:
            if added:
                self._notify("trades_written", written)

        with self._transaction(cursor, batches, committed, self._market_lock, keeps_realized_floors=True):
            written = self._archived.without_archived(cursor, "trades", batch)
            if written is not batch:  # the same name: _transaction unregisters it
                cursor.register("trades_batch", written)
            (added,) = cursor.execute(self._queries["insert_trades"].text).fetchone()  # type: ignore[misc]
            if new_sets is not None:
                cursor.execute(self._queries["add_trade_condition_sets"].text)
        if new_sets is not None:
            self._condition_sets.update(new_sets.column("conditions").to_pylist())
        return int(added)

    def append_quotes(self, batch: pa.Table) -> int:
        """Append quotes; return rows added. Quotes carry no dedupe key in the live table (every row is
        stored), but rows of an archived day that the archive holds already are left out
        (:mod:`sql.archive_dedupe`)."""
        if batch.num_rows == 0:
            return 0
        if batch.schema != QUOTES_SCHEMA:
            batch = batch.select(QUOTES_SCHEMA.names).cast(QUOTES_SCHEMA)
        cursor = self._cursor()
        with self._quotes_lock:
            positions = batch.append_column("batch_pos", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
            kept = self._archived.without_archived(cursor, "quotes", positions)
            if kept is not positions:
                batch = kept.drop_columns(["batch_pos"])
            if batch.num_rows == 0:
                return 0
            cursor.register("quotes_batch", batch)
            try:
                (added,) = cursor.execute(self._queries["insert_quotes"].text).fetchone()  # type: ignore[misc]
            finally:
                cursor.unregister("quotes_batch")
        return int(added)

    def commit_signals(
        self, signals: pa.Table, states: Sequence[SignalStateRow], model_params: pa.Table | None = None,
        profiles: pa.Table | None = None, liquidity: pa.Table | None = None, realized: pa.Table | None = None,
    ) -> int:
        """Write signal rows, model fits, intraday profiles, bar liquidity, ``bar_realized_spread`` rows (as
        :meth:`write_realized_spread`: a bar stored already keeps its row) and the states that follow from them
        atomically. Listeners are told of the signal rows with their ``bar_liquidity`` measures beside them
        (:func:`sql.contract.with_liquidity`), as the tools read them, then of the realized rows
        (``realized_written``).

        Returns the ``updated_ns`` stamp the states were written with (:meth:`signal_state_stamps`: the transform
        keeps the states it wrote in memory while the stored stamp is still this one)."""
        batches = _signal_batches(signals, model_params, profiles, liquidity, realized)
        stamp = self._state_stamp()
        batches["signal_state_batch"] = signal_states_table(states, stamp)
        cursor = self._cursor()
        self._keep_floors_for(batches)

        def committed() -> None:
            self._notify_signals(batches, states)

        with self._transaction(cursor, batches, committed, keeps_realized_floors=True):
            self._upsert_signal_batches(cursor, batches)
        return stamp

    def begin_signals(self) -> SignalsTransaction:
        """Open one transaction of :meth:`commit_signals`'s writes that takes them in parts
        (:class:`SignalsTransaction`: the transform writes each read group's rows as it is computed and commits
        the chunk's states with its last group, so the commit after the last symbol writes only that group)."""
        return SignalsTransaction(self)

    def _upsert_signal_batches(self, cursor: duckdb.DuckDBPyConnection, batches: Mapping[str, pa.Table]) -> None:
        """Run the upsert of each registered batch of :func:`_signal_batches` (and the states) that has rows."""
        for view, query in _SIGNAL_UPSERTS:
            batch = batches.get(view)
            if batch is not None and batch.num_rows:
                cursor.execute(self._queries[query].text)

    def _notify_signals(self, batches: Mapping[str, pa.Table], states: Sequence[SignalStateRow]) -> None:
        """Tell listeners of committed signal rows (with their liquidity) and realized rows."""
        if self._listeners:  # the join costs a little: only when someone is told
            self._notify("signals_written", with_liquidity(batches["signals_batch"],
                                                           batches.get("bar_liquidity_batch")), states)
            realized = batches.get("bar_realized_spread_batch")
            if realized is not None and realized.num_rows:
                self._notify("realized_written", realized)

    def _state_stamp(self) -> int:
        """A ``signal_state.updated_ns`` for the next write of states: the wall clock, and never one that any
        storage object of this process wrote before (two writes of a state differ in their stamp,
        :meth:`signal_state_stamps`)."""
        with DuckDBStorage._stamp_lock:
            DuckDBStorage._last_stamp = max(time.time_ns(), DuckDBStorage._last_stamp + 1)
            return DuckDBStorage._last_stamp

    def reset_signals(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """Delete the signals, fits, profiles and states of ``symbols`` on the grid, in one transaction, so
        that the transform recomputes them from their first trade."""
        cursor = self._cursor()
        self._metrics_final_before.clear()  # their days are written again once final
        with self._transaction(cursor, committed=lambda: self._notify("signals_reset", symbols, bar_seconds)):
            for symbol in symbols:
                for table in _RESET_TABLES:
                    cursor.execute(self._queries[f"reset_{table}"].text, {"symbol": symbol, "bar_seconds": bar_seconds})

    def rewind_signals(self, states: Sequence[SignalStateRow]) -> None:
        """Delete each state's symbol's bars, fits and profiles after its ``last_bar_end_ns`` and store the
        state, in one transaction. Listeners forget what they hold (``write_failed``): rows before the cut
        stay, which ``signals_reset`` cannot say."""
        if not states:
            return
        cursor = self._cursor()
        rewound = StorageError(f"signals of {len(states)} symbol(s) rewound for a recompute")
        self._metrics_final_before.clear()
        with self._transaction(cursor, {"signal_state_batch": signal_states_table(states, self._state_stamp())},
                               lambda: self._notify("write_failed", rewound)):
            for state in states:
                for table in (t for t in _RESET_TABLES if t != "signal_state"):
                    cursor.execute(self._queries[f"rewind_{table}"].text, {
                        "symbol": state.symbol, "bar_seconds": state.bar_seconds, "after_ns": state.last_bar_end_ns})
            cursor.execute(self._queries["upsert_signal_state"].text)

    def realized_spread_due(self, bar_seconds: int, horizon_seconds: int,
                            until_ns: int) -> tuple[pa.Table, pa.Table]:
        """The bars ``bar_realized_spread`` may get now and where each symbol resumes (:mod:`udx.realized_step`).

        Rows of another horizon than ``horizon_seconds`` are deleted first (a changed setting recomputes them).
        Returns ``realized_spread_due`` (``symbol, bar_end_ns`` of the bars ending at or before ``until_ns``
        after each symbol's newest row) and ``realized_spread_resume`` (that newest row's end and tick state).

        **Bounded.** Both are aggregates over every row of the grid, which grow with the file. After a call, the
        *floor* ``min(until_ns, the newest row's end of each symbol, each due bar's end)`` lies at or below every
        symbol's newest row and every stored bar without a row after it; the next call on the file reads only
        the rows and bars ending at or after it (``realized_spread_resume_since``, ``realized_spread_due_since``:
        the same answer) and moves it up. A floor is kept per file and grid and horizon while the writes are the
        transform's own above it: a committed bar or realized row ending below it, a realized row of another
        horizon, and any other write (a reset, rewind, archive, maintenance statement, another storage object on
        the file, a reopen) drop it, and the next call reads everything again.
        """
        cursor = self._cursor()
        params = {"bar_seconds": bar_seconds}
        key = (bar_seconds, horizon_seconds)
        with self._floor_lock:
            floor = self._realized_floors.get(self._file_key, {}).get(key)
            drops = self._realized_drops.get(self._file_key, 0)

        def read(name: str, **more: int) -> pa.Table:  # the query bounded by the floor when there is one
            if floor is not None:
                name, more = f"{name}_since", {**more, "since_ns": floor}
            return cursor.sql(self._queries[name].text, params={**params, **more}).to_arrow_table()

        resume = read("realized_spread_resume")
        horizons = set(resume.column("min_horizon").to_pylist()) | set(resume.column("max_horizon").to_pylist())
        if horizons - {horizon_seconds}:
            forgotten = StorageError(f"bar_realized_spread rows of another horizon than {horizon_seconds} s deleted")
            with self._transaction(cursor, committed=lambda: self._notify("write_failed", forgotten)):
                (gone,) = cursor.execute(self._queries["delete_realized_other_horizon"].text, {
                    **params, "horizon_seconds": horizon_seconds}).fetchone()  # type: ignore[misc]
            log.warning("bar_realized_spread: %d row(s) of another horizon than %d s deleted; recomputing them",
                        gone, horizon_seconds)
            with self._floor_lock:
                drops = self._realized_drops.get(self._file_key, 0)
            floor = None
            resume = read("realized_spread_resume")
        due = read("realized_spread_due", until_ns=until_ns)
        ends = [until_ns, *(pc.min(t.column("bar_end_ns")).as_py() for t in (resume, due) if t.num_rows)]
        with self._floor_lock:
            if self._realized_drops.get(self._file_key, 0) == drops:  # nothing dropped it meanwhile
                self._realized_floors.setdefault(self._file_key, {})[key] = min(ends)
        return due, resume

    def _drop_realized_floors(self) -> None:
        """Forget the floors of :meth:`realized_spread_due` on this file (the next call reads every row)."""
        with self._floor_lock:
            self._realized_floors.pop(self._file_key, None)
            self._realized_drops[self._file_key] = self._realized_drops.get(self._file_key, 0) + 1

    def _keep_floors_for(self, batches: Mapping[str, pa.Table]) -> None:
        """Drop the floors of :meth:`realized_spread_due` unless ``batches`` (views of :func:`_signal_batches`)
        keep them: their bars and realized rows end at or above the floor of their grid (each horizon's), and
        their realized rows have the horizon of the floor (a first run over old history writes below it)."""
        with self._floor_lock:
            floors = self._realized_floors.get(self._file_key)
            if not floors:
                return
        keep = True
        for view in ("signals_batch", "bar_realized_spread_batch"):
            table = batches.get(view)
            if table is None or table.num_rows == 0:
                continue
            grids = set(pc.unique(table.column("bar_seconds")).to_pylist())
            for grid in grids:  # each grid's bars against that grid's floors
                lows = [f for (g, _), f in floors.items() if g == grid]
                of_grid = table if len(grids) == 1 else table.filter(pc.equal(table.column("bar_seconds"), grid))
                if lows and pc.min(of_grid.column("bar_end_ns")).as_py() < min(lows):
                    keep = False
            if view == "bar_realized_spread_batch":
                horizons = set(pc.unique(table.column("horizon_seconds")).to_pylist())
                if any(g in grids and h not in horizons for g, h in floors) or len(horizons) > 1:
                    keep = False
        if not keep:
            self._drop_realized_floors()

    def write_realized_spread(self, rows: pa.Table) -> int:
        """Insert ``bar_realized_spread`` rows (:data:`sql.contract.BAR_REALIZED_SPREAD_SCHEMA`) in one statement;
        a bar stored already keeps its row. Returns rows added. Listeners are told (``realized_written``): the
        tools serve these values with their bars."""
        return self._insert_batch("bar_realized_spread_batch", "insert_bar_realized_spread", rows,
                                  BAR_REALIZED_SPREAD_SCHEMA,
                                  lambda batch: self._notify("realized_written", batch) if self._listeners else None)

    def prepare_daily_metrics(self, bar_seconds: int, watermark_ns: int,
                              oldest_new_bar_ns: int | None = None) -> DayTrades | None:
        """Read the trade half of the daily metrics that :meth:`write_daily_metrics` with the same arguments will
        write, so that it has only the bar half left (the transform reads it on another thread while its last
        commit runs); ``None`` when that write will read nothing.

        The days read run from the oldest day that may be pending after the caller's commit (the oldest final
        day with bars and no row now, or the day of ``oldest_new_bar_ns``, whichever is older) to the start of
        the watermark's UTC day; :meth:`write_daily_metrics` reads the trades of any older day itself. Runs on
        this thread's cursor, beside a commit on another thread (DuckDB: a reader sees the last committed
        state). Also ``None`` on a file whose views older code created (no ``day_trades`` macro until
        :meth:`apply_schema`).
        """
        final_before = watermark_ns // _NS_PER_DAY * _NS_PER_DAY
        if self._metrics_final_before.get(bar_seconds) == final_before and (
                oldest_new_bar_ns is None or oldest_new_bar_ns >= final_before):
            return None
        cursor = self._cursor()
        (first,) = cursor.execute(self._queries["daily_metrics_pending"].text, {
            "bar_seconds": bar_seconds, "final_before_ns": final_before}).fetchall()[0]
        starts = [int(v) for v in (first, oldest_new_bar_ns) if v is not None and int(v) < final_before]
        if not starts:
            return None
        from_ns = min(starts) // _NS_PER_DAY * _NS_PER_DAY
        try:
            table = cursor.sql(self._queries["day_trades_final"].text, params={
                "from_ns": from_ns, "final_before_ns": final_before}).to_arrow_table()
        except duckdb.CatalogException:  # views of older code (no apply_schema yet): the write reads it all
            return None
        return DayTrades(from_ns, final_before, table)

    def write_daily_metrics(self, bar_seconds: int, watermark_ns: int,
                            oldest_new_bar_ns: int | None = None, prepared: DayTrades | None = None) -> int:
        """Write the ``daily_metrics`` row of every (symbol, UTC day) on the grid that the watermark made
        final (its bars end before the start of the watermark's UTC day) and none yet; return rows written.

        Parameters
        ----------
        bar_seconds
            The grid.
        watermark_ns
            The transform's watermark (:class:`udx.transform.TransformSummary`): bars ending at or before
            it are written, trades after it may still come.
        oldest_new_bar_ns
            The end of the oldest bar the caller wrote since its last call (``None``: none). Nothing is read
            when no day became final since the last call and no bar of a final day was written.
        prepared
            The trade half read before (:meth:`prepare_daily_metrics` with the same arguments): a day it covers
            reads only its bars here (``write_daily_metrics_prepared``), another day reads its trades too.
        """
        final_before = watermark_ns // _NS_PER_DAY * _NS_PER_DAY
        if self._metrics_final_before.get(bar_seconds) == final_before and (
                oldest_new_bar_ns is None or oldest_new_bar_ns >= final_before):
            return 0
        if prepared is not None and prepared.final_before_ns != final_before:
            prepared = None  # read for another watermark: its last day may not be final
        cursor = self._cursor()
        added = 0
        pending = self._queries["daily_metrics_pending"].text
        batches = {} if prepared is None else {"day_trades_batch": prepared.table}
        while True:  # one day per transaction, so a backfill of many days pauses writers one day at a time
            with self._transaction(cursor, batches, keeps_realized_floors=True):  # daily_metrics only
                params = {"bar_seconds": bar_seconds, "final_before_ns": final_before}
                (first,) = cursor.execute(pending, params).fetchall()[0]
                if first is None:
                    break
                day = int(first) // _NS_PER_DAY * _NS_PER_DAY
                query = ("write_daily_metrics_prepared" if prepared is not None and day >= prepared.from_ns
                         else "write_daily_metrics")
                (rows,) = cursor.execute(self._queries[query].text, {
                    "bar_seconds": bar_seconds, "from_ns": day, "computed_at_ns": time.time_ns(),
                    "final_before_ns": min(day + _NS_PER_DAY, final_before)}).fetchall()[0]
            if not rows:  # cannot happen (both statements see the same days); never loop on it
                raise StorageError(f"daily_metrics: the day from {first} ns was pending; nothing was written")
            added += int(rows)
        self._metrics_final_before[bar_seconds] = final_before
        return added

    # --- maintenance (sql/archive.py) ------------------------------------------------------------------
    @contextmanager
    def archive_transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor in one write transaction under the write lock, committed when the block ends
        and rolled back when it raises. After the commit, listeners forget what they hold (``write_failed``):
        rows left the live tables."""
        moved = StorageError("rows moved from the live tables to the archive")
        cursor = self._cursor()

        def committed() -> None:
            self._archived.forget()  # appends learn the archived days again
            self._notify("write_failed", moved)

        with self._transaction(cursor, committed=committed, lock=self._exclusive()):
            yield cursor

    def execute_write(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one maintenance statement in its own transaction under the write lock."""
        cursor = self._cursor()
        with self._transaction(cursor, lock=self._exclusive()):
            cursor.execute(sql, dict(params or {}))

    def fetch_one(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
        """The first row of a maintenance query (writers' reads: no time limit)."""
        return self._cursor().execute(sql, dict(params or {})).fetchone()  # type: ignore[return-value]

    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Every row of a maintenance query (writers' reads: no time limit)."""
        return self._cursor().execute(sql, dict(params or {})).fetchall()

    def checkpoint(self) -> None:
        """Write the WAL into the file and free the blocks of deleted rows for later appends."""
        with self._exclusive():
            self._cursor().execute("CHECKPOINT")

    # --- reads for writers ---------------------------------------------------------------------------
    def _fetchall(self, name: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.fetch_all(self._queries[name].text, params)

    def trade_symbols(self) -> list[tuple[str, str]]:
        """Return ``(market, symbol)`` for every symbol with trades."""
        return [(str(m), str(s)) for m, s in self._fetchall("trade_symbols")]

    def newest_trade_ns(self) -> int | None:
        """Return the newest trade time in ns, or ``None`` without trades."""
        (value,) = self._fetchall("newest_trade_ns")[0]
        return None if value is None else int(value)

    def read_trades(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        """Return ``ts_ns, price, size`` of ``symbol`` in ``[start_ns, end_ns)`` in time order."""
        params = {"symbol": symbol, "start_ns": start_ns, "end_ns": end_ns}
        return self._cursor().sql(self._queries["trades_range"].text, params=params).to_arrow_table()

    def read_trades_many(self, symbols: Sequence[str], start_ns: int, end_ns: int) -> pa.Table:
        """Return ``symbol, ts_ns, price, size, conditions, correction`` of ``symbols`` in ``[start_ns, end_ns)``,
        by symbol, each in the order of :meth:`read_trades`: one scan for many symbols (the transform reads a
        chunk at once). Read unsorted and ordered on the client, as :meth:`read_quotes_many`: a symbol with two
        prints tied on ``ts_ns, sequence, exchange`` (only ``trade_id`` orders them) is read again sorted."""
        return self._read_by_symbol("trades_range_symbols", symbols, start_ns, end_ns,
                                    ("ts_ns", "sequence", "exchange"),
                                    ("ts_ns", "price", "size", "conditions", "correction"), tie_is_unordered=True)

    def read_quotes_many(self, symbols: Sequence[str], start_ns: int, end_ns: int) -> pa.Table:
        """Return ``symbol, ts_ns, bid_price, bid_size, ask_price, ask_size`` of ``symbols``' quotes in
        ``[start_ns, end_ns)``, by symbol, each in time order (the transform's bar liquidity). Read unsorted
        and ordered on the client (:mod:`sql.stored_order`: DuckDB's sort of a chunk's quotes cost more than the
        signals)."""
        return self._read_by_symbol("quotes_range_symbols", symbols, start_ns, end_ns, _QUOTE_KEY, _QUOTE_COLUMNS,
                                    tie_is_unordered=False)

    def read_quote_arrays(self, symbols: Sequence[str], start_ns: int,
                          end_ns: int) -> dict[str, list[np.ndarray]]:
        """Each symbol's quotes in ``[start_ns, end_ns)`` as the rows of :meth:`read_quotes_many`, as arrays
        ``ts_ns`` (int64), ``bid_price, bid_size, ask_price, ask_size`` (float64, NULL as NaN); symbols without
        quotes left out.

        The same rows without the table: where the symbols are stored one after the other (a replay, a file
        loaded symbol by symbol) each symbol's arrays are views of the read's chunks, copied only where they
        span two (:func:`sql.stored_order.stored_runs`: no row moves, no ``symbol`` column is built); any other
        layout is ordered as :meth:`read_quotes_many` orders it. The columns that break ties on ``ts_ns``
        (``sequence``, ``received_ns``) are read only for a symbol with two quotes at one time or rows stored
        out of time order (read again with them), and for every symbol once a read has left one out
        (``_quote_ties``): quotes stamped in nanoseconds rarely tie, quotes stamped in milliseconds mostly do.
        Nor is ``rowid``, until a read shows the quotes stored interleaved (``_quotes_interleaved``): a symbol whose
        times are distinct is put in time order from its times alone (:func:`sql.stored_order.time_arrays`), and
        only a symbol they cannot order is read again with ``rowid``."""
        wanted = list(symbols)
        out: dict[str, list[np.ndarray]] = {}
        if not self._quote_ties and wanted:
            got = None
            if not self._quotes_interleaved:
                params: dict[str, Any] = {"symbols": wanted, "start_ns": start_ns, "end_ns": end_ns}
                read = self._cursor().sql(self._queries["quotes_range_symbols_ts"].text, params=params)
                got = time_arrays(read.to_arrow_table(), wanted, _QUOTE_COLUMNS)
                self._quotes_interleaved = got is None
                if got is not None:
                    out, wanted = got
            if wanted:  # interleaved, or a symbol with a tie or rows its times alone cannot order: with rowid
                more, wanted = self._quote_arrays("quotes_range_symbols_stored_ts", wanted, start_ns, end_ns,
                                                  ("ts_ns",), tie_is_unordered=True)
                out.update(more)
            self._quote_ties = bool(wanted)
        if wanted:
            more, unordered = self._quote_arrays("quotes_range_symbols_stored", wanted, start_ns, end_ns,
                                                 _QUOTE_KEY, tie_is_unordered=False)
            out.update(more)
            if unordered:  # not in key order where stored: DuckDB sorts them
                params = {"symbols": unordered, "start_ns": start_ns, "end_ns": end_ns}
                again = self._cursor().sql(self._queries["quotes_range_symbols"].text, params=params)
                out.update(grouped_arrays(again.to_arrow_table(), _QUOTE_COLUMNS))
        return out

    def _quote_arrays(self, name: str, symbols: list[str], start_ns: int, end_ns: int, key: tuple[str, ...], *,
                      tie_is_unordered: bool) -> tuple[dict[str, list[np.ndarray]], list[str]]:
        """The arrays of the symbols the unordered read ``name`` has in ``key`` order, and the symbols it has
        out of order (or tied, when that counts), in byte order (:func:`sql.stored_order.symbol_arrays`)."""
        params: dict[str, Any] = {"symbols": symbols, "start_ns": start_ns, "end_ns": end_ns}
        stored = self._cursor().sql(self._queries[name].text, params=params).to_arrow_table()
        return symbol_arrays(stored, symbols, key, _QUOTE_COLUMNS, tie_is_unordered=tie_is_unordered)

    def _read_by_symbol(self, name: str, symbols: Sequence[str], start_ns: int, end_ns: int, key: tuple[str, ...],
                        columns: tuple[str, ...], *, tie_is_unordered: bool) -> pa.Table:
        """The rows of the ordered query ``name`` (``symbol`` and ``columns``): read unordered
        (``<name>_stored``) and ordered on the client where they are stored in ``key`` order; the symbols that
        are not are read again with ``name``, which sorts (:mod:`sql.stored_order`)."""
        params: dict[str, Any] = {"symbols": list(symbols), "start_ns": start_ns, "end_ns": end_ns}
        stored = self._cursor().sql(self._queries[f"{name}_stored"].text, params=params).to_arrow_table()
        return self._ordered_by_symbol(name, stored, params, key, columns, tie_is_unordered=tie_is_unordered)

    def _ordered_by_symbol(self, name: str, stored: pa.Table, params: dict[str, Any], key: tuple[str, ...],
                           columns: tuple[str, ...], *, tie_is_unordered: bool) -> pa.Table:
        """The unordered read ``stored`` of ``<name>_stored`` ordered on the client (:func:`order_stored`), the
        symbols it leaves out read again with ``name`` and merged in."""
        cursor = self._cursor()
        result = order_stored(stored, params["symbols"], key, columns, tie_is_unordered=tie_is_unordered)
        if not result.unordered:
            return result.table
        params["symbols"] = result.unordered
        again = cursor.sql(self._queries[name].text, params=params).to_arrow_table()
        return merge_ordered(result.table, again)

    def read_trades_with_archive(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        """:meth:`read_trades` over live and archived trades (the view ``trades_all``): a recompute reads a
        symbol's history through it once retention moved its old days to the archive."""
        params = {"symbol": symbol, "start_ns": start_ns, "end_ns": end_ns}
        return self._cursor().sql(self._queries["trades_all_range"].text, params=params).to_arrow_table()

    def archived_until(self) -> dict[str, int]:
        """Per symbol whose trades or signals the archive holds: the end (ns, exclusive) of the newest UTC day
        archived. Its live trades are complete from there on."""
        return {str(symbol): (day - _EPOCH_DAY).days * _NS_PER_DAY + _NS_PER_DAY
                for symbol, day in self._fetchall("archived_symbol_days")}

    def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
        """Return the stored transform state per symbol on the ``bar_seconds`` grid."""
        return signal_states_by_symbol(self._fetchall("signal_states", {"bar_seconds": bar_seconds}))

    def signal_state_stamps(self, bar_seconds: int) -> dict[str, tuple[int, int]]:
        """``(last_bar_end_ns, updated_ns)`` of every stored state on the grid, without the states.

        Every write of a state (:meth:`commit_signals`, :meth:`rewind_signals`) stamps it with a new
        ``updated_ns``, so a state held in memory with the stamp it was written with is the stored one while the
        stored stamp is unchanged (:mod:`udx.state_cache`)."""
        rows = self._fetchall("signal_state_stamps", {"bar_seconds": bar_seconds})
        return {str(symbol): (int(end), int(stamp)) for symbol, end, stamp in rows}

    def load_signal_states_of(self, bar_seconds: int,
                              symbols: Sequence[str]) -> dict[str, tuple[SignalStateRow, int]]:
        """The stored states of ``symbols`` on the grid with their ``updated_ns`` stamp (symbols without one are
        left out)."""
        if not symbols:
            return {}
        rows = self._fetchall("signal_states_of", {"bar_seconds": bar_seconds, "symbols": list(symbols)})
        return {str(r[0]): (SignalStateRow(str(r[0]), int(r[1]), int(r[2]), str(r[3])), int(r[4])) for r in rows}

    # --- reads for the server ------------------------------------------------------------------------
    def query(self, name: str, params: Mapping[str, Any], limit: int) -> QueryResult:
        """Run a named read query in a read-only transaction, interrupted after the time limit.

        Fetches ``limit + 1`` rows to tell whether more exist (``truncated``).
        """
        statement = self._queries[name]
        bound = dict(params)
        if "row_limit" in statement.params:
            bound["row_limit"] = limit + 1
        try:
            with self._timed_read() as cursor:
                result = cursor.execute(statement.text, bound)
                columns = [d[0] for d in result.description or []]
                rows = result.fetchmany(limit + 1)
                result.abort()
        except duckdb.InterruptException as exc:
            raise QueryTimeout(
                f"query {name!r} exceeded MCP_QUERY_TIMEOUT_MS={self._query_timeout_s * 1000:.0f}"
            ) from exc
        except duckdb.Error as exc:
            raise StorageError(f"query {name!r} failed: {exc}") from exc
        return QueryResult(columns=columns, rows=rows[:limit], truncated=len(rows) > limit)

    @contextmanager
    def _timed_read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor in a read-only transaction (a read-only file needs none), interrupted by the
        watchdog after the time limit; rolled back when the block ends."""
        cursor = self._cursor()
        with _WATCHDOG.watch(cursor.interrupt, self._query_timeout_s):
            if not self._read_only:
                cursor.execute("BEGIN TRANSACTION READ ONLY")
            try:
                yield cursor
            finally:
                if not self._read_only:
                    cursor.execute("ROLLBACK")

    def run_sql(self, sql: str, limit: int) -> SqlResult:
        """Run an analyst's checked statement in a read-only transaction, interrupted after the time limit.

        One analyst statement runs at a time; a second waits for at most the time limit. Streams the result
        and stops after ``limit + 1`` rows (``truncated``).

        Parameters
        ----------
        sql
            A statement :func:`server.sql_guard.check_read_only` returned.
        limit
            Rows to keep.
        """
        if not self._analyst_slot.acquire(timeout=self._query_timeout_s):
            raise QueryTimeout("another analyst SQL statement held the analyst slot for "
                               f"MCP_QUERY_TIMEOUT_MS={self._query_timeout_s * 1000:.0f}")
        try:
            with self._timed_read() as cursor:
                relation = cursor.sql(sql)
                if relation is None:  # DuckDB ran a statement that is not a query (the check passes none)
                    raise StatementError("the statement is not a query")
                columns = [(str(name), str(kind)) for name, kind in zip(relation.columns, relation.types)]
                _refuse_inexact_types(relation.columns, relation.types)
                table = _first_rows(relation.to_arrow_reader(min(limit + 1, 10_000)), limit + 1)
        except duckdb.InterruptException as exc:
            timeout_ms = self._query_timeout_s * 1000
            raise QueryTimeout(f"the statement exceeded MCP_QUERY_TIMEOUT_MS={timeout_ms:.0f}") from exc
        except _STATEMENT_ERRORS as exc:
            raise StatementError(str(exc)) from exc
        except duckdb.Error as exc:
            log.warning("analyst SQL failed in the database: %s", exc)
            raise StorageError("the database failed running the statement (the server log has the detail)") from exc
        finally:
            self._analyst_slot.release()
        return SqlResult(columns=columns, table=table.slice(0, limit), truncated=table.num_rows > limit)


#: DuckDB types that its Arrow export (every result format of analyst SQL) does not carry exactly: a UHUGEINT above
#: 2^127 - 1 comes back wrapped negative, BIT and BIGNUM as DuckDB's internal bytes, TIME WITH TIME ZONE without
#: its offset.
_INEXACT_IN_ARROW = frozenset({"uhugeint", "bit", "bignum", "time with time zone"})


def _inexact_in_arrow(kind: DuckDBPyType) -> str | None:
    """The first type inside ``kind`` (itself, a list's element, a struct's or map's fields) that Arrow does not
    carry exactly, or None."""
    if kind.id in _INEXACT_IN_ARROW:
        return str(kind)
    if kind.id in ("list", "array", "struct", "map", "union"):
        for _, child in kind.children:
            if not isinstance(child, DuckDBPyType):  # an ARRAY's size, an ENUM's values
                continue
            found = _inexact_in_arrow(child)
            if found:
                return found
    return None


def _refuse_inexact_types(names: list[str], kinds: list[DuckDBPyType]) -> None:
    """Refuse a result with a column whose values the result formats would change (a wrong number is worse than
    an error); the message names the column, the type and the way out."""
    for name, kind in zip(names, kinds):
        found = _inexact_in_arrow(kind)
        if found:
            inside = "" if found == str(kind) else f" ({found} inside)"
            raise StatementError(f"column {name!r} has type {kind}{inside}, whose values the result formats cannot "
                                 "carry exactly: CAST it to VARCHAR (or to HUGEINT, DECIMAL or TIME when its values "
                                 "fit)")


def _first_rows(reader: pa.RecordBatchReader, n: int) -> pa.Table:
    """Read batches from ``reader`` until it holds ``n`` rows or ends; close it."""
    batches: list[pa.RecordBatch] = []
    rows = 0
    try:
        while rows < n:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            batches.append(batch)
            rows += batch.num_rows
    finally:
        reader.close()
    return pa.Table.from_batches(batches, schema=reader.schema).slice(0, n)
