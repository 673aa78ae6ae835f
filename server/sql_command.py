"""``microstructure sql``: analysts' SQL from a terminal, through whoever may read the database.

While a process owns the DuckDB file and serves HTTP (found through its runtime file, :mod:`server.owner`),
each statement is sent to its ``POST /api/v1/sql`` (``MCP_AUTH_TOKEN`` as bearer when set); with no owner the
file is opened read-only here. Both paths run :func:`server.tools.analyst_sql.run_analyst_sql`, so the same
guard, row cap, byte cap and time limit apply. A statement prints as an aligned table, CSV, JSON (the page
``/api/v1/sql`` answers) or Parquet (to ``--output FILE`` or a redirected stdout).

With no statement: an interactive shell (stdlib ``readline``, history in ``$XDG_STATE_HOME/microstructure/
history`` or ``~/.microstructure_history``); a statement ends with ``;`` and may span lines; ``.help`` and
``.quit``; an error prints one line and the shell goes on.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import httpx2

from server.owner import find_owner
from sql.backend import Storage, StorageError, open_storage
from sql.settings import Settings

__all__ = ["FORMATS", "SqlCommandError", "format_table", "history_path", "open_source", "run_shell", "run_statement",
           "sql_main"]

FORMATS = ("table", "csv", "json", "parquet")


class SqlCommandError(RuntimeError):
    """A statement could not be answered; the message is one line for the analyst."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(part.strip() for part in message.splitlines() if part.strip()))


class _Source(Protocol):
    def run(self, sql: str, limit: int | None, fmt: str) -> bytes: ...

    def close(self) -> None: ...


class _Owner:
    """The process that owns the database, over HTTP."""

    def __init__(self, url: str, token: str | None, timeout_s: float) -> None:
        self.url = f"{url}/api/v1/sql"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = httpx2.Client(headers=headers, timeout=timeout_s)

    def run(self, sql: str, limit: int | None, fmt: str) -> bytes:
        body: dict[str, Any] = {"sql": sql, "format": fmt}
        if limit is not None:
            body["limit"] = limit
        try:
            response = self.client.post(self.url, json=body)
        except httpx2.HTTPError as exc:
            raise SqlCommandError(f"the microstructure server at {self.url} did not answer ({exc})") from None
        if response.status_code == 401:
            raise SqlCommandError(f"{self.url} refused the token: set MCP_AUTH_TOKEN to the server's token")
        if response.status_code != 200:
            try:
                error = response.json()
                message = error["error"] + "".join(f"; {e.get('msg', e)}" for e in error.get("errors") or []
                                                   if isinstance(e, dict))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {response.status_code}"
            raise SqlCommandError(message)
        return response.content

    def close(self) -> None:
        self.client.close()


