-- name: upsert_signals
-- returns: the number of rows written; a recomputed bar replaces the stored one
INSERT OR REPLACE INTO trading_signals SELECT * FROM signals_batch;
