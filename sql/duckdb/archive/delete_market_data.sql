-- name: delete_market_data
-- params: market, day_start_ns, day_end_ns, excluded
-- returns: one row, the rows deleted: exactly those export_market_data wrote (same predicate, same transaction)
DELETE FROM market_data
WHERE market = $market AND ts_ns >= $day_start_ns AND ts_ns < $day_end_ns AND NOT list_contains($excluded, symbol);
