-- name: last_trades
-- params: bar_seconds
-- returns: per symbol with a newest bar: its newest trade by (ts_ns, exchange, trade_id), with the key
-- What real_time_data reports as the last trades of every symbol (the same search: at or after the oldest newest
-- bar minus one bar, the same order), with each trade's key: the server keeps them in memory and compares the
-- trades appended later with them (server/tools/latest.py).
WITH newest AS (
    SELECT s.symbol, s.bar_end_ns
    FROM signal_state AS st
    JOIN trading_signals AS s
      ON s.symbol = st.symbol AND s.bar_seconds = st.bar_seconds AND s.bar_end_ns = st.last_bar_end_ns
    WHERE st.bar_seconds = $bar_seconds
)
SELECT symbol,
       max(ts_ns) AS ts_ns,
       arg_max(exchange, (ts_ns, exchange, trade_id)) AS exchange,
       arg_max(trade_id, (ts_ns, exchange, trade_id)) AS trade_id,
       arg_max(price, (ts_ns, exchange, trade_id)) AS price,
       arg_max(size, (ts_ns, exchange, trade_id)) AS size
FROM market_data
WHERE ts_ns >= (SELECT min(bar_end_ns) FROM newest) - CAST($bar_seconds AS BIGINT) * 1000000000
  AND symbol IN (SELECT symbol FROM newest)
GROUP BY symbol
ORDER BY symbol;
