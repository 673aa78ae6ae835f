-- name: last_trades
-- params: bar_seconds
-- returns: per symbol with a newest bar: its newest trade by (ts_ns, exchange, trade_id), with the key
-- The twin of the DuckDB query (the server keeps these rows in memory only over DuckDB, whose one writer
-- tells it of every write; server/tools/latest.py).
WITH newest AS (
    SELECT s.symbol, s.bar_end_ns
    FROM signal_state AS st
    JOIN trading_signals AS s
      ON s.symbol = st.symbol AND s.bar_seconds = st.bar_seconds AND s.bar_end_ns = st.last_bar_end_ns
    WHERE st.bar_seconds = :bar_seconds
)
SELECT symbol, ts_ns, exchange, trade_id, price, size
FROM market_data
WHERE ts_ns >= (SELECT MIN(bar_end_ns) FROM newest) - CAST(:bar_seconds AS INTEGER) * 1000000000
  AND symbol IN (SELECT symbol FROM newest)
LIMIT 1 OVER (PARTITION BY symbol ORDER BY ts_ns DESC, exchange DESC, trade_id DESC)
ORDER BY symbol;
