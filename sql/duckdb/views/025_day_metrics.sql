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
-- The bar half is the macro day_bars (views/024_day_bars.sql), the trade half day_trades
-- (views/023_day_trades.sql); this macro joins them.
CREATE OR REPLACE MACRO day_metrics(grid, symbols, start_ns, from_ns, before_ns) AS TABLE
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
    b.bns_stat,
    b.jump_count,
    b.mean_vpin,
    b.max_vpin,
    b.last_signal,
    b.last_signal_reason,
    b.last_bar_end_ns
FROM day_bars(grid, symbols, start_ns, from_ns, before_ns) AS b
LEFT JOIN day_trades(symbols, start_ns, from_ns, before_ns) AS t USING (symbol, session_date);
