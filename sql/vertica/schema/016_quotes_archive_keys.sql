-- name: quotes_archive_keys
-- The dedupe keys of the quotes retention exported to Parquet and dropped (sql/vertica_retention.py keeps them
-- before DROP_PARTITIONS): the database cannot read the export back, so insert_quotes tells a re-delivered quote
-- (its key is here) from a genuinely new quote of that day. A quote carries no id: its key is every column but
-- received_ns and source, as the DuckDB twin compares it with its Parquet archive (archived_quote_positions), so
-- this table holds nearly the whole quote. Partitioned and spread like quotes.
CREATE TABLE IF NOT EXISTS quotes_archive_keys (
    market       VARCHAR(8)  NOT NULL,
    symbol       VARCHAR(32) NOT NULL,
    ts_ns        INTEGER     NOT NULL,
    bid_price    FLOAT,
    bid_size     FLOAT,
    ask_price    FLOAT,
    ask_size     FLOAT,
    bid_exchange INTEGER,
    ask_exchange INTEGER,
    conditions   VARCHAR(256),
    sequence     INTEGER,
    tape         INTEGER
)
ORDER BY symbol, ts_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
