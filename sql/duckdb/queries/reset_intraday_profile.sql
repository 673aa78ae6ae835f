-- name: reset_intraday_profile
-- params: symbols, bar_seconds
-- Deletes the intraday_profile rows of symbols whose signals are recomputed from their first trade (changed definitions).
DELETE FROM intraday_profile WHERE list_contains($symbols, symbol) AND bar_seconds = $bar_seconds;
