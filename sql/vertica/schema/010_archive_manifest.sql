-- name: archive_manifest
-- What retention exported to Parquet (sql/vertica/retention/, sql/vertica_retention.py): one row per (table,
-- market, day, symbol) partition with its rows and time range; same columns as sql/duckdb/schema/010. Vertica's
-- EXPORT TO PARQUET writes the files; n_bytes and sha256 stay 0 and '' (the files are on the nodes' storage).
-- Small: one unsegmented projection.
CREATE TABLE IF NOT EXISTS archive_manifest (
    table_name     VARCHAR(16)   NOT NULL,
    market         VARCHAR(8)    NOT NULL,
    day            DATE          NOT NULL,
    symbol         VARCHAR(32)   NOT NULL,
    path           VARCHAR(1024) NOT NULL,
    staged_path    VARCHAR(1024) NOT NULL,
    n_rows         INTEGER       NOT NULL,
    n_bytes        INTEGER       NOT NULL,
    sha256         VARCHAR(64)   NOT NULL,
    first_ns       INTEGER       NOT NULL,
    last_ns        INTEGER       NOT NULL,
    archived_at_ns INTEGER       NOT NULL,
    placed         BOOLEAN       NOT NULL
)
UNSEGMENTED ALL NODES;
