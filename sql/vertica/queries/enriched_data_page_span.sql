-- name: enriched_data_page_span
-- params: symbol, start_ns, end_ns, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: one row (start_ns, end_ns): the time span [start_ns, end_ns) of the page of enriched_data_page with these arguments, both NULL when it has no trade
-- Step 1 of get_enriched_data's page, as the DuckDB file (the row comparison spelled out).
SELECT MIN(ts_ns) AS start_ns, MAX(ts_ns) + 1 AS end_ns
FROM (
    SELECT ts_ns
    FROM market_data
    WHERE symbol = :symbol
      AND ts_ns >= :start_ns AND ts_ns < :end_ns
      AND (:after_ts_ns IS NULL
           OR ts_ns < :after_ts_ns
           OR (ts_ns = :after_ts_ns
               AND (exchange < :after_exchange OR (exchange = :after_exchange AND trade_id < :after_trade_id))))
    ORDER BY ts_ns DESC
    LIMIT :row_limit
) AS page;
