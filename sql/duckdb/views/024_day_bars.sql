-- name: day_bars
-- returns: (table macro) one row per symbol, grid and session day (UTC date of the bars' ends): the bar columns of
-- daily_metrics (n_returns, realized_variance, bipower_variation, bns_stat, jump_count, mean_vpin, max_vpin,
-- last_signal, last_signal_reason, last_bar_end_ns) and tp_sum from the bars of trading_signals. One of the two
-- halves of day_metrics (views/025_day_metrics.sql, which documents the arguments and the formulas).
CREATE OR REPLACE MACRO day_bars(grid, symbols, start_ns, from_ns, before_ns) AS TABLE
WITH bar_returns AS (
    SELECT
        symbol,
        bar_seconds,
        CAST(make_timestamp(bar_end_ns // 1000) AS DATE) AS session_date,
        bar_end_ns,
        log_return AS r,
        lag(log_return) OVER w AS r1,
        lag(log_return, 2) OVER w AS r2,
        jump_detected,
        vpin,
        trading_signal,
        signal_reason
    FROM trading_signals
    WHERE (symbols IS NULL OR list_contains(symbols, symbol))
      AND (grid IS NULL OR bar_seconds = grid)
      AND bar_end_ns >= start_ns AND bar_end_ns >= from_ns AND bar_end_ns < before_ns
    WINDOW w AS (PARTITION BY symbol, bar_seconds, CAST(make_timestamp(bar_end_ns // 1000) AS DATE)
                 ORDER BY bar_end_ns)
),
daily_bars AS (
    SELECT
        symbol,
        bar_seconds,
        session_date,
        count(r) AS n_returns,
        fsum(r * r) AS realized_variance,
        (pi() / 2) * fsum(abs(r) * abs(r1)) AS bipower_variation,
        1.7434720745 * fsum(pow(abs(r * r1 * r2), 4.0 / 3.0)) AS tp_sum,
        count(*) FILTER (WHERE jump_detected) AS jump_count,
        fsum(vpin) / nullif(count(vpin), 0) AS mean_vpin,
        max(vpin) AS max_vpin,
        arg_max(trading_signal, bar_end_ns) AS last_signal,
        arg_max(signal_reason, bar_end_ns) AS last_signal_reason,
        max(bar_end_ns) AS last_bar_end_ns
    FROM bar_returns
    GROUP BY ALL
)
SELECT
    *,
    CASE
        WHEN b.n_returns < 3 OR b.realized_variance <= 0 OR b.bipower_variation <= 0 THEN NULL
        ELSE ((b.realized_variance - b.bipower_variation) / b.realized_variance)
             / sqrt((pi() * pi() / 4 + pi() - 5) / b.n_returns
                    * greatest(1.0, (b.n_returns * b.n_returns / (b.n_returns - 2.0)) * b.tp_sum
                                    / (b.bipower_variation * b.bipower_variation)))
    END AS bns_stat
FROM daily_bars AS b;
