-- name: daily_metrics_pending
-- params: bar_seconds, final_before_ns
-- returns: one row: the end of the oldest bar of a final day (bars ending before final_before_ns) that has no
-- daily_metrics row yet, or NULL when every final day is written; write_daily_metrics starts from its day
SELECT min(first_end)
FROM (
    SELECT symbol,
           TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS session_date,
           MIN(bar_end_ns) AS first_end
    FROM trading_signals
    WHERE bar_seconds = :bar_seconds AND bar_end_ns < :final_before_ns
    GROUP BY 1, 2
) AS d
WHERE NOT EXISTS (
    SELECT 1 FROM daily_metrics AS m
    WHERE m.symbol = d.symbol AND m.session_date = d.session_date AND m.bar_seconds = :bar_seconds
);
