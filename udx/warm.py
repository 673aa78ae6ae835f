"""Load the kernels' cached machine code before the first call needs it, on a background thread.

numba loads a ``cache=True`` kernel from its cache (``__pycache__`` or ``NUMBA_CACHE_DIR``) lazily, at the first
call: ~0.75 s for the transform's kernels in a new process, most of it numba's one-time set-up, all of it in
the first chunk's critical path. :func:`warm_kernels` starts a daemon thread that loads every signature the
cache holds for each kernel of the ``udx`` modules imported so far that Python code calls
(``Dispatcher.compile`` of a cached signature loads it; nothing new is compiled), while the caller does other
work (the transform reads its first chunk meanwhile: DuckDB releases the GIL). Kernels called only from
other kernels are skipped: their code is part of their callers' cached code, and a run never loads them on
their own (16 of the 58 signatures cached for the transform, measured 2026-12-04). A kernel called before
its turn simply loads itself, as without warming; numba's compiler lock keeps the two from racing.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import CodeType, FunctionType, ModuleType

from udx._jit import jit_enabled

__all__ = ["warm_kernels"]

log = logging.getLogger(__name__)
_started = threading.Event()


def warm_kernels() -> threading.Thread | None:
    """Start loading every cached kernel signature on a daemon thread, once per process.

    Returns
    -------
    threading.Thread or None
        The thread (join it to wait), or ``None`` when JIT is off or warming was started already.
    """
    if not jit_enabled() or _started.is_set():
        return None
    _started.set()
    thread = threading.Thread(target=_load_cached, name="udx-warm-kernels", daemon=True)
    thread.start()
    return thread


def _dispatchers() -> list[object]:
    """The numba kernels of the imported ``udx`` modules that Python calls, each once.

    A kernel called only from other kernels is compiled into them (their cached code holds it), so its own
    cached signatures are never loaded by a run: it is left out. A kernel counts as called from Python when
    a plain function or method of a ``udx`` module names it, directly or as an attribute of a module it names
    (a kernel's ``_python`` twin does not count)."""
    from numba.core.registry import CPUDispatcher

    kernels: dict[int, object] = {}
    code: list[tuple[CodeType, dict[str, object]]] = []
    for name, module in list(sys.modules.items()):
        if name == "udx" or name.startswith("udx."):
            for value in list(vars(module).values()):
                if isinstance(value, CPUDispatcher):
                    kernels.setdefault(id(value), value)
                else:
                    code += [(c, vars(module)) for c in _code_of(value, name)]
    twins = {id(k.py_func.__code__) for k in kernels.values()}  # type: ignore[attr-defined]
    from_python: dict[int, object] = {}
    for top, names in code:
        if id(top) in twins:
            continue
        for c in _nested(top):
            # a kernel named directly, or as an attribute of a module it names (``_acd._acd_events``)
            spaces = [names, *(vars(m) for m in (names.get(n) for n in c.co_names) if isinstance(m, ModuleType))]
            for referenced in c.co_names:
                for space in spaces:
                    value = space.get(referenced)
                    if isinstance(value, CPUDispatcher):
                        from_python.setdefault(id(value), value)
    return [k for i, k in kernels.items() if i in from_python]


def _code_of(value: object, module: str) -> list[CodeType]:
    """The code of a function, or of each method of a class, defined in ``module``."""
    if isinstance(value, FunctionType):
        return [value.__code__] if value.__module__ == module else []
    if isinstance(value, type) and value.__module__ == module:
        out = []
        for member in vars(value).values():
            member = getattr(member, "__func__", member)  # staticmethod, classmethod
            if isinstance(member, property):
                member = member.fget
            if isinstance(member, FunctionType):
                out.append(member.__code__)
        return out
    return []


def _nested(code: CodeType) -> list[CodeType]:
    """``code`` and the code of every function defined inside it."""
    out = [code]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            out += _nested(const)
    return out


def _cached_signatures(dispatcher: object) -> list[tuple[object, ...]]:
    """The argument types of the overloads the cache holds for this machine and this source of the kernel."""
    cache = dispatcher._cache  # type: ignore[attr-defined]  # numba's FunctionCache (no public listing)
    index = cache._cache_file._load_index()
    codegen = dispatcher.targetctx.codegen()  # type: ignore[attr-defined]
    return [key[0] for key in index if cache._index_key(key[0], codegen) == key]


def _load_cached() -> None:
    loaded = 0
    try:
        for dispatcher in _dispatchers():
            for sig in _cached_signatures(dispatcher):
                dispatcher.compile(sig)  # type: ignore[attr-defined]  # a cached signature: loaded, not compiled
                loaded += 1
    except Exception as exc:  # noqa: BLE001 - warming only saves time: say why it stopped, the calls load lazily
        log.warning("loading the cached numba kernels ahead stopped after %d: %s (they load at first call)",
                    loaded, exc)
        return
    log.debug("%d cached numba kernel signature(s) loaded ahead", loaded)
