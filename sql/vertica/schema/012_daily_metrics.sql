-- name: daily_metrics
-- The metrics of the view symbol_metrics (views/030_symbol_metrics.sql) of every final day, kept: one row per
-- symbol, session day (UTC date of the bars' ends) and grid, written once the day is final
-- (VerticaStorage.write_daily_metrics, queries/write_daily_metrics.sql) and never changed after, except when the
-- day's signals are recomputed (reset_/rewind_daily_metrics delete it; it is written again). Same columns as
-- sql/duckdb/schema/012_daily_metrics.sql. symbol_metrics reads final days here and computes only the open day(s),
-- so a day keeps its metrics after retention moved its trades to market_data_archive and dropped them there.
-- Kept RETAIN_METRICS_DAYS days (0: for ever; retention/delete_daily_metrics.sql). Small: segmented by symbol.
CREATE TABLE IF NOT EXISTS daily_metrics (
    symbol             VARCHAR(32)  NOT NULL,
    session_date       DATE         NOT NULL,
    bar_seconds        INTEGER      NOT NULL,
    trades             INTEGER,
    volume             FLOAT,
    vwap               FLOAT,
    open               FLOAT,
    high               FLOAT,
    low                FLOAT,
    close              FLOAT,
    n_returns          INTEGER      NOT NULL,
    realized_variance  FLOAT,
    bipower_variation  FLOAT,
    bns_stat           FLOAT,
    jump_count         INTEGER      NOT NULL,
    mean_vpin          FLOAT,
    max_vpin           FLOAT,
    last_signal        VARCHAR(8),
    last_signal_reason VARCHAR(512),
    last_bar_end_ns    INTEGER      NOT NULL,
    computed_at_ns     INTEGER      NOT NULL
)
ORDER BY symbol, bar_seconds, session_date
SEGMENTED BY HASH(symbol) ALL NODES;
