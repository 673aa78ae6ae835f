-- name: quotes_all
-- returns: every row of quotes: those in the live file and those retention moved to the Parquet archive
-- (ARCHIVE_PATH/quotes, sql/archive.py), with the columns of quotes. As written here the archive branch is empty;
-- once the archive holds a file of this table, DuckDBStorage.create_views replaces its "(FROM quotes LIMIT 0)"
-- by read_parquet over the archive's files (hive partitioning, the path a quoted literal; sql/archive_paths.py)
CREATE OR REPLACE VIEW quotes_all AS
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM quotes
UNION ALL
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM (FROM quotes LIMIT 0) AS archived;
