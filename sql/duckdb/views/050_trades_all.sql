-- name: trades_all
-- returns: every row of market_data: those in the live file and those retention moved to the Parquet archive
-- (ARCHIVE_PATH/trades, sql/archive.py), with the columns of market_data. As written here the archive branch is empty;
-- once the archive holds a file of this table, DuckDBStorage.create_views replaces its "(FROM market_data LIMIT 0)"
-- by read_parquet over the archive's files (hive partitioning, the path a quoted literal; sql/archive_paths.py)
CREATE OR REPLACE VIEW trades_all AS
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM market_data
UNION ALL
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM (FROM market_data LIMIT 0) AS archived;
