-- name: day_metrics
-- returns: (table macro) one row per symbol, grid and session day (UTC date of the bars' ends): the columns of
-- daily_metrics but computed_at_ns, computed from the bars of trading_signals and the prints of eligible_trades.
-- The one home of the daily formulas: write_daily_metrics stores its rows of final days, the view symbol_metrics
-- and the page symbol_metrics_page compute the open day(s) with it.
-- Arguments: grid (bar_seconds; NULL: every grid), symbols (a list; NULL: every symbol), start_ns and from_ns (the
-- rows from the later of the two: two bounds, so each stays a plain comparison the scans of trading_signals and
-- market_data prune row groups on, a constant or a bound read from daily_metrics), before_ns (rows before it).
-- Pass day boundaries: a day's returns and prints are then all in or all out.
-- Realized variance RV = sum r^2; bipower variation BV = (pi/2) sum |r_j||r_{j-1}| (highfrequency form);
-- tripower quarticity TP = M^2/(M-2) mu_{4/3}^-3 sum |r_j r_{j-1} r_{j-2}|^(4/3); daily BNS is the ratio
-- statistic with max adjustment ((RV-BV)/RV) / sqrt(theta/M max(1, TP/BV^2)), theta = pi^2/4 + pi - 5
-- (spec/signals.md §3). Prices come from the day's trades as Polygon's rules allow (eligible_trades): open and
-- close from prints that may set the last sale, high and low from those that may set them, trades, volume and
-- VWAP from those that count in volume; a print the transform drops (a non-finite or non-positive price, a
-- negative or non-finite size) counts nowhere. Floating sums are fsum (compensated): DuckDB's threads add a
-- group's rows in no fixed order, and plain sum then differed in the last bits between two runs over the same
-- rows.
CREATE OR REPLACE MACRO day_metrics(grid, symbols, start_ns, from_ns, before_ns) AS TABLE
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
),
daily_trades AS (
    SELECT
        symbol,
        CAST(make_timestamp(ts_ns // 1000) AS DATE) AS session_date,
        count(*) FILTER (WHERE counts_volume) AS trades,
        fsum(size) FILTER (WHERE counts_volume) AS volume,
        fsum(price * size) FILTER (WHERE counts_volume) / nullif(fsum(size) FILTER (WHERE counts_volume), 0) AS vwap,
        arg_min(price, ts_ns) FILTER (WHERE sets_price) AS open,
        max(price) FILTER (WHERE sets_high_low) AS high,
        min(price) FILTER (WHERE sets_high_low) AS low,
        arg_max(price, ts_ns) FILTER (WHERE sets_price) AS close
    FROM eligible_trades
    WHERE (symbols IS NULL OR list_contains(symbols, symbol))
      AND ts_ns >= start_ns AND ts_ns >= from_ns AND ts_ns < before_ns
      -- the prints the transform uses (udx._chunk_read.valid_prints): a finite price > 0, a finite size >= 0
      -- (NaN sorts above infinity, so the upper bounds leave it out)
      AND price > 0 AND price < 'inf'::DOUBLE AND size >= 0 AND size < 'inf'::DOUBLE
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
FROM daily_bars AS b
LEFT JOIN daily_trades AS t USING (symbol, session_date);
