-- name: daily_metrics
-- The metrics of the view symbol_metrics (views/030_symbol_metrics.sql) of every final day, kept: one row per
-- symbol, session day (UTC date of the bars' ends) and grid, written by the transform once the day is final (its
-- watermark passed the day's end; DuckDBStorage.write_daily_metrics, queries/write_daily_metrics.sql) and never
-- changed after, except when the day's signals are recomputed (reset_/rewind_daily_metrics delete it; it is written
-- again). symbol_metrics and get_symbol_metrics read final days here and compute only the open day(s) from the
-- bars and trades, so a day keeps its metrics after retention moved its trades to the archive, and a call over
-- every symbol reads a small table instead of every trade. Kept RETAIN_METRICS_DAYS days (0: for ever).
CREATE TABLE IF NOT EXISTS daily_metrics (
    symbol             VARCHAR NOT NULL,
    session_date       DATE    NOT NULL,
    bar_seconds        INTEGER NOT NULL,
    trades             BIGINT,
    volume             DOUBLE,
    vwap               DOUBLE,
    open               DOUBLE,
    high               DOUBLE,
    low                DOUBLE,
    close              DOUBLE,
    n_returns          BIGINT  NOT NULL,
    realized_variance  DOUBLE,
    bipower_variation  DOUBLE,
    bns_stat           DOUBLE,
    jump_count         BIGINT  NOT NULL,
    mean_vpin          DOUBLE,
    max_vpin           DOUBLE,
    last_signal        VARCHAR,
    last_signal_reason VARCHAR,
    last_bar_end_ns    BIGINT  NOT NULL,
    computed_at_ns     BIGINT  NOT NULL
);
