-- name: schema_version
-- returns: one row: the largest version in schema_version, NULL when it has no rows
SELECT max(version) AS version FROM schema_version;
