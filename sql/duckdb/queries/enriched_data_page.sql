-- name: enriched_data_page
-- params: symbol, start_ns, end_ns, bar_seconds, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: trades of one symbol with their signals, newest first; keyset cursor (ts_ns, exchange, trade_id)
SELECT *
FROM enriched_market_data
WHERE symbol = $symbol
  AND ts_ns >= $start_ns AND ts_ns < $end_ns
  AND (bar_seconds = $bar_seconds OR bar_seconds IS NULL)
  AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id) < ($after_ts_ns, $after_exchange, $after_trade_id))
ORDER BY ts_ns DESC, exchange DESC, trade_id DESC
LIMIT $row_limit;
