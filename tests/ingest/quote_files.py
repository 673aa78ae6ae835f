"""Writers of Polygon ``quotes_v1`` flat files for tests: from row dicts, or from a ``QUOTES_SCHEMA`` table."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingest.quotes_flatfile import QUOTE_COLUMNS

#: A whole ``quotes_v1`` row apart from what a test sets.
DEFAULT_ROW: dict[str, Any] = {
    "ticker": "AAPL", "ask_exchange": 11, "ask_price": 170.02, "ask_size": 3, "bid_exchange": 12,
    "bid_price": 170.0, "bid_size": 2, "conditions": "1", "indicators": "", "participant_timestamp": 0,
    "sequence_number": 1, "sip_timestamp": 0, "tape": 3, "trf_timestamp": 0,
}


def write_quotes_v1(path: Path, rows: Iterable[dict[str, Any]], header: tuple[str, ...] = QUOTE_COLUMNS) -> None:
    """Write ``rows`` (each completed from :data:`DEFAULT_ROW`) as a ``quotes_v1`` CSV, gzip when ``.gz``."""
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        for row in rows:
            full = {**DEFAULT_ROW, **row}
            out.writerow([full[name] for name in header])


def quotes_rows(quotes: pa.Table, lots: bool = False) -> list[dict[str, Any]]:
    """A ``QUOTES_SCHEMA`` table (stocks) as ``quotes_v1`` rows; ``lots``: sizes divided by 100."""
    div = 100.0 if lots else 1.0
    out = []
    for q in quotes.to_pylist():
        out.append({
            "ticker": q["symbol"], "ask_exchange": q["ask_exchange"], "ask_price": q["ask_price"],
            "ask_size": q["ask_size"] / div, "bid_exchange": q["bid_exchange"], "bid_price": q["bid_price"],
            "bid_size": q["bid_size"] / div, "conditions": q["conditions"] or "", "indicators": "",
            "participant_timestamp": q["ts_ns"] - 1000, "sequence_number": q["sequence"],
            "sip_timestamp": q["ts_ns"], "tape": q["tape"], "trf_timestamp": 0,
        })
    return out
