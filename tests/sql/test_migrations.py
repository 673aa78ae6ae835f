"""Schema versions and migrations on real DuckDB files: old layouts reach the newest, once, and newer is refused.

Old files are built by running the schema SQL of an old commit (``tests/data/layouts/``, made with ``git show``)
into a file in ``tmp_path`` and writing rows the old way; :meth:`DuckDBStorage.apply_schema` must then give the
layout a new file gets, keep every row, and record each migration once.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from conftest import trades_from_parts
from sql.migrations import CREATED, SchemaTooNew, latest_version, load_migrations, pending, stored_version
from sql.settings import Settings

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

LAYOUTS = Path(__file__).resolve().parents[1] / "data" / "layouts"
TRADE = ("stocks", "AAPL", 1_700_000_000_000_000_000, 190.5, 100.0, 4, "t1", "0,12", 3, 7, None, None, 1, "sim")
SIGNAL = ("AAPL", 1_700_000_060_000_000_000, 60, 3, 300.0, 190.4, 190.5, 0.001, 0.01, 0.1, 0.2, 4.0, False, 0.3,
          0.4, 12.0, 1.1, 0.5, 0.6, "HOLD", "no rule fired", 9)
FIT = ("AAPL", "garch11", 60, 1, 2, 30, 0.1, 0.05, 0.9, -12.5, True, 1.0, 3)


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path)  # type: ignore[call-arg]


def _old_file(tmp_path: Path, layout: str) -> Path:
    """A file with an old layout and one trade, bar and fit written into it the way that code did."""
    path = tmp_path / f"{layout}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute((LAYOUTS / f"{layout}.sql").read_text(encoding="utf-8"))
        columns = len(con.execute("DESCRIBE market_data").fetchall())
        con.execute(f"INSERT INTO market_data VALUES ({', '.join('?' * columns)})", (TRADE + (0,))[:columns])
        con.execute(f"INSERT INTO trading_signals VALUES ({', '.join('?' * len(SIGNAL))})", SIGNAL)
        fit = (FIT + (None,))[:len(con.execute("DESCRIBE model_params").fetchall())]  # 57de66c: a fingerprint
        con.execute(f"INSERT INTO model_params VALUES ({', '.join('?' * len(fit))})", fit)
    return path


def _apply(path: Path) -> None:
    storage = DuckDBStorage.open(_settings(path))
    try:
        storage.apply_schema()
    finally:
        storage.close()


def _layout(path: Path) -> dict[str, object]:
    """Columns (name, type, null) of every table and view, and the declared constraints."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main' ORDER BY table_name").fetchall()]
        layout: dict[str, object] = {n: con.execute(f"DESCRIBE {n}").fetchall() for n in names}
        layout["constraints"] = con.execute(
            "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE schema_name = 'main' ORDER BY ALL").fetchall()
    return layout


def _contents(path: Path) -> dict[str, list[tuple]]:
    tables = ("market_data", "trading_signals", "model_params", "signal_state", "schema_version")
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


