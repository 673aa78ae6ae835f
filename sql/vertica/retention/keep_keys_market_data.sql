-- name: keep_keys_market_data
-- params: start_ns, end_ns
-- returns: one row, the keys added; keeps in market_data_archive_keys the dedupe keys of the rows of
-- market_data_archive in [start_ns, end_ns) (those export_market_data wrote), before drop_market_data, so that
-- insert_trades still tells a re-delivery of a dropped day from a new print. A rerun adds no key twice.
INSERT INTO market_data_archive_keys (market, symbol, exchange, trade_id, ts_ns)
SELECT a.market, a.symbol, a.exchange, a.trade_id, a.ts_ns
FROM market_data_archive AS a
WHERE a.ts_ns >= :start_ns AND a.ts_ns < :end_ns
  AND NOT EXISTS (
      SELECT 1 FROM market_data_archive_keys AS k
      WHERE k.market = a.market AND k.symbol = a.symbol AND k.exchange = a.exchange
        AND k.trade_id = a.trade_id AND k.ts_ns = a.ts_ns
  );
