"""``insert_bar_realized_spread`` bounds its "stored already" check by the batch's oldest bar end (so DuckDB's zone
maps skip the older row groups of ``bar_realized_spread``): the rows it adds must stay those of the plain rule, a
batch row gets a row iff its bar is in ``trading_signals`` and its key is not in ``bar_realized_spread``, including
a stored key equal to the batch's oldest bar end and stored keys among many older row groups."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.sql import test_duckdb_storage
from tests.sql.test_duckdb_storage import _signal_rows
from tests.sql.test_duckdb_write_paths import _realized

pytestmark = pytest.mark.duckdb

storage = test_duckdb_storage.storage

#: Older rows of another symbol: more than two of DuckDB's row groups (122,880 rows each) below the batch's bars.
_OLD_ROWS = 300_000
_ROW = "SELECT symbol, bar_end_ns, realized_spread FROM bar_realized_spread WHERE symbol <> 'OLD' ORDER BY 1, 2"


def _expected(stored: list[tuple[str, int, float]], bars: set[tuple[str, int]],
              batch: list[tuple[str, int, float]]) -> list[tuple[str, int, float]]:
    """The plain rule: the stored rows, and each batch row whose bar exists and whose key is not stored yet."""
    keys = {(s, e) for s, e, _ in stored}
    added = [(s, e, v) for s, e, v in batch if (s, e) in bars and (s, e) not in keys]
    return sorted(stored + added)


def _fill_old(storage) -> None:
    """``_OLD_ROWS`` rows of symbol OLD, bars ending before every bar of the test, in their own row groups."""
    storage.execute_write(
        "INSERT INTO bar_realized_spread SELECT 'OLD', -1000000 + i, 60, 300, 1, 1.0, 0.0, 0.0, 1.0, 1, 0 "
        f"FROM range({_OLD_ROWS}) AS r(i)")
    storage.checkpoint()


def test_a_stored_bar_at_the_batchs_oldest_end_keeps_its_row_and_new_bars_get_theirs(storage):
    _fill_old(storage)
    ends = [60 * k for k in range(1, 11)]
    storage.commit_signals(pa.concat_tables([_signal_rows("AAPL", ends), _signal_rows("MSFT", ends)]), [])
    stored = [("AAPL", 120, 0.5), ("MSFT", 60, 0.5), ("MSFT", 600, 0.5)]
    for symbol, end, spread in stored:
        storage.write_realized_spread(_realized(symbol, [end], spread=spread))
    batch = [("MSFT", 60, 0.1), ("AAPL", 120, 0.1), ("AAPL", 180, 0.1), ("MSFT", 240, 0.1), ("MSFT", 300, 0.1),
             ("MSFT", 600, 0.1), ("AAPL", 660, 0.1)]  # MSFT 60: the batch's oldest end, stored; AAPL 660: no bar
    table = pa.concat_tables([_realized(s, [e], spread=v) for s, e, v in batch])
    added = storage.write_realized_spread(table)
    want = _expected(stored, {(s, e) for s in ("AAPL", "MSFT") for e in ends}, batch)
    assert storage.fetch_all(_ROW) == want
    assert added == len(want) - len(stored)
    assert storage.fetch_all("SELECT count(*) FROM bar_realized_spread WHERE symbol = 'OLD'") == [(_OLD_ROWS,)]


def test_a_batch_older_than_stored_rows_adds_only_its_missing_bars(storage):
    _fill_old(storage)
    ends = [60 * k for k in range(1, 6)]
    storage.commit_signals(_signal_rows("AAPL", ends), [])
    stored = [("AAPL", 240, 0.5), ("AAPL", 300, 0.5)]
    storage.write_realized_spread(_realized("AAPL", [240, 300], spread=0.5))
    batch = [("AAPL", e, 0.2) for e in ends]  # a backfill: rows before and at the stored ones
    added = storage.write_realized_spread(pa.concat_tables([_realized(s, [e], spread=v) for s, e, v in batch]))
    want = _expected(stored, {("AAPL", e) for e in ends}, batch)
    assert storage.fetch_all(_ROW) == want
    assert added == 3
