-- name: day_trades_final
-- params: from_ns, final_before_ns
-- returns: day_trades rows (views/023_day_trades.sql: the trade half of the daily metrics) of every symbol and
-- UTC day from from_ns (a day start) to final_before_ns; the transform reads them while its last commit runs and
-- hands them to write_daily_metrics_prepared (the bounds are constants, so the scan of market_data skips the row
-- groups before from_ns).
SELECT * FROM day_trades(NULL, $from_ns, $from_ns, $final_before_ns);
