-- name: older_trading_signals
-- params: before_ns
-- returns: one row: symbols with bars ending before before_ns, and 0 not final (a stored bar is final)
SELECT COUNT(DISTINCT symbol) AS symbols, 0 AS not_final
FROM trading_signals
WHERE bar_end_ns < :before_ns;
