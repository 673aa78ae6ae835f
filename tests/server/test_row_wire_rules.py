"""``server/row_wire.py`` against the plain ``json`` module: a page spliced from rows serialized once is, byte for
byte, the page's indented text (2 spaces, as one JSON string) and its compact JSON with the wire names (aliases).

The expected bytes are written here from the values put in (``json.dumps`` with the separators of the contract),
never from the module; small pages, milliseconds a test (the ``wire-and-tools`` mutation group).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from server.models import Page, SignalRow
from server.row_wire import RowWire, page_json, wire_of, with_wire


class Tick(BaseModel):
    """A row with a wire name (alias) that differs from its field name, text and numbers."""

    model_config = ConfigDict(populate_by_name=True)

    symbol_name: str = Field(alias="symbolName")
    size: int
    note: Any = None


class TickPage(BaseModel):
    """A page whose first field is ``rows``, with an aliased field after it."""

    model_config = ConfigDict(populate_by_name=True)

    rows: list[Tick]
    count: int
    next_cursor: str | None = Field(alias="nextCursor")


class RowsSecond(BaseModel):
    count: int
    rows: list[Tick]


#: Text that JSON must escape, and text it must not: quotes, backslashes, newlines, tabs, a control
#: character, non-ASCII, an emoji.
AWKWARD = ['plain', 'a "quoted" word', "back\\slash", "two\nlines", "tab\there", "bell\x07", "Zürich €", "🙂", ""]


def _tick_dict(symbol: str, size: int, note: Any = None) -> dict[str, Any]:
    return {"symbolName": symbol, "size": size, "note": note}


def _expected(rows: list[dict[str, Any]], count: int, cursor: str | None) -> tuple[bytes, bytes]:
    """The page's indented text as a JSON string, and its compact JSON, by the json module."""
    page = {"rows": rows, "count": count, "nextCursor": cursor}
    text = json.dumps(page, indent=2, ensure_ascii=False)
    compact = json.dumps(page, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False).encode(), compact.encode()


def _page(values: list[tuple[str, int]], cursor: str | None) -> tuple[TickPage, list[RowWire]]:
    ticks = [Tick(symbol_name=s, size=n) for s, n in values]
    return TickPage(rows=ticks, count=len(ticks), next_cursor=cursor), [RowWire(t) for t in ticks]


@pytest.mark.parametrize("n", [0, 1, 2, 3])
@pytest.mark.parametrize("cursor", [None, "abc", 'q"\\\n'])
def test_a_page_of_rows_is_the_json_modules_text_and_compact_form(n, cursor):
    values = [(AWKWARD[(i * 4 + 1) % len(AWKWARD)], i * 7 - 3) for i in range(n)]
    page, wires = _page(values, cursor)
    text, compact = page_json(page, wires)
    assert (text, compact) == _expected([_tick_dict(s, v) for s, v in values], n, cursor)
    assert json.loads(json.loads(text)) == json.loads(compact)  # the same page both ways


@pytest.mark.parametrize("symbol", AWKWARD)
def test_every_awkward_text_in_a_row_and_in_the_page(symbol):
    page, wires = _page([(symbol, 1), ("X", 2)], symbol)
    assert page_json(page, wires) == _expected([_tick_dict(symbol, 1), _tick_dict("X", 2)], 2, symbol)


def test_nested_values_in_a_row_keep_their_indentation_under_the_rows_list():
    tick = Tick(symbol_name="N", size=0, note={"a": [1, {"b": None}], "c": []})
    page = TickPage(rows=[tick, tick], count=2, next_cursor=None)
    text, compact = page_json(page, [RowWire(tick), RowWire(tick)])
    row = _tick_dict("N", 0, {"a": [1, {"b": None}], "c": []})
    assert (text, compact) == _expected([row, row], 2, None)
    assert "\n        \"a\": [\n          1," in json.loads(text)  # the row 4 deep, its dict 6, "a" 8, its list 10


def test_the_signal_rows_of_the_server_page_as_the_json_module_writes_them():
    given = {"symbol": "AAPL", "bar_end": "2026-12-04T08:00:00.000Z", "bar_end_ns": 1_796_371_200_000_000_000,
             "bar_seconds": 60, "n_trades": 12, "volume": 300.0, "close": 2.5, "log_return": -0.25, "vpin": 0.5,
             "jump_detected": False, "trading_signal": "HOLD", "signal_reason": 'no "jump"\n'}
    fields = {name: given.get(name) for name in SignalRow.model_fields}  # the others null, in field order
    row = SignalRow.model_construct(**fields)
    page = Page[SignalRow].model_construct(rows=[row], count=1, truncated=True, next_cursor="c1",
                                           as_of="2026-12-04T08:00:01.000Z")
    text, compact = page_json(page, [RowWire(row)])
    plain = {"rows": [fields], "count": 1, "truncated": True, "next_cursor": "c1", "as_of": "2026-12-04T08:00:01.000Z"}
    assert json.loads(text) == json.dumps(plain, indent=2, ensure_ascii=False)
    assert compact == json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_row_keeps_both_forms_once_made():
    tick = Tick(symbol_name="K", size=1)
    wire = RowWire(tick)
    compact, text = wire.compact(), wire.text()
    assert compact == b'{"symbolName":"K","size":1,"note":null}'
    assert json.loads(b'"' + text + b'"') == '{\n      "symbolName": "K",\n      "size": 1,\n      "note": null\n    }'
    tick.size = 99  # a kept row never changes; if it did, the kept bytes are what the pages show
    assert wire.compact() is compact and wire.text() is text
    page = TickPage(rows=[tick], count=1, next_cursor=None)
    assert page_json(page, [wire]) == _expected([_tick_dict("K", 1)], 1, None)


def test_a_row_without_a_json_form_is_its_text_in_the_indented_form():
    class Opaque:
        def __str__(self) -> str:
            return "opaque<1>"

    wire = RowWire(Tick(symbol_name="O", size=3, note=Opaque()))
    assert json.loads(b'"' + wire.text() + b'"') == ('{\n      "symbolName": "O",\n      "size": 3,\n'
                                                      '      "note": "opaque<1>"\n    }')


def test_a_subclass_makes_its_model_when_first_asked():
    class Lazy(RowWire):
        @property
        def model(self) -> BaseModel:
            return Tick(symbol_name="L", size=5)

    assert Lazy(None).compact() == b'{"symbolName":"L","size":5,"note":null}'
    with pytest.raises(AssertionError):
        RowWire(None).model  # noqa: B018
    tick = Tick(symbol_name="M", size=6)
    assert RowWire(tick).model is tick


def test_a_page_whose_first_field_is_not_rows_is_refused():
    tick = Tick(symbol_name="R", size=1)
    with pytest.raises(ValueError, match="^the page does not start with its rows$"):
        page_json(RowsSecond(count=1, rows=[tick]), [RowWire(tick)])
    with pytest.raises(ValueError, match="^the page does not start with its rows$"):
        page_json(RowsSecond(count=0, rows=[]), [])


def test_with_wire_marks_the_page_and_wire_of_reads_it_back():
    tick = Tick(symbol_name="W", size=1)
    page = Page[Tick](rows=[tick], count=1, truncated=False, next_cursor=None, as_of="t")
    assert wire_of(page) is None
    wires = [RowWire(tick)]
    assert with_wire(page, wires) is page
    assert wire_of(page) is wires
    assert wire_of(TickPage(rows=[], count=0, next_cursor=None)) is None  # a model without the private field
