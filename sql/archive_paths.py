"""Where the Parquet archive lives and how SQL names it: the checked archive folder, quoted as a literal.

DuckDB cannot bind a parameter where a file name goes (``COPY ... TO``, ``read_parquet`` in a view), so the
archive's paths enter SQL text. They are made safe in two steps: :func:`check_archive_root` accepts only an
absolute folder without a quote, backslash, glob or control character or ``..``, and :func:`sql_literal` quotes it as a string literal with every ``'`` doubled. Everything
below the folder is built here from a closed set of names and values checked by the caller.

The archive's layout (hive partitioning)::

    ARCHIVE_PATH/<folder>/market=<market>/date=<YYYY-MM-DD>/symbol=<symbol, URL-encoded>/part-<ns>.parquet
    ARCHIVE_PATH/.staging/...   files written but not yet committed (sql/archive.py)

``<folder>`` is ``trades``, ``quotes``, ``signals`` or a table moving with the signals (``bar_liquidity``).
The ``symbol=`` folder is named by DuckDB's ``PARTITION_BY`` (which encodes characters such as ``/`` and ``:``)
and decoded by ``read_parquet``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ARCHIVED_TABLES", "ARCHIVE_MARKER", "STAGING", "TABLE_MARKER", "ArchivedTable", "archived_tables",
           "check_archive_root", "check_sql_path", "parquet_relation", "render", "sql_identifier", "sql_literal",
           "with_archive"]

#: Where a statement of sql/duckdb/archive takes the archive's path (replaced, never bound).
ARCHIVE_MARKER = "__ARCHIVE__"

#: Where a statement of sql/duckdb/archive shared by the bar tables takes the table's name (a quoted identifier
#: of :data:`ARCHIVED_TABLES`, a closed list).
TABLE_MARKER = "__TABLE__"

#: The folder under ARCHIVE_PATH holding files not yet committed; outside every view's glob.
STAGING = ".staging"



@dataclass(frozen=True, slots=True)
class ArchivedTable:
    """A live table retention moves to the archive: its archive folder, the view over both, its setting.

    Its statements in ``sql/duckdb/archive``: ``newest_<live>`` and ``due_<live>`` (a table with followers or
    alone), and ``<step>_<queries>`` for the steps of a chunk (``count``, ``export``, ``readback``, ``delete``);
    ``bars`` is the set the tables keyed like ``trading_signals`` share (their name goes in as
    :data:`TABLE_MARKER`). ``followers`` are the tables whose rows of a chunk leave with it: same market, day and symbols, the same transaction, files and
    manifest rows of their own (``archive_manifest.table_name`` = their folder), the same retention setting.
    """

    folder: str   #: the folder under ARCHIVE_PATH and archive_manifest.table_name
    live: str     #: the table in the DuckDB file
    view: str     #: the view over live and archived rows (sql/duckdb/views)
    setting: str  #: the Settings field of its retention in days (0 = off)
    queries: str = ""  #: the name ending its statements in sql/duckdb/archive (empty: ``live``)
    followers: tuple[ArchivedTable, ...] = ()  #: tables keyed like this one whose rows leave with its chunks

    def query(self, step: str) -> str:
        """The name of its statement of ``step`` (``export``, ``delete``, ...) in sql/duckdb/archive."""
        return f"{step}_{self.queries or self.live}"

    def statement(self, text: str) -> str:
        """``text`` (a statement of its query set) with :data:`TABLE_MARKER`, if any, naming this table."""
        return render(text, sql_identifier(self.live), TABLE_MARKER) if TABLE_MARKER in text else text


def _follower(live: str) -> ArchivedTable:
    """A table keyed like ``trading_signals`` (symbol, bar_seconds, bar_end_ns) archived with its bars."""
    return ArchivedTable(live, live, f"{live}_all", "retain_signals_days", "bars")


#: The tables retention moves, each with its folder, view and setting. A new table keyed like trading_signals
#: joins the archive with one ``_follower("<table>")`` in the signals' followers, plus its ``<table>_all`` view
#: (sql/duckdb/views, the archive branch written ``(FROM <table> LIMIT 0) AS archived``).
ARCHIVED_TABLES = (
    ArchivedTable("trades", "market_data", "trades_all", "retain_trades_days"),
    ArchivedTable("quotes", "quotes", "quotes_all", "retain_quotes_days"),
    ArchivedTable("signals", "trading_signals", "signals_all", "retain_signals_days", "bars",
                  followers=(_follower("bar_liquidity"), _follower("bar_realized_spread"))),
)


def archived_tables() -> tuple[ArchivedTable, ...]:
    """Every archived table, the followers after the table they move with."""
    return tuple(t for table in ARCHIVED_TABLES for t in (table, *table.followers))


#: Characters a path in SQL text may not have: quotes, backslash, glob characters, control characters.
_EMPTY_BRANCH = re.compile(r"\(FROM [a-z_]+ LIMIT 0\) AS archived\b")

_UNSAFE = re.compile(r"""['"\\*?\[\]{}\x00-\x1f\x7f]""")

#: Types of the hive partition keys: a symbol such as ``1234`` must stay text.
_HIVE_TYPES = "{'market': 'VARCHAR', 'date': 'DATE', 'symbol': 'VARCHAR'}"


def check_sql_path(path: Path, setting: str) -> Path:
    """Return ``path`` made absolute when it can go into SQL text as a literal; refuse it otherwise.

    Raises
    ------
    ValueError
        Naming ``setting`` and the characters refused.
    """
    text = str(path.expanduser().absolute())
    if _UNSAFE.search(text) or "/../" in f"{text}/":
        raise ValueError(f"{setting} {text!r} cannot go into DuckDB's SQL text safely: no quote, backslash, "
                         "glob character (* ? [ ] { }), control character or '..'")
    return Path(text)


def check_archive_root(path: Path) -> Path:
    """:func:`check_sql_path` for the archive folder (``ARCHIVE_PATH``, unset: ``DUCKDB_PATH`` without its
    suffix + ``.archive``)."""
    return check_sql_path(path, "ARCHIVE_PATH (unset: DUCKDB_PATH without its suffix + .archive)")


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (``'`` doubled)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (``"`` doubled)."""
    return '"' + name.replace('"', '""') + '"'


def parquet_relation(root: Path, folder: str) -> str:
    """The ``read_parquet`` call over every archived file of ``folder`` (hive partitioning, typed keys)."""
    glob = str(check_archive_root(root) / folder / "*" / "*" / "*" / "*.parquet")
    return f"read_parquet({sql_literal(glob)}, hive_partitioning = true, hive_types = {_HIVE_TYPES})"


def render(text: str, replacement: str, marker: str = ARCHIVE_MARKER) -> str:
    """``text`` without comment lines, ``marker`` replaced by ``replacement`` (a quoted literal made here).

    Raises
    ------
    ValueError
        When ``text`` does not hold ``marker`` outside its comments.
    """
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    if marker not in code:
        raise ValueError(f"the statement has no {marker} to replace")
    return code.replace(marker, replacement)


def with_archive(view: str, table: ArchivedTable, root: Path) -> str:
    """The text of a ``*_all`` view reading the archive's files of ``table``: its empty archive branch
    ``(FROM <live> LIMIT 0) AS archived`` replaced by :func:`parquet_relation`.

    Raises
    ------
    ValueError
        When the view has no such branch, or more than one.
    """
    code = "\n".join(line for line in view.splitlines() if not line.lstrip().startswith("--"))
    replaced, found = _EMPTY_BRANCH.subn(parquet_relation(root, table.folder) + " AS archived", code)
    # the live table checked in the code, not the comments: the shipped views name it in a comment too
    if found != 1 or f"(FROM {table.live} LIMIT 0)" not in code:
        raise ValueError(f"view {table.view}: expected one '(FROM {table.live} LIMIT 0) AS archived' branch")
    return replaced
