"""Microstructure signal kernels and the incremental transform.

For notebooks, the pieces compose like this::

    import numpy as np
    from udx import bars, default_window, jump_flags, lee_mykland_stat, lm_threshold, session_bounds

    opens, closes = session_bounds("09:30-16:00 America/New_York", start_ns, end_ns)
    b = bars(ts_ns, price, size, opens, closes, 60 * 10**9)     # 1-minute previous-tick bars
    K = default_window(390)                                      # ceil(sqrt(252 * 390)) = 314
    L = lee_mykland_stat(b.log_return, K)                        # spec/signals.md §2.4, hf scale
    jumps = jump_flags(L, lm_threshold(390, 0.01))

:func:`run_transform` does the same incrementally for every symbol in a :class:`sql.backend.Storage` and
writes ``trading_signals``. Kernels are compiled with numba; set ``UDX_DISABLE_NUMBA=1`` (or
``NUMBA_DISABLE_JIT=1``) to run their plain-Python twins.
"""

from udx.bars import Bars, bars
from udx.lee_mykland import default_window, jump_flags, lee_mykland_stat, lm_threshold
from udx.sessions import Session, parse_session, session_bounds
from udx.state import StateError, SymbolState
from udx.transform import TransformSummary, run_transform

__all__ = [
    "Bars",
    "Session",
    "StateError",
    "SymbolState",
    "TransformSummary",
    "bars",
    "default_window",
    "jump_flags",
    "lee_mykland_stat",
    "lm_threshold",
    "parse_session",
    "run_transform",
    "session_bounds",
]
