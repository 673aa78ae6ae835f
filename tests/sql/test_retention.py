"""Retention and the Parquet archive on a real DuckDB file: what leaves equals what the archive holds, the
``*_all`` views equal the original tables, a run killed at any step loses nothing and duplicates nothing once
rerun, a second run changes nothing, days whose signals are not final stay, and compaction shrinks the file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from conftest import trades_from_parts
from sql.contract import QUOTES_SCHEMA
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage
archive_module = pytest.importorskip("sql.archive")

ROOT = Path(__file__).resolve().parents[2]
NS = 10**9
DAY = 86_400 * NS
START = int(dt.datetime(2024, 3, 11, 0, tzinfo=dt.UTC).timestamp()) * NS  # Monday
DAYS = 4
SYMBOLS = (("crypto", "X:BTCUSD", 8_000), ("stocks", "AAPL", 4_000), ("stocks", "BRK/A", 1_500))
RETENTION = {"retain_trades_days": 2, "retain_quotes_days": 2, "retain_signals_days": 3}
TABLES = {"market_data": "trades_all", "quotes": "quotes_all", "trading_signals": "signals_all",
          "bar_liquidity": "bar_liquidity_all", "bar_realized_spread": "bar_realized_spread_all"}
FOLDERS = ("trades", "quotes", "signals", "bar_liquidity", "bar_realized_spread")


def _settings(path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"duckdb_path": path, "bar_seconds": 60, "lm_window": 20,
                                 "session_stocks": "00:00-24:00 UTC", **RETENTION}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _quotes(trades: pa.Table) -> pa.Table:
    """One quote around every third trade."""
    picked = trades.take(np.arange(0, trades.num_rows, 3))
    price = picked["price"].to_numpy()
    n = picked.num_rows
    return pa.Table.from_arrays(
        [picked["market"], picked["symbol"], picked["ts_ns"], pa.array(price - 0.01), pa.array(np.full(n, 100.0)),
         pa.array(price + 0.01), pa.array(np.full(n, 200.0)), pa.array(np.ones(n, np.int32)),
         pa.array(np.full(n, 2, np.int32)), pa.nulls(n, pa.string()), pa.array(np.arange(n, dtype=np.int64)),
         pa.nulls(n, pa.int32()), picked["ts_ns"], pa.array(["sim"] * n, pa.string())],
        schema=QUOTES_SCHEMA,
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[tuple]]]:
    """A file with four days of trades and quotes of three symbols and their signals, and its rows."""
    rng = np.random.default_rng(18)
    parts = []
    for market, symbol, n in SYMBOLS:
        ts = np.sort(rng.integers(START, START + DAYS * DAY, n))
        parts.append((market, symbol, ts, 100 * np.exp(np.cumsum(rng.normal(0, 2e-4, n))),
                      rng.integers(1, 100, n).astype(float)))
    trades = trades_from_parts(parts)
    path = tmp_path_factory.mktemp("built") / "market.duckdb"
    settings = _settings(path)
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        storage.append_trades(trades)
        storage.append_quotes(_quotes(trades))
        run_transform(storage, settings, now_ns=1)
    finally:
        storage.close()
    return path, _rows(path, TABLES)


def _clean(rows: list[tuple]) -> list[tuple]:
    """NaN never equals NaN: compare it as a marker."""
    return [tuple("NaN" if isinstance(v, float) and v != v else v for v in row) for row in rows]


def _rows(path: Path, tables: dict[str, str] | list[str]) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: _clean(con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()) for name in tables}


def _copy(built: tuple[Path, dict[str, list[tuple]]], tmp_path: Path) -> Path:
    path = tmp_path / "market.duckdb"
    shutil.copyfile(built[0], path)
    return path


def _archive(path: Path, **overrides: object) -> archive_module.ArchiveReport:
    settings = _settings(path, **overrides)
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        return archive_module.archive(storage, settings)
    finally:
        storage.close()


def _views(path: Path) -> dict[str, list[tuple]]:
    """The ``*_all`` views, read through a storage opened read-only (the instance settings every reader has)."""
    storage = DuckDBStorage.open(_settings(path), read_only=True)
    try:
        return {live: _clean(storage.fetch_all(f"SELECT * FROM {view} ORDER BY ALL")) for live, view in TABLES.items()}
    finally:
        storage.close()


def _archive_files(path: Path) -> dict[str, int]:
    """Every Parquet file under the archive with its rows, read from the files."""
    root = path.with_suffix(".archive")
    with duckdb.connect() as con:
        return {str(f.relative_to(root)): con.execute("SELECT count(*) FROM read_parquet($f)", {"f": str(f)}).fetchone()[0]
                for f in sorted(root.rglob("*.parquet"))}  # fmt: skip


def _manifest(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT table_name, market, day, symbol, path, n_rows, sha256, placed FROM archive_manifest "
                           "ORDER BY ALL").fetchall()  # fmt: skip


def test_archive_moves_old_days_into_files_holding_exactly_the_deleted_rows(built, tmp_path):
    path = _copy(built, tmp_path)
    report = _archive(path)
    assert report.partitions > 0 and not report.waiting
    kept = _rows(path, list(TABLES))
    newest_day = (START + DAYS * DAY - 1) // DAY
    for (live, view), folder, days, time_index in zip(TABLES.items(), FOLDERS, (2, 2, 3, 3, 3), (2, 2, 1, 1, 1), strict=True):
        assert kept[live] and all(row[time_index] // DAY > newest_day - days for row in kept[live]), live
        deleted = sorted(set(built[1][live]) - set(kept[live]))
        with duckdb.connect() as con:
            columns = ", ".join(d[0] for d in con.execute("DESCRIBE SELECT * FROM read_parquet($f, hive_partitioning = false)", {
                "f": next(str(f) for f in (path.with_suffix(".archive") / folder).rglob("*.parquet"))}).fetchall())
            archived = _clean(con.execute(
                f"SELECT {columns} FROM read_parquet($glob, hive_partitioning = false) ORDER BY ALL",
                {"glob": str(path.with_suffix(".archive") / folder / "*" / "*" / "*" / "*.parquet")}).fetchall())
        assert archived == deleted and deleted
        assert sum(row[5] for row in _manifest(path) if row[0] == folder) == len(archived)


def test_the_all_views_equal_the_original_tables(built, tmp_path):
    path = _copy(built, tmp_path)
    _archive(path)
    views = _views(path)
    for live, view in TABLES.items():
        assert views[live] == built[1][live], view
    assert len(_rows(path, ["market_data"])["market_data"]) < len(built[1]["market_data"])


def test_a_second_run_changes_nothing(built, tmp_path):
    path = _copy(built, tmp_path)
    _archive(path)
    files, manifest, live = _archive_files(path), _manifest(path), _rows(path, list(TABLES))
    report = _archive(path)
    assert (report.partitions, report.rows, report.files) == (0, 0, 0)
    assert (_archive_files(path), _manifest(path), _rows(path, list(TABLES))) == (files, manifest, live)


def test_with_retention_off_nothing_moves_and_the_command_says_so(built, tmp_path):
    path = _copy(built, tmp_path)
    report = _archive(path, retain_trades_days=0, retain_quotes_days=0, retain_signals_days=0)
    assert report.summary().startswith("retention is off")
    assert _rows(path, list(TABLES)) == built[1] and not _archive_files(path)


def test_days_whose_signals_are_not_final_stay_live(built, tmp_path):
    path = tmp_path / "raw.duckdb"
    with duckdb.connect(str(built[0]), read_only=True) as con:
        trades = con.sql("SELECT * FROM market_data").to_arrow_table()
    settings = _settings(path)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    storage.append_trades(trades)  # no transform: no signal is final
    storage.close()
    report = _archive(path)
    assert report.partitions == 0
    assert any(w.startswith("trades stocks 2024-03-11 AAPL") for w in report.waiting)
    assert _rows(path, ["market_data"])["market_data"] == built[1]["market_data"]
    assert not _archive_files(path)


#: Where a run is killed: (module, function, kill before or after it runs, extra command arguments).
KILLS = {
    "parquet written, before the delete": ("sql.archive", "_check_files", "after", []),
    "mid-delete, before the commit": ("sql.archive", "_check_deleted", "before", []),
    "committed, files not yet placed": ("sql.archive", "_place", "before", []),
    "mid-compact, copy written": ("sql.compact", "_check_counts", "after", ["--compact"]),
    "mid-compact, before the swap": ("sql.compact", "_swap", "before", ["--compact"]),
}
_KILLER = """
import os, signal, sys, importlib
module = importlib.import_module(sys.argv[1])
original = getattr(module, sys.argv[2])
def killed(*args, **kwargs):
    if sys.argv[3] == "after":
        original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(module, sys.argv[2], killed)
