-- name: trading_signals
-- One row per symbol per completed bar of bar_seconds on the session's calendar grid (spec/signals.md).
-- Key (symbol, bar_seconds, bar_end_ns), kept by upsert_signals (MERGE); declared, not enforced.
CREATE TABLE IF NOT EXISTS trading_signals (
    symbol                 VARCHAR(32)  NOT NULL,
    bar_end_ns             INTEGER      NOT NULL,   -- exclusive end of the bar [bar_end_ns - bar_seconds, bar_end_ns)
    bar_seconds            INTEGER      NOT NULL,
    n_trades               INTEGER      NOT NULL,
    volume                 FLOAT        NOT NULL,
    vwap                   FLOAT,                   -- NULL for a bar without trades
    close                  FLOAT        NOT NULL,   -- previous-tick price at bar end
    log_return             FLOAT,                   -- first bar of a session: against the session's first trade
    garch_sigma            FLOAT,
    standardized_return    FLOAT,
    lee_mykland_stat       FLOAT,
    jump_threshold         FLOAT,
    jump_detected          BOOLEAN      NOT NULL,
    bns_stat               FLOAT,
    trade_intensity_zscore FLOAT,
    conditional_duration   FLOAT,                   -- ACD expected duration, seconds
    acd_surprise           FLOAT,
    vpin                   FLOAT,
    vpin_cdf               FLOAT,
    trading_signal         VARCHAR(8)   NOT NULL,   -- BUY | SELL | HOLD
    signal_reason          VARCHAR(512) NOT NULL,
    computed_at_ns         INTEGER      NOT NULL,
    CONSTRAINT trading_signals_key PRIMARY KEY (symbol, bar_seconds, bar_end_ns) DISABLED
)
ORDER BY symbol, bar_seconds, bar_end_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
