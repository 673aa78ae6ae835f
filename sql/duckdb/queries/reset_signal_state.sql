-- name: reset_signal_state
-- params: symbols, bar_seconds
-- Deletes the signal_state rows of symbols whose signals are recomputed from their first trade (changed definitions).
DELETE FROM signal_state WHERE list_contains($symbols, symbol) AND bar_seconds = $bar_seconds;
