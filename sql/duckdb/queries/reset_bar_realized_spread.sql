-- name: reset_bar_realized_spread
-- params: symbol, bar_seconds
-- Deletes the bar_realized_spread rows of a symbol whose signals are recomputed from its first trade.
DELETE FROM bar_realized_spread WHERE symbol = $symbol AND bar_seconds = $bar_seconds;
