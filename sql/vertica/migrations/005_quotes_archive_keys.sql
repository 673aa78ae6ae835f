-- name: quotes_archive_keys
-- Retention keeps the dedupe keys of the quotes it drops (schema/016_quotes_archive_keys.sql, created by the schema
-- files before the migrations run), so a re-delivered quote of a dropped day is not stored again and a new one is.
-- The days dropped before this version have no keys: they are listed in quotes_unkeyed_days, where insert_quotes
-- refuses every quote (it cannot tell; before, it stored them all). A rerun after a crash adds nothing twice.
INSERT INTO quotes_unkeyed_days (market, symbol, day)
SELECT DISTINCT x.market, x.symbol, x.day
FROM archive_manifest AS x
WHERE x.table_name = 'quotes'
  AND NOT EXISTS (
      SELECT 1 FROM quotes_archive AS a
      WHERE a.symbol = x.symbol AND a.ts_ns >= x.first_ns AND a.ts_ns <= x.last_ns
  )
  AND NOT EXISTS (
      SELECT 1 FROM quotes_unkeyed_days AS u
      WHERE u.market = x.market AND u.symbol = x.symbol AND u.day = x.day
  );
