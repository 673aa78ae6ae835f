"""Polygon stock trade conditions and corrections: which prints may set the last-sale price, which count in volume.

Polygon gives a US stock trade's sale conditions as numeric ids (WebSocket ``c``; flat files and our
``market_data.conditions`` column hold them as a comma list such as ``"12,37"``) and publishes per id the
consolidated processing rules of the SIPs (``/v3/reference/conditions``, ``update_rules.consolidated``):
``updates_open_close`` (read here as *may update the last sale*), ``updates_high_low`` and ``updates_volume``.
Flat files also carry ``correction``; 0 is a regular print.

The rules ship as data in ``sql/reference/``:

- ``polygon_stock_trade_conditions.csv``: one row per id, checked against Polygon's glossary page
  (https://polygon.io/glossary/us/stocks/conditions-indicators), QuantConnect Lean's transcription of it
  (``ToolBox/Polygon/PolygonSIPTradeMappings.cs``) and copies of the v3 listing (fin-ai-lab/market-1t
  ``trade_conditions.json``, mstrthealias/AGPred ``src/consolidate.h``, polygon-io/client-go fixtures). Where the
  legacy glossary and the v3 listing disagree (ids 17, 29, 31-33, 59) the v3 listing wins; the CSV header names
  every source with its commit and the ``notes`` column each disagreement.
- ``polygon_trade_corrections.csv``: the glossary's "Trade Corrections (NYSE)" codes; only 0 is kept.

Rules applied by :func:`print_eligibility`, per print:

- it sets the price iff every one of its codes has ``updates_last`` and its correction is kept;
- it counts in volume iff every one of its codes has ``updates_volume`` and its correction is kept;
- NULL or empty conditions are a regular sale; a NULL correction is 0;
- an id the table does not list, or a token that is not an integer, is neutral: it counts as a regular sale.
  Polygon adds ids over time and a new one is far more often an informational flag than a reason to drop a print,
  and a strict rule would silently blank whole symbols on the first new id; :func:`unknown_codes` reports them so
  they can be logged and added to the table;
- a correction value the corrections table does not list is excluded (a conservative reading of an undefined code);
- ``market="crypto"``: every print is eligible. Crypto ``c`` values (1, 2) give the aggressor side, not a sale
  condition, and crypto has no correction field.

Speed: the strings are dictionary-encoded (``pyarrow.compute.dictionary_encode``), the rule is decided once per
distinct string, and the per-print answer is a take by index.
"""

from __future__ import annotations

import csv
import io
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EXCLUDED_CORRECTIONS",
    "KEPT_CORRECTIONS",
    "corrections_table",
    "STOCK_TRADE_CONDITIONS",
    "ConditionRule",
    "condition_sets_table",
    "conditions_table",
    "print_eligibility",
    "unknown_codes",
]

BoolArray = npt.NDArray[np.bool_]
Market = Literal["stocks", "crypto"]
ConditionsInput = pa.Array | pa.ChunkedArray | Sequence[str | None]
CorrectionInput = pa.Array | pa.ChunkedArray | Sequence[int | None] | npt.NDArray[np.integer] | None

_CONDITIONS_CSV = "polygon_stock_trade_conditions.csv"
_CORRECTIONS_CSV = "polygon_trade_corrections.csv"


@dataclass(frozen=True, slots=True)
class ConditionRule:
    """One Polygon stock trade condition and its consolidated processing rules.

    Attributes
    ----------
    id : int
        Polygon's numeric condition id.
    name : str
        Polygon's name for it (the v3 listing's where it differs from the glossary).
    cta, utp : str or None
        The CTA and UTP SIP sale-condition letters, where a source gives them.
    updates_last : bool
        ``update_rules.consolidated.updates_open_close``: the print may set the last-sale price.
    updates_high_low : bool
        ``update_rules.consolidated.updates_high_low``.
    updates_volume : bool
        ``update_rules.consolidated.updates_volume``.
    notes : str
        Disagreements between sources and the choice made.
    """

    id: int
    name: str
    cta: str | None
    utp: str | None
    updates_last: bool
    updates_high_low: bool
    updates_volume: bool
    notes: str = ""


