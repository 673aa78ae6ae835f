-- name: chart_series
-- params: symbol, start_ns, end_ns, bar_seconds, row_limit
-- returns: bars of one symbol, newest first, for a chart: close, VPIN, jumps and signals, and the NBBO in force at
-- each bar's end (bid_price, ask_price: the newest quote strictly before it, as in enriched_market_data; NULL
-- when there is none, it is stale, one-sided, locked or crossed)
WITH bars AS (
    SELECT bar_end_ns, close, vpin, jump_detected, log_return, trading_signal
    FROM trading_signals
    WHERE symbol = $symbol AND bar_seconds = $bar_seconds AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns
    ORDER BY bar_end_ns DESC
    LIMIT $row_limit
),
limits AS (
    SELECT max(value) AS stale_ns FROM view_settings WHERE name = 'quote_stale_ns'
),
book AS (   -- the quotes from the stale limit before the first bar's end to the last one's
    SELECT ts_ns, bid_price AS bid, ask_price AS ask
    FROM quote_book
    WHERE symbol = $symbol AND ts_ns < (SELECT max(bar_end_ns) FROM bars)
      AND ts_ns >= (SELECT min(bar_end_ns) - coalesce(stale_ns, min(bar_end_ns)) FROM bars, limits GROUP BY stale_ns)
)
SELECT
    b.bar_end_ns,
    b.close,
    b.vpin,
    b.jump_detected,
    b.log_return,
    b.trading_signal,
    CASE WHEN q.bid > 0 AND q.ask > q.bid AND q.ask < 'inf'::DOUBLE
              AND b.bar_end_ns - q.ts_ns <= coalesce((SELECT stale_ns FROM limits), b.bar_end_ns - q.ts_ns)
         THEN q.bid END AS bid_price,
    CASE WHEN q.bid > 0 AND q.ask > q.bid AND q.ask < 'inf'::DOUBLE
              AND b.bar_end_ns - q.ts_ns <= coalesce((SELECT stale_ns FROM limits), b.bar_end_ns - q.ts_ns)
         THEN q.ask END AS ask_price
FROM bars AS b
ASOF LEFT JOIN book AS q ON b.bar_end_ns > q.ts_ns
ORDER BY b.bar_end_ns DESC;
