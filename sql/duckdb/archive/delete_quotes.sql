-- name: delete_quotes
-- params: market, day_start_ns, day_end_ns, excluded
-- returns: one row, the rows deleted: exactly those export_quotes wrote (same predicate, same transaction)
DELETE FROM quotes
WHERE market = $market AND ts_ns >= $day_start_ns AND ts_ns < $day_end_ns AND NOT list_contains($excluded, symbol);
