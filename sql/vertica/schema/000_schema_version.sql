-- name: schema_version
-- The layout of this database: one row per migration of sql/vertica/migrations/ applied by
-- `microstructure vertica migrate`, or one row named 'created' stamping a database the schema files created at
-- the newest layout (sql/migrations.py). Tiny: one unsegmented projection.
CREATE TABLE IF NOT EXISTS schema_version (
    version       INTEGER     NOT NULL,
    name          VARCHAR(64) NOT NULL,
    applied_at_ns INTEGER     NOT NULL
)
UNSEGMENTED ALL NODES;
