"""A ``microstructure load`` process on the Vertica backend that stops at a storage fault point:
``python tests/sql/vertica_fault_loader.py DB POINT N`` (Kafka settings from the environment) runs the loader into
a :class:`sql.vertica_backend.VerticaStorage` over the stand-in of :mod:`tests.sql.vertica_on_duckdb` on the
DuckDB file ``DB``; the ``N``-th time an append passes ``POINT`` (:data:`sql.vertica_backend.FAULT_POINTS`) it
prints ``at POINT`` and waits there for ever, for the test to kill it. ``POINT`` ``drain`` loads the topic to its
end and exits (the restart)."""

from __future__ import annotations

import sys

from ingest.load import Loader
from sql.settings import Settings
from sql.vertica_backend import FAULT_POINTS, VerticaStorage
from tests.ingest.fault_loader import stop_at
from tests.sql.vertica_on_duckdb import VerticaOnDuckDB


def main(db: str, point: str, nth: int) -> int:
    if point not in (*FAULT_POINTS, "drain"):
        print(f"unknown fault point {point!r}", file=sys.stderr)
        return 2
    fault = stop_at(point, nth)
    settings = Settings()
    storage = VerticaStorage(VerticaOnDuckDB(db).connect, read_only=False, query_timeout_ms=3000,
                             write_timeout_s=60, pool_size=1, fault=fault)
    try:
        Loader(settings, storage, drain=point == "drain").run()
    finally:
        storage.close()
    return 0 if point == "drain" else 1  # a fault point is never left: the test kills the process there


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
