-- name: symbol_metrics_page
-- params: symbols, start_date, end_date, bar_seconds, after_session_date, after_symbol, row_limit
-- returns: symbol_metrics rows (per symbol per day), newest day first; keyset cursor (session_date, symbol)
-- The rows of the view symbol_metrics with the filters applied inside. Final days come from daily_metrics (written
-- by the transform once final: schema/012_daily_metrics.sql); the days after the grid's newest written day (the open
-- day) are computed by day_metrics (views/025_day_metrics.sql: the formulas) with the filters as its arguments:
-- trading_signals is written symbol by symbol (the symbol filter skips row groups) and market_data in time order
-- (the day range skips row groups; DuckDB prunes on the bound read from daily_metrics as on a constant).
WITH open_from AS (
    SELECT coalesce(epoch_ns(CAST(max(session_date) + 1 AS TIMESTAMP)), 0) AS from_ns
    FROM daily_metrics
    WHERE bar_seconds = $bar_seconds
),
candidates AS (
    SELECT * EXCLUDE (computed_at_ns)
    FROM daily_metrics
    WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
      AND bar_seconds = $bar_seconds
      AND session_date >= CAST($start_date AS DATE)
      AND session_date <= CAST($end_date AS DATE)
    UNION ALL
    SELECT *
    FROM day_metrics($bar_seconds, $symbols,
                     epoch_ns(CAST(CAST($start_date AS DATE) AS TIMESTAMP)), (SELECT from_ns FROM open_from),
                     epoch_ns(least(CAST(CAST($end_date AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY,
                                    TIMESTAMP '2262-01-01')))   -- the end of nanosecond time
),
page AS (
    SELECT *
    FROM candidates
    WHERE $after_session_date IS NULL
       OR (session_date, symbol) < (CAST($after_session_date AS DATE), $after_symbol)
    ORDER BY session_date DESC, symbol DESC
    LIMIT $row_limit
)
SELECT *
FROM page
ORDER BY session_date DESC, symbol DESC;
