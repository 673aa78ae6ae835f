-- name: realized_spread_resume
-- params: bar_seconds
-- returns: symbol, bar_end_ns, tick_price, tick_sign, horizons of each symbol's newest bar_realized_spread row
-- (where the next run resumes: trades from bar_end_ns on, Lee-Ready tick state carried); horizons: how many
-- distinct horizon_seconds its rows have, min_horizon/max_horizon their range. arg_max_null: the newest row's
-- tick_price even when it is NULL (arg_max would skip to an older row's)
SELECT symbol, max(bar_end_ns) AS bar_end_ns, arg_max_null(tick_price, bar_end_ns) AS tick_price,
       arg_max(tick_sign, bar_end_ns) AS tick_sign, min(horizon_seconds) AS min_horizon,
       max(horizon_seconds) AS max_horizon
FROM bar_realized_spread
WHERE bar_seconds = $bar_seconds
GROUP BY symbol
ORDER BY symbol;
