-- name: write_daily_metrics_prepared
-- params: bar_seconds, from_ns, final_before_ns, computed_at_ns
-- returns: one row, the rows added
-- write_daily_metrics with the trade half read before (day_trades_final, registered as day_trades_batch, covering
-- every day from from_ns to final_before_ns): the same rows, as day_metrics joins its two halves
-- (views/025_day_metrics.sql); only the bar half (day_bars) is computed here, after the signals are committed.
INSERT INTO daily_metrics BY NAME
WITH pending AS (
    SELECT DISTINCT symbol, CAST(make_timestamp(bar_end_ns // 1000) AS DATE) AS session_date
    FROM trading_signals
    WHERE bar_seconds = $bar_seconds AND bar_end_ns >= $from_ns AND bar_end_ns < $final_before_ns
    EXCEPT
    SELECT symbol, session_date FROM daily_metrics WHERE bar_seconds = $bar_seconds
)
-- By name: day_bars' columns (its tp_sum aside, a part of bns_stat) and day_trades' (symbol and session_date
-- once) are daily_metrics' columns, so the column list is day_metrics' (views/025_day_metrics.sql) alone.
SELECT b.* EXCLUDE (tp_sum), t.* EXCLUDE (symbol, session_date), $computed_at_ns AS computed_at_ns
FROM day_bars($bar_seconds, NULL, $from_ns, $from_ns, $final_before_ns) AS b
LEFT JOIN day_trades_batch AS t USING (symbol, session_date)
SEMI JOIN pending AS p ON p.symbol = b.symbol AND p.session_date = b.session_date;
