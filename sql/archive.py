"""Retention: move old (market, date, symbol) partitions of the live DuckDB file to a Parquet archive.

Which rows leave: for a table whose retention (``RETAIN_TRADES_DAYS``, ``RETAIN_QUOTES_DAYS``,
``RETAIN_SIGNALS_DAYS``) is on, every UTC day older than the newest ``N`` days of that table (counted back from
its newest row's day, so a replay of old data is treated like a live feed). A trades or quotes partition leaves
only when its signals are final: the transform's watermark of the symbol (``signal_state.last_bar_end_ns`` on
the ``BAR_SECONDS`` grid) is past the partition's newest row, and so is the symbol's newest ``bar_realized_spread``
row (:mod:`udx.realized_step` reads live trades and quotes; a symbol without live bars needs none). A signals
partition leaves only once each of its bars has its ``bar_realized_spread`` row, which is due
``LIQUIDITY_HORIZON_SECONDS`` after the bar's end: it then leaves with its bars, and no row is ever written for a
bar no longer live (``insert_bar_realized_spread``). Others wait and are reported (``waiting``).

The tables that leave are :data:`sql.archive_paths.ARCHIVED_TABLES`; a table keyed like ``trading_signals``
(``bar_liquidity``) is a follower of it: its rows of a signals chunk (same market, day and symbols) leave in
the same transaction, into files of its own folder with manifest rows of their own.

How a chunk (one table, market and day, with its followers' rows) leaves, in this order, so that a kill at any
point loses nothing and duplicates nothing (the rows are always either live or in a committed archive file, never both in a view):

1. Under the process's write lock, in one transaction: ``COPY`` the chunk's rows to a fresh folder under
   ``ARCHIVE_PATH/.staging`` (one Parquet file per symbol), read every file back (rows per symbol, first and
   last time) and compare with the live rows, fsync each file (and its SHA-256), then insert the manifest rows
   (``archive_manifest``, ``placed = false``) and delete the same rows from the live table (same predicate,
   the deleted count checked), and commit. A kill before the commit leaves the live rows and a staging folder
   that the next run discards.
2. Move each file to ``ARCHIVE_PATH/<folder>/market=/date=/symbol=/part-<ns>-<i>.parquet`` (rename, fsync the
   folders) and mark the chunk placed. A kill in between leaves committed rows whose files wait in staging:
   the next run finishes the move first (checking the checksum), before it discards any staging folder.

Between a chunk's commit and the rename its rows are briefly in neither the live table nor a placed file, so
the ``*_all`` views miss them for that moment (they never show a row twice). A table's first placed file
switches its view to the archive at once (the views are recreated). Once a partition is archived its live rows are gone, so a second run finds nothing to do (idempotent); late
rows for an archived day become a new part file of that partition. The live file then checkpoints: the freed
blocks are reused by later appends, but the file only shrinks with :mod:`sql.compact` (owner stopped).

Daily metrics stay longer: before anything moves, the run writes the ``daily_metrics`` row of every final
day (as the transform does), and a trades or signals partition leaves only once its day's row is written,
so ``symbol_metrics`` keeps answering for archived days. ``RETAIN_METRICS_DAYS`` (0: for ever) deletes older
rows.

Everything runs in the process that holds the file for writing: ``microstructure archive`` with the owner
stopped, or the owner itself (``ARCHIVE_INTERVAL_SECONDS``). Within it, the write lock pauses ingest and the
transform for the length of one chunk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sql.archive_paths import ARCHIVED_TABLES, STAGING, ArchivedTable, check_archive_root, render, sql_literal
from sql.backend import StorageError
from sql.queries import load_registry

if TYPE_CHECKING:
    from sql.duckdb_backend import DuckDBStorage
    from sql.settings import Settings

__all__ = ["ArchiveError", "ArchiveReport", "archive", "fsync_dir", "fsync_file"]

log = logging.getLogger("microstructure.archive")

_NS_PER_DAY = 86_400_000_000_000
_MARKET = re.compile(r"^[A-Za-z0-9_-]+$")
_MANIFEST = pa.schema([
    ("table_name", pa.string()), ("market", pa.string()), ("day", pa.date32()), ("symbol", pa.string()),
    ("path", pa.string()), ("staged_path", pa.string()), ("n_rows", pa.int64()), ("n_bytes", pa.int64()),
    ("sha256", pa.string()), ("first_ns", pa.int64()), ("last_ns", pa.int64()), ("archived_at_ns", pa.int64()),
    ("placed", pa.bool_()),
])  # fmt: skip


class ArchiveError(StorageError):
    """The archive could not be written or checked; the live rows of the chunk are untouched."""


@dataclass(slots=True)
class ArchiveReport:
    """What one run did: partitions and rows moved, files and bytes written, files placed from an earlier
    run, and the partitions that wait for the transform (``"<folder> <market> <date> <symbol>"``)."""

    partitions: int = 0
    rows: int = 0
    files: int = 0
    bytes: int = 0
    recovered: int = 0
    waiting: list[str] = field(default_factory=list)
    retention_off: bool = False
    metrics_deleted: int = 0

    def summary(self) -> str:
        """One line for logs and the command."""
        if self.retention_off and not self.recovered:
            return ("retention is off (RETAIN_TRADES_DAYS, RETAIN_QUOTES_DAYS and RETAIN_SIGNALS_DAYS are 0): "
                    "nothing to archive")
        line = (f"archived {self.partitions} partition(s), {self.rows:,} rows into {self.files} Parquet file(s) "
                f"({self.bytes / 1e6:.1f} MB)")
        if self.recovered:
            line += f"; placed {self.recovered} file(s) an earlier run had committed"
        if self.metrics_deleted:
            line += f"; deleted {self.metrics_deleted:,} daily_metrics row(s) older than RETAIN_METRICS_DAYS"
        if self.waiting:
            shown = ", ".join(self.waiting[:5]) + (" ..." if len(self.waiting) > 5 else "")
            line += f"; {len(self.waiting)} partition(s) wait for the transform (signals not final): {shown}"
        return line


@dataclass(frozen=True, slots=True)
class _Staged:
    """One staged file of a chunk: where it waits, where it goes, and what it holds."""

    symbol: str
    staged: Path
    final: Path
    n_rows: int
    first_ns: int
    last_ns: int
    folder: str = ""   #: the archived table's folder (archive_manifest.table_name)
    sha256: str = ""   #: of the staged file, once flushed
    n_bytes: int = 0


def archive(storage: DuckDBStorage, settings: Settings) -> ArchiveReport:
    """Move every partition the retention settings let go to the Parquet archive (module docstring).

    Parameters
    ----------
    storage
        The DuckDB file, opened for writing by this process.
    settings
        ``RETAIN_*_DAYS``, ``ARCHIVE_PATH`` (``Settings.archive_root``) and ``BAR_SECONDS``.

    Returns
    -------
    ArchiveReport

    Raises
    ------
    ArchiveError
        When a written file does not hold the rows it should, or an archived file is missing; the chunk being
        written is rolled back (its rows stay live).
    """
    root = check_archive_root(settings.archive_root())
    report = ArchiveReport(recovered=_recover(storage, root),
                           retention_off=not any(getattr(settings, t.setting) for t in ARCHIVED_TABLES)
                           and not settings.retain_metrics_days)
    shutil.rmtree(root / STAGING, ignore_errors=True)  # anything left there was never committed
    queries = load_registry("duckdb", "archive")
    newest_trade = storage.newest_trade_ns()
    if newest_trade is not None:  # the days that leave keep their metrics: written first, as by the transform
        storage.write_daily_metrics(settings.bar_seconds,
                                    newest_trade - round(settings.transform_lateness_seconds * 1e9))
    if settings.retain_metrics_days:
        with storage.archive_transaction() as cursor:
            (report.metrics_deleted,) = cursor.execute(queries["delete_daily_metrics"].text,
                                                       {"days": settings.retain_metrics_days}).fetchall()[0]
    reading = {row[0] for row in storage.fetch_all(queries["placed_tables"].text)}  # views reading the archive
    for table in ARCHIVED_TABLES:
        days = int(getattr(settings, table.setting))
        if not days:
            continue
        (newest,) = storage.fetch_one(queries[f"newest_{table.live}"].text)
        if newest is None:
            continue
        before_ns = (int(newest) // _NS_PER_DAY - days + 1) * _NS_PER_DAY
        due = queries[f"due_{table.live}"]
        params = {"before_ns": before_ns, "bar_seconds": settings.bar_seconds}
        chunks: dict[tuple[str, dt.date], list[tuple[Any, ...]]] = defaultdict(list)
        for row in storage.fetch_all(due.text, {k: params[k] for k in due.params}):
            chunks[(row[0], row[1])].append(row)
        for (market, day), rows in chunks.items():
            ready = [r for r in rows if r[6]]
            report.waiting += [f"{table.folder} {market} {day} {r[2]}" for r in rows if not r[6]]
            if ready:
                written = _archive_chunk(storage, root, table, market, day, ready, [r[2] for r in rows if not r[6]])
                report.partitions += len(ready)
                report.rows += sum(f.n_rows for f in written)
                report.files += len(written)
                report.bytes += sum(f.n_bytes for f in written)
                if {f.folder for f in written} - reading:  # a first file: from now on its view reads the archive
                    storage.create_views()
                    reading |= {f.folder for f in written}
    if report.partitions or report.recovered:
        storage.checkpoint()
        storage.create_views()
    log.info("%s", report.summary())
    return report


def _archive_chunk(storage: DuckDBStorage, root: Path, table: ArchivedTable, market: str, day: dt.date,
                   ready: Sequence[tuple[Any, ...]], excluded: list[str]) -> list[_Staged]:
    """Write, check and commit one chunk with its followers' rows, then place the files (steps 1 and 2 of the
    module docstring); return the files with the folder each went to."""
    if not _MARKET.match(market):
        raise ArchiveError(f"market {market!r} cannot name an archive folder")
    queries = load_registry("duckdb", "archive")
    archived_at = time.time_ns()
    start_ns = (day - dt.date(1970, 1, 1)).days * _NS_PER_DAY
    params = {"market": market, "day_start_ns": start_ns, "day_end_ns": start_ns + _NS_PER_DAY, "excluded": excluded}
    staged: list[_Staged] = []
    with storage.archive_transaction() as cursor:
        expected = {table: {str(r[2]): (int(r[3]), int(r[4]), int(r[5])) for r in ready}}
        for follower in table.followers:
            counted = cursor.execute(follower.statement(queries[follower.query("count")].text), params).fetchall()
            if counted:
                expected[follower] = {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in counted}
        for part, rows in expected.items():
            staged += _stage(cursor, root, part, market, day, archived_at, params, rows)
        manifest = pa.Table.from_pylist([{
            "table_name": f.folder, "market": market, "day": day, "symbol": f.symbol,
            "path": str(f.final.relative_to(root)), "staged_path": str(f.staged.relative_to(root)),
            "n_rows": f.n_rows, "n_bytes": f.n_bytes, "sha256": f.sha256, "first_ns": f.first_ns,
            "last_ns": f.last_ns, "archived_at_ns": archived_at, "placed": False,
        } for f in staged], schema=_MANIFEST)
        cursor.register("archive_batch", manifest)
        try:
            cursor.execute(queries["record"].text)
        finally:
            cursor.unregister("archive_batch")
        for part, rows in expected.items():
            (deleted,) = cursor.execute(part.statement(queries[part.query("delete")].text), params).fetchone()
            _check_deleted(int(deleted), sum(n for n, _, _ in rows.values()), f"{part.folder} {market} {day}")
    _place([(f.staged, f.final) for f in staged])
    storage.execute_write(queries["mark_placed"].text, {"archived_at_ns": archived_at})
    return staged


def _stage(cursor: Any, root: Path, table: ArchivedTable, market: str, day: dt.date, archived_at: int,
           params: dict[str, Any], expected: dict[str, tuple[int, int, int]]) -> list[_Staged]:
    """Export one table's rows of a chunk to a fresh staging folder, read them back, check them against
    ``expected`` (rows, first and last time per symbol) and flush the files to disk."""
    queries = load_registry("duckdb", "archive")
    partition = Path(table.folder, f"market={market}", f"date={day.isoformat()}")
    stage = root / STAGING / partition / str(archived_at)
    stage.mkdir(parents=True, exist_ok=True)
    export = table.statement(queries[table.query("export")].text)
    cursor.execute(render(export, sql_literal(str(stage))), params)
    readback = cursor.execute(render(table.statement(queries[table.query("readback")].text),
                                     sql_literal(str(stage / "*" / "*.parquet")))).fetchall()
    files = _check_files(readback, expected, root / partition, archived_at, f"{table.folder} {market} {day}")
    done = []
    for f in files:
        digest, size = fsync_file(f.staged)
        done.append(_Staged(f.symbol, f.staged, f.final, f.n_rows, f.first_ns, f.last_ns, table.folder, digest,
                            size))
    for folder in {f.staged.parent for f in files} | {stage}:
        fsync_dir(folder)
    return done


def _check_files(readback: Sequence[tuple[Any, ...]], expected: dict[str, tuple[int, int, int]], partition: Path,
                 archived_at: int, chunk: str) -> list[_Staged]:
    """The staged files of a chunk, checked against the live rows: every symbol's rows, first and last time."""
    found: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in readback:
        found[str(row[1])].append(row)
    if set(found) != set(expected):
        raise ArchiveError(f"{chunk}: the staged files hold symbols {sorted(found)[:5]}..., the live table "
                           f"{sorted(expected)[:5]}...; nothing deleted")
    staged = []
    for symbol, rows in sorted(found.items()):
        n, first, last = expected[symbol]
        got = (sum(int(r[2]) for r in rows), min(int(r[3]) for r in rows), max(int(r[4]) for r in rows))
        if got != (n, first, last):
            raise ArchiveError(f"{chunk} {symbol}: read back {got} (rows, first_ns, last_ns) from the staged files, "
                               f"the live table has {(n, first, last)}; nothing deleted")
        for i, row in enumerate(sorted(rows)):
            source = Path(row[0])
            staged.append(_Staged(symbol, source, partition / source.parent.name / f"part-{archived_at}-{i}.parquet",
                                  int(row[2]), int(row[3]), int(row[4])))
    return staged


