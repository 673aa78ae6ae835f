-- name: trading_signals
-- One row per symbol per completed bar of bar_seconds on the session's calendar grid (spec/signals.md).
-- Key (symbol, bar_seconds, bar_end_ns), kept by its only writer: the transform commits a symbol's new bars
-- with its signal_state in one transaction, and upsert_signals deletes a recomputed bar before inserting it.
-- No PRIMARY KEY index: DuckDB appends to this table 4x faster without one (bench in BENCHMARKS.md, issue 3),
-- and no reader looks a bar up by its exact key. Files created with the former key lose it at their next open
-- by a writer (migrations/002_trading_signals_without_key.sql).
CREATE TABLE IF NOT EXISTS trading_signals (
    symbol                 VARCHAR NOT NULL,
    bar_end_ns             BIGINT  NOT NULL,   -- exclusive end of the bar [bar_end_ns - bar_seconds, bar_end_ns)
    bar_seconds            INTEGER NOT NULL,
    n_trades               BIGINT  NOT NULL,
    volume                 DOUBLE  NOT NULL,
    vwap                   DOUBLE,             -- NULL for a bar without trades
    close                  DOUBLE  NOT NULL,   -- previous-tick price at bar end
    log_return             DOUBLE,             -- first bar of a session: against the session's first trade
    garch_sigma            DOUBLE,
    standardized_return    DOUBLE,
    lee_mykland_stat       DOUBLE,
    jump_threshold         DOUBLE,
    jump_detected          BOOLEAN NOT NULL,
    bns_stat               DOUBLE,
    trade_intensity_zscore DOUBLE,
    conditional_duration   DOUBLE,             -- ACD expected duration, seconds
    acd_surprise           DOUBLE,
    vpin                   DOUBLE,
    vpin_cdf               DOUBLE,
    trading_signal         VARCHAR NOT NULL,   -- BUY | SELL | HOLD
    signal_reason          VARCHAR NOT NULL,
    computed_at_ns         BIGINT  NOT NULL
);
