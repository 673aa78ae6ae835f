"""``udx/_jit.py``: a call with writable arrays is served by the specialization compiled for read-only ones
(compiled in this process or in the cache) instead of compiling another; a read-only array is never handed to
code compiled for a writable one; anything else compiles as before. Results are the plain twin's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from udx._jit import jit, jit_enabled

pytestmark = pytest.mark.skipif(not jit_enabled(), reason="the JIT is off: nothing is compiled")


def _scaled_python(a, factor, out):  # type: ignore[no-untyped-def]
    for i in range(a.size):
        out[i] = a[i] * factor


def _read_only(values: np.ndarray) -> np.ndarray:
    view = values.view()
    view.flags.writeable = False
    return view


def _kernel():  # type: ignore[no-untyped-def]
    return jit(_scaled_python, cache=False)  # a new dispatcher each time: nothing compiled yet


def test_a_writable_call_after_a_read_only_one_reuses_its_code() -> None:
    kernel = _kernel()
    out = np.empty(4)
    kernel(_read_only(np.arange(4.0)), 2.0, out)
    assert out.tolist() == [0.0, 2.0, 4.0, 6.0]
    kernel(np.arange(1.0, 5.0), 3.0, out)  # writable: served by the read-only code
    assert out.tolist() == [3.0, 6.0, 9.0, 12.0]
    kernel(np.arange(1.0, 5.0), 1.0, out)  # again: found directly now
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert len(kernel.signatures) == 1
    assert not kernel.signatures[0][0].mutable


def test_a_read_only_call_is_never_served_by_code_for_a_writable_array() -> None:
    kernel = _kernel()
    out = np.empty(3)
    kernel(np.arange(3.0), 2.0, out)
    kernel(_read_only(np.arange(3.0)), 5.0, out)  # compiled for itself: a writable twin could write it
    assert out.tolist() == [0.0, 5.0, 10.0]
    assert sorted(sig[0].mutable for sig in kernel.signatures) == [False, True]
    kernel(np.arange(3.0), 1.0, out)  # the exact writable code exists: no third
    assert len(kernel.signatures) == 2


def _summed_python(a, b, out):  # type: ignore[no-untyped-def]
    for i in range(a.size):
        out[i] = a[i] + b[i]


def test_a_new_mix_compiles_read_only_wherever_an_earlier_one_was_so_later_mixes_compile_nothing() -> None:
    kernel = jit(_summed_python, cache=False)
    out = np.empty(3)
    ones, twos = np.ones(3), np.full(3, 2.0)
    kernel(_read_only(ones), twos, out)  # (read-only, writable): compiled as it comes
    kernel(ones, _read_only(twos), out)  # (writable, read-only): compiled (read-only, read-only)
    assert out.tolist() == [3.0, 3.0, 3.0]
    assert sorted((sig[0].mutable, sig[1].mutable) for sig in kernel.signatures) == [(False, False), (False, True)]
    kernel(ones, twos, out)  # (writable, writable) and the rest: served
    kernel(_read_only(ones), _read_only(twos), out)
    assert len(kernel.signatures) == 2
    assert all(sig[2].mutable for sig in kernel.signatures)  # the output was never made read-only


def test_other_types_still_compile_their_own_code() -> None:
    kernel = _kernel()
    out = np.empty(3)
    kernel(_read_only(np.arange(3.0)), 2.0, out)
    kernel(np.arange(3), 2.0, out)  # int64 input: not a twin of a float64 one
    assert out.tolist() == [0.0, 2.0, 4.0]
    kernel(np.arange(3.0), 2, out)  # an int factor: not a twin either
    assert len(kernel.signatures) == 3


_MODULE = '''
import numpy as np
from udx._jit import jit


def _scaled_python(a, factor, out):
    for i in range(a.size):
        out[i] = a[i] * factor


_scaled = jit(_scaled_python)
'''

_CALL = '''
import json, sys
import numpy as np
import twin_kernel

values = np.arange(5.0)
if sys.argv[1] == "read-only":
    values.flags.writeable = False
out = np.empty(5)
twin_kernel._scaled(values, 2.0, out)
stats = twin_kernel._scaled.stats
print(json.dumps({"out": out.tolist(), "misses": sum(stats.cache_misses.values()),
                  "hits": sum(stats.cache_hits.values()),
                  "mutable": [sig[0].mutable for sig in twin_kernel._scaled.signatures]}))
'''


def _call(tmp_path: Path, flag: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
           "NUMBA_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run([sys.executable, "-c", _CALL, flag], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=True, timeout=300)  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_new_process_takes_the_cached_read_only_code_for_a_writable_call(tmp_path: Path) -> None:
    (tmp_path / "twin_kernel.py").write_text(textwrap.dedent(_MODULE))
    first = _call(tmp_path, "read-only")
    assert first["misses"] == 1 and first["mutable"] == [False]  # compiled, and cached
    second = _call(tmp_path, "writable")
    assert second["out"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert second["misses"] == 0 and second["hits"] == 1  # loaded from the cache, nothing compiled
    assert second["mutable"] == [False]
