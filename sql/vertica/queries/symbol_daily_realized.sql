-- name: symbol_daily_realized
-- params: symbols, start_ns, end_ns, bar_seconds
-- returns: symbol, session_date, realized_spread, price_impact: per symbol and UTC day of the bar_realized_spread
-- rows ending in [start_ns, end_ns); same rules as sql/duckdb/queries/symbol_daily_realized.sql.
SELECT
    symbol,
    TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS session_date,
    SUM(matched_volume * realized_spread) / SUM(matched_volume) AS realized_spread,
    SUM(matched_volume * price_impact) / SUM(matched_volume) AS price_impact
FROM bar_realized_spread
WHERE CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol) AND bar_seconds = :bar_seconds AND bar_end_ns >= :start_ns
  AND bar_end_ns < :end_ns AND matched_volume > 0
GROUP BY 1, 2
ORDER BY 1, 2;
