"""Tool arguments that need more than a type: time windows, symbols and opaque cursors.

Errors are ``ValueError`` with a message that names the argument and what it accepts: the MCP SDK turns
them into an ``isError`` result the model can read and correct (``notes/mcp-sdk.md`` §2).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, StringConstraints

__all__ = [
    "MAX_CURSOR_CHARS",
    "MAX_INSTANT_CHARS",
    "TICKER_PATTERN",
    "CursorKey",
    "CursorText",
    "InstantNs",
    "InstantText",
    "TimeWindow",
    "decode_cursor",
    "encode_cursor",
    "iso_utc",
    "normalize_symbol",
    "parse_window",
]

#: A ticker as the schemas advertise it (case-insensitive); normalize_symbol upper-cases it.
TICKER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.:/-]{0,31}$"
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-:/]{0,31}$")
_NS_MAX = 2**63 - 1
_INT32 = 2**31
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Longest ``start``/``end`` text and ``cursor`` any route accepts (REST and MCP share these types).
MAX_INSTANT_CHARS = 40
MAX_CURSOR_CHARS = 512
InstantText = Annotated[str, StringConstraints(max_length=MAX_INSTANT_CHARS)]
InstantNs = Annotated[int, Field(ge=0, le=_NS_MAX)]
CursorText = Annotated[str, StringConstraints(max_length=MAX_CURSOR_CHARS)]

#: What one value of a cursor's keyset is: nanoseconds, a 32-bit integer column, a text column (a ticker,
#: a trade id) of at most 256 characters, or a ``YYYY-MM-DD`` date.
CursorKey = Literal["ns", "int32", "text", "date"]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open interval ``[start_ns, end_ns)`` of nanoseconds since the epoch."""

    start_ns: int
    end_ns: int


def iso_utc(ns: int) -> str:
    """Format nanoseconds since the epoch as ISO-8601 UTC with milliseconds, e.g. ``2026-01-02T14:30:00.125Z``."""
    moment = datetime.fromtimestamp(ns // 1_000_000 / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_instant(name: str, value: str | int) -> int:
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        ns = int(value)
        if not 0 <= ns <= _NS_MAX:
            raise ValueError(f"{name} must be nanoseconds since the epoch between 0 and {_NS_MAX}")
        return ns
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(
            f"{name} must be ISO-8601 (e.g. 2026-01-02T14:30:00Z) or nanoseconds since the epoch, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


def parse_window(
    hours_back: float | None, start: str | int | None, end: str | int | None, *, now_ns: int | None = None
) -> TimeWindow:
    """Turn ``hours_back`` or ``start``/``end`` into a time window; neither means all time.

    Parameters
    ----------
    hours_back
        Look back this many hours from now; excludes ``start``.
    start, end
        ISO-8601 (UTC unless an offset is given) or integer nanoseconds; ``end`` is exclusive.
    now_ns
        The current time, for tests.
    """
    if hours_back is not None and start is not None:
        raise ValueError("give either hours_back or start (with an optional end), not both")
    now = time.time_ns() if now_ns is None else now_ns
    end_ns = _NS_MAX if end is None else _parse_instant("end", end)
    if hours_back is not None:
        start_ns = max(0, now - int(hours_back * 3600 * 1e9))
    elif start is not None:
        start_ns = _parse_instant("start", start)
    else:
        start_ns = 0
    if end_ns <= start_ns:
        raise ValueError(f"end ({iso_utc(end_ns)}) must be after start ({iso_utc(start_ns)})")
    return TimeWindow(start_ns, end_ns)


def normalize_symbol(symbol: str) -> str:
    """Upper-case and check a ticker (``AAPL``, ``BRK.B``, ``BTC-USD``)."""
    candidate = symbol.strip().upper()
    if not _SYMBOL.match(candidate):
        raise ValueError(
            f"symbol {symbol!r} is not a ticker: use 1-32 letters, digits and . - : / (e.g. AAPL, BTC-USD)"
        )
    return candidate


def encode_cursor(tool: str, key: list[Any]) -> str:
    """Make an opaque cursor that resumes ``tool`` after the row with keyset ``key``."""
    return base64.urlsafe_b64encode(orjson.dumps({"t": tool, "k": key})).decode().rstrip("=")


def _is_key(kind: CursorKey, value: Any) -> bool:
    """Whether ``value`` is a keyset value of ``kind`` (what :func:`encode_cursor` was given for it)."""
    if kind in ("ns", "int32"):
        low, high = (0, _NS_MAX) if kind == "ns" else (-_INT32, _INT32 - 1)
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if not isinstance(value, str):
        return False
    if kind == "text":
        return len(value) <= 256
    try:
        return _DATE.match(value) is not None and bool(date.fromisoformat(value))
    except ValueError:
        return False


def decode_cursor(tool: str, cursor: str, keys: Sequence[CursorKey]) -> list[Any]:
    """Read a cursor made by :func:`encode_cursor` for ``tool``; anything else is a ``ValueError``.

    The cursor is not signed: it carries only a tool name and keyset values, each checked here against
    ``keys`` (its kind), so a forged cursor can choose where a page starts but never reaches the query with
    a value of the wrong type. Signing would tie cursors to one process; ``serve`` runs as replicas.

    Parameters
    ----------
    tool
        The tool asking; a cursor of another tool is refused.
    cursor
        The ``next_cursor`` a previous answer carried.
    keys
        The kind of each keyset value, in order.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        values = payload["k"]
        if (payload["t"] == tool and isinstance(values, list) and len(values) == len(keys)
                and all(_is_key(kind, value) for kind, value in zip(keys, values))):  # fmt: skip
            return list(values)
    except (ValueError, KeyError, TypeError):
        pass
    raise ValueError(f"cursor is not one that {tool} returned as next_cursor; omit it to start from the newest rows")
