"""Numbered schema migrations of one dialect: which a database needs, and their statements.

A database records its layout in ``schema_version`` (``schema/000_schema_version.sql``): one row per migration
applied (``version``, ``name``, ``applied_at_ns``); its version is the largest ``version``. Migrations live
beside the schema files, in ``sql/<dialect>/migrations/NNN_name.sql``, numbered from 1 without gaps, and are
never edited once shipped: a later change is a new file.

How a database's version is told (:func:`stored_version`):

* ``schema_version`` has rows: the largest ``version``.
* no ``schema_version`` rows but a ``market_data`` table: a file made before versioning, **version 0**; every
  migration runs (each one written so it is right on any pre-versioning layout, with a ``-- when:`` check
  where it must not run on all of them).
* neither: a new database. The schema files create the newest layout, so it is stamped with the newest
  version (one row, name ``created``) and no migration runs.

A migration file may hold several statements, each ending with ``;`` (none inside a literal). Its header::

    -- name: market_data_without_key
    -- when: market_data_has_key

``when`` names a query of ``sql/<dialect>/queries/`` returning one boolean; when false the statements are
skipped and the migration is still recorded (there was nothing to change). A database whose version is newer
than the newest migration this code ships is refused (:class:`SchemaTooNew`), naming both versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from sql.backend import StorageError
from sql.queries import load_registry, split_statements

__all__ = ["CREATED", "Migration", "SchemaTooNew", "latest_version", "load_migrations", "pending", "run_migration",
           "stored_version"]

#: ``schema_version.name`` of the row that stamps a database created at the newest layout.
CREATED = "created"

_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_HEADER = re.compile(r"^--[ \t]*(name|when):[ \t]*(.*?)[ \t]*$", re.M)  # within one line: an empty value is empty


class SchemaTooNew(StorageError):
    """The database was migrated by newer code than this one."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered migration: its version, name, optional ``when`` query and statements in order."""

    version: int
    name: str
    when: str | None
    statements: tuple[str, ...]


@cache
def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """Every migration of ``sql/<dialect>/migrations/``, in version order.

    Raises
    ------
    ValueError
        When a file name is not ``NNN_name.sql``, its header name differs, or the versions are not 1, 2, ...
    """
    root = resources.files("sql").joinpath(dialect, "migrations")
    found = []
    for entry in sorted((e for e in root.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name):
        match = _FILE.match(entry.name)
        where = f"sql/{dialect}/migrations/{entry.name}"
        if match is None:
            raise ValueError(f"{where}: a migration file is named NNN_name.sql")
        text = entry.read_text(encoding="utf-8")
        header = dict(_HEADER.findall(text))
        if header.get("name") != match.group(2):
            raise ValueError(f"{where}: header '-- name: {match.group(2)}' missing or different")
        found.append(Migration(int(match.group(1)), match.group(2), header.get("when") or None,
                               tuple(split_statements(text))))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"sql/{dialect}/migrations: versions must be 1, 2, ... without gaps, found {versions}")
    return tuple(found)


def latest_version(dialect: str) -> int:
    """The version of the newest migration this code ships (0 without migrations)."""
    migrations = load_migrations(dialect)
    return migrations[-1].version if migrations else 0


def stored_version(recorded: int | None, has_market_data: bool) -> int | None:
    """The version of a database: ``recorded`` (largest ``schema_version.version``), 0 for a pre-versioning
    file that has ``market_data``, ``None`` for a new database."""
    if recorded is not None:
        return int(recorded)
    return 0 if has_market_data else None


def pending(dialect: str, version: int, where: str) -> tuple[Migration, ...]:
    """The migrations a database at ``version`` still needs, in order.

    Parameters
    ----------
    dialect
        ``duckdb`` or ``vertica``.
    version
        The database's version (:func:`stored_version`).
    where
        Names the database in the error (e.g. ``DUCKDB_PATH 'data/x.duckdb'``).

    Raises
    ------
    SchemaTooNew
        When ``version`` is newer than :func:`latest_version`; one line naming both versions.
    """
    latest = latest_version(dialect)
    if version > latest:
        raise SchemaTooNew(f"{where} has schema version {version}, newer than this code's {latest}: "
                           "it was written by a newer microstructure; upgrade the code to open it")
    return tuple(m for m in load_migrations(dialect) if m.version > version)


def run_migration(cursor: Any, dialect: str, migration: Migration) -> bool:
    """Run ``migration``'s statements on ``cursor`` (in the caller's transaction) unless its ``when`` check
    (``sql/<dialect>/migrations/checks/``) says there is nothing to change; return whether they ran."""
    if migration.when is not None:
        cursor.execute(load_registry(dialect, "migrations/checks")[migration.when].text)
        if not cursor.fetchone()[0]:
            return False
    for statement in migration.statements:
        cursor.execute(statement)
    return True
