-- name: older_market_data
-- params: before_ns, bar_seconds
-- returns: one row: symbols with rows of market_data before before_ns, and how many of them are not final there (no
-- signal_state on the grid, or its last_bar_end_ns not past their newest such row, or a day of theirs with bars on
-- the grid and no daily_metrics row yet: a day keeps its metrics once its trades leave, or live bars on the grid
-- and no bar_realized_spread row ending after their newest such row: the realized-spread step reads live trades);
-- day partitions move only when there are symbols and none is not final
SELECT COUNT(DISTINCT d.symbol) AS symbols,
       COUNT(DISTINCT CASE WHEN s.last_bar_end_ns IS NULL OR s.last_bar_end_ns <= d.last_ns
                                OR (b.symbol IS NOT NULL AND dm.symbol IS NULL)
                                OR (g.symbol IS NOT NULL AND (r.last_ns IS NULL OR r.last_ns <= d.last_ns))
                           THEN d.symbol END) AS not_final
FROM (
    SELECT symbol, TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS day,
           MAX(ts_ns) AS last_ns
    FROM market_data
    WHERE ts_ns < :before_ns
    GROUP BY 1, 2
) AS d
LEFT JOIN signal_state AS s ON s.symbol = d.symbol AND s.bar_seconds = :bar_seconds
LEFT JOIN daily_metrics AS dm ON dm.symbol = d.symbol AND dm.session_date = d.day AND dm.bar_seconds = :bar_seconds
LEFT JOIN (
    SELECT DISTINCT symbol,
           TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS day
    FROM trading_signals
    WHERE bar_seconds = :bar_seconds AND bar_end_ns < :before_ns
) AS b ON b.symbol = d.symbol AND b.day = d.day
LEFT JOIN (
    SELECT symbol, MAX(bar_end_ns) AS last_ns FROM bar_realized_spread WHERE bar_seconds = :bar_seconds GROUP BY symbol
) AS r ON r.symbol = d.symbol
LEFT JOIN (SELECT DISTINCT symbol FROM trading_signals WHERE bar_seconds = :bar_seconds) AS g ON g.symbol = d.symbol;
