"""A writer's open of an old file logs each pending migration once, in order, naming the file, the version, the
migration and whether its statements ran: ``applied``, or ``not needed`` when its check found the change made
(layout ``duckdb_10e73b1``, before schema versions: no keys on market_data and trading_signals, so migrations 001
and 002, which drop those keys, are not needed; 003-005 have no check)."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = pytest.mark.duckdb

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(p.stem for p in (ROOT / "sql" / "duckdb" / "migrations").glob("*.sql"))


def test_each_pending_migration_is_logged_once_with_what_it_did(tmp_path, caplog):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute((ROOT / "tests" / "data" / "layouts" / "duckdb_10e73b1.sql").read_text(encoding="utf-8"))
    caplog.set_level(logging.INFO, logger="microstructure.sql")
    storage = DuckDBStorage.open(Settings(duckdb_path=path))
    try:
        storage.apply_schema()
        recorded = storage.fetch_all("SELECT version, name FROM schema_version ORDER BY version")
    finally:
        storage.close()
    where = f"DUCKDB_PATH {str(path)!r}"
    expected = [f"{where}: schema migration {stem[:3]} {stem[4:]} {'not needed' if stem[:3] in ('001', '002') else 'applied'}"
                for stem in MIGRATIONS]
    assert [r.getMessage() for r in caplog.records if "schema migration" in r.getMessage()] == expected
    assert recorded == [(int(stem[:3]), stem[4:]) for stem in MIGRATIONS]
