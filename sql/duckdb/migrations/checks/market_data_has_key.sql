-- name: market_data_has_key
-- returns: one row: true when market_data declares a PRIMARY KEY (a file made before it was dropped)
SELECT count(*) > 0 FROM duckdb_constraints()
WHERE schema_name = 'main' AND table_name = 'market_data' AND constraint_type = 'PRIMARY KEY';
