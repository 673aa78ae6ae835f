-- name: current_database
-- returns: one row: the catalog name of the open file
SELECT current_database();
