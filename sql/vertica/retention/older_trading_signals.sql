-- name: older_trading_signals
-- params: before_ns, bar_seconds
-- returns: one row: symbols with bars ending before before_ns, and how many of them are not final there: a stored bar
-- is final, and a day of bars on the grid leaves only once its daily_metrics row is written (symbol_metrics then
-- reads the day there) and its newest bar has its bar_realized_spread row (a row is due H after its bar's end;
-- insert_bar_realized_spread writes none for a bar no longer live, so a bar moved first would never get one)
SELECT COUNT(DISTINCT t.symbol) AS symbols,
       COUNT(DISTINCT CASE WHEN t.bar_seconds = :bar_seconds
                                AND (dm.symbol IS NULL OR r.last_ns IS NULL OR r.last_ns < t.last_ns)
                           THEN t.symbol END) AS not_final
FROM (
    SELECT symbol, bar_seconds,
           TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS day,
           MAX(bar_end_ns) AS last_ns
    FROM trading_signals
    WHERE bar_end_ns < :before_ns
    GROUP BY 1, 2, 3
) AS t
LEFT JOIN daily_metrics AS dm ON dm.symbol = t.symbol AND dm.bar_seconds = t.bar_seconds AND dm.session_date = t.day
LEFT JOIN (
    SELECT symbol, MAX(bar_end_ns) AS last_ns FROM bar_realized_spread WHERE bar_seconds = :bar_seconds GROUP BY symbol
) AS r ON r.symbol = t.symbol;
