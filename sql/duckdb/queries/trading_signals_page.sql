-- name: trading_signals_page
-- params: symbols, signal_type, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: trading_signals rows, newest first; keyset cursor (bar_end_ns, symbol)
SELECT *, make_timestamp(bar_end_ns // 1000) AS bar_end
FROM trading_signals
WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
  AND ($signal_type IS NULL OR trading_signal = $signal_type)
  AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns
  AND bar_seconds = $bar_seconds
  AND ($after_bar_end_ns IS NULL OR (bar_end_ns, symbol) < ($after_bar_end_ns, $after_symbol))
ORDER BY bar_end_ns DESC, symbol DESC
LIMIT $row_limit;
