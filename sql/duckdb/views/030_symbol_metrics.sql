-- name: symbol_metrics
-- returns: one row per symbol per session day (UTC date of the bars' ends) and grid
-- Realized variance RV = sum r^2; bipower variation BV = (pi/2) sum |r_j||r_{j-1}| (highfrequency form);
-- tripower quarticity TP = M^2/(M-2) mu_{4/3}^-3 sum |r_j r_{j-1} r_{j-2}|^(4/3); daily BNS is the ratio
-- statistic with max adjustment ((RV-BV)/RV) / sqrt(theta/M max(1, TP/BV^2)), theta = pi^2/4 + pi - 5
-- (spec/signals.md §3). Prices come from the day's trades as Polygon's rules allow (eligible_trades): open and
-- close from prints that may set the last sale, high and low from those that may set them, trades, volume and
-- VWAP from those that count in volume.
-- Final days are read from daily_metrics (the transform writes each once final: schema/012_daily_metrics.sql);
-- the days after a grid's newest written day (the open day, or every day of a grid never written) are computed
-- here from the bars and trades, which start there (so a day whose trades were archived keeps its metrics).
CREATE OR REPLACE VIEW symbol_metrics AS
WITH open_from AS (
    SELECT bar_seconds, epoch_ns(CAST(max(session_date) + 1 AS TIMESTAMP)) AS from_ns
    FROM daily_metrics
    GROUP BY bar_seconds
),
trades_from AS (
    SELECT coalesce(min(coalesce(o.from_ns, 0)), 0) AS from_ns
    FROM (SELECT DISTINCT bar_seconds FROM trading_signals) AS g
    LEFT JOIN open_from AS o USING (bar_seconds)
),
bar_returns AS (
    SELECT
        s.symbol,
        s.bar_seconds,
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
    LEFT JOIN open_from AS o USING (bar_seconds)
    WHERE s.bar_end_ns >= coalesce(o.from_ns, 0)
    WINDOW w AS (PARTITION BY s.symbol, s.bar_seconds, CAST(make_timestamp(s.bar_end_ns // 1000) AS DATE)
                 ORDER BY s.bar_end_ns)
),
daily_bars AS (
    SELECT
        symbol,
        bar_seconds,
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
        symbol,
        CAST(make_timestamp(ts_ns // 1000) AS DATE) AS session_date,
        count(*) FILTER (WHERE counts_volume) AS trades,
        sum(size) FILTER (WHERE counts_volume) AS volume,
        sum(price * size) FILTER (WHERE counts_volume) / nullif(sum(size) FILTER (WHERE counts_volume), 0) AS vwap,
        arg_min(price, ts_ns) FILTER (WHERE sets_price) AS open,
        max(price) FILTER (WHERE sets_high_low) AS high,
        min(price) FILTER (WHERE sets_high_low) AS low,
        arg_max(price, ts_ns) FILTER (WHERE sets_price) AS close
    FROM eligible_trades
    WHERE ts_ns >= (SELECT from_ns FROM trades_from)
    GROUP BY ALL
)
SELECT * EXCLUDE (computed_at_ns) FROM daily_metrics
UNION ALL
SELECT
    b.symbol,
    b.session_date,
    b.bar_seconds,
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
    b.last_bar_end_ns
FROM daily_bars AS b
LEFT JOIN daily_trades AS t USING (symbol, session_date);
