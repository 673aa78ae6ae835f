-- name: realized_spread_resume_since
-- params: bar_seconds, since_ns
-- returns: realized_spread_resume over the rows ending at or after since_ns only: the same answer for every symbol
-- whose newest row ends there (DuckDBStorage.realized_spread_due knows a bound below every symbol's newest row,
-- and its zone maps skip the row groups before it; the unbounded query grows with the table)
SELECT symbol, max(bar_end_ns) AS bar_end_ns, arg_max_null(tick_price, bar_end_ns) AS tick_price,
       arg_max(tick_sign, bar_end_ns) AS tick_sign, min(horizon_seconds) AS min_horizon,
       max(horizon_seconds) AS max_horizon
FROM bar_realized_spread
WHERE bar_seconds = $bar_seconds AND bar_end_ns >= $since_ns
GROUP BY symbol
ORDER BY symbol;
