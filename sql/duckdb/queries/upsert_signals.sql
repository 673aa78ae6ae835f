-- name: upsert_signals
-- returns: nothing; a recomputed bar replaces the stored one (delete by key, then insert the batch)
DELETE FROM trading_signals AS t
USING signals_batch AS b
WHERE t.symbol = b.symbol AND t.bar_seconds = b.bar_seconds AND t.bar_end_ns = b.bar_end_ns;
INSERT INTO trading_signals SELECT * FROM signals_batch;
