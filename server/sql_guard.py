"""The parser check in front of analysts' SQL: one read-only statement over the documented relations.

:func:`check_read_only` parses a statement with ``sqlglot`` and refuses, with :class:`SqlRefused` naming the
construct and the reason, anything but one ``SELECT`` (``WITH``, ``UNION``/``INTERSECT``/``EXCEPT`` of
selects, ``VALUES``, DuckDB's ``FROM``-first form) over the tables and views of the storage contract
(:data:`DOCUMENTED_RELATIONS`, documented by ``schema://views``). It is one barrier of several: the statement
then runs in a ``READ ONLY`` transaction under the query time limit, on a DuckDB instance opened with
``enable_external_access = false`` and ``lock_configuration = true`` (``sql/duckdb_backend.py``), or on
Vertica in the reader user's ``READ ONLY`` session with ``RUNTIMECAP``.

What is refused, and why:

- **Statements other than a query**: INSERT, UPDATE, DELETE, MERGE, CREATE, DROP, ALTER, COPY, ATTACH,
  DETACH, INSTALL, LOAD, PRAGMA, SET, RESET, CALL, EXPORT, IMPORT, CHECKPOINT, VACUUM, USE, DESCRIBE, SHOW,
  SUMMARIZE, EXPLAIN, PIVOT statements, ``SELECT ... INTO``, and anything sqlglot only recognises as a
  "command". Such nodes are refused wherever they sit (a data-modifying CTE too).
- **More than one statement.** On DuckDB, DuckDB's own parser (``duckdb.extract_statements``) must also see
  exactly one ``SELECT``, and the statement that runs is the one sqlglot regenerates from the tree it
  checked, so the text executed is the text checked (no parser differential between the two).
- **Relations outside the documented set**: a table or view reference must be one of
  :data:`DOCUMENTED_RELATIONS` (optionally qualified by ``main`` on DuckDB, ``public`` on Vertica) or the
  name of a CTE in scope. This refuses system catalogs (``information_schema``, ``duckdb_settings``,
  ``pg_catalog``, ``v_catalog``), other attached databases, string literals and quoted names used as
  tables (``FROM 'x.csv'``, ``FROM "https://..."``, ``s3://...``).
- **Files**: the archive's Parquet files are read only through the views ``trades_all``, ``quotes_all``,
  ``signals_all``, ``bar_liquidity_all`` and ``bar_realized_spread_all`` (live rows + ``read_parquet`` over ``ARCHIVE_PATH``, ``sql/archive.py``); the statement itself
  may not call ``read_parquet`` or name a file, and the DuckDB instance reaches no folder but the archive.
- **Table functions** but ``range``, ``generate_series`` and ``unnest``, which read nothing, and the documented
  table macro ``enriched_market_data_between`` (DuckDB; :data:`TABLE_MACROS`): every file and
  URL reader (``read_csv*``, ``read_parquet``, ``read_json*``, ``read_text``, ``read_blob``, ``glob``,
  ``sniff_csv``, ``parquet_*``, ``iceberg_*``, ``delta_scan``), ``query``/``query_table`` (SQL in a string,
  unchecked), and the ``duckdb_*``/``pragma_*`` catalog functions.
- **Scalar and aggregate functions** that sqlglot does not know as a plain function (``Anonymous``) are
  allowed on DuckDB only when the installed DuckDB lists them as a built-in scalar, aggregate or window
  function that is not volatile (volatile ones: ``nextval``, ``setval``, ``setseed``, ``write_log``,
  ``sleep_ms`` ...; ``random`` and the UUID generators are kept), not a macro reading the catalog, and not in
  :data:`DENIED_FUNCTIONS` or named like a reader or catalog function (``pg_*``, ``has_*``, ``duckdb_*``):
  ``current_setting`` reveals the host's paths (temp directory, extension directory, home), ``getenv`` its
  environment. ``duckdb_settings()`` is refused for the same reason. On Vertica, with no catalog to consult,
  every function sqlglot does not know is refused (this includes Vertica's meta-functions, which run as
  ``SELECT fn()``).

On Vertica sqlglot has no dialect: the statement is parsed as PostgreSQL and, when that succeeds, checked as
above and passed through unchanged (regenerating it as PostgreSQL could change Vertica's meaning). When it
does not parse, a conservative token check applies: the first keyword must be ``SELECT`` or ``WITH``, there
is no second statement and no write or session keyword anywhere. What guards on Vertica is above all the
reader user (``scripts/vertica/create_reader.sql``: SELECT grants only) and its ``READ ONLY`` session with
``RUNTIMECAP`` (``sql/vertica/session/``).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

__all__ = ["DENIED_FUNCTIONS", "DOCUMENTED_RELATIONS", "TABLE_MACROS", "SqlRefused", "check_read_only"]

Dialect = Literal["duckdb", "vertica"]

#: The tables and views of the storage contract (DESIGN §5 and ``server/tools/schema_doc.py``).
DOCUMENTED_RELATIONS = frozenset({
    "market_data", "quotes", "trading_signals", "model_params", "signal_state", "intraday_profile",
    "trade_conditions", "trade_corrections", "eligible_trades", "enriched_market_data", "jump_events",
    "symbol_metrics", "latest_signals", "trades_all", "quotes_all", "signals_all", "bar_liquidity", "bar_liquidity_all",
    "liquidity_signals", "quote_book", "view_settings", "bar_realized_spread", "bar_realized_spread_all",
})  # fmt: skip

#: The schema a documented relation may be qualified with, per dialect.
_SCHEMA = {"duckdb": "main", "vertica": "public"}

#: Table functions that read nothing but their arguments.
_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})

#: The documented table macros per dialect: they read documented relations only (``schema://views``).
TABLE_MACROS = {"duckdb": frozenset({"enriched_market_data_between"}), "vertica": frozenset()}

#: Functions refused even where the catalog lists them as plain: they reveal the host or have side effects.
DENIED_FUNCTIONS = frozenset({
    "current_setting", "getenv", "nextval", "currval", "setval", "setseed", "write_log", "sleep_ms",
    "checkpoint", "force_checkpoint", "query", "query_table", "glob", "sniff_csv", "read_text", "read_blob",
    "parquet_scan", "delta_scan", "iceberg_scan", "enable_logging", "disable_logging", "truncate_duckdb_logs",
    "export_database", "import_database", "load_extension", "install_extension",
})  # fmt: skip

#: Name prefixes of file/URL readers and catalog functions, refused wherever they appear.
_DENIED_PREFIXES = ("read_", "parquet_", "iceberg_", "delta_", "duckdb_", "pragma_", "sniff_", "json_execute", "pg_",
                    "has_", "__internal")

#: Volatile built-ins that are harmless: they draw random numbers or raise an error.
_HARMLESS_VOLATILE = frozenset({"random", "uuid", "gen_random_uuid", "uuidv4", "uuidv7", "error"})

#: Statement nodes that write, change the session or reach outside the database, refused anywhere.
_STATEMENTS: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Copy", "Attach", "Detach", "Install",
        "Pragma", "Set", "Use", "Command", "Describe", "Show", "Summarize", "Into", "Transaction", "Commit",
        "Rollback", "Analyze", "Export", "Load", "LoadData", "Refresh", "Cache", "Uncache", "TruncateTable",
        "Kill", "Grant", "Revoke", "Comment",
    ) if hasattr(exp, name)
)  # fmt: skip

#: Function classes sqlglot knows that read files or reach out.
_DENIED_FUNCTION_CLASSES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("ReadCSV", "ReadParquet", "ToFile") if hasattr(exp, name)
)

_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

_WRITE_KEYWORDS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "COPY", "ATTACH", "DETACH", "INSTALL",
    "LOAD", "PRAGMA", "SET", "RESET", "CALL", "EXPORT", "IMPORT", "CHECKPOINT", "VACUUM", "USE", "GRANT",
    "REVOKE", "TRUNCATE", "INTO", "COMMIT", "ROLLBACK", "PURGE",
})  # fmt: skip


class SqlRefused(ValueError):
    """The statement is not one read-only query over the documented relations; the message says why."""


def check_read_only(sql: str, *, dialect: Dialect) -> str:
    """Check that ``sql`` is one read-only query over the documented relations; return the text to run.

    Parameters
    ----------
    sql
        The analyst's statement; one trailing semicolon is allowed.
    dialect
        ``"duckdb"`` (parsed as DuckDB, confirmed by DuckDB's own parser, regenerated from the checked tree)
        or ``"vertica"`` (parsed as PostgreSQL when possible, else a keyword check; returned unchanged).

    Returns
    -------
    str
        The statement to execute.

    Raises
    ------
    SqlRefused
        Naming the construct that is refused and why.
    """
    if not sql.strip():
        raise SqlRefused("the statement is empty; send one SELECT")
    if dialect == "vertica":
        return _check_vertica(sql)
    tree = _parse_one(sql, "duckdb")
    _check_tree(tree, dialect)
    text = tree.sql(dialect="duckdb", comments=False)
    _confirm_with_duckdb(text)
    return text


def _parse_one(sql: str, dialect: str) -> exp.Expression:
    try:
        trees = [t for t in sqlglot.parse(sql, dialect=dialect) if t is not None]
    except (ParseError, TokenError) as exc:
        raise SqlRefused(f"the statement does not parse: {_first_line(str(exc))}") from None
    except RecursionError:
        raise SqlRefused("the statement is nested too deeply to check") from None
    if len(trees) != 1:
        raise SqlRefused(f"send exactly one statement, not {len(trees)}")
    return trees[0]


def _first_line(message: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", message).splitlines()[0][:300]


def _check_tree(tree: exp.Expression, dialect: Dialect) -> None:
    if not isinstance(tree, _QUERY_ROOTS):
        raise SqlRefused(f"only SELECT (or WITH ... SELECT, VALUES) is allowed, not {_describe(tree)}")
    try:
        nodes = list(tree.walk())
    except RecursionError:
        raise SqlRefused("the statement is nested too deeply to check") from None
    for node in nodes:
        if isinstance(node, _STATEMENTS):
            raise SqlRefused(f"{_describe(node)} is not allowed: the analyst SQL reads only")
        if isinstance(node, exp.Select) and node.args.get("into") is not None:
            raise SqlRefused("SELECT ... INTO is not allowed: it creates a table")
        if isinstance(node, exp.Table):
            _check_relation(node, dialect)
        elif isinstance(node, exp.Func):
            _check_function(node, dialect)


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return f"{str(node.this).upper()} (a command)"
    if not isinstance(node, (*_STATEMENTS, exp.Pivot)):
        return f"{node.sql()[:60]!r} (not a query)"
    key = node.key.upper().replace("_", " ")
    return {"SETITEM": "SET", "INTO": "SELECT ... INTO"}.get(key, key)


def _cte_names_in_scope(node: exp.Expression) -> set[str]:
    """Names of the CTEs visible at ``node``: those of every enclosing query's WITH clause."""
    names: set[str] = set()
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_") or parent.args.get("with") if isinstance(parent, exp.Query) else None
        if isinstance(with_, exp.With):
            names.update(cte.alias_or_name.lower() for cte in with_.expressions)
        parent = parent.parent
    return names


def _check_relation(table: exp.Table, dialect: Dialect) -> None:
    source = table.this
    if isinstance(source, exp.Func):
        name = _function_name(source)
        if name not in _TABLE_FUNCTIONS and name not in TABLE_MACROS[dialect]:
            raise SqlRefused(f"table function {name}() is not allowed: only {', '.join(sorted(_TABLE_FUNCTIONS))} "
                             "and the documented tables and views (schema://views) can be read")
        return
    if not isinstance(source, exp.Identifier):
        raise SqlRefused(f"{table.sql(dialect='duckdb')!s} is not a table name; read the documented tables and "
                         "views (schema://views)")  # fmt: skip
    name = source.name
    catalog, schema = table.catalog, table.db
    if not catalog and not schema and name.lower() in _cte_names_in_scope(table):
        return
    qualified = ".".join(p for p in (catalog, schema, name) if p)
    if catalog or (schema and schema.lower() != _SCHEMA[dialect]):
        raise SqlRefused(f"relation {qualified!r} is outside the documented tables and views (schema://views)")
    if name.lower() not in DOCUMENTED_RELATIONS:
        hint = " (a file or URL: reading files is not allowed)" if re.search(r"[./:]", name) else ""
        raise SqlRefused(f"relation {qualified!r} is not one of the documented tables and views{hint}: "
                         f"{', '.join(sorted(DOCUMENTED_RELATIONS))}")  # fmt: skip


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def _check_function(node: exp.Func, dialect: Dialect) -> None:
    if isinstance(node, _DENIED_FUNCTION_CLASSES):
        raise SqlRefused(f"function {_function_name(node)}() is not allowed: it reads files or URLs")
    if not isinstance(node, exp.Anonymous):
        return
    name = _function_name(node)
    if name in DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
        raise SqlRefused(f"function {name}() is not allowed: it reads files, reveals the host or has side effects")
    if dialect == "vertica":
        raise SqlRefused(f"function {name}() is not known as a plain SQL function; on Vertica only those are allowed")
    if isinstance(node.parent, exp.Table) and node.parent.this is node:
        return  # a table function: decided by _check_relation
    if name not in _duckdb_plain_functions():
        raise SqlRefused(f"function {name}() is not a plain DuckDB scalar, aggregate or window function")


@cache
def _duckdb_plain_functions() -> frozenset[str]:
    """Built-in DuckDB scalar, aggregate and window functions that are not volatile, and scalar macros that read
    no table (a macro with a subquery reads the catalog, e.g. ``get_block_size``, ``pg_get_viewdef``)."""
    import duckdb

    with duckdb.connect(config={"enable_external_access": False}) as con:
        rows = con.execute(
            "SELECT DISTINCT function_name, stability FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'aggregate', 'window') "
            "OR (function_type = 'macro' AND macro_definition NOT ILIKE '%select%')"
        ).fetchall()
    return frozenset(
        str(name).lower() for name, stability in rows if stability != "VOLATILE" or str(name).lower() in _HARMLESS_VOLATILE
    )


def _confirm_with_duckdb(text: str) -> None:
    """DuckDB's own parser must also see exactly one SELECT in the text that will run."""
    import duckdb

    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise SqlRefused(f"the statement does not parse in DuckDB: {_first_line(str(exc))}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements)
        raise SqlRefused(f"DuckDB reads this as {kinds}; only one SELECT is allowed")


def _check_vertica(sql: str) -> str:
    text = sql.strip().rstrip(";").strip()
    try:
        tree = _parse_one(text, "postgres")
    except SqlRefused:
        _check_vertica_tokens(text)
        return text
    _check_tree(tree, "vertica")
    return text


def _check_vertica_tokens(text: str) -> None:
    """The conservative check of statements PostgreSQL's grammar does not cover (Vertica-only syntax)."""
    try:
        tokens = sqlglot.tokenize(text, read="postgres")
    except (TokenError, ParseError) as exc:
        raise SqlRefused(f"the statement does not tokenize: {_first_line(str(exc))}") from None
    if not tokens or tokens[0].text.upper() not in ("SELECT", "WITH"):
        raise SqlRefused("only SELECT (or WITH ... SELECT) is allowed")
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            raise SqlRefused("send exactly one statement (no ';' inside)")
        if token.token_type not in (TokenType.STRING, TokenType.IDENTIFIER) and token.text.upper() in _WRITE_KEYWORDS:
            raise SqlRefused(f"{token.text.upper()} is not allowed: the analyst SQL reads only")
