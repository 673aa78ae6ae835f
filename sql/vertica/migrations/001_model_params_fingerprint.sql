-- name: model_params_fingerprint
-- model_params keeps the signal definitions and settings each fit was made with: the JSON fingerprint of
-- udx.pipeline.SignalConfig. Added last (to the superprojection), as in schema/004_model_params.sql; fits stored
-- before keep it NULL. DDL commits by itself in Vertica; IF NOT EXISTS makes a rerun after a crash a notice.
ALTER TABLE model_params ADD COLUMN IF NOT EXISTS fingerprint VARCHAR(2048);
