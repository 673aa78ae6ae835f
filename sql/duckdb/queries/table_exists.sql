-- name: table_exists
-- params: table_name
-- returns: one row: how many columns the table of that name has in the main schema (0: no such table)
SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'main' AND table_name = $table_name;
