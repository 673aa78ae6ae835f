-- name: symbol_metrics_page
-- params: symbols, start_date, end_date, bar_seconds, after_session_date, after_symbol, row_limit
-- returns: symbol_metrics rows (per symbol per day), newest day first; keyset cursor (session_date, symbol)
-- The rows of the view symbol_metrics with the filters applied inside: the per-day bar statistics of the
-- asked symbols and days (trading_signals is written symbol by symbol: the symbol filter skips row groups),
-- the page of them, and the day's trades (OHLC, volume, VWAP) of the asked symbols and days, joined to the
-- page (market_data is stored in time order: a window's day range skips row groups; constant bounds, as
-- bounds from a subquery would be joined row by row instead). Formulas as in views/030_symbol_metrics.sql.
-- Reading the trades is what costs; per-bar open/high/low in trading_signals would let this read bars only.
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
    WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
      AND bar_seconds = $bar_seconds
      AND bar_end_ns >= epoch_ns(CAST(CAST($start_date AS DATE) AS TIMESTAMP))
      AND bar_end_ns < epoch_ns(least(CAST(CAST($end_date AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY,
                                      TIMESTAMP '2262-01-01'))   -- the end of nanosecond time
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
page AS (
    SELECT *
    FROM daily_bars
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
    GROUP BY ALL
)
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
FROM page AS b
LEFT JOIN daily_trades AS t USING (symbol, session_date)
ORDER BY b.session_date DESC, b.symbol DESC;
