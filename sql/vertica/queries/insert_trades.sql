-- name: insert_trades
-- returns: the number of rows added; rows whose dedupe key exists already are skipped
-- The batch was COPYed into market_data_stage first. Duplicates inside the batch collapse to one row (the
-- earliest received; the DuckDB twin keeps the first in batch order, the same event either way). A trade delivered
-- again after retention moved its day out of market_data is not stored twice: its key is looked up in
-- market_data_archive (days moved, not yet dropped) and in market_data_archive_keys (the keys of the days retention
-- exported to Parquet and dropped), as the DuckDB twin looks it up in the Parquet files. A trade of such a day whose
-- key is in neither is a genuinely new late print (another id, exchange or time): it is stored, and the next
-- retention pass moves and exports it as a new part. Only the days dropped before the keys were kept
-- (market_data_unkeyed_days, migration 004) refuse every trade: there a new print cannot be told from a re-delivery.
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
)
AND NOT EXISTS (
    SELECT 1
    FROM market_data_archive AS a
    WHERE a.market = b.market AND a.symbol = b.symbol AND a.exchange = b.exchange
      AND a.trade_id = b.trade_id AND a.ts_ns = b.ts_ns
)
AND NOT EXISTS (
    SELECT 1
    FROM market_data_archive_keys AS k
    WHERE k.market = b.market AND k.symbol = b.symbol AND k.exchange = b.exchange
      AND k.trade_id = b.trade_id AND k.ts_ns = b.ts_ns
)
AND NOT EXISTS (
    SELECT 1
    FROM market_data_unkeyed_days AS u
    WHERE u.market = b.market AND u.symbol = b.symbol
      AND u.day = TIMESTAMPADD('microsecond', b.ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
);
