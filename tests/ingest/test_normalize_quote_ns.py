"""A stock quote's time (``ingest.normalize``'s module docstring): ``t`` is Unix milliseconds (× 1_000_000);
a ``Q`` event made from a ``quotes_v1`` flat file (``ingest.quotes_flatfile``) also carries ``t_ns``, the exact
nanoseconds, which win; ``null`` counts as missing (so ``t`` is used), and a ``t_ns`` that is not a positive
integer is a reject naming ``t_ns``. Expected values are written from that contract by hand."""

from __future__ import annotations

import orjson
import pytest

from ingest.normalize import normalize_frame

RECEIVED = 1_712_306_654_000_000_000
QUOTE = {"ev": "Q", "sym": "MSFT", "bx": 4, "bp": 114.125, "bs": 100, "ax": 7, "ap": 114.128, "as": 160,
         "c": [0], "t": 1536036818784, "q": 50385480, "z": 3}
EXACT_NS = 1536036818784123457  # the same millisecond as ``t``, with the nanoseconds a flat file keeps


def _times(event: dict) -> tuple[list[int], list[str]]:
    out = normalize_frame(orjson.dumps([event]), RECEIVED)
    return out.quotes.column("ts_ns").to_pylist(), [r.reason for r in out.rejects]


def test_the_exact_nanoseconds_win_over_the_milliseconds() -> None:
    assert _times({**QUOTE, "t_ns": EXACT_NS}) == ([EXACT_NS], [])


def test_t_ns_alone_is_enough() -> None:
    event = {k: v for k, v in QUOTE.items() if k != "t"}
    assert _times({**event, "t_ns": EXACT_NS}) == ([EXACT_NS], [])


@pytest.mark.parametrize("event", [QUOTE, {**QUOTE, "t_ns": None}], ids=["absent", "null"])
def test_without_t_ns_the_milliseconds_are_used(event: dict) -> None:
    assert _times(event) == ([1536036818784 * 1_000_000], [])


def test_a_null_t_ns_without_t_is_a_reject_naming_t() -> None:
    event = {k: v for k, v in QUOTE.items() if k != "t"}
    ts, reasons = _times({**event, "t_ns": None})
    assert ts == [] and len(reasons) == 1 and "'t'" in reasons[0] and "t_ns" not in reasons[0], reasons


@pytest.mark.parametrize("bad", [0, -5, "5", 1.5])
def test_a_t_ns_that_is_not_a_positive_integer_is_a_reject_naming_it(bad: object) -> None:
    ts, reasons = _times({**QUOTE, "t_ns": bad})
    assert ts == [] and len(reasons) == 1 and "'t_ns'" in reasons[0], reasons


def test_t_is_not_read_when_t_ns_is_there() -> None:
    # a ``t`` that would be a reject on its own does not matter when the exact nanoseconds are given
    assert _times({**QUOTE, "t": 0, "t_ns": EXACT_NS}) == ([EXACT_NS], [])
