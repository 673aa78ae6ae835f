"""``transform --recompute``: on a real DuckDB file, a recompute (all, some symbols, from a session) equals one pass."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from conftest import trades_from_parts
from sql.settings import Settings
from udx.recompute import parse_since, prepare_recompute
from udx.transform import run_transform, signal_config

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
START = int(dt.datetime(2024, 3, 8, 12, tzinfo=dt.UTC).timestamp()) * NS  # Friday
END = START + 4 * 86_400 * NS  # through Tuesday noon UTC
MONDAY = "2024-03-11T15:00:00Z"  # inside Monday's New York session and Monday's crypto day
TABLES = {
    "trading_signals": "SELECT * EXCLUDE (computed_at_ns) FROM trading_signals ORDER BY ALL",
    "model_params": "SELECT * EXCLUDE (fitted_at_ns) FROM model_params ORDER BY ALL",
    "intraday_profile": "SELECT * EXCLUDE (computed_at_ns) FROM intraday_profile ORDER BY ALL",
    "signal_state": "SELECT symbol, bar_seconds, last_bar_end_ns, state FROM signal_state ORDER BY ALL",
}


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=60, lm_window=20,  # type: ignore[call-arg]
                    transform_lateness_seconds=2.0)


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    rng = np.random.default_rng(3)
    parts = []
    for market, symbol, n in (("crypto", "X:BTCUSD", 20_000), ("stocks", "AAPL", 6_000)):
        ts = np.sort(rng.integers(START, END, n))
        parts.append((market, symbol, ts, 100 * np.exp(np.cumsum(rng.normal(0, 2e-4, n))),
                      rng.integers(1, 100, n).astype(float)))
    return trades_from_parts(parts)


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory, trades: pa.Table) -> dict[str, list[tuple]]:
    path = tmp_path_factory.mktemp("one") / "one.duckdb"
    _written(path, trades)
    return _rows(path)


def _written(path: Path, trades: pa.Table) -> None:
    from tests.duckdb_one_pass import transform_in_one_pass  # after the importorskip above

    transform_in_one_pass(_settings(path), trades, now_ns=1).close()


def _rows(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table: _clean(con.execute(query).fetchall()) for table, query in TABLES.items()}


def _clean(rows: list[tuple]) -> list[tuple]:
    """NaN never equals NaN: compare it as a marker."""
    return [tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in row) for row in rows]


def _corrupt(path: Path) -> None:
    """What stale definitions would have written: every stored bar and fit differs from a fresh run."""
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE trading_signals SET vpin = -1.0, signal_reason = 'stale'")
        con.execute("UPDATE model_params SET omega = -1.0")


def _recompute(path: Path, symbols: list[str] | None = None, since: str | None = None) -> list[str]:
    settings = _settings(path)
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        chosen = prepare_recompute(storage, settings, symbols, parse_since(since) if since else None)
        run_transform(storage, settings, now_ns=1)
    finally:
        storage.close()
    return chosen


def test_recomputing_everything_equals_one_pass(tmp_path: Path, trades: pa.Table,
                                                one_pass: dict[str, list[tuple]]) -> None:
    path = tmp_path / "x.duckdb"
    _written(path, trades)
    _corrupt(path)
    assert _rows(path)["trading_signals"] != one_pass["trading_signals"]
    assert _recompute(path) == ["AAPL", "X:BTCUSD"]
    assert _rows(path) == one_pass


def test_recomputing_one_symbol_from_a_session_rewrites_only_that_symbol_after_it(
        tmp_path: Path, trades: pa.Table, one_pass: dict[str, list[tuple]], caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "x.duckdb"
    _written(path, trades)
    _corrupt(path)
    with caplog.at_level("WARNING", logger="udx.recompute"):
        _recompute(path, ["X:BTCUSD"], since=MONDAY)
    lines = [r.getMessage() for r in caplog.records if "recomputing" in r.getMessage()]
    assert len(lines) == 1 and "1 symbol(s)" in lines[0] and "X:BTCUSD (after 2024-03-1" in lines[0]
    monday_open = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS  # the crypto day (UTC)
    assert _rows_of(_rows(path), "X:BTCUSD", monday_open) == _rows_of(one_pass, "X:BTCUSD", monday_open)
    assert _rows_of(one_pass, "X:BTCUSD", monday_open)  # there is something to compare
    with duckdb.connect(str(path), read_only=True) as con:
        before = con.execute("SELECT DISTINCT signal_reason FROM trading_signals WHERE symbol = 'X:BTCUSD' "
                             "AND bar_end_ns <= ?", [monday_open]).fetchall()
        aapl = con.execute("SELECT DISTINCT signal_reason FROM trading_signals WHERE symbol = 'AAPL'").fetchall()
    assert before == [("stale",)] and aapl == [("stale",)]  # rows before the session and other symbols stay
    assert _rows(path)["signal_state"] == one_pass["signal_state"]


def _rows_of(rows: dict[str, list[tuple]], symbol: str, after_ns: int) -> list[tuple]:
    return [r for r in rows["trading_signals"] if r[0] == symbol and r[1] > after_ns]


def test_each_fit_keeps_the_definitions_it_was_made_with(tmp_path: Path, trades: pa.Table) -> None:
    path = tmp_path / "x.duckdb"
    _written(path, trades)
    with duckdb.connect(str(path), read_only=True) as con:
        stored = con.execute("SELECT DISTINCT symbol, fingerprint FROM model_params ORDER BY symbol").fetchall()
    settings = _settings(path)
    markets = {"AAPL": "stocks", "X:BTCUSD": "crypto"}
    assert [s for s, _ in stored] == ["AAPL", "X:BTCUSD"]
    for symbol, fingerprint in stored:
        assert json.loads(fingerprint) == signal_config(settings, markets[symbol]).fingerprint()


def test_a_symbol_without_trades_is_refused_before_anything_changes(tmp_path: Path, trades: pa.Table) -> None:
    path = tmp_path / "x.duckdb"
    _written(path, trades)
    before = _rows(path)
    settings = _settings(path)
    storage = DuckDBStorage.open(settings)
    try:
        with pytest.raises(ValueError, match="no trades for symbol.s. NOPE"):
            prepare_recompute(storage, settings, ["AAPL", "NOPE"])
    finally:
        storage.close()
    assert _rows(path) == before


@pytest.mark.parametrize("text,expected", [
    ("2024-03-11", int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS),
    ("2024-03-11T15:00:00Z", int(dt.datetime(2024, 3, 11, 15, tzinfo=dt.UTC).timestamp()) * NS),
    ("2024-03-11T11:00:00-04:00", int(dt.datetime(2024, 3, 11, 15, tzinfo=dt.UTC).timestamp()) * NS),
])
def test_since_reads_iso_dates_and_times(text: str, expected: int) -> None:
    assert parse_since(text) == expected


def test_the_command_refuses_bad_input_in_one_line(tmp_path: Path, trades: pa.Table,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    path = tmp_path / "x.duckdb"
    _written(path, trades)
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    for argv, says in ((["--recompute", "--since", "last tuesday"], "is not an ISO-8601 date"),
                       (["--recompute", "--symbols", "NOPE"], "no trades for symbol(s) NOPE"),
                       (["--symbols", "AAPL"], "go with --recompute")):
        assert main(["transform", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err and "Traceback" not in err


def test_the_readme_upgrading_recipe_runs_on_a_pre_versioning_file(
        tmp_path: Path, trades: pa.Table, one_pass: dict[str, list[tuple]], monkeypatch: pytest.MonkeyPatch) -> None:
    from readme_recipes import readme_block, recipe_commands
    from server.cli import main

    path = tmp_path / "old.duckdb"
    layout = Path(__file__).resolve().parents[1] / "data" / "layouts" / "duckdb_bc1f731.sql"
    with duckdb.connect(str(path)) as con:  # the oldest layout, its trades written the way that code did
        con.execute(layout.read_text(encoding="utf-8"))
        con.register("batch", trades.drop_columns(["correction"]))
        con.execute("INSERT INTO market_data SELECT * FROM batch")
    for name, value in (("DUCKDB_PATH", path), ("BAR_SECONDS", 60), ("LM_WINDOW", 20),
                        ("TRANSFORM_LATENESS_SECONDS", 2.0)):
        monkeypatch.setenv(name, str(value))
    commands = recipe_commands(readme_block("## Upgrading"))
    assert [argv[1] for argv, _ in commands] == ["transform", "transform"]
    for argv, background in commands:
        assert not background and main(argv[1:]) == 0
    assert _rows(path) == one_pass
