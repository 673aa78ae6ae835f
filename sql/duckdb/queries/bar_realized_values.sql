-- name: bar_realized_values
-- params: symbols, bar_seconds, start_ns, end_ns
-- returns: symbol, bar_end_ns, horizon_seconds, realized_spread, price_impact of the bar_realized_spread rows of
-- symbols with start_ns <= bar_end_ns <= end_ns: the values the tools serve with those bars (the rows kept in
-- memory for get_real_time_data read them after a write, server/tools/latest.py)
SELECT symbol, bar_end_ns, horizon_seconds, realized_spread, price_impact
FROM bar_realized_spread
WHERE bar_seconds = $bar_seconds
  AND list_contains($symbols, symbol)
  AND bar_end_ns >= $start_ns AND bar_end_ns <= $end_ns
ORDER BY symbol, bar_end_ns;
