-- name: reset_bar_liquidity
-- params: symbol, bar_seconds
-- Deletes the bar_liquidity rows of a symbol whose signals are recomputed from its first trade (changed definitions).
DELETE FROM bar_liquidity WHERE symbol = $symbol AND bar_seconds = $bar_seconds;
