"""Events delivered again after retention archived their day: which rows of an appended batch the archive holds.

A replay of the same flat file or a Kafka re-read delivers trades and quotes of days that :mod:`sql.archive`
moved out of the live file; the live table's dedupe cannot see them. :class:`ArchivedDays` remembers which
(market, UTC day) of each folder the manifest lists (read once, forgotten after each archive commit); a batch
touching none of them costs one vectorized check. Otherwise its rows of those days are compared with the
archived Parquet files of their symbols and days (placed, else still staged): a trade by its dedupe key
(``market, symbol, exchange, trade_id, ts_ns``), a quote, which carries no id, by every column but
``received_ns`` and ``source`` (``sql/duckdb/queries/archived_*_positions.sql``). Those rows are left out; a
row of an archived day that is really new stays (the next archive run moves it as a new part file).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.queries import QueryRegistry

__all__ = ["ArchivedDays", "POSITIONS"]

log = logging.getLogger("microstructure.archive")

_EPOCH_DAY = dt.date(1970, 1, 1)
_NS_PER_DAY = 86_400_000_000_000

#: The archive folder of each deduplicated table -> the query finding a batch's rows its files hold.
POSITIONS = {"trades": "archived_trade_positions", "quotes": "archived_quote_positions"}


class ArchivedDays:
    """The archived (market, day) of each folder of :data:`POSITIONS`, and the check of a batch against them.

    Parameters
    ----------
    queries
        The DuckDB query registry (``archived_days``, ``archived_files``, the positions queries).
    archive_root
        ``ARCHIVE_PATH``; ``None``: nothing is checked.
    label
        Names the file in log lines.
    """

    def __init__(self, queries: QueryRegistry, archive_root: Path | None, label: str) -> None:
        self._queries = queries
        self._root = archive_root
        self._label = label
        self._days: dict[str, dict[str, set[int]]] | None = None  # folder -> market -> epoch days

    def forget(self) -> None:
        """Read the manifest again at the next check (an archive run committed)."""
        self._days = None

    def without_archived(self, cursor: duckdb.DuckDBPyConnection, folder: str, batch: pa.Table) -> pa.Table:
        """``batch`` (its schema plus ``batch_pos``) without the rows an archived file of ``folder`` holds;
        ``batch`` itself when it has none. The caller holds the write lock, so no archive moves a day meanwhile.
        """
        if self._days is None:
            self._days = {}
            for name, market, day in cursor.execute(self._queries["archived_days"].text).fetchall():
                self._days.setdefault(str(name), {}).setdefault(str(market), set()).add((day - _EPOCH_DAY).days)
        archived_days = self._days.get(folder)
        if not archived_days or self._root is None:
            return batch
        days = pc.divide(batch.column("ts_ns"), _NS_PER_DAY)
        hit = pa.array(np.zeros(batch.num_rows, np.bool_))
        for market, archived in archived_days.items():
            hit = pc.or_(hit, pc.and_(pc.equal(batch.column("market"), market),
                                      pc.is_in(days, pa.array(sorted(archived), pa.int64()))))
        if not pc.any(hit).as_py():
            return batch
        suspects = batch.filter(hit)
        files = self._files(cursor, folder, suspects)
        if not files:
            return batch
        cursor.register("archive_check_batch", suspects)
        try:
            found = cursor.execute(self._queries[POSITIONS[folder]].text, {"files": files}).fetchall()
        finally:
            cursor.unregister("archive_check_batch")
        if not found:
            return batch
        log.info("%s: %d %s row(s) delivered again after their day was archived; the archive holds them, not "
                 "stored twice", self._label, len(found), folder)
        again = pa.array([p for (p,) in found], pa.int64())
        return batch.filter(pc.invert(pc.is_in(batch.column("batch_pos"), again)))

    def _files(self, cursor: duckdb.DuckDBPyConnection, folder: str, suspects: pa.Table) -> list[str]:
        """The archived files of ``folder`` that may hold rows of ``suspects`` (placed, else still staged); a
        file in neither place is logged (``microstructure archive`` reports it) and left out."""
        assert self._root is not None
        days = sorted({_EPOCH_DAY + dt.timedelta(days=int(d))
                       for d in pc.unique(pc.divide(suspects.column("ts_ns"), _NS_PER_DAY)).to_pylist()})
        params = {"table_name": folder, "markets": pc.unique(suspects.column("market")).to_pylist(), "days": days,
                  "symbols": pc.unique(suspects.column("symbol")).to_pylist()}
        files = []
        for path, staged_path in cursor.execute(self._queries["archived_files"].text, params).fetchall():
            found = next((p for p in (self._root / path, self._root / staged_path) if p.exists()), None)
            if found is None:
                log.error("archived file %s is missing: %s rows it held are not deduplicated against it", path,
                          folder)
            else:
                files.append(str(found))
        return files
