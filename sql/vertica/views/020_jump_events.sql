-- name: jump_events
-- returns: the bars whose Lee-Mykland statistic crossed its threshold, with the jump's direction
CREATE OR REPLACE VIEW jump_events AS
SELECT
    symbol,
    bar_end_ns,
    TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS bar_end,
    bar_seconds,
    CASE WHEN log_return > 0 THEN 'up' ELSE 'down' END AS direction,
    log_return,
    lee_mykland_stat,
    jump_threshold,
    ABS(lee_mykland_stat) / jump_threshold AS threshold_ratio,
    close,
    n_trades,
    volume,
    garch_sigma,
    bns_stat,
    vpin,
    trading_signal,
    signal_reason
FROM trading_signals
WHERE jump_detected;
