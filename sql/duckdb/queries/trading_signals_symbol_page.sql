-- name: trading_signals_symbol_page
-- params: symbol, signal_type, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: trading_signals rows of one symbol, newest first; keyset cursor (bar_end_ns, symbol)
-- The one-symbol case of trading_signals_page with plain predicates on the key columns: trading_signals is
-- written symbol by symbol, so the zone maps of symbol skip every row group but the symbol's own.
SELECT *, make_timestamp(bar_end_ns // 1000) AS bar_end
FROM trading_signals
WHERE symbol = $symbol
  AND bar_seconds = $bar_seconds
  AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns
  AND ($signal_type IS NULL OR trading_signal = $signal_type)
  AND ($after_bar_end_ns IS NULL OR (bar_end_ns, symbol) < ($after_bar_end_ns, $after_symbol))
ORDER BY bar_end_ns DESC, symbol DESC
LIMIT $row_limit;
