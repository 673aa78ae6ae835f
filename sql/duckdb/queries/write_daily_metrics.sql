-- name: write_daily_metrics
-- params: bar_seconds, from_ns, final_before_ns, computed_at_ns
-- returns: one row, the rows added
-- Adds a daily_metrics row for every (symbol, day) with bars on the grid that is final (its bars end before
-- final_before_ns, the start of the UTC day of the transform's watermark) and not written yet, from from_ns on (the
-- start of the oldest such day: daily_metrics_pending). Formulas and eligible prints as in views/030_symbol_metrics.sql;
-- the bounds are constants so the scans of trading_signals and market_data skip the row groups before from_ns.
INSERT INTO daily_metrics
WITH pending AS (
    SELECT DISTINCT symbol, CAST(make_timestamp(bar_end_ns // 1000) AS DATE) AS session_date
    FROM trading_signals
    WHERE bar_seconds = $bar_seconds AND bar_end_ns >= $from_ns AND bar_end_ns < $final_before_ns
    EXCEPT
    SELECT symbol, session_date FROM daily_metrics WHERE bar_seconds = $bar_seconds
),
bar_returns AS (
    SELECT
        s.symbol,
        CAST(make_timestamp(s.bar_end_ns // 1000) AS DATE) AS session_date,
        s.bar_end_ns,
        s.log_return AS r,
        lag(s.log_return) OVER w AS r1,
        lag(s.log_return, 2) OVER w AS r2,
        s.jump_detected,
        s.vpin,
        s.trading_signal,
        s.signal_reason
    FROM trading_signals AS s
    SEMI JOIN pending AS p
        ON p.symbol = s.symbol AND p.session_date = CAST(make_timestamp(s.bar_end_ns // 1000) AS DATE)
    WHERE s.bar_seconds = $bar_seconds AND s.bar_end_ns >= $from_ns AND s.bar_end_ns < $final_before_ns
    WINDOW w AS (PARTITION BY s.symbol, CAST(make_timestamp(s.bar_end_ns // 1000) AS DATE) ORDER BY s.bar_end_ns)
),
daily_bars AS (
    SELECT
        symbol,
        session_date,
        count(r) AS n_returns,
        sum(r * r) AS realized_variance,
        (pi() / 2) * sum(abs(r) * abs(r1)) AS bipower_variation,
        1.7434720745 * sum(pow(abs(r * r1 * r2), 4.0 / 3.0)) AS tp_sum,
        count(*) FILTER (WHERE jump_detected) AS jump_count,
        avg(vpin) AS mean_vpin,
        max(vpin) AS max_vpin,
        arg_max(trading_signal, bar_end_ns) AS last_signal,
        arg_max(signal_reason, bar_end_ns) AS last_signal_reason,
        max(bar_end_ns) AS last_bar_end_ns
    FROM bar_returns
    GROUP BY ALL
),
daily_trades AS (
    SELECT
        e.symbol,
        CAST(make_timestamp(e.ts_ns // 1000) AS DATE) AS session_date,
        count(*) FILTER (WHERE e.counts_volume) AS trades,
        sum(e.size) FILTER (WHERE e.counts_volume) AS volume,
        sum(e.price * e.size) FILTER (WHERE e.counts_volume)
            / nullif(sum(e.size) FILTER (WHERE e.counts_volume), 0) AS vwap,
        arg_min(e.price, e.ts_ns) FILTER (WHERE e.sets_price) AS open,
        max(e.price) FILTER (WHERE e.sets_high_low) AS high,
        min(e.price) FILTER (WHERE e.sets_high_low) AS low,
        arg_max(e.price, e.ts_ns) FILTER (WHERE e.sets_price) AS close
    FROM eligible_trades AS e
    SEMI JOIN pending AS p
        ON p.symbol = e.symbol AND p.session_date = CAST(make_timestamp(e.ts_ns // 1000) AS DATE)
    WHERE e.ts_ns >= $from_ns AND e.ts_ns < $final_before_ns
    GROUP BY ALL
)
SELECT
    b.symbol,
    b.session_date,
    $bar_seconds AS bar_seconds,
    t.trades,
    t.volume,
    t.vwap,
    t.open,
    t.high,
    t.low,
    t.close,
    b.n_returns,
    b.realized_variance,
    b.bipower_variation,
    CASE
        WHEN b.n_returns < 3 OR b.realized_variance <= 0 OR b.bipower_variation <= 0 THEN NULL
        ELSE ((b.realized_variance - b.bipower_variation) / b.realized_variance)
             / sqrt((pi() * pi() / 4 + pi() - 5) / b.n_returns
                    * greatest(1.0, (b.n_returns * b.n_returns / (b.n_returns - 2.0)) * b.tp_sum
                                    / (b.bipower_variation * b.bipower_variation)))
    END AS bns_stat,
    b.jump_count,
    b.mean_vpin,
    b.max_vpin,
    b.last_signal,
    b.last_signal_reason,
    b.last_bar_end_ns,
    $computed_at_ns AS computed_at_ns
FROM daily_bars AS b
LEFT JOIN daily_trades AS t USING (symbol, session_date);
