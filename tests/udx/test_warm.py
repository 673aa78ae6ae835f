"""udx.warm: the kernels' cached signatures load on a background thread, and nothing new is compiled there. Run
in a new process (warming happens once per process, and this test process may have warmed already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from udx._jit import jit_enabled

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
import udx.transform  # imports every kernel module the transform calls
from udx import warm
dispatchers = warm._dispatchers()
cached = {d.py_func.__qualname__ + "@" + d.py_func.__module__: len(warm._cached_signatures(d)) for d in dispatchers}
thread = warm.warm_kernels()
thread.join()
print(json.dumps({"cached": cached, "again": warm.warm_kernels() is None,
                  "loaded": {d.py_func.__qualname__ + "@" + d.py_func.__module__: len(d.overloads) for d in dispatchers},
                  "misses": sum(sum(d.stats.cache_misses.values()) for d in dispatchers)}))
"""


@pytest.mark.skipif(not jit_enabled(), reason="kernels run as plain Python: nothing to load")
def test_warming_loads_every_cached_signature_once_and_compiles_nothing():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    fill = ("import numpy as np; from udx.realized import _decompose; x = np.ones(3); "
            "_decompose(x, np.ones(3, np.int8), x, x, np.empty(3), np.empty(3))")  # at least one cached signature
    subprocess.run([sys.executable, "-c", fill], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["again"]  # once per process
    assert got["misses"] == 0
    assert got["cached"]["_decompose_python@udx.realized"] >= 1
    assert got["loaded"] == got["cached"]
