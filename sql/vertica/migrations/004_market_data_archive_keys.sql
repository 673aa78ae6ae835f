-- name: market_data_archive_keys
-- Retention keeps the dedupe keys of the trades it drops (schema/015_market_data_archive_keys.sql, created by the
-- schema files before the migrations run), so a new late print of a dropped day is stored and a re-delivery is
-- not. The days dropped before this version have no keys: they are listed in market_data_unkeyed_days, where
-- insert_trades keeps refusing every trade as before (it cannot tell). A rerun after a crash adds nothing twice.
INSERT INTO market_data_unkeyed_days (market, symbol, day)
SELECT DISTINCT x.market, x.symbol, x.day
FROM archive_manifest AS x
WHERE x.table_name = 'trades'
  AND NOT EXISTS (
      SELECT 1 FROM market_data_archive AS a
      WHERE a.symbol = x.symbol AND a.ts_ns >= x.first_ns AND a.ts_ns <= x.last_ns
  )
  AND NOT EXISTS (
      SELECT 1 FROM market_data_unkeyed_days AS u
      WHERE u.market = x.market AND u.symbol = x.symbol AND u.day = x.day
  );
