"""Statements of ``sql/vertica/`` run in a real DuckDB database, where no Vertica server runs: their logic is
checked on a real engine against the DuckDB twins; and :meth:`VerticaOnDuckDB.connect`, a stand-in for a
vertica-python connection over it, so that :class:`sql.vertica_backend.VerticaStorage` itself runs them (its pools,
COPY text and transactions) where no server is. Retention's partition functions (``MOVE_PARTITIONS_TO_TABLE``,
``DROP_PARTITIONS``, ``EXPORT TO PARQUET``) are emulated there by row moves, deletes and DuckDB's hive-partitioned
``COPY`` (:data:`_PARTITION_FUNCTIONS`): what they do to rows, not how Vertica does it. The UDx
``batch_microstructure`` is emulated too (:func:`_udx_insert`): the statement's ``FROM`` runs in DuckDB, its rows are
cut into the ``OVER (PARTITION BY ... ORDER BY ...)`` partitions, and each drives ``udx.vertica_udx``'s transform
function through the SDK doubles of :mod:`tests.udx.vertica_sdk_doubles`, its output inserted as the ``INSERT``
names it: the real UDx code fed as the statement feeds it.

Each statement is bound by vertica-python's own client-side binding (``Cursor.format_operation_with_parameters``:
the text the client sends), then the few spellings only Vertica has are rewritten to DuckDB's (:data:`REWRITES`,
each named); a statement with any other Vertica-only construct (:data:`REFUSED`) is refused, never guessed. The
tables are the DuckDB contract tables (``sql/duckdb/schema``); the Vertica-only tables (``<table>_archive``, the
session stages) are created like the table they mirror, the views are DuckDB's twins.
This proves what the statements compute, not that Vertica
accepts their text: the ``vertica``-marked tests check that on a real server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from vertica_python.vertica.cursor import Cursor

from sql.queries import load_registry

__all__ = ["REFUSED", "REWRITES", "VerticaOnDuckDB", "parse_copy", "to_duckdb"]

#: Vertica spelling -> DuckDB spelling (regular expressions), applied in order to the bound text.
REWRITES = (
    # Vertica's top-k per partition; DuckDB's QUALIFY keeps the same first rows
    ("LIMIT n OVER (window)", re.compile(r"\bLIMIT\s+(\d+)\s+OVER\s*\(([^()]*)\)", re.I),
     r"QUALIFY row_number() OVER (\2) <= \1"),
    # vertica-python sends a list as ARRAY[...]; the cast names Vertica's element type
    ("::ARRAY[VARCHAR(n)]", re.compile(r"::ARRAY\[VARCHAR\(\d+\)\]", re.I), ""),
)
#: Vertica constructs DuckDB has no twin for here: a statement holding one is refused.
REFUSED = ("MOVE_PARTITIONS_TO_TABLE", "DROP_PARTITIONS", "EXPORT TO PARQUET", "INTERPOLATE",
           "SET SESSION", "LOCAL TEMPORARY", "SEGMENTED")
#: Vertica-only tables -> the contract table each is created like.
MIRRORS = {"market_data_archive": "market_data", "quotes_archive": "quotes",
           "trading_signals_archive": "trading_signals"}
#: Vertica column types of the staging DDL -> DuckDB's (Vertica's INTEGER is 64 bits, its FLOAT a double).
_STAGE_TYPES = ((re.compile(r"\bLONG VARCHAR(?:\(\d+\))?|\bVARCHAR\(\d+\)"), "VARCHAR"),
                (re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bFLOAT\b"), "DOUBLE"),
                (re.compile(r"\bLOCAL TEMPORARY\b"), ""), (re.compile(r"\s*ON COMMIT DELETE ROWS"), ""))
STAGES = tuple(s.name for s in load_registry("vertica", "staging"))
#: Vertica-only tables without a contract twin: created from their Vertica DDL (the column list; projection,
#: segmentation and partitioning clauses cut).
VERTICA_ONLY_TABLES = ("market_data_archive_keys", "market_data_unkeyed_days", "quotes_archive_keys",
                       "quotes_unkeyed_days")
_BINDER = Cursor(None, logging.getLogger("vertica_on_duckdb"))  # type: ignore[arg-type]


def to_duckdb(text: str, params: Mapping[str, Any] | None = None) -> str:
    """``text`` bound as vertica-python binds it, with :data:`REWRITES` applied.

    Raises
    ------
    ValueError
        When the statement holds a construct of :data:`REFUSED`.
    """
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    for word in REFUSED:
        if re.search(rf"\b{word}\b", code, re.I):
            raise ValueError(f"{word} has no DuckDB twin here; this statement cannot run in DuckDB")
    if re.search(r"\bTIMESTAMPADD\(\s*'(?!microsecond')", code, re.I):
        raise ValueError("TIMESTAMPADD is rewritten in microseconds only")
    bound = _BINDER.format_operation_with_parameters(code, dict(params)) if params else code
    for _, pattern, replacement in REWRITES:
        bound = pattern.sub(replacement, bound)
    return bound


class VerticaOnDuckDB:
    """An in-memory DuckDB database with the contract tables, running ``sql/vertica/`` statements."""

    def __init__(self, path: str = ":memory:") -> None:
        self.con = duckdb.connect(path)  # a file: the rows outlive a killed process, as a server's would
        for statement in load_registry("duckdb", "schema"):
            self.con.execute(statement.text)
        # TIMESTAMPADD in microseconds only (to_duckdb refuses another unit); a pure macro, so a window may
        # partition by it
        self.con.execute("CREATE OR REPLACE MACRO timestampadd(unit, n, ts) AS ts + to_microseconds(n)")
        for table, like in MIRRORS.items():
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM {like} LIMIT 0")
        for view in load_registry("duckdb", "views"):  # the views the statements read (DuckDB's twins)
            self.con.execute(view.text)
        schema = load_registry("vertica", "schema")
        texts = [s.text for s in load_registry("vertica", "staging")]  # session tables of Vertica: plain tables here
        texts += [schema[t].text[:schema[t].text.index("\n)") + 2] + ";" for t in VERTICA_ONLY_TABLES]
        for text in texts:
            for pattern, replacement in _STAGE_TYPES:
                text = pattern.sub(replacement, text)
            self.con.execute(text)

    def run(self, folder: str, name: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run the statement ``name`` of ``sql/vertica/<folder>/`` bound to the ``params`` it declares; its rows."""
        statement = load_registry("vertica", folder)[name]
        bound = {k: v for k, v in (params or {}).items() if k in statement.params}
        missing = set(statement.params) - set(bound)
        if missing:
            raise KeyError(f"{folder}/{name} misses parameters {sorted(missing)}")
        cursor = self.con.execute(to_duckdb(statement.text, bound))
        return cursor.fetchall() if cursor.description else []

    def put(self, table: str, rows: pa.Table) -> None:
        """Replace the rows of ``table`` (a stage or a contract table) by ``rows`` (its columns, by name)."""
        self.con.execute(f"DELETE FROM {table}")
        self.append(table, rows)

    def append(self, table: str, rows: pa.Table) -> None:
        """Add ``rows`` to ``table`` (columns by name)."""
        self.con.register("vertica_on_duckdb_rows", rows)
        try:
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM vertica_on_duckdb_rows")
        finally:
            self.con.unregister("vertica_on_duckdb_rows")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a plain DuckDB query (what a test reads back)."""
        return self.con.execute(sql).fetchall()

    def connect(self) -> _Session:
        """A new session (the ``connect`` of :class:`sql.vertica_backend.VerticaStorage`): its own DuckDB
        transaction, committed or rolled back as vertica-python's ``autocommit=False`` connection is."""
        return _Session(self)


