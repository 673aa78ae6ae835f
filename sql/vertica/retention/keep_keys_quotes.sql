-- name: keep_keys_quotes
-- params: start_ns, end_ns
-- returns: one row, the keys added; keeps in quotes_archive_keys the dedupe keys (every column but received_ns and
-- source, NULL equal to NULL) of the rows of quotes_archive in [start_ns, end_ns) (those export_quotes wrote),
-- before drop_quotes, so that insert_quotes still tells a re-delivery of a dropped day from a new quote. A rerun
-- adds no key twice.
INSERT INTO quotes_archive_keys (market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange,
                                 ask_exchange, conditions, sequence, tape)
SELECT DISTINCT a.market, a.symbol, a.ts_ns, a.bid_price, a.bid_size, a.ask_price, a.ask_size, a.bid_exchange,
       a.ask_exchange, a.conditions, a.sequence, a.tape
FROM quotes_archive AS a
WHERE a.ts_ns >= :start_ns AND a.ts_ns < :end_ns
  AND NOT EXISTS (
      SELECT 1 FROM quotes_archive_keys AS k
      WHERE k.market = a.market AND k.symbol = a.symbol AND k.ts_ns = a.ts_ns
        AND (k.sequence = a.sequence OR (k.sequence IS NULL AND a.sequence IS NULL))
        AND (k.bid_price = a.bid_price OR (k.bid_price IS NULL AND a.bid_price IS NULL))
        AND (k.bid_size = a.bid_size OR (k.bid_size IS NULL AND a.bid_size IS NULL))
        AND (k.ask_price = a.ask_price OR (k.ask_price IS NULL AND a.ask_price IS NULL))
        AND (k.ask_size = a.ask_size OR (k.ask_size IS NULL AND a.ask_size IS NULL))
        AND (k.bid_exchange = a.bid_exchange OR (k.bid_exchange IS NULL AND a.bid_exchange IS NULL))
        AND (k.ask_exchange = a.ask_exchange OR (k.ask_exchange IS NULL AND a.ask_exchange IS NULL))
        AND (k.conditions = a.conditions OR (k.conditions IS NULL AND a.conditions IS NULL))
        AND (k.tape = a.tape OR (k.tape IS NULL AND a.tape IS NULL))
  );
