-- name: symbol_daily_realized
-- params: symbols, start_ns, end_ns, bar_seconds
-- returns: symbol, session_date, realized_spread, price_impact: per symbol and UTC day (of the bars' ends, as
-- symbol_metrics) of the bar_realized_spread rows ending in [start_ns, end_ns) on the grid: the means of the
-- bars' values weighted by their matched_volume, i.e. the size-weighted means over the day's matched trades
-- (get_symbol_metrics merges them into its rows by symbol and day; a day whose bars are all within the horizon
-- of the watermark has none yet)
SELECT
    symbol,
    CAST(make_timestamp(bar_end_ns // 1000) AS DATE) AS session_date,
    fsum(matched_volume * realized_spread) / fsum(matched_volume) AS realized_spread,
    fsum(matched_volume * price_impact) / fsum(matched_volume) AS price_impact
FROM bar_realized_spread
WHERE list_contains($symbols, symbol) AND bar_seconds = $bar_seconds AND bar_end_ns >= $start_ns
  AND bar_end_ns < $end_ns AND matched_volume > 0
GROUP BY symbol, session_date
ORDER BY symbol, session_date;
