-- name: known_symbols
-- params: symbols
-- returns: the given symbols that have trades
-- A Python list binds as ARRAY[...] (vertica-python); CONTAINS is Vertica's list_contains.
SELECT DISTINCT symbol FROM market_data WHERE CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol);
