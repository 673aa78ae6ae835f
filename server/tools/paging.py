"""Run a named query as one page of typed rows with a keyset cursor (shared by every list tool)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from server.arguments import CursorKey, decode_cursor, encode_cursor, iso_utc
from server.models import Page
from server.row_wire import with_wire
from sql.backend import QueryResult

__all__ = ["KeptAnswer", "PageSource", "RowMaker", "construct_rows", "fetch_page", "records"]

Row = TypeVar("Row", bound=BaseModel)


class KeptAnswer(Protocol):
    """A page answered from rows kept in memory (:class:`server.tools.signal_memory.KeptPage`): each row
    a :class:`server.row_wire.RowWire` with the SQL's ``values``
    (:class:`server.tools.signal_memory.KeptBar`)."""

    rows: list[Any]
    truncated: bool
    columns: list[str]


class PageSource(Protocol):
    """What a page is read from: a :class:`sql.backend.Storage`, or a wrapper choosing how to run the query."""

    def query(self, name: str, params: Mapping[str, Any], limit: int) -> QueryResult:
        """Run the named read query; at most ``limit`` rows and whether more exist."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _timed(result: QueryResult) -> list[int]:
    """The positions of the columns of ``result`` that hold times (judged by the first row, else any)."""
    rows = result.rows
    return [i for i in range(len(result.columns)) if any(isinstance(row[i], date) for row in rows[:1])
            or (rows and rows[0][i] is None and any(isinstance(row[i], date) for row in rows))]  # fmt: skip


def _record(columns: Sequence[str], row: Sequence[Any], timed: Sequence[int]) -> dict[str, Any]:
    if not timed:
        return dict(zip(columns, row, strict=True))
    values = list(row)
    for i in timed:
        values[i] = _jsonable(values[i])
    return dict(zip(columns, values, strict=True))


def records(result: QueryResult) -> list[dict[str, Any]]:
    """The rows as dicts, times made ISO strings: only the columns that hold times are looked at per row."""
    timed = _timed(result)
    return [_record(result.columns, row, timed) for row in result.rows]


def fetch_page(
    storage: PageSource,
    *,
    tool: str,
    query: str,
    params: Mapping[str, Any],
    cursor: str | None,
    cursor_params: Sequence[str],
    cursor_columns: Sequence[str],
    cursor_keys: Sequence[CursorKey],
    limit: int,
    row_model: type[Row],
    kept: Callable[[str, Mapping[str, Any], int], KeptAnswer | None] | None = None,
) -> Page[Row]:
    """Return up to ``limit`` rows of ``query`` after ``cursor``, and the cursor of the next page.

    Parameters
    ----------
    tool
        The tool's name; a cursor only resumes the tool that issued it.
    cursor_params, cursor_columns, cursor_keys
        The query's keyset parameters, the result columns that fill them and the kind of each value
        (:data:`server.arguments.CursorKey`, checked when a cursor is read), in the same order.
    kept
        Answers the query from rows kept in memory, or ``None`` to run it on ``storage``.
    """
    bound = dict(params)
    after = decode_cursor(tool, cursor, cursor_keys) if cursor else [None] * len(cursor_params)
    bound.update(zip(cursor_params, after, strict=True))
    answer = None if kept is None else kept(query, bound, limit)
    if answer is not None:
        return _kept_page(tool, answer, cursor_columns, row_model)
    result = storage.query(query, bound, limit)
    rows = records(result)
    next_cursor = None
    if result.truncated and rows:
        next_cursor = encode_cursor(tool, [rows[-1][c] for c in cursor_columns])
    return Page[row_model].model_construct(  # type: ignore[valid-type]
        rows=construct_rows(row_model, rows),
        count=len(rows),
        truncated=result.truncated,
        next_cursor=next_cursor,
        as_of=iso_utc(time.time_ns()),
    )


def _kept_page(tool: str, answer: KeptAnswer, cursor_columns: Sequence[str],
               row_model: type[Row]) -> Page[Row]:
    """The page of rows kept in memory: their typed rows, and their serialized form for the result's JSON."""
    rows = answer.rows
    next_cursor = None
    if answer.truncated and rows:
        index = {c: i for i, c in enumerate(answer.columns)}
        next_cursor = encode_cursor(tool, [rows[-1].values[index[c]] for c in cursor_columns])
    page = Page[row_model].model_construct(  # type: ignore[valid-type]
        rows=[row.model for row in rows],
        count=len(rows),
        truncated=answer.truncated,
        next_cursor=next_cursor,
        as_of=iso_utc(time.time_ns()),
    )
    return with_wire(page, list(rows))


def construct_rows(row_model: type[Row], records: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Typed rows without validation: the values come from typed SQL columns of the storage contract.

    The named queries return exactly the column types the row models declare (BIGINT -> int, DOUBLE ->
    float, BOOLEAN -> bool, VARCHAR -> str, NULL -> None; times are made ISO strings above), so validating
    each value again would only cost time (~40 us a row). Columns a model does not declare are dropped.
    """
    return [row_model.model_construct(**record) for record in records]


class RowMaker(Generic[Row]):
    """Makes the typed rows of one query's result, one at a time, as :func:`construct_rows` of :func:`records`
    would, ~10x faster.

    ``model_construct`` looks up every field's aliases and defaults per row (~15 us a row). When the query
    returns every field of a plain model (no aliases, no ``model_post_init``), the row is that model's
    ``__dict__`` in field order with the model's other slots as ``model_construct`` sets them, the set of
    fields shared by every row. Any other model goes through ``model_construct``.

    Parameters
    ----------
    result
        The query's result (its columns, and which of them hold times).
    row_model
        The typed row.
    """

    __slots__ = ("_columns", "_fields", "_names", "_model", "_plain", "_timed")

    def __init__(self, result: QueryResult, row_model: type[Row]) -> None:
        fields = row_model.model_fields
        self._columns = tuple(result.columns)
        self._timed = _timed(result)
        self._names = tuple(fields)
        self._fields = frozenset(fields) & frozenset(self._columns)
        self._model = row_model
        self._plain = (self._fields == frozenset(fields) and not row_model.__pydantic_post_init__
                       and all(f.alias is None and f.validation_alias is None for f in fields.values()))

    def make(self, row: Sequence[Any]) -> Row:
        """The typed row of ``row``, one of the result's rows."""
        values = _record(self._columns, row, self._timed)
        if not self._plain:
            return self._model.model_construct(_fields_set=set(self._fields), **values)
        made = self._model.__new__(self._model)
        object.__setattr__(made, "__dict__", {name: values[name] for name in self._names})
        object.__setattr__(made, "__pydantic_fields_set__", self._fields)
        object.__setattr__(made, "__pydantic_extra__", None)
        object.__setattr__(made, "__pydantic_private__", None)
        return made
