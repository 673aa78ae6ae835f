"""The in-database transform on the Vertica backend stopped at a storage fault point:
``python tests/sql/vertica_fault_transform.py DB SESSION`` runs ``VerticaStorage.run_transform_in_database`` over
the stand-in of :mod:`tests.sql.vertica_on_duckdb` on the DuckDB file ``DB`` (1-minute bars, no lateness, stocks
in ``SESSION``, as ``tests/sql/test_vertica_in_database_realized.py`` sets them); the first time it passes
``staged`` (the realized rows in their stage, not yet inserted) it prints ``at staged`` and waits there for ever,
for the test to kill it."""

from __future__ import annotations

import sys

from sql.settings import Settings
from sql.vertica_backend import VerticaStorage
from tests.ingest.fault_loader import stop_at
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB


def main(db: str, session: str) -> int:
    settings = Settings(_env_file=None, bar_seconds=60, session_stocks=session,  # type: ignore[call-arg]
                        transform_lateness_seconds=0.0, db_backend="vertica")
    storage = VerticaStorage(VerticaOnDuckDB(db).connect, read_only=False, query_timeout_ms=3000,
                             write_timeout_s=60, pool_size=1, fault=stop_at("staged", 1))
    try:
        storage.run_transform_in_database(settings, now_ns=1)
    finally:
        storage.close()
    return 1  # the fault point is never left: the test kills the process there


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
