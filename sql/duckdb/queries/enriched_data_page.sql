-- name: enriched_data_page
-- params: symbol, start_ns, end_ns, bar_seconds, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: trades of one symbol with their quotes, sides and signals, newest first; keyset cursor
-- (ts_ns, exchange, trade_id)
-- The rows of the view enriched_market_data, computed for the page only: first the keys of the newest
-- row_limit trades (market_data is stored in time order, so a top-N on ts_ns reads the newest row groups
-- only, and only the key columns), then the table macro enriched_market_data_between over the page's time span
-- (its tick state and quotes from just before the span, the bars it needs), the page's rows of it.
WITH page AS (
    SELECT ts_ns, exchange, trade_id
    FROM market_data
    WHERE symbol = $symbol
      AND ts_ns >= $start_ns AND ts_ns < $end_ns
      AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id) < ($after_ts_ns, $after_exchange, $after_trade_id))
    ORDER BY ts_ns DESC, exchange DESC, trade_id DESC
    LIMIT $row_limit
),
span AS (
    SELECT min(ts_ns) AS lo, max(ts_ns) AS hi FROM page
)
SELECT e.*
FROM enriched_market_data_between($symbol, (SELECT lo FROM span), (SELECT hi FROM span) + 1) AS e
SEMI JOIN page ON e.ts_ns = page.ts_ns AND e.exchange = page.exchange AND e.trade_id = page.trade_id
WHERE e.bar_seconds = $bar_seconds OR e.bar_seconds IS NULL
ORDER BY e.ts_ns DESC, e.exchange DESC, e.trade_id DESC;
