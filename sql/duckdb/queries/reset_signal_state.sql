-- name: reset_signal_state
-- params: symbol, bar_seconds
-- Deletes the signal_state rows of a symbol whose signals are recomputed from its first trade (changed definitions).
DELETE FROM signal_state WHERE symbol = $symbol AND bar_seconds = $bar_seconds;
