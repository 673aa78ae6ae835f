-- name: upsert_bar_liquidity
-- returns: nothing; a recomputed bar replaces the stored one (delete by key, then insert the batch)
DELETE FROM bar_liquidity AS t
USING bar_liquidity_batch AS b
WHERE t.symbol = b.symbol AND t.bar_seconds = b.bar_seconds AND t.bar_end_ns = b.bar_end_ns;
INSERT INTO bar_liquidity SELECT * FROM bar_liquidity_batch;