def _check_deleted(deleted: int, archived: int, chunk: str) -> None:
    """The delete removed exactly the rows the files hold (else the transaction rolls back)."""
    if deleted != archived:
        raise ArchiveError(f"{chunk}: the delete matched {deleted:,} live rows, the files hold {archived:,}; "
                           "rolled back")


def _place(moves: Sequence[tuple[Path, Path]]) -> None:
    """Rename each staged file to its place and make the renames durable."""
    folders: set[Path] = set()
    for staged, final in moves:
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            folders |= {final.parent.parent, final.parent.parent.parent}
        os.replace(staged, final)
        folders |= {staged.parent, final.parent}
    for folder in folders:
        fsync_dir(folder)


def _recover(storage: DuckDBStorage, root: Path) -> int:
    """Place the files of chunks committed by a run that stopped before placing them; return how many."""
    queries = load_registry("duckdb", "archive")
    pending: dict[int, list[tuple[Path, Path]]] = defaultdict(list)
    for archived_at, path, staged_path, sha256 in storage.fetch_all(queries["unplaced"].text):
        final, staged = root / path, root / staged_path
        if final.exists() and fsync_file(final)[0] == sha256:
            continue
        if not staged.exists() or fsync_file(staged)[0] != sha256:
            raise ArchiveError(f"archived file {path} is in neither {final} nor {staged} with its checksum: its "
                               "rows left the live table; restore the file from a backup")
        pending[int(archived_at)].append((staged, final))
    placed = 0
    for archived_at, moves in pending.items():
        _place(moves)
        placed += len(moves)
    for archived_at in {int(r[0]) for r in storage.fetch_all(queries["unplaced"].text)}:
        storage.execute_write(queries["mark_placed"].text, {"archived_at_ns": archived_at})
    return placed


def fsync_file(path: Path) -> tuple[str, int]:
    """Flush ``path`` to disk; return its SHA-256 (hex) and size in bytes."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
        os.fsync(handle.fileno())
    return digest.hexdigest(), size


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