def _reference_rows(filename: str) -> list[dict[str, str]]:
    """Rows of a packaged reference CSV, skipping the ``#`` comment block."""
    text = resources.files("sql").joinpath("reference", filename).read_text(encoding="utf-8")
    lines = [line for line in io.StringIO(text) if not line.startswith("#")]
    return list(csv.DictReader(lines, strict=True))


def _flag(row: Mapping[str, str], column: str) -> bool:
    value = row[column].strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{column} must be true or false, got {row[column]!r} in row {dict(row)}")
    return value == "true"


def _load_conditions() -> Mapping[int, ConditionRule]:
    rules: dict[int, ConditionRule] = {}
    for row in _reference_rows(_CONDITIONS_CSV):
        rule = ConditionRule(
            id=int(row["id"]),
            name=row["name"].strip(),
            cta=row["cta"].strip() or None,
            utp=row["utp"].strip() or None,
            updates_last=_flag(row, "updates_last"),
            updates_high_low=_flag(row, "updates_high_low"),
            updates_volume=_flag(row, "updates_volume"),
            notes=row["notes"].strip(),
        )
        if rule.id in rules:
            raise ValueError(f"condition id {rule.id} appears twice in {_CONDITIONS_CSV}")
        rules[rule.id] = rule
    return types.MappingProxyType(dict(sorted(rules.items())))


def _load_corrections() -> tuple[frozenset[int], frozenset[int]]:
    kept: set[int] = set()
    excluded: set[int] = set()
    for row in _reference_rows(_CORRECTIONS_CSV):
        code = int(row["code"])
        if code in kept or code in excluded:
            raise ValueError(f"correction code {code} appears twice in {_CORRECTIONS_CSV}")
        (excluded if _flag(row, "excluded") else kept).add(code)
    return frozenset(kept), frozenset(excluded)


STOCK_TRADE_CONDITIONS: Mapping[int, ConditionRule] = _load_conditions()
"""Polygon stock trade condition id -> its rules, read once from the packaged CSV."""

KEPT_CORRECTIONS, EXCLUDED_CORRECTIONS = _load_corrections()
"""Correction codes whose prints are kept (0) and excluded entirely; a code in neither set is excluded too."""


def _parse_codes(text: str) -> list[int | None]:
    """The ids of one conditions string; ``None`` stands for a token that is not an integer."""
    body = text.strip().strip("[]{}\"'")
    codes: list[int | None] = []
    for token in body.split(","):
        token = token.strip()
        if not token:
            continue
        try:
            codes.append(int(token))
        except ValueError:
            codes.append(None)
    return codes


def _decide(text: str) -> tuple[bool, bool, bool]:
    """(sets_price, sets_high_low, counts_volume) of one distinct conditions string, ignoring corrections."""
    price = high_low = volume = True
    for code in _parse_codes(text):
        rule = STOCK_TRADE_CONDITIONS.get(code) if code is not None else None
        if rule is not None:
            price = price and rule.updates_last
            high_low = high_low and rule.updates_high_low
            volume = volume and rule.updates_volume
    return price, high_low, volume


def _string_chunks(conditions: ConditionsInput) -> list[pa.Array]:
    if isinstance(conditions, pa.ChunkedArray):
        chunks = list(conditions.chunks)
    elif isinstance(conditions, pa.Array):
        chunks = [conditions]
    else:
        chunks = [pa.array(list(conditions), type=pa.string())]
    for chunk in chunks:
        value_type = chunk.type.value_type if pa.types.is_dictionary(chunk.type) else chunk.type
        if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type) or pa.types.is_null(value_type)):
            raise TypeError(f"conditions must be strings (comma-separated ids), got {chunk.type}")
    return chunks


