"""Flat-file replay straight into DuckDB: the ``correction`` column of ``trades_v1`` is stored as read."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import duckdb
import pytest

from ingest.replay import COLUMNS, replay_file
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = pytest.mark.duckdb

T0 = 1_712_306_654_208_740_096
#: (id, correction cell) of the rows of :func:`write_file`; the other fields follow from the row's position.
CORRECTIONS = [("a", "0"), ("b", "1"), ("c", "12"), ("d", "0"), ("e", "7"), ("f", ""), ("g", "8"), ("h", "10")]


def write_file(path: Path, cells: list[tuple[str, str]], *, header: tuple[str, ...] = COLUMNS) -> None:
    """A ``trades_v1`` file (gzip when ``path`` ends in ``.gz``), one AAPL trade per ``(id, correction)``."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="") as fh:  # type: ignore[operator]
        out = csv.writer(fh)
        out.writerow(header)
        for k, (trade_id, correction) in enumerate(cells):
            row = {"ticker": "AAPL", "conditions": "12,37", "correction": correction, "exchange": 11,
                   "id": trade_id, "participant_timestamp": T0 + k - 300, "price": 142.99 + k, "sequence_number": 3807 + k,
                   "sip_timestamp": T0 + k, "size": 5, "tape": 1, "trf_id": 0, "trf_timestamp": 0}
            out.writerow([row[name] for name in header])


def replay_into(db: Path, flat: Path) -> tuple[object, list[tuple[str, int | None]]]:
    storage = DuckDBStorage.open(Settings(duckdb_path=db))
    try:
        storage.apply_schema()
        summary = replay_file(flat, storage=storage, progress=False)
    finally:
        storage.close()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT trade_id, correction FROM market_data ORDER BY trade_id").fetchall()
    return summary, rows


@pytest.mark.parametrize("name", ["2024-04-05.csv", "2024-04-05.csv.gz"])
def test_replayed_corrections_are_stored_in_market_data(tmp_path, name):
    flat = tmp_path / name
    write_file(flat, CORRECTIONS)
    summary, rows = replay_into(tmp_path / "t.duckdb", flat)
    assert (summary.rows, summary.added, summary.skipped) == (8, 8, 0)  # type: ignore[attr-defined]
    expected = [(trade_id, int(cell) if cell else None) for trade_id, cell in CORRECTIONS]
    assert rows == expected


def test_a_file_without_the_correction_column_stores_null(tmp_path):
    flat = tmp_path / "old.csv.gz"
    write_file(flat, CORRECTIONS[:3], header=tuple(c for c in COLUMNS if c != "correction"))
    summary, rows = replay_into(tmp_path / "t.duckdb", flat)
    assert summary.added == 3  # type: ignore[attr-defined]
    assert rows == [("a", None), ("b", None), ("c", None)]


def test_rows_with_a_malformed_correction_are_skipped_and_counted(tmp_path):
    flat = tmp_path / "bad.csv"
    bad = [("x1", "x"), ("x2", "1.5"), ("x3", "2147483648"), ("x4", "99999999999999999999"), ("x5", "+5")]
    write_file(flat, [("a", "0"), *bad, ("b", "12"), ("c", "-3")])
    summary, rows = replay_into(tmp_path / "t.duckdb", flat)
    assert (summary.rows, summary.added, summary.skipped) == (8, 3, 5)  # type: ignore[attr-defined]
    assert rows == [("a", 0), ("b", 12), ("c", -3)]