def _versions(path: Path) -> list[tuple[int, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    path = tmp_path / "fresh.duckdb"
    _apply(path)
    return path


def test_a_new_file_is_stamped_with_the_newest_version_and_runs_no_migration(fresh: Path) -> None:
    assert _versions(fresh) == [(latest_version("duckdb"), CREATED)]
    assert latest_version("duckdb") == len(load_migrations("duckdb")) >= 3


@pytest.mark.parametrize("layout", ["duckdb_bc1f731", "duckdb_10e73b1", "duckdb_57de66c"])
def test_an_old_file_reaches_the_layout_of_a_new_file_and_keeps_its_rows(tmp_path: Path, fresh: Path,
                                                                          layout: str) -> None:
    path = _old_file(tmp_path, layout)
    before = _contents_without_version(path)
    _apply(path)
    assert _layout(path) == _layout(fresh)
    assert _versions(path) == [(m.version, m.name) for m in load_migrations("duckdb")]
    after = _contents(path)
    assert after["market_data"] == [TRADE + ((None,) if layout == "duckdb_bc1f731" else (0,))]  # no correction yet
    assert after["trading_signals"] == before["trading_signals"] == [SIGNAL]
    assert after["model_params"] == [FIT + (None,)]  # fits made before keep no fingerprint


def test_bar_liquidity_rows_written_before_keep_their_measures_and_get_no_lee_ready_vpin(tmp_path: Path,
                                                                                       fresh: Path) -> None:
    path = _old_file(tmp_path, "duckdb_57de66c")
    row = ("AAPL", SIGNAL[1], 60, 7, 0.001, 0.002, 200.0, 100.0, 100.0, 0.0, 0.1, 1e-9, 0.01, 2e-6, 9)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO schema_version VALUES (4, 'created', 1)")
        con.execute(f"INSERT INTO bar_liquidity VALUES ({', '.join('?' * len(row))})", row)
    _apply(path)
    assert _layout(path) == _layout(fresh)
    assert _versions(path)[-1] == (latest_version("duckdb"), "bar_liquidity_vpin_lee_ready")
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT * FROM bar_liquidity").fetchall() == [row + (None,)]


def _contents_without_version(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("market_data", "trading_signals", "model_params")}


def test_the_migrated_file_takes_trades_with_the_same_key_once(tmp_path: Path) -> None:
    path = _old_file(tmp_path, "duckdb_bc1f731")
    storage = DuckDBStorage.open(_settings(path))
    try:
        storage.apply_schema()
        batch = trades_from_parts([("stocks", "MSFT", np.array([5, 6], np.int64) * 10**18, np.array([1.0, 2.0]),
                                    np.array([1.0, 1.0]))])
        assert storage.append_trades(batch) == 2
        assert storage.append_trades(batch) == 0
    finally:
        storage.close()


@pytest.mark.parametrize("layout", ["duckdb_bc1f731", "duckdb_10e73b1", None])
def test_a_second_open_changes_nothing(tmp_path: Path, layout: str | None) -> None:
    path = _old_file(tmp_path, layout) if layout else tmp_path / "new.duckdb"
    _apply(path)
    layout_once, contents_once = _layout(path), _contents(path)
    _apply(path)
    assert _layout(path) == layout_once
    assert _contents(path) == contents_once


def test_a_file_newer_than_the_code_is_refused_in_one_line_and_left_alone(tmp_path: Path, fresh: Path) -> None:
    newer = latest_version("duckdb") + 5
    with duckdb.connect(str(fresh)) as con:
        con.execute("INSERT INTO schema_version VALUES (?, 'from the future', 1)", [newer])
        con.execute("DROP VIEW latest_signals")
    with pytest.raises(SchemaTooNew) as refused:
        _apply(fresh)
    message = str(refused.value)
    assert "\n" not in message and str(fresh) in message
    assert f"schema version {newer}, newer than this code's {latest_version('duckdb')}" in message
    with pytest.raises(SchemaTooNew, match=f"newer than this code's {latest_version('duckdb')}"):
        DuckDBStorage.open(_settings(fresh), read_only=True)  # a reader is refused too
    with duckdb.connect(str(fresh), read_only=True) as con:  # nothing ran: the dropped view is still missing
        assert not con.execute("SELECT count(*) FROM information_schema.tables "
                               "WHERE table_name = 'latest_signals'").fetchone()[0]


def test_a_migration_that_fails_half_way_is_rolled_back_and_not_recorded(tmp_path: Path) -> None:
    path = _old_file(tmp_path, "duckdb_bc1f731")
    with duckdb.connect(str(path)) as con:  # migration 001 renames and recreates, then its copy fails on this
        con.execute("ALTER TABLE market_data ADD COLUMN unknown_to_the_migration INTEGER")
    with pytest.raises(duckdb.Error, match="unknown_to_the_migration"):
        _apply(path)
    assert _versions(path) == []
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM market_data").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'market_data' "
                           "AND constraint_type = 'PRIMARY KEY'").fetchone()[0] == 1
        assert not con.execute("SELECT count(*) FROM information_schema.tables "
                               "WHERE table_name = 'market_data_with_key'").fetchone()[0]


def test_the_plan_names_what_a_version_still_needs() -> None:
    assert stored_version(None, has_market_data=False) is None
    assert stored_version(None, has_market_data=True) == 0
    assert stored_version(2, has_market_data=True) == 2
    for dialect in ("duckdb", "vertica"):
        everything = load_migrations(dialect)
        assert pending(dialect, 0, "x") == everything
        assert pending(dialect, latest_version(dialect), "x") == ()
    assert [m.name for m in pending("duckdb", 2, "x")] == ["model_params_fingerprint", "daily_metrics",
                                                          "bar_liquidity_vpin_lee_ready"]
    assert [m.name for m in pending("duckdb", 4, "x")] == ["bar_liquidity_vpin_lee_ready"]
    assert [m.name for m in pending("vertica", 1, "x")] == ["daily_metrics", "bar_liquidity_vpin_lee_ready",
                                                           "market_data_archive_keys", "quotes_archive_keys"]
    with pytest.raises(SchemaTooNew, match="schema version 9, newer than this code's 5"):
        pending("vertica", 9, "VERTICA_DB 'v'")


def test_a_command_on_a_newer_file_exits_with_one_line(fresh: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    with duckdb.connect(str(fresh)) as con:
        con.execute("INSERT INTO schema_version VALUES (?, 'from the future', 1)", [latest_version("duckdb") + 1])
    monkeypatch.setenv("DUCKDB_PATH", str(fresh))
    assert main(["transform", "--once"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("microstructure: DUCKDB_PATH") and "newer than this code's" in err and "\n" not in err
