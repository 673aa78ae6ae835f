-- name: quotes_archive_keys
-- The dedupe keys of the quotes retention exported to Parquet and dropped (sql/vertica_retention.py keeps them
-- before DROP_PARTITIONS): the database cannot read the export back, so insert_quotes tells a re-delivered quote
-- (its key is here) from a genuinely new quote of that day. A quote carries no id: it is the same quote when every
-- column but received_ns and source is (the DuckDB twin's rule against its Parquet archive). Keeping those columns
-- would keep nearly the whole quote and free little, so a key is the quote's symbol and time with key_hash, Vertica's
-- 63-bit HASH of the other compared columns in a fixed order (NULLs hash alike, as they compare alike): two distinct
-- quotes of one symbol at the same nanosecond are taken for one only when their hashes collide (2^-63 a pair).
-- Partitioned and spread like quotes.
CREATE TABLE IF NOT EXISTS quotes_archive_keys (
    market   VARCHAR(8)  NOT NULL,
    symbol   VARCHAR(32) NOT NULL,
    ts_ns    INTEGER     NOT NULL,
    key_hash INTEGER     NOT NULL
)
ORDER BY symbol, ts_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
