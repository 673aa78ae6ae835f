-- name: reset_intraday_profile
-- params: symbol, bar_seconds
-- Deletes the intraday_profile rows of a symbol whose signals are recomputed from its first trade (changed definitions).
DELETE FROM intraday_profile WHERE symbol = $symbol AND bar_seconds = $bar_seconds;
