-- name: delete_bars
-- params: market, day_start_ns, day_end_ns, excluded
-- returns: one row, the rows deleted from the table __TABLE__: exactly those export_bars wrote (same predicate,
-- same transaction)
WITH markets AS (
    SELECT symbol, min(market) AS market FROM (
        SELECT DISTINCT market, symbol FROM market_data
        UNION SELECT DISTINCT market, symbol FROM archive_manifest WHERE table_name = 'trades'
    ) GROUP BY symbol
)
DELETE FROM __TABLE__ AS t
WHERE t.bar_end_ns >= $day_start_ns AND t.bar_end_ns < $day_end_ns AND NOT list_contains($excluded, t.symbol)
  AND coalesce((SELECT m.market FROM markets AS m WHERE m.symbol = t.symbol), 'unknown') = $market;
