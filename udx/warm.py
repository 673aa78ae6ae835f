"""Load the kernels' cached machine code before the first call needs it, on a background thread.

numba loads a ``cache=True`` kernel from its cache (``__pycache__`` or ``NUMBA_CACHE_DIR``) lazily, at the first
call: ~0.75 s for the transform's kernels in a new process, most of it numba's one-time set-up, all of it in
the first chunk's critical path. :func:`warm_kernels` starts a daemon thread that loads every signature the
cache holds for every kernel of the ``udx`` modules imported so far (``Dispatcher.compile`` of a cached
signature loads it; nothing new is compiled), while the caller does other work (the transform reads its first
chunk meanwhile: DuckDB releases the GIL). A kernel called before its turn simply loads itself, as without
warming; numba's compiler lock keeps the two from racing. The ``transform`` command starts it earlier, before it
opens the database file and checks its schema (:func:`server.standalone.transform`), so that loading overlaps
those too; :func:`udx.transform.run_transform`'s own call is then a no-op.

The loading is mostly Python holding the GIL (numba's one-time set-up imports its lowering modules, and cffi and
pycparser with them; each signature is unpickled and handed to llvmlite): beside a thread running Python its wall
time grows two- to four-fold (2026-12-05, BENCHMARKS.md "Transform end to end", helper tspeed2). What overlaps it
is GIL-free work: DuckDB's queries, the kernels themselves.

Every kernel, not only those Python calls: the kernels called only from other kernels (compiled into their
callers' code, 16 of the 59 cached signatures) cost the thread ~the same CPU to load (0.33-0.40 s for all
against 0.32-0.36 s without them, three new processes each, 2026-12-05, BENCHMARKS.md "Transform pieces"),
so the list is the plain one.
"""

from __future__ import annotations

import logging
import sys
import threading

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
    """The numba kernels of the imported ``udx`` modules, each once."""
    from numba.core.registry import CPUDispatcher

    kernels: dict[int, object] = {}
    for name, module in list(sys.modules.items()):
        if name == "udx" or name.startswith("udx."):
            for value in list(vars(module).values()):
                if isinstance(value, CPUDispatcher):
                    kernels.setdefault(id(value), value)
    return list(kernels.values())


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
