-- name: staged_summary
-- returns: one row: bars staged in this transaction, the number of their symbols and the end of the oldest (NULL
-- without bars: write_daily_metrics looks again only when a final day got bars or a day became final); the rows
-- that only carry realized rows (bar_end_ns NULL) are not bars
SELECT COUNT(*) AS bars, COUNT(DISTINCT symbol) AS symbols, MIN(bar_end_ns) AS oldest_bar_end_ns
FROM trading_signals_stage
WHERE bar_end_ns IS NOT NULL;