def parse_copy(text: str) -> list[list[str | None]]:
    """A reference reader of the COPY format of :func:`sql.vertica_backend.copy_statement` (``DELIMITER '|'
    ENCLOSED BY ''''``, backslash escapes; an empty unenclosed field is NULL)."""
    rows, fields, field, quoted, enclosed, i = [], [], [], False, False, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            field.append(text[i + 1])
            i += 2
            continue
        if c == "'":
            quoted, enclosed = not quoted, True
        elif c in "|\n" and not quoted:
            fields.append("".join(field) if (field or enclosed) else None)
            field, enclosed = [], False
            if c == "\n":
                rows.append(fields)
                fields = []
        else:
            field.append(c)
        i += 1
    return rows


#: What a VerticaStorage session runs when it opens (sql/vertica/session, sql/vertica/staging): nothing to do here
#: (no time cap; the stages exist already and are emptied at every commit, as ON COMMIT DELETE ROWS does).
_SESSION_SETUP = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(?:SET SESSION|CREATE LOCAL TEMPORARY TABLE)", re.I)
_COPY = re.compile(r"^COPY (\w+) \(([^)]*)\) FROM STDIN ")


class _Socket:
    def settimeout(self, seconds: float) -> None:
        """The pool widens the socket timeout; there is no socket."""


