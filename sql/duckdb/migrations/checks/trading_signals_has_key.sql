-- name: trading_signals_has_key
-- returns: one row: true when trading_signals declares a PRIMARY KEY (a file made before it was dropped)
SELECT count(*) > 0 FROM duckdb_constraints()
WHERE schema_name = 'main' AND table_name = 'trading_signals' AND constraint_type = 'PRIMARY KEY';