from server.cli import main
sys.exit(main(["archive", *sys.argv[4:]]))
"""


def _environment(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAIN_", "ARCHIVE_", "DUCKDB_"))}
    env.update({"PYTHONPATH": str(ROOT), "DUCKDB_PATH": str(path), "BAR_SECONDS": "60", "LM_WINDOW": "20",
                "SESSION_STOCKS": "00:00-24:00 UTC", **{k.upper(): str(v) for k, v in RETENTION.items()}})
    return env


@pytest.mark.parametrize("point", list(KILLS))
def test_a_run_killed_at_any_step_loses_nothing_and_the_rerun_completes(built, tmp_path, point, monkeypatch):
    from server.cli import main

    path = _copy(built, tmp_path)
    module, function, when, extra = KILLS[point]
    if module == "sql.compact":
        _archive(path)  # the archive is done; the kill hits the compaction
    killed = subprocess.run([sys.executable, "-c", _KILLER, module, function, when, *extra], cwd=tmp_path,
                            env=_environment(path), capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    placed = sum(n for *_, n, _sha, placed in _manifest(path) if placed)
    unplaced = sum(n for *_, n, _sha, placed in _manifest(path) if not placed)
    live = sum(len(rows) for rows in _rows(path, list(TABLES)).values())
    assert live + placed + unplaced == sum(len(rows) for rows in built[1].values())  # every row somewhere
    for name, value in _environment(path).items():  # the rerun: the same command, in this process
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert main(["archive", *extra]) == 0
    assert _views(path) == {live: built[1][live] for live, view in TABLES.items()}
    files = _archive_files(path)
    manifest = _manifest(path)
    assert all(placed for *_, placed in manifest)
    assert files == {p: n for _t, _m, _d, _s, p, n, _sha, _placed in manifest}  # no stray or missing file
    assert not (path.with_suffix(".archive") / ".staging").exists() or not any(
        (path.with_suffix(".archive") / ".staging").rglob("*.parquet"))
    assert not Path(f"{path}.compact").exists()


def test_compaction_shrinks_the_file_and_keeps_every_row(built, tmp_path):
    from sql.compact import compact

    path = _copy(built, tmp_path)
    _archive(path, retain_trades_days=1, retain_quotes_days=1, retain_signals_days=1)
    report = compact(_settings(path))
    assert report.bytes_after < report.bytes_before
    assert path.stat().st_size == report.bytes_after
    assert _views(path) == {live: built[1][live] for live, view in TABLES.items()}


def test_archive_refuses_while_another_process_holds_the_file(built, tmp_path):
    path = _copy(built, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); sys.stdin.read()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = subprocess.run([sys.executable, "-m", "server.cli", "archive"], cwd=tmp_path,
                                env=_environment(path), capture_output=True, text=True, timeout=60)
    finally:
        holder.communicate("", timeout=30)
    assert result.returncode == 1
    assert f"held by process {holder.pid}" in result.stderr and "owner" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_archive_path_that_cannot_go_into_sql_is_refused_by_the_settings(tmp_path):
    with pytest.raises(ValueError, match="ARCHIVE_PATH"):
        _settings(tmp_path / "x.duckdb", archive_path=tmp_path / "it's")
    with pytest.raises(ValueError, match="RETAIN_SIGNALS_DAYS"):
        _settings(tmp_path / "x.duckdb", retain_trades_days=5, retain_signals_days=2)


def test_the_readme_retention_recipe_runs_as_written(built, tmp_path, monkeypatch, capsys):
    import shlex

    from readme_recipes import readme_block
    from server.cli import main

    path = _copy(built, tmp_path)
    for name, value in _environment(path).items():
        if name.upper() == name and not name.startswith("RETAIN_"):
            monkeypatch.setenv(name, value)
    for name in RETENTION:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    ran = []
    for line in readme_block("## Retention and archive"):
        words = shlex.split(line.split("#", 1)[0])
        while words and "=" in words[0] and not words[0].startswith("microstructure"):
            name, _, value = words.pop(0).partition("=")
            monkeypatch.setenv(name, value)
        if words:
            assert words[0] == "microstructure"
            assert main(words[1:]) == 0, line
            ran.append(words[1])
    assert ran == ["transform", "archive", "sql"]
    printed = capsys.readouterr().out
    assert "archived" in printed and "compacted" in printed
    assert f"{len(built[1]['market_data']):,}" in printed or str(len(built[1]["market_data"])) in printed
    assert _views(path) == {live: built[1][live] for live in TABLES}
    assert len(_rows(path, ["market_data"])["market_data"]) < len(built[1]["market_data"])


@pytest.mark.anyio
async def test_the_owner_archives_by_itself_every_interval(built, tmp_path):
    import asyncio

    from server.embedded import _archive_loop

    expected_path = _copy(built, tmp_path)
    _archive(expected_path)  # what one run moves: the loop must end there
    partitions = "SELECT table_name, market, day, symbol, n_rows FROM archive_manifest WHERE placed ORDER BY ALL"
    with duckdb.connect(str(expected_path), read_only=True) as con:
        expected = con.execute(partitions).fetchall()
    path = tmp_path / "owned" / "market.duckdb"
    path.parent.mkdir()
    shutil.copyfile(built[0], path)
    settings = _settings(path, archive_interval_seconds=0.05)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    loop = asyncio.create_task(_archive_loop(storage, settings))  # as run_embedded runs it
    try:
        async with asyncio.timeout(120):
            while storage.fetch_all(partitions) != expected:
                await asyncio.sleep(0.05)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)  # a run in its thread finishes first
        assert not storage.fetch_all("SELECT * FROM archive_manifest WHERE NOT placed")
        assert {live: _clean(storage.fetch_all(f"SELECT * FROM {view} ORDER BY ALL"))
                for live, view in TABLES.items()} == built[1]
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        storage.close()
