"""A tool result's wire JSON assembled from rows serialized once: pages of rows kept in memory cost a join.

:func:`server.fast_path.result_json` writes a page twice (the SDK's ``convert_result``): as JSON text indented
by 2 inside a text block, and compact as ``structuredContent``. Serializing 100 signal rows both ways costs
~0.8 ms a call. Rows kept in memory (:mod:`server.tools.signal_memory`) do not change once kept, so each
:class:`RowWire` serializes its row the first time a page holds it and keeps both forms; :func:`page_json`
splices them into the page's own serialization with no rows. The bytes are the same as serializing the whole
page (``tests/server/test_row_wire.py``): the rows are serialized by the same pydantic serializer, an indented
row is the row's own indented JSON shifted by the depth of the page's ``rows`` list (JSON strings hold no raw
newline), and escaping the text into a JSON string is done character by character, so each row's text is
escaped once too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import pydantic_core
from pydantic import BaseModel

P = TypeVar("P", bound=BaseModel)
__all__ = ["RowWire", "page_json", "wire_of", "with_wire"]

#: How deep a row sits in the indented page (``{`` → ``"rows": [`` → the row): 2 levels of 2 spaces.
_ROW_INDENT = b"\n    "
_EMPTY_ROWS_TEXT = b'{\n  "rows": []'
_EMPTY_ROWS_COMPACT = b'{"rows":[]'


class RowWire:
    """One row model and, once asked for, its compact and indented JSON (shared by every page holding it).

    Parameters
    ----------
    model
        The row as a page holds it; never changed afterwards (``None``: a subclass makes it).
    """

    __slots__ = ("_model", "_compact", "_text")

    def __init__(self, model: BaseModel | None) -> None:
        self._model = model
        self._compact: bytes | None = None
        self._text: bytes | None = None

    @property
    def model(self) -> BaseModel:
        """The row (a subclass may make it when first asked)."""
        assert self._model is not None
        return self._model

    def compact(self) -> bytes:
        """The row as ``structuredContent`` holds it (compact, wire names)."""
        if self._compact is None:
            self._compact = pydantic_core.to_json(self.model, by_alias=True)
        return self._compact

    def text(self) -> bytes:
        """The row as the page's indented text holds it (its lines after the first shifted to the row's
        depth), escaped as inside a JSON string."""
        if self._text is None:
            indented = pydantic_core.to_json(self.model, fallback=str, indent=2).replace(b"\n", _ROW_INDENT)
            self._text = _escaped(indented)
        return self._text


def _escaped(raw: bytes) -> bytes:
    """``raw`` text as the inside of a JSON string (escaping works character by character)."""
    return pydantic_core.to_json(raw.decode())[1:-1]


def _spliced(empty: bytes, opening: bytes, rows: list[bytes], first: bytes, between: bytes,
             last: bytes) -> bytes:
    """``empty`` (a page serialized without rows, starting with ``opening``) with ``rows`` in its list."""
    if not empty.startswith(opening):
        raise ValueError("the page does not start with its rows")
    if not rows:
        return empty
    return opening[:-1] + first + between.join(rows) + last + empty[len(opening):]


def page_json(page: BaseModel, rows: Sequence[RowWire]) -> tuple[bytes, bytes]:
    """The page's indented text as a JSON string and its compact JSON, for ``page`` whose ``rows`` are
    ``rows``' models, in order: what :func:`pydantic_core.to_json` makes of the indented text and of the page.

    Parameters
    ----------
    page
        A page model whose first field is ``rows`` (:class:`server.models.Page`).
    rows
        The serialized form of each of ``page.rows``.
    """
    empty = page.model_copy(update={"rows": []})
    text = pydantic_core.to_json(empty, fallback=str, indent=2)
    if not text.startswith(_EMPTY_ROWS_TEXT):
        raise ValueError("the page does not start with its rows")
    if rows:
        text_json = (b'"' + _escaped(_EMPTY_ROWS_TEXT[:-1] + _ROW_INDENT)
                     + _escaped(b"," + _ROW_INDENT).join(row.text() for row in rows)
                     + _escaped(b"\n  ]" + text[len(_EMPTY_ROWS_TEXT):]) + b'"')
    else:
        text_json = pydantic_core.to_json(text.decode())
    compact = _spliced(pydantic_core.to_json(empty, by_alias=True), _EMPTY_ROWS_COMPACT,
                       [row.compact() for row in rows], b"", b",", b"]")
    return text_json, compact


def with_wire(page: P, rows: list[RowWire]) -> P:
    """``page`` (a :class:`server.models.Page` of ``rows``' models), marked as serializable from ``rows``."""
    page._wire = rows  # type: ignore[attr-defined]
    return page


def wire_of(page: BaseModel) -> list[RowWire] | None:
    """The serialized rows of ``page`` given by :func:`with_wire`, or ``None``."""
    return getattr(page, "_wire", None)
