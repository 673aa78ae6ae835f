"""The numba shim every kernel module uses: ``jit`` compiles, unless JIT is switched off.

Set ``UDX_DISABLE_NUMBA=1`` (or numba's own ``NUMBA_DISABLE_JIT=1``) to run the plain-Python twins instead of
compiled code, e.g. for coverage or debugging. If numba cannot be imported the kernels fall back to Python
with a :class:`RuntimeWarning` (numba is a hard dependency, so that is a broken install, not a mode).

Kernels are compiled lazily on first call, in ``nopython`` mode, without ``fastmath`` (their inputs may
contain NaN; spec/signals.md §1 asks for the same float64 arithmetic as the reference twins), and with
``cache=True``: the machine code is kept in ``__pycache__`` (or ``NUMBA_CACHE_DIR``), so a new process, such as
each ``microstructure transform --once``, loads it instead of spending seconds compiling again.

**One machine code for a writable and a read-only array.** numba types an array by its ``writeable`` flag too,
and compiles a new specialization for each mix of flags it is called with. The transform's arrays are
read-only where Arrow handed its buffers over without a copy and writable where they were copied (a read in
two chunks, prints filtered out, rows put in order), which depends on the data of each pass: a long-running
demo kept meeting mixes not in its cache and compiled them in the middle of a pass (0.2-0.8 s of CPU each,
holding the GIL, so the feed and the server stopped too; BENCHMARKS.md "Freshness of the demo", helper
democpu). So a call whose types have no machine code yet is first served by an existing specialization
(compiled or in the cache) that differs only in taking read-only arrays where the call passes writable ones:
numba's own safe conversion (it does the same for a dispatcher that may not compile), and the code reads
those arrays only, since it was compiled with them read-only (:func:`_served_by_read_only_twin`). When there is
none, the specialization compiled takes read-only arrays wherever the call's are read-only or an earlier
specialization took a read-only one (an argument the kernel only reads), so it serves every later mix of those;
calls without such an argument compile as before.
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
    compile_for_args = getattr(compiled, "_compile_for_args", None)  # numba calls it on a type miss (private)
    if compile_for_args is None:  # a numba without it: every mix of flags compiles, as numba does by itself
        return compiled

    def served_or_compiled(*args: Any, **kws: Any) -> Any:
        served = None if kws else _served_by_read_only_twin(compiled, args)
        return compile_for_args(*args, **kws) if served is None else served

    compiled._compile_for_args = served_or_compiled  # type: ignore[attr-defined]
    return compiled


def _served_by_read_only_twin(dispatcher: Any, args: tuple[Any, ...]) -> Any:
    """Machine code of ``dispatcher`` for ``args``, registered for their exact types so that the next such call
    finds it directly; ``None``: numba compiles the call's own types, as without this.

    An existing specialization (loaded from the cache if need be) fits when each of its argument types is the
    call's, or is the read-only twin of the call's writable array (same dtype, dimensions and layout). With none,
    the call's types are compiled with a read-only array at every argument where an existing specialization
    takes one (the kernel only reads it there), if that changes any. Called by numba's dispatcher only when no
    machine code matches the call's types exactly."""
    from numba.core import types

    try:
        argtypes = tuple(dispatcher.typeof_pyval(a) for a in args)
    except Exception:  # noqa: BLE001 - numba's own path types (and reports) what it cannot
        return None
    if not any(isinstance(t, types.Array) and t.mutable for t in argtypes):
        return None  # no writable array: no read-only twin to use

    def fits(signature: tuple[Any, ...]) -> bool:
        return len(signature) == len(argtypes) and all(
            want == have or (isinstance(have, types.Array) and isinstance(want, types.Array) and have.mutable
                             and not want.mutable and have.copy(readonly=True) == want)
            for want, have in zip(signature, argtypes, strict=True))  # fmt: skip

    from numba.core.compiler_lock import global_compiler_lock

    codes = tuple(t._code for t in argtypes)
    with global_compiler_lock:  # two threads missing at once: registered once
        served: dict[tuple[int, ...], Any] = dispatcher.__dict__.setdefault("_served_by_twin", {})
        if codes in served:
            return served[codes]
        known = list(dispatcher.overloads)
        signature = next((sig for sig in known if fits(sig)), None)
        if signature is None:
            cached = _cached_signatures(dispatcher)
            signature = next((sig for sig in cached if fits(sig)), None)
            if signature is None:  # compile, read-only wherever a specialization took a read-only array
                read_only = {i for sig in known + cached for i, t in enumerate(sig)
                             if isinstance(t, types.Array) and not t.mutable}  # fmt: skip
                signature = tuple(t.copy(readonly=True) if i in read_only and isinstance(t, types.Array) else t
                                  for i, t in enumerate(argtypes))  # fmt: skip
                if signature == argtypes:
                    return None  # numba's own path: nothing to widen
            try:
                dispatcher.compile(signature)  # cached: loaded; else compiled
            except Exception:  # noqa: BLE001 - numba's own path compiles the call's types (and reports)
                return None
        entry = dispatcher.overloads[signature]
        try:
            dispatcher._insert(list(codes), entry.entry_point, entry.objectmode)
        except Exception:  # noqa: BLE001 - numba's private table changed shape: its own path serves the call
            return None
        served[codes] = entry.entry_point
        return entry.entry_point


def _cached_signatures(dispatcher: Any) -> list[tuple[Any, ...]]:
    """The argument types of the specializations the cache holds for this machine and this source of the
    kernel (none without a cache)."""
    cache = getattr(dispatcher, "_cache", None)
    try:
        index = cache._cache_file._load_index()  # type: ignore[union-attr]  # numba's FunctionCache: no listing
        codegen = dispatcher.targetctx.codegen()
        return [key[0] for key in index if cache._index_key(key[0], codegen) == key]  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - no cache (a NullCache) or an unreadable index: nothing cached to use
        return []
