-- name: market_data_archive_keys
-- The dedupe keys of the trades retention exported to Parquet and dropped (sql/vertica_retention.py keeps them
-- before DROP_PARTITIONS): the database cannot read the export back, so insert_trades tells a re-delivered trade
-- (its key is here) from a genuinely new late print of that day (kept, and moved out by the next retention pass).
-- Partitioned and spread like market_data; only the five key columns.
CREATE TABLE IF NOT EXISTS market_data_archive_keys (
    market     VARCHAR(8)   NOT NULL,
    symbol     VARCHAR(32)  NOT NULL,
    exchange   INTEGER      NOT NULL,
    trade_id   VARCHAR(64)  NOT NULL,
    ts_ns      INTEGER      NOT NULL
)
ORDER BY symbol, ts_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
