-- name: older_trading_signals
-- params: before_ns, bar_seconds
-- returns: one row: symbols with bars ending before before_ns, and how many of them are not final there: a stored bar
-- is final, and a day of bars on the grid leaves only once its daily_metrics row is written (symbol_metrics then
-- reads the day there)
SELECT COUNT(DISTINCT t.symbol) AS symbols,
       COUNT(DISTINCT CASE WHEN t.bar_seconds = :bar_seconds AND dm.symbol IS NULL THEN t.symbol END) AS not_final
FROM (
    SELECT DISTINCT symbol, bar_seconds,
           TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS day
    FROM trading_signals
    WHERE bar_end_ns < :before_ns
) AS t
LEFT JOIN daily_metrics AS dm ON dm.symbol = t.symbol AND dm.bar_seconds = t.bar_seconds AND dm.session_date = t.day;
