-- name: export_market_data
-- params: directory, start_ns, end_ns
-- returns: one row, the rows exported; writes the rows of market_data_archive in [start_ns, end_ns) under directory (a new
-- folder, ARCHIVE_PATH/trades/export-<first day>) hive-partitioned market=/date=/symbol= like the DuckDB archive
-- (the partition columns go last and are not stored in the files)
EXPORT TO PARQUET (directory = :directory, compression = 'zstd')
OVER (PARTITION BY market, "date", symbol)
AS SELECT ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction, market, TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS "date", symbol
FROM market_data_archive
WHERE ts_ns >= :start_ns AND ts_ns < :end_ns;
