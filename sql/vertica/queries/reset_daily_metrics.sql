-- name: reset_daily_metrics
-- params: symbol, bar_seconds
-- Deletes the daily_metrics rows of a symbol whose signals are recomputed from its first trade.
DELETE FROM daily_metrics WHERE symbol = :symbol AND bar_seconds = :bar_seconds;
