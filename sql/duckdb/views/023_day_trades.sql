-- name: day_trades
-- returns: (table macro) one row per symbol and session day (UTC date of the prints): the trade columns of
-- daily_metrics (trades, volume, vwap, open, high, low, close) from the prints of eligible_trades. One of the two
-- halves of day_metrics (views/025_day_metrics.sql, which documents the arguments and the rules); the transform
-- computes it for the days about to become final while its last commit runs (write_daily_metrics_prepared).
CREATE OR REPLACE MACRO day_trades(symbols, start_ns, from_ns, before_ns) AS TABLE
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
GROUP BY ALL;
