-- name: keep_keys_quotes
-- params: start_ns, end_ns
-- returns: one row, the keys added; keeps in quotes_archive_keys the dedupe keys (every column but received_ns and
-- source) of the rows of quotes_archive in [start_ns, end_ns) (those export_quotes wrote), before drop_quotes, so
-- that insert_quotes still tells a re-delivery of a dropped day from a new quote. EXCEPT compares NULL equal to
-- NULL and keeps each key once, so a rerun adds no key twice.
INSERT INTO quotes_archive_keys (market, symbol, ts_ns, sequence, bid_price, bid_size, ask_price, ask_size,
                                 bid_exchange, ask_exchange, conditions, tape)
SELECT market, symbol, ts_ns, sequence, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange,
       conditions, tape
FROM quotes_archive
WHERE ts_ns >= :start_ns AND ts_ns < :end_ns
EXCEPT
SELECT market, symbol, ts_ns, sequence, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange,
       conditions, tape
FROM quotes_archive_keys;
