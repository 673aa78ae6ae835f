-- name: insert_quotes
-- returns: the number of rows added (the batch was COPYed into quotes_stage first)
-- Quotes carry no id and the live table keeps no quote key (every row of a batch is stored, as on DuckDB), but a
-- quote delivered again after retention moved its day out of quotes is not stored twice: a quote is the same when
-- every column but received_ns and source is (NULL equal to NULL), the DuckDB twin's rule against its Parquet
-- archive. It is looked up in quotes_archive (days moved, not yet dropped: every column compared) and in
-- quotes_archive_keys (the days retention exported and dropped: symbol, time and the hash of the other columns,
-- computed as retention/keep_keys_quotes.sql does); a quote of such a day found in neither is new and stored. Only the
-- days dropped before the keys were kept (quotes_unkeyed_days, migration 005) refuse every quote.
INSERT INTO quotes (market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange,
                    ask_exchange, conditions, sequence, tape, received_ns, source)
SELECT b.market, b.symbol, b.ts_ns, b.bid_price, b.bid_size, b.ask_price, b.ask_size, b.bid_exchange,
       b.ask_exchange, b.conditions, b.sequence, b.tape, b.received_ns, b.source
FROM quotes_stage AS b
WHERE NOT EXISTS (
    SELECT 1
    FROM quotes_archive AS k
    WHERE k.market = b.market AND k.symbol = b.symbol AND k.ts_ns = b.ts_ns
      AND (k.sequence = b.sequence OR (k.sequence IS NULL AND b.sequence IS NULL))
      AND (k.bid_price = b.bid_price OR (k.bid_price IS NULL AND b.bid_price IS NULL))
      AND (k.bid_size = b.bid_size OR (k.bid_size IS NULL AND b.bid_size IS NULL))
      AND (k.ask_price = b.ask_price OR (k.ask_price IS NULL AND b.ask_price IS NULL))
      AND (k.ask_size = b.ask_size OR (k.ask_size IS NULL AND b.ask_size IS NULL))
      AND (k.bid_exchange = b.bid_exchange OR (k.bid_exchange IS NULL AND b.bid_exchange IS NULL))
      AND (k.ask_exchange = b.ask_exchange OR (k.ask_exchange IS NULL AND b.ask_exchange IS NULL))
      AND (k.conditions = b.conditions OR (k.conditions IS NULL AND b.conditions IS NULL))
      AND (k.tape = b.tape OR (k.tape IS NULL AND b.tape IS NULL))
)
AND NOT EXISTS (
    SELECT 1
    FROM quotes_archive_keys AS h
    WHERE h.market = b.market AND h.symbol = b.symbol AND h.ts_ns = b.ts_ns
      AND h.key_hash = HASH(b.sequence, b.bid_price, b.bid_size, b.ask_price, b.ask_size, b.bid_exchange,
                            b.ask_exchange, b.conditions, b.tape) % 9223372036854775807
)
AND NOT EXISTS (
    SELECT 1
    FROM quotes_unkeyed_days AS u
    WHERE u.market = b.market AND u.symbol = b.symbol
      AND u.day = TIMESTAMPADD('microsecond', b.ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
);
