-- name: latest_signals
-- returns: the newest trading_signals row of every symbol on every grid
-- LIMIT 1 OVER (PARTITION BY ... ORDER BY ...) is Vertica's top-k per partition (DuckDB: QUALIFY row_number()).
CREATE OR REPLACE VIEW latest_signals AS
SELECT
    symbol,
    bar_end_ns,
    bar_seconds,
    n_trades,
    volume,
    vwap,
    close,
    log_return,
    garch_sigma,
    standardized_return,
    lee_mykland_stat,
    jump_threshold,
    jump_detected,
    bns_stat,
    trade_intensity_zscore,
    conditional_duration,
    acd_surprise,
    vpin,
    vpin_cdf,
    trading_signal,
    signal_reason,
    computed_at_ns,
    TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS bar_end
FROM trading_signals
LIMIT 1 OVER (PARTITION BY symbol, bar_seconds ORDER BY bar_end_ns DESC);
