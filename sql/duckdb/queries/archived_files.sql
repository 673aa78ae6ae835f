-- name: archived_files
-- params: table_name, markets, days, symbols
-- returns: path, staged_path: the archived files of one archive folder (trades, quotes) of the given markets, UTC
-- days and symbols (relative to ARCHIVE_PATH; staged_path is where a file waits until it is placed)
SELECT path, staged_path
FROM archive_manifest
WHERE table_name = $table_name
  AND list_contains($markets, market) AND list_contains($days, day) AND list_contains($symbols, symbol)
ORDER BY path;
