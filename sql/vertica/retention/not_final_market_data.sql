-- name: not_final_market_data
-- params: before_ns, bar_seconds
-- returns: one row: symbols with trades before before_ns whose signals are not final there (no signal_state on the
-- grid, or its last_bar_end_ns not past their newest such trade); a day partition moves only when this is 0
SELECT COUNT(*) AS not_final
FROM (SELECT symbol, MAX(ts_ns) AS last_ns FROM market_data WHERE ts_ns < :before_ns GROUP BY symbol) AS d
LEFT JOIN signal_state AS s ON s.symbol = d.symbol AND s.bar_seconds = :bar_seconds
WHERE s.last_bar_end_ns IS NULL OR s.last_bar_end_ns <= d.last_ns;
