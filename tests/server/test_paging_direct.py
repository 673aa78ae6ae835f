"""``server.tools.paging`` without a database (fast enough for mutation runs): ``fetch_page`` on a recording
page source (the parameters it binds, the cursor of the next page, the kept-rows path), ``records``' time
columns, and ``RowMaker``'s rows, which must equal ``model_construct`` of the same record (its docstring's
contract) for plain models and take ``model_construct`` itself for any other. The cursors are read back here
by their documented form (URL-safe base64 of the JSON ``{"t": tool, "k": key}``), not by project code."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, Field

from server.arguments import encode_cursor
from server.models import Page
from server.row_wire import wire_of
from server.tools.paging import RowMaker, _timed, construct_rows, fetch_page, records
from sql.backend import QueryResult

MOMENT = datetime(2026, 1, 2, 14, 30, 0, 125_999)  # milliseconds truncated: .125


class Bar(BaseModel):
    symbol: str
    end: str | None = None
    n: int = 0


class Aliased(BaseModel):
    symbol: str
    end: str | None = Field(default=None, alias="bar_end")
    n: int = 0


class ValidationAliased(BaseModel):
    symbol: str
    end: str | None = Field(default=None, validation_alias="bar_end")
    n: int = 0


class AllValidationAliased(BaseModel):
    symbol: str = Field(validation_alias="s")
    n: int = Field(default=0, validation_alias="k")


class PostInit(BaseModel):
    symbol: str
    end: str | None = None
    n: int = 0

    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "n", self.n + 1000)


def _cursor(text: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


class Source:
    """Answers every query with ``result`` and records each call."""

    def __init__(self, result: QueryResult) -> None:
        self.result, self.calls = result, []

    def query(self, name: str, params: dict, limit: int) -> QueryResult:
        self.calls.append((name, dict(params), limit))
        return self.result


RESULT = QueryResult(columns=["symbol", "end", "n"], rows=[("B", MOMENT, 2), ("A", None, 1)], truncated=True)


def _page(source, cursor=None, kept=None, model=Bar, limit=2):
    return fetch_page(source, tool="tool_a", query="q_page", params={"p": 1}, cursor=cursor,
                      cursor_params=("after_n", "after_symbol"), cursor_columns=("n", "symbol"),
                      cursor_keys=("int32", "text"), limit=limit, row_model=model, kept=kept)  # fmt: skip


def test_the_first_page_binds_none_for_each_cursor_parameter_and_the_limit():
    source = Source(RESULT)
    _page(source)
    assert source.calls == [("q_page", {"p": 1, "after_n": None, "after_symbol": None}, 2)]


def test_a_cursor_binds_its_values_in_order():
    source = Source(RESULT)
    _page(source, cursor=encode_cursor("tool_a", [7, "Z"]))
    assert source.calls == [("q_page", {"p": 1, "after_n": 7, "after_symbol": "Z"}, 2)]


def test_a_cursor_of_another_tool_is_refused():
    with pytest.raises(ValueError):
        _page(Source(RESULT), cursor=encode_cursor("tool_b", [7, "Z"]))


def test_a_truncated_page_points_after_its_last_row():
    before = time.time_ns()
    page = _page(Source(RESULT))
    assert [(r.symbol, r.end, r.n) for r in page.rows] == [("B", "2026-01-02T14:30:00.125Z", 2), ("A", None, 1)]
    assert all(type(r) is Bar for r in page.rows)
    assert type(page) is Page[Bar]
    assert page.count == 2 and page.truncated is True
    assert _cursor(page.next_cursor) == {"t": "tool_a", "k": [1, "A"]}
    stamp = datetime.strptime(page.as_of, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    assert before // 1_000_000 / 1000 - 0.001 <= stamp <= time.time_ns() / 1e9
    assert wire_of(page) is None


@pytest.mark.parametrize("result", [
    QueryResult(columns=["symbol", "end", "n"], rows=[("B", None, 2)], truncated=False),
    QueryResult(columns=["symbol", "end", "n"], rows=[], truncated=True),
], ids=["last-page", "truncated-empty"])
def test_no_next_cursor_without_more_rows_or_without_rows(result):
    page = _page(Source(result))
    assert page.next_cursor is None and page.count == len(result.rows) and page.truncated is result.truncated


class KeptRow:
    def __init__(self, values: list, model: Bar) -> None:
        self.values, self.model = values, model


class Kept:
    def __init__(self, rows: list, truncated: bool) -> None:
        self.rows, self.truncated, self.columns = rows, truncated, ["n", "end", "symbol"]


def test_kept_rows_answer_without_the_query_and_keep_their_wire():
    rows = [KeptRow([5, "x", "C"], Bar(symbol="C", n=5)), KeptRow([3, None, "D"], Bar(symbol="D", n=3))]
    asked, source = [], Source(RESULT)

    def kept(query, bound, limit):
        asked.append((query, dict(bound), limit))
        return Kept(rows, truncated=True)

    page = _page(source, cursor=encode_cursor("tool_a", [9, "E"]), kept=kept, limit=2)
    assert source.calls == [] and asked == [("q_page", {"p": 1, "after_n": 9, "after_symbol": "E"}, 2)]
    assert page.rows == [rows[0].model, rows[1].model] and page.count == 2 and page.truncated is True
    assert _cursor(page.next_cursor) == {"t": "tool_a", "k": [3, "D"]}  # by the answer's own column order
    assert wire_of(page) == rows
    assert type(page) is Page[Bar]  # a page of the tool's row model, as the query path makes
    assert isinstance(page.as_of, str) and page.as_of.endswith("Z")
    assert _page(source, kept=lambda *a: Kept(rows, truncated=False)).next_cursor is None
    assert _page(source, kept=lambda *a: Kept([], truncated=True)).next_cursor is None


def test_kept_answering_none_falls_back_to_the_query():
    source = Source(RESULT)
    page = _page(source, kept=lambda *a: None)
    assert len(source.calls) == 1 and [r.symbol for r in page.rows] == ["B", "A"]


def test_time_columns_are_judged_by_the_first_row_else_any_row():
    rows = [(1, None, MOMENT, None, "x"), (2, date(2026, 1, 3), 5, None, date(2026, 1, 4))]
    assert _timed(QueryResult(columns=list("abcde"), rows=rows, truncated=False)) == [1, 2]
    assert _timed(QueryResult(columns=list("ab"), rows=[], truncated=False)) == []
    assert records(QueryResult(columns=["d", "t"], rows=[(date(2026, 1, 2), MOMENT)], truncated=False)) == [
        {"d": "2026-01-02", "t": "2026-01-02T14:30:00.125Z"}]


def _same(made: BaseModel, constructed: BaseModel) -> None:
    assert type(made) is type(constructed)
    assert made.__dict__ == constructed.__dict__ and list(made.__dict__) == list(constructed.__dict__)
    assert made.model_fields_set == constructed.model_fields_set
    assert made.__pydantic_extra__ == constructed.__pydantic_extra__
    assert made.__pydantic_private__ == constructed.__pydantic_private__
    assert made.model_dump() == constructed.model_dump()


def test_row_maker_makes_what_construct_rows_of_records_would_for_a_plain_model():
    result = QueryResult(columns=["n", "extra", "end", "symbol"],
                         rows=[(4, "dropped", MOMENT, "A"), (5, None, None, "B")], truncated=False)  # fmt: skip
    maker = RowMaker(result, Bar)
    made = [maker.make(row) for row in result.rows]
    assert [(r.symbol, r.end, r.n) for r in made] == [("A", "2026-01-02T14:30:00.125Z", 4), ("B", None, 5)]
    assert list(made[0].__dict__) == ["symbol", "end", "n"]  # the model's field order, not the columns'
    for one, constructed in zip(made, construct_rows(Bar, records(result)), strict=True):
        assert one.model_fields_set == {"symbol", "end", "n"} and one.__pydantic_extra__ is None
        assert one.__dict__ == {k: v for k, v in constructed.__dict__.items()}
        assert one.model_dump() == constructed.model_dump()
        assert one.__pydantic_private__ is None


@pytest.mark.parametrize("model", [Aliased, ValidationAliased, PostInit])
def test_row_maker_constructs_models_with_aliases_or_post_init(model):
    result = QueryResult(columns=["symbol", "bar_end", "end", "n"], rows=[("A", "alias", MOMENT, 4)],
                         truncated=False)  # fmt: skip
    made = RowMaker(result, model).make(result.rows[0])
    values = {"symbol": "A", "bar_end": "alias", "end": "2026-01-02T14:30:00.125Z", "n": 4}
    _same(made, model.model_construct(_fields_set={"symbol", "end", "n"}, **values))


def test_row_maker_constructs_rows_missing_a_field_with_its_default_and_fields_set():
    result = QueryResult(columns=["symbol", "n", "other"], rows=[("A", 4, 1)], truncated=False)
    made = RowMaker(result, Bar).make(result.rows[0])
    assert made.end is None and made.n == 4 and made.symbol == "A"
    assert made.model_fields_set == {"symbol", "n"}
    _same(made, Bar.model_construct(_fields_set={"symbol", "n"}, symbol="A", n=4, other=1))


def test_row_maker_reads_validation_aliases_as_model_construct_does():
    # every field aliased: the columns hold both the names and the aliases, and the aliases win (model_construct)
    result = QueryResult(columns=["symbol", "n", "s", "k"], rows=[("A", 1, "B", 2)], truncated=False)
    made = RowMaker(result, AllValidationAliased).make(result.rows[0])
    assert (made.symbol, made.n) == ("B", 2)
    _same(made, AllValidationAliased.model_construct(_fields_set={"symbol", "n"}, symbol="A", n=1, s="B", k=2))
