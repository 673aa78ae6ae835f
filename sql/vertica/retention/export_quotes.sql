-- name: export_quotes
-- params: directory, start_ns, end_ns
-- returns: one row, the rows exported; writes the rows of quotes_archive in [start_ns, end_ns) under directory (a new
-- folder, ARCHIVE_PATH/quotes/export-<first day>) hive-partitioned market=/date=/symbol= like the DuckDB archive
-- (the partition columns go last and are not stored in the files)
EXPORT TO PARQUET (directory = :directory, compression = 'zstd')
OVER (PARTITION BY market, "date", symbol)
AS SELECT ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source, market, TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS "date", symbol
FROM quotes_archive
WHERE ts_ns >= :start_ns AND ts_ns < :end_ns;