class _ReadOnlyFile:
    """The database opened read-only in this process (no one holds it)."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage

    def run(self, sql: str, limit: int | None, fmt: str) -> bytes:
        from server.tools.analyst_sql import encode, run_analyst_sql

        try:
            return encode(run_analyst_sql(self.storage, self.settings, sql, limit), fmt)  # type: ignore[arg-type]
        except (ValueError, StorageError) as exc:
            raise SqlCommandError(str(exc)) from None

    def close(self) -> None:
        self.storage.close()


def open_source(settings: Settings) -> _Source:
    """The owner's HTTP server when one holds the DuckDB file, else the database opened read-only here.

    Raises
    ------
    sql.backend.DatabaseHeld
        A process without an HTTP server holds the file.
    """
    if settings.db_backend == "duckdb":
        owner = find_owner(settings.duckdb_path)
        if owner is not None and owner.url:
            token = settings.mcp_auth_token.get_secret_value() if settings.mcp_auth_token else None
            return _Owner(owner.url, token, settings.mcp_query_timeout_ms / 1000 + 30)
    return _ReadOnlyFile(settings, open_storage(settings, read_only=True))


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def format_table(page: dict[str, Any]) -> str:
    """The JSON page of ``/api/v1/sql`` as an aligned text table with a row-count footer."""
    names = [c["name"] for c in page["columns"]]
    cells = [[_cell(v) for v in row] for row in page["rows"]]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    numeric = [all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in page["rows"]
                   if row[i] is not None) for i in range(len(names))]  # fmt: skip

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(names), "  ".join("-" * w for w in widths)] + [line(r) for r in cells]
    footer = f"({page['count']} row{'s' if page['count'] != 1 else ''}"
    if page["truncated"]:
        footer += f"; truncated by {page.get('truncated_by') or 'the limit'}: more rows exist"
    return "\n".join([*out, footer + ")"])


def run_statement(source: _Source, sql: str, *, fmt: str, limit: int | None, out: BinaryIO,
                  output: Path | None = None) -> None:
    """Run one statement and write it in ``fmt`` to ``out`` (or to ``output`` for parquet)."""
    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise SqlCommandError("empty statement")
    body = source.run(sql, limit, "json" if fmt == "table" else fmt)
    if fmt == "table":
        body = format_table(json.loads(body)).encode() + b"\n"
    elif fmt == "json":
        body += b"\n"
    if output is not None:
        output.write_bytes(body)
    else:
        out.write(body)
        out.flush()


def history_path() -> Path:
    """Where the shell keeps its history: ``$XDG_STATE_HOME/microstructure/history``, else
    ``~/.microstructure_history``."""
    state = os.environ.get("XDG_STATE_HOME")
    if state:
        return Path(state) / "microstructure" / "history"
    return Path.home() / ".microstructure_history"


_HELP = """Statements end with ';' and may span lines. One read-only SELECT (or WITH ... SELECT) over the
tables and views (market_data, trading_signals, latest_signals, jump_events, symbol_metrics, ...).
  .help            this text
  .format NAME     table, csv or json (now: {fmt})
  .limit N         rows per statement (now: {limit})
  .quit            leave (or Ctrl-D)"""


def run_shell(source: _Source, *, fmt: str, limit: int | None, where: str) -> None:
    """An interactive loop over ``source`` until ``.quit`` or end of input."""
    interactive = sys.stdin.isatty()
    history = history_path()
    try:
        import readline

        history.parent.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(history)
    except (ImportError, OSError):
        readline = None  # type: ignore[assignment]
    if interactive:
        print(f"microstructure sql on {where}. Statements end with ';'. .help for help, .quit to leave.")
    buffer: list[str] = []
    try:
        while True:
            try:
                line = input(("...> " if buffer else "sql> ") if interactive else "")
            except EOFError:
                break
            except KeyboardInterrupt:
                print()
                buffer.clear()
                continue
            if not buffer and line.strip().startswith("."):
                command, _, argument = line.strip().partition(" ")
                if command in (".quit", ".exit"):
                    break
                if command == ".help":
                    print(_HELP.format(fmt=fmt, limit=limit or "MCP_DEFAULT_ROWS"))
                elif command == ".format" and argument.strip() in ("table", "csv", "json"):
                    fmt = argument.strip()
                elif command == ".limit" and argument.strip().isdigit():
                    limit = int(argument.strip())
                else:
                    print(f"error: unknown command {line.strip()!r}; .help lists them", file=sys.stderr)
                continue
            buffer.append(line)
            if not line.rstrip().endswith(";"):
                continue
            statement, buffer = "\n".join(buffer), []
            try:
                run_statement(source, statement, fmt=fmt, limit=limit, out=sys.stdout.buffer)
            except SqlCommandError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError:
                pass


def sql_main(settings: Settings, statement: str | None, *, fmt: str, limit: int | None, output: Path | None) -> int:
    """``microstructure sql``: one statement, or the shell without one; return the exit status."""
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        print("microstructure: parquet is binary: pass --output FILE or redirect stdout", file=sys.stderr)
        return 2
    source = open_source(settings)  # DatabaseHeld: the CLI names the holder
    try:
        if statement is None:
            where = getattr(source, "url", None) or f"{settings.duckdb_path} (read-only)"
            run_shell(source, fmt="table" if fmt == "parquet" else fmt, limit=limit, where=str(where))
            return 0
        run_statement(source, statement, fmt=fmt, limit=limit, out=sys.stdout.buffer, output=output)
    except SqlCommandError as exc:
        print(f"microstructure: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    return 0
