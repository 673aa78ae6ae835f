-- name: newest_market_data
-- returns: one row: the newest time of market_data in ns (NULL when it is empty)
SELECT max(ts_ns) FROM market_data;
