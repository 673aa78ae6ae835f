-- name: newest_trade_ns
-- returns: one row: the newest trade time in ns (NULL when there are no trades)
SELECT MAX(ts_ns) AS newest_trade_ns FROM market_data;
