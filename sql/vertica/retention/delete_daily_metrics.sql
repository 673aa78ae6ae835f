-- name: delete_daily_metrics
-- params: days
-- returns: one row, the rows deleted: the daily_metrics rows of every UTC day before the newest `days` days it
-- holds (RETAIN_METRICS_DAYS; sql/vertica_retention.py). They are derived rows: nothing is archived for them.
DELETE FROM daily_metrics
WHERE session_date <= (SELECT MAX(session_date) FROM daily_metrics) - CAST(:days AS INTEGER);