def _chunk_flags(chunk: pa.Array, cache: dict[str, tuple[bool, bool, bool]]) -> tuple[BoolArray, BoolArray]:
    """Per-print flags of one chunk: decide once per distinct string, then take by index."""
    n = len(chunk)
    if n == 0 or chunk.null_count == n:
        return np.ones(n, dtype=np.bool_), np.ones(n, dtype=np.bool_)
    encoded = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
    dictionary = encoded.dictionary.to_pylist()
    price = np.ones(len(dictionary) + 1, dtype=np.bool_)  # the extra last slot answers NULL: a regular sale
    volume = np.ones(len(dictionary) + 1, dtype=np.bool_)
    for slot, text in enumerate(dictionary):
        if text is None:
            continue
        decided = cache.get(text)
        if decided is None:
            decided = cache[text] = _decide(text)
        price[slot], _, volume[slot] = decided
    indices = encoded.indices
    if indices.null_count:
        indices = pc.fill_null(indices, len(dictionary))
    index = indices.to_numpy(zero_copy_only=False)
    return price[index], volume[index]


def _kept_corrections(correction: CorrectionInput, n: int) -> BoolArray | None:
    """True where the correction keeps the print; None when every print is kept."""
    if correction is None:
        return None
    if isinstance(correction, pa.ChunkedArray | pa.Array):
        if not pa.types.is_integer(correction.type) and not pa.types.is_null(correction.type):
            raise TypeError(f"correction must be integers, got {correction.type}")
        if len(correction) != n:
            raise ValueError(f"correction has {len(correction)} values for {n} conditions")
        values = pc.fill_null(correction.cast(pa.int64()), 0).to_numpy()
    else:
        values = np.array([0 if value is None else value for value in correction], dtype=np.int64)
        if values.shape != (n,):
            raise ValueError(f"correction has {values.size} values for {n} conditions")
    values = np.asarray(values)
    if not values.any():
        return None
    return np.isin(values, np.fromiter(KEPT_CORRECTIONS, dtype=np.int64))


def print_eligibility(
    conditions: ConditionsInput,
    correction: CorrectionInput = None,
    market: Market = "stocks",
) -> tuple[BoolArray, BoolArray]:
    """Which prints may set the last-sale price and which count in volume.

    Parameters
    ----------
    conditions : pyarrow string Array or ChunkedArray, or sequence of str or None
        Per print, Polygon's condition ids as a comma list (``"12,37"``); NULL or empty means a regular sale.
        Dictionary-encoded string arrays are used as they are.
    correction : pyarrow integer Array or ChunkedArray, sequence of int or None, or None
        Per print, Polygon's correction code; NULL (or ``correction=None`` for all prints) means 0, regular.
    market : {"stocks", "crypto"}
        ``"crypto"``: every print is eligible (crypto ``c`` values are the aggressor side, not sale conditions).

    Returns
    -------
    sets_price, counts_volume : numpy.ndarray of bool
        One value per print. A print sets the price iff all its listed ids have ``updates_last`` and its
        correction is kept; it counts in volume iff all its listed ids have ``updates_volume`` and its correction
        is kept. Ids missing from :data:`STOCK_TRADE_CONDITIONS` and tokens that are not integers are neutral
        (see the module docstring); correction codes missing from the corrections table exclude the print.

    Raises
    ------
    ValueError
        ``market`` is not ``"stocks"`` or ``"crypto"``, or ``correction`` has another length than ``conditions``.
    TypeError
        ``conditions`` is not strings or ``correction`` not integers.

    Examples
    --------
    >>> price, volume = print_eligibility(["14", "37", None, "12,37"], [0, 0, 0, 8])
    >>> price.tolist(), volume.tolist()
    ([True, False, True, False], [True, True, True, False])
    """
    if market not in ("stocks", "crypto"):
        raise ValueError(f"market must be 'stocks' or 'crypto', got {market!r}")
    chunks = _string_chunks(conditions)
    n = sum(len(chunk) for chunk in chunks)
    if market == "crypto":
        if correction is not None and len(correction) != n:
            raise ValueError(f"correction has {len(correction)} values for {n} conditions")
        return np.ones(n, dtype=np.bool_), np.ones(n, dtype=np.bool_)
    cache: dict[str, tuple[bool, bool, bool]] = {}
    parts = [_chunk_flags(chunk, cache) for chunk in chunks]
    if len(parts) == 1:
        price, volume = parts[0]
    else:
        price = np.concatenate([part[0] for part in parts]) if parts else np.ones(0, dtype=np.bool_)
        volume = np.concatenate([part[1] for part in parts]) if parts else np.ones(0, dtype=np.bool_)
    kept = _kept_corrections(correction, n)
    if kept is not None:
        price &= kept
        volume &= kept
    return price, volume


