-- name: model_params_fingerprint
-- model_params keeps the signal definitions and settings each fit was made with: the JSON fingerprint of
-- udx.pipeline.SignalConfig (the one signal_state checks). Added last, as in schema/004_model_params.sql; fits
-- stored before keep it NULL (unknown).
ALTER TABLE model_params ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;
