-- name: count_bars
-- params: market, day_start_ns, day_end_ns, excluded
-- returns: symbol, n_rows, first_ns, last_ns of the rows of the table __TABLE__ export_bars writes (same predicate):
-- what the staged files of a table moving with trading_signals must hold (sql/archive.py)
WITH markets AS (
    SELECT symbol, min(market) AS market FROM (
        SELECT DISTINCT market, symbol FROM market_data
        UNION SELECT DISTINCT market, symbol FROM archive_manifest WHERE table_name = 'trades'
    ) GROUP BY symbol
)
SELECT t.symbol, count(*) AS n_rows, min(t.bar_end_ns) AS first_ns, max(t.bar_end_ns) AS last_ns
FROM __TABLE__ AS t
WHERE t.bar_end_ns >= $day_start_ns AND t.bar_end_ns < $day_end_ns AND NOT list_contains($excluded, t.symbol)
  AND coalesce((SELECT m.market FROM markets AS m WHERE m.symbol = t.symbol), 'unknown') = $market
GROUP BY t.symbol;
