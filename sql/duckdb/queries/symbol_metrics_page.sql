-- name: symbol_metrics_page
-- params: symbols, start_date, end_date, bar_seconds, after_session_date, after_symbol, row_limit
-- returns: symbol_metrics rows (per symbol per day), newest day first; keyset cursor (session_date, symbol)
SELECT *
FROM symbol_metrics
WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
  AND session_date >= CAST($start_date AS DATE) AND session_date <= CAST($end_date AS DATE)
  AND bar_seconds = $bar_seconds
  AND ($after_session_date IS NULL
       OR (session_date, symbol) < (CAST($after_session_date AS DATE), $after_symbol))
ORDER BY session_date DESC, symbol DESC
LIMIT $row_limit;