class _Session:
    """One vertica-python connection stood in by one DuckDB connection (its own transaction)."""

    def __init__(self, db: VerticaOnDuckDB) -> None:
        self._con = db.con.cursor()
        self._con.begin()
        self.socket = _Socket()

    def cursor(self) -> _SessionCursor:
        return _SessionCursor(self._con)

    def commit(self) -> None:
        for stage in STAGES:  # ON COMMIT DELETE ROWS
            self._con.execute(f"DELETE FROM {stage}")
        self._con.commit()
        self._con.begin()

    def rollback(self) -> None:
        self._con.rollback()
        self._con.begin()

    def cancel(self) -> None:
        self._con.interrupt()

    def close(self) -> None:
        self._con.close()


class _SessionCursor:
    """The part of vertica-python's cursor VerticaStorage uses: execute, fetch, rowcount, description, copy."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._rows: list[tuple[Any, ...]] = []
        self.description: Any = None
        self.rowcount = -1

    def execute(self, text: str, params: Mapping[str, Any] | None = None) -> _SessionCursor:
        self._rows, self.description, self.rowcount = [], None, -1
        if _SESSION_SETUP.match(text):
            return self
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        bound = _BINDER.format_operation_with_parameters(code, dict(params)) if params else code
        if _UDX_INSERT.match(bound.strip()):
            self._rows = [(_udx_insert(self._con, bound.strip()),)]
            self.description, self.rowcount = [("OUTPUT",)], 1
            return self
        for pattern, emulate in _PARTITION_FUNCTIONS:
            match = pattern.match(bound.strip())
            if match is not None:
                self._rows = [emulate(self._con, *match.groups())]
                self.description, self.rowcount = [("result",)], 1
                return self
        result = self._con.execute(to_duckdb(text, params))
        if result.description:
            self.description = result.description
            self._rows = result.fetchall()
            self.rowcount = len(self._rows)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, n: int) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows

    def copy(self, statement: str, data: str) -> None:
        match = _COPY.match(statement)
        if match is None:
            raise ValueError(f"not a COPY of copy_statement: {statement[:80]}")
        table, columns = match.group(1), [c.strip() for c in match.group(2).split(",")]
        rows = parse_copy(data)
        text = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})
        self._con.register("vertica_copy_rows", text)
        try:  # DuckDB casts the text to each column's type on insert, as COPY parses it
            self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM vertica_copy_rows")
        finally:
            self._con.unregister("vertica_copy_rows")


# --- Vertica's partition functions, emulated for sql/vertica_retention.py --------------------------------------
#: The column each partitioned table's UTC day is taken from (sql/vertica/schema: PARTITION BY).
_PARTITION_TIME = {"market_data": "ts_ns", "market_data_archive": "ts_ns", "quotes": "ts_ns",
                   "quotes_archive": "ts_ns", "trading_signals": "bar_end_ns", "trading_signals_archive": "bar_end_ns"}


def _days(table: str, first: str, last: str) -> str:
    day = f"CAST(make_timestamp({_PARTITION_TIME[table]} // 1000) AS DATE)"
    return f"{day} BETWEEN DATE '{first}' AND DATE '{last}'"


def _move(con: duckdb.DuckDBPyConnection, table: str, first: str, last: str, target: str) -> tuple[str]:
    """``MOVE_PARTITIONS_TO_TABLE``: the rows of the days leave ``table`` for ``target`` (one transaction here;
    a catalog operation in Vertica)."""
    con.execute(f"INSERT INTO {target} SELECT * FROM {table} WHERE {_days(table, first, last)}")
    con.execute(f"DELETE FROM {table} WHERE {_days(table, first, last)}")
    return ("moved",)


def _drop(con: duckdb.DuckDBPyConnection, table: str, first: str, last: str) -> tuple[str]:
    """``DROP_PARTITIONS``: the rows of the days are gone."""
    con.execute(f"DELETE FROM {table} WHERE {_days(table, first, last)}")
    return ("dropped",)


def _export(con: duckdb.DuckDBPyConnection, directory: str, select: str) -> tuple[int]:
    """``EXPORT TO PARQUET ... OVER (PARTITION BY market, "date", symbol)``: DuckDB's hive-partitioned COPY of the
    same SELECT; the rows exported."""
    query = to_duckdb(select)
    (rows,) = con.execute(f"SELECT count(*) FROM ({query})").fetchone()  # type: ignore[misc]
    if rows:
        Path(directory).parent.mkdir(parents=True, exist_ok=True)  # the nodes' folder above the new one
        con.execute(f"COPY ({query}) TO '{directory}' (FORMAT parquet, PARTITION_BY (market, \"date\", symbol))")
    return (int(rows),)


_PARTITION_FUNCTIONS = (
    (re.compile(r"^SELECT MOVE_PARTITIONS_TO_TABLE\('(\w+)', '([\d-]+)', '([\d-]+)', '(\w+)'\);?$"), _move),
    (re.compile(r"^SELECT DROP_PARTITIONS\('(\w+)', '([\d-]+)', '([\d-]+)'\);?$"), _drop),
    (re.compile(r"^EXPORT TO PARQUET \(directory = '([^']*)', compression = 'zstd'\)\s*"
                r"OVER \(PARTITION BY market, \"date\", symbol\)\s*AS (SELECT .*?);?$", re.S), _export),
)


# --- the UDx batch_microstructure, emulated for VerticaStorage.run_transform_in_database -------------------------
_UDX_INSERT = re.compile(
    r"^INSERT INTO (\w+) \(([^)]*)\)\s*SELECT batch_microstructure\((.*?)\s+USING PARAMETERS\s+(.*?)\)\s*"
    r"OVER \(PARTITION BY (.*?)\s+ORDER BY (.*?)\)\s*FROM (.*?);?$", re.S)
_UDX_PARAM = re.compile(r"(\w+)\s*=\s*('(?:[^']|'')*'|-?\d+)")
#: Arguments of each batch_microstructure signature -> its factory (sql/vertica/udx/install.sql).
_UDX_FACTORIES = {5: "BatchMicrostructureFactory", 7: "BatchMicrostructureResumeFactory",
                  11: "BatchMicrostructureQuotesFactory", 12: "BatchMicrostructureRealizedFactory"}


def _udx_insert(con: duckdb.DuckDBPyConnection, bound: str) -> int:
    """``INSERT INTO t (...) SELECT batch_microstructure(args USING PARAMETERS ...) OVER (PARTITION BY k ORDER BY
    o) FROM f``: the rows of ``f`` in ``k, o`` order, one UDx call per partition; returns the rows inserted."""
    from tests.udx.vertica_sdk_doubles import run_udx
    from udx import vertica_udx

    match = _UDX_INSERT.match(bound)
    assert match is not None
    table, columns, args, params, partition, order, source = match.groups()
    values = {name: int(v) if not v.startswith("'") else v[1:-1].replace("''", "'")
              for name, v in _UDX_PARAM.findall(params)}
    arguments = [a.strip() for a in args.split(",")]
    factory = getattr(vertica_udx, _UDX_FACTORIES[len(arguments)])()
    feed = con.execute(to_duckdb(f"SELECT {partition} AS udx_partition, {', '.join(arguments)} FROM {source} "
                                 f"ORDER BY udx_partition, {order}")).fetchall()
    names = [c.strip() for c in columns.split(",")]
    out: list[list[Any]] = []
    start = 0
    for i in range(1, len(feed) + 1):
        if i == len(feed) or feed[i][0] != feed[start][0]:
            udx_names, rows = run_udx(factory, [r[1:] for r in feed[start:i]], values)
            assert len(udx_names) == len(names), (udx_names, names)  # INSERT names the UDx's columns by position
            out += rows
            start = i
    if out:
        table_rows = pa.table({name: pa.array([r[k] for r in out]) for k, name in enumerate(names)})
        con.register("vertica_udx_rows", table_rows)
        try:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM vertica_udx_rows")
        finally:
            con.unregister("vertica_udx_rows")
    return len(out)
