"""``microstructure transform --once`` through the command's own entry (``server.cli.main``) in a new process: it
does not import the server's HTTP and MCP stack, it starts loading the cached kernels before the database file
opens, and the rows it writes are those of a run in a process that loaded every kernel before the run began."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from udx._jit import jit_enabled

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)

#: Modules only the server (``serve``, ``up``, ``demo``) needs; ``transform`` has no use for them.
SERVER_STACK = ("uvicorn", "fastapi", "starlette", "mcp", "server.embedded", "server.app", "server.mcp",
                "server.http_server")
SETTINGS = {"BAR_SECONDS": "60", "SESSION_STOCKS": "00:00-24:00 UTC", "TRANSFORM_LATENESS_SECONDS": "0",
            "LIQUIDITY_HORIZON_SECONDS": "300", "GARCH_MIN_OBS": "50", "ACD_MIN_OBS": "50"}

BUILD = """
import sys
from pathlib import Path
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.duckdb_backend import DuckDBStorage
from sql.settings import load_settings
end = 1_750_000_000 * 10**9 - (1_750_000_000 % 60) * 10**9
symbols = (*tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:2],
           *tuple(s for s in DEFAULT_SYMBOLS if s.market == "crypto")[:1])
trades, quotes = SyntheticMarket(11, 20.0, symbols, quote_dynamics=True).history(end - 4 * 3600 * 10**9, end)
storage = DuckDBStorage.open(load_settings(duckdb_path=Path(sys.argv[1])))
storage.apply_schema()
storage.append_trades(trades)
storage.append_quotes(quotes)
storage.close()
"""

#: The command's entry, as ``microstructure transform --once`` runs it; records whether kernel loading had started
#: when the database file opened, and which server modules the process imported.
ONCE = """
import json, sys
import sql.duckdb_backend as backend
opened = []
plain_open = backend.DuckDBStorage.open.__func__
def open_(cls, *args, **kwargs):
    from udx import warm
    opened.append(warm._started.is_set())
    return plain_open(cls, *args, **kwargs)
backend.DuckDBStorage.open = classmethod(open_)
from server.cli import main
status = main(["transform", "--once"])
print(json.dumps({"status": status, "warming_when_opened": opened,
                  "server_modules": sorted(m for m in STACK if m in sys.modules)}))
""".replace("STACK", repr(SERVER_STACK))

#: The same transform in a process that loads every cached kernel before the run starts.
LOADED_FIRST = """
import sys
from pathlib import Path
import udx.transform
from udx.warm import warm_kernels
warm_kernels().join()
from sql.duckdb_backend import DuckDBStorage
from sql.settings import load_settings
st = load_settings(duckdb_path=Path(sys.argv[1]))
storage = DuckDBStorage.open(st)
storage.apply_schema()
print(udx.transform.run_transform(storage, st))
storage.close()
"""
#: Stamped with the wall clock: left out of the comparison.
STAMPS = {"computed_at_ns", "fitted_at_ns", "updated_ns"}
TABLES = ("trading_signals", "model_params", "bar_liquidity", "bar_realized_spread", "signal_state",
          "daily_metrics")


def _run(code: str, db: Path, cwd: Path) -> str:
    env = {**os.environ, **SETTINGS, "PYTHONPATH": str(ROOT), "DUCKDB_PATH": str(db)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", code, str(db)], cwd=cwd, env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    tmp = tmp_path_factory.mktemp("once")
    market = tmp / "market.duckdb"
    _run(BUILD, market, tmp)
    once, first = tmp / "once.duckdb", tmp / "first.duckdb"
    once.write_bytes(market.read_bytes())
    first.write_bytes(market.read_bytes())
    got = json.loads(_run(ONCE, once, tmp).strip().splitlines()[-1])
    _run(LOADED_FIRST, first, tmp)
    return got, once, first


def test_transform_once_imports_no_server_stack(runs):
    got, _, _ = runs
    assert got["status"] == 0
    assert got["server_modules"] == []


@pytest.mark.skipif(not jit_enabled(), reason="kernels run as plain Python: nothing to load")
def test_transform_once_loads_kernels_before_the_file_opens(runs):
    got, _, _ = runs
    assert got["warming_when_opened"][:1] == [True]


def test_rows_equal_a_run_whose_kernels_loaded_first(runs):
    _, once, first = runs
    con = duckdb.connect()
    con.execute(f"ATTACH '{once}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{first}' AS b (READ_ONLY)")
    assert con.execute("SELECT count(*) FROM a.trading_signals").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM a.model_params").fetchone()[0] > 0
    for table in TABLES:
        columns = [c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'a' AND table_name = ? "
            "ORDER BY ordinal_position", [table]).fetchall() if c not in STAMPS]
        cols = ", ".join(f'"{c}"' for c in columns)
        for x, y in (("a", "b"), ("b", "a")):
            differ = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {x}.{table} EXCEPT ALL "
                                 f"SELECT {cols} FROM {y}.{table})").fetchone()[0]
            assert differ == 0, (table, x, y)
