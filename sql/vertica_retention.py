"""Retention on Vertica: the policy of :mod:`sql.archive` with partition moves instead of a Parquet copy.

``market_data``, ``quotes`` and ``trading_signals`` are partitioned by UTC day (``sql/vertica/schema``). For a
table whose ``RETAIN_*_DAYS`` is on, every day before the newest ``N`` (counted back from its newest row, as on
DuckDB) leaves the live table in this order (``sql/vertica/retention/``):

0. The ``daily_metrics`` of every final day are written first (as by the transform), so a day keeps its metrics
   once its trades and bars leave; with ``RETAIN_METRICS_DAYS`` on, rows older than that many days are deleted.
1. Trades and quotes move only when every symbol's signals are final there (``older_*`` counts none that is
   not: the transform's watermark is past each symbol's newest row of those days, each day of trades or bars
   on the grid has its ``daily_metrics`` row, and the realized-spread step is past them too: every bar of the day
   has its ``bar_realized_spread`` row, due ``LIQUIDITY_HORIZON_SECONDS`` after the bar's end, and the symbol's
   newest row ends after its newest trade or quote there); otherwise nothing moves and the run says so.
   ``bar_realized_spread`` itself stays live, and ``insert_bar_realized_spread`` writes no row for a bar moved.
   Whole day partitions move, so one symbol that is not final holds its days back for all.
2. ``MOVE_PARTITIONS_TO_TABLE`` moves the days to ``<table>_archive`` (a catalog operation; ``*_all`` views
   read both tables, so no row disappears from them).
3. ``EXPORT TO PARQUET`` writes those days under ``ARCHIVE_PATH/<folder>/export-<last day>-<ns>`` (a new folder,
   on the nodes' file system or object store, hive-partitioned ``market=/date=/symbol=``); ``record_*`` counts
   them into ``archive_manifest``; then ``DROP_PARTITIONS`` empties those days of ``<table>_archive``. A run
   stopped after the move leaves the rows in ``<table>_archive`` (still in the views); the next run exports
   them (the range starts at the first day), so a stop between the export and the record exports them twice
   into two folders: remove the folder the manifest does not name.
4. Before the drop, the dedupe keys of the trades (``keep_keys_market_data``) are kept in
   ``market_data_archive_keys``: the database cannot read the export back, and the loader's ``insert_trades``
   must still tell a re-delivered trade of a dropped day (its key is kept: not stored) from a genuinely new late
   print (stored live; the next run moves and exports it as a new folder). So are the quotes' keys
   (``keep_keys_quotes``, ``quotes_archive_keys``: every column but ``received_ns`` and ``source``, a quote carrying
   no id), which ``insert_quotes`` looks up the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from sql.archive_paths import ARCHIVED_TABLES

if TYPE_CHECKING:
    from sql.settings import Settings
    from sql.vertica_backend import VerticaStorage

__all__ = ["archive_vertica"]

log = logging.getLogger("microstructure.archive")

_NS_PER_SECOND = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_SECOND
_EPOCH = dt.date(1970, 1, 1)
#: Live tables whose dedupe keys outlive the drop of their rows (step 4 of the module docstring).
_KEYS_KEPT = frozenset({"market_data", "quotes"})


def archive_vertica(storage: VerticaStorage, settings: Settings) -> list[str]:
    """Apply the retention settings to a Vertica database (module docstring); return one line per table.

    Parameters
    ----------
    storage
        A Vertica storage opened for writing.
    settings
        ``RETAIN_*_DAYS``, ``RETAIN_METRICS_DAYS``, ``ARCHIVE_PATH`` (as the Vertica nodes see it),
        ``BAR_SECONDS`` and ``TRANSFORM_LATENESS_SECONDS``.
    """
    lines = []
    newest_trade = storage.newest_trade_ns()
    if newest_trade is not None:  # the days that leave keep their metrics: written first, as by the transform
        storage.write_daily_metrics(settings.bar_seconds,
                                    newest_trade - round(settings.transform_lateness_seconds * _NS_PER_SECOND))
    if settings.retain_metrics_days:
        (deleted,) = storage.run_statement("retention", "delete_daily_metrics",
                                           {"days": settings.retain_metrics_days})[0]
        if deleted:
            lines.append(f"daily_metrics: deleted {int(deleted):,} row(s) older than RETAIN_METRICS_DAYS")
    for table in ARCHIVED_TABLES:
        days = int(getattr(settings, table.setting))
        newest = storage.run_statement("retention", f"newest_day_{table.live}")[0][0] if days else None
        if newest is None:
            continue
        last_day = newest - dt.timedelta(days=days)
        end_ns = (last_day - _EPOCH).days * _NS_PER_DAY + _NS_PER_DAY
        symbols, waiting = storage.run_statement("retention", f"older_{table.live}",
                                                 {"before_ns": end_ns, "bar_seconds": settings.bar_seconds})[0]
        if not symbols:
            continue
        if waiting:
            lines.append(f"{table.folder}: {waiting} symbol(s) not final before {last_day} (signals or daily "
                         "metrics not written yet); nothing moved")
            continue
        days_range = {"first_day": _EPOCH.isoformat(), "last_day": last_day.isoformat()}
        storage.run_statement("retention", f"move_{table.live}", days_range)
        export = {"directory": str(settings.archive_root() / table.folder / f"export-{last_day}-{time.time_ns()}"),
                  "start_ns": 0, "end_ns": end_ns}
        (rows,) = storage.run_statement("retention", f"export_{table.live}", export)[0]
        storage.run_statement("retention", f"record_{table.live}", {**export, "archived_at_ns": time.time_ns()})
        if table.live in _KEYS_KEPT:
            storage.run_statement("retention", f"keep_keys_{table.live}", export)
        storage.run_statement("retention", f"drop_{table.live}", days_range)
        lines.append(f"{table.folder}: {int(rows):,} rows through {last_day} exported to {export['directory']}")
    for line in lines:
        log.info("vertica archive: %s", line)
    return lines
