-- name: catalog_tables
-- params: database
-- returns: table_name of every table of the catalog database (the copy compares their row counts)
SELECT table_name FROM duckdb_tables() WHERE database_name = $database AND NOT internal ORDER BY table_name;
