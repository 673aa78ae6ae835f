-- name: quotes_all
-- returns: every row of quotes, those in the live file and those the archive moved to Parquet (ARCHIVE_PATH/quotes,
-- sql/archive.py); the same columns as quotes. __ARCHIVE__ is replaced when the view is created by the Parquet
-- files of the archive (read_parquet with hive partitioning, the path a quoted literal) or, while the archive
-- holds no file of this table, by an empty relation (sql/archive_paths.py)
CREATE OR REPLACE VIEW quotes_all AS
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM quotes
UNION ALL
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM __ARCHIVE__;
