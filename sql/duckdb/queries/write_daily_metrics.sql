-- name: write_daily_metrics
-- params: bar_seconds, from_ns, final_before_ns, computed_at_ns
-- returns: one row, the rows added
-- Adds a daily_metrics row for every (symbol, day) with bars on the grid that is final (its bars end before
-- final_before_ns, the start of the UTC day of the transform's watermark) and not written yet, from from_ns on (the
-- start of the oldest such day: daily_metrics_pending). The rows come from day_metrics (views/025_day_metrics.sql:
-- the formulas, eligible prints); the bounds are constants so its scans of trading_signals and market_data skip
-- the row groups before from_ns.
INSERT INTO daily_metrics
WITH pending AS (
    SELECT DISTINCT symbol, CAST(make_timestamp(bar_end_ns // 1000) AS DATE) AS session_date
    FROM trading_signals
    WHERE bar_seconds = $bar_seconds AND bar_end_ns >= $from_ns AND bar_end_ns < $final_before_ns
    EXCEPT
    SELECT symbol, session_date FROM daily_metrics WHERE bar_seconds = $bar_seconds
)
SELECT m.*, $computed_at_ns AS computed_at_ns
FROM day_metrics($bar_seconds, NULL, $from_ns, $from_ns, $final_before_ns) AS m
SEMI JOIN pending AS p ON p.symbol = m.symbol AND p.session_date = m.session_date;
