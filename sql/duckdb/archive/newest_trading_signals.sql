-- name: newest_trading_signals
-- returns: one row: the newest bar end of trading_signals in ns (NULL when it is empty)
SELECT max(bar_end_ns) FROM trading_signals;
