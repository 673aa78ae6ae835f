-- name: known_symbol
-- params: symbol
-- returns: one row when the symbol has trades
SELECT symbol FROM market_data WHERE symbol = $symbol LIMIT 1;
