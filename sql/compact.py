"""Make a DuckDB file smaller: copy its live rows into a new file and swap it in atomically.

Deleting rows (the archive) and ``CHECKPOINT`` free the blocks those rows used, and later appends reuse them,
so a file under retention stops growing; but in the DuckDB of this project the file keeps its size, and
``VACUUM`` does not change that (``bench/bench_retention.py`` measures both). What shrinks it is a copy:
``COPY FROM DATABASE`` into a new file writes only live rows, in fresh blocks.

Order, so that a kill at any point leaves a whole database at ``DUCKDB_PATH``:

1. Open the file for writing (refused with :class:`sql.backend.DatabaseHeld` while another process, such as
   the embedded owner, holds it: compaction runs with every other user of the file stopped) and checkpoint.
2. ``ATTACH`` ``<DUCKDB_PATH>.compact`` (a stale one from a killed run is deleted first), copy the database
   into it, compare every table's row count, ``DETACH`` (which checkpoints it), fsync it.
3. Close the original, then rename the copy over it and fsync the folder. A kill before the rename leaves the
   original untouched (the next run deletes the partial copy); the rename itself is atomic.

The owner cannot do this while it serves: every open connection would have to move to the new file. It
archives and checkpoints on its own (``ARCHIVE_INTERVAL_SECONDS``); run ``microstructure archive --compact``
during a pause to give the space back to the file system.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from sql.archive import fsync_dir, fsync_file
from sql.archive_paths import check_sql_path, render, sql_identifier, sql_literal
from sql.backend import StorageError
from sql.duckdb_backend import connect_file, instance_config
from sql.queries import QueryRegistry, load_registry

if TYPE_CHECKING:
    from sql.settings import Settings

__all__ = ["CompactError", "CompactReport", "compact"]

log = logging.getLogger("microstructure.compact")

_MARKER = "__TARGET__"


class CompactError(StorageError):
    """The copy did not match the original; the original file is untouched."""


@dataclass(frozen=True, slots=True)
class CompactReport:
    """File size before (after a checkpoint) and after, and the seconds the copy and swap took."""

    bytes_before: int
    bytes_after: int
    seconds: float

    def summary(self) -> str:
        """One line for logs and the command."""
        return (f"compacted {self.bytes_before / 1e6:,.1f} MB -> {self.bytes_after / 1e6:,.1f} MB "
                f"in {self.seconds:.1f} s")


def compact(settings: Settings) -> CompactReport:
    """Rewrite ``DUCKDB_PATH`` with only its live rows (module docstring); return the sizes.

    Raises
    ------
    sql.backend.DatabaseHeld
        When another process holds the file.
    CompactError
        When a table of the copy has other row counts than the original (the copy is deleted).
    """
    started = time.perf_counter()
    path = check_sql_path(Path(settings.duckdb_path), "DUCKDB_PATH")
    if not path.exists():
        raise StorageError(f"DUCKDB_PATH {str(path)!r} does not exist")
    copy = path.with_name(path.name + ".compact")
    _discard(copy)
    statements = load_registry("duckdb", "compact")
    connection = connect_file(path, read_only=False, config=instance_config(settings))
    try:
        connection.execute(statements["checkpoint"].text)
        before = path.stat().st_size
        (database,) = connection.execute(statements["current_database"].text).fetchone()  # type: ignore[misc]
        connection.execute(render(statements["attach_copy"].text, sql_literal(str(copy)), _MARKER))
        try:
            connection.execute(render(statements["copy_database"].text, sql_identifier(database), _MARKER))
            _check_counts(connection, statements, database)
        finally:
            connection.execute(statements["detach_copy"].text)
    except BaseException:
        connection.close()
        _discard(copy)
        raise
    connection.close()
    fsync_file(copy)
    _swap(copy, path)
    report = CompactReport(before, path.stat().st_size, time.perf_counter() - started)
    log.info("%s: %s", path, report.summary())
    return report


def _check_counts(connection: duckdb.DuckDBPyConnection, statements: QueryRegistry, database: str) -> None:
    """Every table of the original has as many rows in the copy."""
    count = statements["count_rows"].text
    for (table,) in connection.execute(statements["catalog_tables"].text, {"database": database}).fetchall():
        counts = [connection.execute(render(count, f"{sql_identifier(db)}.{sql_identifier(table)}", _MARKER))
                  .fetchone()[0] for db in (database, "compacted")]  # type: ignore[index]
        if counts[0] != counts[1]:
            raise CompactError(f"table {table}: {counts[0]:,} rows in the file, {counts[1]:,} in the copy; "
                               "the file is left as it was")


def _swap(copy: Path, path: Path) -> None:
    """Rename the finished copy over the original and make it durable."""
    if Path(f"{path}.wal").exists():
        raise CompactError(f"{path}.wal appeared after the copy (another process opened the file); the copy "
                           f"{copy} is left unused")
    os.replace(copy, path)
    fsync_dir(path.parent)


def _discard(copy: Path) -> None:
    """Delete a copy (and its WAL) a killed or failed run left behind."""
    for stale in (copy, Path(f"{copy}.wal")):
        stale.unlink(missing_ok=True)
