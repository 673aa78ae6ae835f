"""The real Vertica of the ``vertica``-marked tests (``VERTICA_HOST`` and friends from the environment): a writable
storage over a clean slate of the tables a test owns, and its rows read back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sql.settings import Settings

__all__ = ["OWNED_TABLES", "needs_vertica", "real_vertica", "rows_of"]

needs_vertica = pytest.mark.skipif(not os.environ.get("VERTICA_HOST"),
                                   reason="VERTICA_HOST is not set: no Vertica server to test against")

#: Every table the issue 18/19 tests write; they own them in the VERTICA_* user's schema.
OWNED_TABLES = ("market_data", "market_data_archive", "market_data_archive_keys", "market_data_unkeyed_days",
                "quotes", "quotes_archive", "quotes_archive_keys", "quotes_unkeyed_days", "trading_signals",
                "trading_signals_archive", "signal_state", "daily_metrics", "archive_manifest", "bar_realized_spread",
                "bar_liquidity", "model_params", "intraday_profile")


@contextmanager
def real_vertica(settings: Settings) -> Iterator[Any]:
    """A :class:`sql.vertica_backend.VerticaStorage` with the schema applied and :data:`OWNED_TABLES` emptied."""
    from sql.vertica_backend import VerticaStorage

    storage = VerticaStorage.open(settings)
    try:
        storage.apply_schema()
        with storage._write() as cursor:
            for table in OWNED_TABLES:
                cursor.execute(f"DELETE FROM {table}")
        yield storage
    finally:
        storage.close()


def rows_of(storage: Any, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (a test's own statement) in a writer session."""
    with storage._write() as cursor:
        cursor.execute(sql)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []
