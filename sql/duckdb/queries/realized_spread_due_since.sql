-- name: realized_spread_due_since
-- params: bar_seconds, since_ns, until_ns
-- returns: realized_spread_due over the rows and bars ending at or after since_ns only: the same answer when every
-- symbol's newest row and every bar it may still get ends there (DuckDBStorage.realized_spread_due knows such a
-- bound; zone maps skip the row groups before it)
WITH done AS (
    SELECT symbol, max(bar_end_ns) AS last_ns
    FROM bar_realized_spread
    WHERE bar_seconds = $bar_seconds AND bar_end_ns >= $since_ns
    GROUP BY symbol
)
SELECT s.symbol, s.bar_end_ns
FROM trading_signals AS s
LEFT JOIN done AS d ON d.symbol = s.symbol
WHERE s.bar_seconds = $bar_seconds AND s.bar_end_ns >= $since_ns AND s.bar_end_ns <= $until_ns
  AND s.bar_end_ns > coalesce(d.last_ns, -1)
ORDER BY s.symbol, s.bar_end_ns;
