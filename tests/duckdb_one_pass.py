"""A DuckDB file transformed in one pass: the rows the Vertica paths are compared with (shared by the Vertica
transform, realized-writer and UDx tests)."""

from __future__ import annotations

import pyarrow as pa

from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from udx.transform import run_transform


def transform_in_one_pass(settings: Settings, trades: pa.Table, quotes: pa.Table | None = None, *,
                          now_ns: int | None = None) -> DuckDBStorage:
    """Store ``trades`` (and ``quotes``) in a new file at ``settings.duckdb_path`` and run the real transform once
    over all of it; returns the open storage (the caller reads and closes it)."""
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        storage.append_trades(trades)
        if quotes is not None:
            storage.append_quotes(quotes)
        run_transform(storage, settings, now_ns=now_ns)
    except BaseException:
        storage.close()
        raise
    return storage
