-- name: older_quotes
-- params: before_ns, bar_seconds
-- returns: one row: symbols with rows of quotes before before_ns, and how many of them are not final there (no
-- signal_state on the grid, or its last_bar_end_ns not past their newest such row, or live bars on the grid and no
-- bar_realized_spread row ending after that row: the realized-spread step reads live quotes); day partitions move
-- only when there are symbols and none is not final
SELECT COUNT(*) AS symbols,
       COALESCE(SUM(CASE WHEN s.last_bar_end_ns IS NULL OR s.last_bar_end_ns <= d.last_ns
                              OR (g.symbol IS NOT NULL AND (r.last_ns IS NULL OR r.last_ns <= d.last_ns))
                         THEN 1 ELSE 0 END), 0)
           AS not_final
FROM (SELECT symbol, MAX(ts_ns) AS last_ns FROM quotes WHERE ts_ns < :before_ns GROUP BY symbol) AS d
LEFT JOIN signal_state AS s ON s.symbol = d.symbol AND s.bar_seconds = :bar_seconds
LEFT JOIN (
    SELECT symbol, MAX(bar_end_ns) AS last_ns FROM bar_realized_spread WHERE bar_seconds = :bar_seconds GROUP BY symbol
) AS r ON r.symbol = d.symbol
LEFT JOIN (SELECT DISTINCT symbol FROM trading_signals WHERE bar_seconds = :bar_seconds) AS g ON g.symbol = d.symbol;
