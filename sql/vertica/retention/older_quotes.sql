-- name: older_quotes
-- params: before_ns, bar_seconds
-- returns: one row: symbols with rows of quotes before before_ns, and how many of them are not final there (no
-- signal_state on the grid, or its last_bar_end_ns not past their newest such row); day partitions move only
-- when there are symbols and none is not final
SELECT COUNT(*) AS symbols,
       COALESCE(SUM(CASE WHEN s.last_bar_end_ns IS NULL OR s.last_bar_end_ns <= d.last_ns THEN 1 ELSE 0 END), 0)
           AS not_final
FROM (SELECT symbol, MAX(ts_ns) AS last_ns FROM quotes WHERE ts_ns < :before_ns GROUP BY symbol) AS d
LEFT JOIN signal_state AS s ON s.symbol = d.symbol AND s.bar_seconds = :bar_seconds;
