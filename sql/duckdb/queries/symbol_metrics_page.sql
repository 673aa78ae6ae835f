-- name: symbol_metrics_page
-- params: symbols, start_date, end_date, bar_seconds, after_session_date, after_symbol, row_limit
-- returns: symbol_metrics rows (per symbol per day), newest day first; keyset cursor (session_date, symbol)
-- The rows of the view symbol_metrics with the filters applied inside. Final days come from daily_metrics (written
-- by the transform once final: schema/012_daily_metrics.sql); the days after the grid's newest written day (the open
-- day) are computed: their per-day bar statistics from trading_signals (written symbol by symbol: the symbol filter
-- skips row groups), and, for the page only, their trades (OHLC, volume, VWAP) from market_data (stored in time
-- order: the day range skips row groups; DuckDB prunes on the bound read from daily_metrics as on a constant).
-- Formulas as in views/030_symbol_metrics.sql.
WITH open_from AS (
    SELECT coalesce(epoch_ns(CAST(max(session_date) + 1 AS TIMESTAMP)), 0) AS from_ns
    FROM daily_metrics
    WHERE bar_seconds = $bar_seconds
),
bar_returns AS (
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
    WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
      AND bar_seconds = $bar_seconds
      AND bar_end_ns >= epoch_ns(CAST(CAST($start_date AS DATE) AS TIMESTAMP))
      AND bar_end_ns < epoch_ns(least(CAST(CAST($end_date AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY,
                                      TIMESTAMP '2262-01-01'))   -- the end of nanosecond time
      AND bar_end_ns >= (SELECT from_ns FROM open_from)
    WINDOW w AS (PARTITION BY symbol, bar_seconds, CAST(make_timestamp(bar_end_ns // 1000) AS DATE)
                 ORDER BY bar_end_ns)
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
candidates AS (
    SELECT * EXCLUDE (computed_at_ns), false AS is_open
    FROM daily_metrics
    WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
      AND bar_seconds = $bar_seconds
      AND session_date >= CAST($start_date AS DATE)
      AND session_date <= CAST($end_date AS DATE)
    UNION ALL
    SELECT
        symbol,
        session_date,
        bar_seconds,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL,   -- trades, volume, vwap, open, high, low, close: daily_trades
        n_returns,
        realized_variance,
        bipower_variation,
        CASE
            WHEN n_returns < 3 OR realized_variance <= 0 OR bipower_variation <= 0 THEN NULL
            ELSE ((realized_variance - bipower_variation) / realized_variance)
                 / sqrt((pi() * pi() / 4 + pi() - 5) / n_returns
                        * greatest(1.0, (n_returns * n_returns / (n_returns - 2.0)) * tp_sum
                                        / (bipower_variation * bipower_variation)))
        END,
        jump_count,
        mean_vpin,
        max_vpin,
        last_signal,
        last_signal_reason,
        last_bar_end_ns,
        true
    FROM daily_bars
),
page AS (
    SELECT *
    FROM candidates
    WHERE $after_session_date IS NULL
       OR (session_date, symbol) < (CAST($after_session_date AS DATE), $after_symbol)
    ORDER BY session_date DESC, symbol DESC
    LIMIT $row_limit
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
    FROM eligible_trades   -- the prints Polygon's rules allow, as the view symbol_metrics
    WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
      AND ts_ns >= epoch_ns(CAST(CAST($start_date AS DATE) AS TIMESTAMP))
      AND ts_ns < epoch_ns(least(CAST(CAST($end_date AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY,
                                 TIMESTAMP '2262-01-01'))
      AND ts_ns >= (SELECT from_ns FROM open_from)
    GROUP BY ALL
)
SELECT
    p.symbol,
    p.session_date,
    p.bar_seconds,
    if(p.is_open, t.trades, p.trades) AS trades,
    if(p.is_open, t.volume, p.volume) AS volume,
    if(p.is_open, t.vwap, p.vwap) AS vwap,
    if(p.is_open, t.open, p.open) AS open,
    if(p.is_open, t.high, p.high) AS high,
    if(p.is_open, t.low, p.low) AS low,
    if(p.is_open, t.close, p.close) AS close,
    p.n_returns,
    p.realized_variance,
    p.bipower_variation,
    p.bns_stat,
    p.jump_count,
    p.mean_vpin,
    p.max_vpin,
    p.last_signal,
    p.last_signal_reason,
    p.last_bar_end_ns
FROM page AS p
LEFT JOIN daily_trades AS t ON p.is_open AND t.symbol = p.symbol AND t.session_date = p.session_date
ORDER BY p.session_date DESC, p.symbol DESC;
