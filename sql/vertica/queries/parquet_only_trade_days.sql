-- name: parquet_only_trade_days
-- params: symbol, start_ns, end_ns
-- returns: one row: how many UTC days of the symbol's trades in [start_ns, end_ns) retention exported to Parquet
-- and dropped (archive_manifest holds them, market_data_archive no longer does), and the newest of them. The
-- database cannot read those trades back, so a read over them (VerticaStorage.read_trades_with_archive) is refused.
SELECT COUNT(DISTINCT a.day) AS days, MAX(a.day) AS newest_day
FROM archive_manifest AS a
WHERE a.table_name = 'trades' AND a.symbol = :symbol AND a.last_ns >= :start_ns AND a.first_ns < :end_ns
  AND NOT EXISTS (
      SELECT 1 FROM market_data_archive AS m
      WHERE m.symbol = a.symbol AND m.ts_ns >= a.first_ns AND m.ts_ns <= a.last_ns
  );
