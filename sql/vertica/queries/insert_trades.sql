-- name: insert_trades
-- returns: the number of rows added; rows whose dedupe key exists already are skipped
-- The batch was COPYed into market_data_stage first. Duplicates inside the batch collapse to one row (the
-- earliest received; the DuckDB twin keeps the first in batch order, the same event either way).
INSERT INTO market_data (market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence,
                         trf_id, trf_ts_ns, received_ns, source, correction)
SELECT b.market, b.symbol, b.ts_ns, b.price, b.size, b.exchange, b.trade_id, b.conditions, b.tape, b.sequence,
       b.trf_id, b.trf_ts_ns, b.received_ns, b.source, b.correction
FROM (
    SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id,
           trf_ts_ns, received_ns, source, correction
    FROM market_data_stage
    LIMIT 1 OVER (PARTITION BY market, symbol, exchange, trade_id, ts_ns ORDER BY received_ns)
) AS b
WHERE NOT EXISTS (
    SELECT 1
    FROM market_data AS m
    WHERE m.market = b.market AND m.symbol = b.symbol AND m.exchange = b.exchange
      AND m.trade_id = b.trade_id AND m.ts_ns = b.ts_ns
);
