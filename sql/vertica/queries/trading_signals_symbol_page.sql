-- name: trading_signals_symbol_page
-- params: symbol, signal_type, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: trading_signals rows of one symbol, newest first; keyset cursor (bar_end_ns, symbol)
SELECT
    symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma,
    standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore,
    conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns,
    TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS bar_end
FROM trading_signals
WHERE symbol = :symbol
  AND (:signal_type IS NULL OR trading_signal = :signal_type)
  AND bar_end_ns >= :start_ns AND bar_end_ns < :end_ns
  AND bar_seconds = :bar_seconds
  AND (:after_bar_end_ns IS NULL
       OR bar_end_ns < :after_bar_end_ns
       OR (bar_end_ns = :after_bar_end_ns AND symbol < :after_symbol))
ORDER BY bar_end_ns DESC, symbol DESC
LIMIT :row_limit;
