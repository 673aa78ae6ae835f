-- name: archived_trade_days
-- returns: market, day: every (market, UTC day) of which retention moved trades to the Parquet archive; an appended
-- batch touching none of them is deduplicated against the live table alone (DuckDBStorage.append_trades)
SELECT DISTINCT market, day
FROM archive_manifest
WHERE table_name = 'trades';
