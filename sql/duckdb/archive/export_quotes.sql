-- name: export_quotes
-- params: market, day_start_ns, day_end_ns, excluded
-- returns: nothing; writes the rows of one market and UTC day of quotes, but those of the excluded symbols, to the
-- staging folder __ARCHIVE__ (sql/archive.py puts the quoted path there), one Parquet file per symbol,
-- in time order (sorted: the partitioned write is faster, the files smaller and their row groups tighter on time)
COPY (
    SELECT * FROM quotes
    WHERE market = $market AND ts_ns >= $day_start_ns AND ts_ns < $day_end_ns AND NOT list_contains($excluded, symbol)
    ORDER BY symbol, ts_ns
) TO __ARCHIVE__ (FORMAT parquet, PARTITION_BY (symbol), WRITE_PARTITION_COLUMNS true, COMPRESSION zstd);
