"""Per-symbol state the incremental transform carries between runs (``signal_state.state``).

The state holds exactly what the next run needs to continue every statistic as if it had never stopped: the
last emitted bar (end, close, session open), the count of returns seen, and named arrays: the tails of
returns, bar ends and trade counts (Lee-Mykland, BNS and GARCH windows, intensity baseline), the BNS running
sums, the GARCH parameters and next variance, the VPIN session statistics, open bucket and rings, and the
ACD profile, filter state and window of adjusted durations (see :mod:`udx.pipeline`). It also records the
configuration it was computed with, so a run with different settings refuses to continue a state that does
not fit.

Serialization is versioned JSON (``"v": 3``). The close is written with :meth:`float.hex` and each array as
its dtype (``f8``, ``i8``, or ``u2`` for the per-bar trade counts of earlier sessions) and the base64 of its
little-endian bytes as a zlib stream, so every double (NaN included) round-trips bit for bit, which the
exact-restart guarantee of :mod:`udx.transform` needs. The stream is deflated (level 1) where that pays; an array
under 512 bytes, or whose bytes look random (byte entropy of its start above 7.2 bits: the windows of returns and
durations), is stored in it as it is (level 0, a copy): deflate would spend ~15 ns a byte to save a few per cent.
Version 2 (the same without zlib) is still read, so states stored before keep going; a state is written as version
3 the next time its symbol advances. The compression makes a state about 3x smaller (a symbol at one-minute bars with
a full seasonal window: ~330 kB of version 2 JSON, ~100 kB of version 3), so a ``transform --once`` writes a third of
the bytes of states through DuckDB's write-ahead log (BENCHMARKS.md, "Transform end to end").
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["STATE_VERSION", "StateError", "SymbolState"]

#: Version written by :meth:`SymbolState.to_json`; :meth:`SymbolState.from_json` reads it and the versions in
#: :data:`_READ_VERSIONS`.
STATE_VERSION = 3
#: Versions :meth:`SymbolState.from_json` reads -> whether their arrays are zlib-compressed.
_READ_VERSIONS = {2: False, 3: True}
#: zlib level of the arrays: level 1 keeps most of the gain (the per-bar counts and the seasonal sums compress
#: best) at a fraction of the time of the default level.
_ZLIB_LEVEL = 1
#: Arrays of fewer bytes are stored uncompressed (zlib level 0): deflate's set-up and the few bytes it saves on
#: the state's small arrays (parameters, short rings) cost more than the bytes weigh.
_SMALL_BYTES = 512
#: Bytes of an array's start whose byte histogram decides whether it is deflated (:func:`_level`).
_PROBE_BYTES = 2048
#: Bits per byte above which an array is stored uncompressed: random doubles (returns, adjusted durations, the
#: seasonal series) measure 7.5-7.6 in 2,048 bytes and deflate to 93-96 %; the per-bar counts, the seasonal sums and
#: the bar ends measure 0.4-6.9 and deflate to 2-71 %.
_STORE_ENTROPY = 7.2
_LOG2 = np.log2(np.maximum(np.arange(_PROBE_BYTES + 1, dtype=np.float64), 1.0))
_XLOG2X = np.arange(_PROBE_BYTES + 1, dtype=np.float64) * _LOG2  #: c log2 c of each count (0 for 0)
_DTYPES = {"f8": np.dtype("<f8"), "i8": np.dtype("<i8"), "u2": np.dtype("<u2")}


class StateError(ValueError):
    """A stored state cannot be read, or does not fit the current settings."""


def _level(raw: np.ndarray) -> int:
    """zlib level of an array's bytes (``raw``, contiguous): :data:`_ZLIB_LEVEL`, or 0 (stored blocks, a copy) when
    deflating would cost more than it saves: below :data:`_SMALL_BYTES`, or when the byte entropy of its first
    :data:`_PROBE_BYTES` exceeds :data:`_STORE_ENTROPY` bits (the mantissas of a window of returns: deflate at level
    1 shrinks them by ~4 % at ~15 ns a byte)."""
    if raw.nbytes < _SMALL_BYTES:
        return 0
    probe = raw.reshape(-1).view(np.uint8)[:_PROBE_BYTES]
    n = probe.size
    entropy = _LOG2[n] - float(_XLOG2X[np.bincount(probe, minlength=256)].sum()) / n
    return 0 if entropy > _STORE_ENTROPY else _ZLIB_LEVEL


def _encode(arr: np.ndarray) -> str:
    kind = "f8" if arr.dtype.kind == "f" else "u2" if arr.dtype == np.uint16 else "i8"
    raw = np.ascontiguousarray(arr, dtype=_DTYPES[kind])  # zlib reads its buffer: no copy made of it
    data = zlib.compress(raw, _level(raw))
    return f"{kind}:{base64.b64encode(data).decode('ascii')}"


def _decode(text: str, compressed: bool) -> np.ndarray:
    kind, _, data = text.partition(":")
    if kind not in _DTYPES:
        raise StateError(f"signal state array has unknown dtype {kind!r}")
    raw = base64.b64decode(data)
    if compressed:
        try:
            raw = zlib.decompress(raw)
        except zlib.error as exc:
            raise StateError(f"signal state array is not zlib data: {exc}") from exc
    return np.frombuffer(raw, dtype=_DTYPES[kind]).astype(_DTYPES[kind].newbyteorder("="))


@dataclass(slots=True)
class SymbolState:
    """Carried state of one symbol on one bar grid.

    Attributes
    ----------
    config
        The parameters the state was computed with (grid, session, windows; :mod:`udx.pipeline`).
    last_bar_end_ns
        End of the last bar written to ``trading_signals``.
    last_close
        Close of that bar (previous-tick price at its end).
    last_session_open_ns
        Open of the session that bar belongs to.
    n_returns
        Number of bar returns seen so far (the global index of the next return).
    arrays
        Named ``float64`` / ``int64`` arrays of the statistics (see :mod:`udx.pipeline`).
    """

    config: dict[str, Any]
    last_bar_end_ns: int
    last_close: float
    last_session_open_ns: int
    n_returns: int = 0
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialize to versioned JSON with exact floats and zlib-compressed arrays (module docstring)."""
        doc: dict[str, Any] = {
            "v": STATE_VERSION,
            "config": self.config,
            "last_bar_end_ns": self.last_bar_end_ns,
            "last_close": float(self.last_close).hex(),
            "last_session_open_ns": self.last_session_open_ns,
            "n_returns": self.n_returns,
        }
        # the compact sorted JSON of the whole document; "arrays" sorts first, and its values (kind, colon and
        # base64) need no escaping, so they are joined as they are rather than scanned again by the encoder
        arrays = ",".join(f"{json.dumps(str(name))}:\"{_encode(arr)}\"" for name, arr in sorted(self.arrays.items()))
        return f'{{"arrays":{{{arrays}}},{json.dumps(doc, separators=(",", ":"), sort_keys=True)[1:]}'

    @classmethod
    def from_json(cls, text: str) -> SymbolState:
        """Read a state written by :meth:`to_json`, or by the version 2 writer before it.

        Raises
        ------
        StateError
            When ``text`` is not valid JSON, has a version not read, or misses a field.
        """
        try:
            doc = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise StateError(f"signal state is not valid JSON: {exc}") from exc
        version = doc.get("v") if isinstance(doc, dict) else None
        if type(version) is not int or version not in _READ_VERSIONS:
            raise StateError(f"signal state version {version!r} is not supported (expected one of "
                             f"{sorted(_READ_VERSIONS)}); delete this grid's signal_state and trading_signals rows "
                             "to recompute")
        compressed = _READ_VERSIONS[version]
        try:
            return cls(
                config=dict(doc["config"]),
                last_bar_end_ns=int(doc["last_bar_end_ns"]),
                last_close=float.fromhex(doc["last_close"]),
                last_session_open_ns=int(doc["last_session_open_ns"]),
                n_returns=int(doc["n_returns"]),
                arrays={str(k): _decode(v, compressed) for k, v in doc["arrays"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"signal state is malformed: {exc!r}") from exc

    def check_fits(self, config: dict[str, Any]) -> None:
        """Raise :class:`StateError` unless the state was computed with ``config``."""
        if self.config != config:
            diff = sorted(k for k in set(self.config) | set(config) if self.config.get(k) != config.get(k))
            details = ", ".join(f"{k}: stored {self.config.get(k)!r}, wanted {config.get(k)!r}" for k in diff)
            raise StateError(
                f"stored signal state was computed with other settings ({details}); delete this grid's "
                "signal_state and trading_signals rows to recompute, or restore the old settings"
            )
