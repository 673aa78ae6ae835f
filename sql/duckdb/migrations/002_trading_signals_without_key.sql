-- name: trading_signals_without_key
-- when: trading_signals_has_key
-- Files created before trading_signals lost its PRIMARY KEY (schema/003_trading_signals.sql) keep the index that
-- made the transform's appends 4x slower. Rebuilt as in 001: renamed, created again, filled by name in key order,
-- old table dropped. Runs only where the key is declared (checks/trading_signals_has_key.sql).
ALTER TABLE trading_signals RENAME TO trading_signals_with_key;
CREATE TABLE trading_signals (
    symbol                 VARCHAR NOT NULL,
    bar_end_ns             BIGINT  NOT NULL,
    bar_seconds            INTEGER NOT NULL,
    n_trades               BIGINT  NOT NULL,
    volume                 DOUBLE  NOT NULL,
    vwap                   DOUBLE,
    close                  DOUBLE  NOT NULL,
    log_return             DOUBLE,
    garch_sigma            DOUBLE,
    standardized_return    DOUBLE,
    lee_mykland_stat       DOUBLE,
    jump_threshold         DOUBLE,
    jump_detected          BOOLEAN NOT NULL,
    bns_stat               DOUBLE,
    trade_intensity_zscore DOUBLE,
    conditional_duration   DOUBLE,
    acd_surprise           DOUBLE,
    vpin                   DOUBLE,
    vpin_cdf               DOUBLE,
    trading_signal         VARCHAR NOT NULL,
    signal_reason          VARCHAR NOT NULL,
    computed_at_ns         BIGINT  NOT NULL
);
INSERT INTO trading_signals BY NAME SELECT * FROM trading_signals_with_key ORDER BY symbol, bar_seconds, bar_end_ns;
DROP TABLE trading_signals_with_key;
