-- name: placed_tables
-- returns: table_name of every archive folder holding at least one placed file (its *_all view reads it)
SELECT DISTINCT table_name FROM archive_manifest WHERE placed ORDER BY table_name;
