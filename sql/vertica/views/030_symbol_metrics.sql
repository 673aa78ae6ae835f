-- name: symbol_metrics
-- returns: one row per symbol per session day (UTC date of the bars' ends) and grid
-- Realized variance RV = sum r^2; bipower variation BV = (pi/2) sum |r_j||r_{j-1}| (highfrequency form);
-- tripower quarticity TP = M^2/(M-2) mu_{4/3}^-3 sum |r_j r_{j-1} r_{j-2}|^(4/3); daily BNS is the ratio
-- statistic with max adjustment ((RV-BV)/RV) / sqrt(theta/M max(1, TP/BV^2)), theta = pi^2/4 + pi - 5
-- (spec/signals.md §3). Prices (OHLC, VWAP) come from the day's trades. Same columns, formulas and
-- constants as sql/duckdb/views/030_symbol_metrics.sql; DuckDB's arg_min/arg_max become FIRST_VALUE /
-- LAST_VALUE over the whole day (ties in time broken by sequence, exchange, trade_id).
-- Final days are read from daily_metrics (written once final: schema/012_daily_metrics.sql); the days after a grid's
-- newest written day (the open day, or every day of a grid never written) are computed here from the bars and
-- trades, which start there (so a day whose trades retention moved out keeps its metrics), as on DuckDB.
-- queries/write_daily_metrics.sql restates these formulas (its header says why Vertica cannot share them);
-- tests/sql/test_vertica_daily_formulas.py holds the two equal.
CREATE OR REPLACE VIEW symbol_metrics AS
WITH open_from AS (
    SELECT bar_seconds, DATEDIFF('day', DATE '1970-01-01', MAX(session_date) + 1) * 86400000000000 AS from_ns
    FROM daily_metrics
    GROUP BY bar_seconds
),
trades_from AS (
    SELECT COALESCE(MIN(COALESCE(o.from_ns, 0)), 0) AS from_ns
    FROM (SELECT DISTINCT bar_seconds FROM trading_signals) AS g
    LEFT OUTER JOIN open_from AS o ON o.bar_seconds = g.bar_seconds
),
bar_returns AS (
    SELECT
        s.symbol,
        s.bar_seconds,
        TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS session_date,
        s.bar_end_ns,
        s.log_return AS r,
        LAG(s.log_return, 1) OVER (
            PARTITION BY s.symbol, s.bar_seconds,
                         TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
            ORDER BY s.bar_end_ns) AS r1,
        LAG(s.log_return, 2) OVER (
            PARTITION BY s.symbol, s.bar_seconds,
                         TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
            ORDER BY s.bar_end_ns) AS r2,
        s.jump_detected,
        s.vpin,
        LAST_VALUE(s.trading_signal) OVER (
            PARTITION BY s.symbol, s.bar_seconds,
                         TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
            ORDER BY s.bar_end_ns ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_last_signal,
        LAST_VALUE(s.signal_reason) OVER (
            PARTITION BY s.symbol, s.bar_seconds,
                         TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
            ORDER BY s.bar_end_ns ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_last_reason
    FROM trading_signals AS s
    LEFT OUTER JOIN open_from AS o ON o.bar_seconds = s.bar_seconds
    WHERE s.bar_end_ns >= COALESCE(o.from_ns, 0)
),
daily_bars AS (
    SELECT
        symbol,
        bar_seconds,
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
    GROUP BY symbol, bar_seconds, session_date
),
trade_days AS (
    SELECT
        symbol,
        TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS session_date,
        price,
        size,
        sets_high_low,
        counts_volume,
        FIRST_VALUE(CASE WHEN sets_price THEN price END IGNORE NULLS) OVER (
            PARTITION BY symbol, TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
            ORDER BY ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_open,
        LAST_VALUE(CASE WHEN sets_price THEN price END IGNORE NULLS) OVER (
            PARTITION BY symbol, TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
            ORDER BY ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS day_close
    FROM eligible_trades
    WHERE ts_ns >= (SELECT from_ns FROM trades_from)
      -- the prints the transform uses (udx._chunk_read.valid_prints): a finite price > 0, a finite size >= 0
      AND price > 0 AND price < 'Infinity'::FLOAT AND size >= 0 AND size < 'Infinity'::FLOAT
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
SELECT symbol, session_date, bar_seconds, trades, volume, vwap, open, high, low, close, n_returns, realized_variance,
       bipower_variation, bns_stat, jump_count, mean_vpin, max_vpin, last_signal, last_signal_reason, last_bar_end_ns
FROM daily_metrics
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
             / SQRT((PI() * PI() / 4 + PI() - 5) / b.n_returns
                    * GREATEST(1.0, (b.n_returns * b.n_returns / (b.n_returns - 2.0)) * b.tp_sum
                                    / (b.bipower_variation * b.bipower_variation)))
    END AS bns_stat,
    b.jump_count,
    b.mean_vpin,
    b.max_vpin,
    b.last_signal,
    b.last_signal_reason,
    b.last_bar_end_ns
FROM daily_bars AS b
LEFT OUTER JOIN daily_trades AS t ON t.symbol = b.symbol AND t.session_date = b.session_date;
