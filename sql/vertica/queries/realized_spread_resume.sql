-- name: realized_spread_resume
-- params: bar_seconds
-- returns: symbol, bar_end_ns, tick_price, tick_sign, min_horizon, max_horizon of each symbol's newest
-- bar_realized_spread row (where the next run resumes: trades from bar_end_ns on, Lee-Ready tick state carried) and
-- the range of horizon_seconds of its rows. Vertica has no arg_max (the DuckDB twin): the newest row is the first of
-- its symbol by bar_end_ns descending (the key makes it unique), the horizons a window over the symbol's rows.
SELECT r.symbol, r.bar_end_ns, r.tick_price, r.tick_sign, r.min_horizon, r.max_horizon
FROM (
    SELECT symbol, bar_end_ns, tick_price, tick_sign,
           MIN(horizon_seconds) OVER (PARTITION BY symbol) AS min_horizon,
           MAX(horizon_seconds) OVER (PARTITION BY symbol) AS max_horizon,
           ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY bar_end_ns DESC) AS newest_first
    FROM bar_realized_spread
    WHERE bar_seconds = :bar_seconds
) AS r
WHERE r.newest_first = 1
ORDER BY r.symbol;
