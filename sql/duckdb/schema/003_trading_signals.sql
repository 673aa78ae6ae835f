-- name: trading_signals
-- One row per symbol per completed bar of bar_seconds on the session's calendar grid (spec/signals.md).
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
    computed_at_ns         BIGINT  NOT NULL,
    PRIMARY KEY (symbol, bar_seconds, bar_end_ns)
);
