-- name: trades_all
-- returns: every row of market_data, those in the live file and those the archive moved to Parquet (ARCHIVE_PATH/trades,
-- sql/archive.py); the same columns as market_data. __ARCHIVE__ is replaced when the view is created by the Parquet
-- files of the archive (read_parquet with hive partitioning, the path a quoted literal) or, while the archive
-- holds no file of this table, by an empty relation (sql/archive_paths.py)
CREATE OR REPLACE VIEW trades_all AS
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM market_data
UNION ALL
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM __ARCHIVE__;
