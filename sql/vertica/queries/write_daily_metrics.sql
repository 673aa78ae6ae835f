-- name: write_daily_metrics
-- params: bar_seconds, from_ns, final_before_ns, computed_at_ns
-- returns: one row, the rows added
-- Adds a daily_metrics row for every (symbol, day) with bars on the grid that is final (its bars end before
-- final_before_ns, the start of the UTC day of the transform's watermark) and not written yet, from from_ns on (the
-- start of the oldest such day: daily_metrics_pending). Formulas, eligible prints and ties as in
-- views/030_symbol_metrics.sql (the DuckDB twin: sql/duckdb/queries/write_daily_metrics.sql).
-- Why the formulas are written here a second time instead of read from one definition (DuckDB reads its table macro
-- day_metrics from both): Vertica has no table macro or parameterized view (its SQL functions return one scalar
-- expression; a stored procedure cannot be read by a view), so a definition both could read is a view, and
-- (1) this statement would then filter the view's output by session_date, a date computed from bar_end_ns / ts_ns
-- after the view's windows and GROUP BY: Vertica prunes the day partitions of trading_signals and market_data by
-- the constant bounds on those columns below, not by a computed date above a window, so every day written (one per
-- transaction, a backfill writes many) would read the whole history of both tables; (2) the view's open days start
-- after each grid's newest written day, while this statement writes the oldest pending (symbol, day), which may lie
-- before it (a symbol whose bars arrive late): a "pending days" view would not hold it. What keeps the two texts
-- equal is tests/sql/test_vertica_daily_formulas.py: the rows this statement writes equal the rows the view computes
-- for the same days (both Vertica texts run in DuckDB there).
INSERT INTO daily_metrics (symbol, session_date, bar_seconds, trades, volume, vwap, open, high, low, close, n_returns,
                           realized_variance, bipower_variation, bns_stat, jump_count, mean_vpin, max_vpin,
                           last_signal, last_signal_reason, last_bar_end_ns, computed_at_ns)
WITH pending AS (
    SELECT DISTINCT symbol,
           TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS session_date
    FROM trading_signals
    WHERE bar_seconds = :bar_seconds AND bar_end_ns >= :from_ns AND bar_end_ns < :final_before_ns
    EXCEPT
    SELECT symbol, session_date FROM daily_metrics WHERE bar_seconds = :bar_seconds
),
bar_returns AS (
    SELECT
        s.symbol,
        p.session_date,
        s.bar_end_ns,
        s.log_return AS r,
        LAG(s.log_return, 1) OVER (PARTITION BY s.symbol, p.session_date ORDER BY s.bar_end_ns) AS r1,
        LAG(s.log_return, 2) OVER (PARTITION BY s.symbol, p.session_date ORDER BY s.bar_end_ns) AS r2,
        s.jump_detected,
        s.vpin,
        LAST_VALUE(s.trading_signal) OVER (
            PARTITION BY s.symbol, p.session_date
            ORDER BY s.bar_end_ns ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_last_signal,
        LAST_VALUE(s.signal_reason) OVER (
            PARTITION BY s.symbol, p.session_date
            ORDER BY s.bar_end_ns ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_last_reason
    FROM trading_signals AS s
    JOIN pending AS p
        ON p.symbol = s.symbol
       AND p.session_date = TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
    WHERE s.bar_seconds = :bar_seconds AND s.bar_end_ns >= :from_ns AND s.bar_end_ns < :final_before_ns
),
daily_bars AS (
    SELECT
        symbol,
        session_date,
        COUNT(r) AS n_returns,
        SUM(r * r) AS realized_variance,
        (PI() / 2) * SUM(ABS(r) * ABS(r1)) AS bipower_variation,
        1.7434720745 * SUM(POWER(ABS(r * r1 * r2), 4.0 / 3.0)) AS tp_sum,
        SUM(CASE WHEN jump_detected THEN 1 ELSE 0 END) AS jump_count,
        AVG(vpin) AS mean_vpin,
        MAX(vpin) AS max_vpin,
        MAX(day_last_signal) AS last_signal,
        MAX(day_last_reason) AS last_signal_reason,
        MAX(bar_end_ns) AS last_bar_end_ns
    FROM bar_returns
    GROUP BY symbol, session_date
),
trade_days AS (
    SELECT
        e.symbol,
        p.session_date,
        e.price,
        e.size,
        e.sets_high_low,
        e.counts_volume,
        FIRST_VALUE(CASE WHEN e.sets_price THEN e.price END IGNORE NULLS) OVER (
            PARTITION BY e.symbol, p.session_date
            ORDER BY e.ts_ns, COALESCE(e.sequence, 9223372036854775807), e.exchange, e.trade_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_open,
        LAST_VALUE(CASE WHEN e.sets_price THEN e.price END IGNORE NULLS) OVER (
            PARTITION BY e.symbol, p.session_date
            ORDER BY e.ts_ns, COALESCE(e.sequence, 9223372036854775807), e.exchange, e.trade_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_close
    FROM eligible_trades AS e
    JOIN pending AS p
        ON p.symbol = e.symbol
       AND p.session_date = TIMESTAMPADD('microsecond', e.ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
    WHERE e.ts_ns >= :from_ns AND e.ts_ns < :final_before_ns
      -- the prints the transform uses (udx._chunk_read.valid_prints): a finite price > 0, a finite size >= 0
      AND e.price > 0 AND e.price < 'Infinity'::FLOAT AND e.size >= 0 AND e.size < 'Infinity'::FLOAT
),
daily_trades AS (
    SELECT
        symbol,
        session_date,
        SUM(CASE WHEN counts_volume THEN 1 ELSE 0 END) AS trades,
        SUM(CASE WHEN counts_volume THEN size END) AS volume,
        SUM(CASE WHEN counts_volume THEN price * size END)
            / NULLIF(SUM(CASE WHEN counts_volume THEN size END), 0) AS vwap,
        MAX(day_open) AS open,
        MAX(CASE WHEN sets_high_low THEN price END) AS high,
        MIN(CASE WHEN sets_high_low THEN price END) AS low,
        MAX(day_close) AS close
    FROM trade_days
    GROUP BY symbol, session_date
)
SELECT
    b.symbol,
    b.session_date,
    :bar_seconds AS bar_seconds,
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
             / SQRT((PI() * PI() / 4 + PI() - 5) / b.n_returns
                    * GREATEST(1.0, (b.n_returns * b.n_returns / (b.n_returns - 2.0)) * b.tp_sum
                                    / (b.bipower_variation * b.bipower_variation)))
    END AS bns_stat,
    b.jump_count,
    b.mean_vpin,
    b.max_vpin,
    b.last_signal,
    b.last_signal_reason,
    b.last_bar_end_ns,
    :computed_at_ns AS computed_at_ns
FROM daily_bars AS b
LEFT OUTER JOIN daily_trades AS t ON t.symbol = b.symbol AND t.session_date = b.session_date;
