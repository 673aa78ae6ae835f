"""Named SQL statements, loaded once from ``sql/<dialect>/`` and checked at start-up.

Every statement lives in its own ``.sql`` file whose stem is its name and whose header declares it::

    -- name: trading_signals_page
    -- params: symbol, start_ns, end_ns
    -- returns: rows of trading_signals, newest first

Values are bound parameters only (``$name`` in DuckDB, ``:name`` in Vertica); a file whose declared
parameters differ from those it uses fails loading with a message naming the file, so a typo never
reaches a user. Identifiers are never interpolated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["NamedQuery", "QueryRegistry", "load_registry", "split_statements"]

_PLACEHOLDER = {"duckdb": re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)"), "vertica": re.compile(r"(?<!:):([A-Za-z_]\w*)")}
_HEADER = re.compile(r"^--\s*(name|params|returns):\s*(.*?)\s*$")
_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One statement: its name, declared parameters, description and text."""

    name: str
    params: tuple[str, ...]
    returns: str
    text: str


class QueryRegistry:
    """The statements of one folder (``schema``, ``views`` or ``queries``) of one dialect."""

    def __init__(self, queries: dict[str, NamedQuery]) -> None:
        self._queries = queries

    def __getitem__(self, name: str) -> NamedQuery:
        try:
            return self._queries[name]
        except KeyError:
            known = ", ".join(sorted(self._queries))
            raise KeyError(f"no SQL statement named {name!r}; known: {known}") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._queries.values())

    def __len__(self) -> int:
        return len(self._queries)

    def names(self) -> list[str]:
        """Return the statement names in file order."""
        return list(self._queries)


def _parse(dialect: str, file_name: str, text: str) -> NamedQuery:
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            header[match.group(1)] = match.group(2)
    stem = file_name.removesuffix(".sql").rsplit("/", 1)[-1]  # file_name is "<folder>/<file>.sql"
    # Schema and view files are numbered (001_market_data.sql); the header name is the object they create.
    name = header.get("name") or stem
    if not stem.endswith(name):
        raise ValueError(f"sql/{dialect}/{file_name}: header name {name!r} does not match the file name")
    declared = tuple(p.strip() for p in header.get("params", "").split(",") if p.strip())
    code = _STRING.sub("''", _COMMENT.sub("", text))
    used = set(_PLACEHOLDER[dialect].findall(code))
    if used != set(declared):
        raise ValueError(
            f"sql/{dialect}/{file_name}: declares params {sorted(declared)} but uses {sorted(used)}"
        )
    return NamedQuery(name=name, params=declared, returns=header.get("returns", ""), text=text.strip())


@cache
def load_registry(dialect: str, folder: str) -> QueryRegistry:
    """Load every ``.sql`` file of ``sql/<dialect>/<folder>/`` in file-name order.

    Parameters
    ----------
    dialect
        ``duckdb`` or ``vertica``.
    folder
        ``schema``, ``views`` or ``queries``.
    """
    root = resources.files("sql").joinpath(dialect, folder)
    files = sorted((f for f in root.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    queries: dict[str, NamedQuery] = {}
    for entry in files:
        query = _parse(dialect, f"{folder}/{entry.name}", entry.read_text(encoding="utf-8"))
        if query.name in queries:
            raise ValueError(f"sql/{dialect}/{folder}: two files define {query.name!r}")
        queries[query.name] = query
    return QueryRegistry(queries)


def split_statements(text: str) -> list[str]:
    """Split a script of ``;``-terminated statements (no ``;`` inside literals) and drop comment lines."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]
