-- name: reset_trading_signals
-- params: symbols, bar_seconds
-- Deletes the trading_signals rows of symbols whose signals are recomputed from their first trade (changed definitions).
DELETE FROM trading_signals WHERE list_contains($symbols, symbol) AND bar_seconds = $bar_seconds;
