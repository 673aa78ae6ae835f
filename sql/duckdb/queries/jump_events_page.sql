-- name: jump_events_page
-- params: symbol, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: jump_events rows, newest first; keyset cursor (bar_end_ns, symbol)
SELECT *
FROM jump_events
WHERE ($symbol IS NULL OR symbol = $symbol)
  AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns
  AND bar_seconds = $bar_seconds
  AND ($after_bar_end_ns IS NULL OR (bar_end_ns, symbol) < ($after_bar_end_ns, $after_symbol))
ORDER BY bar_end_ns DESC, symbol DESC
LIMIT $row_limit;
