-- name: list_stored_condition_sets
-- returns: nothing; lists in trade_condition_sets, undecided, every distinct non-empty conditions string of
-- market_data (one scan of the column). Run at a writer's open while the lookup is empty: a file made before it
-- existed, or trades loaded around the storage API (a bulk load); the open decides their rules right after.
INSERT OR IGNORE INTO trade_condition_sets (conditions)
SELECT DISTINCT conditions FROM market_data WHERE conditions <> '';
