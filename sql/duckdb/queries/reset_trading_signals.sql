-- name: reset_trading_signals
-- params: symbol, bar_seconds
-- Deletes the trading_signals rows of a symbol whose signals are recomputed from its first trade (changed definitions).
DELETE FROM trading_signals WHERE symbol = $symbol AND bar_seconds = $bar_seconds;
