"""Each kernel the transform calls is dispatched with one writability per array argument (:mod:`udx._read_only`),
whichever read path each pass's data takes, so a kernel has one numba specialization and a warm cache leaves
nothing to compile in the middle of a pass.

The transform runs in a new process (``tests/udx/writability_probe.py``: this process's kernels hold the
signatures of every test before, and warming would load every cached one) over markets that take the paths that
used to hand kernels writable copies beside Arrow's read-only buffers: prints filtered out, reads in more than
one Arrow chunk, the realized spreads' heads joined in front of their main reads, a symbol without quotes beside
symbols with them, rows stored interleaved and put in order, states carried in memory and read back. The probe
counts each path (a path no longer taken fails here, instead of passing for want of it) and reports numba's own
record of the types each kernel was called with (``Dispatcher.signatures``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from udx._jit import jit_enabled

pytestmark = [pytest.mark.duckdb,
              pytest.mark.skipif(not jit_enabled(), reason="kernels run as plain Python: no numba signatures")]

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("writability_probe.py")
#: The kernels that compiled again mid-pass in the demo (BENCHMARKS.md, "Freshness of the demo", helper democpu).
SEEN_MIXED = ("udx.bars._bars", "udx.bars._check_trades", "udx.liquidity._quoted", "udx.liquidity._trade_measures",
              "udx.nbbo._prevailing", "udx.nbbo._unsorted_at", "udx.realized._bar_means", "udx.realized._decompose",
              "udx.trade_sign._lee_ready")


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(PROBE), str(tmp_path_factory.mktemp("writability"))], cwd=ROOT,
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_markets_take_every_read_path(probe):
    assert all(n > 0 for n in probe["paths"].values()), probe["paths"]


def test_each_kernel_gets_one_writability_per_argument(probe):
    kernels = probe["kernels"]
    assert set(SEEN_MIXED) <= set(kernels)
    mixed = {name: sigs for name, sigs in kernels.items()
             if any(len({sig[i] for sig in sigs}) > 1 for i in range(len(sigs[0])))}
    assert mixed == {}


def test_the_kernels_seen_compiling_mid_pass_have_one_specialization(probe):
    assert {name: len(probe["kernels"][name]) for name in SEEN_MIXED} == dict.fromkeys(SEEN_MIXED, 1)
