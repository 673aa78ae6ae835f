-- name: insert_trades
-- returns: the number of rows added; rows whose dedupe key exists already are skipped
-- The batch was COPYed into market_data_stage first. Duplicates inside the batch collapse to one row (the
-- earliest received; the DuckDB twin keeps the first in batch order, the same event either way). A trade delivered
-- again after retention moved its day out of market_data is not stored twice: its key is looked up in
-- market_data_archive too (days moved, not yet dropped), and a trade of a (market, symbol, day) that retention
-- exported and dropped (archive_manifest, no row left in market_data_archive) is not stored at all: the database
-- cannot read the Parquet export to tell a re-delivery from a new print, and a day is archived only once final
-- (RETAIN_TRADES_DAYS days old), so it is taken as a re-delivery (the DuckDB twin reads the Parquet keys instead).
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
    FROM (
        SELECT x.market, x.symbol, x.day
        FROM archive_manifest AS x
        LEFT JOIN (
            SELECT DISTINCT symbol,
                   TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS day
            FROM market_data_archive
        ) AS r ON r.symbol = x.symbol AND r.day = x.day
        WHERE x.table_name = 'trades' AND r.symbol IS NULL
    ) AS dropped
    WHERE dropped.market = b.market AND dropped.symbol = b.symbol
      AND dropped.day = TIMESTAMPADD('microsecond', b.ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
);
