-- name: reset_model_params
-- params: symbol, bar_seconds
-- Deletes the model_params rows of a symbol whose signals are recomputed from its first trade (changed definitions).
DELETE FROM model_params WHERE symbol = $symbol AND bar_seconds = $bar_seconds;
