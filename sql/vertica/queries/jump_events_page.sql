-- name: jump_events_page
-- params: symbols, direction, min_abs_stat, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: jump_events rows, newest first; keyset cursor (bar_end_ns, symbol)
SELECT
    symbol, bar_end_ns, bar_end, bar_seconds, direction, log_return, lee_mykland_stat, jump_threshold,
    threshold_ratio, close, n_trades, volume, garch_sigma, bns_stat, vpin, trading_signal, signal_reason
FROM jump_events
WHERE (:symbols IS NULL OR CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol))
  AND (:direction IS NULL OR direction = :direction)
  AND (:min_abs_stat IS NULL OR ABS(lee_mykland_stat) >= :min_abs_stat)
  AND bar_end_ns >= :start_ns AND bar_end_ns < :end_ns
  AND bar_seconds = :bar_seconds
  AND (:after_bar_end_ns IS NULL
       OR bar_end_ns < :after_bar_end_ns
       OR (bar_end_ns = :after_bar_end_ns AND symbol < :after_symbol))
ORDER BY bar_end_ns DESC, symbol DESC
LIMIT :row_limit;
