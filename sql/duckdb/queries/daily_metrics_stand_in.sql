-- name: daily_metrics_stand_in
-- returns: nothing; on a reader's cursor of a file no writer has migrated to daily_metrics yet (schema version < 4,
-- opened read-only), an empty temporary daily_metrics with the columns of schema/012_daily_metrics.sql, so that
-- symbol_metrics_page computes every day from the bars and trades as before instead of failing
CREATE TEMP VIEW IF NOT EXISTS daily_metrics AS
SELECT
    CAST(NULL AS VARCHAR) AS symbol, CAST(NULL AS DATE) AS session_date, CAST(NULL AS INTEGER) AS bar_seconds,
    CAST(NULL AS BIGINT) AS trades, CAST(NULL AS DOUBLE) AS volume, CAST(NULL AS DOUBLE) AS vwap,
    CAST(NULL AS DOUBLE) AS open, CAST(NULL AS DOUBLE) AS high, CAST(NULL AS DOUBLE) AS low,
    CAST(NULL AS DOUBLE) AS close, CAST(NULL AS BIGINT) AS n_returns, CAST(NULL AS DOUBLE) AS realized_variance,
    CAST(NULL AS DOUBLE) AS bipower_variation, CAST(NULL AS DOUBLE) AS bns_stat, CAST(NULL AS BIGINT) AS jump_count,
    CAST(NULL AS DOUBLE) AS mean_vpin, CAST(NULL AS DOUBLE) AS max_vpin, CAST(NULL AS VARCHAR) AS last_signal,
    CAST(NULL AS VARCHAR) AS last_signal_reason, CAST(NULL AS BIGINT) AS last_bar_end_ns,
    CAST(NULL AS BIGINT) AS computed_at_ns
LIMIT 0;
