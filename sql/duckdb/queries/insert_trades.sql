-- name: insert_trades
-- returns: the number of rows added; rows whose dedupe key exists already are skipped
INSERT OR IGNORE INTO market_data SELECT * FROM trades_batch;
