-- name: trades_all
-- returns: every row of market_data: the live days and the day partitions retention moved to market_data_archive
-- (MOVE_PARTITIONS_TO_TABLE, sql/vertica/retention/); the columns of market_data, as the DuckDB view (there the
-- archive is Parquet). Days dropped from market_data_archive after EXPORT TO PARQUET are only in the Parquet files.
CREATE OR REPLACE VIEW trades_all AS
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM market_data
UNION ALL
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM market_data_archive;
