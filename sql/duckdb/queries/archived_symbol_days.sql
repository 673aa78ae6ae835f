-- name: archived_symbol_days
-- returns: symbol, newest_day: per symbol, the newest UTC day whose trades or signals retention moved to the
-- Parquet archive (archive_manifest). A recompute starts after it (udx/recompute.py): the trades before are no longer
-- live, and signals in the archive cannot be rewritten.
SELECT symbol, max(day) AS newest_day
FROM archive_manifest
WHERE table_name IN ('trades', 'signals')
GROUP BY symbol;
