-- name: enriched_data_page
-- params: symbol, start_ns, end_ns, bar_seconds, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: trades of one symbol with their quotes, sides and signals, newest first; keyset cursor
-- (ts_ns, exchange, trade_id)
-- The rows of the view enriched_market_data of the symbol in [start_ns, end_ns) before the cursor, filtered on
-- bar_seconds as the view is: the table macro enriched_market_data_between_grid over the window and that grid (its tick
-- state, quotes and bars from just before it; the same values as the view, tests/sql/test_enriched_between.py; the
-- grid bound as a value spares the macro the DISTINCT over every bar, and the filter below keeps the view's rows
-- for a NULL bar_seconds, which the macro reads as every grid). Right for any
-- window, but the macro computes every trade of it; so the server binds the page's own span here, found first by
-- enriched_data_page_span (server/tools/page_span.py): then the macro computes the page's trades and those sharing
-- its oldest stamp only, and the ORDER BY and LIMIT keep the page. Two statements, because DuckDB's top-N and zone
-- maps prune on bound values, not on values computed in the query (one statement was 2.5x slower on the 50M file).
SELECT *
FROM enriched_market_data_between_grid($symbol, $start_ns, $end_ns, $bar_seconds)
WHERE (bar_seconds = $bar_seconds OR bar_seconds IS NULL)
  AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id) < ($after_ts_ns, $after_exchange, $after_trade_id))
ORDER BY ts_ns DESC, exchange DESC, trade_id DESC
LIMIT $row_limit;
