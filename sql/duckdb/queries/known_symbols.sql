-- name: known_symbols
-- params: symbols
-- returns: the given symbols that have trades
SELECT DISTINCT symbol FROM market_data WHERE list_contains($symbols, symbol);
