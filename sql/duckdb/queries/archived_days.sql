-- name: archived_days
-- returns: table_name, market, day: every (archive folder, market, UTC day) of which retention moved trades or quotes
-- to the Parquet archive; an appended batch touching none of its table's days is deduplicated against the live table
-- alone (DuckDBStorage.append_trades, append_quotes)
SELECT DISTINCT table_name, market, day
FROM archive_manifest
WHERE table_name IN ('trades', 'quotes');
