"""The runtime file beside a DuckDB database: who owns it and where its HTTP server answers.

DuckDB lets one process hold a file (DESIGN §3). The process that holds it writes
``<DUCKDB_PATH>.owner.json`` (:func:`runtime_path`) once it is ready: its server URL (``null`` when it hosts no
``serve`` role), pid, roles, start time and version, and no secret. Other processes read it to talk to the
owner instead of the file (``microstructure sql``, ``serve --transport stdio``) or to name it when they are
refused the file (:func:`holder_message`). The file is written atomically (temporary file + rename) and
removed on clean shutdown; a file whose pid is not running is stale and ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from sql.backend import DatabaseHeld
from sql.settings import Settings

__all__ = ["OwnerRecord", "find_owner", "holder_message", "owning", "owning_database", "runtime_path", "server_url"]

_SUFFIX = ".owner.json"


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """What the runtime file says about the process holding the database."""

    url: str | None
    pid: int
    roles: list[str]
    started_at: str
    version: str


def runtime_path(database: Path | str) -> Path:
    """Return the runtime file of the DuckDB file ``database``: ``<database>.owner.json``."""
    return Path(f"{database}{_SUFFIX}")


def server_url(host: str, port: int) -> str:
    """The base URL other local processes reach a server bound to ``host:port`` at (a wildcard bind is reached
    on the loopback address)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, under another user
        return True
    return True


def find_owner(database: Path | str) -> OwnerRecord | None:
    """Return the live owner of ``database`` from its runtime file, or ``None`` when there is no file, it is
    unreadable, or its process is not running (a stale file left by a killed process)."""
    try:
        record = json.loads(runtime_path(database).read_text())
        owner = OwnerRecord(url=record["url"], pid=int(record["pid"]), roles=list(record["roles"]),
                            started_at=str(record["started_at"]), version=str(record["version"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if owner.pid > 0 and _pid_alive(owner.pid) else None


def _version() -> str:
    try:
        return metadata.version("microstructure")
    except metadata.PackageNotFoundError:
        return "unknown"


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def owning(database: Path | str, roles: Sequence[str]) -> Iterator[Callable[[str | None], None]]:
    """Own the runtime file of ``database`` while the block runs; remove it when the block ends.

    Yields a function ``publish(url)`` the owner calls once it is ready (its server listens, or ``None``
    without a server); it (re)writes the file atomically, replacing a stale one. On exit the file is removed
    if it is still this process's.
    """
    path = runtime_path(database)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def publish(url: str | None) -> None:
        record = OwnerRecord(url=url, pid=os.getpid(), roles=list(roles), started_at=started_at, version=_version())
        _write_atomically(path, json.dumps(asdict(record), indent=2) + "\n")

    try:
        yield publish
    finally:
        owner = find_owner(database)
        if owner is not None and owner.pid == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def owning_database(settings: Settings, roles: Sequence[str]) -> contextlib.AbstractContextManager[
        Callable[[str | None], None]]:
    """:func:`owning` for the database of ``settings``, entered once this process holds it (nothing to own on
    Vertica: its ``publish`` does nothing)."""
    if settings.db_backend != "duckdb":
        return contextlib.nullcontext(lambda url: None)
    return owning(settings.duckdb_path, roles)


def holder_message(exc: DatabaseHeld) -> str:
    """One line naming who holds the database of ``exc`` and where it answers (runtime file first, then the
    pid DuckDB reported)."""
    owner = find_owner(exc.path)
    if owner is not None:
        held = f"{exc.path} is held by microstructure pid {owner.pid} (roles {','.join(owner.roles)}"
        if owner.url:
            return f"{held}, serving {owner.url}); use that process (e.g. 'microstructure sql') or stop it first"
        return f"{held}, without an HTTP server); stop it first, or run it with the serve role (microstructure up)"
    holder = f"pid {exc.pid}" if exc.pid is not None else "another process"
    return (f"{exc.path} is held by {holder} (no runtime file names its URL); stop it first or set DUCKDB_PATH "
            "elsewhere")
