-- name: schema_version
-- The layout of this database: one row per migration of sql/duckdb/migrations/ applied, or one row named
-- 'created' stamping a file the schema files created at the newest layout (sql/migrations.py). The version is
-- the largest one; a file without rows but with market_data predates versioning (version 0).
CREATE TABLE IF NOT EXISTS schema_version (
    version       INTEGER NOT NULL,
    name          VARCHAR NOT NULL,
    applied_at_ns BIGINT  NOT NULL
);
