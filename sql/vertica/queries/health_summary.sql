-- name: health_summary
-- returns: one row: newest trade and newest signal times in ns
SELECT
    (SELECT MAX(ts_ns) FROM market_data) AS newest_trade_ns,
    (SELECT MAX(bar_end_ns) FROM trading_signals) AS newest_signal_ns;
