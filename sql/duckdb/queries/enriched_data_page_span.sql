-- name: enriched_data_page_span
-- params: symbol, start_ns, end_ns, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: one row (start_ns, end_ns): the time span [start_ns, end_ns) of the page of enriched_data_page with
-- these arguments, both NULL when it has no trade
-- Step 1 of get_enriched_data's page (server/tools/page_span.py): the stamps of the newest row_limit trades of the
-- symbol at or after start_ns, before end_ns and before the cursor. A top-N on bound values over the key columns:
-- market_data is stored in time order, so it reads the newest row groups before the bounds only. The oldest stamp
-- of the n newest trades does not depend on how trades sharing a stamp are ordered, so ts_ns alone orders them.
SELECT min(ts_ns) AS start_ns, max(ts_ns) + 1 AS end_ns
FROM (
    SELECT ts_ns
    FROM market_data
    WHERE symbol = $symbol
      AND ts_ns >= $start_ns AND ts_ns < $end_ns
      AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id) < ($after_ts_ns, $after_exchange, $after_trade_id))
    ORDER BY ts_ns DESC
    LIMIT $row_limit
);
