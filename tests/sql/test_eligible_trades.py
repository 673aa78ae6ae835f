"""The view eligible_trades answers as sql/conditions.py does, through its lookup of conditions strings.

``print_eligibility`` (Python, tested against Polygon's reference rows in test_conditions.py) is the rule; the
view must give every stored print the same ``sets_price`` and ``counts_volume``, whether its string's rules
come from the lookup ``trade_condition_sets`` (written by the storage's writer) or, for a string written around
the storage API, from the view's own token-by-token match. The lookup never duplicates a print.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sql.conditions import print_eligibility
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from tests.conftest import trades_from_parts

#: Strings the rules read alike in both places, and two only the Python parser reads (padding, brackets).
PLAIN = [None, "", "0", "14", "37", "2", "12,37", "14,41", "15", "38", "999", "37,999", "abc", "12,,x,37"]
PYTHON_ONLY = [" 14 , 37 ", "[12]"]


def _trades(conditions: list[str | None], correction: list[int | None], *, first_ns: int = 0) -> pa.Table:
    n = len(conditions)
    ts = np.arange(n, dtype=np.int64) * 1_000_000 + 1_700_000_000_000_000_000 + first_ns
    table = trades_from_parts([("stocks", "AAA", ts, np.full(n, 10.0), np.full(n, 100.0))])
    table = table.set_column(table.schema.get_field_index("trade_id"), "trade_id",
                             pa.array([f"{first_ns}-{i}" for i in range(n)]))
    table = table.set_column(table.schema.get_field_index("conditions"), "conditions",
                             pa.array(conditions, pa.string()))
    return table.set_column(table.schema.get_field_index("correction"), "correction", pa.array(correction, pa.int32()))


def _open(path: Path) -> DuckDBStorage:
    storage = DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path))  # type: ignore[call-arg]
    storage.apply_schema()
    return storage


def _view_flags(path: Path) -> tuple[list[bool], list[bool], int]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT sets_price, counts_volume FROM eligible_trades ORDER BY ts_ns").fetchall()
        stored = con.execute("SELECT count(*) FROM market_data").fetchone()[0]
    return [r[0] for r in rows], [r[1] for r in rows], stored


def _expected(conditions: list[str | None], correction: list[int | None]) -> tuple[list[bool], list[bool]]:
    price, volume = print_eligibility(conditions, correction)
    return price.tolist(), volume.tolist()


@pytest.mark.parametrize("with_correction", [False, True])
def test_the_view_gives_every_print_the_python_rules(tmp_path: Path, with_correction: bool) -> None:
    conditions = (PLAIN + PYTHON_ONLY) * 3
    correction = [(None, 0, 8, 12)[i % 4] if with_correction else None for i in range(len(conditions))]
    storage = _open(tmp_path / "f.duckdb")
    try:  # two batches: the second's strings are all known already, and the lookup must not list them twice
        storage.append_trades(_trades(conditions[:20], correction[:20]))
        storage.append_trades(_trades(conditions[20:], correction[20:], first_ns=10**12))
    finally:
        storage.close()
    price, volume, stored = _view_flags(tmp_path / "f.duckdb")
    assert len(price) == stored == len(conditions)
    assert (price, volume) == _expected(conditions, correction)


def test_a_string_written_around_the_storage_is_still_decided_by_the_view(tmp_path: Path) -> None:
    path = tmp_path / "f.duckdb"
    _open(path).close()
    with duckdb.connect(str(path)) as con:
        con.register("batch", _trades(PLAIN, [None] * len(PLAIN)))
        con.execute("INSERT INTO market_data SELECT * FROM batch")
        assert con.execute("SELECT count(*) FROM trade_condition_sets").fetchone()[0] == 0
    assert _view_flags(path)[:2] == _expected(PLAIN, [None] * len(PLAIN))


def _plain_file(tmp_path: Path) -> Path:
    """A closed file with the ``PLAIN`` prints appended by a writer."""
    path = tmp_path / "f.duckdb"
    storage = _open(path)
    storage.append_trades(_trades(PLAIN, [None] * len(PLAIN)))
    storage.close()
    return path


def test_a_writer_open_decides_every_listed_string_again(tmp_path: Path) -> None:
    path = _plain_file(tmp_path)
    with duckdb.connect(str(path)) as con:  # rules that changed since the strings were decided
        con.execute("UPDATE trade_condition_sets SET updates_last = NOT updates_last, "
                    "updates_volume = NOT updates_volume")
    assert _view_flags(path)[:2] != _expected(PLAIN, [None] * len(PLAIN))
    _open(path).close()
    assert _view_flags(path)[:2] == _expected(PLAIN, [None] * len(PLAIN))


def test_a_file_from_before_the_lookup_or_bulk_loaded_gets_its_strings_listed_once(tmp_path: Path) -> None:
    path = _plain_file(tmp_path)
    with duckdb.connect(str(path)) as con:  # the file as the previous version left it
        con.execute("DROP VIEW eligible_trades")
        con.execute("DROP TABLE trade_condition_sets")
    _open(path).close()
    with duckdb.connect(str(path), read_only=True) as con:
        listed = con.execute("SELECT conditions, updates_last IS NOT NULL FROM trade_condition_sets "
                             "ORDER BY conditions").fetchall()
    assert listed == sorted((text, True) for text in {t for t in PLAIN if t})
    assert _view_flags(path)[:2] == _expected(PLAIN, [None] * len(PLAIN))
