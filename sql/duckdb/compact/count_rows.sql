-- name: count_rows
-- returns: one row: the rows of the table __TARGET__ (catalog.table, quoted identifiers from duckdb_tables())
SELECT count(*) FROM __TARGET__;
