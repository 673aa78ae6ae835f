-- name: table_exists
-- params: table_name
-- returns: one row: how many columns the table of that name has in the public schema (0: no such table)
SELECT count(*) AS n FROM v_catalog.columns WHERE table_schema = 'public' AND table_name = :table_name;
