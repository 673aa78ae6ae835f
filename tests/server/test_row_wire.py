"""A page spliced from rows serialized once is the page serialized whole, byte for byte."""

from __future__ import annotations

import pydantic_core
from hypothesis import given, settings
from hypothesis import strategies as st

from server.fast_path import result_json
from server.models import Page, SignalRow
from server.row_wire import RowWire, page_json, with_wire

floats = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.just(1e300), st.just(-0.0))


@st.composite
def signal_rows(draw):
    """A signal row with any text (quotes, backslashes, newlines, non-ASCII) and any finite numbers."""
    fields = {name: draw(floats) for name, info in SignalRow.model_fields.items() if info.annotation == float | None}
    return SignalRow.model_construct(
        symbol=draw(st.text(min_size=1, max_size=8)), bar_end=draw(st.text(max_size=30)),
        bar_end_ns=draw(st.integers(0, 2**63 - 1)), bar_seconds=60, n_trades=draw(st.integers(0, 10**9)),
        volume=draw(st.floats(allow_nan=False, allow_infinity=False)), close=draw(st.floats(0, 1e6)),
        jump_detected=draw(st.booleans()), trading_signal=draw(st.sampled_from(["BUY", "SELL", "HOLD"])),
        signal_reason=draw(st.text(max_size=60)), **fields)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(signal_rows(), max_size=6), cursor=st.one_of(st.none(), st.text(max_size=20)),
       truncated=st.booleans())
def test_a_page_of_serialized_rows_is_the_page_serialized_whole(rows, cursor, truncated):
    page = Page[SignalRow].model_construct(rows=rows, count=len(rows), truncated=truncated, next_cursor=cursor,
                                           as_of="2026-12-04T08:00:00.000Z")  # fmt: skip
    wires = [RowWire(row) for row in rows]
    text, compact = page_json(page, wires)
    assert text == pydantic_core.to_json(pydantic_core.to_json(page, fallback=str, indent=2).decode())
    assert compact == pydantic_core.to_json(page, by_alias=True)
    whole = result_json(page)
    assert result_json(with_wire(page, wires)) == whole
    assert result_json(page) == whole  # a second time: from the rows' kept bytes
