-- name: reset_model_params
-- params: symbols, bar_seconds
-- Deletes the model_params rows of symbols whose signals are recomputed from their first trade (changed definitions).
DELETE FROM model_params WHERE list_contains($symbols, symbol) AND bar_seconds = $bar_seconds;
