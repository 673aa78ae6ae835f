-- name: symbol_metrics
-- returns: one row per symbol per session day (UTC date of the bars' ends) and grid
-- Final days are read from daily_metrics (the transform writes each once final: schema/012_daily_metrics.sql);
-- the days after a grid's newest written day (the open day, or every day of a grid never written) are computed
-- here by day_metrics (views/025_day_metrics.sql: the formulas) from the bars and trades, which start there (so a
-- day whose trades were archived keeps its metrics).
CREATE OR REPLACE VIEW symbol_metrics AS
WITH open_from AS (
    SELECT bar_seconds, epoch_ns(CAST(max(session_date) + 1 AS TIMESTAMP)) AS from_ns
    FROM daily_metrics
    GROUP BY bar_seconds
),
trades_from AS (
    SELECT coalesce(min(coalesce(o.from_ns, 0)), 0) AS from_ns
    FROM (SELECT DISTINCT bar_seconds FROM trading_signals) AS g
    LEFT JOIN open_from AS o USING (bar_seconds)
)
SELECT * EXCLUDE (computed_at_ns) FROM daily_metrics
UNION ALL
SELECT m.*
FROM day_metrics(NULL, NULL, 0, (SELECT from_ns FROM trades_from), 9223372036854775807) AS m
LEFT JOIN open_from AS o USING (bar_seconds)
WHERE m.last_bar_end_ns >= coalesce(o.from_ns, 0);
