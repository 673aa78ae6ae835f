-- name: archived_trade_files
-- params: markets, days, symbols
-- returns: path, staged_path: the archived trade files of the given markets, UTC days and symbols (relative to
-- ARCHIVE_PATH; staged_path is where a file waits until it is placed)
SELECT path, staged_path
FROM archive_manifest
WHERE table_name = 'trades'
  AND list_contains($markets, market) AND list_contains($days, day) AND list_contains($symbols, symbol)
ORDER BY path;
