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


#: A transform with fits and bar liquidity in a new process without warming: which kernels it called (numba's own
#: record, ``overloads``) and which warming would load.
RUN_PROBE = """
import json, sys
from pathlib import Path
import pyarrow.compute as pc
from udx import warm
warm._started.set()  # no warming: each kernel loads at its first call
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from udx.transform import run_transform
from numba.core.registry import CPUDispatcher
end = 1_750_000_000 * 10**9 - (1_750_000_000 % 60) * 10**9
symbols = (*tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2],
           *tuple(s for s in DEFAULT_SYMBOLS if s.market == "crypto")[:1])
trades, quotes = SyntheticMarket(11, 20.0, symbols, quote_dynamics=True).history(end - 4 * 3600 * 10**9, end)
st = Settings(_env_file=None, duckdb_path=Path(sys.argv[1]), bar_seconds=60, session_stocks="00:00-24:00 UTC",
              transform_lateness_seconds=0.0, liquidity_horizon_seconds=300, garch_min_obs=50, acd_min_obs=50)
storage = DuckDBStorage.open(st)
storage.apply_schema()
storage.append_trades(trades)
storage.append_quotes(quotes)
summary = run_transform(storage, st, now_ns=1)
storage.close()
kernels = {}
for name, module in list(sys.modules.items()):
    if name == "udx" or name.startswith("udx."):
        kernels.update((id(v), v) for v in vars(module).values() if isinstance(v, CPUDispatcher))
label = lambda d: d.py_func.__module__ + "." + d.py_func.__qualname__
print(json.dumps({"fits": summary.fits, "called": sorted(label(d) for d in kernels.values() if d.overloads),
                  "warmed": sorted(label(d) for d in warm._dispatchers())}))
"""


@pytest.mark.skipif(not jit_enabled(), reason="kernels run as plain Python: nothing to load")
def test_warming_covers_every_kernel_a_transform_calls(tmp_path):
    """Every kernel a transform run with fits and bar liquidity calls is among those warmed, and so are the
    kernels only other kernels call (``bns._add``, ``liquidity._usable``: warming loads every kernel)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", RUN_PROBE, str(tmp_path / "w.duckdb")], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["fits"] > 0 and "udx.garch._loglik_grad_python" in got["called"]
    assert set(got["called"]) <= set(got["warmed"])
    # ``inner`` shows among the called kernels only when its caller was compiled in this run (a cold cache):
    # only that warming holds it is asserted
    for inner in ("udx.bns._add_python", "udx.liquidity._usable_python"):
        assert inner in got["warmed"]


#: Warming with an empty cache directory, then the first call of a kernel.
EMPTY_PROBE = """
import json
import numpy as np
import udx.transform
from udx import warm
from udx.realized import _decompose
thread = warm.warm_kernels()
thread.join()
dispatchers = warm._dispatchers()
loaded = sum(len(d.overloads) for d in dispatchers)
x = np.ones(3)
_decompose(x, np.ones(3, np.int8), x, x, np.empty(3), np.empty(3))
print(json.dumps({"kernels": len(dispatchers), "loaded": loaded, "compiled": len(_decompose.overloads)}))
"""


@pytest.mark.skipif(not jit_enabled(), reason="kernels run as plain Python: nothing to load")
def test_warming_with_no_cache_loads_nothing_and_a_kernel_still_compiles_at_its_first_call(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path / "empty-cache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", EMPTY_PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["kernels"] > 0
    assert got["loaded"] == 0  # nothing cached: nothing loaded, nothing compiled ahead
    assert got["compiled"] == 1
