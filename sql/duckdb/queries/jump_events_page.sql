-- name: jump_events_page
-- params: symbols, direction, min_abs_stat, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: jump_events rows, newest first; keyset cursor (bar_end_ns, symbol)
SELECT *
FROM jump_events
WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
  AND ($direction IS NULL OR direction = $direction)
  AND ($min_abs_stat IS NULL OR abs(lee_mykland_stat) >= $min_abs_stat)
  AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns
  AND bar_seconds = $bar_seconds
  AND ($after_bar_end_ns IS NULL OR (bar_end_ns, symbol) < ($after_bar_end_ns, $after_symbol))
ORDER BY bar_end_ns DESC, symbol DESC
LIMIT $row_limit;
