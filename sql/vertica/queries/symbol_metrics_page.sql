-- name: symbol_metrics_page
-- params: symbols, start_date, end_date, bar_seconds, after_session_date, after_symbol, row_limit
-- returns: symbol_metrics rows (per symbol per day), newest day first; keyset cursor (session_date, symbol)
SELECT
    symbol, session_date, bar_seconds, trades, volume, vwap, open, high, low, close, n_returns,
    realized_variance, bipower_variation, bns_stat, jump_count, mean_vpin, max_vpin, last_signal,
    last_signal_reason, last_bar_end_ns
FROM symbol_metrics
WHERE (:symbols IS NULL OR CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol))
  AND session_date >= CAST(:start_date AS DATE) AND session_date <= CAST(:end_date AS DATE)
  AND bar_seconds = :bar_seconds
  AND (:after_session_date IS NULL
       OR session_date < CAST(:after_session_date AS DATE)
       OR (session_date = CAST(:after_session_date AS DATE) AND symbol < :after_symbol))
ORDER BY session_date DESC, symbol DESC
LIMIT :row_limit;
