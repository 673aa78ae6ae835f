"""Per-symbol state the incremental transform carries between runs (``signal_state.state``).

The state holds exactly what the next run needs to continue the bar grid and the Lee-Mykland window as if
it had never stopped: the last emitted bar (end, close, session open), the last ``K - 1`` returns and how
many returns were seen. It also records the parameters it was computed with (grid, window, session), so a
run with different settings refuses to continue a state that does not fit.

Serialization is versioned JSON (``"v": 1``). Floats are written with :meth:`float.hex`, so every double
(NaN included) round-trips bit for bit, which the exact-restart guarantee of :mod:`udx.transform` needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STATE_VERSION", "StateError", "SymbolState"]

#: Version written by :meth:`SymbolState.to_json`; :meth:`SymbolState.from_json` reads only this version.
STATE_VERSION = 1


class StateError(ValueError):
    """A stored state cannot be read, or does not fit the current settings."""


@dataclass(frozen=True, slots=True)
class SymbolState:
    """Carried state of one symbol on one bar grid.

    Attributes
    ----------
    bar_seconds, window, session
        Parameters the state was computed with (grid, LM window K, session specification).
    last_bar_end_ns
        End of the last bar written to ``trading_signals``.
    last_close
        Close of that bar (previous-tick price at its end).
    last_session_open_ns
        Open of the session that bar belongs to.
    returns_tail
        The last ``min(window - 1, n_returns)`` bar returns, oldest first.
    n_returns
        Number of bar returns seen so far (the global index of the next return).
    """

    bar_seconds: int
    window: int
    session: str
    last_bar_end_ns: int
    last_close: float
    last_session_open_ns: int
    returns_tail: tuple[float, ...] = field(default=())
    n_returns: int = 0

    def to_json(self) -> str:
        """Serialize to versioned JSON with exact (hex) floats."""
        doc: dict[str, Any] = {
            "v": STATE_VERSION,
            "bar_seconds": self.bar_seconds,
            "window": self.window,
            "session": self.session,
            "last_bar_end_ns": self.last_bar_end_ns,
            "last_close": float(self.last_close).hex(),
            "last_session_open_ns": self.last_session_open_ns,
            "returns_tail": [float(r).hex() for r in self.returns_tail],
            "n_returns": self.n_returns,
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SymbolState:
        """Read a state written by :meth:`to_json`.

        Raises
        ------
        StateError
            When ``text`` is not valid JSON, has another version, or misses a field.
        """
        try:
            doc = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise StateError(f"signal state is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("v") != STATE_VERSION:
            version = doc.get("v") if isinstance(doc, dict) else None
            raise StateError(f"signal state version {version!r} is not supported (expected {STATE_VERSION})")
        try:
            return cls(
                bar_seconds=int(doc["bar_seconds"]),
                window=int(doc["window"]),
                session=str(doc["session"]),
                last_bar_end_ns=int(doc["last_bar_end_ns"]),
                last_close=float.fromhex(doc["last_close"]),
                last_session_open_ns=int(doc["last_session_open_ns"]),
                returns_tail=tuple(float.fromhex(r) for r in doc["returns_tail"]),
                n_returns=int(doc["n_returns"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"signal state is malformed: {exc!r}") from exc

    def check_fits(self, *, bar_seconds: int, window: int, session: str) -> None:
        """Raise :class:`StateError` unless the state was computed with these parameters."""
        stored = (self.bar_seconds, self.window, self.session)
        wanted = (bar_seconds, window, session)
        if stored != wanted:
            raise StateError(
                f"stored signal state was computed with (bar_seconds, window, session) = {stored}, "
                f"the settings ask for {wanted}; delete this grid's signal_state and trading_signals "
                "rows to recompute, or restore the old settings"
            )
