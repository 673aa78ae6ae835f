"""Polygon trade conditions and corrections, read plainly from the shipped data (issue 13 point 1).

The rules, as the module docstring of ``sql/conditions.py`` and Polygon's ``/v3/reference/conditions``
(``update_rules.consolidated``) state them, written again without project code:

- a stock print sets the last sale iff every listed id has ``updates_last`` (Polygon's ``updates_open_close``),
  sets high/low iff every listed id has ``updates_high_low``, counts in volume iff every listed id has
  ``updates_volume``; ids not in the table and tokens that are not integers change nothing;
- a conditions string is a comma list, possibly wrapped in ``[]``, ``{}`` or quotes (``"[12, 37]"``); empty tokens
  are skipped; NULL or empty is a regular sale;
- only correction 0 (or NULL) keeps a print; any other code, listed as excluded or not listed at all, drops it
  from both price and volume;
- crypto prints are all eligible (their ``c`` values are the aggressor side).

The only shared input is data: the two CSV files under ``sql/reference/``, parsed here with :mod:`csv` only.
"""

from __future__ import annotations

import csv
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "sql" / "reference"
CONDITIONS_CSV = REFERENCE_DIR / "polygon_stock_trade_conditions.csv"
CORRECTIONS_CSV = REFERENCE_DIR / "polygon_trade_corrections.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def condition_rows() -> dict[int, dict[str, object]]:
    """id -> {name, cta, utp, updates_last, updates_high_low, updates_volume, notes}: empty letters are None."""
    out: dict[int, dict[str, object]] = {}
    for r in _rows(CONDITIONS_CSV):
        out[int(r["id"])] = {
            "name": r["name"].strip(),
            "cta": r["cta"].strip() or None,
            "utp": r["utp"].strip() or None,
            "updates_last": r["updates_last"].strip() == "true",
            "updates_high_low": r["updates_high_low"].strip() == "true",
            "updates_volume": r["updates_volume"].strip() == "true",
            "notes": r["notes"].strip(),
        }
    return out


def correction_codes() -> tuple[set[int], set[int]]:
    """(kept codes, excluded codes) of the corrections file."""
    kept, excluded = set(), set()
    for r in _rows(CORRECTIONS_CSV):
        (excluded if r["excluded"].strip() == "true" else kept).add(int(r["code"]))
    return kept, excluded


def tokens(text: str) -> list[int | None]:
    """The ids of a conditions string in order; None for a token that is not an integer."""
    out: list[int | None] = []
    for raw in text.strip().strip("[]{}\"'").split(","):
        raw = raw.strip()
        if raw == "":
            continue
        negative = raw.startswith("-")
        digits = raw[1:] if negative or raw.startswith("+") else raw
        out.append((-int(digits) if negative else int(digits)) if digits.isdigit() else None)
    return out


def flags(text: str | None, rows: dict[int, dict[str, object]]) -> tuple[bool, bool, bool]:
    """(sets_last, sets_high_low, counts_volume) of one conditions string, corrections aside."""
    known = [rows[i] for i in tokens(text or "") if i is not None and i in rows]
    return (all(r["updates_last"] for r in known), all(r["updates_high_low"] for r in known),
            all(r["updates_volume"] for r in known))


def eligibility(text: str | None, correction: int | None, rows: dict[int, dict[str, object]],
                market: str = "stocks") -> tuple[bool, bool]:
    """(sets_price, counts_volume) of one print."""
    if market == "crypto":
        return True, True
    if correction not in (None, 0):
        return False, False
    last, _, volume = flags(text, rows)
    return last, volume
