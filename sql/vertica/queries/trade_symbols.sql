-- name: trade_symbols
-- returns: market, symbol of every symbol with trades
SELECT DISTINCT market, symbol FROM market_data ORDER BY market, symbol;
