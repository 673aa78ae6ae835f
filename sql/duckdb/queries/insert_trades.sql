-- name: insert_trades
-- returns: the number of rows added
-- The batch is the registered Arrow table trades_batch: the TRADES_SCHEMA columns plus batch_pos, the row's
-- position in the batch (0, 1, ...). Adds each batch row whose dedupe key (market, symbol, exchange, trade_id,
-- ts_ns) is not stored yet, and of rows sharing a key only the first (lowest batch_pos): market_data declares no
-- key (schema/001_market_data.sql), this statement keeps it. The stored side is read only within the batch's
-- ts_ns range, so the scan skips every row group whose zone map lies outside it. ORDER BY batch_pos: the rows are
-- stored in the batch's order (time order, as the feed delivers it); without it DuckDB's parallel insert of a
-- batch of many record batches stored blocks out of order, and the transform then read each such symbol again
-- with DuckDB's sort (sql/stored_order.py; tests/sql/test_trades_stored_in_batch_order.py).
INSERT INTO market_data
SELECT b.market, b.symbol, b.ts_ns, b.price, b.size, b.exchange, b.trade_id, b.conditions, b.tape, b.sequence,
       b.trf_id, b.trf_ts_ns, b.received_ns, b.source, b.correction
FROM trades_batch AS b
WHERE b.batch_pos IN (
        SELECT min(batch_pos) FROM trades_batch GROUP BY market, symbol, exchange, trade_id, ts_ns
    )
  AND NOT EXISTS (
        SELECT 1
        FROM market_data AS m
        WHERE m.ts_ns BETWEEN (SELECT min(ts_ns) FROM trades_batch) AND (SELECT max(ts_ns) FROM trades_batch)
          AND m.ts_ns = b.ts_ns AND m.market = b.market AND m.symbol = b.symbol AND m.exchange = b.exchange
          AND m.trade_id = b.trade_id
    )
ORDER BY b.batch_pos;
