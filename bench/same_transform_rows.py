"""Check that two code trees' ``run_transform`` write the same rows on the same file.

Run: ``.venv/bin/python bench/same_transform_rows.py DB TREE_A TREE_B`` on a file of ``bench_signals.build_file``.
Each tree transforms its own copy of ``DB`` in a new process (``PYTHONPATH`` = the tree, ``now_ns`` pinned), then
every table of the two copies is compared with ``EXCEPT ALL`` both ways, leaving out the stamps of the run
(``computed_at_ns`` of daily_metrics, ``updated_ns`` of signal_state). ``signal_state.state`` is compared decoded
(:meth:`udx.state.SymbolState.from_json`: scalars, config and every array bit for bit), as two encodings of the
same state may differ in their text (how each array is compressed). Prints one line per table; exits 1 on a
difference.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np

from udx.state import SymbolState

RUN = """
import sys
from pathlib import Path
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from udx.transform import run_transform
st = Settings(_env_file=None, duckdb_path=Path(sys.argv[1]), session_stocks="00:00-24:00 UTC")
storage = DuckDBStorage.open(st)
print(run_transform(storage, st, now_ns=1_700_000_000_000_000_000))
storage.close()
"""
#: Columns stamped with the wall clock whatever ``now_ns`` says.
STAMPS = {"daily_metrics": {"computed_at_ns"}, "signal_state": {"updated_ns"}}
#: Columns compared apart from the rows' ``EXCEPT ALL`` (decoded: :func:`states_differ`).
DECODED = {"signal_state": {"state"}}


def transformed(tree: Path, db: Path, out: Path) -> None:
    """``db`` copied to ``out`` and transformed by the code of ``tree``."""
    shutil.copy(db, out)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", RUN, str(out)], cwd=tree, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {done.stderr[-2000:]}")
    print(f"{tree}: {done.stdout.strip()}")


def _same_array(x: np.ndarray, y: np.ndarray) -> bool:
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def states_differ(con: duckdb.DuckDBPyConnection) -> int:
    """How many (symbol, grid) states of ``a`` and ``b`` differ once decoded (one missing on a side counts)."""
    def states(db: str) -> dict[tuple[str, int], str]:
        rows = con.execute(f"SELECT symbol, bar_seconds, state FROM {db}.signal_state").fetchall()
        return {(symbol, grid): text for symbol, grid, text in rows}

    sa, sb = states("a"), states("b")
    differ = len(set(sa) ^ set(sb))
    for key in set(sa) & set(sb):
        x, y = SymbolState.from_json(sa[key]), SymbolState.from_json(sb[key])
        same = ((x.config, x.last_bar_end_ns, x.last_session_open_ns, x.n_returns, x.last_close.hex())
                == (y.config, y.last_bar_end_ns, y.last_session_open_ns, y.n_returns, y.last_close.hex())
                and x.arrays.keys() == y.arrays.keys()
                and all(_same_array(x.arrays[name], y.arrays[name]) for name in x.arrays))
        differ += not same
    return differ


def main() -> None:
    db, a, b = (Path(v).resolve() for v in sys.argv[1:4])
    with tempfile.TemporaryDirectory() as tmp:
        fa, fb = Path(tmp) / "a.duckdb", Path(tmp) / "b.duckdb"
        transformed(a, db, fa)
        transformed(b, db, fb)
        con = duckdb.connect()
        con.execute(f"ATTACH '{fa}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{fb}' AS b (READ_ONLY)")
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'a' ORDER BY 1").fetchall()]
        differ = False
        for table in tables:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'a' AND table_name = ? "
                "ORDER BY column_index", [table]).fetchall()
                if c not in STAMPS.get(table, set()) | DECODED.get(table, set())]
            names = ", ".join(f'"{c}"' for c in cols)
            (n,) = con.execute(f"SELECT count(*) FROM a.{table}").fetchone()  # type: ignore[misc]
            (ab,) = con.execute(f"SELECT count(*) FROM (SELECT {names} FROM a.{table} EXCEPT ALL "
                                f"SELECT {names} FROM b.{table})").fetchone()  # type: ignore[misc]
            (ba,) = con.execute(f"SELECT count(*) FROM (SELECT {names} FROM b.{table} EXCEPT ALL "
                                f"SELECT {names} FROM a.{table})").fetchone()  # type: ignore[misc]
            differ |= bool(ab or ba)
            print(f"{table:28s} rows {n:>9,}  only in A {ab:>6,}  only in B {ba:>6,}")
        bad = states_differ(con)
        differ |= bool(bad)
        print(f"{'signal_state (decoded)':28s} states differing {bad:,}")
    print("DIFFERENT" if differ else "same rows")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