def unknown_codes(conditions: ConditionsInput) -> set[int]:
    """Integer ids seen in ``conditions`` that :data:`STOCK_TRADE_CONDITIONS` does not list, for logging.

    Parameters
    ----------
    conditions : pyarrow string Array or ChunkedArray, or sequence of str or None
        As for :func:`print_eligibility`.

    Returns
    -------
    set of int
        The unlisted ids (tokens that are not integers are not ids and are not reported).
    """
    seen: set[int] = set()
    for chunk in _string_chunks(conditions):
        if len(chunk) == 0 or chunk.null_count == len(chunk):
            continue
        distinct: Iterable[str | None] = (
            chunk.dictionary.to_pylist() if pa.types.is_dictionary(chunk.type) else pc.unique(chunk).to_pylist()
        )
        for text in distinct:
            if text is not None:
                seen.update(code for code in _parse_codes(text) if code is not None)
    return {code for code in seen if code not in STOCK_TRADE_CONDITIONS}


def conditions_table() -> pa.Table:
    """The condition table as Arrow, for a database reference table.

    Returns
    -------
    pyarrow.Table
        Columns ``code`` (int32), ``name`` (string), ``updates_last``, ``updates_high_low``, ``updates_volume``
        (bool), one row per id in ascending order.
    """
    rules = list(STOCK_TRADE_CONDITIONS.values())
    return pa.table(
        {
            "code": pa.array([rule.id for rule in rules], type=pa.int32()),
            "name": pa.array([rule.name for rule in rules], type=pa.string()),
            "updates_last": pa.array([rule.updates_last for rule in rules], type=pa.bool_()),
            "updates_high_low": pa.array([rule.updates_high_low for rule in rules], type=pa.bool_()),
            "updates_volume": pa.array([rule.updates_volume for rule in rules], type=pa.bool_()),
        }
    )


def condition_sets_table(strings: Iterable[str]) -> pa.Table:
    """The rules of each distinct conditions string, for the lookup table ``trade_condition_sets``.

    The view ``eligible_trades`` reads a print's flags from that table instead of splitting its string and
    searching the rule lists per row (40x faster on a scan of millions of prints), so it answers exactly as
    :func:`print_eligibility` does for every string the table lists.

    Parameters
    ----------
    strings
        Non-empty conditions strings as stored (``"12,37"``); NULL and empty strings are regular sales and
        need no row.

    Returns
    -------
    pyarrow.Table
        Columns ``conditions`` (string), ``updates_last``, ``updates_high_low``, ``updates_volume`` (bool): each
        true iff every listed id of the string allows it (unknown ids and non-integer tokens are neutral).
    """
    texts = sorted(set(strings))
    decided = [_decide(text) for text in texts]
    return pa.table(
        {
            "conditions": pa.array(texts, type=pa.string()),
            "updates_last": pa.array([d[0] for d in decided], type=pa.bool_()),
            "updates_high_low": pa.array([d[1] for d in decided], type=pa.bool_()),
            "updates_volume": pa.array([d[2] for d in decided], type=pa.bool_()),
        }
    )


def corrections_table() -> pa.Table:
    """The correction codes as Arrow, for a database reference table.

    Returns
    -------
    pyarrow.Table
        Columns ``code`` (int32) and ``kept`` (bool): every code of the corrections file, kept or excluded.
    """
    codes = sorted(KEPT_CORRECTIONS | EXCLUDED_CORRECTIONS)
    return pa.table({"code": pa.array(codes, type=pa.int32()),
                     "kept": pa.array([code in KEPT_CORRECTIONS for code in codes], type=pa.bool_())})
