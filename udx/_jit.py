"""The numba shim every kernel module uses: ``jit`` compiles, unless JIT is switched off.

Set ``UDX_DISABLE_NUMBA=1`` (or numba's own ``NUMBA_DISABLE_JIT=1``) to run the plain-Python twins instead of
compiled code, e.g. for coverage or debugging. If numba cannot be imported the kernels fall back to Python
with a :class:`RuntimeWarning` (numba is a hard dependency, so that is a broken install, not a mode).

Kernels are compiled lazily on first call, in ``nopython`` mode, without ``fastmath`` (their inputs may
contain NaN; spec/signals.md §1 asks for the same float64 arithmetic as the reference twins), and with
``cache=True``: the machine code is kept in ``__pycache__`` (or ``NUMBA_CACHE_DIR``), so a new process, such as
each ``microstructure transform --once``, loads it instead of spending seconds compiling again.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DISABLE_ENV", "jit", "jit_enabled"]

F = TypeVar("F", bound=Callable[..., Any])

#: Environment variable that, when set to a true value, disables compilation of the kernels.
DISABLE_ENV = "UDX_DISABLE_NUMBA"


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def jit_enabled() -> bool:
    """Return whether kernels are compiled (neither ``UDX_DISABLE_NUMBA`` nor ``NUMBA_DISABLE_JIT`` set)."""
    return not (_truthy(os.environ.get(DISABLE_ENV)) or _truthy(os.environ.get("NUMBA_DISABLE_JIT")))


def jit(func: F, **options: Any) -> F:
    """Compile ``func`` with ``numba.njit(cache=True, **options)``, or return it unchanged when JIT is disabled."""
    if not jit_enabled():
        return func
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a declared dependency
        warnings.warn("numba is not importable; udx kernels run as plain Python", RuntimeWarning, stacklevel=2)
        return func
    options.setdefault("cache", True)
    compiled: F = numba.njit(**options)(func)
    return compiled
