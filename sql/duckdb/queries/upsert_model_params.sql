-- name: upsert_model_params
-- returns: the number of rows written; a refit with the same window end replaces the stored fit
INSERT OR REPLACE INTO model_params SELECT * FROM model_params_batch;
